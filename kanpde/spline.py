"""B-spline bases on per-input knot vectors.

Shape letters: N points, I inputs (one knot vector each), K knots, M = K - k - 1 basis functions.

A grid of G intervals over [a, b] with spline order k uses K = G + 2k + 1 knots: the G + 1 grid
points plus k extension knots on each side, so that all G + k basis functions are complete
(sum to one) on [a, b]. Outside the extended knot span [t_0, t_{K-1}] every basis function is zero.
"""

from __future__ import annotations

import torch
from torch import Tensor


def uniform_knots(
    grid_size: int,
    spline_order: int,
    grid_range: tuple[float, float],
    n_inputs: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Build uniform knot vectors, one per input, extended by ``spline_order`` knots on each side.

    Args:
        grid_size: number of grid intervals G, at least 1.
        spline_order: polynomial order k of the splines (3 for cubic), at least 0.
        grid_range: (a, b) with a < b, the interval on which the basis is complete.
        n_inputs: number of knot vectors I.

    Returns:
        Knots shaped (I, G + 2k + 1), increasing along the last axis.

    Raises:
        ValueError: for a grid size below 1, a negative order or an empty range.
    """
    check_grid(grid_size, spline_order, grid_range)
    lower, upper = float(grid_range[0]), float(grid_range[1])
    spacing = (upper - lower) / grid_size
    steps = torch.arange(-spline_order, grid_size + spline_order + 1, dtype=dtype, device=device)
    knots = lower + spacing * steps
    return knots.unsqueeze(0).repeat(n_inputs, 1)


def check_grid(grid_size: int, spline_order: int, grid_range: tuple[float, float]) -> None:
    """Raise ``ValueError`` unless the grid size, spline order and range describe a valid grid."""
    if isinstance(grid_size, bool) or not isinstance(grid_size, int) or grid_size < 1:
        raise ValueError(
            f"grid_size must be an integer of at least 1 (the number of spline intervals), "
            f"got {grid_size!r}; set model.grid_size to 1 or more, for example 5"
        )
    if isinstance(spline_order, bool) or not isinstance(spline_order, int) or spline_order < 0:
        raise ValueError(
            f"spline_order must be a non-negative integer (3 for cubic splines), got {spline_order!r}"
        )
    if len(grid_range) != 2 or not float(grid_range[0]) < float(grid_range[1]):
        raise ValueError(
            f"grid_range must be two numbers (a, b) with a < b, got {grid_range!r}; "
            f"for example [-1, 1]"
        )


def bspline_basis(x: Tensor, knots: Tensor, spline_order: int) -> Tensor:
    """Evaluate every B-spline basis function at every point by the Cox-de Boor recursion.

    B_{j,0}(x) = 1 if t_j <= x < t_{j+1} else 0, and
    B_{j,p}(x) = (x - t_j) / (t_{j+p} - t_j) B_{j,p-1}(x)
                 + (t_{j+p+1} - x) / (t_{j+p+1} - t_{j+1}) B_{j+1,p-1}(x).

    The recursion is written in plain tensor operations so that autograd can differentiate it with
    respect to ``x`` to any order (the result is a piecewise polynomial of degree ``spline_order``).

    Args:
        x: points shaped (N, I).
        knots: strictly increasing knot vectors shaped (I, K).
        spline_order: order k, with K >= k + 2.

    Returns:
        Basis values shaped (N, I, K - k - 1).
    """
    x = x.unsqueeze(-1)  # (N, I, 1)
    t = knots.unsqueeze(0)  # (1, I, K)

    # Half-open intervals [t_j, t_{j+1}): a point exactly on a knot belongs to the interval on its right.
    basis = ((x >= t[..., :-1]) & (x < t[..., 1:])).to(x.dtype)
    for p in range(1, spline_order + 1):
        left = (x - t[..., : -(p + 1)]) / (t[..., p:-1] - t[..., : -(p + 1)]) * basis[..., :-1]
        right = (t[..., p + 1 :] - x) / (t[..., p + 1 :] - t[..., 1:-p]) * basis[..., 1:]
        basis = left + right
    return basis
