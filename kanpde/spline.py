"""B-spline bases on per-input knot vectors.

Shape letters: N points, I inputs (one knot vector each), K knots, M = K - k - 1 basis functions.

A grid of G intervals over [a, b] with spline order k uses K = G + 2k + 1 knots: the G + 1 grid
points plus k extension knots on each side, so that all G + k basis functions are complete
(sum to one) on [a, b]. Outside the extended knot span [t_0, t_{K-1}] every basis function is zero.
"""

from __future__ import annotations

import math

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


def pad_knots(knots: Tensor, count: int) -> Tensor:
    """Extend knot vectors (I, K) by ``count`` knots on each side, continuing the end spacings.

    Local evaluation near the ends of the knot span refers to knots beyond it. They only shape basis
    functions whose coefficients are zero, but they must be distinct to keep every division finite.
    """
    if count == 0:
        return knots
    steps = torch.arange(1, count + 1, dtype=knots.dtype, device=knots.device)
    first_spacing = knots[:, 1:2] - knots[:, 0:1]
    last_spacing = knots[:, -1:] - knots[:, -2:-1]
    before = knots[:, 0:1] - first_spacing * steps.flip(0)
    after = knots[:, -1:] + last_spacing * steps
    return torch.cat([before, knots, after], dim=1)


def is_uniform(knots: Tensor) -> bool:
    """Return whether every knot vector (I, K) is evenly spaced, to round-off."""
    n_knots = knots.shape[1]
    spacing = (knots[:, -1:] - knots[:, :1]) / (n_knots - 1)
    steps = torch.arange(n_knots, dtype=knots.dtype, device=knots.device)
    expected = knots[:, :1] + spacing * steps
    scale = knots.abs().max().clamp_min(1.0)
    return bool((knots - expected).abs().max() <= 1e3 * torch.finfo(knots.dtype).eps * scale)


def local_basis(x: Tensor, knots: Tensor, spline_order: int, n_derivatives: int = 0) -> tuple[Tensor, Tensor]:
    """Evaluate only the k + 1 B-splines that can be nonzero at each point, and their derivatives.

    A point x with t_j <= x < t_{j+1} lies in the support of B_{j-k}, ..., B_j only. On each interval
    these are fixed polynomials of the local coordinate u = (x - t_j) / (t_{j+1} - t_j). On evenly
    spaced knots all intervals share one matrix of power coefficients (``cardinal_polynomials``),
    applied with one matrix product. On other knots each interval has its own matrix
    (``interval_polynomials``), applied with Horner's rule. The matrices come from de Boor's triangular recursion
    (The NURBS Book, Piegl and Tiller, algorithms A2.2 and A2.3). Results equal ``bspline_basis``
    (and its derivatives) to round-off.

    Args:
        x: points shaped (N, I).
        knots: strictly increasing knot vectors shaped (I, K).
        spline_order: order k.
        n_derivatives: highest derivative order to return (0, 1 or 2).

    Returns:
        ``span``, (N, I) int64: for point n and input i, local function r (0 <= r <= k) is
        B_{span - k + r}. Functions with an index outside 0..K-k-2 do not exist, so callers pad the
        coefficients with k zeros on each side and read coefficient ``span + r`` of the padded array.
        ``values``, shaped (N, I, n_derivatives + 1, k + 1): values[:, :, n] is the n-th derivative
        of the local functions with respect to x, zero for points outside [t_0, t_{K-1}).
    """
    if is_uniform(knots):
        return _local_basis_uniform(x, knots, spline_order, n_derivatives)
    return _local_basis_intervals(x, knots, spline_order, n_derivatives)


