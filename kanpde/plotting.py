"""Figures of a run: solution fields, training curves, scaling results and the learned edge functions of a KAN."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; the library never opens a window
import matplotlib.pyplot as plt
import numpy as np


def plot_fields(
    x: np.ndarray,
    u: np.ndarray,
    u_exact: np.ndarray,
    shape: Sequence[int],
    path: str | Path,
    variable_names: Sequence[str] = ("x", "y"),
) -> Path:
    """Draw predicted, exact and error fields on a regular mesh and save them as one image.

    Args:
        x: mesh points (N, D) with D = 1 or 2, ordered as ``kanpde.sampling.mesh`` orders them.
        u, u_exact: values (N, 1).
        shape: points per axis, with prod(shape) = N.
        path: image file to write.
    """
    path = Path(path)
    error = u - u_exact
    if x.shape[1] == 1:
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
        top.plot(x[:, 0], u_exact[:, 0], label="exact", linewidth=2)
        top.plot(x[:, 0], u[:, 0], "--", label="predicted")
        top.set_ylabel("u")
        top.legend()
        bottom.plot(x[:, 0], error[:, 0])
        bottom.set_xlabel(variable_names[0])
        bottom.set_ylabel("u - u_exact")
    elif x.shape[1] == 2:
        grid_x = x[:, 0].reshape(shape)
        grid_y = x[:, 1].reshape(shape)
        figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        panels = [(u, "predicted u", "viridis"), (u_exact, "exact u", "viridis"), (error, "u - u_exact", "RdBu_r")]
        for axis, (values, title, colormap) in zip(axes, panels):
            values = values[:, 0].reshape(shape)
            if colormap == "RdBu_r":
                limit = float(np.abs(values).max()) or 1.0
                mesh = axis.pcolormesh(grid_x, grid_y, values, cmap=colormap, vmin=-limit, vmax=limit, shading="auto")
            else:
                mesh = axis.pcolormesh(grid_x, grid_y, values, cmap=colormap, shading="auto")
            figure.colorbar(mesh, ax=axis)
            axis.set_title(title)
            axis.set_xlabel(variable_names[0])
            axis.set_ylabel(variable_names[1])
            axis.set_aspect("equal")
    else:
        raise ValueError(f"field plots support 1 or 2 dimensions, got {x.shape[1]}")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_history(history: list[dict[str, Any]], path: str | Path, metric_names: Sequence[str] = ()) -> Path:
    """Draw the loss terms and the error metrics against the step, on log axes, into one image."""
    path = Path(path)
    steps = [entry["step"] for entry in history]
    skip = {"step", "stage", "optimizer", "time", *metric_names}
    loss_names = [name for name, value in history[0].items() if name not in skip and isinstance(value, float)]

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name in loss_names:
        left.semilogy(steps, [entry.get(name, np.nan) for entry in history], label=name)
    left.set_xlabel("step")
    left.set_ylabel("loss")
    left.set_title("loss (total weighted, terms unweighted)")
    left.legend()

    for name in metric_names:
        pairs = [(entry["step"], entry[name]) for entry in history if name in entry]
        if pairs:
            right.semilogy(*zip(*pairs), marker="o", markersize=3, label=name)
    right.set_xlabel("step")
    right.set_title("test metrics (errors or accuracies)")
    right.legend()

    _mark_stages(left, history)
    _mark_stages(right, history)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_staircase(history: list[dict[str, Any]], path: str | Path, metric_names: Sequence[str] = ()) -> Path:
    """Draw the total loss and the test error against the step, with every grid change marked.

    Grid extensions are solid lines labelled with the new grid size, grid updates dotted lines and
    other optimizer stage boundaries dashed lines, so that a jump of the loss at a change shows.
    """
    path = Path(path)
    figure, axis = plt.subplots(figsize=(8, 4.5))
    steps = [entry["step"] for entry in history]
    axis.semilogy(steps, [entry.get("loss", np.nan) for entry in history], label="loss", color="C0")
    metric = None
    if metric_names:
        metric = "mse" if "mse" in metric_names else metric_names[0]
    if metric is not None:
        pairs = [(entry["step"], entry[metric]) for entry in history if metric in entry]
        axis.semilogy(*zip(*pairs), "o", markersize=3, color="C1", label=f"test {metric}")
    _mark_stages(axis, history)
    for entry in history:
        event = entry.get("event")
        if not event:
            continue
        if "extension" in event:
            axis.axvline(entry["step"], color="black", linewidth=1.0)
            axis.annotate(
                f"G = {entry.get('grid_size', '?')}", (entry["step"], 1.0), xycoords=("data", "axes fraction"),
                xytext=(3, -12), textcoords="offset points", fontsize=8,
            )
        else:
            axis.axvline(entry["step"], color="grey", linestyle=":", linewidth=0.8)
    axis.set_xlabel("step")
    axis.set_title("loss and error across grid changes (solid: extension, dotted: update)")
    axis.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_scaling(rows: Sequence[dict[str, Any]], metric: str, path: str | Path) -> Path:
    """Draw the mean error of each configuration against its parameter count, log-log, one series per
    model kind, with the standard deviation over seeds as error bars.

    Args:
        rows: summary rows with ``model``, ``parameters``, ``widths``, ``grid_size``,
            ``{metric}_mean`` and ``{metric}_std`` (see ``kanpde.report.summarize``).
        metric: the error to draw, such as ``mse``.
    """
    path = Path(path)
    figure, axis = plt.subplots(figsize=(7, 5))
    kinds = sorted({row["model"] for row in rows})
    for index, kind in enumerate(kinds):
        points = sorted(
            (row for row in rows if row["model"] == kind and row["parameters"] != ""
             and np.isfinite(row[f"{metric}_mean"])),
            key=lambda row: row["parameters"],
        )
        if not points:
            continue
        parameters = [row["parameters"] for row in points]
        means = np.array([row[f"{metric}_mean"] for row in points])
        stds = np.array([row[f"{metric}_std"] for row in points])
        stds = np.where(np.isfinite(stds), stds, 0.0)
        # Log axes cannot show a bar below zero, so the lower bar stops just above it.
        lower = np.minimum(stds, means * 0.999)
        axis.errorbar(parameters, means, yerr=[lower, stds], marker="o", capsize=3, color=f"C{index}",
                      label=kind.upper(), linestyle="-" if len(points) > 1 else "none")
        for position, (row, x, y) in enumerate(zip(points, parameters, means)):
            text = row["widths"] + (f" G={row['grid_size']}" if row["grid_size"] not in ("", None) else "")
            if row.get("statistics_over") == "stopped early":
                text += " (stopped early)"
                axis.plot([x], [y], marker="o", markersize=11, markerfacecolor="none", color=f"C{index}")
            # Labels of neighbouring points go above and below in turn, so that they overlap less.
            offset = (4, 4) if position % 2 == 0 else (4, -10)
            axis.annotate(text, (x, y), xytext=offset, textcoords="offset points", fontsize=7)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("parameters")
    axis.set_ylabel(f"{metric} (mean over seeds)")
    axis.set_title(f"{metric} against parameter count")
    axis.legend()
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _mark_stages(axis, history: list[dict[str, Any]]) -> None:
    """Draw a dashed vertical line where each optimizer stage after the first begins."""
    previous = history[0].get("stage")
    for entry in history[1:]:
        if entry.get("stage") != previous and entry.get("stage") != "final":
            axis.axvline(entry["step"], color="grey", linestyle="--", linewidth=0.8)
        previous = entry.get("stage")


# Figures of a trained KAN, drawn from per-layer numpy arrays (plot_network describes them).

_REQUIRED_KEYS = ("x", "y", "importance", "active", "labels")
_SPLINE_COLOR = "C0"
_SYMBOLIC_COLOR = "C3"
_FIT_COLOR = "C1"
_PRUNED_COLOR = "0.6"
_FAINT_ALPHA = 0.12  # opacity floor, so that every active edge stays visible

# Network diagram geometry, in inches.
_INSET_SIZE = 0.6
_INSET_PITCH = 0.78  # horizontal space per inset within one row of insets
_INSET_ROW_GAP = 0.22  # room for a symbolic label above the inset of the next row
_MAX_ROW_WIDTH = 15.0  # a layer with more insets than fit here stacks them in staggered rows
_NODE_PITCH = 0.6
_NODE_TO_INSETS = 0.45
_SIDE_MARGIN = 0.35

# Edge grid geometry, in inches.
_GRID_MAX_COLUMNS = 8
_PANEL_WIDTH = 1.6
_PANEL_HEIGHT = 1.1
_PANEL_COLUMN_GAP = 0.35
_PANEL_TITLE_SPACE = 0.5  # three title lines at font size 7
_PANEL_TICK_SPACE = 0.25
_LAYER_HEADER = 0.35
_TITLE_CHARACTERS = 34  # longer title lines would run into the next panel


@dataclass
class _EdgeLayer:
    """Validated edge data of one KAN layer: N sample points, I inputs, O outputs."""

    x: np.ndarray  # (N, I) float
    y: np.ndarray  # (N, O, I) float
    importance: np.ndarray  # (O, I) float
    active: np.ndarray  # (O, I) bool
    labels: np.ndarray  # (O, I) str
    fit: np.ndarray | None  # (N, O, I) float
    fit_labels: np.ndarray | None  # (O, I) str

    @property
    def n_inputs(self) -> int:
        return self.x.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.y.shape[1]


def plot_network(
    layers: Sequence[Mapping[str, Any]],
    path: str | Path,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Draw a KAN as a network diagram, each edge carrying a small plot of its function, and save it.

    Nodes of each layer form a row, inputs at the bottom and outputs at the top. Every edge runs
    from its input node through an inset that plots phi_{o,i} against x[:, i] over the range of x
    the layer saw, to its output node. Insets are ordered by input node, so the insets of one input
    sit above it. The opacity of an edge falls linearly with log10(importance), from 1 at
    importance 1 to a floor of 0.12 at importance 0.01 and below.
    Symbolic edges are red and carry their function name. Pruned edges are faint dashed lines
    without an inset, and a node whose incoming or outgoing edges are all pruned is drawn hollow.
    A layer with more edges than fit in a 15 inch row stacks its insets in staggered rows.

    Args:
        layers: one dict of numpy arrays per layer, where layer l maps I inputs to O outputs
            through one univariate function phi_{o,i} per edge, with the keys

            - ``x`` (N, I): the layer's inputs at N sample points.
            - ``y`` (N, O, I): each edge's output phi_{o,i}(x[:, i]).
            - ``importance`` (O, I): non-negative edge scores, scaled so that the largest in the
              network is 1.
            - ``active`` (O, I): False for pruned edges.
            - ``labels`` (O, I): '' for a spline edge, else the name of the symbolic function
              that replaced it, such as 'sin'.
            - ``fit`` (N, O, I), optional: the curve of a symbolic fit, NaN for edges without one.
              Only ``plot_edge_grid`` draws it.
            - ``fit_labels`` (O, I), optional: a description of each fit, such as 'sin, R2=0.99999'.

            Layer l + 1 needs one input per output of layer l.
        path: image file to write.
        input_names: one name per network input, by default x1, x2, ...
        output_names: one name per network output, by default u (or u1, u2, ... for several).
        title: text above the diagram.

    Raises:
        ValueError: on an empty layer list, a missing key, arrays of mismatched shapes, negative or
            non-finite importance, or a wrong number of names.
        TypeError: on a layer that is not a dict.
    """
    path = Path(path)
    checked = _check_layers(layers)
    widths = [checked[0].n_inputs] + [layer.n_outputs for layer in checked]
    input_names = _node_names(input_names, _numbered("x", widths[0]), "input_names", "input")
    default_outputs = ["u"] if widths[-1] == 1 else _numbered("u", widths[-1])
    output_names = _node_names(output_names, default_outputs, "output_names", "output")

    per_row = max(1, int(_MAX_ROW_WIDTH // _INSET_PITCH))
    edge_counts = [layer.n_inputs * layer.n_outputs for layer in checked]
    inset_rows = [math.ceil(count / per_row) for count in edge_counts]
    inner_width = max(
        4.0,
        max(math.ceil(count / rows) * _INSET_PITCH for count, rows in zip(edge_counts, inset_rows)),
        max(widths) * _NODE_PITCH,
    )
    width = inner_width + 2 * _SIDE_MARGIN

    # Heights from the bottom: input labels, then per layer a node row and a band of insets.
    node_heights = [0.5]
    band_bottoms = []
    for rows in inset_rows:
        band_bottoms.append(node_heights[-1] + _NODE_TO_INSETS)
        band_height = rows * _INSET_SIZE + (rows - 1) * _INSET_ROW_GAP
        node_heights.append(band_bottoms[-1] + band_height + _NODE_TO_INSETS)
    height = node_heights[-1] + 0.5 + (0.4 if title else 0.0)

    figure = plt.figure(figsize=(width, height))
    canvas = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    canvas.set_xlim(0.0, width)
    canvas.set_ylim(0.0, height)
    canvas.set_axis_off()
    node_x = [_SIDE_MARGIN + (np.arange(count) + 0.5) * inner_width / count for count in widths]

    for index, layer in enumerate(checked):
        edges = edge_counts[index]
        line_width = 1.1 if inset_rows[index] == 1 else 0.6  # thinner where staggered rows make a dense tangle
        order = np.argsort(layer.x, axis=0)
        for i in range(layer.n_inputs):
            x_sorted = layer.x[order[:, i], i]
            for o in range(layer.n_outputs):
                slot = i * layer.n_outputs + o
                center_x = _SIDE_MARGIN + (slot + 0.5) * inner_width / edges
                row = slot % inset_rows[index]
                center_y = band_bottoms[index] + row * (_INSET_SIZE + _INSET_ROW_GAP) + _INSET_SIZE / 2
                # The edge enters its inset at the bottom centre and leaves at the top centre.
                line_x = [node_x[index][i], center_x, center_x, node_x[index + 1][o]]
                line_y = [
                    node_heights[index], center_y - _INSET_SIZE / 2, center_y + _INSET_SIZE / 2, node_heights[index + 1]
                ]
                if not layer.active[o, i]:
                    canvas.plot(line_x, line_y, color=_PRUNED_COLOR, linestyle="--", linewidth=0.7, alpha=0.5)
                    continue

                label = layer.labels[o, i]
                color = _SYMBOLIC_COLOR if label else _SPLINE_COLOR
                alpha = _importance_alpha(layer.importance[o, i])
                canvas.plot(line_x, line_y, color=color, linewidth=line_width, alpha=alpha)
                inset = figure.add_axes((
                    (center_x - _INSET_SIZE / 2) / width, (center_y - _INSET_SIZE / 2) / height,
                    _INSET_SIZE / width, _INSET_SIZE / height,
                ))
                _plot_curve(inset, x_sorted, layer.y[order[:, i], o, i], color=color, linewidth=1.3, alpha=alpha)
                inset.set_xticks([])
                inset.set_yticks([])
                for spine in inset.spines.values():
                    spine.set_color(color)
                    spine.set_alpha(alpha)
                if label:
                    inset.set_title(
                        _shorten(label, 12), fontsize=7, color=color, pad=3, alpha=max(alpha, 0.6),
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
                    )

    for row, count in enumerate(widths):
        hollow = _hollow_nodes(checked, row)
        for node in range(count):
            canvas.plot(
                node_x[row][node], node_heights[row], "o", markersize=7, zorder=3,
                markerfacecolor="white" if hollow[node] else "black", markeredgecolor="black",
            )
    for name, position in zip(input_names, node_x[0]):
        canvas.text(position, node_heights[0] - 0.16, name, ha="center", va="top", fontsize=10)
    for name, position in zip(output_names, node_x[-1]):
        canvas.text(position, node_heights[-1] + 0.16, name, ha="center", va="bottom", fontsize=10)
    if title:
        canvas.text(width / 2, height - 0.15, title, ha="center", va="top", fontsize=11)

    figure.savefig(path, dpi=150)
    plt.close(figure)
    return path


def plot_edge_grid(
    layers: Sequence[Mapping[str, Any]], path: str | Path, input_names: Sequence[str] | None = None
) -> Path:
    """Draw every edge function of a KAN in its own panel, with its symbolic fit, and save them as one image.

    Each layer gets its own block of panels, output node by output node, at most 8 per row. Where a
    layer has at most 8 inputs, each row contains whole output nodes. A panel plots phi_{o,i} against
    x[:, i] (solid) and the symbolic fit (dashed) where ``fit`` is given and not NaN. Its title
    names the edge as 'layer l: x1 -> node o', where the inputs of layer 0 take ``input_names`` and
    later inputs are the nodes of the layer before. The importance, the symbolic function and the
    fit label follow. Pruned edges are greyed out. The height grows with the edge count: a
    [10, 10, 10, 1] network gives 210 panels in 28 rows, 53 inches tall.

    Args:
        layers: one dict of numpy arrays per layer, in the format that ``plot_network`` describes.
        path: image file to write.
        input_names: one name per network input, by default x1, x2, ...

    Raises:
        ValueError, TypeError: as for ``plot_network``.
    """
    path = Path(path)
    checked = _check_layers(layers)
    input_names = _node_names(input_names, _numbered("x", checked[0].n_inputs), "input_names", "input")
    edge_counts = [layer.n_inputs * layer.n_outputs for layer in checked]
    columns = [_grid_columns(layer.n_inputs, count) for layer, count in zip(checked, edge_counts)]
    panel_rows = [math.ceil(count / layer_columns) for count, layer_columns in zip(edge_counts, columns)]
    row_height = _PANEL_TITLE_SPACE + _PANEL_HEIGHT + _PANEL_TICK_SPACE
    left_margin = 0.45
    caption_height = 0.55
    # The minimum width keeps the caption inside a figure of one or two panels.
    width = max(5.0, left_margin + max(columns) * (_PANEL_WIDTH + _PANEL_COLUMN_GAP))
    height = caption_height + sum(_LAYER_HEADER + rows * row_height for rows in panel_rows) + 0.1

    figure = plt.figure(figsize=(width, height))
    caption = "learned edge function: blue spline, red symbolic, grey pruned"
    if any(layer.fit is not None and np.isfinite(layer.fit).any() for layer in checked):
        caption += "\ndashed orange: symbolic fit"
    figure.text(0.5, 1.0 - 0.1 / height, caption, ha="center", va="top", fontsize=9)

    top = height - caption_height  # distance from the bottom of the figure to the top of the current block
    for index, layer in enumerate(checked):
        figure.text(
            0.1 / width, (top - _LAYER_HEADER / 2) / height,
            f"layer {index}: {_count(layer.n_inputs, 'input')} -> {_count(layer.n_outputs, 'output')}",
            ha="left", va="center", fontsize=10, fontweight="bold",
        )
        top -= _LAYER_HEADER
        order = np.argsort(layer.x, axis=0)
        edges = [(o, i) for o in range(layer.n_outputs) for i in range(layer.n_inputs)]
        for position, (o, i) in enumerate(edges):
            row, column = divmod(position, columns[index])
            bottom = top - row * row_height - _PANEL_TITLE_SPACE - _PANEL_HEIGHT
            axis = figure.add_axes((
                (left_margin + column * (_PANEL_WIDTH + _PANEL_COLUMN_GAP)) / width, bottom / height,
                _PANEL_WIDTH / width, _PANEL_HEIGHT / height,
            ))
            source = input_names[i] if index == 0 else f"node {i}"
            _draw_edge_panel(axis, layer, o, i, order[:, i], f"layer {index}: {source} -> node {o}")
        top -= panel_rows[index] * row_height

    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _draw_edge_panel(axis, layer: _EdgeLayer, o: int, i: int, order: np.ndarray, heading: str) -> None:
    """Plot edge (o, i) of one layer against its sorted inputs, with its fit, into one panel."""
    x_sorted = layer.x[order, i]
    active = bool(layer.active[o, i])
    label = layer.labels[o, i]
    if not active:
        color = _PRUNED_COLOR
    elif label:
        color = _SYMBOLIC_COLOR
    else:
        color = _SPLINE_COLOR
    _plot_curve(axis, x_sorted, layer.y[order, o, i], color=color, linewidth=1.4)

    status = f"importance {layer.importance[o, i]:.3g}"
    if not active:
        status += ", pruned"
    if label:
        status += f", symbolic {label}"
    lines = [heading, status]
    if layer.fit is not None and np.isfinite(layer.fit[:, o, i]).any():
        _plot_curve(axis, x_sorted, layer.fit[order, o, i], color=_FIT_COLOR, linestyle="--", linewidth=1.2)
        fit_label = layer.fit_labels[o, i] if layer.fit_labels is not None else ""
        lines.append(f"fit {fit_label}" if fit_label else "fit")
    lines = [_shorten(line, _TITLE_CHARACTERS) for line in lines]
    axis.set_title("\n".join(lines), fontsize=7, color="0.45" if not active else "black", pad=3)
    axis.tick_params(labelsize=6, length=2, pad=1)
    if not active:
        axis.set_facecolor("0.93")
        axis.tick_params(colors="0.5")
        for spine in axis.spines.values():
            spine.set_color("0.7")


def _plot_curve(axis, x: np.ndarray, y: np.ndarray, **style: Any) -> None:
    """Plot y against sorted x as a line, with point markers where x takes a single value and no line shows."""
    if np.unique(x[np.isfinite(x)]).size < 2:
        style = {**style, "marker": "o", "markersize": 2.5}
    axis.plot(x, y, **style)


def _check_layers(layers: Sequence[Mapping[str, Any]]) -> list[_EdgeLayer]:
    """Convert each layer dict to arrays, raising on a missing key, a shape mismatch or invalid importance."""
    if len(layers) == 0:
        raise ValueError("layers is empty. Pass one dict of edge data per KAN layer.")
    checked = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, Mapping):
            raise TypeError(f"layer {index}: expected a dict of numpy arrays, got {type(layer).__name__}")
        missing = [key for key in _REQUIRED_KEYS if key not in layer]
        if missing:
            raise ValueError(
                f"layer {index}: missing {', '.join(missing)}. Each layer needs the keys {', '.join(_REQUIRED_KEYS)}."
            )
        checked.append(_check_layer(index, layer))

    for index in range(1, len(checked)):
        previous, current = checked[index - 1], checked[index]
        if current.n_inputs != previous.n_outputs:
            raise ValueError(
                f"layer {index}: x has shape {current.x.shape} but layer {index - 1} y has shape "
                f"{previous.y.shape}. Layer {index} needs one input per output of layer {index - 1}."
            )
    return checked


def _check_layer(index: int, layer: Mapping[str, Any]) -> _EdgeLayer:
    """Convert one layer dict to arrays, checking every shape against x (N, I) and y (N, O, I)."""
    x = np.asarray(layer["x"], dtype=float)
    y = np.asarray(layer["y"], dtype=float)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"layer {index}: x has shape {x.shape}, expected (N, I) with N and I at least 1")
    n_points, n_inputs = x.shape
    if y.ndim != 3 or y.shape[0] != n_points or y.shape[2] != n_inputs or y.shape[1] == 0:
        raise ValueError(
            f"layer {index}: y has shape {y.shape} but x has shape {x.shape}. "
            f"Expected (N, O, I) = ({n_points}, O, {n_inputs}) with O at least 1."
        )
    edge_shape = y.shape[1:]

    arrays = {}
    for name in ("importance", "active", "labels", "fit_labels"):
        if name not in layer or layer[name] is None:
            arrays[name] = None
            continue
        array = np.asarray(layer[name])
        if array.shape != edge_shape:
            raise ValueError(
                f"layer {index}: {name} has shape {array.shape} but y has shape {y.shape}. "
                f"Expected (O, I) = {edge_shape}."
            )
        arrays[name] = array

    importance = arrays["importance"].astype(float)
    if not np.all(np.isfinite(importance)) or np.any(importance < 0):
        raise ValueError(
            f"layer {index}: importance must be finite and non-negative, got values from "
            f"{np.nanmin(importance)} to {np.nanmax(importance)}"
        )

    fit = None
    if layer.get("fit") is not None:
        fit = np.asarray(layer["fit"], dtype=float)
        if fit.shape != y.shape:
            raise ValueError(f"layer {index}: fit has shape {fit.shape} but y has shape {y.shape}. They must match.")

    return _EdgeLayer(
        x=x,
        y=y,
        importance=importance,
        active=arrays["active"].astype(bool),
        labels=arrays["labels"].astype(str),
        fit=fit,
        fit_labels=None if arrays["fit_labels"] is None else arrays["fit_labels"].astype(str),
    )


