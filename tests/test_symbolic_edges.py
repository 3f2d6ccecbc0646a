"""Symbolic edges and masks inside KAN layers: values, derivatives, parameters and checkpoints."""

import copy
import math

import pytest
import torch

from kanpde import KAN, evaluate, load_checkpoint, load_weights, save_checkpoint
from kanpde.checkpoint import CheckpointError
from kanpde.models import count_parameters

# Closed forms against the network in float64: only round-off separates them.
ROUND_OFF = 1e-12
# The forward derivative path against nested autograd, as in the other derivative tests.
DERIVATIVE_MATCH = 1e-10


def _points(n=50, dim=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, dim, generator=generator, dtype=torch.float64) * 2 - 1


def _spline_part(layer, x, output, input):
    """The edge's spline-plus-SiLU function with the mask switched on."""
    saved = layer.mask.clone()
    layer.mask.fill_(1.0)
    value = layer.edge_activations(x)[:, output, input].clone()
    layer.mask.copy_(saved)
    return value


def test_symbolic_edge_computes_affine_function():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    layer = model.layers[0]
    x = _points()
    before = layer.edge_activations(x)
    layer.set_symbolic(1, 0, "sin", (2.0, 0.5, -1.5, 0.25))
    after = layer.edge_activations(x)
    expected = -1.5 * torch.sin(2.0 * x[:, 0] + 0.5) + 0.25
    assert torch.allclose(after[:, 1, 0], expected, atol=ROUND_OFF)
    others = torch.ones(3, 2, dtype=torch.bool)
    others[1, 0] = False
    assert torch.equal(after[:, others], before[:, others])


def test_layer_output_sums_symbolic_edges():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    layer = model.layers[0]
    layer.set_symbolic(0, 1, "x^2", (1.0, 0.0, 2.0, 1.0))
    layer.set_symbolic(2, 0, "exp", (0.5, 0.0, 1.0, 0.0))
    x = _points()
    assert torch.allclose(layer(x), layer.edge_activations(x).sum(2), atol=ROUND_OFF)


def test_unset_symbolic_restores_spline():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    x = _points()
    before = model(x)
    model.layers[0].set_symbolic(1, 1, "tanh")
    assert not torch.allclose(model(x), before)
    model.layers[0].unset_symbolic(1, 1)
    assert torch.equal(model(x), before)


def test_masked_edge_contributes_nothing():
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    layer = model.layers[0]
    x = _points()
    edge = layer.edge_activations(x)[:, 2, 1]
    before = layer(x)
    layer.mask[2, 1] = 0.0
    after = layer(x)
    assert torch.allclose(after[:, 2], before[:, 2] - edge, atol=ROUND_OFF)
    assert torch.equal(after[:, :2], before[:, :2])


@pytest.mark.parametrize("function", ["sin", "x^2", "exp", "tanh", "x", "gaussian"])
def test_forward_derivatives_match_autograd_with_symbolic_edges(function):
    forward = KAN([2, 3, 1], seed=1, dtype=torch.float64, derivatives="forward")
    forward.layers[0].set_symbolic(0, 1, function, (0.7, 0.1, 1.3, -0.2))
    forward.layers[1].set_symbolic(0, 2, function, (0.4, -0.3, 0.9, 0.05))
    forward.layers[0].mask[1, 0] = 0.0
    reference = copy.deepcopy(forward)
    reference.derivative_method = "autograd"
    x = _points(30)
    a = evaluate(forward, x, gradient=True, laplacian=True, second=[(0, 1)])
    b = evaluate(reference, x, gradient=True, laplacian=True, second=[(0, 1)])
    assert torch.allclose(a.u, b.u, rtol=DERIVATIVE_MATCH, atol=DERIVATIVE_MATCH)
    assert torch.allclose(a.gradient, b.gradient, rtol=DERIVATIVE_MATCH, atol=DERIVATIVE_MATCH)
    assert torch.allclose(a.laplacian, b.laplacian, rtol=DERIVATIVE_MATCH, atol=DERIVATIVE_MATCH)
    assert torch.allclose(a.partial(0, 1), b.partial(0, 1), rtol=DERIVATIVE_MATCH, atol=DERIVATIVE_MATCH)


