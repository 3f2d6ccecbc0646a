import math

import pytest
import torch
from torch import nn

from kanpde import KAN, MLP
from kanpde.derivatives import evaluate, first_derivatives, laplacian

# Closed forms and autograd agree to round-off in float64.
TOLERANCE = 1e-10


class ClosedForm(nn.Module):
    """u(x, y, z) = sin(x) exp(y) + x^3 y z^2, a field with known derivatives."""

    def forward(self, x):
        x1, x2, x3 = (x[:, i : i + 1] for i in range(3))
        return torch.sin(x1) * torch.exp(x2) + x1**3 * x2 * x3**2


def closed_form_derivatives(x):
    x1, x2, x3 = (x[:, i : i + 1] for i in range(3))
    gradient = torch.cat(
        [
            torch.cos(x1) * torch.exp(x2) + 3 * x1**2 * x2 * x3**2,
            torch.sin(x1) * torch.exp(x2) + x1**3 * x3**2,
            2 * x1**3 * x2 * x3,
        ],
        dim=1,
    )
    u_xx = -torch.sin(x1) * torch.exp(x2) + 6 * x1 * x2 * x3**2
    u_yy = torch.sin(x1) * torch.exp(x2)
    u_zz = 2 * x1**3 * x2
    u_xy = torch.cos(x1) * torch.exp(x2) + 3 * x1**2 * x3**2
    u_yz = 2 * x1**3 * x3
    return gradient, u_xx + u_yy + u_zz, {(0, 1): u_xy, (1, 2): u_yz, (0, 0): u_xx}


def test_operators_match_closed_form():
    x = torch.rand(64, 3, dtype=torch.float64) * 2 - 1
    fields = evaluate(ClosedForm(), x, gradient=True, laplacian=True, second=[(1, 0), (1, 2), (0, 0)])
    gradient, expected_laplacian, expected_second = closed_form_derivatives(x)

    assert fields.u.shape == (64, 1)
    assert fields.laplacian.shape == (64, 1)
    torch.testing.assert_close(fields.gradient, gradient, rtol=TOLERANCE, atol=TOLERANCE)
    torch.testing.assert_close(fields.laplacian, expected_laplacian, rtol=TOLERANCE, atol=TOLERANCE)
    for pair, expected in expected_second.items():
        torch.testing.assert_close(fields.partial(*pair), expected, rtol=TOLERANCE, atol=TOLERANCE)
    torch.testing.assert_close(fields.partial(1, 0), fields.partial(0, 1))


def test_standalone_laplacian_matches_evaluate():
    x = (torch.rand(32, 3, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    u = ClosedForm()(x)
    _, expected, _ = closed_form_derivatives(x.detach())
    torch.testing.assert_close(laplacian(u, x), expected, rtol=TOLERANCE, atol=TOLERANCE)
    torch.testing.assert_close(first_derivatives(u, x), closed_form_derivatives(x.detach())[0])


@pytest.mark.parametrize("model", [KAN([2, 4, 1], seed=0, dtype=torch.float64), MLP([2, 8, 1], seed=0, dtype=torch.float64)])
def test_laplacian_of_network_matches_finite_differences(model):
    x = torch.rand(8, 2, dtype=torch.float64) * 1.6 - 0.8
    fields = evaluate(model, x, laplacian=True)
    step = 1e-4
    with torch.no_grad():
        finite = -2 * x.shape[1] * model(x)
        for i in range(2):
            shift = torch.zeros_like(x)
            shift[:, i] = step
            finite += model(x + shift) + model(x - shift)
        finite /= step**2
    # Central differences have O(h^2) truncation and O(eps / h^2) round-off, about 1e-6 here,
    # unless a knot lies within h of a point; 1e-4 absolute leaves room for both.
    torch.testing.assert_close(fields.laplacian.detach(), finite, rtol=0, atol=1e-4)


def test_derivatives_keep_parameter_graph():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    fields = evaluate(model, torch.rand(5, 2, dtype=torch.float64), laplacian=True)
    fields.laplacian.pow(2).mean().backward()
    assert model.layers[0].coefficients.grad is not None
    assert model.layers[0].coefficients.grad.abs().sum() > 0


def test_value_only_request_does_not_track_inputs():
    x = torch.rand(4, 2, dtype=torch.float64)
    fields = evaluate(MLP([2, 3, 1], dtype=torch.float64), x)
    assert fields.gradient is None
    assert fields.laplacian is None
    assert not x.requires_grad


def test_multi_output_model_rejected():
    with pytest.raises(ValueError, match=r"scalar field shaped \(N, 1\).*\(4, 2\)"):
        evaluate(MLP([2, 3, 2], dtype=torch.float64), torch.rand(4, 2, dtype=torch.float64), gradient=True)


def test_unrequested_second_derivative_raises():
    fields = evaluate(ClosedForm(), torch.rand(4, 3, dtype=torch.float64), second=[(0, 1)])
    with pytest.raises(KeyError, match="second derivative \\(0, 2\\) was not requested"):
        fields.partial(2, 0)


def test_second_derivative_index_out_of_range():
    with pytest.raises(ValueError, match="index \\(0, 3\\) is out of range for 3 input dimensions"):
        evaluate(ClosedForm(), torch.rand(4, 3, dtype=torch.float64), second=[(0, 3)])


def test_sin_network_has_exact_laplacian():
    # A one-hidden-node sine network u = w2 sin(w1 . x) has laplacian -|w1|^2 u exactly.
    model = MLP([2, 1, 1], activation="sin", seed=0, dtype=torch.float64)
    with torch.no_grad():
        model.layers[1].bias.zero_()
    x = torch.rand(10, 2, dtype=torch.float64)
    fields = evaluate(model, x, laplacian=True)
    weight_norm = model.layers[0].weight.pow(2).sum()
    torch.testing.assert_close(fields.laplacian, -weight_norm * fields.u, rtol=TOLERANCE, atol=TOLERANCE)
    assert math.isfinite(fields.laplacian.sum().item())