def cardinal_polynomials(spline_order: int, n_derivatives: int, dtype: torch.dtype, device) -> Tensor:
    """Return P (k + 1, (n_derivatives + 1) * (k + 1)) with [1, u, ..., u^k] @ P = the local functions
    and their first n_derivatives derivatives with respect to u, on evenly spaced knots.

    Column block d, entry r is d^d/du^d of B_{j-k+r} on [t_j, t_{j+1}) in terms of u = (x - t_j) / h.
    """
    key = (spline_order, n_derivatives, dtype, str(device))
    if key not in _CARDINAL_CACHE:
        k = spline_order
        # Sample the recursion at k + 1 distinct local coordinates and solve for power coefficients.
        samples = (torch.arange(k + 1, dtype=torch.float64) + 0.5) / (k + 1)
        knots = torch.arange(-k, k + 2, dtype=torch.float64).unsqueeze(0)  # t_a = a - k, span j = k
        _, values = _local_basis_general(samples.unsqueeze(1), knots, k, 0)
        vandermonde = samples.unsqueeze(1) ** torch.arange(k + 1, dtype=torch.float64)
        coefficients = torch.linalg.solve(vandermonde, values[:, 0, 0, :])  # (power a, function r)
        blocks = [coefficients]
        powers = torch.arange(k + 1, dtype=torch.float64).unsqueeze(1)
        for _ in range(n_derivatives):
            # d/du of sum_a c_a u^a moves a * c_a to power a - 1.
            blocks.append(torch.nn.functional.pad((powers * blocks[-1])[1:], (0, 0, 0, 1)))
        _CARDINAL_CACHE[key] = torch.cat(blocks, dim=1).to(dtype=dtype, device=device)
    return _CARDINAL_CACHE[key]


_CARDINAL_CACHE: dict[tuple, Tensor] = {}


def interval_polynomials(knots: Tensor, spline_order: int) -> Tensor:
    """Return P (I, K - 1, k + 1, k + 1) with [1, u, ..., u^k] @ P[i, j] = the local functions of
    input i on [t_j, t_{j+1}) as polynomials of u = (x - t_j) / (t_{j+1} - t_j).
    """
    k = spline_order
    n_knots = knots.shape[1]
    # Sample the recursion at k + 1 local coordinates of every interval and solve for power coefficients.
    samples = (torch.arange(k + 1, dtype=knots.dtype, device=knots.device) + 0.5) / (k + 1)
    width = knots.diff(dim=1)  # (I, K - 1)
    points = knots[:, :-1].unsqueeze(-1) + width.unsqueeze(-1) * samples  # (I, K - 1, k + 1)
    _, values = _local_basis_general(points.flatten(1).T.contiguous(), knots, k, 0)  # (S, I, 1, k+1)
    values = values[:, :, 0].unflatten(0, (n_knots - 1, k + 1)).permute(2, 0, 1, 3)  # (I, K-1, s, r)
    vandermonde = samples.unsqueeze(1) ** torch.arange(k + 1, dtype=knots.dtype, device=knots.device)
    return torch.linalg.solve(vandermonde, values)  # (I, K - 1, power a, function r)


def _local_basis_intervals(x: Tensor, knots: Tensor, k: int, n_derivatives: int) -> tuple[Tensor, Tensor]:
    n_inputs, n_knots = knots.shape
    span = torch.searchsorted(knots, x.T.contiguous(), right=True).T - 1  # (N, I)
    inside = (span >= 0) & (span <= n_knots - 2)
    span = span.clamp(0, n_knots - 2)
    left = knots[:, :-1].T.gather(0, span)  # (N, I): t_span of input i
    width = knots.diff(dim=1).T.gather(0, span)
    local = ((x - left) / width).nan_to_num(0.0).unsqueeze(-1)  # (N, I, 1)

    # Points outside the knot span read an extra all-zero table, so all their values are zero.
    table = interval_polynomials(knots, k)  # (I, K - 1, k + 1, k + 1)
    table = torch.nn.functional.pad(table, (0, 0, 0, 0, 0, 1))
    rows = torch.where(inside, span, n_knots - 1)
    gathered = table[torch.arange(n_inputs, device=x.device), rows]  # (N, I, power a, function r)

    # Horner's rule: d^d/dx^d sum_a c_a u^a = width^-d sum_{a >= d} a! / (a - d)! c_a u^(a - d).
    scale = width.reciprocal().unsqueeze(-1)
    derivatives = []
    factor = torch.ones_like(scale)
    for d in range(n_derivatives + 1):
        if d > k:
            derivatives.append(torch.zeros_like(gathered[..., 0, :]))
            continue
        value = math.perm(k, d) * gathered[..., k, :]
        for a in range(k - 1, d - 1, -1):
            value = value * local + math.perm(a, d) * gathered[..., a, :]
        derivatives.append(value * factor if d else value)
        factor = factor * scale
    return span, torch.stack(derivatives, dim=2)  # (N, I, n + 1, k + 1)


