"""Error metrics of a predicted field against a reference, on the same points."""

from __future__ import annotations

import torch
from torch import Tensor


def field_errors(
    u: Tensor,
    u_exact: Tensor,
    gradient: Tensor | None = None,
    gradient_exact: Tensor | None = None,
) -> dict[str, float]:
    """Compare a predicted field with the exact one.

    Args:
        u, u_exact: values shaped (N, 1).
        gradient, gradient_exact: optional gradients shaped (N, D).

    Returns:
        ``mse`` = mean (u - u_exact)^2 (the KAN paper's "L2 squared"),
        ``rel_l2`` = ||u - u_exact||_2 / ||u_exact||_2 over the points,
        ``max_abs`` = max |u - u_exact|,
        and, with gradients, ``h1_squared`` = mse + mean over points of |grad u - grad u_exact|^2
        (the squared Euclidean norm of the gradient error, summed over components).
    """
    if u.shape != u_exact.shape:
        raise ValueError(f"u {tuple(u.shape)} and u_exact {tuple(u_exact.shape)} must have the same shape")
    error = (u - u_exact).detach().double()
    reference_norm = torch.linalg.vector_norm(u_exact.detach().double())
    metrics = {
        "mse": float(error.pow(2).mean()),
        "rel_l2": float(torch.linalg.vector_norm(error) / reference_norm),
        "max_abs": float(error.abs().max()),
    }
    if gradient is not None and gradient_exact is not None:
        gradient_error = (gradient - gradient_exact).detach().double()
        metrics["h1_squared"] = metrics["mse"] + float(gradient_error.pow(2).sum(1).mean())
    return metrics
