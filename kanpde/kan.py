"""Kolmogorov-Arnold Network: a learnable univariate function on every edge.

Shape letters: N points, I inputs, O outputs, M = G + k basis functions per edge.

Each layer maps x (N, I) to y (N, O) with

    y_o = sum_i phi_{o,i}(x_i),
    phi_{o,i}(x) = w_base[o, i] * silu(x) + w_spline[o, i] * sum_m c[o, i, m] * B_m(x),

where B_m are the B-splines of order k on the knots of input i (G intervals over the grid range,
extended by k knots on each side). The SiLU term keeps every edge non-constant, and the only part
that acts outside the extended knot span, where all B_m are zero.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from kanpde.spline import bspline_basis, check_grid, uniform_knots


def check_widths(widths: Sequence[int]) -> list[int]:
    """Return ``widths`` as a list of ints, raising ``ValueError`` unless it has two or more positive entries."""
    widths = list(widths)
    valid = len(widths) >= 2 and all(
        isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths
    )
    if not valid:
        raise ValueError(
            f"widths must list at least two positive integers (inputs, hidden..., outputs), "
            f"got {widths!r}; for example [2, 10, 1]"
        )
    return widths


class KANLayer(nn.Module):
    """One KAN layer with a B-spline plus SiLU function on each of its I x O edges.

    Args:
        in_features: number of inputs I.
        out_features: number of outputs O.
        grid_size: number of grid intervals G.
        spline_order: spline order k (3 for cubic).
        grid_range: interval (a, b) that the initial uniform grid covers.
        noise_scale: standard deviation of the initial spline coefficients.
        generator: random generator for the initialization, for reproducible models.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0),
        noise_scale: float = 0.1,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        check_grid(grid_size, spline_order, grid_range)
        if noise_scale < 0:
            raise ValueError(f"noise_scale must be non-negative, got {noise_scale!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.grid_range = (float(grid_range[0]), float(grid_range[1]))
        self.noise_scale = float(noise_scale)
        factory = {"dtype": dtype, "device": device}

        # Knots are a buffer, not a parameter: they move only through grid updates, and they are
        # saved in the state dict so that a checkpoint restores adapted grids exactly.
        self.register_buffer(
            "knots", uniform_knots(grid_size, spline_order, grid_range, in_features, **factory)
        )

        n_basis = grid_size + spline_order
        coefficients = torch.randn(out_features, in_features, n_basis, generator=generator, **factory)
        self.coefficients = nn.Parameter(coefficients * noise_scale)

        # Uniform in (-1, 1) / sqrt(I), so that the SiLU part of a layer starts with unit-order output.
        base = torch.rand(out_features, in_features, generator=generator, **factory) * 2 - 1
        self.base_weight = nn.Parameter(base / in_features**0.5)
        self.spline_weight = nn.Parameter(torch.ones(out_features, in_features, **factory))

    def basis(self, x: Tensor) -> Tensor:
        """Evaluate the spline basis of each input: (N, I) -> (N, I, M)."""
        return bspline_basis(x, self.knots, self.spline_order)

    def forward(self, x: Tensor) -> Tensor:
        """Map x (N, I) to y (N, O), summing the edge functions over the inputs."""
        basis = self.basis(x)  # (N, I, M)

        # Fold the per-edge spline weight into the coefficients, then contract inputs and basis
        # functions in one matrix product: (N, I*M) @ (I*M, O).
        weighted = self.spline_weight.unsqueeze(-1) * self.coefficients  # (O, I, M)
        spline = basis.flatten(1) @ weighted.flatten(1).T

        return nn.functional.silu(x) @ self.base_weight.T + spline

    def edge_activations(self, x: Tensor) -> Tensor:
        """Evaluate every edge function phi_{o,i}(x_i) separately: (N, I) -> (N, O, I)."""
        basis = self.basis(x)  # (N, I, M)
        spline = torch.einsum("nim,oim->noi", basis, self.coefficients) * self.spline_weight
        base = nn.functional.silu(x).unsqueeze(1) * self.base_weight  # (N, O, I)
        return base + spline

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"grid_size={self.grid_size}, spline_order={self.spline_order}"
        )


class KAN(nn.Module):
    """A stack of KAN layers built from a width list such as [2, 10, 1].

    Args:
        widths: number of nodes per layer, inputs first and outputs last.
        grid_size: number of grid intervals G of every layer, at least 1.
        spline_order: spline order k of every layer (3 for cubic); second-order PDEs need k >= 2.
        grid_range: interval (a, b) that the initial uniform grids cover.
        noise_scale: standard deviation of the initial spline coefficients.
        seed: seed of the initialization, or None to draw from torch's global generator.
        dtype: floating-point type of parameters and knots (torch.float32 or torch.float64).

    Raises:
        ValueError: for a width list with fewer than two entries or a non-positive entry, or an
            invalid grid (see ``kanpde.spline.check_grid``).
    """

    kind = "kan"

    def __init__(
        self,
        widths: Sequence[int],
        grid_size: int = 5,
        spline_order: int = 3,
        grid_range: Sequence[float] = (-1.0, 1.0),
        noise_scale: float = 0.1,
        *,
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.widths = check_widths(widths)
        check_grid(grid_size, spline_order, tuple(grid_range))
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.grid_range = (float(grid_range[0]), float(grid_range[1]))
        self.noise_scale = float(noise_scale)

        generator = None
        if seed is not None:
            generator = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleList(
            KANLayer(
                n_in,
                n_out,
                grid_size,
                spline_order,
                self.grid_range,
                noise_scale,
                generator=generator,
                dtype=dtype,
            )
            for n_in, n_out in zip(self.widths[:-1], self.widths[1:])
        )
        if device is not None:
            self.to(device)

    @property
    def input_dim(self) -> int:
        return self.widths[0]

    @property
    def output_dim(self) -> int:
        return self.widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        """Map points x (N, widths[0]) to outputs (N, widths[-1])."""
        for layer in self.layers:
            x = layer(x)
        return x

    def layer_inputs(self, x: Tensor) -> list[Tensor]:
        """Return the input of every layer for points x: a list of (N, I_l) tensors."""
        inputs = []
        for layer in self.layers:
            inputs.append(x)
            x = layer(x)
        return inputs

    def architecture(self) -> dict[str, Any]:
        """Return the constructor arguments that rebuild this network's shapes (for checkpoints)."""
        return {
            "widths": list(self.widths),
            "grid_size": self.grid_size,
            "spline_order": self.spline_order,
            "grid_range": list(self.grid_range),
            "noise_scale": self.noise_scale,
        }