def _local_basis_uniform(x: Tensor, knots: Tensor, k: int, n_derivatives: int) -> tuple[Tensor, Tensor]:
    n_knots = knots.shape[1]
    origin = knots[:, 0]
    spacing = (knots[:, -1] - knots[:, 0]) / (n_knots - 1)  # (I,)
    scaled = (x - origin) / spacing
    inside = (scaled >= 0) & (scaled < n_knots - 1)
    # NaN inputs get span 0 (their outputs stay NaN through the SiLU term), so the index stays valid.
    span_float = scaled.nan_to_num(0.0).floor().clamp(0, n_knots - 2)
    local = scaled - span_float  # in [0, 1) inside the knot span

    # Powers by repeated products: autograd's rule for u ** a gives 0 * inf = nan at u = 0, a = 0.
    # Zeroing the powers of outside points zeroes all their basis values and derivatives.
    local = local * inside.to(x.dtype)
    powers = [inside.to(x.dtype)]
    for _ in range(k):
        powers.append(powers[-1] * local)
    powers = torch.stack(powers, dim=-1)
    # Derivatives of order above k vanish, and their columns of the polynomial matrix are zero.
    polynomials = cardinal_polynomials(k, n_derivatives, x.dtype, x.device)
    values = (powers @ polynomials).unflatten(-1, (n_derivatives + 1, k + 1))  # (N, I, n+1, k+1)
    if n_derivatives:
        # d^n/dx^n = h^-n d^n/du^n.
        orders = torch.arange(n_derivatives + 1, dtype=x.dtype, device=x.device)
        values = values * spacing.reciprocal().unsqueeze(-1).pow(orders).unsqueeze(-1)
    return span_float.long(), values


def _local_basis_general(x: Tensor, knots: Tensor, k: int, n_derivatives: int) -> tuple[Tensor, Tensor]:
    n_knots = knots.shape[1]
    span = torch.searchsorted(knots, x.T.contiguous(), right=True).T - 1
    inside = (span >= 0) & (span <= n_knots - 2)
    span = span.clamp(0, n_knots - 2)
    padded = pad_knots(knots, k + 1)  # column a is t_{a-k-1}
    width = padded.shape[1]
    offsets = torch.arange(2 * k + 2, device=x.device)
    rows = torch.arange(knots.shape[0], device=x.device).unsqueeze(-1) * width
    # window[..., a] = t_{j-k+a} for a = 0 .. 2k+1.
    window = padded.flatten()[rows + span.unsqueeze(-1) + 1 + offsets]
    left = x.unsqueeze(-1) - window[..., 1 : k + 1].flip(-1)  # x - t_{j+1-s}, s = 1..k
    right = window[..., k + 1 : 2 * k + 1] - x.unsqueeze(-1)  # t_{j+s} - x, s = 1..k

    # levels[p] contains the p + 1 functions of order p that are nonzero on the span.
    levels = [torch.ones_like(x).unsqueeze(-1)]
    for p in range(1, k + 1):
        right_p = right[..., :p]
        left_p = left[..., :p].flip(-1)
        ratio = levels[-1] / (right_p + left_p)
        levels.append(_pad_last(right_p * ratio, 0, 1) + _pad_last(left_p * ratio, 1, 0))

    def differentiate(values: Tensor, order: int) -> Tensor:
        """Map the derivatives of the order-1 functions to those of the order-p functions."""
        lower = window[..., k : k + order + 1] - window[..., k - order : k + 1]
        upper = window[..., k + 1 : k + order + 2] - window[..., k - order + 1 : k + 2]
        return order * (_pad_last(values, 1, 0) / lower - _pad_last(values, 0, 1) / upper)

    mask = inside.unsqueeze(-1).to(x.dtype)
    values = [levels[k] * mask]
    for n in range(1, n_derivatives + 1):
        if n > k:
            values.append(torch.zeros_like(values[0]))
            continue
        derivative = levels[k - n]
        for order in range(k - n + 1, k + 1):
            derivative = differentiate(derivative, order)
        values.append(derivative * mask)
    return span, torch.stack(values, dim=2)


def _pad_last(values: Tensor, before: int, after: int) -> Tensor:
    """Pad the last axis with zeros."""
    return torch.nn.functional.pad(values, (before, after))
