"""Symbolic fitting: replace a learned univariate function by c * f(a * x + b) + d.

A KAN edge computes a learned univariate function phi(x). Symbolic fitting replaces it by
c * f(a * x + b) + d with f from ``LIBRARY``. ``fit_function`` finds a, b, c and d for one f
from samples (x, phi(x)), and ``fit_edge`` fits every library function and ranks the fits by how
well and how simply they describe the samples. ``recognize_constants`` then turns fitted
coefficients such as 3.14159 into exact constants such as pi, so that a fitted network can become
an exact formula.

Shape letters: N samples, A and B the numbers of slopes a and shifts b on the search grid.

Fitting searches (a, b) on a grid and solves the linear parameters (c, d) of all grid points by
least squares in one vectorized pass. ``scipy.optimize.least_squares`` then refines the best grid
points over (a, b), solving (c, d) inside every evaluation (variable projection). The result is
returned in a canonical form (see ``SymbolicFunction``), so that equal functions get equal
parameters.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import scipy.ndimage
import scipy.optimize
import scipy.special
import sympy
import torch
from torch import Tensor

logger = logging.getLogger(__name__)

# Arguments within this distance of a singularity count as outside the domain: sqrt and log need
# z >= DOMAIN_MARGIN, 1/x needs |z| >= DOMAIN_MARGIN and tan needs |cos z| >= DOMAIN_MARGIN. The
# margin bounds the values and derivatives that a fitted edge feeds into training (|1/z| <= 100).
DOMAIN_MARGIN = 1e-2

# exp and cosh accept |z| <= EXP_LIMIT, so values stay below e^50 (about 5e21) and their squares
# in a least-squares fit stay far below the float64 overflow at 1.8e308.
EXP_LIMIT = 50.0

# The highest derivative order that ``SymbolicFunction.torch_derivatives`` returns.
MAX_DERIVATIVE_ORDER = 3

# A fit needs more samples than its four parameters a, b, c and d.
MIN_SAMPLES = 4

DEFAULT_GRID_POINTS = 41
# Fewer grid points than this leave no room for both signs of a around a = 1 and b = 0.
MIN_GRID_POINTS = 5

# The smallest |a| on the search grid, as a fraction of the largest. Below it f(a x + b) is close to
# its own linear approximation, and the refinement can still move a there when the data ask for it.
MIN_SLOPE_RATIO = 1e-2

# The grid search uses at most this many samples (evenly spaced in sorted x, extremes included)
# and the refinement uses all of them, so the search cost does not grow with N.
MAX_SEARCH_SAMPLES = 1000

# The grid search evaluates f on at most this many (a, b, sample) triples at a time (16 MiB of
# float64 per temporary array).
SEARCH_CHUNK_ELEMENTS = 2**21

# The refinement starts from the best grid minima with this many distinct slopes a, because
# periodic functions have a local minimum at every frequency that aliases the data.
REFINEMENT_STARTS = 4

# A fitted f(a x + b) whose spread is below this fraction of its magnitude counts as constant, and
# its fit is the constant d. Dividing by a smaller variance would give c from round-off alone.
MIN_RELATIVE_VARIANCE = 1e-20

# Quality is -log10(1 - R^2), the number of digits the fit explains. 1 - R^2 is floored at
# 10^-MAX_QUALITY, near float64 round-off, so that exact fits score equally.
MAX_QUALITY = 14.0

# The default penalty in quality digits per unit of complexity: a function one unit more complex
# must leave 10^0.5, about 3.2 times, less residual to rank above a simpler one. The recovery
# cases of tests/test_symbolic.py (200 samples, x in [-1, 1]) were run at weights from 0 to 3.
# Every library function ranked first for weights from 0.05 to 2 with noise 1e-4 of y's range,
# and from 0.05 to 1 with noise 1e-3 (at 1, sin outranked sigmoid). When a smooth error of 0.1% of the range was added to
# x, x^2 or exp, as a trained spline may carry, a more complex function explained up to 1.5 digits
# more per complexity unit. 0.5 keeps the simpler function whenever that gain is below 0.5 digits,
# and stays well inside the measured window.
DEFAULT_COMPLEXITY_WEIGHT = 0.5

# Fits whose scores differ by less than this many digits tie. Ties are exact for equivalent
# functions (sin(z) = cos(z - pi/2), sigmoid(z) = (1 + tanh(z / 2)) / 2) and are broken by the
# smaller offsets |b| + |d / c|, so that sin(x) ranks above cos(x - pi/2).
TIE_TOLERANCE = 1e-2

# When another function explains this share of the variance, the constant fit ranks last.
EXPLAINED_VARIANCE = 0.5

# A fit whose terms exceed this many times the spread of y works by cancellation (see is_degenerate).
DEGENERATE_RATIO = 1e3

# recognize_constant tries p / q * pi^k with q up to MAX_DENOMINATOR and |p| up to MAX_NUMERATOR.
# Larger numerators would match most values above about 10 within a relative 1e-4.
MAX_DENOMINATOR = 12
MAX_NUMERATOR = 100


class OutOfDomainError(ValueError):
    """No (a, b) on the search grid keeps f(a x + b) inside the domain of f at every sample."""


# Closed-form derivatives. Each returns [f, f', f'', f'''] at z. Outside the domain of f the values
# are NaN or infinite, as torch computes them.


def _zero_derivatives(z: Tensor) -> list[Tensor]:
    zero = torch.zeros_like(z)
    return [zero, zero, zero, zero]


def _identity_derivatives(z: Tensor) -> list[Tensor]:
    zero = torch.zeros_like(z)
    return [z, torch.ones_like(z), zero, zero]


def _square_derivatives(z: Tensor) -> list[Tensor]:
    return [z * z, 2 * z, torch.full_like(z, 2.0), torch.zeros_like(z)]


def _cube_derivatives(z: Tensor) -> list[Tensor]:
    square = z * z
    return [square * z, 3 * square, 6 * z, torch.full_like(z, 6.0)]


def _fourth_power_derivatives(z: Tensor) -> list[Tensor]:
    square = z * z
    return [square * square, 4 * square * z, 12 * square, 24 * z]


def _reciprocal_derivatives(z: Tensor) -> list[Tensor]:
    inverse = 1 / z
    inverse_square = inverse * inverse
    return [inverse, -inverse_square, 2 * inverse_square * inverse, -6 * inverse_square * inverse_square]


def _sqrt_derivatives(z: Tensor) -> list[Tensor]:
    root = torch.sqrt(z)
    inverse = 1 / z
    first = 0.5 / root
    return [root, first, -0.5 * first * inverse, 0.75 * first * inverse * inverse]


def _exp_derivatives(z: Tensor) -> list[Tensor]:
    value = torch.exp(z)
    return [value, value, value, value]


def _log_derivatives(z: Tensor) -> list[Tensor]:
    inverse = 1 / z
    inverse_square = inverse * inverse
    return [torch.log(z), inverse, -inverse_square, 2 * inverse_square * inverse]


def _sin_derivatives(z: Tensor) -> list[Tensor]:
    sine, cosine = torch.sin(z), torch.cos(z)
    return [sine, cosine, -sine, -cosine]


def _cos_derivatives(z: Tensor) -> list[Tensor]:
    sine, cosine = torch.sin(z), torch.cos(z)
    return [cosine, -sine, -cosine, sine]


def _tan_derivatives(z: Tensor) -> list[Tensor]:
    # With t = tan z: t' = 1 + t^2, t'' = 2 t (1 + t^2), t''' = (1 + t^2)(2 + 6 t^2).
    tangent = torch.tan(z)
    square = tangent * tangent
    slope = 1 + square
    return [tangent, slope, 2 * tangent * slope, slope * (2 + 6 * square)]


def _tanh_derivatives(z: Tensor) -> list[Tensor]:
    # With t = tanh z: t' = 1 - t^2, t'' = -2 t (1 - t^2), t''' = -2 (1 - t^2)(1 - 3 t^2).
    value = torch.tanh(z)
    square = value * value
    slope = 1 - square
    return [value, slope, -2 * value * slope, -2 * slope * (1 - 3 * square)]


def _arctan_derivatives(z: Tensor) -> list[Tensor]:
    # With s = 1 / (1 + z^2): f' = s, f'' = -2 z s^2, f''' = (6 z^2 - 2) s^3.
    square = z * z
    slope = 1 / (1 + square)
    return [torch.atan(z), slope, -2 * z * slope * slope, (6 * square - 2) * slope * slope * slope]


def _sigmoid_derivatives(z: Tensor) -> list[Tensor]:
    # With s = sigmoid(z) and s' = s (1 - s): s'' = s' (1 - 2 s) and s''' = s' (1 - 6 s').
    value = torch.sigmoid(z)
    slope = value * (1 - value)
    return [value, slope, slope * (1 - 2 * value), slope * (1 - 6 * slope)]


def _cosh_derivatives(z: Tensor) -> list[Tensor]:
    cosine, sine = torch.cosh(z), torch.sinh(z)
    return [cosine, sine, cosine, sine]


def _abs_derivatives(z: Tensor) -> list[Tensor]:
    # The derivatives at z = 0, where |z| has a kink, follow torch.sign(0) = 0.
    zero = torch.zeros_like(z)
    return [torch.abs(z), torch.sign(z), zero, zero]


def _gaussian_derivatives(z: Tensor) -> list[Tensor]:
    # With g = exp(-z^2): g' = -2 z g, g'' = (4 z^2 - 2) g, g''' = (12 z - 8 z^3) g.
    square = z * z
    value = torch.exp(-square)
    return [value, -2 * z * value, (4 * square - 2) * value, (12 - 8 * square) * z * value]


# Domains. Each returns a boolean array, True where f is real and finite with the margins above.


def _finite_domain(z: np.ndarray) -> np.ndarray:
    return np.isfinite(z)


def _positive_domain(z: np.ndarray) -> np.ndarray:
    return np.isfinite(z) & (z >= DOMAIN_MARGIN)


def _nonzero_domain(z: np.ndarray) -> np.ndarray:
    return np.isfinite(z) & (np.abs(z) >= DOMAIN_MARGIN)


def _tan_domain(z: np.ndarray) -> np.ndarray:
    finite = np.isfinite(z)
    return finite & (np.abs(np.cos(np.where(finite, z, 0.0))) >= DOMAIN_MARGIN)


def _exp_domain(z: np.ndarray) -> np.ndarray:
    return np.isfinite(z) & (np.abs(z) <= EXP_LIMIT)


# Parameter rescalings used for the canonical form. Each maps (a, b, c, d) with a != 0 to an equal
# function with |a| = 1 or b = 0.


def _absorb_power(degree: float) -> Callable[[float, float, float, float], tuple[float, float, float, float]]:
    """Return the rescaling for f(k z) = k^degree f(z), k > 0, which moves |a| into c."""

    def absorb(a: float, b: float, c: float, d: float) -> tuple[float, float, float, float]:
        scale = abs(a)
        return math.copysign(1.0, a), b / scale, c * scale**degree, d

    return absorb


def _absorb_log(a: float, b: float, c: float, d: float) -> tuple[float, float, float, float]:
    # log(k z) = log(k) + log(z) for k > 0 moves |a| into d.
    scale = abs(a)
    return math.copysign(1.0, a), b / scale, c, d + c * math.log(scale)


def _absorb_exp(a: float, b: float, c: float, d: float) -> tuple[float, float, float, float]:
    # exp(z + b) = e^b exp(z) moves b into c.
    return a, 0.0, c * math.exp(b), d


@dataclass(frozen=True)
class SymbolicFunction:
    """A univariate function f for the fit c * f(a * x + b) + d, in torch, numpy and sympy.

    Complexity orders the library for ranking: 0 for the constant zero, 1 for x, and 2 for the
    first nonlinear functions (x^2, sin, cos, exp). Complexity 3 goes to higher powers, functions
    with a restricted domain (1/x, sqrt, log, tan), saturating functions (tanh, arctan, sigmoid)
    and the compositions cosh, abs and gaussian.

    Outside ``in_domain`` the torch and numpy forms return what torch and numpy compute there:
    NaN, inf or a finite value (exp(100) is finite but outside the domain).

    The canonical form of a fit uses the symmetries below, applied in this order: ``reflection``
    makes a > 0, ``period`` brings b into [-p/2, p/2], and ``absorb_scale`` makes |a| = 1 or b = 0.

    Attributes:
        name: key in ``LIBRARY``, such as "sin" or "x^2".
        complexity: penalty unit for ranking, 0 to 3 as above.
        derivative_forms: function of z returning [f, f', f'', f'''] as torch tensors.
        numpy_form: f on numpy arrays.
        sympy_form: f on sympy expressions.
        domain: function of z returning True where f is real and finite with a safety margin.
        reflection: (s, t) with f(-z) = s f(z) + t, or None.
        period: (p, s) with f(z + p) = s f(z), or None.
        absorb_scale: rescaling of (a, b, c, d) to |a| = 1 or b = 0 for an equal function, or None.
        redundant_parameter: "a" when ``absorb_scale`` sets |a| = 1, "b" when it sets b = 0, or
            None. The refinement keeps it fixed, because the SSE is flat along it.
    """

    name: str
    complexity: int
    derivative_forms: Callable[[Tensor], list[Tensor]] = field(repr=False, compare=False)
    numpy_form: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)
    sympy_form: Callable[[sympy.Expr], sympy.Expr] = field(repr=False, compare=False)
    domain: Callable[[np.ndarray], np.ndarray] = field(default=_finite_domain, repr=False, compare=False)
    reflection: tuple[float, float] | None = None
    period: tuple[float, float] | None = None
    absorb_scale: Callable[[float, float, float, float], tuple[float, float, float, float]] | None = field(
        default=None, repr=False, compare=False
    )
    redundant_parameter: str | None = None

    def torch_derivatives(self, z: Tensor, order: int) -> list[Tensor]:
        """Evaluate f and its derivatives up to ``order`` in closed form.

        The closed forms are torch operations, so autograd differentiates through them (for
        training with the fitted parameters). All four orders are computed and the unused ones
        dropped.

        Args:
            z: arguments, any shape.
            order: highest derivative order, 0 to 3.

        Returns:
            [f(z), f'(z), ..., f^(order)(z)], each shaped like z.

        Raises:
            TypeError: if z is not a torch.Tensor.
            ValueError: if order is not an integer from 0 to 3.
        """
        if not isinstance(z, Tensor):
            raise TypeError(
                f"z must be a torch.Tensor, got {type(z).__name__}; convert with torch.as_tensor(z)"
            )
        if not (
            isinstance(order, numbers.Integral) and not isinstance(order, bool) and 0 <= order <= MAX_DERIVATIVE_ORDER
        ):
            raise ValueError(
                f"derivative order must be an integer from 0 to {MAX_DERIVATIVE_ORDER}, got {order!r}"
            )
        return self.derivative_forms(z)[: order + 1]

    def numpy(self, z: np.ndarray) -> np.ndarray:
        """Return f(z) for a numpy array z, with numpy's NaN, inf and warnings outside the domain."""
        return self.numpy_form(np.asarray(z, dtype=np.float64))

    def sympy(self, z: sympy.Expr) -> sympy.Expr:
        """Return f(z) as a sympy expression."""
        return self.sympy_form(sympy.sympify(z))

    def in_domain(self, z: np.ndarray) -> np.ndarray:
        """Return a boolean array, True where f(z) is real and finite with the safety margins.

        sqrt and log need z >= ``DOMAIN_MARGIN``, 1/x needs |z| >= ``DOMAIN_MARGIN``, tan needs
        |cos z| >= ``DOMAIN_MARGIN``, exp and cosh need |z| <= ``EXP_LIMIT``. Every function needs
        a finite z.
        """
        return self.domain(np.asarray(z, dtype=np.float64))

    def canonical_parameters(self, a: float, b: float, c: float, d: float) -> tuple[float, float, float, float]:
        """Return the canonical (a, b, c, d) of the function c * f(a x + b) + d.

        Rescaling may move a * x + b closer to a singularity than ``DOMAIN_MARGIN`` (for 1/x,
        sqrt and log with |a| > 1), although the function of x is the same.
        """
        if self.reflection is not None and a < 0:
            sign, offset = self.reflection
            a, b, c, d = -a, -b, sign * c, d + c * offset
        if self.period is not None:
            period, sign = self.period
            turns = round(b / period)
            b -= turns * period
            c *= sign**turns
        if self.absorb_scale is not None and a != 0:
            a, b, c, d = self.absorb_scale(a, b, c, d)
        return float(a), float(b), float(c), float(d)


def _sigmoid_sympy(z: sympy.Expr) -> sympy.Expr:
    return 1 / (1 + sympy.exp(-z))


_ODD = (-1.0, 0.0)
_EVEN = (1.0, 0.0)

LIBRARY: dict[str, SymbolicFunction] = {
    function.name: function
    for function in [
        SymbolicFunction(
            "zero", 0, _zero_derivatives, lambda z: np.zeros_like(z), lambda z: sympy.S.Zero,
        ),
        SymbolicFunction("x", 1, _identity_derivatives, lambda z: z, lambda z: z, reflection=_ODD),
        SymbolicFunction(
            "x^2", 2, _square_derivatives, np.square, lambda z: z**2,
            reflection=_EVEN, absorb_scale=_absorb_power(2), redundant_parameter="a",
        ),
        SymbolicFunction("sin", 2, _sin_derivatives, np.sin, sympy.sin, reflection=_ODD, period=(math.pi, -1.0)),
        SymbolicFunction("cos", 2, _cos_derivatives, np.cos, sympy.cos, reflection=_EVEN, period=(math.pi, -1.0)),
        SymbolicFunction(
            "exp", 2, _exp_derivatives, np.exp, sympy.exp,
            domain=_exp_domain, absorb_scale=_absorb_exp, redundant_parameter="b",
        ),
        SymbolicFunction(
            "x^3", 3, _cube_derivatives, lambda z: z**3, lambda z: z**3,
            reflection=_ODD, absorb_scale=_absorb_power(3), redundant_parameter="a",
        ),
        SymbolicFunction(
            "x^4", 3, _fourth_power_derivatives, lambda z: z**4, lambda z: z**4,
            reflection=_EVEN, absorb_scale=_absorb_power(4), redundant_parameter="a",
        ),
        SymbolicFunction(
            "1/x", 3, _reciprocal_derivatives, np.reciprocal, lambda z: 1 / z,
            domain=_nonzero_domain, reflection=_ODD, absorb_scale=_absorb_power(-1), redundant_parameter="a",
        ),
        SymbolicFunction(
            "sqrt", 3, _sqrt_derivatives, np.sqrt, sympy.sqrt,
            domain=_positive_domain, absorb_scale=_absorb_power(0.5), redundant_parameter="a",
        ),
        SymbolicFunction(
            "log", 3, _log_derivatives, np.log, sympy.log,
            domain=_positive_domain, absorb_scale=_absorb_log, redundant_parameter="a",
        ),
        SymbolicFunction(
            "tan", 3, _tan_derivatives, np.tan, sympy.tan,
            domain=_tan_domain, reflection=_ODD, period=(math.pi, 1.0),
        ),
        SymbolicFunction("tanh", 3, _tanh_derivatives, np.tanh, sympy.tanh, reflection=_ODD),
        SymbolicFunction("arctan", 3, _arctan_derivatives, np.arctan, sympy.atan, reflection=_ODD),
        SymbolicFunction(
            "sigmoid", 3, _sigmoid_derivatives, scipy.special.expit, _sigmoid_sympy, reflection=(-1.0, 1.0),
        ),
        SymbolicFunction("cosh", 3, _cosh_derivatives, np.cosh, sympy.cosh, domain=_exp_domain, reflection=_EVEN),
        SymbolicFunction(
            "abs", 3, _abs_derivatives, np.abs, sympy.Abs, reflection=_EVEN, absorb_scale=_absorb_power(1), redundant_parameter="a",
        ),
        SymbolicFunction(
            "gaussian", 3, _gaussian_derivatives, lambda z: np.exp(-z * z), lambda z: sympy.exp(-z**2),
            reflection=_EVEN,
        ),
    ]
}


def get_function(name: str) -> SymbolicFunction:
    """Return the library function called ``name``, or raise ``ValueError`` listing the valid names."""
    try:
        return LIBRARY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown symbolic function {name!r}; choose one of {list(LIBRARY)}") from None


@dataclass(frozen=True)
class EdgeFit:
    """A fit c * f(a * x + b) + d of samples, with its quality and rank score.

    Attributes:
        function: name of f in ``LIBRARY``.
        a, b, c, d: fitted parameters in the canonical form of ``SymbolicFunction``.
        r2: coefficient of determination 1 - SSE / SST on the fitted samples.
        complexity: complexity of f.
        score: -log10(max(1 - r2, 1e-14)) - complexity_weight * complexity; higher is better.
    """

    function: str
    a: float
    b: float
    c: float
    d: float
    r2: float
    complexity: int
    score: float

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Return c * f(a * x + b) + d for a numpy array x, shaped like x."""
        x = np.asarray(x, dtype=np.float64)
        return self.c * get_function(self.function).numpy(self.a * x + self.b) + self.d

    def expression(self, symbol: sympy.Symbol) -> sympy.Expr:
        """Return c * f(a * symbol + b) + d with the parameters as sympy Floats."""
        argument = sympy.Float(self.a) * symbol + sympy.Float(self.b)
        return sympy.Float(self.c) * get_function(self.function).sympy(argument) + sympy.Float(self.d)


def _check_samples(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return x and y as 1-D float64 arrays, raising unless they are equally long, finite and >= 4 samples."""
    arrays = []
    for name, values in (("x", x), ("y", y)):
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be an array of real numbers, got {type(values).__name__}: {error}") from None
        if array.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {array.shape}; flatten it with np.ravel")
        arrays.append(array)
    x, y = arrays
    if x.size != y.size:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    if x.size < MIN_SAMPLES:
        raise ValueError(
            f"a fit needs at least {MIN_SAMPLES} samples for its four parameters a, b, c, d, got {x.size}"
        )
    for name, array in (("x", x), ("y", y)):
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise ValueError(
                f"{name} contains {bad.size} NaN or infinite values (first at index {bad[0]}); "
                f"drop those samples before fitting"
            )
    return x, y


def _check_range(name: str, interval: Sequence[float]) -> tuple[float, float]:
    """Return ``interval`` as two floats (low, high), raising ``ValueError`` unless low < high and both are finite."""
    try:
        low, high = (float(value) for value in interval)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers (low, high), got {interval!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{name} must be two finite numbers with low < high, got {interval!r}")
    return low, high


def _slope_grid(a_range: tuple[float, float], size: int) -> np.ndarray:
    """Return the slopes a of the search grid: log-spaced |a| of both signs inside ``a_range``, with ±1.

    a = 0 is left out, because f(b) is a constant that the fit of d already covers.
    """
    low, high = a_range
    smallest = MIN_SLOPE_RATIO * max(abs(low), abs(high))
    intervals = []
    if high > 0:
        intervals.append((max(low, smallest), high, 1.0))
    if low < 0:
        intervals.append((max(-min(high, 0.0), smallest), -low, -1.0))
    per_side = max(2, size // len(intervals))
    slopes = [sign * np.geomspace(start, stop, per_side) for start, stop, sign in intervals if start < stop]
    slopes = np.concatenate(slopes + [np.array([1.0, -1.0])])
    return np.unique(slopes[(slopes >= low) & (slopes <= high) & (slopes != 0)])


def _shift_grid(b_range: tuple[float, float], size: int) -> np.ndarray:
    """Return the shifts b of the search grid: uniform over ``b_range``, finer near its centre, with 0."""
    low, high = b_range
    centre, half_width = (low + high) / 2, (high - low) / 20
    coarse = np.linspace(low, high, size)
    fine = np.linspace(centre - half_width, centre + half_width, max(3, size // 4) | 1)
    shifts = np.concatenate([coarse, fine, [0.0] if low <= 0 <= high else []])
    return np.unique(shifts)


def _search_subset(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return at most ``MAX_SEARCH_SAMPLES`` samples, evenly spaced in sorted x and including its extremes."""
    if x.size <= MAX_SEARCH_SAMPLES:
        return x, y
    order = np.argsort(x, kind="stable")
    chosen = order[np.round(np.linspace(0, x.size - 1, MAX_SEARCH_SAMPLES)).astype(np.int64)]
    return x[chosen], y[chosen]


def _linear_coefficients(values: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Return the least-squares (c, d) of y ~ c * values + d, with c = 0 for constant values."""
    mean = values.mean()
    centred = values - mean
    variance = centred @ centred
    if not variance > MIN_RELATIVE_VARIANCE * (values @ values):
        return 0.0, float(y.mean())
    c = float(centred @ (y - y.mean()) / variance)
    return c, float(y.mean() - c * mean)


def _fit_at(function: SymbolicFunction, x: np.ndarray, y: np.ndarray, a: float, b: float):
    """Return (c, d, sse) of the best fit with f(a x + b), or None where a sample leaves the domain."""
    z = a * x + b
    with np.errstate(all="ignore"):
        if not function.in_domain(z).all():
            return None
        values = function.numpy(z)
    if not np.isfinite(values).all():
        return None
    c, d = _linear_coefficients(values, y)
    residual = c * values + d - y
    return c, d, float(residual @ residual)


def _grid_sse(function: SymbolicFunction, x: np.ndarray, y: np.ndarray, slopes: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Return the least-squares SSE (A, B) of every grid point (a, b), inf where f leaves its domain.

    For each (a, b), g = f(a x + b) is fitted as c g + d, whose SSE is SST - cov(g, y)^2 / var(g)
    in sums over the samples. All grid points of a chunk are solved at once.
    """
    n_samples = x.size
    centred_y = y - y.mean()
    total = centred_y @ centred_y
    sse = np.full((slopes.size, shifts.size), np.inf)
    rows_per_chunk = max(1, SEARCH_CHUNK_ELEMENTS // (shifts.size * n_samples))
    for start in range(0, slopes.size, rows_per_chunk):
        rows = slice(start, start + rows_per_chunk)
        z = slopes[rows, None, None] * x + shifts[None, :, None]  # (A', B, N)
        with np.errstate(all="ignore"):
            valid = function.in_domain(z).all(axis=-1)
            values = function.numpy(z)
            valid &= np.isfinite(values).all(axis=-1)
            values = np.where(valid[..., None], values, 0.0)
            mean = values.mean(axis=-1)
            centred = values - mean[..., None]
            variance = np.einsum("abn,abn->ab", centred, centred)
            covariance = centred @ centred_y
            usable = variance > MIN_RELATIVE_VARIANCE * (variance + n_samples * mean * mean)
            explained = np.where(usable, covariance * covariance / np.where(usable, variance, 1.0), 0.0)
        sse[rows] = np.where(valid, np.maximum(total - explained, 0.0), np.inf)
    return sse


def _starting_points(sse: np.ndarray, slopes: np.ndarray, shifts: np.ndarray) -> list[tuple[float, float]]:
    """Return the grid's local minima of the SSE, best first, with one minimum per slope a."""
    neighbourhood_minimum = scipy.ndimage.minimum_filter(sse, size=3, mode="nearest")
    minima = np.isfinite(sse) & (sse <= neighbourhood_minimum)
    rows, columns = np.nonzero(minima)
    order = np.argsort(sse[rows, columns], kind="stable")
    starts, used_rows = [], set()
    for index in order:
        if rows[index] not in used_rows:
            used_rows.add(rows[index])
            starts.append((float(slopes[rows[index]]), float(shifts[columns[index]])))
    return starts


def _refine(function: SymbolicFunction, x: np.ndarray, y: np.ndarray, start: tuple[float, float], total: float):
    """Minimize the SSE over (a, b) from ``start``, with (c, d) solved inside, and return the optimal (a, b).

    The function's redundant parameter, if any, stays at its start value, so the optimizer never
    walks along a direction in which the SSE is flat.
    """
    # Steps that leave the domain get a residual worse than the constant fit, so the trust region
    # shrinks back inside.
    penalty = np.full(x.size, 10.0 * math.sqrt(total / x.size))
    free = {"a": [1], "b": [0]}.get(function.redundant_parameter, [0, 1])
    parameters = np.array(start)

    def residuals(values: np.ndarray) -> np.ndarray:
        parameters[free] = values
        fit = _fit_at(function, x, y, parameters[0], parameters[1])
        if fit is None:
            return penalty
        c, d, _ = fit
        with np.errstate(all="ignore"):
            return c * function.numpy(parameters[0] * x + parameters[1]) + d - y

    result = scipy.optimize.least_squares(
        residuals, np.array(start)[free], x_scale="jac", ftol=1e-12, xtol=1e-12, gtol=1e-12, max_nfev=200
    )
    parameters[free] = result.x
    return float(parameters[0]), float(parameters[1])


def _r_squared(sse: float, y: np.ndarray) -> float:
    """Return R^2 = 1 - SSE / SST, or for constant y 1 when SSE is round-off of y's size and else 0."""
    if np.ptp(y) == 0:
        round_off = y.size * (16 * np.finfo(np.float64).eps * abs(float(y[0]))) ** 2
        return 1.0 if sse <= round_off else 0.0
    centred = y - y.mean()
    return 1.0 - sse / float(centred @ centred)


def _score(r2: float, complexity: int, complexity_weight: float) -> float:
    # Starting from 0.0 turns the -0.0 of an R^2 of 0 into 0.0.
    quality = 0.0 - math.log10(max(1.0 - r2, 10.0**-MAX_QUALITY))
    return quality - complexity_weight * complexity


def _check_search_options(a_range, b_range, grid_points, complexity_weight):
    a_range = _check_range("a_range", a_range)
    b_range = _check_range("b_range", b_range)
    if not (isinstance(grid_points, numbers.Integral) and not isinstance(grid_points, bool)
            and grid_points >= MIN_GRID_POINTS):
        raise ValueError(
            f"grid_points must be an integer of at least {MIN_GRID_POINTS} (grid values of a and of b), "
            f"got {grid_points!r}"
        )
    if not (isinstance(complexity_weight, numbers.Real) and math.isfinite(complexity_weight)
            and complexity_weight >= 0):
        raise ValueError(
            f"complexity_weight must be a finite number >= 0 (quality digits per complexity unit), "
            f"got {complexity_weight!r}"
        )
    return a_range, b_range


def fit_function(
    x: np.ndarray,
    y: np.ndarray,
    function: str,
    *,
    a_range: tuple[float, float] = (-10.0, 10.0),
    b_range: tuple[float, float] = (-10.0, 10.0),
    grid_points: int = DEFAULT_GRID_POINTS,
    refine: bool = True,
    complexity_weight: float = DEFAULT_COMPLEXITY_WEIGHT,
) -> EdgeFit:
    """Fit y ~ c * f(a * x + b) + d for one library function f by least squares.

    "x" and "zero" are solved in closed form, with a = 1 and b = 0 for "x" and a = b = c = 0 for
    "zero".
    Every other f is searched on a grid of (a, b): about ``grid_points`` log-spaced slopes of both
    signs with a = ±1, and ``grid_points`` uniform shifts with a finer band around the centre of
    ``b_range`` and b = 0. Grid points where a sample leaves the domain of f are skipped. The best
    grid minima are then refined over (a, b) without bounds, so the result may lie outside the
    ranges, and a refinement is kept only if it lowers the SSE and stays inside the domain.

    Args:
        x: samples of the argument, (N,), N >= 4, finite.
        y: samples of the edge function, (N,), finite.
        function: name of f in ``LIBRARY``.
        a_range: interval (low, high) of the slopes a on the search grid.
        b_range: interval (low, high) of the shifts b on the search grid.
        grid_points: number of grid values of a and of b, at least 5.
        refine: whether to refine the best grid points with ``scipy.optimize.least_squares``.
        complexity_weight: quality digits subtracted from the score per unit of complexity.

    Returns:
        The fit with its parameters in canonical form, R^2 on all samples, and score.

    Raises:
        TypeError: if x or y is not an array of real numbers.
        ValueError: for an unknown function, arrays of different lengths, fewer than 4 samples,
            NaN or infinite samples, or invalid search options.
        OutOfDomainError: if no grid point keeps f(a x + b) inside the domain at every sample.
    """
    symbolic = get_function(function)
    x, y = _check_samples(x, y)
    a_range, b_range = _check_search_options(a_range, b_range, grid_points, complexity_weight)

    def finish(a: float, b: float, c: float, d: float, sse: float) -> EdgeFit:
        a, b, c, d = symbolic.canonical_parameters(a, b, c, d)
        r2 = _r_squared(sse, y)
        score = _score(r2, symbolic.complexity, complexity_weight)
        return EdgeFit(symbolic.name, a, b, c, d, r2, symbolic.complexity, score)

    if symbolic.name == "zero":
        d = float(y.mean())
        residual = y - d
        return finish(0.0, 0.0, 0.0, d, float(residual @ residual))
    if symbolic.name == "x":
        return finish(1.0, 0.0, *_fit_at(symbolic, x, y, 1.0, 0.0))

    slopes, shifts = _slope_grid(a_range, grid_points), _shift_grid(b_range, grid_points)
    if symbolic.reflection is not None and a_range[0] == -a_range[1] and b_range[0] == -b_range[1]:
        # (a, b) and (-a, -b) give the same fit, and the grids are symmetric, so a > 0 covers both.
        slopes = slopes[slopes > 0]
    search_x, search_y = _search_subset(x, y)
    sse = _grid_sse(symbolic, search_x, search_y, slopes, shifts)
    starts = _starting_points(sse, slopes, shifts)
    if not starts:
        raise OutOfDomainError(
            f"{symbolic.name}(a*x + b) leaves its domain at some sample for every (a, b) on the grid "
            f"(x from {x.min():.6g} to {x.max():.6g}, a_range {a_range}, b_range {b_range}); "
            f"widen b_range or drop {symbolic.name!r} from the functions"
        )

    centred = y - y.mean()
    total = float(centred @ centred)
    best = None  # (sse, a, b, c, d)
    n_started = 0
    for a, b in starts:
        if n_started == REFINEMENT_STARTS:
            break
        fit = _fit_at(symbolic, x, y, a, b)
        if fit is None:
            # A sample outside the search subset left the domain (tan between two subset samples).
            continue
        n_started += 1
        candidates = [(fit[2], a, b, fit[0], fit[1])]
        if refine and total > 0:
            a_refined, b_refined = _refine(symbolic, x, y, (a, b), total)
            refined = _fit_at(symbolic, x, y, a_refined, b_refined)
            if refined is not None:
                candidates.append((refined[2], a_refined, b_refined, refined[0], refined[1]))
        for candidate in candidates:
            if best is None or candidate[0] < best[0]:
                best = candidate
    if best is None:
        raise OutOfDomainError(
            f"{symbolic.name}(a*x + b) leaves its domain at some sample for every grid minimum "
            f"(x from {x.min():.6g} to {x.max():.6g}); widen b_range or drop {symbolic.name!r} from the functions"
        )
    sse_best, a, b, c, d = best
    return finish(a, b, c, d, sse_best)


def _offset_size(fit: EdgeFit) -> float:
    """Return |b| + |d / c|, the offsets of a fit relative to c * f(a x), for breaking ties."""
    return abs(fit.b) + (abs(fit.d / fit.c) if fit.c != 0 else abs(fit.d))


def is_degenerate(fit: EdgeFit, x: np.ndarray, y: np.ndarray) -> bool:
    """Return whether a fit matches y only by cancelling terms far larger than y's variation.

    c * f(a x + b) + d can mimic a simpler function through a limit: cos(a x) with a tiny a and a
    huge c is a parabola, (x + b)^2 with a huge b nearly a line. Such a fit may score slightly higher
    than the simple function (its extra freedom absorbs noise) but it is not what the edge computes,
    and its formula loses every digit to cancellation. ``fit_edge`` ranks these fits last.
    """
    if fit.function in ("x", "zero"):
        return False
    spread = float(np.max(np.abs(y - y.mean()))) + float(np.finfo(float).tiny)
    with np.errstate(all="ignore"):
        term = float(np.max(np.abs(fit.c * get_function(fit.function).numpy(fit.a * x + fit.b))))
    return max(term, abs(fit.d)) > DEGENERATE_RATIO * spread


def rank_fits(fits: Iterable[EdgeFit]) -> list[EdgeFit]:
    """Sort fits by score, best first, with ties broken by smaller offsets.

    Fits within ``TIE_TOLERANCE`` below the best remaining fit tie with it and are ordered by
    their offsets |b| + |d / c|.
    """
    remaining = sorted(fits, key=lambda fit: -fit.score)
    ranked: list[EdgeFit] = []
    while remaining:
        leader = remaining[0].score
        n_tied = sum(1 for fit in remaining if fit.score >= leader - TIE_TOLERANCE)
        ranked.extend(sorted(remaining[:n_tied], key=_offset_size))
        remaining = remaining[n_tied:]
    return ranked


def fit_edge(
    x: np.ndarray,
    y: np.ndarray,
    functions: Sequence[str] | None = None,
    *,
    complexity_weight: float = DEFAULT_COMPLEXITY_WEIGHT,
    **search_options,
) -> list[EdgeFit]:
    """Fit every function in ``functions`` to the samples and rank the fits, best first.

    The score of a fit is its quality -log10(max(1 - R^2, 1e-14)), the digits of y that it
    explains, less ``complexity_weight`` per unit of complexity. Functions that leave their domain
    for every grid point are skipped, with a debug log message.

    Args:
        x: samples of the argument, (N,), N >= 4, finite.
        y: samples of the edge function, (N,), finite.
        functions: names from ``LIBRARY``, or None for all of them.
        complexity_weight: quality digits subtracted per unit of complexity, >= 0.
        **search_options: ``a_range``, ``b_range``, ``grid_points`` and ``refine`` of ``fit_function``.

    Returns:
        The fits ranked by ``rank_fits``; empty only if every function was skipped.

    Raises:
        TypeError: if ``functions`` is a single string, or x or y is not an array of real numbers.
        ValueError: for unknown function names, an empty ``functions``, or invalid samples or options.
    """
    if isinstance(functions, str):
        raise TypeError(f"functions must be a list of names, got the string {functions!r}; pass [{functions!r}]")
    names = list(LIBRARY) if functions is None else list(functions)
    if not names:
        raise ValueError(f"functions must name at least one function; choose from {list(LIBRARY)}")
    unknown = [name for name in names if name not in LIBRARY]
    if unknown:
        raise ValueError(f"unknown symbolic functions {unknown}; choose from {list(LIBRARY)}")
    x, y = _check_samples(x, y)

    fits = []
    for name in names:
        try:
            fits.append(fit_function(x, y, name, complexity_weight=complexity_weight, **search_options))
        except OutOfDomainError as error:
            logger.debug("skipped %s: %s", name, error)
    # The constant's R^2 is 0 by definition on data that vary, and its complexity of 0 would
    # still rank it above a fair fit of x (say R^2 = 0.6). It stays first only for data that no
    # function explains (noise about a constant).
    best_other = max((fit.r2 for fit in fits if fit.function != "zero"), default=0.0)
    if best_other >= EXPLAINED_VARIANCE:
        fits = [dataclasses.replace(fit, score=-math.inf) if fit.function == "zero" and fit.r2 < 1 else fit for fit in fits]
    plain = [fit for fit in fits if not is_degenerate(fit, x, y)]
    degenerate = [fit for fit in fits if is_degenerate(fit, x, y)]
    return rank_fits(plain) + rank_fits(degenerate)


def round_expression(expr: sympy.Expr, digits: int = 4) -> sympy.Expr:
    """Round every sympy Float in ``expr`` to ``digits`` significant digits.

    The results are Floats of ``digits`` decimal digits of precision, as ``sympy.Float.round``
    makes them, so they print with ``digits`` digits and carry about that accuracy.
    """
    if not (isinstance(digits, numbers.Integral) and not isinstance(digits, bool) and digits >= 1):
        raise ValueError(f"digits must be a positive integer (significant digits), got {digits!r}")
    replacements = {
        number: sympy.Float(f"{float(number):.{digits}g}", digits) for number in expr.atoms(sympy.Float)
    }
    return expr.xreplace(replacements)


def recognize_constant(value: float, tolerance: float = 1e-4) -> sympy.Expr:
    """Return an exact constant close to ``value``: 0, p/q * pi^k, or else ``sympy.Float(value)``.

    |value| < tolerance gives 0. Otherwise the result is the first p/q * pi^k within a relative
    ``tolerance`` of value, for k in (0, 1, -1), q from 1 to 12 and |p| <= 100. Smaller q come
    first, and for each q, k = 0 comes before pi and 1/pi. So 0.5000001 gives 1/2, 1.5707963
    gives pi/2, and 0.123456789 stays a Float.
    """
    value = float(value)
    if not (isinstance(tolerance, numbers.Real) and tolerance >= 0):
        raise ValueError(f"tolerance must be a number >= 0, got {tolerance!r}")
    if not math.isfinite(value):
        return sympy.Float(value)
    if abs(value) < tolerance:
        return sympy.S.Zero
    for denominator in range(1, MAX_DENOMINATOR + 1):
        for power in (0, 1, -1):
            scale = math.pi**power
            numerator = round(value / scale * denominator)
            if numerator == 0 or abs(numerator) > MAX_NUMERATOR:
                continue
            if abs(numerator / denominator * scale - value) <= tolerance * abs(value):
                return sympy.Rational(numerator, denominator) * sympy.pi**power
    return sympy.Float(value)


def recognize_constants(expr: sympy.Expr, tolerance: float = 1e-4) -> sympy.Expr:
    """Replace every sympy Float in ``expr`` by ``recognize_constant`` of it."""
    replacements = {number: recognize_constant(float(number), tolerance) for number in expr.atoms(sympy.Float)}
    return expr.xreplace(replacements)
