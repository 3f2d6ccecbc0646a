"""Classify eigenstates of quasiperiodic chains as localized or extended, and find mobility edges.

A KAN reads the energy E of an eigenstate, the model's parameters and the phase phi, and returns
the logit of "localized". Training minimizes the binary cross-entropy against labels from exact
diagonalization (fractal dimension below a threshold). The mobility edge is where the logit
crosses zero: along E (E_c as a function of the parameters) or along lambda (lambda_c as a function
of E). The models, data generation and analytic edges are in ``anderson_physics``.

The study follows Liu et al., "KAN: Kolmogorov-Arnold Networks", arXiv 2404.19756, section 4.4.
Its models are the Mosaic model (Wang et al., PRL 125, 196604, 2020), the generalized Aubry-Andre
model (Ganeshan, Pixley, Das Sarma, PRL 114, 146601, 2015) and the Aubry-Andre model with
exponential hopping (Biddle, Das Sarma, PRL 104, 070601, 2010).

Shape letters: N states, F input features.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from kanpde.problem import Problem, model_dtype_device
from kanpde.problems.anderson_physics import (
    MODELS,
    AndersonData,
    check_settings,
    generate_data,
    order_parameter,
    split_by_hamiltonian,
)

logger = logging.getLogger(__name__)

# Parameter ranges of the generated data sets. They cover the regions where the mobility edges
# are checked with a margin, and they keep GAAM energies (up to 2 lambda / (1 - alpha)) below 10.
DEFAULT_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "mosaic": {"lambda": (0.0, 4.0)},
    "gaam": {"alpha": (0.1, 0.8), "lambda": (0.2, 1.6)},
    "maam": {"p": (0.5, 2.5), "lambda": (1.0, 4.0)},
}

# Network inputs of each model in the KAN paper's classifiers: MM [2, 1] on (E, lambda); GAAM and
# MAAM on (E, the two parameters, phi).
DEFAULT_INPUTS: dict[str, tuple[str, ...]] = {
    "mosaic": ("E", "lambda"),
    "gaam": ("E", "alpha", "lambda", "phi"),
    "maam": ("E", "p", "lambda", "phi"),
}


def default_cache_dir() -> Path:
    """Return $XDG_CACHE_HOME/kanpde/anderson, or ~/.cache/kanpde/anderson."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kanpde" / "anderson"


