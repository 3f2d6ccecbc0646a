"""Grid update and grid extension of KAN layers: what they keep, and what they reject."""

import pytest
import torch

from kanpde import KAN, KANLayer, evaluate, load_checkpoint, save_checkpoint
from kanpde.grid import adaptive_knots, dense_basis, refined_knots
from kanpde.spline import bspline_basis

F64 = torch.float64
# Extension onto nested knots and refits of exactly representable functions are exact in exact
# arithmetic. Float64 least squares on a well-conditioned B-spline basis loses a few digits.
ROUND_OFF = 1e-11
# A refit onto knots that do not contain the old ones is limited by how well the new knots resolve
# the function: the cases below measured changes of 1e-4 to 1.2e-3 of the edge functions' scale.
SMOOTH_REFIT = 5e-3


def smooth_layer(function, in_features=2, out_features=3, grid_size=10):
    """A layer whose edge splines interpolate ``function`` (scaled per edge) on [-1, 1]."""
    layer = KANLayer(in_features, out_features, grid_size=grid_size, dtype=F64)
    x = torch.linspace(-1, 1, 400, dtype=F64).unsqueeze(1).repeat(1, in_features)
    basis = bspline_basis(x, layer.knots, layer.spline_order)  # (N, I, M)
    scales = torch.linspace(0.5, 1.5, out_features * in_features, dtype=F64).reshape(out_features, in_features)
    coefficients = torch.empty_like(layer.coefficients)
    for i in range(in_features):
        fitted = torch.linalg.lstsq(basis[:, i], function(x[:, i : i + 1])).solution[:, 0]
        coefficients[:, i] = scales[:, i : i + 1] * fitted
    layer.set_grid(layer.knots, coefficients)
    return layer


def spline_part(layer, x):
    """Edge splines w_spline * sum_m c_m B_m(x), shaped (N, O, I)."""
    basis = bspline_basis(x, layer.knots, layer.spline_order)
    return torch.einsum("nim,oim->noi", basis, layer.coefficients) * layer.spline_weight


def test_dense_basis_matches_cox_de_boor():
    knots = refined_knots(torch.linspace(-1.6, 1.6, 12, dtype=F64).repeat(2, 1), 5, 10, 3)
    knots[1, 5] += 0.05  # a non-uniform inner knot
    x = torch.rand(300, 2, dtype=F64) * 4 - 2
    dense = dense_basis(x, knots, 3, 2)
    torch.testing.assert_close(dense[:, :, 0], bspline_basis(x, knots, 3), rtol=0, atol=ROUND_OFF)
    assert dense.shape == (300, 2, 3, knots.shape[1] - 4)


def test_extension_keeps_output_exactly():
    # Grid sizes 5 -> 10 -> 20: each a multiple of the one before.
    model = KAN([2, 5, 3, 1], grid_size=5, seed=0, dtype=F64)
    # Points far outside the grid range too: hidden values then fall into the outer knot intervals.
    x = torch.rand(500, 2, dtype=F64) * 6 - 3
    before = model(x)
    fields_before = evaluate(model, x[:100] / 3, gradient=True, laplacian=True)
    for grid_size in (10, 20):
        reports = model.extend_grid(grid_size)
        assert all(report.relative_change < ROUND_OFF for report in reports)
    assert model.grid_size == 20
    assert all(layer.coefficients.shape[-1] == 20 + 3 for layer in model.layers)
    scale = before.abs().max()
    assert (model(x) - before).abs().max() <= ROUND_OFF * scale
    fields = evaluate(model, x[:100] / 3, gradient=True, laplacian=True)
    torch.testing.assert_close(fields.gradient, fields_before.gradient, rtol=ROUND_OFF, atol=ROUND_OFF)
    torch.testing.assert_close(fields.laplacian, fields_before.laplacian, rtol=1e-9, atol=1e-9)


def test_extension_keeps_old_knots_and_outer_knots():
    layer = KANLayer(2, 2, grid_size=5, dtype=F64)
    old = layer.knots.clone()
    layer.extend_grid(15)
    new = layer.knots
    assert new.shape == (2, 15 + 7)
    for value in old[0]:
        assert torch.isclose(new[0], value, rtol=0, atol=1e-14).any()
    torch.testing.assert_close(new[:, :3], old[:, :3], rtol=0, atol=0)
    torch.testing.assert_close(new[:, -3:], old[:, -3:], rtol=0, atol=0)


def test_extension_to_non_multiple_stays_close():
    layer = smooth_layer(torch.sin, grid_size=5)
    x = torch.linspace(-1, 1, 300, dtype=F64).unsqueeze(1).repeat(1, 2)
    before = layer.edge_activations(x)
    report = layer.extend_grid(8)
    assert layer.grid_size == 8
    change = (layer.edge_activations(x) - before).abs().max() / before.abs().max()
    assert change < SMOOTH_REFIT
    assert report.relative_change < SMOOTH_REFIT


