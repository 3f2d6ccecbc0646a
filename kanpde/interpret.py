"""Interpret a trained KAN: importance, pruning, symbolic fits, snapping, the formula and its errors.

From a run folder written by ``python -m kanpde``:

    python -m kanpde.interpret RUN_DIR [--prune] [--r2-threshold 0.99] [--functions x,x^2,sin]
        [--edges 0.0.0=sin,1.0.0] [--steps 100] [--output DIR]

or in the training run itself with ``interpret.enabled=true``. The interpretation folder
(``RUN_DIR/interpret`` by default) receives:

    network_trained.png   the trained network, every edge drawn over the range of its inputs
    edges.png             every edge function with its best symbolic fit overlaid
    symbolic_fits.csv     per edge, the best fits (function, a, b, c, d, R^2, score), snapped or not
    importance.json       edge and node importance scores (and the pruning report, if pruned)
    network.png           the network after pruning and snapping
    formula.txt           the formula per output: as fitted, rounded, and with constants recognized
    formula.tex           the same in LaTeX
    formula_metrics.json  errors of the formulas against the network, the exact solution or the data
    checkpoint.pt         the snapped network, loadable with ``kanpde.load_checkpoint``
    retrain_history.csv   the retraining steps after pruning and snapping
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import sympy
import torch

from kanpde.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from kanpde.formula import (
    EdgeFits,
    check_edges,
    check_functions,
    evaluate_expression,
    fit_edges,
    network_expression,
    parse_edge,
    recognize_expression,
    round_coefficients,
    snap,
    spline_edges,
)
from kanpde.kan import KAN
from kanpde.metrics import field_errors
from kanpde.problem import Problem
from kanpde.pruning import importance, layer_activations, prune, symbolic_mask
from kanpde.report import write_csv
from kanpde.trainer import Stage, Trainer

logger = logging.getLogger(__name__)

# Symbolic fits and plots use at most this many of the problem's training points, drawn at random.
# A few thousand points pin a univariate fit far below the R^2 resolution that matters here.
MAX_FIT_SAMPLES = 2000

# Files that ``interpret`` writes; a rerun removes them first.
OUTPUT_FILES = (
    "network_trained.png", "edges.png", "symbolic_fits.csv", "importance.json", "network.png",
    "formula.txt", "formula.tex", "formula_metrics.json", "checkpoint.pt", "retrain_history.csv",
)

# Retraining runs L-BFGS in stages of at most this many steps (see _retrain).
RETRAIN_STAGE_STEPS = 20


@dataclass(frozen=True)
class InterpretOptions:
    """Settings of ``interpret``.

    Attributes:
        prune: prune edges and hidden nodes below ``prune_threshold`` before fitting, then retrain.
        prune_threshold: importance below which an edge is pruned (a share of its output's variation).
        r2_threshold: R^2 from which an edge is snapped to its best symbolic fit.
        functions: names from ``kanpde.symbolic.LIBRARY`` to fit; None for all.
        edges: edges to snap, as ``layer.output.input`` mapped to a function name or None (best
            fit); None snaps every edge whose best fit reaches ``r2_threshold``.
        complexity_weight: score penalty per unit of complexity; None keeps the library default.
        retrain_steps: L-BFGS steps after pruning and after snapping (0 for none).
        digits: significant digits of the rounded formula.
        constant_tolerance: relative tolerance within which a coefficient is replaced by a simple
            rational multiple of 1 or pi.
        seed: seed of the sample draw.
        plots: draw the figures.
    """

    prune: bool = False
    prune_threshold: float = 0.01
    r2_threshold: float = 0.99
    functions: Sequence[str] | None = None
    edges: Mapping[str, str | None] | None = None
    complexity_weight: float | None = None
    retrain_steps: int = 100
    digits: int = 4
    constant_tolerance: float = 1e-4
    seed: int = 0
    plots: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.prune_threshold, (int, float)) and 0 <= self.prune_threshold < 1):
            raise ValueError(f"interpret.prune_threshold must be in [0, 1), got {self.prune_threshold!r}")
        if not (isinstance(self.r2_threshold, (int, float)) and 0 <= self.r2_threshold <= 1):
            raise ValueError(f"interpret.r2_threshold must be in [0, 1], got {self.r2_threshold!r}")
        for name in ("retrain_steps", "digits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "digits" else 0):
                raise ValueError(f"interpret.{name} must be a {'positive' if name == 'digits' else 'non-negative'} integer, got {value!r}")
        if not (isinstance(self.constant_tolerance, (int, float)) and 0 < self.constant_tolerance < 1):
            raise ValueError(f"interpret.constant_tolerance must be in (0, 1), got {self.constant_tolerance!r}")
        check_functions(self.functions)
        for edge, function in (self.edges or {}).items():
            parse_edge(edge)
            if function is not None:
                check_functions([function])
        weight = self.complexity_weight
        if weight is not None and not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
            raise ValueError(f"interpret.complexity_weight must be a finite number >= 0 or null, got {weight!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"interpret.seed must be a non-negative integer, got {self.seed!r}")


def interpret(problem: Problem, model: KAN, output_dir: str | Path, options: InterpretOptions | None = None) -> dict[str, Any]:
    """Interpret ``model`` (left unchanged) on ``problem`` and write the files listed in the module docstring.

    Returns the content of ``formula_metrics.json``: the formulas as text, their errors, the
    snapped and remaining spline edges, and the pruning report.

    Raises:
        TypeError: if ``model`` is not a KAN.
    """
    options = options or InterpretOptions()
    if not isinstance(model, KAN):
        raise TypeError(f"interpretation needs a KAN, got {type(model).__name__}; train with model=kan")
    if options.edges and not options.prune:
        check_edges(model, [parse_edge(edge) for edge in options.edges])
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model)
    # A rerun must not leave files of an earlier interpretation beside the new ones.
    for name in OUTPUT_FILES:
        (output_dir / name).unlink(missing_ok=True)
    rng = np.random.default_rng(options.seed)
    points = problem.sample(rng)
    samples = _subsample(problem.grid_samples(points), rng)
    names = _variable_names(problem, model)
    summary: dict[str, Any] = {"variables": names, "options": _plain(asdict(options))}
    history: list[dict[str, Any]] = []

    # The trained network as it is.
    if options.plots:
        _plot(model, samples, names, problem, output_dir / "network_trained.png", None)

    scores = importance(model, samples)
    summary["importance"] = {
        "edges": [edge.tolist() for edge in scores.edges],
        "nodes": [node.tolist() for node in scores.nodes],
    }
    if options.prune:
        model, report = prune(model, samples, options.prune_threshold)
        summary["prune"] = asdict(report)
        logger.info("pruned %s -> %s (%d edges masked)", report.widths_before, report.widths_after, report.masked_edges)
        history += _retrain(problem, model, options, "prune")
        samples = samples.to(next(model.parameters()).dtype)
    _write_json(output_dir / "importance.json", {k: summary[k] for k in ("importance", "prune") if k in summary})
    if options.edges and options.prune:
        check_edges(model, [parse_edge(edge) for edge in options.edges])

    # Symbolic fits of every spline edge of the network that is snapped (after any pruning, so
    # that edge numbers in the table, in edges.png and in --edges agree).
    fits = fit_edges(model, samples, functions=options.functions, complexity_weight=options.complexity_weight)
    if options.plots:
        _plot(model, samples, names, problem, None, fits, grid=output_dir / "edges.png")

    snapped = snap(
        model,
        samples,
        r2_threshold=options.r2_threshold,
        functions=options.functions,
        edges=dict(options.edges) if options.edges is not None else None,
        complexity_weight=options.complexity_weight,
    )
    _write_fits(output_dir / "symbolic_fits.csv", fits, snapped)
    if any(result.snapped for result in snapped):
        history += _retrain(problem, model, options, "snap")
    if history:
        write_csv(output_dir / "retrain_history.csv", history)
    save_checkpoint(output_dir / "checkpoint.pt", model, metadata={"interpreted": True})
    summary["widths"] = list(model.widths)
    summary["symbolic_edges"] = [
        {"edge": f"{level}.{o}.{i}", "function": name, "affine": affine}
        for level, layer in enumerate(model.layers)
        for (o, i, name), affine in zip(layer.symbolic_edges, layer.symbolic_affine.detach().tolist())
    ]
    summary["spline_edges"] = [".".join(map(str, edge)) for edge in spline_edges(model)]
    summary["network_metrics"] = problem.evaluate(model)

    summary.update(_formulas(problem, model, names, options, output_dir))
    if options.plots:
        _plot(model, samples, names, problem, output_dir / "network.png", None)
    _write_json(output_dir / "formula_metrics.json", summary)
    return summary


def _formulas(problem: Problem, model: KAN, names: list[str], options: InterpretOptions, folder: Path) -> dict[str, Any]:
    """Write formula.txt and formula.tex and return the formulas with their errors."""
    symbols = [sympy.Symbol(name, real=True) for name in names]
    try:
        raw = network_expression(model, symbols)
    except ValueError as error:
        message = f"no formula: {error}"
        logger.warning(message)
        (folder / "formula.txt").write_text(message + "\n")
        (folder / "formula.tex").write_text(f"% {message}\n")
        return {"formula": None, "formula_note": message}

    x_test, reference, label = _test_reference(problem)
    points = x_test.double().numpy()
    rounded = [round_coefficients(expression, symbols, points, options.digits) for expression in raw]
    recognized = [recognize_expression(expression, options.constant_tolerance) for expression in raw]
    forms = {"fitted": raw, "rounded": rounded, "recognized": recognized}
    lines, latex = [], []
    for name, expressions in forms.items():
        for index, expression in enumerate(expressions):
            lines.append(f"{name} u{index if len(expressions) > 1 else ''} = {expression}")
            latex.append(f"% {name}\nu{index if len(expressions) > 1 else ''} = {sympy.latex(expression)}")
    (folder / "formula.txt").write_text("\n".join(lines) + "\n")
    (folder / "formula.tex").write_text("\n\n".join(latex) + "\n")

    parameter = next(model.parameters())
    with torch.no_grad():
        network = model(x_test.to(dtype=parameter.dtype, device=parameter.device)).double().cpu().numpy()
    errors: dict[str, Any] = {}
    for name, expressions in forms.items():
        values = evaluate_expression(expressions[0], symbols, x_test.double().numpy())
        errors[name] = {"against_network": _errors(values, network)}
        if reference is not None:
            errors[name][f"against_{label}"] = _errors(values, reference)
    result: dict[str, Any] = {
        "formula": {name: [str(e) for e in expressions] for name, expressions in forms.items()},
        "formula_latex": [sympy.latex(e) for e in recognized],
        "formula_errors": errors,
    }
    exact = _exact_expression(problem, symbols)
    if exact is not None:
        result["exact"] = str(exact)
        result["recognized_equals_exact"] = bool(sympy.simplify(recognized[0] - exact) == 0)
    return result


def _test_reference(problem: Problem) -> tuple[torch.Tensor, np.ndarray | None, str]:
    """Return test points and the values to compare with: the exact solution, test data, or none."""
    x_test = getattr(problem, "x_test", None)
    u_exact = getattr(problem, "u_exact", None)
    if x_test is not None and callable(u_exact):
        return x_test, u_exact(x_test).double().numpy(), "exact"
    u_test = getattr(problem, "u_test", None)
    if x_test is not None and u_test is not None:
        return x_test, u_test.double().numpy(), "data"
    samples = problem.grid_samples(problem.sample(np.random.default_rng(0)))
    return samples, None, ""


def _exact_expression(problem: Problem, symbols: list[sympy.Symbol]) -> sympy.Expr | None:
    method = getattr(problem, "exact_expression", None)
    if not callable(method):
        return None
    return method(symbols)


def _errors(values: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    return field_errors(torch.as_tensor(values), torch.as_tensor(reference))


def _retrain(problem: Problem, model: KAN, options: InterpretOptions, phase: str) -> list[dict[str, Any]]:
    if options.retrain_steps == 0:
        return []
    # Several short L-BFGS stages rather than one long one: after snapping, the affine parameters
    # have redundant directions (an outer slope against an inner scale) where L-BFGS stalls, and a
    # fresh memory moves on. On the toy regression this took the MSE from 1.3e-10 to 6e-11.
    steps = [RETRAIN_STAGE_STEPS] * (options.retrain_steps // RETRAIN_STAGE_STEPS)
    if options.retrain_steps % RETRAIN_STAGE_STEPS:
        steps.append(options.retrain_steps % RETRAIN_STAGE_STEPS)
    stages = [Stage("lbfgs", count) for count in steps]
    trainer = Trainer(problem, model, stages, log_every=max(options.retrain_steps // 4, 1), seed=options.seed)
    result = trainer.fit()
    if result.status == "interrupted":
        # The formula of a half-retrained network would be written as if it were final.
        raise KeyboardInterrupt(result.stop_reason)
    logger.info("retrained after %s: %s, %s", phase, result.status, result.stop_reason)
    if result.status not in ("ok",):
        logger.warning("retraining after %s ended with status %s: %s", phase, result.status, result.stop_reason)
    return [{"phase": phase, **entry} for entry in result.history]


def _subsample(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    if x.shape[0] <= MAX_FIT_SAMPLES:
        return x
    return x[np.sort(rng.choice(x.shape[0], MAX_FIT_SAMPLES, replace=False))]


def _variable_names(problem: Problem, model: KAN) -> list[str]:
    names = list(getattr(problem, "variable_names", ()) or ())
    if len(names) != model.input_dim:
        names = [f"x{i + 1}" for i in range(model.input_dim)]
    return names


def _plot(model: KAN, samples, names, problem, path: Path | None, fits: list[EdgeFits] | None, grid: Path | None = None) -> None:
    from kanpde import plotting

    try:
        layers = edge_curves(model, samples, fits)
        if path is not None:
            plotting.plot_network(layers, path, input_names=names)
        if grid is not None:
            plotting.plot_edge_grid(layers, grid, input_names=names)
    except Exception:
        # The numbers are the results; a figure that cannot be drawn must not lose them.
        logger.exception("could not draw %s", path)


@torch.no_grad()
def edge_curves(model: KAN, x: torch.Tensor, fits: list[EdgeFits] | None = None) -> list[dict[str, np.ndarray]]:
    """Return per-layer arrays for ``kanpde.plotting.plot_network``: inputs, edge outputs,
    importance (scaled to a maximum of 1), active and symbolic edges, and overlaid fits."""
    scores = importance(model, x)
    top = max(float(edge.max()) for edge in scores.edges) or 1.0
    by_edge = {result.edge: result.best for result in fits or []}
    layers = []
    for level, (layer, (inputs, outputs)) in enumerate(zip(model.layers, layer_activations(model, x))):
        symbolic = symbolic_mask(layer)
        labels = np.full((layer.out_features, layer.in_features), "", dtype=object)
        for o, i, name in layer.symbolic_edges:
            labels[o, i] = name
        inputs_np = inputs.double().cpu().numpy()
        fit = np.full(outputs.shape, np.nan)
        fit_labels = np.full(labels.shape, "", dtype=object)
        for (fit_level, o, i), best in by_edge.items():
            if fit_level == level:
                fit[:, o, i] = best.evaluate(inputs_np[:, i])
                fit_labels[o, i] = f"{best.function}, R2={best.r2:.5f}"
        layers.append({
            "x": inputs_np,
            "y": outputs.double().cpu().numpy(),
            "importance": (scores.edges[level] / top).double().cpu().numpy(),
            "active": ((layer.mask > 0) | symbolic).cpu().numpy(),
            "labels": labels,
            "fit": fit,
            "fit_labels": fit_labels,
        })
    return layers


def _write_fits(path: Path, fits: list[EdgeFits], snapped: list[EdgeFits]) -> None:
    chosen = {result.edge: result.snapped for result in snapped}
    rows = []
    for result in fits:
        for rank, fit in enumerate(result.fits):
            rows.append({
                "edge": ".".join(map(str, result.edge)),
                "rank": rank,
                "function": fit.function,
                "a": fit.a, "b": fit.b, "c": fit.c, "d": fit.d,
                "r2": fit.r2,
                "score": fit.score,
                "snapped_to": chosen.get(result.edge) or "",
            })
    write_csv(path, rows)


def _write_json(path: Path, content: dict[str, Any]) -> None:
    path.write_text(json.dumps(_plain(content), indent=2) + "\n")


def _plain(value: Any) -> Any:
    """Return ``value`` with tuples, numpy scalars and non-finite floats made JSON-friendly."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def options_from_settings(settings: Mapping[str, Any]) -> InterpretOptions:
    """Build ``InterpretOptions`` from a config mapping, rejecting unknown keys by name."""
    settings = {key: value for key, value in settings.items() if key != "enabled"}
    edges = settings.get("edges")
    if isinstance(edges, str):
        settings["edges"] = parse_edges(edges)
    elif isinstance(edges, (list, tuple)):
        settings["edges"] = parse_edges(",".join(str(item) for item in edges))
    known = set(InterpretOptions.__dataclass_fields__)
    unknown = set(settings) - known
    if unknown:
        raise ValueError(f"unknown interpret setting(s) {sorted(unknown)}; known settings: {sorted(known)}")
    return InterpretOptions(**settings)


def load_run(run_dir: str | Path) -> tuple[Problem, KAN, dict[str, Any]]:
    """Rebuild the problem and load the trained network of a run folder written by ``python -m kanpde``.

    Raises:
        FileNotFoundError: if the folder, its ``.hydra/config.yaml`` or its ``checkpoint.pt`` is missing.
        CheckpointError: for a damaged checkpoint.
        TypeError: if the run trained an MLP.
    """
    from omegaconf import OmegaConf

    from kanpde.cli import build_problem

    run_dir = Path(run_dir)
    config_path = run_dir / ".hydra" / "config.yaml"
    if run_dir.is_file():
        raise FileNotFoundError(
            f"{str(run_dir)!r} is a file; pass the run folder that contains it (with .hydra/config.yaml "
            f"and checkpoint.pt), or load the checkpoint in Python and call kanpde.interpret.interpret"
        )
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {str(run_dir)!r} not found")
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{str(config_path)!r} not found; pass a run folder written by python -m kanpde "
            f"(it contains .hydra/config.yaml and checkpoint.pt)"
        )
    settings = OmegaConf.to_container(OmegaConf.load(config_path), resolve=True)
    model = load_checkpoint(run_dir / "checkpoint.pt")
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        try:
            status = json.loads(metrics_path.read_text()).get("status")
        except (OSError, ValueError):
            status = None
        if status not in (None, "ok"):
            logger.warning(
                "the run in %s ended with status %r; its network is the last one with a finite loss, "
                "and its formula may not describe a trained solution", run_dir, status,
            )
    if not isinstance(model, KAN):
        raise TypeError(f"the run in {str(run_dir)!r} trained a {model.kind}; interpretation needs a KAN (model=kan)")
    problem = build_problem(dict(settings["problem"]))
    return problem, model, settings


