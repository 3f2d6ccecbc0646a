"""Mobility edges of a trained localization classifier: accuracies, edge errors, formula and plots.

The learned edge is the zero of the classifier's logit. Along the energy it gives E_c as a function
of the model parameters, along lambda it gives lambda_c as a function of E and the other parameter.
Both are compared with the analytic edges on grids inside the parameter ranges:

| model | learned edge | analytic edge | grid |
|---|---|---|---|
| mosaic (kappa = 2) | lambda_c(E) | 2 / abs(E) | abs(E) in [0.8, 2.2] |
| gaam | E_c(alpha, lambda) | 2 (1 - lambda) / alpha | alpha in [0.3, 0.7], lambda in [0.4, 1.2], E_c in (-2, 2.5) |
| gaam | lambda_c(E, alpha) | 1 - alpha E / 2 | the same points |
| maam | E_c(p, lambda) | lambda cosh(p) - exp(p) | five points in p in [0.8, 2], lambda in [1.5, 3] |
| maam | lambda_c(E, p) | (E + exp(p)) / cosh(p) | the same points |

Inputs that the edge does not depend on (the phase phi) are averaged over: the logit is the mean
over eight phases. E is searched within the spectrum's bounds and lambda within its data range.
Where the logit does not change sign along the search line, the edge counts as not found and its
error as infinite.

Shape letters: M grid points, K points along the search line, F input features.
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import sympy
import torch
from torch import Tensor, nn

from kanpde.problems.anderson import accuracy
from kanpde.problems.anderson_physics import lambda_edge_mosaic

logger = logging.getLogger(__name__)

# Points along each search line; the edge is located to (range / K) before linear interpolation.
SEARCH_POINTS = 2001

# Phases over which a phase input is averaged when locating an edge.
PHASES = np.linspace(0.1, 2 * math.pi - 0.1, 8)

# The five MAAM check points (p, lambda), spread over p in [0.8, 2] and lambda in [1.5, 3].
MAAM_POINTS = [(0.8, 1.5), (1.1, 2.0), (1.4, 2.5), (1.7, 3.0), (2.0, 2.2)]

# Symbolic functions that the formula of each model's classifier may use. The analytic order
# parameters are linear in E and lambda and need a product (alpha E, lambda cosh p), which a sum
# of univariate functions writes through squares.
FORMULA_FUNCTIONS = {
    "mosaic": ["x", "1/x", "abs", "x^2"],
    "gaam": ["x", "x^2"],
    "maam": ["x", "x^2", "cosh", "exp"],
}


def analyze(problem, model: nn.Module, folder: Path) -> dict[str, Any]:
    """Return accuracies, edge errors and the formula of a trained classifier, and draw the plots.

    Args:
        problem: the ``AndersonLocalization`` problem the model was trained on.
        model: the trained classifier (KAN or MLP), left unchanged.
        folder: run folder; plots go to ``folder / "plots"``.
    """
    results: dict[str, Any] = {
        "test_accuracy": _accuracy(problem, model, problem.x_test, problem.y_test),
        "validation_accuracy": _accuracy(problem, model, problem.x_validation, problem.y_validation),
        "analytic_accuracy": problem.analytic_accuracy(problem.test),
    }
    if "phi" in problem.inputs:
        results["phi_permutation_change"] = phi_permutation_change(problem, model)

    network = lambda x: problem.logits(model, torch.as_tensor(x))[:, 0].numpy()  # noqa: E731
    results["edges"] = edge_errors(problem, network)
    if problem.model_name == "gaam":
        results["edge_coefficients"] = gaam_edge_coefficients(problem, network)

    if getattr(model, "kind", None) == "kan":
        try:
            results["formula"] = formula_summary(problem, model)
        except Exception as error:  # a formula is an extra; the accuracies and edges stand without it
            logger.exception("no formula for the classifier")
            results["formula"] = {"status": "failed", "error": f"{type(error).__name__}: {error}"}

    try:
        plot_phase_diagram(problem, network, folder / "plots" / "phase_diagram.png")
        plot_fractal_dimension(problem, folder / "plots" / "fractal_dimension.png")
    except Exception:
        logger.exception("could not draw the Anderson plots in %s", folder / "plots")
    return results


def _accuracy(problem, model, x: Tensor, y: Tensor) -> float:
    return accuracy(problem.logits(model, x), y)


def phi_permutation_change(problem, model: nn.Module, seed: int = 0) -> float:
    """Return the change in test accuracy (percentage points) when phi is shuffled across the test set."""
    column = problem.inputs.index("phi")
    x = problem.x_test.clone()
    permutation = torch.as_tensor(np.random.default_rng(seed).permutation(len(x)))
    x[:, column] = x[permutation, column]
    before = _accuracy(problem, model, problem.x_test, problem.y_test)
    after = _accuracy(problem, model, x, problem.y_test)
    return 100.0 * abs(after - before)


def find_zero(
    logit: Callable[[np.ndarray], np.ndarray],
    base: np.ndarray,
    column: int,
    low: np.ndarray | float,
    high: np.ndarray | float,
    rising: bool | None = None,
) -> np.ndarray:
    """Return, for each base point (M, F), where the logit crosses zero as ``column`` runs from
    ``low`` to ``high`` (numbers, or arrays (M,) for one interval per point).

    ``rising`` keeps only crossings from negative to positive (True) or the reverse (False). The
    side on which states are localized is known, and a classifier trained on a Cantor-like
    spectrum may cross zero and back inside a gap where it saw no data. Of the crossings left,
    the steepest is taken. Where there is none, the result is NaN.
    """
    low = np.broadcast_to(np.asarray(low, dtype=np.float64), (len(base),))
    high = np.broadcast_to(np.asarray(high, dtype=np.float64), (len(base),))
    fraction = np.linspace(0.0, 1.0, SEARCH_POINTS)
    lines = low[:, None] + (high - low)[:, None] * fraction  # (M, K)
    points = np.repeat(base[:, None, :], SEARCH_POINTS, axis=1)  # (M, K, F)
    points[:, :, column] = lines
    values = logit(points.reshape(-1, base.shape[1])).reshape(len(base), SEARCH_POINTS)
    zeros = np.full(len(base), np.nan)
    for row, (curve, line) in enumerate(zip(values, lines)):
        # A value of exactly 0 counts as a crossing at its own point.
        left, right = curve[:-1], curve[1:]
        up = (left <= 0) & (right > 0)
        down = (left >= 0) & (right < 0)
        if rising is None:
            allowed = up | down
        else:
            allowed = up if rising else down
        crossings = np.nonzero(allowed)[0]
        if len(crossings) == 0:
            continue
        index = crossings[np.argmax(np.abs(curve[crossings + 1] - curve[crossings]))]
        before, after = curve[index], curve[index + 1]
        zeros[row] = line[index] + (line[index + 1] - line[index]) * before / (before - after)
    return zeros


def energy_rising(model: str) -> bool:
    """Return whether localization sets in above E_c (GAAM with alpha > 0) rather than below (MAAM)."""
    return model == "gaam"


def spectrum_bounds(model: str, parameters: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return bounds (low, high) of the spectrum at the given parameters, from the band of the
    hopping plus the range of the on-site potential. The search for E_c stays inside them,
    because outside the data a classifier's logit means nothing."""
    lam = np.abs(parameters["lambda"])
    if model == "gaam":
        alpha = parameters["alpha"]
        return -2 - 2 * lam / (1 + np.abs(alpha)), 2 + 2 * lam / (1 - np.abs(alpha))
    if model == "maam":
        decay = np.exp(-parameters["p"])
        # sum over d >= 1 of 2 exp(-p (d - 1)) cos(k d) lies in [-2 / (1 + decay), 2 / (1 - decay)].
        return -2 / (1 + decay) - lam, 2 / (1 - decay) + lam
    return -2 - lam, 2 + lam