def test_affine_parameters_receive_gradients():
    model = KAN([2, 2, 1], seed=0, dtype=torch.float64)
    model.layers[1].set_symbolic(0, 0, "sin", (1.0, 0.0, 1.0, 0.0))
    x = _points()
    fields = evaluate(model, x, laplacian=True)
    (fields.laplacian.pow(2).mean() + fields.u.pow(2).mean()).backward()
    gradient = model.layers[1].symbolic_affine.grad
    assert gradient is not None
    assert bool((gradient[0].abs() > 0).all())


def test_masked_coefficients_get_zero_gradient():
    model = KAN([2, 2, 1], seed=0, dtype=torch.float64)
    model.layers[0].mask[1, 0] = 0.0
    model(_points()).pow(2).sum().backward()
    assert bool((model.layers[0].coefficients.grad[1, 0] == 0).all())
    assert bool((model.layers[0].coefficients.grad[0, 0] != 0).any())


def test_parameter_count_follows_edges():
    model = KAN([2, 3, 1], grid_size=5, seed=0, dtype=torch.float64)
    per_edge = 5 + 3 + 2
    assert count_parameters(model) == 9 * per_edge
    model.layers[0].mask[0, 0] = 0.0
    model.layers[1].set_symbolic(0, 2, "sin")
    assert count_parameters(model) == 7 * per_edge + 4


def test_checkpoint_round_trip_keeps_symbolic_edges(tmp_path):
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    model.layers[0].set_symbolic(2, 1, "cos", (math.pi, 0.2, 0.5, 0.1))
    model.layers[1].set_symbolic(0, 0, "x", (1.0, 0.0, 2.0, 0.0))
    model.layers[0].mask[0, 0] = 0.0
    path = save_checkpoint(tmp_path / "checkpoint.pt", model)
    loaded = load_checkpoint(path)
    x = _points()
    assert torch.equal(loaded(x), model(x))
    assert loaded.layers[0].symbolic_edges == [(2, 1, "cos")]


def test_load_weights_rejects_other_symbolic_functions(tmp_path):
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    model.layers[0].set_symbolic(2, 1, "cos")
    path = save_checkpoint(tmp_path / "checkpoint.pt", model)
    other = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    other.layers[0].set_symbolic(2, 1, "sin")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_weights(other, path)


def test_checkpoint_without_mask_entries_loads(tmp_path):
    # Files written before masks and symbolic edges existed lack these entries.
    model = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    path = save_checkpoint(tmp_path / "checkpoint.pt", model)
    payload = torch.load(path, weights_only=True)
    for name in list(payload["state_dict"]):
        if name.endswith((".mask", ".symbolic_index", ".symbolic_affine")):
            del payload["state_dict"][name]
    del payload["architecture"]["symbolic"]
    from kanpde.checkpoint import payload_digest

    payload["sha256"] = payload_digest(payload)
    torch.save(payload, path)
    x = _points()
    assert torch.equal(load_checkpoint(path)(x), model(x))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda layer: layer.set_symbolic(3, 0, "sin"), "outside a layer"),
        (lambda layer: layer.set_symbolic(0, 0, "sinh"), "sinh"),
        (lambda layer: layer.set_symbolic(0, 0, "sin", (1.0, float("nan"), 1.0, 0.0)), "four finite numbers"),
        (lambda layer: layer.unset_symbolic(0, 0), "not symbolic"),
    ],
)
def test_symbolic_edge_bad_input(call, message):
    layer = KAN([2, 3, 1], seed=0, dtype=torch.float64).layers[0]
    with pytest.raises(ValueError, match=message):
        call(layer)


def test_symbolic_layout_length_checked():
    with pytest.raises(ValueError, match="each of the 2 layers"):
        KAN([2, 3, 1], symbolic=[[[0, 0, "sin"]]])


def test_symbolic_layout_rejects_duplicate_edge():
    with pytest.raises(ValueError, match="listed twice"):
        KAN([2, 3, 1], symbolic=[[[0, 0, "sin"], [0, 0, "cos"]], []])
