"""Kolmogorov-Arnold Network: a learnable univariate function on every edge.

Shape letters: N points, I inputs, O outputs, M = G + k basis functions per edge.

Each layer maps x (N, I) to y (N, O) with

    y_o = sum_i phi_{o,i}(x_i),
    phi_{o,i}(x) = w_base[o, i] * silu(x) + w_spline[o, i] * sum_m c[o, i, m] * B_m(x),

where B_m are the B-splines of order k on the knots of input i (G intervals over the grid range,
extended by k knots on each side). The SiLU term keeps every edge non-constant, and it is the only
part that acts outside the extended knot span, where all B_m are zero.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from kanpde.activations import silu_derivatives
from kanpde.derivatives import DERIVATIVE_METHODS, Request, quadratic_forms
from kanpde.grid import (
    MAX_FIT_SAMPLES,
    RefitReport,
    adaptive_knots,
    fit_points,
    refined_knots,
    refit_coefficients,
    subsample,
)
from kanpde.spline import bspline_basis, check_grid, local_basis, uniform_knots


def get_function(name: str):
    """Return the symbolic function ``name`` of ``kanpde.symbolic.LIBRARY``."""
    # Imported on first use: plain spline networks never need sympy.
    from kanpde.symbolic import get_function as lookup

    return lookup(name)


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


def coefficient_index(span: Tensor, n_padded: int, spline_order: int) -> Tensor:
    """Return, for span (N, I), the rows (N, I, k+1) of the padded coefficients flattened to (I * (M + 2k), O)."""
    rows = torch.arange(span.shape[1], device=span.device).unsqueeze(-1) * n_padded
    return rows + span.unsqueeze(-1) + torch.arange(spline_order + 1, device=span.device)


def gather_coefficients(padded: Tensor, span: Tensor, spline_order: int) -> Tensor:
    """Gather the k + 1 coefficients each point uses: (I, M + 2k, O) and span (N, I) -> (N, I, k+1, O)."""
    index = coefficient_index(span, padded.shape[1], spline_order)
    return padded.reshape(-1, padded.shape[2])[index]


class EdgeDerivatives(torch.autograd.Function):
    """Derivatives of every edge function of a KAN layer at its inputs, with a hand-written backward.

    Forward: x (N, I), padded coefficients (I, M + 2k, O), base weight (O, I) ->
    E (N, I, order + 1, O) with E[n, i, d, o] = d^d phi_{o,i} / dx^d at x[n, i].

    Backward: the gradient with respect to x needs one derivative more,
    dL/dx[n, i] = sum_{d, o} dL/dE[n, i, d, o] * E_{d+1}[n, i, o], so the forward pass evaluates
    order + 1 derivatives when x requires grad. Writing the backward by hand replaces the many small
    operations autograd would record for the basis recursion with three contractions. The backward
    itself is not differentiable (first-order training only); nested autograd uses the plain
    forward of ``KANLayer``.
    """

    @staticmethod
    def forward(ctx, x, padded, base_weight, knots, spline_order, order):
        extra = 1 if ctx.needs_input_grad[0] else 0
        span, basis = local_basis(x, knots, spline_order, order + extra)  # (N, I, order+1+extra, k+1)
        gathered = gather_coefficients(padded, span, spline_order)  # (N, I, k + 1, O)
        base = torch.stack(silu_derivatives(x, order + extra), dim=2)  # (N, I, order + 1 + extra)
        edges = basis @ gathered + base.unsqueeze(-1) * base_weight.T.unsqueeze(1)
        ctx.save_for_backward(basis, gathered, base, edges, span)
        ctx.spline_order, ctx.order, ctx.padded_shape = spline_order, order, padded.shape
        return edges[:, :, : order + 1]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_edges):
        basis, gathered, base, edges, span = ctx.saved_tensors
        n_values = ctx.order + 1
        grad_x = grad_padded = grad_base_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = (grad_edges * edges[:, :, 1:]).sum((2, 3))
        if ctx.needs_input_grad[1]:
            # Each point adds sum_d B_d[r] * dL/dE_d into the k + 1 coefficients it read.
            contributions = basis[:, :, :n_values].transpose(2, 3) @ grad_edges  # (N, I, k+1, O)
            n_inputs, n_padded, n_outputs = ctx.padded_shape
            index = coefficient_index(span, n_padded, ctx.spline_order)
            grad_padded = torch.zeros(n_inputs * n_padded, n_outputs, dtype=grad_edges.dtype, device=grad_edges.device)
            grad_padded.index_add_(0, index.flatten(), contributions.reshape(-1, n_outputs))
            grad_padded = grad_padded.reshape(ctx.padded_shape)
        if ctx.needs_input_grad[2]:
            grad_base_weight = torch.einsum("nid,nido->oi", base[:, :, :n_values], grad_edges)
        return grad_x, grad_padded, grad_base_weight, None, None, None


def chain_rule(edges: Tensor, jet: Tensor, request: Request) -> Tensor:
    """Combine per-edge derivatives (N, I, order + 1, O) with the input jet (N, Q, I) into the output jet.

    y_o = sum_i phi_{o,i}(x_i), so dy_o/dz_d = sum_i phi'_{o,i} dx_i/dz_d and each second-derivative
    row is sum_i phi''_{o,i} * (product of first partials of x_i) + phi'_{o,i} * (that row of x_i).
    """
    rows = [edges[:, :, 0].sum(1).unsqueeze(1)]  # (N, 1, O)
    gradient = jet[:, 1 : 1 + request.dim]  # (N, D, I)
    slope = edges[:, :, 1]  # (N, I, O)
    rows.append(gradient @ slope)
    if request.n_second:
        forms = quadratic_forms(gradient, request)  # (N, n_second, I)
        rows.append(forms @ edges[:, :, 2] + jet[:, 1 + request.dim :] @ slope)
    return torch.cat(rows, dim=1)


def check_dtype(dtype: torch.dtype | None) -> None:
    """Raise ``ValueError`` unless ``dtype`` is None, float32 or float64."""
    if dtype not in (None, torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")


def check_grid_size(grid_size: int) -> None:
    """Raise ``ValueError`` unless ``grid_size`` is a positive integer."""
    if not (isinstance(grid_size, numbers.Integral) and not isinstance(grid_size, bool) and grid_size >= 1):
        raise ValueError(f"grid_size must be a positive integer (the number of grid intervals), got {grid_size!r}")


def check_fit_derivatives(fit_derivatives: int) -> None:
    """Raise ``ValueError`` unless ``fit_derivatives`` is 0, 1 or 2."""
    if not (isinstance(fit_derivatives, numbers.Integral) and not isinstance(fit_derivatives, bool)
            and 0 <= fit_derivatives <= 2):
        raise ValueError(f"fit_derivatives must be 0, 1 or 2, got {fit_derivatives!r}")


def check_samples(x: Tensor, n_inputs: int) -> None:
    """Raise ``TypeError`` unless x is a floating-point tensor, and ``ValueError`` unless it is
    (N, n_inputs) with N >= 1 and finite entries."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(
            f"grid samples must be a floating-point torch.Tensor, got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, Tensor) else "")
            + "; convert with torch.as_tensor(x, dtype=torch.float64)"
        )
    if x.ndim != 2 or x.shape[1] != n_inputs or x.shape[0] < 1:
        raise ValueError(f"grid samples must be shaped (N, {n_inputs}) with N >= 1, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(
            "grid samples contain NaN or infinite values; a grid update needs finite layer inputs "
            "(check the model for divergence before updating its grid)"
        )


