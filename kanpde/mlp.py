"""Multilayer perceptron baseline with the same interface as the KAN."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from kanpde.kan import check_widths

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": torch.tanh,
    "silu": nn.functional.silu,
    "sin": torch.sin,
}


class MLP(nn.Module):
    """Fully connected network with a fixed activation on every hidden node.

    Weights use Xavier (Glorot) normal initialization and biases start at zero. The output layer
    is linear.

    Args:
        widths: number of nodes per layer, inputs first and outputs last, e.g. [2, 100, 100, 1].
        activation: name of the hidden activation: one of ``ACTIVATIONS`` (tanh, silu, sin).
        seed: seed of the initialization, or None to draw from torch's global generator.
        dtype: floating-point type of the parameters.

    Raises:
        ValueError: for an invalid width list or an unknown activation name.
    """

    kind = "mlp"

    def __init__(
        self,
        widths: Sequence[int],
        activation: str = "tanh",
        *,
        seed: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.widths = check_widths(widths)
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)} "
                f"(model.activation=tanh, for example)"
            )
        self.activation = activation
        self._activation = ACTIVATIONS[activation]

        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out, dtype=dtype)
            for n_in, n_out in zip(self.widths[:-1], self.widths[1:])
        )
        generator = None
        if seed is not None:
            generator = torch.Generator().manual_seed(seed)
        for layer in self.layers:
            nn.init.xavier_normal_(layer.weight, generator=generator)
            nn.init.zeros_(layer.bias)
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
        for layer in self.layers[:-1]:
            x = self._activation(layer(x))
        return self.layers[-1](x)

    def architecture(self) -> dict[str, Any]:
        """Return the constructor arguments that rebuild this network's shapes (for checkpoints)."""
        return {"widths": list(self.widths), "activation": self.activation}
