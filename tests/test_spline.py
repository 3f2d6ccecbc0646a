import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from kanpde.spline import bspline_basis, uniform_knots

# The recursion and scipy's de Boor evaluation differ only by round-off in float64.
BASIS_TOLERANCE = 1e-12


def scipy_basis(x: np.ndarray, knots: np.ndarray, order: int) -> np.ndarray:
    """Evaluate every basis function of one knot vector with scipy, shape (N, M)."""
    n_basis = len(knots) - order - 1
    columns = []
    for m in range(n_basis):
        coefficients = np.zeros(n_basis)
        coefficients[m] = 1.0
        columns.append(BSpline(knots, coefficients, order, extrapolate=False)(x))
    return np.nan_to_num(np.stack(columns, axis=1))


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("grid_size", [1, 5, 12])
def test_basis_matches_scipy_uniform(order, grid_size):
    knots = uniform_knots(grid_size, order, (-1.0, 1.0), 1, dtype=torch.float64)
    x = torch.linspace(-1.0, 0.999, 301, dtype=torch.float64).unsqueeze(1)
    ours = bspline_basis(x, knots, order)[:, 0, :].numpy()
    expected = scipy_basis(x[:, 0].numpy(), knots[0].numpy(), order)
    np.testing.assert_allclose(ours, expected, atol=BASIS_TOLERANCE)


@pytest.mark.parametrize("order", [2, 3, 5])
def test_basis_matches_scipy_nonuniform(order):
    rng = np.random.default_rng(0)
    inner = np.sort(rng.uniform(-2, 2, size=24))
    knots = torch.tensor(np.stack([inner, inner * 0.5 + 0.1]), dtype=torch.float64)  # two inputs
    x = torch.tensor(rng.uniform(-2.5, 2.5, size=(400, 2)), dtype=torch.float64)
    ours = bspline_basis(x, knots, order).numpy()
    for i in range(2):
        # scipy evaluates only on the base interval [t_k, t_{K-k-1}], where all bases are complete.
        t = knots[i].numpy()
        inside = (x[:, i].numpy() >= t[order]) & (x[:, i].numpy() < t[-order - 1])
        assert inside.sum() > 50
        expected = scipy_basis(x[inside, i].numpy(), t, order)
        np.testing.assert_allclose(ours[inside, i, :], expected, atol=BASIS_TOLERANCE)


@pytest.mark.parametrize("order", [0, 1, 3, 4])
def test_partition_of_unity_inside_grid(order):
    knots = uniform_knots(7, order, (-0.5, 2.0), 3, dtype=torch.float64)
    x = torch.rand(500, 3, dtype=torch.float64) * 2.5 - 0.5
    total = bspline_basis(x, knots, order).sum(-1)
    torch.testing.assert_close(total, torch.ones_like(total), atol=BASIS_TOLERANCE, rtol=0)


def test_basis_zero_outside_extended_knots():
    knots = uniform_knots(5, 3, (-1.0, 1.0), 1, dtype=torch.float64)
    x = torch.tensor([[-3.0], [knots[0, 0].item() - 1e-9], [knots[0, -1].item()], [3.0]], dtype=torch.float64)
    assert torch.all(bspline_basis(x, knots, 3) == 0)


def test_uniform_knots_extend_by_order():
    knots = uniform_knots(4, 3, (0.0, 1.0), 2, dtype=torch.float64)
    assert knots.shape == (2, 4 + 2 * 3 + 1)
    torch.testing.assert_close(knots[0, 3], torch.tensor(0.0, dtype=torch.float64))
    torch.testing.assert_close(knots[0, -4], torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(knots[0, 0], torch.tensor(-0.75, dtype=torch.float64))


@pytest.mark.parametrize(
    "grid_size, order, grid_range, message",
    [
        (0, 3, (-1, 1), "grid_size must be an integer of at least 1"),
        (2.5, 3, (-1, 1), "grid_size must be an integer"),
        (5, -1, (-1, 1), "spline_order must be a non-negative integer"),
        (5, 3, (1, -1), "grid_range must be two numbers"),
    ],
)
def test_invalid_grid_rejected(grid_size, order, grid_range, message):
    with pytest.raises(ValueError, match=message):
        uniform_knots(grid_size, order, grid_range, 1)