def check_uniform_weight(uniform_weight: float) -> None:
    """Raise ``ValueError`` unless 0 <= uniform_weight <= 1."""
    if not (isinstance(uniform_weight, numbers.Real) and not isinstance(uniform_weight, bool)
            and 0 <= uniform_weight <= 1):
        raise ValueError(
            f"uniform_weight must be a number from 0 (knots at sample quantiles) to 1 (uniform knots), "
            f"got {uniform_weight!r}"
        )


def check_derivative_method(method: str) -> str:
    """Return ``method`` if it names a derivative method, else raise ``ValueError``."""
    if method not in DERIVATIVE_METHODS:
        raise ValueError(
            f"unknown derivative method {method!r}; choose one of {list(DERIVATIVE_METHODS)} "
            f"(model.derivatives=forward, for example)"
        )
    return method


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

        # 1 where an edge computes its spline-plus-SiLU function, 0 where it was pruned or replaced
        # by a symbolic function. The mask multiplies the weights, not the outputs, so masked edges
        # cost nothing extra and their coefficients receive zero gradient.
        self.register_buffer("mask", torch.ones(out_features, in_features, **factory))
        # Symbolic edges: edge s maps x_i to c * f(a * x_i + b) + d, with (o, i) in symbolic_index[s],
        # f named by symbolic_functions[s] and (a, b, c, d) in symbolic_affine[s], all trainable.
        self.symbolic_functions: list[str] = []
        self.register_buffer("symbolic_index", torch.zeros(0, 2, dtype=torch.long, device=device))
        # A buffer while there is no symbolic edge: an empty parameter would be an unused input
        # of every gradient taken over model.parameters().
        self.register_buffer("symbolic_affine", torch.zeros(0, 4, **factory))

    def basis(self, x: Tensor) -> Tensor:
        """Evaluate the spline basis of each input: (N, I) -> (N, I, M)."""
        return bspline_basis(x, self.knots, self.spline_order)

    def forward(self, x: Tensor) -> Tensor:
        """Map x (N, I) to y (N, O), summing the edge functions over the inputs."""
        return self._values(x)

    def propagate_jet(self, jet: Tensor, request: Request) -> Tensor:
        """Map the jet of the inputs (N, Q, I) to the jet of the outputs (N, Q, O).

        Only the k + 1 B-splines that are nonzero at each input are evaluated, and only their
        coefficients are gathered, so the cost does not grow with the grid size G.
        """
        if request.order == 0:
            return self(jet[:, 0, :]).unsqueeze(1)
        return chain_rule(self.edge_derivatives(jet[:, 0, :], request.order), jet, request)

    def points_jet(self, x: Tensor, request: Request) -> Tensor:
        """Return the output jet (N, Q, O) when the inputs are the coordinates themselves, x (N, D).

        Then dx_i/dz_d is the identity and every second derivative of x is zero, so the chain rule
        reduces to reading the edge derivatives off: du_o/dz_d = phi'_{o,d}(x_d) and
        d^2 u_o / dz_a dz_b = phi''_{o,a}(x_a) if a == b, else 0.
        """
        if request.order == 0:
            return self(x).unsqueeze(1)
        edges = self.edge_derivatives(x, request.order)  # (N, D, order + 1, O)
        rows = [edges[:, :, 0].sum(1, keepdim=True), edges[:, :, 1]]
        if request.laplacian:
            rows.append(edges[:, :, 2].sum(1, keepdim=True))
        for a, b in request.pairs:
            rows.append(edges[:, a : a + 1, 2] if a == b else torch.zeros_like(rows[0]))
        return torch.cat(rows, dim=1)

    def edge_derivatives(self, x: Tensor, order: int) -> Tensor:
        """Return d^n phi_{o,i} / dx_i^n at x[:, i] for n = 0 .. order, shaped (N, I, order + 1, O)."""
        edges = EdgeDerivatives.apply(
            x, self._padded_coefficients(), self._base_weight(), self.knots, self.spline_order, order
        )
        if not self.symbolic_functions:
            return edges
        symbolic = self._symbolic_derivatives(x, order)  # (N, S, order + 1)
        return edges + torch.einsum("nsd,sio->nido", symbolic, self._symbolic_selection())

    def _padded_coefficients(self) -> Tensor:
        """Return w_spline * c as (I, M + 2k, O), padded with k zeros on each side of the M axis.

        Local functions that have no coefficient (near the ends of the knot span) then read zero.
        """
        k = self.spline_order
        weighted = (self.spline_weight * self.mask).unsqueeze(-1) * self.coefficients  # (O, I, M)
        return nn.functional.pad(weighted, (k, k)).permute(1, 2, 0)

    def _base_weight(self) -> Tensor:
        """Return the SiLU weights (O, I) with pruned and symbolic edges set to zero."""
        return self.base_weight * self.mask

    def _values(self, x: Tensor) -> Tensor:
        """Map x (N, I) to y (N, O) with local basis evaluation."""
        span, basis = local_basis(x, self.knots, self.spline_order, 0)  # (N, I, 1, k+1)
        gathered = gather_coefficients(self._padded_coefficients(), span, self.spline_order)
        spline = (basis @ gathered).sum((1, 2))  # (N, O)
        y = nn.functional.silu(x) @ self._base_weight().T + spline
        if self.symbolic_functions:
            symbolic = self._symbolic_derivatives(x, 0)[:, :, 0]  # (N, S)
            y = y + symbolic @ self._symbolic_selection().sum(1)
        return y

    def edge_activations(self, x: Tensor) -> Tensor:
        """Evaluate every edge function phi_{o,i}(x_i) separately: (N, I) -> (N, O, I)."""
        basis = self.basis(x)  # (N, I, M)
        spline = torch.einsum("nim,oim->noi", basis, self.coefficients) * (self.spline_weight * self.mask)
        base = nn.functional.silu(x).unsqueeze(1) * self._base_weight()  # (N, O, I)
        activations = base + spline
        if self.symbolic_functions:
            symbolic = self._symbolic_derivatives(x, 0)[:, :, 0]  # (N, S)
            activations = activations + torch.einsum("ns,sio->noi", symbolic, self._symbolic_selection())
        return activations

    def _symbolic_selection(self) -> Tensor:
        """Return the one-hot map (S, I, O) from symbolic edge s to its input and output."""
        selection = torch.zeros(
            len(self.symbolic_functions), self.in_features, self.out_features,
            dtype=self.symbolic_affine.dtype, device=self.symbolic_affine.device,
        )
        rows = torch.arange(len(self.symbolic_functions), device=selection.device)
        selection[rows, self.symbolic_index[:, 1], self.symbolic_index[:, 0]] = 1.0
        return selection

    def _symbolic_derivatives(self, x: Tensor, order: int) -> Tensor:
        """Return d^n/dx^n of every symbolic edge c * f(a * x_i + b) + d for n = 0 .. order, (N, S, order + 1)."""
        a, b, c, d = self.symbolic_affine.unbind(1)  # each (S,)
        z = x[:, self.symbolic_index[:, 1]] * a + b  # (N, S)
        columns = []
        for s, name in enumerate(self.symbolic_functions):
            derivatives = get_function(name).torch_derivatives(z[:, s], order)
            # Chain rule for the inner affine map: d^n/dx^n f(a x + b) = a^n f^(n)(a x + b).
            column = [c[s] * a[s] ** n * derivative for n, derivative in enumerate(derivatives)]
            column[0] = column[0] + d[s]
            columns.append(torch.stack(column, dim=1))
        return torch.stack(columns, dim=1)

    @property
    def symbolic_edges(self) -> list[tuple[int, int, str]]:
        """The symbolic edges as (output, input, function name) triples."""
        return [(int(o), int(i), name) for (o, i), name in zip(self.symbolic_index.tolist(), self.symbolic_functions)]

    @torch.no_grad()
    def set_symbolic(self, output: int, input: int, function: str, affine: Sequence[float] = (1.0, 0.0, 1.0, 0.0)) -> None:
        """Replace edge (output, input) by c * f(a * x + b) + d with f = ``function`` and
        (a, b, c, d) = ``affine``; an edge that is already symbolic gets the new function.

        The spline and SiLU parts of the edge are masked off but kept, so ``unset_symbolic``
        restores the learned function. The affine parameters become a new ``nn.Parameter``, so
        optimizers built before must be rebuilt.

        Raises:
            ValueError: for an edge index outside the layer, an unknown function name or an
                affine tuple that is not four finite numbers.
        """
        self._check_edge(output, input)
        get_function(function)
        affine = torch.as_tensor([float(v) for v in affine], dtype=self.symbolic_affine.dtype)
        if affine.shape != (4,) or not bool(torch.isfinite(affine).all()):
            raise ValueError(f"affine must be four finite numbers (a, b, c, d), got {affine.tolist()}")
        entries = {(o, i): (name, row) for (o, i, name), row in zip(self.symbolic_edges, self.symbolic_affine.detach())}
        entries[(output, input)] = (function, affine.to(self.symbolic_affine.device))
        self._set_symbolic_entries(entries)
        self.mask[output, input] = 0.0

    @torch.no_grad()
    def unset_symbolic(self, output: int, input: int) -> None:
        """Turn symbolic edge (output, input) back into its spline-plus-SiLU function."""
        self._check_edge(output, input)
        entries = {(o, i): (name, row) for (o, i, name), row in zip(self.symbolic_edges, self.symbolic_affine.detach())}
        if entries.pop((output, input), None) is None:
            raise ValueError(f"edge ({output}, {input}) is not symbolic")
        self._set_symbolic_entries(entries)
        self.mask[output, input] = 1.0

    def _set_symbolic_entries(self, entries: dict[tuple[int, int], tuple[str, Tensor]]) -> None:
        keys = sorted(entries)
        factory = {"dtype": self.symbolic_affine.dtype, "device": self.symbolic_affine.device}
        self.symbolic_functions = [entries[key][0] for key in keys]
        self.symbolic_index = torch.tensor(keys, dtype=torch.long, device=factory["device"]).reshape(-1, 2)
        rows = [entries[key][1].to(**factory) for key in keys]
        if rows:
            self.symbolic_affine = nn.Parameter(torch.stack(rows).contiguous())
        else:
            self._parameters.pop("symbolic_affine", None)
            self.register_buffer("symbolic_affine", torch.zeros(0, 4, **factory))

    def _check_edge(self, output: int, input: int) -> None:
        if not (0 <= output < self.out_features and 0 <= input < self.in_features):
            raise ValueError(
                f"edge (output {output}, input {input}) is outside a layer with {self.out_features} "
                f"output(s) and {self.in_features} input(s)"
            )

    @torch.no_grad()
    def update_grid(self, x: Tensor, uniform_weight: float = 0.02, fit_derivatives: int = 2) -> RefitReport:
        """Move the knots to follow the samples x (N, I) and refit the coefficients to keep each edge.

        Grid points become a mix of uniform and quantile positions of each input's samples (see
        ``kanpde.grid.adaptive_knots``). The new grid covers all samples, including those outside
        the old range. The coefficients are refit by least squares on the old splines' values and first
        ``fit_derivatives`` derivatives at the samples, so each edge function is unchanged on them up
        to the fit residual, which the returned report gives.

        Raises:
            ValueError: for samples of the wrong shape or with NaN or infinite entries, or an invalid
                ``uniform_weight``.
        """
        check_samples(x, self.in_features)
        check_uniform_weight(uniform_weight)
        check_fit_derivatives(fit_derivatives)
        x = x.detach().to(dtype=self.knots.dtype, device=self.knots.device)
        knots, fallback = adaptive_knots(x, self.knots, self.grid_size, self.spline_order, uniform_weight)
        points = subsample(x, MAX_FIT_SAMPLES)
        coefficients, report = refit_coefficients(
            points, self.knots, self.coefficients, knots, self.spline_order, fit_derivatives
        )
        self.set_grid(knots, coefficients)
        return RefitReport(report.max_change, report.max_value, fallback)

    @torch.no_grad()
    def extend_grid(self, grid_size: int, fit_derivatives: int = 2) -> RefitReport:
        """Change the number of grid intervals to ``grid_size``, keeping the edge functions.

        When ``grid_size`` is a multiple of the current G every old knot remains a knot, and the
        edge functions are kept to round-off everywhere (see ``kanpde.grid``). Otherwise they are
        refit by least squares over the whole knot span; the report gives the largest change.
        """
        check_grid_size(grid_size)
        knots = refined_knots(self.knots, self.grid_size, grid_size, self.spline_order)
        points = fit_points(knots, self.spline_order)
        coefficients, report = refit_coefficients(
            points, self.knots, self.coefficients, knots, self.spline_order, fit_derivatives
        )
        self.set_grid(knots, coefficients)
        return report

    def set_grid(self, knots: Tensor, coefficients: Tensor) -> None:
        """Replace the knots (I, G + 2k + 1) and coefficients (O, I, G + k), changing G if needed.

        The coefficients become a new ``nn.Parameter``, so optimizers built before must be rebuilt.
        """
        k = self.spline_order
        n_knots = knots.shape[-1]
        grid_size = n_knots - 2 * k - 1
        if knots.shape != (self.in_features, n_knots) or grid_size < 1:
            raise ValueError(
                f"knots must be shaped ({self.in_features}, G + {2 * k + 1}) with G >= 1, "
                f"got {tuple(knots.shape)}"
            )
        expected = (self.out_features, self.in_features, grid_size + k)
        if tuple(coefficients.shape) != expected:
            raise ValueError(f"coefficients must be shaped {expected}, got {tuple(coefficients.shape)}")
        if not bool((knots.diff(dim=1) > 0).all()):
            raise ValueError("knots must be strictly increasing along each input")
        factory = {"dtype": self.coefficients.dtype, "device": self.coefficients.device}
        self.knots = knots.detach().to(**factory).contiguous()
        self.coefficients = nn.Parameter(coefficients.detach().to(**factory).contiguous())
        self.grid_size = grid_size

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
        derivatives: how ``kanpde.evaluate`` differentiates the network with respect to its inputs:
            ``forward`` (derivatives carried through each layer in the forward pass, the fast
            default) or ``autograd`` (nested reverse mode).
        symbolic: edges replaced by symbolic functions c * f(a * x + b) + d from the start, one list
            per layer of [output, input, function name] entries, optionally followed by the initial
            [a, b, c, d] (default [1, 0, 1, 0]); see ``KANLayer.set_symbolic``. This fixes a known
            structure before training, and checkpoints use it to rebuild snapped networks.
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
        derivatives: str = "forward",
        symbolic: Sequence[Sequence[Sequence[Any]]] | None = None,
        *,
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.widths = check_widths(widths)
        check_grid(grid_size, spline_order, tuple(grid_range))
        check_dtype(dtype)
        self.derivative_method = check_derivative_method(derivatives)
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
        if symbolic is not None:
            self._set_symbolic_layout(symbolic)
        if device is not None:
            self.to(device)

    def _set_symbolic_layout(self, symbolic: Sequence[Sequence[Sequence[Any]]]) -> None:
        """Make the listed edges symbolic: per layer, entries [output, input, function] or
        [output, input, function, [a, b, c, d]]."""
        if isinstance(symbolic, (str, bytes)) or len(symbolic) != len(self.layers):
            raise ValueError(
                f"symbolic must list the symbolic edges of each of the {len(self.layers)} layers "
                f"(an empty list for a layer without any), got {symbolic!r}"
            )
        for level, (layer, edges) in enumerate(zip(self.layers, symbolic)):
            seen: set[tuple[int, int]] = set()
            for edge in edges:
                if isinstance(edge, (str, bytes)) or len(edge) not in (3, 4):
                    raise ValueError(
                        f"symbolic edge {edge!r} of layer {level} must be [output, input, function] or "
                        f"[output, input, function, [a, b, c, d]], for example [0, 1, 'x^2']"
                    )
                output, input, function = edge[:3]
                if (int(output), int(input)) in seen:
                    raise ValueError(f"symbolic edge [{output}, {input}] of layer {level} is listed twice; keep one entry")
                seen.add((int(output), int(input)))
                affine = edge[3] if len(edge) == 4 else (1.0, 0.0, 1.0, 0.0)
                layer.set_symbolic(int(output), int(input), str(function), affine)

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

    def forward_jet(self, x: Tensor, request: Request) -> Tensor:
        """Return the output jet (N, Q, widths[-1]) at points x (N, widths[0]): values and the
        requested derivatives with respect to x, carried forward through the layers."""
        jet = self.layers[0].points_jet(x, request)
        for layer in self.layers[1:]:
            jet = layer.propagate_jet(jet, request)
        return jet

    @torch.no_grad()
    def update_grid(self, x: Tensor, uniform_weight: float = 0.02, fit_derivatives: int = 2) -> list[RefitReport]:
        """Update every layer's grid from the points x (N, widths[0]), first layer first.

        Each layer is updated from its inputs as computed by the already updated layers before it. See
        ``KANLayer.update_grid``; returns one report per layer.
        """
        check_samples(x, self.input_dim)
        check_uniform_weight(uniform_weight)
        check_fit_derivatives(fit_derivatives)
        parameter = self.layers[0].coefficients
        x = x.to(dtype=parameter.dtype, device=parameter.device)
        saved = self.grids()
        reports = []
        try:
            for layer in self.layers:
                reports.append(layer.update_grid(x, uniform_weight, fit_derivatives))
                x = layer(x)
        except Exception:
            # All layers or none: a failure in a later layer must not leave the earlier ones moved.
            self.set_grids(saved)
            raise
        return reports

    @torch.no_grad()
    def extend_grid(self, grid_size: int, fit_derivatives: int = 2) -> list[RefitReport]:
        """Change every layer to ``grid_size`` intervals, keeping the network's function.

        Exact to round-off when ``grid_size`` is a multiple of the current G (for example 5 -> 10 ->
        20); otherwise see the returned per-layer reports.
        """
        check_grid_size(grid_size)
        check_fit_derivatives(fit_derivatives)
        reports = [layer.extend_grid(grid_size, fit_derivatives) for layer in self.layers]
        self.grid_size = grid_size
        return reports

    def parameter_count(self) -> int:
        """Return (G + k + 2) per spline edge plus 4 per symbolic edge; pruned edges count 0."""
        total = 0
        for layer in self.layers:
            total += int((layer.mask > 0).sum()) * (layer.grid_size + layer.spline_order + 2)
            total += 4 * len(layer.symbolic_functions)
        return total

    def grids(self) -> list[tuple[Tensor, Tensor]]:
        """Return a copy of every layer's knots and coefficients, for ``set_grids``."""
        return [(layer.knots.clone(), layer.coefficients.detach().clone()) for layer in self.layers]

    def set_grids(self, grids: Sequence[tuple[Tensor, Tensor]]) -> None:
        """Restore knots and coefficients saved by ``grids``, grid size included."""
        if len(grids) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} (knots, coefficients) pairs, got {len(grids)}")
        for layer, (knots, coefficients) in zip(self.layers, grids):
            layer.set_grid(knots, coefficients)
        self.grid_size = self.layers[0].grid_size

    def architecture(self) -> dict[str, Any]:
        """Return the constructor arguments that rebuild this network's shapes (for checkpoints)."""
        return {
            "widths": list(self.widths),
            "grid_size": self.grid_size,
            "spline_order": self.spline_order,
            "grid_range": list(self.grid_range),
            "noise_scale": self.noise_scale,
            "derivatives": self.derivative_method,
            "symbolic": [[list(edge) for edge in layer.symbolic_edges] for layer in self.layers],
        }