def test_update_keeps_polynomial_edges_exactly():
    # A cubic is a spline on any knots, so refitting it onto the new knots is exact on the samples.
    layer = smooth_layer(lambda t: t**3 - 0.5 * t + 0.2)
    samples = (torch.rand(1000, 2, dtype=F64) ** 2) * 1.7 - 0.9  # skewed, inside [-0.9, 0.8]
    before = layer.edge_activations(samples)
    report = layer.update_grid(samples, uniform_weight=0.1)
    assert (layer.edge_activations(samples) - before).abs().max() <= ROUND_OFF * before.abs().max()
    assert report.relative_change < ROUND_OFF
    assert not torch.equal(layer.knots, KANLayer(2, 3, grid_size=10, dtype=F64).knots)


def test_update_keeps_smooth_edges_on_samples():
    layer = smooth_layer(lambda t: torch.sin(2.5 * t), grid_size=20)
    samples = (torch.randn(2000, 2, generator=torch.Generator().manual_seed(0), dtype=F64) * 0.4).clamp(-1, 1)
    before = layer.edge_activations(samples)
    report = layer.update_grid(samples, uniform_weight=0.02)
    change = (layer.edge_activations(samples) - before).abs().max() / before.abs().max()
    assert change < SMOOTH_REFIT
    assert report.relative_change < SMOOTH_REFIT


def test_update_places_knots_by_uniform_weight():
    samples = torch.rand(4001, 1, generator=torch.Generator().manual_seed(1), dtype=F64) ** 3 * 2 - 1
    layer = KANLayer(1, 1, grid_size=4, dtype=F64)
    old = layer.knots.clone()
    uniform, _ = adaptive_knots(samples, old, 4, 3, uniform_weight=1.0)
    lower, upper = samples.min(), samples.max()
    torch.testing.assert_close(uniform[0, 3:8], torch.linspace(lower, upper, 5, dtype=F64))
    quantile, _ = adaptive_knots(samples, old, 4, 3, uniform_weight=0.0)
    levels = torch.linspace(0, 1, 5, dtype=F64)
    torch.testing.assert_close(quantile[0, 3:8], torch.quantile(samples[:, 0], levels))
    # The outer knots continue with the uniform spacing of the sample range.
    spacing = (upper - lower) / 4
    torch.testing.assert_close(quantile[0, :3], quantile[0, 3] - spacing * torch.tensor([3.0, 2.0, 1.0], dtype=F64))


def test_update_covers_samples_outside_the_grid():
    layer = smooth_layer(torch.tanh, grid_size=10)
    samples = torch.rand(500, 2, generator=torch.Generator().manual_seed(4), dtype=F64) * 3 - 1.5
    outside = (samples.abs() > 1).unsqueeze(1).expand(-1, 3, -1)  # the old grid range is [-1, 1]
    before = spline_part(layer, samples)
    layer.update_grid(samples, uniform_weight=0.5)
    k, grid_size = layer.spline_order, layer.grid_size
    assert bool((layer.knots[:, k] <= samples.min(0).values).all())
    assert bool((layer.knots[:, k + grid_size] >= samples.max(0).values).all())
    after = spline_part(layer, samples)
    assert torch.isfinite(after).all()
    # Past the old grid range the old splines fall to zero within three intervals, a feature that
    # the same number of intervals spread over the wider sample range resolves only roughly
    # (measured: 5 % of the scale). Dropping those samples would leave changes of order 100 %.
    change = (after - before).abs()[outside].max() / before.abs()[outside].max()
    assert change < 0.15


def test_extension_after_update_stays_exact():
    # Non-uniform knots from an update, and inputs far outside every grid range.
    model = KAN([2, 4, 1], grid_size=5, seed=3, dtype=F64)
    samples = torch.randn(800, 2, generator=torch.Generator().manual_seed(2), dtype=F64) * 1.5
    model.update_grid(samples, uniform_weight=0.02)
    assert not all(torch.allclose(layer.knots.diff(dim=1), layer.knots.diff(dim=1)[:, :1]) for layer in model.layers)
    x = torch.rand(300, 2, dtype=F64) * 20 - 10
    before = model(x)
    model.extend_grid(10)
    after = model(x)
    assert torch.isfinite(after).all()
    assert (after - before).abs().max() <= ROUND_OFF * before.abs().max()


