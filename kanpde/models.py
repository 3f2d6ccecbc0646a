"""Build a KAN or an MLP from plain settings, with its widths checked against a problem."""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch
from torch import nn

from kanpde.kan import KAN
from kanpde.mlp import MLP

MODEL_CLASSES: dict[str, type[nn.Module]] = {"kan": KAN, "mlp": MLP}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(name: str) -> torch.dtype:
    """Map ``float32`` or ``float64`` to the torch dtype."""
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use float64 (recommended for PDEs) or float32")
    return DTYPES[name]


def build_model(
    kind: str,
    input_dim: int,
    output_dim: int,
    *,
    widths: Sequence[int] | None = None,
    hidden_widths: Sequence[int] = (),
    depth: int | None = None,
    width: int | None = None,
    seed: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    **options: Any,
) -> nn.Module:
    """Build a network for a problem with ``input_dim`` inputs and ``output_dim`` outputs.

    Args:
        kind: ``kan`` or ``mlp``.
        widths: the full width list; ``Problem.check_model`` checks its ends against the problem.
        hidden_widths: used when ``widths`` is None: widths = [input_dim, *hidden_widths, output_dim].
        depth, width: a shorthand for sweeps that replaces ``hidden_widths`` when both are given:
            ``depth`` layers (weight matrices or KAN layers), so depth - 1 hidden layers of ``width``
            nodes each. Depth 4 and width 100 give [2, 100, 100, 100, 1] for a 2D scalar problem.
        options: further constructor arguments of the model class (grid_size, activation, ...).

    Raises:
        ValueError: for an unknown kind or invalid model options.
    """
    if kind not in MODEL_CLASSES:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {sorted(MODEL_CLASSES)} (model=kan or model=mlp)")
    if (depth is None) != (width is None):
        raise ValueError(
            f"model.depth and model.width go together, got depth={depth!r} and width={width!r}; "
            f"set both (depth 4, width 100 gives 3 hidden layers of 100) or neither"
        )
    if depth is not None:
        for name, value in (("depth", depth), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{name} must be a positive integer, got {value!r}")
        if widths is not None:
            raise ValueError("set either model.widths or model.depth and model.width, not both")
        hidden_widths = [width] * (depth - 1)
    if widths is None:
        widths = [input_dim, *hidden_widths, output_dim]
    model_class = MODEL_CLASSES[kind]
    known = set(inspect.signature(model_class).parameters) - {"widths", "seed", "dtype", "device"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(
            f"unknown model setting(s) {sorted(unknown)} for a {kind} model; known settings: "
            f"{sorted(known | {'widths', 'hidden_widths', 'depth', 'width'})}"
        )
    return model_class(widths, seed=seed, dtype=dtype, device=device, **options)


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable scalars that shape the model's function.

    For a KAN this is spline edges x (G + k + 2), as pykan counts, plus 4 per symbolic edge. Pruned
    edges and the masked spline parts of symbolic edges do not count.
    """
    counter = getattr(model, "parameter_count", None)
    if callable(counter):
        return counter()
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