class AndersonLocalization(Problem):
    """Binary classification of eigenstates (localized or extended) of a quasiperiodic chain.

    Args:
        model: ``mosaic``, ``gaam`` or ``maam``.
        n_sites: chain length N; under periodic boundaries a Fibonacci number (144, 610, 987, ...),
            and a multiple of kappa for the Mosaic model.
        n_hamiltonians: number of parameter and phase draws, each diagonalized once.
        states_per_hamiltonian: eigenstates kept per Hamiltonian, chosen at random; None keeps all.
        parameter_ranges: {name: [low, high]} per model parameter; missing names use
            ``DEFAULT_RANGES``.
        inputs: names of the network inputs among E, the model's parameters and phi; None uses
            ``DEFAULT_INPUTS``.
        threshold: states with fractal dimension D below it are labelled localized.
        kappa: period of the Mosaic potential (2 or more).
        boundary: ``periodic`` or ``open``.
        data_seed: seed of the parameter draws, the kept states and the split.
        split: fractions of Hamiltonians in the training, validation and test sets.
        cache_dir: folder for generated data sets, reused when the settings match; None for
            ``default_cache_dir()``, "" for no cache.

    Raises:
        ValueError: for an invalid setting, before any diagonalization.
    """

    output_dim = 1
    derivative_order = 0

    def __init__(
        self,
        model: str = "gaam",
        n_sites: int = 610,
        n_hamiltonians: int = 1000,
        states_per_hamiltonian: int | None = 20,
        parameter_ranges: Mapping[str, Sequence[float]] | None = None,
        inputs: Sequence[str] | None = None,
        threshold: float = 0.5,
        kappa: int = 2,
        boundary: str = "periodic",
        data_seed: int = 0,
        split: Sequence[float] = (0.7, 0.15, 0.15),
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown Anderson model {model!r}; choose one of {list(MODELS)}")
        ranges = {name: tuple(float(v) for v in bounds) for name, bounds in DEFAULT_RANGES[model].items()}
        for name, bounds in (parameter_ranges or {}).items():
            if name not in ranges:
                raise ValueError(
                    f"unknown parameter {name!r} in parameter_ranges for the {model} model; its "
                    f"parameters are {sorted(ranges)}"
                )
            ranges[name] = tuple(float(v) for v in bounds)
        check_settings(model, n_sites, boundary=boundary, kappa=kappa, threshold=threshold, parameter_ranges=ranges)
        feature_names = ("E", *DEFAULT_RANGES[model], "phi")
        inputs = tuple(inputs) if inputs is not None else DEFAULT_INPUTS[model]
        unknown = [name for name in inputs if name not in feature_names]
        if unknown or not inputs or len(set(inputs)) != len(inputs):
            raise ValueError(
                f"inputs must name distinct features among {list(feature_names)}, got {list(inputs)}"
            )
        if "E" not in inputs:
            raise ValueError(f"inputs must include the energy E, got {list(inputs)}")

        self.model_name = model
        self.kappa = kappa
        self.threshold = threshold
        self.parameter_ranges = ranges
        self.inputs = inputs
        self.variable_names = inputs
        self.input_dim = len(inputs)
        self.loss_weights = {"bce": 1.0}
        self.columns = [feature_names.index(name) for name in inputs]

        if cache_dir is None:
            cache = default_cache_dir()
        elif str(cache_dir):
            cache = Path(cache_dir).expanduser()
        else:
            cache = None
        data = generate_data(
            model, n_hamiltonians, n_sites, ranges, states_per_hamiltonian,
            threshold=threshold, kappa=kappa, boundary=boundary, seed=data_seed, cache_dir=cache,
        )
        self.data = data
        self.train, self.validation, self.test = split_by_hamiltonian(data, tuple(split), seed=data_seed)
        self.x_train, self.y_train = self._tensors(self.train)
        self.x_validation, self.y_validation = self._tensors(self.validation)
        self.x_test, self.y_test = self._tensors(self.test)
        logger.info(
            "%s data: %d Hamiltonians at N = %d, %d / %d / %d states for training / validation / "
            "test, %.1f%% localized",
            model, n_hamiltonians, n_sites, len(self.y_train), len(self.y_validation), len(self.y_test),
            100 * float(data.labels.mean()),
        )

    def _tensors(self, data: AndersonData) -> tuple[Tensor, Tensor]:
        x = torch.as_tensor(data.features[:, self.columns], dtype=torch.float64)
        y = torch.as_tensor(data.labels, dtype=torch.float64).reshape(-1, 1)
        return x, y

    def sample(self, rng: np.random.Generator) -> dict[str, Tensor]:
        """Return the fixed training set {"x_train": (N, F), "y_train": (N, 1)}; ``rng`` is unused."""
        return {"x_train": self.x_train.clone(), "y_train": self.y_train.clone()}

    def losses(self, model: nn.Module, points: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Return {"bce": binary cross-entropy of sigmoid(model(x)) against the labels}."""
        dtype, device = model_dtype_device(model)
        logits = model(points["x_train"].to(dtype=dtype, device=device))
        labels = points["y_train"].to(dtype=dtype, device=device)
        if logits.shape != labels.shape:
            raise ValueError(f"the model returned shape {tuple(logits.shape)}, expected {tuple(labels.shape)} (one logit per state)")
        return {"bce": nn.functional.binary_cross_entropy_with_logits(logits, labels)}

    def logits(self, model: nn.Module, x: Tensor) -> Tensor:
        """Return the model's logits (N, 1) at features x (N, F), in float64."""
        dtype, device = model_dtype_device(model)
        with torch.no_grad():
            return model(x.to(dtype=dtype, device=device)).double().cpu()

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Return test and validation accuracy and the test cross-entropy."""
        metrics = {}
        for name, x, y in (("test", self.x_test, self.y_test), ("validation", self.x_validation, self.y_validation)):
            metrics[f"{name}_accuracy"] = accuracy(self.logits(model, x), y)
        metrics["test_bce"] = float(nn.functional.binary_cross_entropy_with_logits(self.logits(model, self.x_test), self.y_test))
        return metrics

    def analytic_accuracy(self, data: AndersonData) -> float:
        """Return the accuracy of the analytic mobility edge (g > 0 localized) on the data's labels."""
        g = order_parameter(self.model_name, data.features[:, 0], self.parameters_of(data), kappa=self.kappa)
        return float(np.mean((g > 0) == (data.labels > 0.5)))

    def parameters_of(self, data: AndersonData) -> dict[str, np.ndarray]:
        """Return each model parameter's column of the data's features."""
        names = ("E", *DEFAULT_RANGES[self.model_name], "phi")
        return {name: data.features[:, names.index(name)] for name in DEFAULT_RANGES[self.model_name]}

    def analyze(self, model: nn.Module, folder: Path) -> dict[str, Any]:
        """Return the accuracies, the mobility edge errors and the formula, and draw the plots."""
        from kanpde.problems.anderson_analysis import analyze

        return analyze(self, model, folder)


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Return the share of states where logit > 0 agrees with label 1 (localized)."""
    return float(((logits > 0) == (labels > 0.5)).double().mean())