def test_network_update_sees_updated_earlier_layers():
    model = KAN([2, 3, 1], grid_size=5, seed=0, dtype=F64)
    samples = torch.rand(600, 2, dtype=F64) * 2 - 1
    model.update_grid(samples)
    hidden = model.layers[0](samples)
    k, grid_size = model.spline_order, model.grid_size
    second = model.layers[1].knots
    torch.testing.assert_close(second[:, k], hidden.min(0).values, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(second[:, k + grid_size], hidden.max(0).values, rtol=1e-12, atol=1e-12)


def test_update_keeps_knots_of_constant_input():
    layer = KANLayer(2, 1, grid_size=5, dtype=F64)
    old = layer.knots.clone()
    samples = torch.stack([torch.linspace(-1, 1, 100, dtype=F64), torch.full((100,), 0.3, dtype=F64)], 1)
    report = layer.update_grid(samples)
    assert report.fallback_inputs == (1,)
    torch.testing.assert_close(layer.knots[1], old[1], rtol=0, atol=0)
    assert not torch.equal(layer.knots[0], old[0])


@pytest.mark.parametrize(
    "samples, weight, message",
    [
        (torch.tensor([[0.0, float("nan")]], dtype=F64), 0.02, "NaN or infinite"),
        (torch.zeros(5, 3, dtype=F64), 0.02, r"shaped \(N, 2\)"),
        (torch.zeros(0, 2, dtype=F64), 0.02, "N >= 1"),
        (torch.zeros(5, 2, dtype=F64), 1.5, "uniform_weight must be"),
    ],
)
def test_update_rejects_bad_input(samples, weight, message):
    layer = KANLayer(2, 1, grid_size=5, dtype=F64)
    knots = layer.knots.clone()
    with pytest.raises(ValueError, match=message):
        layer.update_grid(samples, uniform_weight=weight)
    assert torch.equal(layer.knots, knots)


def test_extension_rejects_invalid_grid_size():
    model = KAN([2, 2, 1], grid_size=5, dtype=F64)
    for grid_size in (0, 2.5, True):
        with pytest.raises(ValueError, match="grid_size must be a positive integer"):
            model.extend_grid(grid_size)
    assert model.grid_size == 5
    with pytest.raises(ValueError, match="fit_derivatives must be 0, 1 or 2"):
        model.extend_grid(10, fit_derivatives=1.5)


def test_set_grids_restores_previous_grid():
    model = KAN([2, 3, 1], grid_size=5, seed=0, dtype=F64)
    x = torch.rand(50, 2, dtype=F64)
    saved, before = model.grids(), model(x)
    model.extend_grid(7)
    model.update_grid(x)
    model.set_grids(saved)
    assert model.grid_size == 5
    torch.testing.assert_close(model(x), before, rtol=0, atol=0)


def test_checkpoint_keeps_changed_grid(tmp_path):
    model = KAN([2, 3, 1], grid_size=5, seed=0, dtype=F64)
    x = torch.rand(200, 2, dtype=F64) * 2 - 1
    model.update_grid(x)
    model.extend_grid(10)
    save_checkpoint(tmp_path / "model.pt", model)
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded.grid_size == 10
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grid_changes_keep_dtype(dtype):
    model = KAN([2, 3, 1], grid_size=5, seed=0, dtype=dtype)
    model.update_grid(torch.rand(100, 2, dtype=dtype))
    model.extend_grid(10)
    assert all(p.dtype == dtype for p in model.parameters())
    assert all(layer.knots.dtype == dtype for layer in model.layers)


def test_update_converts_float32_samples():
    model = KAN([2, 3, 1], grid_size=5, seed=0, dtype=F64)
    samples = torch.rand(200, 2, dtype=torch.float32) * 2 - 1
    model.update_grid(samples)
    assert all(layer.knots.dtype == F64 for layer in model.layers)
    assert model.layers[0].knots[0, 3].item() == pytest.approx(samples[:, 0].min().item(), rel=1e-6)


@pytest.mark.parametrize(
    "samples, message",
    [
        (torch.ones(10, 2, dtype=torch.long), "floating-point torch.Tensor, got Tensor of dtype torch.int64"),
        ([[0.0, 1.0]], "floating-point torch.Tensor, got list"),
    ],
)
def test_update_rejects_non_float_samples(samples, message):
    model = KAN([2, 3, 1], grid_size=5, seed=0, dtype=F64)
    with pytest.raises(TypeError, match=message):
        model.update_grid(samples)


def test_network_update_is_all_or_nothing(monkeypatch):
    model = KAN([2, 3, 1], grid_size=5, seed=0, dtype=F64)
    before = [knots.clone() for knots, _ in model.grids()]

    def failing_update(*args, **kwargs):
        raise RuntimeError("simulated failure in the second layer")

    monkeypatch.setattr(model.layers[1], "update_grid", failing_update)
    with pytest.raises(RuntimeError, match="simulated failure"):
        model.update_grid(torch.rand(100, 2, dtype=F64))
    for (knots, _), old in zip(model.grids(), before):
        assert torch.equal(knots, old)
