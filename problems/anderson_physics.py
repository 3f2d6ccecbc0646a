"""Quasiperiodic tight-binding chains with mobility edges, and labelled data sets of their eigenstates.

Three one-dimensional models on sites n = 1..N, with phases x_n = 2*pi*b*n + phi and hopping
t = 1 between nearest neighbours:

| name     | model                   | hopping                               | on-site potential V_n                          |
|----------|-------------------------|---------------------------------------|------------------------------------------------|
| mosaic   | mosaic                  | 1 between nearest neighbours          | lambda*cos(x_n) where n = 0 mod kappa, else 0  |
| gaam     | generalized Aubry-Andre | 1 between nearest neighbours          | 2*lambda*cos(x_n) / (1 - alpha*cos(x_n))       |
| maam     | modified Aubry-Andre    | exp(-p*(d - 1)) at distance d >= 1    | lambda*cos(x_n)                                |

The MAAM hopping is t*exp(-p*d) with t = exp(p), so that nearest neighbours have hopping 1
(Biddle and Das Sarma, PRL 104, 070601 (2010)). Each pair of sites appears once: H[n, n'] =
H[n', n] = exp(-p*(d - 1)), never twice that. The mosaic potential has no factor 2, unlike
Wang et al., PRL 125, 196604 (2020), so its mobility edges are twice theirs. The generalized
Aubry-Andre model is the one of Ganeshan, Pixley and Das Sarma, PRL 114, 146601 (2015).

Boundaries:

- ``periodic`` (default): N must be a Fibonacci number F_k of at least 3, and b = F_{k+1}/F_k
  makes the potential periodic in N. For the mosaic model N must also be a multiple of kappa.
  The MAAM hopping uses the minimum-image distance d = min(|n - n'|, N - |n - n'|).
- ``open``: any N >= 2 (N >= kappa for the mosaic model, and no multiple of kappa needed because
  nothing wraps around) and b = (1 + sqrt(5))/2. Open chains carry edge states inside the
  spectral gaps, which the analytic labels do not describe.

Eigenstates are labelled by their fractal dimension D = -ln(IPR)/ln(N), with IPR = sum_n
|psi_n|^4: extended states have D near 1 and localized states D near 0, and a state is labelled
localized when D < threshold (0.5 by default). The analytic order parameter g (``order_parameter``)
is positive on the localized side of the mobility edge.

Shape letters: N sites, K eigenstates, S states in a data set, F feature columns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import os
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.linalg import eigh
from scipy.special import eval_chebyu

logger = logging.getLogger(__name__)

MODELS = ("mosaic", "gaam", "maam")

# Parameter names of each model, in the order of the feature columns. The mosaic model's kappa is
# a fixed integer setting, not a parameter.
PARAMETER_NAMES: dict[str, tuple[str, ...]] = {
    "mosaic": ("lambda",),
    "gaam": ("alpha", "lambda"),
    "maam": ("p", "lambda"),
}

BOUNDARIES = ("periodic", "open")

GOLDEN_RATIO = (1 + math.sqrt(5)) / 2

# Bump when the generated arrays or their meaning change, so that old cache files are not read.
CACHE_FORMAT_VERSION = 1

ARRAY_NAMES = ("features", "labels", "fractal_dimension", "ipr", "order_parameter", "hamiltonian_id")


# --- settings --------------------------------------------------------------------------------


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fibonacci_up_to(limit: int) -> list[int]:
    """Return the Fibonacci numbers 1, 2, 3, 5, ... up to the first one at or above ``limit``."""
    numbers_so_far = [1, 2]
    while numbers_so_far[-1] < limit:
        numbers_so_far.append(numbers_so_far[-1] + numbers_so_far[-2])
    return numbers_so_far


def _nearest_fibonacci(n: int) -> tuple[int, int]:
    """Return the Fibonacci numbers just below and just above n (both at least 3)."""
    sequence = [value for value in _fibonacci_up_to(n + 1) if value >= 3]
    below = max((value for value in sequence if value < n), default=3)
    above = min(value for value in sequence if value > n)
    return below, above


def _fibonacci_successor(n_sites: int) -> int | None:
    """Return F_(k+1) for n_sites = F_k >= 2, or None if n_sites is not a Fibonacci number."""
    sequence = _fibonacci_up_to(n_sites + 1)
    if n_sites not in sequence:
        return None
    return sequence[sequence.index(n_sites) + 1]


def fibonacci_approximant(n_sites: int) -> float:
    """Return b = F_{k+1}/F_k for n_sites = F_k, the rational approximant of the golden ratio.

    With this b and N = F_k sites, 2*pi*b*(n + N) = 2*pi*b*n + 2*pi*F_{k+1}, so the potential is
    periodic in N.

    Args:
        n_sites: a Fibonacci number of at least 2 (1 is F_1 and F_2, so its successor is ambiguous).

    Returns:
        The approximant b as a float.

    Raises:
        ValueError: if n_sites is not an integer Fibonacci number of at least 2.
    """
    if not _is_integer(n_sites) or n_sites < 2:
        raise ValueError(f"n_sites must be a Fibonacci number of at least 2, got {n_sites!r}")
    n_sites = int(n_sites)
    successor = _fibonacci_successor(n_sites)
    if successor is None:
        below, above = _nearest_fibonacci(n_sites)
        raise ValueError(
            f"n_sites {n_sites} is not a Fibonacci number; the nearest ones are {below} and {above}"
        )
    return successor / n_sites


def _check_model(model: Any) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {list(MODELS)}")


def _check_kappa(kappa: Any) -> None:
    if not _is_integer(kappa) or kappa < 2:
        raise ValueError(
            f"kappa (the mosaic period) must be an integer of at least 2, got {kappa!r}; the default is 2"
        )


def _check_size(model: str, n_sites: Any, boundary: Any, kappa: int) -> None:
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; choose one of {list(BOUNDARIES)}")
    if not _is_integer(n_sites):
        raise ValueError(f"n_sites must be an integer, got {n_sites!r}")

    if boundary == "periodic":
        if n_sites < 3:
            raise ValueError(
                f"n_sites {n_sites} is too small for periodic boundaries, which need a Fibonacci "
                f"number of at least 3 (3, 5, 8, ..., 144, 610, 987); use one of those or boundary='open'"
            )
        if _fibonacci_successor(n_sites) is None:
            below, above = _nearest_fibonacci(n_sites)
            raise ValueError(
                f"n_sites {n_sites} is not a Fibonacci number, which periodic boundaries need so that "
                f"b = F_(k+1)/F_k closes the chain; use a nearby one such as {below} or {above}, "
                f"or boundary='open'"
            )
        if model == "mosaic" and n_sites % kappa != 0:
            fitting = [n for n in _fibonacci_up_to(10**5) if n >= 3 and n % kappa == 0][:4]
            raise ValueError(
                f"n_sites {n_sites} is not a multiple of kappa {kappa}, which the mosaic model needs "
                f"under periodic boundaries; choose a Fibonacci number divisible by {kappa} "
                f"(such as {', '.join(map(str, fitting))}) or boundary='open'"
            )
    else:
        minimum = kappa if model == "mosaic" else 2
        if n_sites < minimum:
            raise ValueError(
                f"n_sites {n_sites} is too small for an open chain of the {model} model; use at least {minimum}"
            )


def _check_threshold(threshold: Any) -> None:
    if not _is_real(threshold) or not 0 < threshold < 1:
        raise ValueError(
            f"threshold (the fractal dimension below which a state is labelled localized) must be a "
            f"number above 0 and below 1, got {threshold!r}; the default is 0.5"
        )


def _check_parameter_value(model: str, name: str, value: float, prefix: str) -> None:
    """Raise ValueError for a value that the model does not allow; ``prefix`` starts the message."""
    if not math.isfinite(value):
        raise ValueError(f"{prefix} {name} must be a finite number, got {value!r}")
    if model == "gaam" and name == "alpha" and not abs(value) < 1:
        raise ValueError(
            f"{prefix} alpha must satisfy |alpha| < 1, got {value!r}: the GAAM potential "
            f"2*lambda*cos(x)/(1 - alpha*cos(x)) diverges at |alpha| = 1; use values in (-1, 1)"
        )
    if model == "maam" and name == "p" and not value > 0:
        raise ValueError(
            f"{prefix} p must be positive, got {value!r}: the MAAM hopping exp(-p*(d - 1)) does not "
            f"decay for p <= 0; use values above 0"
        )


def _normalize_ranges(model: str, parameter_ranges: Any) -> dict[str, tuple[float, float]]:
    """Validate the parameter ranges and return them as {name: (low, high)} in the model's order."""
    names = PARAMETER_NAMES[model]
    if not isinstance(parameter_ranges, Mapping):
        raise ValueError(
            f"parameter_ranges must be a dict of (low, high) pairs keyed by {list(names)}, "
            f"got {parameter_ranges!r}"
        )
    unknown = sorted(set(parameter_ranges) - set(names), key=str)
    if unknown:
        raise ValueError(
            f"parameter_ranges names unknown parameter(s) {unknown} for the {model} model; "
            f"its parameters are {list(names)}"
        )
    missing = [name for name in names if name not in parameter_ranges]
    if missing:
        raise ValueError(
            f"parameter_ranges has no range for {missing}; the {model} model needs one (low, high) "
            f"pair for each of {list(names)}"
        )

    ranges = {}
    for name in names:
        pair = parameter_ranges[name]
        if (
            isinstance(pair, (str, bytes))
            or np.ndim(pair) != 1
            or len(pair) != 2
            or not all(_is_real(value) for value in pair)
        ):
            raise ValueError(f"the range of {name} must be a pair (low, high) of numbers, got {pair!r}")
        low, high = float(pair[0]), float(pair[1])
        if not low <= high:
            raise ValueError(
                f"the range of {name} has low > high, got ({pair[0]!r}, {pair[1]!r}); write it as (low, high)"
            )
        for value in (low, high):
            _check_parameter_value(model, name, value, "the range of")
        ranges[name] = (low, high)
    return ranges


