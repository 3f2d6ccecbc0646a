"""Move and refine the knots of spline edge functions while keeping the functions they represent.

Shape letters: N samples, I inputs (one knot vector each), O outputs, K knots,
M = K - k - 1 coefficients per edge, D derivative orders in a fit.

Two operations change a KAN layer's grid:

- Grid update places the G + 1 grid points of each input at a mix of uniform and sample-quantile
  positions, so that the intervals follow the distribution of the layer's inputs.
- Grid extension refines G to G'. The new grid points interpolate the old ones along their index, so
  when G' is a multiple of G every old knot stays a knot. A spline on a knot vector is then exactly a
  spline on the refined vector (knot insertion). The least-squares fit below recovers it to
  round-off. Because the k outer knots on each side are kept, this is true outside the grid range too.

Both refit the coefficients by least squares on the old spline's values and, scaled by h^d, on its
first and second derivatives. Matching derivatives matters for physics-informed losses: a fit of
values alone can change u_xx enough to multiply a PDE residual after the update.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from kanpde.spline import local_basis

# Per input, the fit uses at most this many samples (evenly spaced order statistics of the input),
# which bounds the least-squares memory for wide layers and large point sets.
MAX_FIT_SAMPLES = 4096

# Grid points closer than this fraction of the mean spacing count as coinciding.
MIN_RELATIVE_SPACING = 1e-6


@dataclass(frozen=True)
class RefitReport:
    """How much a refit changed the edge splines.

    Attributes:
        max_change: max over edges and fit points of |new - old| spline value.
        max_value: max over edges and fit points of |old| spline value, the scale of ``max_change``.
        fallback_inputs: indices of inputs whose samples were too concentrated for an adaptive grid;
            they kept their previous knots.
    """

    max_change: float
    max_value: float
    fallback_inputs: tuple[int, ...] = ()

    @property
    def relative_change(self) -> float:
        return self.max_change / self.max_value if self.max_value > 0 else self.max_change


def dense_basis(x: Tensor, knots: Tensor, spline_order: int, n_derivatives: int) -> Tensor:
    """Evaluate every basis function and its derivatives: x (N, I) -> (N, I, n_derivatives + 1, M).

    Built from ``local_basis`` by scattering the k + 1 local values into their columns.
    """
    k = spline_order
    n_basis = knots.shape[1] - k - 1
    span, values = local_basis(x, knots, k, n_derivatives)  # (N, I), (N, I, D, k+1)
    # Column span + r of a (k + M + k)-wide array is coefficient span - k + r, padding included.
    columns = span.unsqueeze(-1) + torch.arange(k + 1, device=x.device)  # (N, I, k+1)
    columns = columns.unsqueeze(2).expand_as(values)
    padded = torch.zeros(*values.shape[:3], n_basis + 2 * k, dtype=values.dtype, device=values.device)
    padded.scatter_(-1, columns, values)
    return padded[..., k : k + n_basis]


def adaptive_knots(
    x: Tensor, old_knots: Tensor, grid_size: int, spline_order: int, uniform_weight: float
) -> tuple[Tensor, tuple[int, ...]]:
    """Place grid points at a mix of uniform and quantile positions of the samples, per input.

    Grid point j of input i is w * (a + (b - a) j / G) + (1 - w) * q_i(j / G), where [a, b] is the
    range of the samples of input i, q_i their quantile function and w = ``uniform_weight``. The
    k outer knots on each side continue with the uniform spacing (b - a) / G, so every sample lies
    inside the grid range, outliers included.

    Args:
        x: samples (N, I).
        old_knots: current knots (I, K); an input whose samples span no interval keeps them.
        grid_size: number of grid intervals G.
        spline_order: order k.
        uniform_weight: w in [0, 1]; 1 gives a uniform grid over the sample range, 0 pure quantiles.

    Returns:
        The knots (I, G + 2k + 1) and the indices of inputs that kept their old knots.
    """
    k = spline_order
    levels = torch.linspace(0, 1, grid_size + 1, dtype=x.dtype, device=x.device)
    lower = x.min(dim=0).values  # (I,)
    upper = x.max(dim=0).values
    spacing = (upper - lower) / grid_size
    uniform = lower + (upper - lower) * levels.unsqueeze(1)  # (G + 1, I)
    quantile = torch.quantile(x, levels, dim=0)  # (G + 1, I)
    points = (uniform_weight * uniform + (1 - uniform_weight) * quantile).T  # (I, G + 1)
    # The mix of a strictly and a weakly increasing sequence is strictly increasing unless w = 0,
    # or unless the range itself is empty; both fall back to the old knots below.
    steps = torch.arange(1, k + 1, dtype=x.dtype, device=x.device)
    before = points[:, :1] - spacing.unsqueeze(1) * steps.flip(0)
    after = points[:, -1:] + spacing.unsqueeze(1) * steps
    knots = torch.cat([before, points, after], dim=1)

    scale = torch.maximum(upper.abs(), lower.abs()).clamp_min(1.0)
    degenerate = (spacing <= MIN_RELATIVE_SPACING * scale) | (
        knots.diff(dim=1).min(dim=1).values <= MIN_RELATIVE_SPACING * spacing
    )
    fallback = tuple(int(i) for i in torch.nonzero(degenerate).flatten())
    if fallback:
        if old_knots.shape[1] != knots.shape[1]:
            raise ValueError("a grid update cannot change the number of knots")
        knots[degenerate] = old_knots[degenerate].to(knots.dtype)
    return knots, fallback


def refined_knots(knots: Tensor, grid_size: int, new_grid_size: int, spline_order: int) -> Tensor:
    """Refine the grid points of each knot vector from G to G' intervals, keeping the outer knots.

    New grid point j sits at fractional index j G / G' of the old grid points, interpolated linearly,
    so a G' that is a multiple of G splits every old interval evenly and keeps all old knots.

    Args:
        knots: (I, G + 2k + 1).
        grid_size, new_grid_size: G and G'.
        spline_order: k.

    Returns:
        Knots (I, G' + 2k + 1).
    """
    k = spline_order
    points = knots[:, k : k + grid_size + 1]  # (I, G + 1)
    position = torch.arange(new_grid_size + 1, dtype=knots.dtype, device=knots.device) * (grid_size / new_grid_size)
    left = position.floor().long().clamp(max=grid_size - 1)
    fraction = position - left.to(knots.dtype)
    new_points = points[:, left] * (1 - fraction) + points[:, left + 1] * fraction
    return torch.cat([knots[:, :k], new_points, knots[:, k + grid_size + 1 :]], dim=1)


def fit_points(knots: Tensor, spline_order: int) -> Tensor:
    """Return k + 1 points inside every knot interval of each input, shaped (N, I).

    Enough points per interval make the collocation system determine any spline on these knots.
    """
    offsets = (torch.arange(spline_order + 1, dtype=knots.dtype, device=knots.device) + 0.5) / (spline_order + 1)
    left, width = knots[:, :-1], knots.diff(dim=1)  # (I, K - 1)
    points = left.unsqueeze(-1) + width.unsqueeze(-1) * offsets  # (I, K - 1, k + 1)
    return points.flatten(1).T.contiguous()


def subsample(x: Tensor, count: int) -> Tensor:
    """Keep ``count`` evenly spaced order statistics of each input's samples: (N, I) -> (count, I)."""
    if x.shape[0] <= count:
        return x
    index = torch.linspace(0, x.shape[0] - 1, count, device=x.device).round().long()
    return x.sort(dim=0).values[index]


def refit_coefficients(
    x: Tensor,
    old_knots: Tensor,
    coefficients: Tensor,
    new_knots: Tensor,
    spline_order: int,
    fit_derivatives: int = 2,
) -> tuple[Tensor, RefitReport]:
    """Fit coefficients on new knots so that each edge spline matches the old one at the points x.

    Minimizes, per input i and output o,
        sum_n sum_{d <= D} (h_i^d (s'_{o,i})^{(d)}(x_n) - h_i^d s_{o,i}^{(d)}(x_n))^2
    over the new coefficients, where s = sum_m c_m B_m on the old knots, s' the same on the new ones,
    D = ``fit_derivatives`` and h_i the mean new grid spacing (so each row has the units of a value).
    The solve runs in float64 on the CPU with a rank-revealing least-squares driver, so intervals
    without samples cannot make it fail.

    Args:
        x: fit points (N, I).
        old_knots: (I, K), coefficients: (O, I, K - k - 1).
        new_knots: (I, K').
        spline_order: k.
        fit_derivatives: D, 0 to 2.

    Returns:
        New coefficients (O, I, K' - k - 1) in the dtype and device of ``coefficients``, and a report
        of the largest change of any edge spline at the points.
    """
    if not 0 <= fit_derivatives <= 2:
        raise ValueError(f"fit_derivatives must be 0, 1 or 2, got {fit_derivatives!r}")
    k = spline_order
    float64 = {"dtype": torch.float64, "device": "cpu"}
    x = x.detach().to(**float64)
    old_knots, new_knots = old_knots.detach().to(**float64), new_knots.detach().to(**float64)
    old_coefficients = coefficients.detach().to(**float64)

    old_basis = dense_basis(x, old_knots, k, fit_derivatives)  # (N, I, D+1, M)
    new_basis = dense_basis(x, new_knots, k, fit_derivatives)  # (N, I, D+1, M')
    n_inner = new_knots.shape[1] - 2 * k - 1
    spacing = (new_knots[:, -k - 1] - new_knots[:, k]) / n_inner  # (I,)
    orders = torch.arange(fit_derivatives + 1, **float64)
    row_scale = spacing.unsqueeze(-1) ** orders  # (I, D+1)

    target = torch.einsum("nidm,oim->nido", old_basis, old_coefficients) * row_scale[..., None]
    design = new_basis * row_scale[..., None]
    # One least-squares problem per input: rows are (sample, derivative), right-hand sides outputs.
    design_i = design.permute(1, 0, 2, 3).flatten(1, 2)  # (I, N (D+1), M')
    target_i = target.permute(1, 0, 2, 3).flatten(1, 2)  # (I, N (D+1), O)
    solution = torch.linalg.lstsq(design_i, target_i, driver="gelsd").solution  # (I, M', O)
    new_coefficients = solution.permute(2, 0, 1)  # (O, I, M')

    old_values = target[:, :, 0]  # (N, I, O), d = 0 rows carry scale 1
    new_values = torch.einsum("nim,oim->nio", new_basis[:, :, 0], new_coefficients)
    report = RefitReport(
        max_change=float((new_values - old_values).abs().max()) if x.numel() else 0.0,
        max_value=float(old_values.abs().max()) if x.numel() else 0.0,
    )
    return new_coefficients.to(dtype=coefficients.dtype, device=coefficients.device).contiguous(), report
