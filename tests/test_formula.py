"""Snapping edges to symbolic fits and exporting the network as a sympy formula."""

import math

import numpy as np
import pytest
import sympy
import torch

from kanpde import KAN
from kanpde.formula import (
    evaluate_expression,
    fit_edges,
    network_expression,
    parse_edge,
    recognize_expression,
    round_coefficients,
    round_number,
    snap,
)

# The expression and the network evaluate the same closed forms in float64.
ROUND_OFF = 1e-12

X, Y = sympy.symbols("x y", real=True)


def _points(n=400, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=generator, dtype=torch.float64) * 2 - 1


def _fully_symbolic():
    """A KAN [2, 3, 1] whose every edge is a closed form, one edge pruned."""
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    first, second = model.layers
    first.set_symbolic(0, 0, "sin", (2.0, 0.3, 1.5, 0.1))
    first.set_symbolic(0, 1, "x^2", (1.2, -0.4, 0.7, 0.0))
    first.set_symbolic(1, 0, "exp", (0.5, 0.0, 0.8, -0.2))
    first.mask[1, 1] = 0.0
    first.set_symbolic(2, 0, "x", (1.0, 0.0, -0.6, 0.2))
    first.set_symbolic(2, 1, "tanh", (1.7, 0.1, 1.1, 0.0))
    second.set_symbolic(0, 0, "cos", (0.9, 0.2, 2.0, 0.05))
    second.set_symbolic(0, 1, "gaussian", (0.6, -0.1, -1.0, 0.0))
    second.set_symbolic(0, 2, "x^3", (0.8, 0.0, 0.5, 0.3))
    return model


def _train_edges_to(model, functions, x):
    """Make each spline edge of a [2, 1] KAN fit a closed form by least squares on its coefficients."""
    layer = model.layers[0]
    with torch.no_grad():
        for input, target in enumerate(functions):
            values = target(x[:, input])
            basis = layer.basis(x)[:, input]  # (N, M)
            silu = torch.nn.functional.silu(x[:, input]) * layer.base_weight[0, input]
            solution = torch.linalg.lstsq(basis, (values - silu).unsqueeze(1)).solution[:, 0]
            layer.coefficients[0, input] = solution / layer.spline_weight[0, input]


def test_expression_matches_snapped_network():
    model = _fully_symbolic()
    x = _points()
    expression = network_expression(model, [X, Y])[0]
    values = evaluate_expression(expression, [X, Y], x.numpy())
    with torch.no_grad():
        network = model(x).numpy()
    assert np.max(np.abs(values - network)) < ROUND_OFF


def test_expression_requires_every_edge_symbolic():
    model = _fully_symbolic()
    model.layers[1].unset_symbolic(0, 2)
    with pytest.raises(ValueError, match=r"edge\(s\) 1\.0\.2 are still splines"):
        network_expression(model, [X, Y])


def test_expression_checks_symbol_count():
    with pytest.raises(ValueError, match="2 input"):
        network_expression(_fully_symbolic(), [X])


def test_snap_picks_the_edge_functions():
    model = KAN([2, 1], grid_size=20, seed=0, dtype=torch.float64)
    x = _points(2000)
    _train_edges_to(model, [lambda t: torch.sin(math.pi * t), lambda t: t**2], x)
    results = snap(model, x, r2_threshold=0.999)
    assert [result.snapped for result in results] == ["sin", "x^2"]
    assert model.layers[0].symbolic_edges == [(0, 0, "sin"), (0, 1, "x^2")]
    recognized = recognize_expression(network_expression(model, [X, Y])[0])
    assert sympy.simplify(recognized - (sympy.sin(sympy.pi * X) + Y**2)) == 0


def test_snap_keeps_edges_below_threshold():
    model = KAN([2, 1], grid_size=20, seed=0, dtype=torch.float64)
    x = _points(2000)
    # A sum of two frequencies is in no single library function's family.
    _train_edges_to(model, [lambda t: torch.sin(3 * t) + torch.sin(7 * t), lambda t: t**2], x)
    results = snap(model, x, r2_threshold=0.999999, functions=["sin", "x^2"])
    assert [result.snapped for result in results] == [None, "x^2"]
    assert float(model.layers[0].mask[0, 0]) == 1.0


