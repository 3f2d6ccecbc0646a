import math

import numpy as np
import pytest
import sympy
import torch

from kanpde.symbolic import (
    LIBRARY,
    MAX_QUALITY,
    EdgeFit,
    OutOfDomainError,
    fit_edge,
    fit_function,
    get_function,
    rank_fits,
    recognize_constant,
    recognize_constants,
    round_expression,
)

# Samples per recovery case, and the standard deviation of the added noise relative to y's range.
N_SAMPLES = 200
NOISE = 1e-4
# A four-parameter fit of 200 samples averages the noise down to about sqrt(4 / 200) = 0.14 of its
# standard deviation; the largest deviation from the noise-free curve measured 0.24 of it.
PREDICTION_TOLERANCE = 1.0
# With noise 1e-4 of the range, 1 - R^2 is about 1e-7.
MIN_R2 = 1 - 1e-6
# The noise moved the canonical parameters of the cases below by at most 3e-4.
PARAMETER_TOLERANCE = 2e-3
# Closed forms and autograd, and the numpy, torch and sympy forms, differ by float64 round-off.
FORM_TOLERANCE = 1e-10

# c * f(a x + b) + d on x in [-1, 1], with (a, b, c, d) in the canonical form that fit_function
# returns: a > 0 for functions with a reflection symmetry, |a| = 1 where |a| can move into c or d,
# b = 0 for exp, and b in [-pi/2, pi/2] for sin, cos and tan. The shifts keep a x + b inside the
# domain, and the slopes bend each curve enough to tell it from the others at the noise level.
RECOVERY_CASES = {
    "zero": (0.0, 0.0, 0.0, 0.7),
    "x": (1.0, 0.0, 1.7, -0.4),
    "x^2": (1.0, 0.3, 1.2, -0.5),
    "x^3": (1.0, 0.2, 0.8, 0.1),
    "x^4": (1.0, -0.2, 0.9, 0.3),
    "1/x": (1.0, 1.5, 0.7, -0.2),
    "sqrt": (1.0, 1.2, 0.9, 0.1),
    "exp": (1.5, 0.0, 0.6, -0.3),
    "log": (1.0, 1.3, 0.8, 0.2),
    "sin": (2.5, 0.4, 0.9, 0.1),
    "cos": (2.0, -0.3, 0.8, 0.2),
    "tan": (1.0, 0.2, 0.5, 0.1),
    "tanh": (1.5, 0.2, 0.8, 0.1),
    "arctan": (2.0, 0.3, 0.7, -0.1),
    "sigmoid": (2.0, 0.5, 1.5, 0.0),
    "cosh": (1.5, 0.3, 0.6, -0.2),
    "abs": (1.0, 0.2, 0.9, -0.3),
    "gaussian": (1.5, 0.3, 0.8, 0.1),
}


def noisy_samples(name, parameters, seed=0):
    """Return x, noisy y, noise-free y and the noise standard deviation for one recovery case."""
    rng = np.random.default_rng(seed)
    a, b, c, d = parameters
    x = np.sort(rng.uniform(-1.0, 1.0, N_SAMPLES))
    clean = c * get_function(name).numpy(a * x + b) + d
    noise = NOISE * np.ptp(clean)
    return x, clean + noise * rng.standard_normal(N_SAMPLES), clean, noise


def domain_points(function):
    """Return float64 points in [-1.3, 1.3], away from 0, where ``function`` is inside its domain."""
    z = np.linspace(-1.3, 1.3, 14)
    return torch.tensor(z[function.in_domain(z)], dtype=torch.float64)


def autograd_derivatives(function, z, order):
    """Differentiate the order-0 closed form ``order`` times with nested autograd."""
    z = z.clone().requires_grad_(True)
    derivatives = [function.torch_derivatives(z, 0)[0]]
    for _ in range(order):
        previous = derivatives[-1]
        gradient = None
        if previous.requires_grad:
            (gradient,) = torch.autograd.grad(previous.sum(), z, create_graph=True, allow_unused=True)
        derivatives.append(torch.zeros_like(z) if gradient is None else gradient)
    return [derivative.detach() for derivative in derivatives]


def test_library_has_the_listed_functions():
    expected = {
        "x", "x^2", "x^3", "x^4", "1/x", "sqrt", "exp", "log", "sin", "cos", "tan", "tanh",
        "arctan", "sigmoid", "cosh", "abs", "gaussian", "zero",
    }
    assert set(LIBRARY) == expected


def test_recovery_cases_cover_library():
    assert set(RECOVERY_CASES) == set(LIBRARY)