def parse_edges(text: str | None) -> dict[str, str | None] | None:
    """Parse ``0.0.0=sin,1.0.0`` into {"0.0.0": "sin", "1.0.0": None}."""
    if not text:
        return None
    edges: dict[str, str | None] = {}
    for item in text.split(","):
        edge, _, function = item.partition("=")
        parse_edge(edge)
        edges[edge.strip()] = function.strip() or None
    return edges


def main(argv: Sequence[str] | None = None) -> int:
    """Interpret the KAN of a run folder; return the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m kanpde.interpret",
        description="Plot, prune and snap the KAN of a training run folder, and write its formula.",
    )
    parser.add_argument("run_dir", help="run folder written by python -m kanpde (contains checkpoint.pt)")
    parser.add_argument("--output", help="folder for the results (default: RUN_DIR/interpret)")
    parser.add_argument("--prune", action="store_true", help="prune unimportant edges and nodes first")
    parser.add_argument("--prune-threshold", type=float, default=0.01, help="importance below which edges are pruned (default 0.01)")
    parser.add_argument("--r2-threshold", type=float, default=0.99, help="R^2 from which an edge is snapped (default 0.99)")
    parser.add_argument("--functions", help="comma-separated library subset, e.g. x,x^2,sin,exp (default: all)")
    parser.add_argument("--edges", help="edges to snap, e.g. 0.0.0=sin,1.0.0 (no function: best fit)")
    parser.add_argument("--complexity-weight", type=float, help="score penalty per unit of complexity")
    parser.add_argument("--steps", type=int, default=100, help="L-BFGS retraining steps after pruning and snapping (default 100)")
    parser.add_argument("--digits", type=int, default=4, help="significant digits of the rounded formula (default 4)")
    parser.add_argument("--constant-tolerance", type=float, default=1e-4, help="relative tolerance for recognizing constants such as pi/2 (default 1e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample draw (default 0)")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    try:
        problem, model, settings = load_run(arguments.run_dir)
        torch.set_num_threads(settings.get("threads") or torch.get_num_threads())
        options = InterpretOptions(
            prune=arguments.prune,
            prune_threshold=arguments.prune_threshold,
            r2_threshold=arguments.r2_threshold,
            functions=arguments.functions.split(",") if arguments.functions else None,
            edges=parse_edges(arguments.edges),
            complexity_weight=arguments.complexity_weight,
            retrain_steps=arguments.steps,
            digits=arguments.digits,
            constant_tolerance=arguments.constant_tolerance,
            seed=arguments.seed,
            plots=not arguments.no_plots,
        )
    except (FileNotFoundError, CheckpointError, TypeError, ValueError) as error:
        print(f"kanpde.interpret: {error}", file=sys.stderr)
        return 2
    output = Path(arguments.output) if arguments.output else Path(arguments.run_dir) / "interpret"
    try:
        summary = interpret(problem, model, output, options)
    except ValueError as error:
        print(f"kanpde.interpret: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:
        print(f"kanpde.interpret: interrupted ({error or 'SIGINT'}); the files in {output} are incomplete", file=sys.stderr)
        return 130
    formula = summary.get("formula")
    if formula:
        print("formula:", formula["recognized"][0])
    else:
        print(summary.get("formula_note"))
    print(f"results written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
