"""Minimize a weighted sum of a problem's named loss terms through a sequence of optimizer stages.

The trainer contains nothing specific to a PDE. It requests point sets and loss terms from the
problem, steps the optimizers, changes the spline grids of models that have them (grid extension at
the start of a stage, grid updates at fixed steps of each stage), records a history and stops on the
first non-finite loss term.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from kanpde.problem import Problem, model_dtype_device
from kanpde.pruning import sparsity_penalty

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "lbfgs")


def is_integer(value: Any) -> bool:
    """Return whether ``value`` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Return whether ``value`` is a finite real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "lbfgs": 1.0}


@dataclass(frozen=True)
class Stage:
    """One optimizer stage: which optimizer, for how many steps, with which settings.

    An Adam step is one parameter update. An L-BFGS step is one call of ``torch.optim.LBFGS.step``,
    which runs up to ``max_iter`` iterations (each with a line search) and so evaluates the loss
    many times.

    Attributes:
        optimizer: ``adam`` or ``lbfgs``.
        steps: number of steps, at least 1.
        lr: learning rate; None means 1e-3 for Adam and 1 for L-BFGS.
        betas: Adam's moment decay rates.
        max_iter: L-BFGS iterations per step.
        history_size: L-BFGS memory.
        line_search: ``strong_wolfe`` or None (fixed step ``lr``).
        tolerance_grad, tolerance_change: L-BFGS stops a step early when the gradient or the change
            of loss or parameters falls below these. The defaults are small so that float64 runs are
            not cut short. A step that makes no progress at all ends the stage with a log message.
        grid_size: number of spline intervals G of a KAN during this stage; the trainer extends
            (or coarsens) the grid at the start of the stage. None keeps the current grid. Models
            without a spline grid ignore it, so one schedule trains a KAN and an MLP alike.
    """

    optimizer: str
    steps: int
    lr: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    max_iter: int = 20
    history_size: int = 10
    line_search: str | None = "strong_wolfe"
    tolerance_grad: float = 1e-12
    tolerance_change: float = 1e-14
    grid_size: int | None = None

    def __post_init__(self) -> None:
        if self.grid_size is not None and not (is_integer(self.grid_size) and self.grid_size >= 1):
            raise ValueError(
                f"a stage's grid_size must be a positive integer or null (keep the grid), "
                f"got grid_size={self.grid_size!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; choose one of {list(OPTIMIZERS)} "
                f"in the trainer's stages"
            )
        if not (is_integer(self.steps) and self.steps >= 1):
            raise ValueError(
                f"a stage needs steps >= 1, got steps={self.steps!r} for {self.optimizer}; "
                f"set the stage's steps to a positive integer"
            )
        if self.lr is not None and not (is_real(self.lr) and self.lr > 0):
            raise ValueError(
                f"learning rate must be positive, got lr={self.lr!r} for {self.optimizer}; "
                f"typical values are 1e-3 for adam and 1 for lbfgs"
            )
        if self.line_search not in (None, "strong_wolfe"):
            raise ValueError(
                f"unknown line_search {self.line_search!r}; use strong_wolfe or null (fixed step)"
            )
        if not all(is_real(value) and value >= 0 for value in (self.tolerance_grad, self.tolerance_change)):
            raise ValueError(
                f"L-BFGS tolerances must be non-negative, got tolerance_grad={self.tolerance_grad!r} "
                f"and tolerance_change={self.tolerance_change!r}"
            )
        if not all(is_integer(value) and value >= 1 for value in (self.max_iter, self.history_size)):
            raise ValueError(
                f"max_iter and history_size must be integers of at least 1, got {self.max_iter!r} and "
                f"{self.history_size!r}"
            )
        if not (len(self.betas) == 2 and all(is_real(beta) and 0 <= beta < 1 for beta in self.betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}; the usual is [0.9, 0.999]")

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LEARNING_RATES[self.optimizer] if self.lr is None else float(self.lr)

    def build(self, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
        """Create a fresh optimizer of this stage over ``parameters``."""
        if self.optimizer == "adam":
            return torch.optim.Adam(parameters, lr=self.learning_rate, betas=tuple(self.betas))
        return torch.optim.LBFGS(
            parameters,
            lr=self.learning_rate,
            max_iter=self.max_iter,
            history_size=self.history_size,
            line_search_fn=self.line_search,
            tolerance_grad=self.tolerance_grad,
            tolerance_change=self.tolerance_change,
        )


def make_stages(specs: Iterable[Mapping[str, Any]]) -> list[Stage]:
    """Build stages from plain mappings such as ``{"optimizer": "adam", "steps": 500, "lr": 1e-3}``.

    Raises:
        ValueError: for an empty list, an unknown key or an invalid value.
    """
    stages = []
    known = set(Stage.__dataclass_fields__)
    for index, spec in enumerate(specs):
        unknown = set(spec) - known
        if unknown:
            raise ValueError(
                f"stage {index} has unknown setting(s) {sorted(unknown)}; known settings: {sorted(known)}"
            )
        values = dict(spec)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        try:
            stages.append(Stage(**values))
        except (TypeError, ValueError) as error:
            raise ValueError(f"stage {index}: {error}") from error
    if not stages:
        raise ValueError("the trainer needs at least one optimizer stage")
    return stages


@dataclass(frozen=True)
class GridUpdate:
    """When and how the trainer moves a KAN's knots to follow the training points.

    Attributes:
        every: update at steps 0, every, 2 * every, ... of each stage; 0 disables updates.
        until: no update at or after this step of a stage; None allows them through the stage.
        uniform_weight: weight of uniform grid points against sample quantiles, from 0 to 1.
        fit_derivatives: highest derivative order (0 to 2) that the coefficient refit matches.
            Matching second derivatives keeps a PDE residual close to its value before the update.
    """

    every: int = 0
    until: int | None = None
    uniform_weight: float = 0.02
    fit_derivatives: int = 2

    def __post_init__(self) -> None:
        for name in ("every", "until"):
            value = getattr(self, name)
            if value is None and name == "until":
                continue
            if not (is_integer(value) and value >= 0):
                raise ValueError(
                    f"grid_update.{name} must be a non-negative integer, got {value!r}"
                    + ("; use 0 to disable grid updates" if name == "every" else "; use null for no limit")
                )
        if not (is_real(self.uniform_weight) and 0 <= self.uniform_weight <= 1):
            raise ValueError(
                f"grid_update.uniform_weight must be from 0 (knots at sample quantiles) to 1 (uniform "
                f"knots), got {self.uniform_weight!r}"
            )
        if not (is_integer(self.fit_derivatives) and 0 <= self.fit_derivatives <= 2):
            raise ValueError(f"grid_update.fit_derivatives must be 0, 1 or 2, got {self.fit_derivatives!r}")

    def due(self, stage_step: int) -> bool:
        """Return whether a grid update runs before step ``stage_step`` of a stage."""
        if self.every == 0 or stage_step % self.every:
            return False
        return self.until is None or stage_step < self.until


@dataclass(frozen=True)
class Sparsity:
    """Weights of the sparsity penalty added to a KAN's loss (see ``kanpde.pruning.sparsity_penalty``).

    Attributes:
        l1: weight of the sum over edges of mean |phi_{o,i}(x_i)| on the problem's grid samples.
        entropy: weight of the entropy of each layer's distribution of those means.

    Both 0 (the default) switch the penalty off. Typical values for pruning are l1 = 1e-3 to 1e-2
    and entropy of a similar size.
    """

    l1: float = 0.0
    entropy: float = 0.0

    def __post_init__(self) -> None:
        for name in ("l1", "entropy"):
            value = getattr(self, name)
            if not (is_real(value) and value >= 0):
                raise ValueError(f"sparsity.{name} must be a finite non-negative number, got {value!r}; 0 switches it off")

    @property
    def enabled(self) -> bool:
        return self.l1 > 0 or self.entropy > 0


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite."""

    def __init__(self, step: int, term: str, value: float) -> None:
        self.step, self.term, self.value = step, term, value
        super().__init__(
            f"loss term {term!r} is {value} at step {step}; training stopped and the parameters "
            f"were restored to the last step with a finite loss. Try a smaller learning rate, "
            f"float64 (dtype=float64), or a different seed; in a network with symbolic edges, check "
            f"that no edge function (log, sqrt, 1/x) is evaluated outside its domain"
        )


@dataclass
class TrainResult:
    """Outcome of ``Trainer.fit``.

    Attributes:
        status: ``ok``, ``diverged`` (a non-finite loss stopped the run), ``interrupted`` or
            ``failed`` (an unexpected exception stopped it; ``stop_reason`` names it).
        stop_reason: a sentence saying why training ended.
        steps: number of completed steps.
        wall_time: seconds spent in ``fit``.
        history: one record per step (loss at the start of that step, each term, elapsed seconds,
            and metrics every ``eval_every`` steps), then a last record after the final step.
        stage_notes: one line per stage that ended before its step budget, and per grid change
            that was rejected, saying why.
        grid_events: one record per grid change: step, stage, kind (``extension`` or ``update``),
            grid sizes before and after, loss before and after, and the largest relative change
            of an edge spline at the refit points.
    """

    status: str
    stop_reason: str
    steps: int
    wall_time: float
    history: list[dict[str, Any]] = field(default_factory=list)
    stage_notes: list[str] = field(default_factory=list)
    grid_events: list[dict[str, Any]] = field(default_factory=list)

    def final(self) -> dict[str, Any]:
        """Return the last history record (losses and metrics after training)."""
        return self.history[-1] if self.history else {}


class Trainer:
    """Train a model on a problem through optimizer stages.

    Args:
        problem: supplies point sets, loss terms and metrics.
        model: the network; it is checked against the problem before anything runs.
        stages: optimizer stages run in order, each with a fresh optimizer.
        loss_weights: overrides of the problem's term weights, by term name; non-negative.
        log_every: log one progress line every this many steps.
        eval_every: compute the problem's metrics every this many steps (default: ``log_every``).
        resample_every: draw new collocation points every this many steps; 0 keeps the first draw.
            An L-BFGS stage restarts its memory at each redraw because the objective has changed.
        grid_update: schedule of grid updates within each stage (KAN models only); None for none.
        sparsity: weights of the sparsity penalty on a KAN's edge activations, evaluated at the
            problem's ``grid_samples``; None or zero weights for none. MLPs ignore it.
        seed: seed of the collocation point draws.

    Every grid change (a stage's ``grid_size`` or a grid update) replaces the model's spline
    coefficients, so the optimizer is rebuilt afterwards. A change after which the loss is not
    finite is undone and recorded in ``stage_notes``; training continues on the old grid.
    """

    def __init__(
        self,
        problem: Problem,
        model: nn.Module,
        stages: list[Stage],
        *,
        loss_weights: Mapping[str, float] | None = None,
        log_every: int = 100,
        eval_every: int | None = None,
        resample_every: int = 0,
        grid_update: GridUpdate | None = None,
        sparsity: Sparsity | None = None,
        seed: int = 0,
    ) -> None:
        problem.check_model(model)
        if not stages:
            raise ValueError("the trainer needs at least one optimizer stage")
        self.problem = problem
        self.model = model
        self.stages = list(stages)
        self.loss_weights = self._merge_weights(problem.loss_weights, loss_weights or {})
        for name, value in (("log_every", log_every), ("eval_every", eval_every)):
            if value is not None and not (is_integer(value) and value >= 1):
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
        if not (is_integer(resample_every) and resample_every >= 0):
            raise ValueError(f"resample_every must be 0 (never) or positive, got {resample_every!r}")
        self.log_every = log_every
        self.eval_every = eval_every or log_every
        self.resample_every = resample_every
        self.grid_update = grid_update or GridUpdate()
        self.seed = seed
        self.has_grid = callable(getattr(model, "extend_grid", None))
        self.sparsity = sparsity or Sparsity()
        self.penalize = self.sparsity.enabled and self.has_grid

    @staticmethod
    def _merge_weights(defaults: Mapping[str, float], overrides: Mapping[str, float]) -> dict[str, float]:
        unknown = set(overrides) - set(defaults)
        if unknown:
            raise ValueError(
                f"unknown loss term(s) {sorted(unknown)} in loss_weights; this problem's terms are "
                f"{sorted(defaults)}"
            )
        weights = {**defaults, **overrides}
        for name, weight in weights.items():
            if not (isinstance(weight, (int, float)) and weight >= 0 and math.isfinite(weight)):
                raise ValueError(
                    f"loss weight of {name!r} must be a finite non-negative number, got {weight!r}"
                )
        return {name: float(weight) for name, weight in weights.items()}

    def _sample(self, rng: np.random.Generator) -> dict[str, Tensor]:
        dtype, device = model_dtype_device(self.model)
        return {name: x.to(dtype=dtype, device=device) for name, x in self.problem.sample(rng).items()}

    def weighted_loss(self, terms: Mapping[str, Tensor], step: int) -> Tensor:
        """Return sum_t weight_t * term_t, raising ``NonFiniteLossError`` for a non-finite term."""
        missing = set(terms) - set(self.loss_weights)
        if missing:
            raise ValueError(f"the problem returned loss term(s) {sorted(missing)} that have no weight")
        for name, value in terms.items():
            if not torch.isfinite(value):
                raise NonFiniteLossError(step, name, value.item())
        return sum(self.loss_weights[name] * value for name, value in terms.items())

    def fit(self) -> TrainResult:
        """Run every stage and return the status, history and timing.

        A non-finite loss term does not raise: it ends training with status ``diverged``, restores
        the last parameters whose loss was finite, and keeps the history so far.
        """
        start = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        self._parameters = self._trainable()
        self._good_state = [p.detach().clone() for p in self._parameters]
        points = self._sample(rng)
        history: list[dict[str, Any]] = []
        self._notes: list[str] = []
        self._events: list[dict[str, Any]] = []
        status, reason = "ok", "completed all stages"
        if not self.has_grid and (self.grid_update.every or any(s.grid_size for s in self.stages)):
            logger.info("the model has no spline grid, so the schedule's grid changes are skipped")
        if self.sparsity.enabled and not self.has_grid:
            logger.info("the model has no edge functions, so the sparsity penalty is skipped")
        step = 0
        try:
            for stage_index, stage in enumerate(self.stages):
                labels = []  # grid changes made before the next step, for its history record
                if stage.grid_size is not None and self.has_grid and stage.grid_size != self.model.grid_size:
                    labels.append(self._change_grid("extension", stage.grid_size, points, step, stage_index))
                optimizer = stage.build(self._parameters)
                logger.info(
                    "stage %d | %s | %d steps | lr %g%s", stage_index, stage.optimizer, stage.steps,
                    stage.learning_rate, f" | G = {self.model.grid_size}" if self.has_grid else "",
                )
                for stage_step in range(stage.steps):
                    if self.resample_every and step > 0 and step % self.resample_every == 0:
                        points = self._sample(rng)
                        if stage.optimizer == "lbfgs":
                            optimizer = stage.build(self._parameters)
                        logger.info("step %d | resampled collocation points", step)
                    if self.has_grid and self.grid_update.due(stage_step):
                        labels.append(self._change_grid("update", None, points, step, stage_index))
                        optimizer = stage.build(self._parameters)

                    entry, evaluations = self._train_step(optimizer, points, step, stage_index, stage, start)
                    if any(labels):
                        entry["event"] = "; ".join(label for label in labels if label)
                    labels = []
                    history.append(entry)
                    if step % self.log_every == 0:
                        logger.info(format_progress(entry))
                    step += 1

                    if stage.optimizer == "lbfgs" and evaluations <= 1:
                        note = (
                            f"stage {stage_index} (lbfgs) ended early at step {step}: the gradient or "
                            f"the change per iteration fell below tolerance_grad={stage.tolerance_grad:g} "
                            f"or tolerance_change={stage.tolerance_change:g}"
                        )
                        logger.info(note)
                        self._notes.append(note)
                        break
        except NonFiniteLossError as error:
            self._restore_good_state()
            status, reason = "diverged", str(error)
            logger.error(reason)
        except KeyboardInterrupt as error:
            self._restore_good_state()
            cause = str(error) or "SIGINT"
            status, reason = "interrupted", f"interrupted at step {step} by {cause}"
            logger.warning(reason)
        except Exception as error:
            # An unexpected error ends training like a divergence, so that the steps so far and the
            # last good parameters are still returned and written out.
            logger.exception("training failed at step %d", step)
            self._restore_good_state()
            status, reason = "failed", f"{type(error).__name__} at step {step}: {error}"

        history.append(self._final_record(points, step, start))
        logger.info(format_progress(history[-1]))
        logger.info("stop | %s | %s", status, reason)
        return TrainResult(
            status, reason, step, time.perf_counter() - start, history, self._notes, self._events
        )

    def _trainable(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _restore_good_state(self) -> None:
        with torch.no_grad():
            for parameter, saved in zip(self._parameters, self._good_state):
                parameter.copy_(saved)

    def _train_step(
        self, optimizer, points, step: int, stage_index: int, stage: Stage, start: float
    ) -> tuple[dict[str, Any], int]:
        """Take one optimizer step; return its history record and the number of loss evaluations."""
        snapshot = [p.detach().clone() for p in self._parameters]
        record: dict[str, Any] = {}

        def closure() -> Tensor:
            optimizer.zero_grad(set_to_none=True)
            terms = self.problem.losses(self.model, points)
            loss = self.weighted_loss(terms, step)
            penalty = self._penalty(points, step)
            if penalty is not None:
                loss = loss + penalty
            loss.backward()
            if not record:
                # The first evaluation of a step is at the parameters the step starts from, which
                # are now known to give a finite loss.
                record.update(loss=loss.item(), **{k: v.item() for k, v in terms.items()})
                if penalty is not None:
                    record["sparsity"] = penalty.item()
                self._good_state[:] = snapshot
            return loss

        # Metrics are taken before the step, at the same parameters as the recorded loss.
        metrics = self.problem.evaluate(self.model) if step % self.eval_every == 0 else {}
        evaluations = self._step(optimizer, closure)
        entry = {"step": step, "stage": stage_index, "optimizer": stage.optimizer, **record, **metrics}
        if self.has_grid:
            entry["grid_size"] = self.model.grid_size
            entry["event"] = ""
        entry["time"] = time.perf_counter() - start
        return entry, evaluations

    def _penalty(self, points: Mapping[str, Tensor], step: int) -> Tensor | None:
        """Return the weighted sparsity penalty, or None when it is off."""
        if not self.penalize:
            return None
        penalty = sparsity_penalty(
            self.model, self.problem.grid_samples(points), self.sparsity.l1, self.sparsity.entropy
        )
        if not torch.isfinite(penalty):
            raise NonFiniteLossError(step, "sparsity", penalty.item())
        return penalty

    def _current_loss(self, points: Mapping[str, Tensor]) -> float:
        terms = self.problem.losses(self.model, points)
        return float(sum(self.loss_weights[name] * value.detach() for name, value in terms.items()))

    def _change_grid(
        self, kind: str, grid_size: int | None, points: Mapping[str, Tensor], step: int, stage_index: int
    ) -> str | None:
        """Extend (``grid_size`` given) or update the model's grids, log the loss before and after,
        and rebuild the parameter list. A change that fails or makes the loss non-finite is undone.

        Returns a label of the change for the history, or None when the change was undone.
        """
        saved = self.model.grids()
        size_before = self.model.grid_size
        loss_before = self._current_loss(points)
        try:
            if kind == "extension":
                reports = self.model.extend_grid(grid_size, self.grid_update.fit_derivatives)
            else:
                samples = self.problem.grid_samples(points)
                reports = self.model.update_grid(
                    samples, self.grid_update.uniform_weight, self.grid_update.fit_derivatives
                )
            loss_after = self._current_loss(points)
            failure = None if math.isfinite(loss_after) else f"the loss became {loss_after}"
        except (ValueError, TypeError, RuntimeError) as error:
            failure = f"{type(error).__name__}: {error}"
        if failure is not None:
            self.model.set_grids(saved)
            note = f"grid {kind} at step {step} was undone and the grid kept at G = {size_before}: {failure}"
            logger.error(note)
            self._notes.append(note)
            return None

        self._parameters = self._trainable()
        self._good_state = [p.detach().clone() for p in self._parameters]
        change = max(report.relative_change for report in reports)
        if kind == "extension" and self.model.grid_size % size_before:
            logger.warning(
                "step %d | grid size %d is not a multiple of %d, so the change is a least-squares "
                "fit that alters the network (loss %.3e -> %.3e); multiples keep it exactly",
                step, self.model.grid_size, size_before, loss_before, loss_after,
            )
        label = "update"
        if kind == "extension":
            direction = "extension" if self.model.grid_size > size_before else "coarsening"
            label = f"{direction} {size_before}->{self.model.grid_size}"
        fallback = sorted({index for report in reports for index in report.fallback_inputs})
        if fallback:
            logger.warning(
                "step %d | grid update kept the old knots of input(s) %s of some layer, whose samples "
                "span no interval", step, fallback,
            )
        event = {
            "step": step,
            "stage": stage_index,
            "kind": kind,
            "label": label,
            "grid_size_before": size_before,
            "grid_size_after": self.model.grid_size,
            "loss_before": loss_before,
            "loss_after": loss_after,
            "max_relative_change": change,
        }
        self._events.append(event)
        logger.info(
            "step %d | grid %s | loss %.3e -> %.3e | max relative change of an edge spline %.1e",
            step, label, loss_before, loss_after, change,
        )
        return label

    @staticmethod
    def _step(optimizer: torch.optim.Optimizer, closure) -> int:
        """Take one optimizer step and return how many loss evaluations it used."""
        if isinstance(optimizer, torch.optim.LBFGS):
            state = optimizer.state[optimizer._params[0]]
            before = state.get("func_evals", 0)
            optimizer.step(closure)
            return state.get("func_evals", 0) - before
        closure()
        optimizer.step()
        return 1

    def _final_record(self, points: Mapping[str, Tensor], step: int, start: float) -> dict[str, Any]:
        try:
            return self._evaluate_final(points, step, start)
        except Exception:
            # After a failed run the same error may recur here; the history so far must survive it.
            logger.exception("could not evaluate the final state")
            return {"step": step, "stage": "final", "optimizer": "", "time": time.perf_counter() - start}

    def _evaluate_final(self, points: Mapping[str, Tensor], step: int, start: float) -> dict[str, Any]:
        terms = self.problem.losses(self.model, points)
        loss = sum(self.loss_weights[name] * value for name, value in terms.items())
        entry: dict[str, Any] = {"step": step, "stage": "final", "optimizer": ""}
        entry.update(loss=loss.item(), **{name: value.item() for name, value in terms.items()})
        entry.update(self.problem.evaluate(self.model))
        if self.has_grid:
            entry["grid_size"] = self.model.grid_size
            entry["event"] = ""
        entry["time"] = time.perf_counter() - start
        return entry


def format_progress(entry: Mapping[str, Any]) -> str:
    """Format a history record as one greppable line: ``step 200 | loss 3.1e-04 | ... | 12.3 s``."""
    parts = [f"step {entry['step']}"]
    for name, value in entry.items():
        if name in ("step", "stage", "optimizer", "time") or not isinstance(value, float):
            continue
        parts.append(f"{name} {value:.2e}")
    parts.append(f"{entry.get('time', 0.0):.1f} s")
    return " | ".join(parts)
