"""Derivatives of a scalar network output with respect to its input points.

Shape letters: N points, D input dimensions.

Problems name the derivatives they need before the model is evaluated (value, gradient, Laplacian,
chosen second partials) and receive them together as ``Fields``. Keeping the request separate from
the evaluation lets a model serve it however it can: here by nested reverse-mode autograd, which
works for any differentiable ``nn.Module``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import Tensor, nn


@dataclass
class Fields:
    """A scalar field and the derivatives that were requested, all at the same N points.

    Attributes:
        u: values, shaped (N, 1).
        gradient: first partials (u_x, u_y, ...), shaped (N, D), or None if not requested.
        laplacian: sum of the pure second partials, shaped (N, 1), or None if not requested.
        second: requested second partials keyed by the index pair (i, j) with i <= j, each (N, 1).
    """

    u: Tensor
    gradient: Tensor | None = None
    laplacian: Tensor | None = None
    second: dict[tuple[int, int], Tensor] = field(default_factory=dict)

    def partial(self, i: int, j: int) -> Tensor:
        """Return the second partial d^2 u / dx_i dx_j, shaped (N, 1), if it was requested."""
        key = (min(i, j), max(i, j))
        if key not in self.second:
            raise KeyError(
                f"second derivative {key} was not requested; pass second=[{key}] when evaluating"
            )
        return self.second[key]


def evaluate(
    model: nn.Module,
    x: Tensor,
    *,
    gradient: bool = False,
    laplacian: bool = False,
    second: Iterable[tuple[int, int]] = (),
) -> Fields:
    """Evaluate a single-output model and the requested derivatives with respect to its inputs.

    The derivatives keep their graph (``create_graph=True``), so a loss built from them can be
    differentiated again with respect to the model parameters.

    Args:
        model: maps points (N, D) to values (N, 1).
        x: points shaped (N, D). They are detached first, so the caller's tensor is not modified.
        gradient: whether to return the gradient (N, D).
        laplacian: whether to return the Laplacian (N, 1).
        second: index pairs (i, j) of further second partials to return.

    Returns:
        The requested ``Fields``.

    Raises:
        ValueError: if the model output is not (N, 1) or a second-derivative index is out of range.
    """
    dim = x.shape[-1]
    pairs = sorted({(min(i, j), max(i, j)) for i, j in second})
    for pair in pairs:
        if not all(0 <= index < dim for index in pair):
            raise ValueError(f"second derivative index {pair} is out of range for {dim} input dimensions")

    needs_derivatives = gradient or laplacian or bool(pairs)
    if needs_derivatives:
        x = x.detach().requires_grad_(True)
    u = model(x)
    if u.ndim != 2 or u.shape[1] != 1:
        raise ValueError(
            f"derivative operators need a scalar field shaped (N, 1), but the model returned "
            f"{tuple(u.shape)}; use a model whose last width is 1"
        )
    if not needs_derivatives:
        return Fields(u=u)

    u_x = first_derivatives(u, x)  # (N, D)

    # Each row of the Hessian costs one more backward pass, so only the rows that some requested
    # entry needs are computed.
    rows = {i for i, _ in pairs}
    if laplacian:
        rows.update(range(dim))
    hessian_rows = {i: first_derivatives(u_x[:, i : i + 1], x) for i in sorted(rows)}

    fields = Fields(u=u, gradient=u_x if gradient else None)
    if laplacian:
        fields.laplacian = sum(hessian_rows[i][:, i : i + 1] for i in range(dim))
    fields.second = {(i, j): hessian_rows[i][:, j : j + 1] for i, j in pairs}
    return fields


def first_derivatives(u: Tensor, x: Tensor) -> Tensor:
    """Return du/dx (N, D) of a field u (N, 1) computed from points x (N, D) that require grad.

    Row n of u must depend only on row n of x (true for any pointwise network), which is what makes
    a single backward pass of sum(u) give every point's gradient.
    """
    (u_x,) = torch.autograd.grad(u, x, grad_outputs=torch.ones_like(u), create_graph=True)
    return u_x


def laplacian(u: Tensor, x: Tensor) -> Tensor:
    """Return the Laplacian (N, 1) of a field u (N, 1) computed from points x (N, D)."""
    u_x = first_derivatives(u, x)
    terms = [first_derivatives(u_x[:, i : i + 1], x)[:, i : i + 1] for i in range(x.shape[1])]
    return torch.stack(terms).sum(0)
