"""The forward derivative path against nested autograd, in float64."""

import itertools

import pytest
import torch

from kanpde import KAN, MLP
from kanpde.derivatives import evaluate
from kanpde.spline import bspline_basis, local_basis, uniform_knots

# Both paths evaluate the same piecewise polynomials; only the order of floating-point operations
# differs, so they agree far below this.
RELATIVE_TOLERANCE = 1e-10


def assert_close_relative(actual, expected):
    scale = expected.abs().max().clamp_min(1e-300)
    assert (actual - expected).abs().max() <= RELATIVE_TOLERANCE * scale


def random_kan(seed, widths, grid_size, spline_order, nonuniform):
    torch.manual_seed(seed)
    model = KAN(widths, grid_size=grid_size, spline_order=spline_order, noise_scale=0.5, seed=seed,
                dtype=torch.float64)
    with torch.no_grad():
        for layer in model.layers:
            layer.base_weight.normal_()
            layer.spline_weight.uniform_(0.5, 1.5)
            if nonuniform:
                # Sorted random knots covering a wider range than the uniform grid.
                knots = torch.sort(torch.rand_like(layer.knots) * 4 - 2, dim=1).values
                knots += torch.arange(knots.shape[1], dtype=torch.float64) * 1e-3  # keep them distinct
                layer.knots.copy_(knots)
    return model


def compare_paths(model, x):
    dim = x.shape[1]
    pairs = [(a, b) for a in range(dim) for b in range(a, dim)]
    kwargs = dict(gradient=True, laplacian=True, second=pairs)
    forward = evaluate(model, x, method="forward", **kwargs)
    reference = evaluate(model, x, method="autograd", **kwargs)

    assert_close_relative(forward.u, reference.u)
    assert_close_relative(forward.gradient, reference.gradient)
    assert_close_relative(forward.laplacian, reference.laplacian)
    for pair in pairs:
        assert_close_relative(forward.partial(*pair), reference.partial(*pair))

    # Parameter gradients of a loss built from every output, through each path.
    def loss(fields):
        total = fields.u.pow(2).sum() + fields.gradient.pow(2).sum() + fields.laplacian.pow(2).sum()
        return total + sum(value.pow(3).sum() for value in fields.second.values())

    parameters = list(model.parameters())
    forward_grads = torch.autograd.grad(loss(forward), parameters)
    reference_grads = torch.autograd.grad(loss(reference), parameters)
    for got, expected in zip(forward_grads, reference_grads):
        assert_close_relative(got, expected)


CASES = list(itertools.product([2, 3, 4, 5], [False, True]))


@pytest.mark.parametrize("spline_order, nonuniform", CASES)
def test_kan_forward_matches_autograd(spline_order, nonuniform):
    generator = torch.Generator().manual_seed(spline_order)
    dim = int(torch.randint(1, 4, (1,), generator=generator))
    hidden = [int(w) for w in torch.randint(1, 6, (2,), generator=generator)]
    grid_size = int(torch.randint(1, 12, (1,), generator=generator))
    model = random_kan(spline_order, [dim, *hidden, 1], grid_size, spline_order, nonuniform)
    # Points inside, near the edges of and outside the grid range.
    x = torch.rand(64, dim, dtype=torch.float64, generator=generator) * 3.2 - 1.6
    compare_paths(model, x)


@pytest.mark.parametrize("spline_order", [2, 3, 5])
def test_kan_forward_matches_autograd_on_knots(spline_order):
    model = random_kan(0, [2, 3, 1], 4, spline_order, nonuniform=False)
    knots = model.layers[0].knots[0]
    # Every first-layer input exactly on a knot, including the first and last knot of the span.
    grid = torch.cartesian_prod(knots, knots.flip(0))
    compare_paths(model, grid)


def test_kan_forward_matches_autograd_on_nonuniform_knots():
    model = random_kan(1, [2, 4, 1], 6, 3, nonuniform=True)
    knots = model.layers[0].knots
    x = torch.stack([knots[0], knots[1]], dim=1)
    compare_paths(model, x)


@pytest.mark.parametrize("activation", ["tanh", "silu", "sin"])
def test_mlp_forward_matches_autograd(activation):
    model = MLP([3, 7, 5, 1], activation=activation, seed=0, dtype=torch.float64)
    compare_paths(model, torch.rand(40, 3, dtype=torch.float64) * 2 - 1)