def _phase_averaged(problem, logit: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a logit of features (M, F) so that a phi input is averaged over ``PHASES``."""
    if "phi" not in problem.inputs:
        return logit
    column = problem.inputs.index("phi")

    def averaged(x: np.ndarray) -> np.ndarray:
        total = np.zeros(len(x))
        for phase in PHASES:
            shifted = x.copy()
            shifted[:, column] = phase
            total += logit(shifted)
        return total / len(PHASES)

    return averaged


def _base_points(problem, values: dict[str, np.ndarray]) -> np.ndarray:
    """Stack named columns into features (M, F) in the problem's input order (phi = first phase)."""
    count = len(next(iter(values.values())))
    base = np.zeros((count, len(problem.inputs)))
    for index, name in enumerate(problem.inputs):
        base[:, index] = values.get(name, np.full(count, PHASES[0]))
    return base


def check_grid(problem) -> dict[str, np.ndarray]:
    """Return the named grid points at which each model's edges are checked (see the module table)."""
    if problem.model_name == "mosaic":
        energy = np.concatenate([np.linspace(-2.2, -0.8, 15), np.linspace(0.8, 2.2, 15)])
        return {"E": energy}
    if problem.model_name == "gaam":
        alpha, lam = np.meshgrid(np.linspace(0.3, 0.7, 9), np.linspace(0.4, 1.2, 9))
        alpha, lam = alpha.ravel(), lam.ravel()
        edge = 2 * (1 - lam) / alpha
        keep = (edge > -2) & (edge < 2.5)
        return {"alpha": alpha[keep], "lambda": lam[keep], "E": edge[keep]}
    p, lam = (np.array(values) for values in zip(*MAAM_POINTS))
    return {"p": p, "lambda": lam, "E": lam * np.cosh(p) - np.exp(p)}


def analytic_lambda_edge(problem, grid: dict[str, np.ndarray]) -> np.ndarray:
    """Return the analytic lambda_c at the grid's E and other parameter."""
    energy = grid["E"]
    if problem.model_name == "mosaic":
        return lambda_edge_mosaic(energy, kappa=problem.kappa)
    if problem.model_name == "gaam":
        return 1 - grid["alpha"] * energy / 2
    return (energy + np.exp(grid["p"])) / np.cosh(grid["p"])


def edge_errors(problem, logit: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    """Locate the learned edges on the check grid and compare them with the analytic ones."""
    logit = _phase_averaged(problem, logit)
    grid = check_grid(problem)
    results: dict[str, Any] = {}

    # Along lambda: lambda_c as a function of E and the other parameter.
    column = problem.inputs.index("lambda") if "lambda" in problem.inputs else None
    if column is not None:
        # Localized above lambda_c in every model.
        learned = find_zero(logit, _base_points(problem, grid), column, *problem.parameter_ranges["lambda"], rising=True)
        analytic = analytic_lambda_edge(problem, grid)
        relative = np.abs(learned - analytic) / np.abs(analytic)
        results["lambda_edge"] = {
            "points": len(analytic),
            "found": int(np.isfinite(learned).sum()),
            "median_relative_error": _finite_or_inf(np.median(np.where(np.isfinite(relative), relative, np.inf))),
            "max_abs_error": _finite_or_inf(np.max(np.where(np.isfinite(learned), np.abs(learned - analytic), np.inf))),
        }

    # Along E: E_c as a function of the parameters (not defined for the Mosaic model, whose edge
    # is a pair +-E_c).
    if problem.model_name != "mosaic":
        without_energy = {name: values for name, values in grid.items() if name != "E"}
        low, high = spectrum_bounds(problem.model_name, without_energy)
        learned = find_zero(
            logit, _base_points(problem, without_energy), problem.inputs.index("E"), low, high,
            rising=energy_rising(problem.model_name),
        )
        error = np.where(np.isfinite(learned), np.abs(learned - grid["E"]), np.inf)
        results["energy_edge"] = {
            "points": len(error),
            "found": int(np.isfinite(learned).sum()),
            "max_abs_error": _finite_or_inf(error.max()),
            "median_abs_error": _finite_or_inf(np.median(error)),
        }
        if problem.model_name == "maam":
            results["energy_edge"]["learned"] = learned.tolist()
            results["energy_edge"]["analytic"] = grid["E"].tolist()
    return results


def _finite_or_inf(value: float) -> float | str:
    return float(value) if math.isfinite(value) else "inf"


def formula_summary(problem, model: nn.Module, retrain_steps: int = 20) -> dict[str, Any]:
    """Snap a copy of the KAN to the model's formula functions, retrain it, and return the formula,
    its accuracy and its edge errors. For GAAM the result also has the coefficients of its edge
    written as alpha E + c_lambda lambda + c_0 = 0 (``gaam_edge_coefficients``)."""
    from kanpde.formula import network_expression, snap, spline_edges
    from kanpde.trainer import Stage, Trainer

    # Snap in two ways and keep the formula that classifies the validation set better. One way
    # snaps all edges at once. The other snaps layer by layer with retraining in between, so that
    # later layers adapt to the closed forms of earlier ones. Neither won on every trained network.
    functions = FORMULA_FUNCTIONS[problem.model_name]
    candidates = []
    for layerwise in (False, True):
        snapped = copy.deepcopy(model)
        groups = [[edge for edge in spline_edges(snapped) if edge[0] == level] for level in range(len(snapped.layers))]
        for edges in (groups if layerwise else [spline_edges(snapped)]):
            if edges:
                snap(snapped, problem.x_train, r2_threshold=0.0, functions=functions, edges=edges)
                Trainer(problem, snapped, [Stage("lbfgs", retrain_steps)], log_every=retrain_steps).fit()
        candidates.append((_accuracy(problem, snapped, problem.x_validation, problem.y_validation), layerwise, snapped))
    validation_accuracy, layerwise, snapped = max(candidates, key=lambda candidate: candidate[0])
    symbols = [sympy.Symbol(_symbol_name(name), real=True) for name in problem.inputs]
    expression = sympy.expand(network_expression(snapped, symbols)[0])
    function = sympy.lambdify(symbols, expression, modules="numpy")

    def formula_logit(x: np.ndarray) -> np.ndarray:
        values = function(*(x[:, column] for column in range(x.shape[1])))
        return np.broadcast_to(np.asarray(values, dtype=np.float64), (len(x),))

    logits = formula_logit(problem.x_test.numpy())
    summary: dict[str, Any] = {
        "status": "ok",
        "snapping": "layer by layer" if layerwise else "all edges at once",
        "validation_accuracy": validation_accuracy,
        "expression": str(expression.evalf(6)),
        "test_accuracy": accuracy(torch.as_tensor(logits).reshape(-1, 1), problem.y_test),
        "edges": edge_errors(problem, formula_logit),
    }
    if problem.model_name == "gaam":
        summary["edge_coefficients"] = gaam_edge_coefficients(problem, formula_logit)
    return summary


def _symbol_name(feature: str) -> str:
    return {"lambda": "lam"}.get(feature, feature)


def gaam_edge_coefficients(problem, logit: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    """Write a classifier's GAAM edge as alpha E + c_lambda lambda + c_0 = 0, plus what that misses.

    A classifier's logit is fixed only up to a positive factor and any change away from its zero
    set, so its edge is compared through that zero set. E_c is located on the 9 x 9 grid of alpha
    in [0.3, 0.7] and lambda in [0.4, 1.2], where points whose edge lies beyond the spectrum have
    none. Then alpha E_c is fitted by least squares with -(c_lambda lambda + c_0). ``largest_other`` is
    the largest residual of that fit, the part of alpha E_c that other terms would have to carry.
    The analytic edge alpha E + 2 lambda - 2 = 0 gives c_lambda = 2, c_0 = -2 and no residual.
    """
    logit = _phase_averaged(problem, logit)
    alpha, lam = (values.ravel() for values in np.meshgrid(np.linspace(0.3, 0.7, 9), np.linspace(0.4, 1.2, 9)))
    low, high = spectrum_bounds("gaam", {"alpha": alpha, "lambda": lam})
    edge = find_zero(
        logit, _base_points(problem, {"alpha": alpha, "lambda": lam}), problem.inputs.index("E"), low, high,
        rising=True,
    )
    found = np.isfinite(edge)
    if found.sum() < 3:
        return {"status": f"edge found at {int(found.sum())} of {len(edge)} grid points, too few to fit"}
    alpha, lam, edge = alpha[found], lam[found], edge[found]
    basis = np.stack([lam, np.ones_like(lam)], axis=1)
    target = alpha * edge
    solution = np.linalg.lstsq(basis, target, rcond=None)[0]
    residual = target - basis @ solution
    return {
        "status": "ok",
        "points": int(found.sum()),
        "alpha*E": 1.0,
        "lambda": float(-solution[0]),
        "constant": float(-solution[1]),
        "largest_other": float(np.max(np.abs(residual))),
    }


def plot_phase_diagram(problem, logit: Callable[[np.ndarray], np.ndarray], path: Path) -> Path:
    """Draw the test states in a parameter plane with the learned and analytic edges over them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    averaged = _phase_averaged(problem, logit)
    data = problem.data
    names = ("E", *problem.parameter_ranges, "phi")
    features = {name: data.features[:, names.index(name)] for name in names}
    localized = data.labels > 0.5

    if problem.model_name == "mosaic":
        figure, axis = plt.subplots(figsize=(6, 4.5))
        axis.scatter(features["E"], features["lambda"], c=np.where(localized, "tab:red", "tab:blue"), s=1, alpha=0.3)
        energy = np.concatenate([np.linspace(-4, -0.3, 200), [np.nan], np.linspace(0.3, 4, 200)])
        analytic = lambda_edge_mosaic(energy, kappa=problem.kappa)
        axis.plot(energy, analytic, "k-", label="analytic lambda_c(E)")
        finite = np.isfinite(energy)
        learned = np.full(len(energy), np.nan)
        learned[finite] = find_zero(
            averaged, _base_points(problem, {"E": energy[finite]}), problem.inputs.index("lambda"),
            *problem.parameter_ranges["lambda"], rising=True,
        )
        axis.plot(energy, learned, "--", color="tab:green", label="learned lambda_c(E)")
        axis.set_xlabel("E")
        axis.set_ylabel("lambda")
        axis.set_ylim(*problem.parameter_ranges["lambda"])
        axis.set_title("Mosaic model: red localized, blue extended")
        axis.legend(loc="best", fontsize=8)
    else:
        other = "alpha" if problem.model_name == "gaam" else "p"
        values = np.quantile(features[other], [0.25, 0.75])
        figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for axis, value in zip(axes, values):
            width = 0.05 * (problem.parameter_ranges[other][1] - problem.parameter_ranges[other][0])
            near = np.abs(features[other] - value) < width
            axis.scatter(features["lambda"][near], features["E"][near], c=np.where(localized[near], "tab:red", "tab:blue"), s=2, alpha=0.4)
            lam = np.linspace(*problem.parameter_ranges["lambda"], 120)
            fixed = np.full_like(lam, value)
            grid = {"lambda": lam, other: fixed}
            if problem.model_name == "gaam":
                analytic = 2 * np.sign(lam) * (1 - np.abs(lam)) / fixed
            else:
                analytic = lam * np.cosh(fixed) - np.exp(fixed)
            low, high = spectrum_bounds(problem.model_name, grid)
            learned = find_zero(
                averaged, _base_points(problem, grid), problem.inputs.index("E"), low, high,
                rising=energy_rising(problem.model_name),
            )
            axis.plot(lam, analytic, "k-", label="analytic E_c")
            axis.plot(lam, learned, "--", color="tab:green", label="learned E_c")
            axis.set_xlabel("lambda")
            axis.set_ylabel("E")
            axis.set_title(f"{problem.model_name.upper()}, {other} = {value:.2f} +- {width:.2f}: red localized, blue extended")
            axis.legend(loc="best", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_fractal_dimension(problem, path: Path) -> Path:
    """Draw the histogram of fractal dimensions with the labelling threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.hist(problem.data.fractal_dimension, bins=80, color="tab:gray")
    axis.axvline(problem.threshold, color="tab:red", label=f"threshold {problem.threshold:g}")
    axis.set_xlabel("fractal dimension D = -ln(IPR) / ln(N)")
    axis.set_ylabel("states")
    axis.set_yscale("log")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