def _node_names(names: Sequence[str] | None, defaults: list[str], argument: str, kind: str) -> list[str]:
    """Check that names has one entry per default and return it as strings, or the defaults when names is None."""
    if names is None:
        return defaults
    names = [str(name) for name in names]
    if len(names) != len(defaults):
        raise ValueError(
            f"{argument} has {_count(len(names), 'name')}, expected {len(defaults)}, one per network {kind}"
        )
    return names


def _numbered(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{number}" for number in range(1, count + 1)]


def _importance_alpha(importance: float) -> float:
    """Map importance to an opacity that is linear in log10(importance): 1 at 1, _FAINT_ALPHA at 0.01 and below."""
    if importance <= 0.01:
        return _FAINT_ALPHA
    decades_below_one = -math.log10(min(float(importance), 1.0))
    return _FAINT_ALPHA + (1.0 - _FAINT_ALPHA) * (1.0 - decades_below_one / 2.0)


def _hollow_nodes(layers: list[_EdgeLayer], row: int) -> np.ndarray:
    """Mark the nodes of node row ``row`` whose incoming edges or outgoing edges are all pruned."""
    count = layers[0].n_inputs if row == 0 else layers[row - 1].n_outputs
    hollow = np.zeros(count, dtype=bool)
    if row > 0:
        hollow |= ~layers[row - 1].active.any(axis=1)
    if row < len(layers):
        hollow |= ~layers[row].active.any(axis=0)
    return hollow


def _grid_columns(n_inputs: int, n_edges: int) -> int:
    """Return the number of panel columns for one layer, at most _GRID_MAX_COLUMNS.

    Where it fits, the number is a multiple of n_inputs, so that each row contains whole output nodes.
    """
    if n_inputs <= _GRID_MAX_COLUMNS:
        return min(n_edges, n_inputs * (_GRID_MAX_COLUMNS // n_inputs))
    return _GRID_MAX_COLUMNS


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
