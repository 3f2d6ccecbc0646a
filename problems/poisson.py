"""Poisson equation u_xx + u_yy (+ ...) = f in a box, u = g on its boundary, with exact solutions.

Loss (the KAN paper's physics-informed setting, Liu et al. 2024, arXiv 2404.19756, section 3.4):

    loss = alpha * mean(residual^2 over x_interior) + mean((u - g)^2 over x_boundary),
    residual = laplacian(u) - f.

Shape letters: N points, D dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import sympy
import torch
from torch import Tensor, nn

from kanpde.derivatives import evaluate
from kanpde.metrics import field_errors
from kanpde.problem import Problem, model_dtype_device
from kanpde.sampling import Box, check_count, check_method, mesh, sample_boundary, sample_interior

PI = math.pi


@dataclass(frozen=True)
class ExactSolution:
    """A closed-form solution u with its gradient and the source f = laplacian(u).

    Each function maps points (N, D) to (N, 1), the gradient to (N, D).
    """

    dim: int
    formula: str
    u: Callable[[Tensor], Tensor]
    gradient: Callable[[Tensor], Tensor]
    source: Callable[[Tensor], Tensor]
    expression: Callable[..., sympy.Expr]  # u in sympy, from one symbol per dimension


def _coordinates(x: Tensor) -> tuple[Tensor, ...]:
    """Split points (N, D) into D columns, each (N, 1)."""
    return tuple(x[:, i : i + 1] for i in range(x.shape[1]))


def _paper_u(x: Tensor) -> Tensor:
    x1, x2 = _coordinates(x)
    return torch.sin(PI * x1) * torch.sin(PI * x2**2)


def _paper_gradient(x: Tensor) -> Tensor:
    x1, x2 = _coordinates(x)
    u_x = PI * torch.cos(PI * x1) * torch.sin(PI * x2**2)
    u_y = 2 * PI * x2 * torch.sin(PI * x1) * torch.cos(PI * x2**2)
    return torch.cat([u_x, u_y], dim=1)


def _paper_source(x: Tensor) -> Tensor:
    x1, x2 = _coordinates(x)
    sin_x = torch.sin(PI * x1)
    return -(PI**2) * (1 + 4 * x2**2) * sin_x * torch.sin(PI * x2**2) + 2 * PI * sin_x * torch.cos(
        PI * x2**2
    )


def _product_u(x: Tensor) -> Tensor:
    x1, x2 = _coordinates(x)
    return torch.sin(PI * x1) * torch.sin(PI * x2)


def _product_gradient(x: Tensor) -> Tensor:
    x1, x2 = _coordinates(x)
    u_x = PI * torch.cos(PI * x1) * torch.sin(PI * x2)
    u_y = PI * torch.sin(PI * x1) * torch.cos(PI * x2)
    return torch.cat([u_x, u_y], dim=1)


def _product_source(x: Tensor) -> Tensor:
    return -2 * PI**2 * _product_u(x)


def _line_u(x: Tensor) -> Tensor:
    return torch.sin(PI * x) + 0.5 * x


def _line_gradient(x: Tensor) -> Tensor:
    return PI * torch.cos(PI * x) + 0.5


def _line_source(x: Tensor) -> Tensor:
    return -(PI**2) * torch.sin(PI * x)


SOLUTIONS: dict[str, ExactSolution] = {
    # The KAN paper's case; u vanishes on the boundary of [-1, 1]^2.
    "sin_pi_x_sin_pi_y2": ExactSolution(
        2, "sin(pi x) sin(pi y^2)", _paper_u, _paper_gradient, _paper_source,
        lambda x, y: sympy.sin(sympy.pi * x) * sympy.sin(sympy.pi * y**2),
    ),
    # pykan's PDE tutorial case; u vanishes on the boundary of [-1, 1]^2.
    "sin_pi_x_sin_pi_y": ExactSolution(
        2, "sin(pi x) sin(pi y)", _product_u, _product_gradient, _product_source,
        lambda x, y: sympy.sin(sympy.pi * x) * sympy.sin(sympy.pi * y),
    ),
    # One dimension, with non-zero boundary values u(-1) = -0.5 and u(1) = 0.5.
    "sin_pi_x_plus_half_x": ExactSolution(
        1, "sin(pi x) + x / 2", _line_u, _line_gradient, _line_source,
        lambda x: sympy.sin(sympy.pi * x) + x / 2,
    ),
}


class Poisson(Problem):
    """Poisson equation laplacian(u) = f on [lower, upper]^D with Dirichlet data g = u_exact.

    Args:
        solution: name of the exact solution, a key of ``SOLUTIONS``; it fixes D, f and g.
        alpha: weight of the interior (PDE residual) term; the boundary term has weight 1.
        n_interior: number of interior collocation points (a perfect D-th power for ``mesh``).
        n_boundary: number of boundary points (see ``kanpde.sampling.sample_boundary`` for ``mesh``).
        sampling: ``uniform``, ``sobol`` or ``mesh`` for the interior points.
        boundary_sampling: the same choice for the boundary points.
        n_test_per_axis: points per axis of the regular test mesh on which errors are measured.
        lower, upper: bounds of the box in every dimension.

    Raises:
        ValueError: for an unknown solution or sampling name, a non-positive count, or a negative alpha.
    """

    derivative_order = 2

    def __init__(
        self,
        solution: str = "sin_pi_x_sin_pi_y2",
        alpha: float = 0.01,
        n_interior: int = 2601,
        n_boundary: int = 200,
        sampling: str = "mesh",
        boundary_sampling: str = "mesh",
        n_test_per_axis: int = 101,
        lower: float = -1.0,
        upper: float = 1.0,
    ) -> None:
        if solution not in SOLUTIONS:
            raise ValueError(f"unknown Poisson solution {solution!r}; choose one of {sorted(SOLUTIONS)}")
        if not alpha >= 0:
            raise ValueError(
                f"alpha (the weight of the PDE residual term) must be non-negative, got {alpha!r}; "
                f"the KAN paper uses 0.01"
            )
        check_count("n_interior", n_interior)
        check_count("n_boundary", n_boundary)
        if isinstance(n_test_per_axis, bool) or not isinstance(n_test_per_axis, int) or n_test_per_axis < 5:
            raise ValueError(
                f"n_test_per_axis must be an integer of at least 5, got {n_test_per_axis!r}: smaller "
                f"meshes put every test point where these exact solutions vanish, so the relative "
                f"error means nothing; the default is 101"
            )
        check_method(sampling)
        check_method(boundary_sampling)

        self.solution_name = solution
        self.exact = SOLUTIONS[solution]
        if self.exact.dim == 1 and n_boundary < 2:
            raise ValueError(
                f"n_boundary must be at least 2 in one dimension (both end points), got {n_boundary}"
            )
        self.input_dim = self.exact.dim
        self.variable_names = ("x", "y", "z")[: self.input_dim] if self.input_dim <= 3 else tuple(
            f"x{i}" for i in range(self.input_dim)
        )
        self.box = Box.cube(self.input_dim, lower, upper)
        self.alpha = float(alpha)
        self.loss_weights = {"interior": self.alpha, "boundary": 1.0}
        self.n_interior = n_interior
        self.n_boundary = n_boundary
        self.sampling = sampling
        self.boundary_sampling = boundary_sampling
        self.x_test = mesh(self.box, n_test_per_axis)
        self.test_shape = (n_test_per_axis,) * self.input_dim

        # Fail now, not at the first step, on mesh counts that do not fit the dimension.
        self.sample(np.random.default_rng(0))

    def sample(self, rng: np.random.Generator) -> dict[str, Tensor]:
        return {
            "x_interior": sample_interior(self.box, self.n_interior, self.sampling, rng),
            "x_boundary": sample_boundary(self.box, self.n_boundary, self.boundary_sampling, rng),
        }

    def source(self, x: Tensor) -> Tensor:
        """Right-hand side f at points x (N, D), shaped (N, 1)."""
        return self.exact.source(x)

    def u_exact(self, x: Tensor) -> Tensor:
        """Exact solution at points x (N, D), shaped (N, 1); also the boundary data g."""
        return self.exact.u(x)

    def exact_expression(self, symbols: Sequence[sympy.Symbol]) -> sympy.Expr:
        """Return the exact solution as a sympy expression in ``symbols``, one per dimension."""
        return self.exact.expression(*symbols)

    def losses(self, model: nn.Module, points: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x_interior = points["x_interior"]
        interior = evaluate(model, x_interior, laplacian=True)
        residual = interior.laplacian - self.source(x_interior)

        x_boundary = points["x_boundary"]
        boundary_error = model(x_boundary) - self.u_exact(x_boundary)

        return {"interior": residual.pow(2).mean(), "boundary": boundary_error.pow(2).mean()}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Return mse, rel_l2, max_abs and h1_squared of the model on the test mesh."""
        dtype, device = model_dtype_device(model)
        x = self.x_test.to(dtype=dtype, device=device)
        fields = evaluate(model, x, gradient=True)

        # Errors are formed in float64 against the float64 exact solution, whatever the model dtype.
        return field_errors(
            fields.u.detach().cpu().double(),
            self.u_exact(self.x_test),
            fields.gradient.detach().cpu().double(),
            self.exact.gradient(self.x_test),
        )
