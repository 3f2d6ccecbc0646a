"""Multilayer perceptron baseline with the same interface as the KAN."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from kanpde.activations import ACTIVATION_DERIVATIVES
from kanpde.derivatives import Request, initial_jet, univariate_jet
from kanpde.kan import check_derivative_method, check_dtype, check_widths

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
        derivatives: ``autograd`` (the default, measured faster for MLPs on CPU) or ``forward``,
            as for ``KAN``.
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
        derivatives: str = "autograd",
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
        check_dtype(dtype)
        self.activation = activation
        self._activation = ACTIVATIONS[activation]
        self._activation_derivatives = ACTIVATION_DERIVATIVES[activation]
        self.derivative_method = check_derivative_method(derivatives)

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

    def forward_jet(self, x: Tensor, request: Request) -> Tensor:
        """Return the output jet (N, Q, widths[-1]) at points x (N, widths[0]): values and the
        requested derivatives with respect to x, carried forward through the layers."""
        jet = initial_jet(x, request)
        n_rows = jet.shape[1]
        for index, layer in enumerate(self.layers):
            # The weights act on every jet row; the bias shifts only the values (row 0).
            bias_rows = nn.functional.pad(layer.bias.unsqueeze(0), (0, 0, 0, n_rows - 1))
            jet = jet @ layer.weight.T + bias_rows
            if index < len(self.layers) - 1:
                derivatives = self._activation_derivatives(jet[:, 0], request.order)
                jet = univariate_jet(derivatives, jet, request)
        return jet

    def architecture(self) -> dict[str, Any]:
        """Return the constructor arguments that rebuild this network's shapes (for checkpoints)."""
        return {"widths": list(self.widths), "activation": self.activation, "derivatives": self.derivative_method}