@pytest.mark.parametrize("name", list(RECOVERY_CASES))
def test_fit_edge_recovers_library_function(name):
    parameters = RECOVERY_CASES[name]
    x, y, clean, noise = noisy_samples(name, parameters)

    fits = fit_edge(x, y)
    best = fits[0]

    assert best.function == name
    assert best.r2 >= MIN_R2
    deviation = np.max(np.abs(best.evaluate(x) - clean))
    assert deviation <= PREDICTION_TOLERANCE * noise + FORM_TOLERANCE
    np.testing.assert_allclose([best.a, best.b, best.c, best.d], parameters, atol=PARAMETER_TOLERANCE)


def test_noisy_constant_ranks_zero_first():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, N_SAMPLES)
    y = 0.7 + NOISE * rng.standard_normal(N_SAMPLES)

    best = fit_edge(x, y)[0]

    assert best.function == "zero"
    assert best.d == pytest.approx(0.7, abs=PARAMETER_TOLERANCE)


def test_exact_constant_fits_with_r2_one():
    x = np.linspace(-1.0, 1.0, 50)
    y = np.full(50, -2.5)

    fits = fit_edge(x, y, ["zero", "x", "sin"])

    assert [fit.r2 for fit in fits] == [1.0, 1.0, 1.0]
    assert fits[0].function == "zero"


def test_equivalent_functions_tie_and_smaller_offsets_win():
    # sin(z) = cos(z - pi/2), so both fit equally; sin has the smaller phase.
    x, y, _, _ = noisy_samples("sin", RECOVERY_CASES["sin"])
    fits = {fit.function: fit for fit in fit_edge(x, y, ["cos", "sin"])}

    assert fits["sin"].score == pytest.approx(fits["cos"].score, abs=1e-6)
    assert fits["cos"].b == pytest.approx(RECOVERY_CASES["sin"][1] - math.pi / 2, abs=PARAMETER_TOLERANCE)


def test_rank_fits_orders_by_score():
    low = EdgeFit("x", 1.0, 0.0, 1.0, 0.0, 0.9, 1, 0.5)
    high = EdgeFit("sin", 1.0, 5.0, 1.0, 5.0, 0.99, 2, 1.0)

    assert rank_fits([low, high]) == [high, low]


def test_score_subtracts_weighted_complexity():
    x = np.linspace(-1.0, 1.0, 40)
    fit = fit_function(x, (x + 0.5) ** 2, "x^2", complexity_weight=0.25)

    assert fit.score == pytest.approx(MAX_QUALITY - 0.25 * 2)


def test_exact_samples_give_exact_parameters():
    x = np.linspace(-1.0, 1.0, 60)
    fit = fit_function(x, 0.5 * np.sin(math.pi * x - 0.25) + 2.0, "sin")

    np.testing.assert_allclose([fit.a, fit.b, fit.c, fit.d], [math.pi, -0.25, 0.5, 2.0], atol=1e-6)


def test_fit_with_more_samples_than_search_subset():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2.0, 2.0, 5000)
    y = 1.3 * np.arctan(0.8 * x - 0.4) + 0.2

    fit = fit_function(x, y, "arctan")

    np.testing.assert_allclose([fit.a, fit.b, fit.c, fit.d], [0.8, -0.4, 1.3, 0.2], atol=1e-6)


def test_fit_with_positive_slope_range():
    x = np.linspace(-1.0, 1.0, 80)
    fit = fit_function(x, np.cos(3.0 * x + 0.5), "cos", a_range=(0.5, 5.0), b_range=(0.0, 2.0))

    np.testing.assert_allclose([fit.a, fit.b, fit.c, fit.d], [3.0, 0.5, 1.0, 0.0], atol=1e-6)


def test_fit_without_refinement_stays_on_grid():
    x = np.linspace(-1.0, 1.0, 80)
    fit = fit_function(x, np.tanh(x), "tanh", refine=False)

    assert (fit.a, fit.b) == (1.0, 0.0)


def test_function_outside_domain_raises():
    x = np.linspace(-100.0, 100.0, 50)

    with pytest.raises(OutOfDomainError, match="log.*leaves its domain"):
        fit_function(x, x, "log")


def test_fit_edge_skips_function_outside_domain():
    x = np.linspace(-100.0, 100.0, 50)

    fits = fit_edge(x, 2.0 * x, ["log", "x"])

    assert [fit.function for fit in fits] == ["x"]


