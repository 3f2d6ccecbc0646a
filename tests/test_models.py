import pytest
import torch

from kanpde import KAN, MLP, KANLayer, build_model, count_parameters


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kan_shapes_and_dtype(dtype):
    model = KAN([3, 4, 2], grid_size=6, seed=0, dtype=dtype)
    y = model(torch.rand(17, 3, dtype=dtype))
    assert y.shape == (17, 2)
    assert y.dtype == dtype
    assert model.layers[0].coefficients.shape == (4, 3, 6 + 3)
    assert model.layers[0].knots.shape == (3, 6 + 2 * 3 + 1)


def test_kan_parameter_count_matches_pykan_convention():
    # Each edge has G + k coefficients, a base weight and a spline weight.
    assert count_parameters(KAN([2, 10, 1], grid_size=5)) == 30 * (5 + 3 + 2)
    assert count_parameters(KAN([2, 10, 1], grid_size=20)) == 750


def test_mlp_parameter_count():
    assert count_parameters(MLP([2, 100, 100, 100, 1])) == 20601


def test_layer_forward_equals_sum_of_edge_functions():
    layer = KANLayer(3, 4, grid_size=5, dtype=torch.float64)
    x = torch.rand(50, 3, dtype=torch.float64) * 3 - 1.5  # partly outside the grid range
    edges = layer.edge_activations(x)
    assert edges.shape == (50, 4, 3)
    torch.testing.assert_close(layer(x), edges.sum(-1), rtol=1e-12, atol=1e-12)


def test_edge_function_formula():
    layer = KANLayer(1, 1, grid_size=3, spline_order=2, dtype=torch.float64)
    x = torch.linspace(-1, 1, 11, dtype=torch.float64).unsqueeze(1)
    basis = layer.basis(x)[:, 0, :]
    expected = (
        layer.base_weight[0, 0] * torch.nn.functional.silu(x[:, 0])
        + layer.spline_weight[0, 0] * basis @ layer.coefficients[0, 0]
    )
    torch.testing.assert_close(layer(x)[:, 0], expected, rtol=1e-12, atol=1e-12)


def test_kan_layer_gradcheck_float64():
    layer = KANLayer(2, 3, grid_size=4, dtype=torch.float64)
    # Points off the knots: the basis is only piecewise smooth, so finite differences across a
    # knot would compare one-sided derivatives.
    x = (torch.rand(6, 2, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    assert torch.autograd.gradcheck(layer, (x,))
    parameters = (layer.coefficients, layer.base_weight, layer.spline_weight)

    def as_function(coefficients, base_weight, spline_weight):
        weighted = spline_weight.unsqueeze(-1) * coefficients
        basis = layer.basis(x.detach())
        return torch.nn.functional.silu(x.detach()) @ base_weight.T + basis.flatten(1) @ weighted.flatten(1).T

    assert torch.autograd.gradcheck(as_function, parameters)
    torch.testing.assert_close(as_function(*parameters), layer(x.detach()))


def test_same_seed_same_model():
    first = KAN([2, 5, 1], seed=3, dtype=torch.float64)
    second = KAN([2, 5, 1], seed=3, dtype=torch.float64)
    x = torch.rand(10, 2, dtype=torch.float64)
    assert torch.equal(first(x), second(x))


@pytest.mark.parametrize("activation", ["tanh", "silu", "sin"])
def test_mlp_activations(activation):
    model = MLP([2, 8, 1], activation=activation, seed=0, dtype=torch.float64)
    assert model(torch.rand(5, 2, dtype=torch.float64)).shape == (5, 1)


def test_mlp_xavier_initialization():
    model = MLP([200, 300, 1], seed=0, dtype=torch.float64)
    weight = model.layers[0].weight
    expected_std = (2.0 / (200 + 300)) ** 0.5
    # 60000 samples: the sample standard deviation is within 2% of the target with overwhelming probability.
    assert abs(weight.std().item() / expected_std - 1) < 0.02
    assert torch.all(model.layers[0].bias == 0)


@pytest.mark.parametrize(
    "widths", [[2], [2, 0, 1], [2, -3, 1], [2, 2.5, 1], []]
)
def test_invalid_widths_rejected(widths):
    with pytest.raises(ValueError, match="widths must list at least two positive integers"):
        KAN(widths)
    with pytest.raises(ValueError, match="widths must list at least two positive integers"):
        MLP(widths)


def test_kan_grid_size_below_one_rejected():
    with pytest.raises(ValueError, match="grid_size must be an integer of at least 1.*model.grid_size"):
        KAN([2, 3, 1], grid_size=0)


def test_unknown_activation_rejected():
    with pytest.raises(ValueError, match="unknown activation 'relu6'; choose one of"):
        MLP([2, 3, 1], activation="relu6")


def test_unknown_model_kind_rejected():
    with pytest.raises(ValueError, match="unknown model kind 'cnn'"):
        build_model("cnn", 2, 1)


def test_build_model_from_hidden_widths():
    model = build_model("kan", 2, 1, hidden_widths=[4, 3], grid_size=5)
    assert model.widths == [2, 4, 3, 1]


def test_half_precision_rejected():
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64, got torch.float16"):
        KAN([2, 3, 1], dtype=torch.float16)
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        MLP([2, 3, 1], dtype=torch.float16)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("nonuniform", [False, True])
def test_non_finite_input_gives_non_finite_output(bad, nonuniform):
    # A blown-up hidden value must reach the loss as NaN or inf, not fail on a spline index.
    model = KAN([2, 4, 1], grid_size=5, seed=0, dtype=torch.float64)
    if nonuniform:
        with torch.no_grad():
            for layer in model.layers:
                layer.knots.copy_(torch.sort(torch.rand_like(layer.knots) * 3 - 1.5, dim=1).values)
    x = torch.tensor([[bad, 0.0], [0.1, 0.2]], dtype=torch.float64)
    y = model(x)
    assert not torch.isfinite(y[0]).all()
    assert torch.isfinite(y[1]).all()
