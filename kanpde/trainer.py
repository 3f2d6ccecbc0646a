"""Minimize a weighted sum of a problem's named loss terms through a sequence of optimizer stages.

The trainer contains nothing specific to a PDE. It requests point sets and loss terms from the
problem, steps the optimizers, records a history and stops on the first non-finite loss term.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from kanpde.problem import Problem, model_dtype_device

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "lbfgs")
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

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; choose one of {list(OPTIMIZERS)} "
                f"in the trainer's stages"
            )
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(
                f"a stage needs steps >= 1, got steps={self.steps!r} for {self.optimizer}; "
                f"set the stage's steps to a positive integer"
            )
        if self.lr is not None and not self.lr > 0:
            raise ValueError(
                f"learning rate must be positive, got lr={self.lr!r} for {self.optimizer}; "
                f"typical values are 1e-3 for adam and 1 for lbfgs"
            )
        if self.line_search not in (None, "strong_wolfe"):
            raise ValueError(
                f"unknown line_search {self.line_search!r}; use strong_wolfe or null (fixed step)"
            )
        if not (self.tolerance_grad >= 0 and self.tolerance_change >= 0):
            raise ValueError(
                f"L-BFGS tolerances must be non-negative, got tolerance_grad={self.tolerance_grad!r} "
                f"and tolerance_change={self.tolerance_change!r}"
            )
        if self.max_iter < 1 or self.history_size < 1:
            raise ValueError(
                f"max_iter and history_size must be at least 1, got {self.max_iter} and {self.history_size}"
            )

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
        stages.append(Stage(**values))
    if not stages:
        raise ValueError("the trainer needs at least one optimizer stage")
    return stages


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite."""

    def __init__(self, step: int, term: str, value: float) -> None:
        self.step, self.term, self.value = step, term, value
        super().__init__(
            f"loss term {term!r} is {value} at step {step}; training stopped and the parameters "
            f"were restored to the last step with a finite loss. Try a smaller learning rate, "
            f"float64 (dtype=float64), or a different seed"
        )


@dataclass
class TrainResult:
    """Outcome of ``Trainer.fit``.

    Attributes:
        status: ``ok``, ``diverged`` (a non-finite loss stopped the run) or ``interrupted``.
        stop_reason: a sentence saying why training ended.
        steps: number of completed steps.
        wall_time: seconds spent in ``fit``.
        history: one record per step (loss at the start of that step, each term, elapsed seconds,
            and metrics every ``eval_every`` steps), then a last record after the final step.
        stage_notes: one line per stage that ended before its step budget, saying why.
    """

    status: str
    stop_reason: str
    steps: int
    wall_time: float
    history: list[dict[str, Any]] = field(default_factory=list)
    stage_notes: list[str] = field(default_factory=list)

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
        seed: seed of the collocation point draws.
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
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value!r}")
        if resample_every < 0:
            raise ValueError(f"resample_every must be 0 (never) or positive, got {resample_every!r}")
        self.log_every = log_every
        self.eval_every = eval_every or log_every
        self.resample_every = resample_every
        self.seed = seed

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
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        points = self._sample(rng)
        history: list[dict[str, Any]] = []
        notes: list[str] = []
        good_state = [p.detach().clone() for p in parameters]
        status, reason = "ok", "completed all stages"
        step = 0
        try:
            for stage_index, stage in enumerate(self.stages):
                optimizer = stage.build(parameters)
                logger.info(
                    "stage %d | %s | %d steps | lr %g", stage_index, stage.optimizer, stage.steps,
                    stage.learning_rate,
                )
                for _ in range(stage.steps):
                    if self.resample_every and step > 0 and step % self.resample_every == 0:
                        points = self._sample(rng)
                        if stage.optimizer == "lbfgs":
                            optimizer = stage.build(parameters)
                        logger.info("step %d | resampled collocation points", step)

                    snapshot = [p.detach().clone() for p in parameters]
                    record: dict[str, Any] = {}

                    def closure() -> Tensor:
                        optimizer.zero_grad(set_to_none=True)
                        terms = self.problem.losses(self.model, points)
                        loss = self.weighted_loss(terms, step)
                        loss.backward()
                        if not record:
                            # The first evaluation of a step is at the parameters the step starts
                            # from, which are now known to give a finite loss.
                            record.update(loss=loss.item(), **{k: v.item() for k, v in terms.items()})
                            good_state[:] = snapshot
                        return loss

                    # Metrics are taken before the step, at the same parameters as the recorded loss.
                    metrics = self.problem.evaluate(self.model) if step % self.eval_every == 0 else {}
                    evaluations = self._step(optimizer, closure)
                    entry = {"step": step, "stage": stage_index, "optimizer": stage.optimizer, **record, **metrics}
                    entry["time"] = time.perf_counter() - start
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
                        notes.append(note)
                        break
        except NonFiniteLossError as error:
            with torch.no_grad():
                for parameter, saved in zip(parameters, good_state):
                    parameter.copy_(saved)
            status, reason = "diverged", str(error)
            logger.error(reason)
        except KeyboardInterrupt as error:
            with torch.no_grad():
                for parameter, saved in zip(parameters, good_state):
                    parameter.copy_(saved)
            cause = str(error) or "SIGINT"
            status, reason = "interrupted", f"interrupted at step {step} by {cause}"
            logger.warning(reason)

        history.append(self._final_record(points, step, start))
        logger.info(format_progress(history[-1]))
        logger.info("stop | %s | %s", status, reason)
        return TrainResult(status, reason, step, time.perf_counter() - start, history, notes)

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
        terms = self.problem.losses(self.model, points)
        loss = sum(self.loss_weights[name] * value for name, value in terms.items())
        entry: dict[str, Any] = {"step": step, "stage": "final", "optimizer": ""}
        entry.update(loss=loss.item(), **{name: value.item() for name, value in terms.items()})
        entry.update(self.problem.evaluate(self.model))
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