@pytest.mark.parametrize("name", list(LIBRARY))
def test_canonical_parameters_keep_the_curve(name):
    function = get_function(name)
    x = np.linspace(-0.5, 0.5, 21)
    # a = -2.5 exercises reflections and rescalings; b = 4 is beyond half a period of sin, cos, tan.
    a, b, c, d = -2.5, 4.0, 0.7, -0.3
    if name in ("sqrt", "log"):
        b = 2.0
    if name == "tan":
        b = 4.0 - math.pi
    canonical = function.canonical_parameters(a, b, c, d)

    original = c * function.numpy(a * x + b) + d
    rebuilt = canonical[2] * function.numpy(canonical[0] * x + canonical[1]) + canonical[3]

    np.testing.assert_allclose(rebuilt, original, rtol=FORM_TOLERANCE, atol=FORM_TOLERANCE)


@pytest.mark.parametrize("name", list(LIBRARY))
@pytest.mark.parametrize("order", [1, 2, 3])
def test_torch_derivatives_match_autograd(name, order):
    function = get_function(name)
    z = domain_points(function)

    closed_form = function.torch_derivatives(z, order)[order]
    expected = autograd_derivatives(function, z, order)[order]

    torch.testing.assert_close(closed_form, expected, rtol=FORM_TOLERANCE, atol=FORM_TOLERANCE)


@pytest.mark.parametrize("name", list(LIBRARY))
@pytest.mark.parametrize("order", [1, 2, 3])
def test_closed_form_gradient_gives_next_order(name, order):
    function = get_function(name)
    z = domain_points(function).requires_grad_(True)
    lower = function.torch_derivatives(z, order - 1)[order - 1]
    gradient = None
    if lower.requires_grad:
        (gradient,) = torch.autograd.grad(lower.sum(), z, allow_unused=True)
    gradient = torch.zeros_like(z) if gradient is None else gradient

    torch.testing.assert_close(gradient, function.torch_derivatives(z, order)[order].detach(),
                               rtol=FORM_TOLERANCE, atol=FORM_TOLERANCE)


@pytest.mark.parametrize("name", list(LIBRARY))
def test_numpy_torch_sympy_forms_agree(name):
    function = get_function(name)
    z = domain_points(function)
    symbol = sympy.Symbol("z")
    sympy_values = sympy.lambdify(symbol, function.sympy(symbol), "numpy")(z.numpy())

    numpy_values = function.numpy(z.numpy())
    torch_values = function.torch_derivatives(z, 0)[0].numpy()

    np.testing.assert_allclose(numpy_values, torch_values, rtol=FORM_TOLERANCE, atol=FORM_TOLERANCE)
    np.testing.assert_allclose(np.broadcast_to(sympy_values, z.shape), numpy_values,
                               rtol=FORM_TOLERANCE, atol=FORM_TOLERANCE)


def test_edge_fit_expression_matches_evaluate():
    x, y, _, _ = noisy_samples("gaussian", RECOVERY_CASES["gaussian"])
    fit = fit_function(x, y, "gaussian")
    symbol = sympy.Symbol("x")

    values = sympy.lambdify(symbol, fit.expression(symbol), "numpy")(x)

    np.testing.assert_allclose(values, fit.evaluate(x), rtol=FORM_TOLERANCE, atol=FORM_TOLERANCE)


def test_expression_coefficients_are_floats():
    fit = EdgeFit("sin", 2.0, 0.5, 1.5, -1.0, 1.0, 2, 13.0)
    symbol = sympy.Symbol("x")

    assert fit.expression(symbol) == sympy.Float(1.5) * sympy.sin(sympy.Float(2.0) * symbol + sympy.Float(0.5)) - 1.0


def test_domain_margins():
    assert not get_function("log").in_domain(np.array([0.005]))[0]
    assert get_function("sqrt").in_domain(np.array([0.02]))[0]
    assert not get_function("1/x").in_domain(np.array([-0.005]))[0]
    assert not get_function("tan").in_domain(np.array([math.pi / 2]))[0]
    assert not get_function("exp").in_domain(np.array([60.0]))[0]
    assert not get_function("sin").in_domain(np.array([np.nan]))[0]


# Bad input.


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros(5), np.zeros(6), "same length, got 5 and 6"),
        (np.zeros(3), np.zeros(3), "at least 4 samples"),
        (np.array([0.0, 1.0, np.nan, 2.0]), np.zeros(4), "x contains 1 NaN or infinite"),
        (np.zeros(4), np.array([0.0, np.inf, 1.0, 2.0]), "y contains 1 NaN or infinite"),
        (np.zeros((4, 2)), np.zeros((4, 2)), r"x must be 1-D, got shape \(4, 2\)"),
    ],
)
def test_invalid_samples_rejected(x, y, message):
    with pytest.raises(ValueError, match=message):
        fit_function(x, y, "sin")


def test_non_numeric_samples_rejected():
    with pytest.raises(TypeError, match="x must be an array of real numbers"):
        fit_function(["a", "b", "c", "d"], np.zeros(4), "sin")