def test_snap_named_edge_with_forced_function():
    model = KAN([2, 1], grid_size=20, seed=0, dtype=torch.float64)
    x = _points(2000)
    _train_edges_to(model, [lambda t: torch.sin(math.pi * t), lambda t: t**2], x)
    results = snap(model, x, edges={"0.0.1": "cosh"})
    assert len(results) == 1
    assert model.layers[0].symbolic_edges == [(0, 1, "cosh")]


def test_fit_edges_leaves_network_unchanged():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    x = _points()
    before = model(x).detach()
    results = fit_edges(model, x, functions=["x", "sin"], top=2)
    assert len(results) == 9
    assert all(len(result.fits) == 2 for result in results)
    assert torch.equal(model(x).detach(), before)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, x: snap(m, x, r2_threshold=1.5), "r2_threshold"),
        (lambda m, x: snap(m, x, functions=["sinh"]), "sinh"),
        (lambda m, x: snap(m, x, edges=["2.0.0"]), "layers 0 to 1"),
        (lambda m, x: snap(m, x, edges=["0.5.0"]), "outside a layer"),
        (lambda m, x: snap(m, x, edges={"0.0.0": "foo"}), "foo"),
        (lambda m, x: fit_edges(m, x, functions=[]), "library is empty"),
    ],
)
def test_snap_bad_input(call, message):
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match=message):
        call(model, _points())


def test_snap_rejects_pruned_edge():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    model.layers[0].mask[1, 0] = 0.0
    with pytest.raises(ValueError, match="0.1.0 were pruned"):
        snap(model, _points(), edges=["0.1.0"])


@pytest.mark.parametrize("text", ["0.1", "a.b.c", "0.-1.0", ""])
def test_parse_edge_rejects_malformed(text):
    with pytest.raises(ValueError, match="layer.output.input"):
        parse_edge(text)


@pytest.mark.parametrize(
    "value, expected",
    [
        (3.14159262, sympy.pi),
        (1.5707963, sympy.Float(0.5, 4) * sympy.pi),
        (0.99998, sympy.Integer(1)),
        (0.7478, sympy.Float(0.7478, 4)),
        (-2.0000001, sympy.Integer(-2)),
        (1.23456789, sympy.Float(1.235, 4)),
        (123456.789, sympy.Float(123500.0, 4)),
        (0.785398, sympy.Float(0.25, 4) * sympy.pi),
    ],
)
def test_round_number_cases(value, expected):
    assert round_number(value, 4) == expected


def test_rounding_keeps_cancellation():
    # c0 (h0)^2 - c1 (h1)^2 with nearly equal coefficients: rounding the factors first would
    # leave a 1e-4 residue of the squared terms instead of the product.
    s, t = sympy.sin(3.1415926 * X + 1e-9), sympy.sin(3.1415927 * Y - 2e-9)
    expression = 0.25000001 * (s + t) ** 2 - 0.24999999 * (s - t) ** 2 + 3e-9
    x = _points().numpy()
    rounded = round_coefficients(expression, [X, Y], x, digits=4)
    assert sympy.simplify(rounded - sympy.sin(sympy.pi * X) * sympy.sin(sympy.pi * Y)) == 0


def test_recognition_recovers_exact_formula():
    expression = 1.0000197 * sympy.exp(
        0.9999922 * (1.00000006 * Y + 8.7e-9) ** 2 + 0.9999885 * sympy.sin(3.1415940 * X - 5.5e-7)
    ) - 2.19e-5
    recognized = recognize_expression(expression, tolerance=1e-4)
    assert sympy.simplify(recognized - sympy.exp(sympy.sin(sympy.pi * X) + Y**2)) == 0


def test_constant_edge_snaps_to_zero():
    model = KAN([2, 1], grid_size=20, seed=0, dtype=torch.float64)
    x = _points(2000)
    _train_edges_to(model, [lambda t: torch.sin(math.pi * t), lambda t: torch.full_like(t, 0.3)], x)
    results = snap(model, x, r2_threshold=0.999)
    assert [result.snapped for result in results] == ["sin", "zero"]
