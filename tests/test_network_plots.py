"""Network diagram and edge grid figures, drawn from synthetic per-layer arrays."""

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from kanpde.plotting import plot_edge_grid, plot_network

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_POINTS = 60


def make_layer(x, functions, importance=None, active=None, labels=None):
    """Build one layer dict from functions[o][i], the curve of edge (o, i) applied to x[:, i]."""
    n_outputs, n_inputs = len(functions), x.shape[1]
    y = np.empty((x.shape[0], n_outputs, n_inputs))
    for o in range(n_outputs):
        for i in range(n_inputs):
            y[:, o, i] = functions[o][i](x[:, i])
    return {
        "x": x,
        "y": y,
        "importance": np.ones((n_outputs, n_inputs)) if importance is None else np.asarray(importance, dtype=float),
        "active": np.ones((n_outputs, n_inputs), dtype=bool) if active is None else np.asarray(active, dtype=bool),
        "labels": np.full((n_outputs, n_inputs), "", dtype=object) if labels is None else np.array(labels, dtype=object),
    }


def random_network(widths, seed=0):
    """Build layers of random sine curves, feeding each layer's summed output to the next through tanh."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (N_POINTS, widths[0]))
    layers = []
    for n_inputs, n_outputs in zip(widths[:-1], widths[1:]):
        functions = [
            [lambda t, a=rng.normal(), b=rng.normal(): a * np.sin(2.0 * t + b) for _ in range(n_inputs)]
            for _ in range(n_outputs)
        ]
        layer = make_layer(x, functions, importance=rng.uniform(0.0, 1.0, (n_outputs, n_inputs)))
        layers.append(layer)
        x = np.tanh(layer["y"].sum(axis=2))
    largest = max(layer["importance"].max() for layer in layers)
    for layer in layers:
        layer["importance"] /= largest
    return layers


def sin_square_network():
    """A [2, 2, 1] network with sin and x^2 edges, two of them symbolic, and a symbolic fit on one."""
    x = np.random.default_rng(1).uniform(-1.0, 1.0, (N_POINTS, 2))
    first = make_layer(
        x,
        [[np.sin, np.square], [np.square, np.sin]],
        importance=[[1.0, 0.3], [0.05, 0.004]],
        labels=[["sin", ""], ["", "x^2"]],
    )
    fit = np.full(first["y"].shape, np.nan)
    fit[:, 0, 1] = x[:, 1] ** 2 + 0.02
    first["fit"] = fit
    first["fit_labels"] = np.array([["", "x^2, R2=0.99871"], ["", ""]])
    second = make_layer(np.tanh(first["y"].sum(axis=2)), [[np.sin, np.cos]], importance=[[0.8, 0.2]])
    return [first, second]


def pruned_network():
    """A [2, 5, 1] network with scattered pruned edges and hidden node 3 cut off on both sides."""
    layers = random_network([2, 5, 1], seed=2)
    layers[0]["active"][3, :] = False
    layers[1]["active"][0, 3] = False
    layers[0]["active"][1, 1] = False
    return layers


NETWORKS = {
    "2-2-1 symbolic": sin_square_network,
    "2-5-1 pruned": pruned_network,
    "4-3-1-1": lambda: random_network([4, 3, 1, 1], seed=3),
}


def assert_png_with_content(path):
    path = Path(path)
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3
    assert pixels[..., :3].var() > 1e-3, "image is a single flat colour"
    return pixels


def count_pixels_near(pixels, color, tolerance=0.08):
    distance = np.abs(pixels[..., :3] - np.array(to_rgb(color))).max(axis=-1)
    return int((distance < tolerance).sum())


@pytest.mark.parametrize("network", NETWORKS, ids=list(NETWORKS))
def test_plot_network_writes_png(tmp_path, network):
    layers = NETWORKS[network]()
    returned = plot_network(layers, str(tmp_path / "network.png"), title=network)
    assert returned == tmp_path / "network.png"
    assert isinstance(returned, Path)
    assert_png_with_content(returned)


@pytest.mark.parametrize("network", NETWORKS, ids=list(NETWORKS))
def test_plot_edge_grid_writes_png(tmp_path, network):
    layers = NETWORKS[network]()
    returned = plot_edge_grid(layers, str(tmp_path / "edges.png"))
    assert returned == tmp_path / "edges.png"
    assert_png_with_content(returned)


def test_plot_network_symbolic_edges_red(tmp_path):
    layers = sin_square_network()
    symbolic = assert_png_with_content(plot_network(layers, tmp_path / "symbolic.png"))
    layers[0]["labels"][:] = ""
    spline_only = assert_png_with_content(plot_network(layers, tmp_path / "spline.png"))
    assert count_pixels_near(symbolic, "C3") > 50
    assert count_pixels_near(spline_only, "C3") == 0


def test_plot_network_custom_names(tmp_path):
    layers = random_network([3, 2, 2])
    path = plot_network(layers, tmp_path / "named.png", input_names=["t", "x", "y"], output_names=["u", "v"])
    assert_png_with_content(path)


def test_plot_network_width_ten(tmp_path):
    # 100 edges in one layer, more than fit in one row of insets, so they stack in staggered rows.
    path = plot_network(random_network([10, 10, 1]), tmp_path / "wide.png")
    pixels = assert_png_with_content(path)
    assert pixels.shape[1] < 2500


def test_plot_edge_grid_draws_fit_dashed(tmp_path):
    layers = sin_square_network()
    with_fit = assert_png_with_content(plot_edge_grid(layers, tmp_path / "fit.png"))
    del layers[0]["fit"]
    without_fit = assert_png_with_content(plot_edge_grid(layers, tmp_path / "no_fit.png"))
    assert count_pixels_near(with_fit, "C1") > 50
    assert count_pixels_near(without_fit, "C1") == 0


def test_plot_edge_grid_greys_pruned(tmp_path):
    layers = random_network([2, 2, 1])
    active = assert_png_with_content(plot_edge_grid(layers, tmp_path / "active.png"))
    layers[0]["active"][0, 1] = False
    pruned = assert_png_with_content(plot_edge_grid(layers, tmp_path / "pruned.png"))
    # A panel is 1.6 x 1.1 inches at 120 dpi, about 25000 pixels. Antialiased text adds a few hundred grey pixels.
    grey_in_active = count_pixels_near(active, "0.93", tolerance=0.01)
    grey_in_pruned = count_pixels_near(pruned, "0.93", tolerance=0.01)
    assert grey_in_pruned > grey_in_active + 15000


def test_plots_with_whole_layer_pruned(tmp_path):
    layers = random_network([2, 3, 1])
    layers[1]["active"][:] = False
    assert_png_with_content(plot_network(layers, tmp_path / "network.png"))
    assert_png_with_content(plot_edge_grid(layers, tmp_path / "edges.png"))


def test_plots_constant_input_and_nan(tmp_path):
    layers = random_network([2, 1])
    layers[0]["x"][:, 0] = 0.5
    layers[0]["y"][:, 0, 0] = 0.1
    layers[0]["y"][:10, 0, 1] = np.nan
    assert_png_with_content(plot_network(layers, tmp_path / "network.png"))
    assert_png_with_content(plot_edge_grid(layers, tmp_path / "edges.png"))


def test_plots_accept_nested_lists(tmp_path):
    layers = [{
        "x": [[0.0], [0.5], [1.0]],
        "y": [[[0.0]], [[0.25]], [[1.0]]],
        "importance": [[1.0]],
        "active": [[True]],
        "labels": [["x^2"]],
    }]
    assert_png_with_content(plot_network(layers, tmp_path / "network.png"))
    assert_png_with_content(plot_edge_grid(layers, tmp_path / "edges.png"))


PLOTS = [plot_network, plot_edge_grid]


@pytest.mark.parametrize("plot", PLOTS)
def test_plots_reject_empty_layer_list(tmp_path, plot):
    with pytest.raises(ValueError, match="layers is empty"):
        plot([], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


@pytest.mark.parametrize("plot", PLOTS)
@pytest.mark.parametrize(
    ("key", "bad_shape", "message"),
    [
        ("y", (N_POINTS, 1, 3), rf"layer 1: y has shape \({N_POINTS}, 1, 3\) but x has shape \({N_POINTS}, 2\)"),
        ("y", (N_POINTS - 1, 1, 2), rf"layer 1: y has shape \({N_POINTS - 1}, 1, 2\) but x has shape \({N_POINTS}, 2\)"),
        ("importance", (2, 1), rf"layer 1: importance has shape \(2, 1\) but y has shape \({N_POINTS}, 1, 2\)"),
        ("active", (1, 3), rf"layer 1: active has shape \(1, 3\) but y has shape \({N_POINTS}, 1, 2\)"),
        ("labels", (2,), rf"layer 1: labels has shape \(2,\) but y has shape \({N_POINTS}, 1, 2\)"),
        ("fit", (N_POINTS, 2, 2), rf"layer 1: fit has shape \({N_POINTS}, 2, 2\) but y has shape \({N_POINTS}, 1, 2\)"),
        ("fit_labels", (2, 2), rf"layer 1: fit_labels has shape \(2, 2\) but y has shape \({N_POINTS}, 1, 2\)"),
        ("x", (N_POINTS,), rf"layer 1: x has shape \({N_POINTS},\), expected \(N, I\)"),
    ],
)
def test_plots_reject_mismatched_shape(tmp_path, plot, key, bad_shape, message):
    layers = random_network([2, 2, 1])
    layers[1][key] = np.zeros(bad_shape, dtype=bool if key == "active" else float)
    with pytest.raises(ValueError, match=message):
        plot(layers, tmp_path / "bad.png")


@pytest.mark.parametrize("plot", PLOTS)
def test_plots_reject_unchained_layers(tmp_path, plot):
    layers = random_network([2, 3, 1])
    layers[1] = random_network([4, 1], seed=5)[0]
    expected = rf"layer 1: x has shape \({N_POINTS}, 4\) but layer 0 y has shape \({N_POINTS}, 3, 2\)"
    with pytest.raises(ValueError, match=expected):
        plot(layers, tmp_path / "bad.png")


@pytest.mark.parametrize("plot", PLOTS)
def test_plots_reject_missing_key(tmp_path, plot):
    layers = random_network([2, 1])
    del layers[0]["active"]
    with pytest.raises(ValueError, match="layer 0: missing active"):
        plot(layers, tmp_path / "bad.png")


@pytest.mark.parametrize("plot", PLOTS)
@pytest.mark.parametrize("bad_value", [-0.5, np.nan])
def test_plots_reject_invalid_importance(tmp_path, plot, bad_value):
    layers = random_network([2, 1])
    layers[0]["importance"][0, 1] = bad_value
    with pytest.raises(ValueError, match="layer 0: importance must be finite and non-negative"):
        plot(layers, tmp_path / "bad.png")


def test_plots_reject_layer_not_dict(tmp_path):
    with pytest.raises(TypeError, match="layer 0: expected a dict of numpy arrays, got list"):
        plot_network([[1, 2]], tmp_path / "bad.png")


def test_plots_reject_wrong_name_count(tmp_path):
    layers = random_network([2, 1])
    with pytest.raises(ValueError, match="input_names has 3 names, expected 2, one per network input"):
        plot_network(layers, tmp_path / "bad.png", input_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="output_names has 2 names, expected 1, one per network output"):
        plot_network(layers, tmp_path / "bad.png", output_names=["u", "v"])
    with pytest.raises(ValueError, match="input_names has 1 name, expected 2, one per network input"):
        plot_edge_grid(layers, tmp_path / "bad.png", input_names=["a"])