def check_settings(
    model: str,
    n_sites: int,
    boundary: str = "periodic",
    kappa: int = 2,
    threshold: float = 0.5,
    parameter_ranges: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """Raise ValueError for settings that no Hamiltonian or data set can be built from.

    Everything here is checked before any diagonalization, so a bad setting fails at once.

    Args:
        model: one of ``MODELS``.
        n_sites: number of sites N. Periodic boundaries need a Fibonacci number of at least 3,
            a multiple of kappa for the mosaic model. Open boundaries need N >= 2 (N >= kappa
            for the mosaic model).
        boundary: ``periodic`` or ``open``.
        kappa: period of the mosaic potential, an integer of at least 2. It is checked for every
            model but only the mosaic model uses it.
        threshold: fractal dimension below which a state is labelled localized, in (0, 1).
        parameter_ranges: None to skip, or {name: (low, high)} with one pair per parameter of
            the model (``PARAMETER_NAMES``). low == high fixes a parameter. Every value must be
            finite, with |alpha| < 1 (GAAM) and p > 0 (MAAM).

    Raises:
        ValueError: naming the invalid setting and how to fix it.
    """
    _check_model(model)
    _check_kappa(kappa)
    _check_size(model, n_sites, boundary, kappa)
    _check_threshold(threshold)
    if parameter_ranges is not None:
        _normalize_ranges(model, parameter_ranges)


def _check_parameters(model: str, parameters: Any) -> dict[str, float]:
    """Validate one point of parameters and return it as {name: float} in the model's order."""
    names = PARAMETER_NAMES[model]
    if not isinstance(parameters, Mapping) or set(parameters) != set(names):
        received = sorted(parameters, key=str) if isinstance(parameters, Mapping) else parameters
        raise ValueError(f"the {model} model takes the parameters {list(names)}, got {received!r}")
    values = {}
    for name in names:
        value = parameters[name]
        if not _is_real(value):
            raise ValueError(f"parameter {name} must be a real number, got {value!r}")
        _check_parameter_value(model, name, float(value), "parameter")
        values[name] = float(value)
    return values


def _parameter_arrays(model: str, parameters: Any) -> dict[str, np.ndarray]:
    """Validate parameters given as numbers or arrays and return them as float64 arrays."""
    names = PARAMETER_NAMES[model]
    if not isinstance(parameters, Mapping) or set(parameters) != set(names):
        received = sorted(parameters, key=str) if isinstance(parameters, Mapping) else parameters
        raise ValueError(f"the {model} model takes the parameters {list(names)}, got {received!r}")
    arrays = {name: np.asarray(parameters[name], dtype=np.float64) for name in names}
    for name, values in arrays.items():
        if not np.all(np.isfinite(values)):
            raise ValueError(f"parameter {name} must be finite, got non-finite values in {values!r}")
    if model == "gaam" and np.any(np.abs(arrays["alpha"]) >= 1):
        raise ValueError(f"parameter alpha must satisfy |alpha| < 1, got {arrays['alpha']!r}")
    if model == "maam" and np.any(arrays["p"] <= 0):
        raise ValueError(f"parameter p must be positive, got {arrays['p']!r}")
    return arrays


# --- Hamiltonians and localization -------------------------------------------------------------


def _phases(n_sites: int, phi: float, boundary: str) -> np.ndarray:
    """Return x_n = 2*pi*b*n + phi for n = 1..N, shaped (N,)."""
    sites = np.arange(1, n_sites + 1)
    if boundary == "periodic":
        # b*n mod 1 = (F_(k+1)*n mod N)/N in exact integers, so x_(n+N) = x_n to round-off.
        successor = _fibonacci_successor(n_sites)
        return 2 * np.pi * ((successor * sites) % n_sites) / n_sites + phi
    return 2 * np.pi * GOLDEN_RATIO * sites + phi


def _potential(model: str, x: np.ndarray, parameters: Mapping[str, float], kappa: int) -> np.ndarray:
    """Return the on-site potential V_n at phases x (N,), shaped (N,)."""
    strength = parameters["lambda"]
    if model == "mosaic":
        sites = np.arange(1, len(x) + 1)
        return np.where(sites % kappa == 0, strength * np.cos(x), 0.0)
    if model == "gaam":
        cos_x = np.cos(x)
        return 2 * strength * cos_x / (1 - parameters["alpha"] * cos_x)
    return strength * np.cos(x)


def _hopping(model: str, n_sites: int, parameters: Mapping[str, float], boundary: str) -> np.ndarray:
    """Return the hopping matrix with a zero diagonal, shaped (N, N)."""
    if model == "maam":
        sites = np.arange(n_sites)
        distance = np.abs(sites[:, None] - sites[None, :])
        if boundary == "periodic":
            distance = np.minimum(distance, n_sites - distance)
        hopping = np.exp(-parameters["p"] * (distance - 1.0))
        np.fill_diagonal(hopping, 0.0)
        return hopping

    hopping = np.zeros((n_sites, n_sites))
    neighbours = np.arange(n_sites - 1)
    hopping[neighbours, neighbours + 1] = 1.0
    hopping[neighbours + 1, neighbours] = 1.0
    if boundary == "periodic":
        hopping[0, n_sites - 1] = 1.0
        hopping[n_sites - 1, 0] = 1.0
    return hopping


def hamiltonian(
    model: str,
    n_sites: int,
    phi: float,
    parameters: Mapping[str, float],
    kappa: int = 2,
    boundary: str = "periodic",
) -> np.ndarray:
    """Build the real symmetric Hamiltonian of one chain.

    Args:
        model: one of ``MODELS``.
        n_sites: number of sites N (see ``check_settings``).
        phi: phase offset of the potential, in radians.
        parameters: one value per parameter name of the model, e.g. {"alpha": 0.5, "lambda": 0.5}.
        kappa: period of the mosaic potential; ignored by the other models.
        boundary: ``periodic`` or ``open``.

    Returns:
        H shaped (N, N), float64, with the on-site potential on the diagonal.

    Raises:
        ValueError: for invalid settings, parameters or phase.
    """
    check_settings(model, n_sites, boundary, kappa)
    values = _check_parameters(model, parameters)
    if not _is_real(phi) or not math.isfinite(phi):
        raise ValueError(f"phi must be a finite real number (radians), got {phi!r}")

    x = _phases(int(n_sites), float(phi), boundary)
    matrix = _hopping(model, int(n_sites), values, boundary)
    matrix[np.diag_indices(int(n_sites))] = _potential(model, x, values, kappa)
    return matrix


def localization(eigenvectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compute the inverse participation ratio and fractal dimension of each eigenvector.

    Args:
        eigenvectors: one eigenvector per column, shaped (N, K) with N >= 2, real or complex;
            columns need not be normalized.

    Returns:
        ipr: sum_n |psi_n|^4 of each normalized column, shaped (K,); 1/N for a uniform state
            and 1 for a state on one site.
        fractal_dimension: D = -ln(IPR)/ln(N), shaped (K,), between 0 and 1.

    Raises:
        ValueError: for an array that is not 2-D, has fewer than 2 rows, is not finite or has a
            zero column.
    """
    vectors = np.asarray(eigenvectors)
    if vectors.ndim != 2 or vectors.shape[0] < 2:
        raise ValueError(
            f"eigenvectors must be shaped (N, K) with N >= 2 sites, one state per column, got shape {vectors.shape}"
        )
    density = np.abs(vectors).astype(np.float64) ** 2
    if not np.all(np.isfinite(density)):
        raise ValueError("eigenvectors contain NaN or infinite entries")
    norm = density.sum(axis=0)
    if np.any(norm == 0):
        raise ValueError(f"eigenvector column(s) {np.flatnonzero(norm == 0).tolist()} are zero and cannot be normalized")
    density = density / norm
    ipr = np.sum(density**2, axis=0)
    fractal_dimension = -np.log(ipr) / math.log(vectors.shape[0])
    return ipr, fractal_dimension


# --- analytic mobility edges -------------------------------------------------------------------


def lambda_edge_mosaic(energy: np.ndarray | float, kappa: int = 2) -> np.ndarray:
    """Return the mosaic model's critical strength lambda_c(E) = 2/|U_(kappa-1)(E/2)|.

    U is the Chebyshev polynomial of the second kind (Wang et al., PRL 125, 196604 (2020), with
    their 2*lambda written here as lambda). States at energy E are localized for |lambda| >
    lambda_c(E). For kappa = 2, lambda_c = 2/|E|. At the zeros of U (E = 0 for kappa = 2) the
    result is inf: those energies stay extended at any strength.

    Args:
        energy: energies E, any shape.
        kappa: period of the mosaic potential, an integer of at least 2.

    Returns:
        lambda_c with the shape of ``energy``, float64.
    """
    _check_kappa(kappa)
    chebyshev = eval_chebyu(kappa - 1, np.asarray(energy, dtype=np.float64) / 2)
    with np.errstate(divide="ignore"):
        return 2 / np.abs(chebyshev)


def energy_edge(model: str, parameters: Mapping[str, Any]) -> np.ndarray:
    """Return the mobility edge E_c of the GAAM or MAAM, vectorized over the parameters.

    - GAAM: E_c = 2*sgn(lambda)*(1 - |lambda|)/alpha (Ganeshan, Pixley and Das Sarma 2015).
      States with sgn(lambda)*alpha*(E - E_c) > 0 are localized, so for alpha*lambda > 0 the
      states above E_c. alpha = 0 or lambda = 0 has no energy edge, and the result there is NaN:
      with alpha = 0 every state is localized for |lambda| > 1 and extended for |lambda| < 1, and
      with lambda = 0 every state is extended.
    - MAAM: E_c = |lambda|*cosh(p) - exp(p) (Biddle and Das Sarma 2010, hopping 1 between
      nearest neighbours); states below E_c are localized. A negative lambda is the same chain
      with phi shifted by pi, hence |lambda|.

    Args:
        model: ``gaam`` or ``maam``; the mosaic model's edge is a function of E, see
            ``lambda_edge_mosaic``.
        parameters: one number or array per parameter name, broadcast together.

    Returns:
        E_c, float64, with the broadcast shape of the parameters.
    """
    _check_model(model)
    if model == "mosaic":
        raise ValueError(
            "the mosaic model has no single energy edge; use lambda_edge_mosaic(E, kappa) for its "
            "critical strength lambda_c(E)"
        )
    values = _parameter_arrays(model, parameters)
    strength = values["lambda"]
    if model == "gaam":
        alpha = values["alpha"]
        no_edge = (alpha == 0) | (strength == 0)
        safe_alpha = np.where(alpha == 0, 1.0, alpha)
        return np.where(no_edge, np.nan, 2 * np.sign(strength) * (1 - np.abs(strength)) / safe_alpha)
    return np.abs(strength) * np.cosh(values["p"]) - np.exp(values["p"])


def order_parameter(
    model: str, energy: np.ndarray | float, parameters: Mapping[str, Any], kappa: int = 2
) -> np.ndarray:
    """Evaluate the analytic order parameter g(E, parameters); g > 0 means localized.

    - GAAM: g = sgn(lambda)*alpha*E + 2*(|lambda| - 1).
    - MAAM: g = |lambda|*cosh(p) - (E + exp(p)).
    - mosaic: g = |lambda| - 2/|U_(kappa-1)(E/2)|, -inf at the zeros of U.

    For lambda >= 0 the MAAM and mosaic forms are lambda*cosh(p) - (E + exp(p)) and lambda -
    2/|U|. A negative lambda is the same chain with phi shifted by pi, hence |lambda|.

    Args:
        model: one of ``MODELS``.
        energy: energies E, any shape.
        parameters: one number or array per parameter name, broadcast with ``energy``.
        kappa: period of the mosaic potential; ignored by the other models.

    Returns:
        g with the broadcast shape of ``energy`` and the parameters, float64.
    """
    _check_model(model)
    _check_kappa(kappa)
    values = _parameter_arrays(model, parameters)
    energy = np.asarray(energy, dtype=np.float64)
    strength = values["lambda"]
    if model == "gaam":
        return np.sign(strength) * values["alpha"] * energy + 2 * (np.abs(strength) - 1)
    if model == "maam":
        return np.abs(strength) * np.cosh(values["p"]) - (energy + np.exp(values["p"]))
    return np.abs(strength) - lambda_edge_mosaic(energy, kappa)


# --- data sets ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AndersonData:
    """Labelled eigenstates of random Hamiltonians of one model, one row per state.

    Attributes:
        features: (S, F) float64 with columns ``feature_names``: the energy E, the model's
            parameters and the phase phi of the state's Hamiltonian.
        feature_names: ("E", *parameter names, "phi").
        labels: (S,) float64, 1.0 for a localized state (fractal dimension below the threshold),
            else 0.0.
        fractal_dimension: (S,) float64, D = -ln(IPR)/ln(N).
        ipr: (S,) float64, inverse participation ratio.
        order_parameter: (S,) float64, the analytic g at the state's E and parameters; g > 0
            means localized.
        hamiltonian_id: (S,) int64, the index of the state's Hamiltonian in the generation run.
        settings: the settings of ``generate_data`` that produced the data.
    """

    features: np.ndarray
    feature_names: tuple[str, ...]
    labels: np.ndarray
    fractal_dimension: np.ndarray
    ipr: np.ndarray
    order_parameter: np.ndarray
    hamiltonian_id: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def analytic_labels(self) -> np.ndarray:
        """Labels from the analytic edge, 1.0 where g > 0, shaped (S,)."""
        return (self.order_parameter > 0).astype(np.float64)

    def select(self, mask: np.ndarray) -> AndersonData:
        """Return the rows where a boolean mask (S,) is true, with the same settings."""
        return AndersonData(
            features=self.features[mask],
            feature_names=self.feature_names,
            labels=self.labels[mask],
            fractal_dimension=self.fractal_dimension[mask],
            ipr=self.ipr[mask],
            order_parameter=self.order_parameter[mask],
            hamiltonian_id=self.hamiltonian_id[mask],
            settings=dict(self.settings),
        )


def _check_generation_counts(n_hamiltonians: Any, states_per_hamiltonian: Any, seed: Any) -> None:
    if not _is_integer(n_hamiltonians) or n_hamiltonians < 1:
        raise ValueError(f"n_hamiltonians must be a positive integer, got {n_hamiltonians!r}")
    if states_per_hamiltonian is not None and (
        not _is_integer(states_per_hamiltonian) or states_per_hamiltonian < 1
    ):
        raise ValueError(
            f"states_per_hamiltonian must be a positive integer or None (all states), got {states_per_hamiltonian!r}"
        )
    if not _is_integer(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _draw_hamiltonian(
    seed: int, index: int, ranges: Mapping[str, tuple[float, float]]
) -> tuple[np.random.Generator, dict[str, float], float]:
    """Draw one Hamiltonian's parameters and phase from its own stream.

    The stream depends only on (seed, index), as SeedSequence(seed).spawn(n)[index] does, so a
    Hamiltonian is the same whatever the number of Hamiltonians or the order they are made in.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
    parameters = {name: float(rng.uniform(low, high)) for name, (low, high) in ranges.items()}
    # Under periodic boundaries every multiple of pi/N, 0 and pi included, makes the chain reflection
    # symmetric, with degenerate localized pairs. A float draw in (0, 2*pi) hits one with negligible
    # probability, and uniform() can return exactly 0, so 0 and pi are redrawn outright.
    phi = 0.0
    while phi == 0.0 or phi == math.pi:
        phi = float(rng.uniform(0, 2 * math.pi))
    return rng, parameters, phi


def _generate(settings: Mapping[str, Any]) -> AndersonData:
    """Diagonalize every Hamiltonian that the validated settings describe and label its states."""
    model = settings["model"]
    n_sites = settings["n_sites"]
    n_hamiltonians = settings["n_hamiltonians"]
    states_kept = settings["states_per_hamiltonian"]
    kappa = settings["kappa"] if model == "mosaic" else 2
    ranges = {name: tuple(pair) for name, pair in settings["parameter_ranges"].items()}

    logger.info(
        "generating %d %s Hamiltonians at N = %d (%s boundaries), %d states each",
        n_hamiltonians, model, n_sites, settings["boundary"], states_kept,
    )
    rows, dimensions, iprs, ids = [], [], [], []
    start = time.perf_counter()
    next_report = 1
    for index in range(n_hamiltonians):
        rng, parameters, phi = _draw_hamiltonian(settings["seed"], index, ranges)
        matrix = hamiltonian(model, n_sites, phi, parameters, kappa, settings["boundary"])
        # The divide-and-conquer driver "evd" took 0.03 s at N = 610, the default "evr" 0.085 s
        # (scipy 1.17 with OpenBLAS 0.3.31, one thread).
        energies, vectors = eigh(matrix, driver="evd")
        if states_kept == n_sites:
            chosen = np.arange(n_sites)
        else:
            chosen = np.sort(rng.choice(n_sites, states_kept, replace=False))
        ipr, dimension = localization(vectors[:, chosen])

        state_rows = np.empty((states_kept, 2 + len(ranges)))
        state_rows[:, 0] = energies[chosen]
        state_rows[:, 1:-1] = [parameters[name] for name in ranges]
        state_rows[:, -1] = phi
        rows.append(state_rows)
        dimensions.append(dimension)
        iprs.append(ipr)
        ids.append(np.full(states_kept, index, dtype=np.int64))

        done = index + 1
        if done * 10 >= next_report * n_hamiltonians or done == n_hamiltonians:
            logger.info("generated %d/%d Hamiltonians | %.1f s", done, n_hamiltonians, time.perf_counter() - start)
            next_report = done * 10 // n_hamiltonians + 1

    features = np.concatenate(rows)
    fractal_dimension = np.concatenate(dimensions)
    parameter_columns = {name: features[:, 1 + i] for i, name in enumerate(ranges)}
    return AndersonData(
        features=features,
        feature_names=("E", *ranges, "phi"),
        labels=(fractal_dimension < settings["threshold"]).astype(np.float64),
        fractal_dimension=fractal_dimension,
        ipr=np.concatenate(iprs),
        order_parameter=order_parameter(model, features[:, 0], parameter_columns, kappa),
        hamiltonian_id=np.concatenate(ids),
        settings=dict(settings),
    )


def generate_data(
    model: str,
    n_hamiltonians: int,
    n_sites: int,
    parameter_ranges: Mapping[str, tuple[float, float]],
    states_per_hamiltonian: int | None,
    threshold: float = 0.5,
    kappa: int = 2,
    boundary: str = "periodic",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> AndersonData:
    """Diagonalize random Hamiltonians of one model and label a sample of their eigenstates.

    Each Hamiltonian gets parameters drawn uniformly in ``parameter_ranges`` and a phase phi
    uniform in (0, 2*pi), never exactly 0 or pi, from a random stream that depends only on
    (seed, its index). Its dense eigendecomposition (scipy.linalg.eigh) costs O(N^3), and
    ``states_per_hamiltonian`` of its N eigenstates, chosen at random from the same stream, are
    kept. Progress is logged at INFO about every 10% of the Hamiltonians. One Hamiltonian took
    0.04-0.07 s at N = 610 and 1.5-2 ms at N = 144 (one thread of a shared two-core machine).

    Args:
        model: one of ``MODELS``.
        n_hamiltonians: number of Hamiltonians (parameter and phase draws).
        n_sites: number of sites N (see ``check_settings``).
        parameter_ranges: {name: (low, high)} with one pair per parameter of the model.
        states_per_hamiltonian: eigenstates kept per Hamiltonian; None, or N or more, keeps all N.
        threshold: fractal dimension below which a state is labelled localized, in (0, 1).
        kappa: period of the mosaic potential; ignored by the other models.
        boundary: ``periodic`` or ``open``.
        seed: non-negative integer seed of every draw.
        cache_dir: folder for a cache file, or None for no cache. The file name is the SHA-256 of
            the settings. A file that fails its checks is logged, deleted and generated again.

    Returns:
        The labelled states, n_hamiltonians * min(states_per_hamiltonian, N) rows.

    Raises:
        ValueError: for an invalid setting, before any diagonalization.
    """
    check_settings(model, n_sites, boundary, kappa, threshold, parameter_ranges)
    _check_generation_counts(n_hamiltonians, states_per_hamiltonian, seed)
    ranges = _normalize_ranges(model, parameter_ranges)

    n_sites = int(n_sites)
    states_kept = n_sites if states_per_hamiltonian is None else min(int(states_per_hamiltonian), n_sites)
    settings = {
        "format_version": CACHE_FORMAT_VERSION,
        "model": model,
        "n_hamiltonians": int(n_hamiltonians),
        "n_sites": n_sites,
        "parameter_ranges": {name: [low, high] for name, (low, high) in ranges.items()},
        "states_per_hamiltonian": states_kept,
        "threshold": float(threshold),
        # The other models ignore kappa, so it must not split their cache.
        "kappa": int(kappa) if model == "mosaic" else None,
        "boundary": boundary,
        "seed": int(seed),
    }

    if cache_dir is None:
        return _generate(settings)

    cache_dir = Path(cache_dir).expanduser()
    if cache_dir.exists() and not cache_dir.is_dir():
        raise ValueError(
            f"cache_dir {str(cache_dir)!r} exists but is not a folder; pass a folder path, or no "
            f"cache (problem.cache_dir='' on the command line)"
        )
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"cache_dir {str(cache_dir)!r} cannot be created ({error}); pass a writable folder, or "
            f"no cache (problem.cache_dir='' on the command line)"
        ) from error
    path = cache_dir / f"anderson-{settings_digest(settings)}.npz"
    if path.exists():
        try:
            data = _read_cache(path, settings)
        except _DamagedCache as error:
            logger.warning("cache file %s is damaged (%s); deleting it and generating the data again", path, error)
            path.unlink(missing_ok=True)
        else:
            logger.info("read %d states from cache file %s", len(data), path)
            return data

    data = _generate(settings)
    try:
        _write_cache(path, data)
    except OSError as error:
        # The data are generated and correct; only the reuse is lost.
        logger.warning("could not write cache file %s (%s); continuing without caching this data set", path, error)
    else:
        logger.info("wrote %d states to cache file %s", len(data), path)
    return data


# --- cache files -------------------------------------------------------------------------------


class _DamagedCache(Exception):
    """A cache file that cannot be read or fails its checks; the message gives the reason."""


def settings_digest(settings: Mapping[str, Any]) -> str:
    """Return the SHA-256 hex digest of generation settings, written as canonical JSON."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _array_checksum(arrays: Mapping[str, np.ndarray], feature_names: Sequence[str], settings_json: str) -> str:
    """Return the SHA-256 of every array's name, dtype, shape and bytes, the feature names and the settings."""
    digest = hashlib.sha256()
    for name in ARRAY_NAMES:
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    digest.update(json.dumps(list(feature_names)).encode())
    digest.update(settings_json.encode())
    return digest.hexdigest()


def _write_cache(path: Path, data: AndersonData) -> None:
    """Write the data set to path atomically: a temporary file in the same folder, then os.replace."""
    settings_json = json.dumps(data.settings, sort_keys=True)
    arrays = {name: getattr(data, name) for name in ARRAY_NAMES}
    checksum = _array_checksum(arrays, data.feature_names, settings_json)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.stem + ".", suffix=".tmp", delete=False)
    try:
        with handle:
            np.savez(
                handle,
                **arrays,
                feature_names=np.array(data.feature_names),
                settings_json=np.array(settings_json),
                checksum=np.array(checksum),
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


# Errors that np.load and reading the members of a damaged .npz raise (numpy 2, Python 3.11).
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def _read_cache(path: Path, settings: Mapping[str, Any]) -> AndersonData:
    """Load and verify a cache file; raise _DamagedCache if anything does not match."""
    expected_keys = {*ARRAY_NAMES, "feature_names", "settings_json", "checksum"}
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            if keys != expected_keys:
                raise _DamagedCache(f"it contains the arrays {sorted(keys)}, expected {sorted(expected_keys)}")
            loaded = {key: archive[key] for key in expected_keys}
    except _READ_ERRORS as error:
        raise _DamagedCache(f"it could not be read: {type(error).__name__}: {error}") from error

    settings_json = str(loaded["settings_json"])
    feature_names = tuple(str(name) for name in loaded["feature_names"])
    if _array_checksum(loaded, feature_names, settings_json) != str(loaded["checksum"]):
        raise _DamagedCache("its checksum does not match its arrays")
    try:
        stored_settings = json.loads(settings_json)
    except ValueError as error:
        raise _DamagedCache(f"its settings are not valid JSON: {error}") from error
    if stored_settings != json.loads(json.dumps(settings)):
        raise _DamagedCache("it was written for other settings")

    model = settings["model"]
    n_states = settings["n_hamiltonians"] * settings["states_per_hamiltonian"]
    expected_names = ("E", *PARAMETER_NAMES[model], "phi")
    if feature_names != expected_names:
        raise _DamagedCache(f"its feature names are {list(feature_names)}, expected {list(expected_names)}")
    if loaded["features"].shape != (n_states, len(expected_names)) or loaded["features"].dtype != np.float64:
        raise _DamagedCache(f"its features have shape {loaded['features'].shape}, expected ({n_states}, {len(expected_names)})")
    for name in ARRAY_NAMES[1:]:
        dtype = np.int64 if name == "hamiltonian_id" else np.float64
        if loaded[name].shape != (n_states,) or loaded[name].dtype != dtype:
            raise _DamagedCache(f"array {name} has shape {loaded[name].shape} and dtype {loaded[name].dtype}")
    if not np.array_equal(loaded["labels"], (loaded["fractal_dimension"] < settings["threshold"]).astype(np.float64)):
        raise _DamagedCache("its labels do not follow from its fractal dimensions and threshold")

    return AndersonData(
        **{name: loaded[name] for name in ARRAY_NAMES},
        feature_names=feature_names,
        settings=stored_settings,
    )


# --- splits ------------------------------------------------------------------------------------


def split_by_hamiltonian(
    data: AndersonData, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> tuple[AndersonData, AndersonData, AndersonData]:
    """Split a data set into training, validation and test sets by Hamiltonian.

    All states of one Hamiltonian land in the same set, because they share its parameters.
    Under periodic boundaries, shifting phi by 2*pi/N translates the chain by whole sites, so
    phases that differ by multiples of 2*pi/N (of 2*pi*kappa/N for the mosaic model) give the
    same spectrum. A split by state or by phase would therefore leak test data into training.

    Args:
        data: the data set to split.
        fractions: shares (train, validation, test) of the Hamiltonians, each above 0, summing
            to 1. The validation and test sets get round(fraction * n) Hamiltonians, at least 1
            each, and training gets the rest.
        seed: seed of the random assignment; the same data and seed give the same split.

    Returns:
        (train, validation, test), each non-empty.

    Raises:
        ValueError: for invalid fractions, or fewer Hamiltonians than it takes to fill all three sets.
    """
    if (
        isinstance(fractions, (str, bytes))
        or np.ndim(fractions) != 1
        or len(fractions) != 3
        or not all(_is_real(value) and value > 0 for value in fractions)
        or not math.isclose(sum(fractions), 1.0, abs_tol=1e-9)
    ):
        raise ValueError(
            f"fractions must be three numbers above 0 that sum to 1 (train, validation, test), "
            f"got {fractions!r}; the default is (0.7, 0.15, 0.15)"
        )
    if not _is_integer(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    ids = np.unique(data.hamiltonian_id)
    n_validation = max(1, round(fractions[1] * len(ids)))
    n_test = max(1, round(fractions[2] * len(ids)))
    n_train = len(ids) - n_validation - n_test
    if n_train < 1:
        raise ValueError(
            f"the data set has {len(ids)} Hamiltonian(s), too few to give training, validation and "
            f"test at least one each with fractions {tuple(fractions)}; generate more Hamiltonians"
        )

    shuffled = np.random.default_rng(seed).permutation(ids)
    groups = (shuffled[:n_train], shuffled[n_train : n_train + n_validation], shuffled[n_train + n_validation :])
    train, validation, test = (data.select(np.isin(data.hamiltonian_id, group)) for group in groups)
    logger.info(
        "split %d Hamiltonians into %d training, %d validation and %d test",
        len(ids), n_train, n_validation, n_test,
    )
    return train, validation, test