def test_value_only_forward_matches_dense_basis():
    model = random_kan(2, [2, 5, 1], 7, 3, nonuniform=False)
    x = torch.rand(100, 2, dtype=torch.float64) * 4 - 2
    layer = model.layers[0]
    dense = torch.nn.functional.silu(x) @ layer.base_weight.T + bspline_basis(x, layer.knots, 3).flatten(1) @ (
        layer.spline_weight.unsqueeze(-1) * layer.coefficients
    ).flatten(1).T
    assert_close_relative(layer(x), dense)


@pytest.mark.parametrize("spline_order", [1, 2, 3, 4])
@pytest.mark.parametrize("nonuniform", [False, True])
def test_local_basis_matches_dense(spline_order, nonuniform):
    knots = uniform_knots(6, spline_order, (-1, 1), 2, dtype=torch.float64)
    if nonuniform:
        knots = torch.sort(torch.rand_like(knots) * 3 - 1.5, dim=1).values
    x = torch.rand(200, 2, dtype=torch.float64) * 4 - 2
    span, values = local_basis(x, knots, spline_order)
    values = values[:, :, 0]
    n_basis = knots.shape[1] - spline_order - 1
    dense = torch.zeros(200, 2, n_basis + 2 * spline_order, dtype=torch.float64)
    dense.scatter_(2, span.unsqueeze(-1) + torch.arange(spline_order + 1), values)
    expected = bspline_basis(x, knots, spline_order)
    torch.testing.assert_close(dense[..., spline_order : spline_order + n_basis], expected, rtol=0, atol=1e-13)


def test_float32_forward_path_close_to_float64():
    model64 = random_kan(3, [2, 5, 1], 10, 3, nonuniform=False)
    model32 = random_kan(3, [2, 5, 1], 10, 3, nonuniform=False).float()
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    fields64 = evaluate(model64, x, laplacian=True)
    fields32 = evaluate(model32, x.float(), laplacian=True)
    assert fields32.laplacian.dtype == torch.float32
    # float32 round-off in a few dozen operations, relative to the Laplacian's size.
    scale = fields64.laplacian.abs().max()
    assert (fields32.laplacian.double() - fields64.laplacian).abs().max() < 1e-4 * scale


def test_unknown_derivative_method_rejected():
    with pytest.raises(ValueError, match="unknown derivative method 'jax'.*model.derivatives=forward"):
        KAN([2, 3, 1], derivatives="jax")
    with pytest.raises(ValueError, match="unknown derivative method 'symbolic'"):
        evaluate(MLP([2, 3, 1]), torch.rand(3, 2), laplacian=True, method="symbolic")


def test_forward_method_needs_forward_jet():
    plain = torch.nn.Sequential(torch.nn.Linear(2, 1))
    with pytest.raises(ValueError, match="Sequential has no forward_jet method.*method='autograd'"):
        evaluate(plain, torch.rand(3, 2), laplacian=True, method="forward")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("nonuniform", [False, True])
def test_cuda_matches_cpu(nonuniform):
    model = random_kan(4, [2, 5, 1], 8, 3, nonuniform=nonuniform)
    x = torch.rand(128, 2, dtype=torch.float64) * 2.4 - 1.2
    cpu = evaluate(model, x, gradient=True, laplacian=True)
    gpu_model = random_kan(4, [2, 5, 1], 8, 3, nonuniform=nonuniform).cuda()
    gpu = evaluate(gpu_model, x.cuda(), gradient=True, laplacian=True)
    assert_close_relative(gpu.u.cpu(), cpu.u)
    assert_close_relative(gpu.laplacian.cpu(), cpu.laplacian)
    gpu.laplacian.pow(2).mean().backward()
    assert gpu_model.layers[0].coefficients.grad.is_cuda


def test_chunked_forward_matches_single_pass(monkeypatch):
    import kanpde.derivatives

    model = random_kan(5, [2, 4, 1], 6, 3, nonuniform=False)
    x = torch.rand(100, 2, dtype=torch.float64) * 2 - 1
    whole = evaluate(model, x, gradient=True, laplacian=True, second=[(0, 1)], method="forward")
    monkeypatch.setattr(kanpde.derivatives, "FORWARD_CHUNK_SIZE", 7)
    chunked = evaluate(model, x, gradient=True, laplacian=True, second=[(0, 1)], method="forward")
    # Matrix products may block sums differently for other batch sizes, so only round-off differs.
    assert_close_relative(chunked.u, whole.u)
    assert_close_relative(chunked.gradient, whole.gradient)
    assert_close_relative(chunked.laplacian, whole.laplacian)
    assert_close_relative(chunked.partial(0, 1), whole.partial(0, 1))
