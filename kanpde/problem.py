"""The interface between a physics problem and the trainer.

Names follow the mathematics throughout kanpde:

| math                                   | code                                             |
|----------------------------------------|--------------------------------------------------|
| point in the domain                    | ``x`` shaped (n_points, dim)                     |
| network output, exact solution         | ``u``, ``u_exact`` shaped (n_points, 1)          |
| first and second partial derivatives   | ``u_x``, ``u_xx``, ``u_xy``; ``gradient``, ``laplacian`` |
| residual of the PDE                    | ``residual``                                     |
| collocation sets and their sizes       | ``x_interior``, ``x_boundary``; ``n_interior``, ``n_boundary`` |
| loss terms                             | ``interior``, ``boundary`` (weighted sum: ``loss``) |

A scalar field is always (n_points, 1), never (n_points,).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn


class Problem(ABC):
    """A physics problem: it samples named point sets, turns a model into named loss terms and
    scores a model against a reference.

    Subclasses set ``input_dim``, ``output_dim``, ``variable_names``, ``derivative_order`` (the
    highest derivative order of u that the losses use) and ``loss_weights`` (one non-negative weight
    per loss term name), and implement the three methods below. A problem never builds or trains a
    network, so the same problem trains a KAN or an MLP.

    Optional, for the command line's field plot (1D or 2D): ``x_test``, a regular mesh from
    ``kanpde.sampling.mesh``; ``test_shape``, its points per axis; and ``u_exact(x)``.
    """

    input_dim: int
    output_dim: int = 1
    variable_names: tuple[str, ...] = ()
    derivative_order: int = 0
    loss_weights: Mapping[str, float] = {}

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> dict[str, Tensor]:
        """Draw the training point sets, e.g. {"x_interior": (N_i, D), "x_boundary": (N_b, D)}, in float64."""

    @abstractmethod
    def losses(self, model: nn.Module, points: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Return the unweighted scalar loss terms, keyed like ``loss_weights``."""

    @abstractmethod
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Return error metrics of the model against the exact solution or held-out data."""

    def analyze(self, model: nn.Module, folder: Path) -> dict[str, Any]:
        """Return problem-specific results of a trained model for metrics.json (``analysis``).

        The command line calls it after training, with the run folder for any extra plots. The
        default returns nothing; a problem overrides it for results beyond ``evaluate``, such as
        the mobility edges of a localization classifier.
        """
        return {}

    def grid_samples(self, points: Mapping[str, Tensor]) -> Tensor:
        """Return the network inputs that a grid update places the knots by, shaped (N, input_dim).

        The default stacks every point set whose name starts with ``x`` (``x_interior``,
        ``x_boundary``, ...). Override it when other inputs should shape the grid.
        """
        sets = [x for name, x in points.items() if name.startswith("x") and x.shape[-1] == self.input_dim]
        if not sets:
            raise ValueError(
                f"no point set named x... with {self.input_dim} columns among {sorted(points)}; "
                f"override Problem.grid_samples to say which inputs a grid update should use"
            )
        return torch.cat(sets)

    def check_model(self, model: nn.Module) -> None:
        """Raise ``ValueError`` if the model cannot represent this problem's inputs, outputs or derivatives."""
        widths = getattr(model, "widths", None)
        if widths is not None:
            if widths[0] != self.input_dim:
                raise ValueError(
                    f"the model's first width is {widths[0]} but the problem has {self.input_dim} "
                    f"input dimension(s); set model.widths=[{self.input_dim}, ...] "
                    f"or leave model.widths unset to build it from model.hidden_widths"
                )
            if widths[-1] != self.output_dim:
                raise ValueError(
                    f"the model's last width is {widths[-1]} but the problem has {self.output_dim} "
                    f"output(s); set model.widths=[..., {self.output_dim}]"
                )
        spline_order = getattr(model, "spline_order", None)
        if spline_order is not None and spline_order < self.derivative_order:
            raise ValueError(
                f"spline_order {spline_order} is too low for a problem with derivatives of order "
                f"{self.derivative_order}: a spline of order k has zero derivatives of order above k "
                f"almost everywhere; set model.spline_order to {max(self.derivative_order, 3)} or more"
            )


def model_dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    """Return the dtype and device of a model's first parameter."""
    parameter = next(model.parameters())
    return parameter.dtype, parameter.device
