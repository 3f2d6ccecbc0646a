"""Figures of a run: solution fields and training curves. Only the command line calls these."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

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
    right.set_title("error against the reference")
    right.legend()

    _mark_stages(left, history)
    _mark_stages(right, history)
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