def test_unknown_function_rejected():
    with pytest.raises(ValueError, match=r"unknown symbolic function 'sinh'; choose one of \['zero'"):
        get_function("sinh")


def test_fit_function_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown symbolic function 'x\\^5'"):
        fit_function(np.linspace(0, 1, 10), np.linspace(0, 1, 10), "x^5")


def test_fit_edge_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"unknown symbolic functions \['sinh'\]"):
        fit_edge(np.linspace(0, 1, 10), np.linspace(0, 1, 10), ["sin", "sinh"])


def test_fit_edge_rejects_single_string():
    with pytest.raises(TypeError, match=r"pass \['sin'\]"):
        fit_edge(np.linspace(0, 1, 10), np.linspace(0, 1, 10), "sin")


def test_fit_edge_rejects_empty_function_list():
    with pytest.raises(ValueError, match="at least one function"):
        fit_edge(np.linspace(0, 1, 10), np.linspace(0, 1, 10), [])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"a_range": (5.0, -5.0)}, "a_range must be two finite numbers with low < high"),
        ({"b_range": (0.0,)}, "b_range must be two numbers"),
        ({"grid_points": 3}, "grid_points must be an integer of at least 5"),
        ({"complexity_weight": -1.0}, "complexity_weight must be a finite number >= 0"),
    ],
)
def test_invalid_search_options_rejected(options, message):
    x = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match=message):
        fit_function(x, x, "sin", **options)


@pytest.mark.parametrize("order", [-1, 4, 1.5, True])
def test_invalid_derivative_order_rejected(order):
    with pytest.raises(ValueError, match="derivative order must be an integer from 0 to 3"):
        get_function("sin").torch_derivatives(torch.zeros(3, dtype=torch.float64), order)


def test_derivatives_reject_numpy_input():
    with pytest.raises(TypeError, match="z must be a torch.Tensor, got ndarray"):
        get_function("sin").torch_derivatives(np.zeros(3), 1)


# Constants and rounding.


@pytest.mark.parametrize(
    "value, expected",
    [
        (3.14159265, sympy.pi),
        (1.5707963, sympy.pi / 2),
        (-6.2831853, -2 * sympy.pi),
        (0.5000001, sympy.Rational(1, 2)),
        (-0.33333331, sympy.Rational(-1, 3)),
        (0.31830989, 1 / sympy.pi),
        (2.0, sympy.Integer(2)),
        (1e-9, sympy.S.Zero),
    ],
)
def test_recognize_constant(value, expected):
    assert recognize_constant(value) == expected


def test_unrecognized_constant_stays_float():
    assert recognize_constant(0.123456789) == sympy.Float(0.123456789)


def test_large_constant_stays_float():
    # 1571 / 3 is within 1e-4 of 523.7 but exceeds the numerator limit of 100.
    assert recognize_constant(523.7) == sympy.Float(523.7)


def test_round_expression_keeps_significant_digits():
    x = sympy.Symbol("x")
    rounded = round_expression(3.14159265 * x + 0.000123456, digits=4)
    coefficients = sorted(rounded.atoms(sympy.Float), key=float)

    assert [str(number) for number in coefficients] == ["0.0001235", "3.142"]


def test_round_expression_rejects_zero_digits():
    with pytest.raises(ValueError, match="digits must be a positive integer"):
        round_expression(sympy.Float(1.5), digits=0)


def test_recognized_formula_simplifies_to_exact_product():
    x, y = sympy.symbols("x y")
    fitted = (
        0.50000001 * sympy.cos(3.14159265 * x - 3.1415926 * y)
        - 0.4999999 * sympy.cos(3.1415927 * x + 3.14159265 * y)
    )

    exact = recognize_constants(fitted)

    assert not exact.atoms(sympy.Float)
    assert sympy.simplify(exact - sympy.sin(sympy.pi * x) * sympy.sin(sympy.pi * y)) == 0


def test_fitted_edge_becomes_exact_formula():
    x = np.linspace(-1.0, 1.0, 100)
    fit = fit_edge(x, 0.5 * np.sin(math.pi * x) + 1.0)[0]
    symbol = sympy.Symbol("x")

    exact = recognize_constants(fit.expression(symbol))

    assert exact == sympy.sin(sympy.pi * symbol) / 2 + 1


def test_complexity_penalty_prefers_simpler_function():
    # arctan with a small slope follows a line, and it fits the noise slightly better than x.
    x, y, _, _ = noisy_samples("x", RECOVERY_CASES["x"])

    unpenalized = fit_edge(x, y, ["x", "arctan"], complexity_weight=0.0)
    penalized = fit_edge(x, y, ["x", "arctan"])

    assert unpenalized[0].function == "arctan"
    assert penalized[0].function == "x"
