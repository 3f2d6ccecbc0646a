"""Scalar activations with their first and second derivatives, for forward-mode derivative propagation."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def silu_derivatives(x: Tensor, order: int) -> list[Tensor]:
    """Return silu(x) = x * sigmoid(x) and its derivatives up to ``order`` (at most 3).

    With s = sigmoid(x) and s' = s (1 - s): the first derivative is s + x s', the second
    s' (2 + x (1 - 2 s)) and the third s' (3 (1 - 2 s) + x (1 - 6 s')).
    """
    sigmoid = torch.sigmoid(x)
    values = [x * sigmoid]
    if order >= 1:
        complement = 1 - sigmoid
        values.append(sigmoid * (1 + x * complement))
        if order >= 2:
            slope = sigmoid * complement
            values.append(slope * (2 + x * (complement - sigmoid)))
            if order >= 3:
                values.append(slope * (3 * (complement - sigmoid) + x * (1 - 6 * slope)))
    return values


def tanh_derivatives(x: Tensor, order: int) -> list[Tensor]:
    """Return [tanh(x), 1 - tanh^2(x), -2 tanh(x) (1 - tanh^2(x))] up to ``order``."""
    value = torch.tanh(x)
    values = [value]
    if order >= 1:
        slope = 1 - value * value
        values.append(slope)
        if order >= 2:
            values.append(-2 * value * slope)
    return values


def sin_derivatives(x: Tensor, order: int) -> list[Tensor]:
    """Return [sin(x), cos(x), -sin(x)] up to ``order``."""
    value = torch.sin(x)
    values = [value]
    if order >= 1:
        values.append(torch.cos(x))
        if order >= 2:
            values.append(-value)
    return values


ACTIVATION_DERIVATIVES: dict[str, Callable[[Tensor, int], list[Tensor]]] = {
    "tanh": tanh_derivatives,
    "silu": silu_derivatives,
    "sin": sin_derivatives,
}
