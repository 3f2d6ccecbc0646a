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
