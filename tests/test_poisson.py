import numpy as np
import pytest
import torch
from torch import nn

from kanpde.derivatives import evaluate
from kanpde.problems.poisson import SOLUTIONS, Poisson
from kanpde.sampling import Box, sample_boundary, sample_interior

# Autograd on the closed forms reproduces the analytic source to round-off in float64.
RESIDUAL_TOLERANCE = 1e-10


class ExactModel(nn.Module):
    """Wraps a closed-form solution as a model, to check residuals and metrics."""

    def __init__(self, u, dim):
        super().__init__()
        self.u = u
        self.anchor = nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.widths = [dim, 1]

    def forward(self, x):
        return self.u(x) + 0 * self.anchor


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_exact_solution_has_zero_residual(name):
    exact = SOLUTIONS[name]
    x = sample_interior(Box.cube(exact.dim), 500, "uniform", np.random.default_rng(0))
    fields = evaluate(ExactModel(exact.u, exact.dim), x, gradient=True, laplacian=True)
    residual = fields.laplacian - exact.source(x)
    assert residual.abs().max().item() < RESIDUAL_TOLERANCE
    torch.testing.assert_close(fields.gradient, exact.gradient(x), rtol=RESIDUAL_TOLERANCE, atol=RESIDUAL_TOLERANCE)


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_losses_vanish_for_exact_solution(name):
    problem = Poisson(solution=name, n_interior=400 if SOLUTIONS[name].dim == 2 else 50, n_boundary=40 if SOLUTIONS[name].dim == 2 else 2)
    model = ExactModel(problem.u_exact, problem.input_dim)
    terms = problem.losses(model, problem.sample(np.random.default_rng(0)))
    assert terms["interior"].item() < RESIDUAL_TOLERANCE**2
    assert terms["boundary"].item() < RESIDUAL_TOLERANCE**2
    metrics = problem.evaluate(model)
    assert metrics["mse"] < 1e-28
    assert metrics["h1_squared"] < 1e-20


def test_paper_solution_vanishes_on_boundary():
    exact = SOLUTIONS["sin_pi_x_sin_pi_y2"]
    boundary = sample_boundary(Box.cube(2), 400, "uniform", np.random.default_rng(0))
    assert exact.u(boundary).abs().max().item() < 1e-12


def test_metrics_of_known_error():
    # u = u_exact + 0.1 everywhere gives mse 0.01, max error 0.1 and an unchanged gradient.
    problem = Poisson(solution="sin_pi_x_sin_pi_y", n_interior=400, n_boundary=40, n_test_per_axis=21)
    shifted = ExactModel(lambda x: problem.u_exact(x) + 0.1, 2)
    metrics = problem.evaluate(shifted)
    assert metrics["mse"] == pytest.approx(0.01, rel=1e-12)
    assert metrics["max_abs"] == pytest.approx(0.1, rel=1e-12)
    assert metrics["h1_squared"] == pytest.approx(0.01, rel=1e-9)
    u_norm = problem.u_exact(problem.x_test).pow(2).mean().sqrt().item()
    assert metrics["rel_l2"] == pytest.approx(0.1 / u_norm, rel=1e-12)


def test_loss_weights_follow_alpha():
    problem = Poisson(alpha=0.5, n_interior=400, n_boundary=40)
    assert problem.loss_weights == {"interior": 0.5, "boundary": 1.0}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"solution": "gaussian"}, "unknown Poisson solution 'gaussian'"),
        ({"alpha": -0.1}, "alpha .* must be non-negative, got -0.1"),
        ({"n_interior": 0}, "n_interior must be a positive integer, got 0"),
        ({"n_boundary": -4}, "n_boundary must be a positive integer, got -4"),
        ({"n_interior": 2600}, "needs n_interior = m\\^2"),
        ({"sampling": "grid"}, "unknown sampling method 'grid'"),
    ],
)
def test_invalid_settings_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Poisson(**kwargs)


def test_tiny_test_mesh_rejected():
    with pytest.raises(ValueError, match="n_test_per_axis must be an integer of at least 5, got 2"):
        Poisson(n_test_per_axis=2)


def test_one_dimensional_boundary_needs_both_ends():
    with pytest.raises(ValueError, match="n_boundary must be at least 2 in one dimension"):
        Poisson(solution="sin_pi_x_plus_half_x", n_interior=50, n_boundary=1)
    with pytest.raises(ValueError, match="n_boundary must be even in one dimension.*got 3"):
        Poisson(solution="sin_pi_x_plus_half_x", n_interior=50, n_boundary=3)
