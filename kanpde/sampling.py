"""Collocation points in a box and on its boundary: uniform random, Sobol and regular meshes.

Shape letters: N points, D dimensions. Every sampler returns points shaped (N, D).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.stats import qmc
from torch import Tensor

METHODS = ("uniform", "sobol", "mesh")


@dataclass(frozen=True)
class Box:
    """Axis-aligned box [lower_0, upper_0] x ... x [lower_{D-1}, upper_{D-1}]."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.upper) or not self.lower:
            raise ValueError(
                f"box bounds must have the same positive length, got lower={self.lower}, upper={self.upper}"
            )
        if any(lo >= hi for lo, hi in zip(self.lower, self.upper)):
            raise ValueError(
                f"every lower bound must be below its upper bound, got lower={self.lower}, upper={self.upper}"
            )

    @classmethod
    def cube(cls, dim: int, lower: float = -1.0, upper: float = 1.0) -> "Box":
        return cls((float(lower),) * dim, (float(upper),) * dim)

    @property
    def dim(self) -> int:
        return len(self.lower)

    def scale(self, unit: np.ndarray) -> np.ndarray:
        """Map points from [0, 1]^D to the box."""
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        return lower + unit * (upper - lower)


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown sampling method {method!r}; choose one of {list(METHODS)}")


def check_count(name: str, n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}; use a count of 1 or more")


def sample_interior(
    box: Box,
    n: int,
    method: str = "uniform",
    rng: np.random.Generator | None = None,
    *,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Draw n points in the closed box.

    Args:
        box: the domain.
        n: number of points. For ``mesh`` it must be a perfect D-th power (m^D points, m per axis,
            including both ends of every axis).
        method: ``uniform`` (independent uniform draws), ``sobol`` (scrambled Sobol sequence) or
            ``mesh`` (regular grid).
        rng: numpy generator for the random methods; the mesh ignores it.

    Returns:
        Points shaped (n, D).

    Raises:
        ValueError: for an unknown method, a non-positive count, or a mesh count that is not m^D.
    """
    check_method(method)
    check_count("n_interior", n)
    rng = np.random.default_rng() if rng is None else rng
    dim = box.dim

    if method == "uniform":
        unit = rng.random((n, dim))
    elif method == "sobol":
        unit = _sobol(n, dim, rng)
    else:
        return mesh(box, _mesh_side(n, dim, "n_interior"), dtype=dtype)
    return torch.as_tensor(box.scale(unit), dtype=dtype)


def sample_boundary(
    box: Box,
    n: int,
    method: str = "uniform",
    rng: np.random.Generator | None = None,
    *,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Draw n points on the boundary of the box.

    In one dimension the boundary is the two end points, returned alternately until n points
    are drawn (n must be even; n = 2 gives each end once). In D >= 2 dimensions each of the 2D faces receives
    points in proportion to its area (random methods) or an equal share (mesh).

    Args:
        box: the domain.
        n: number of points. For ``mesh`` in D >= 2 it must be 2D * m^(D-1): m cell-centred
            points per axis on every face, so that no corner is counted twice.
        method: ``uniform``, ``sobol`` or ``mesh``.
        rng: numpy generator for the random methods.

    Returns:
        Points shaped (n, D).
    """
    check_method(method)
    check_count("n_boundary", n)
    rng = np.random.default_rng() if rng is None else rng
    dim = box.dim

    if dim == 1:
        if n % 2:
            raise ValueError(
                f"n_boundary must be even in one dimension, so that both end points get the same "
                f"weight, got {n}; use 2"
            )
        ends = np.array([[0.0], [1.0]])
        return torch.as_tensor(box.scale(ends[np.arange(n) % 2]), dtype=dtype)

    faces = [(axis, side) for axis in range(dim) for side in (0.0, 1.0)]
    if method == "mesh":
        n_faces = len(faces)
        if n % n_faces != 0:
            raise ValueError(
                f"a boundary mesh in {dim} dimensions needs n_boundary divisible by {n_faces} "
                f"(one share per face), got {n}; try {max(n_faces, n - n % n_faces)}"
            )
        per_axis = _mesh_side(n // n_faces, dim - 1, "n_boundary per face")
        centres = (np.arange(per_axis) + 0.5) / per_axis
        face_grid = np.stack(np.meshgrid(*[centres] * (dim - 1), indexing="ij"), -1).reshape(-1, dim - 1)
        counts = [len(face_grid)] * n_faces
        free = [face_grid] * n_faces
    else:
        widths = np.asarray(box.upper) - np.asarray(box.lower)
        areas = np.array([np.prod(np.delete(widths, axis)) for axis, _ in faces])
        face_index = rng.choice(len(faces), size=n, p=areas / areas.sum())
        counts = np.bincount(face_index, minlength=len(faces)).tolist()
        if method == "uniform":
            free = [rng.random((count, dim - 1)) for count in counts]
        else:
            free = [_sobol(count, dim - 1, rng) for count in counts]

    blocks = []
    for (axis, side), count, coordinates in zip(faces, counts, free):
        if count == 0:
            continue
        block = np.insert(coordinates, axis, side, axis=1)
        blocks.append(block)
    unit = np.concatenate(blocks)
    return torch.as_tensor(box.scale(unit), dtype=dtype)


def mesh(box: Box, per_axis: Sequence[int] | int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """Return a regular mesh including the box corners, with ``per_axis`` points along each axis.

    Points are ordered with the last axis varying fastest, so ``reshape(*per_axis, D)`` recovers the grid.
    """
    if isinstance(per_axis, int):
        per_axis = [per_axis] * box.dim
    axes = [np.linspace(lo, hi, m) for lo, hi, m in zip(box.lower, box.upper, per_axis)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, box.dim)
    return torch.as_tensor(points, dtype=dtype)


def _sobol(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    if n == 0:
        return np.empty((0, dim))
    sampler = qmc.Sobol(d=dim, scramble=True, seed=rng)
    # Sobol balance properties hold for powers of two; other counts are still low-discrepancy
    # prefixes of the sequence, so the balance warning is not useful here.
    m = math.ceil(math.log2(n))
    return sampler.random_base2(m)[:n]


def _mesh_side(n: int, dim: int, name: str) -> int:
    side = round(n ** (1.0 / dim))
    if side**dim != n:
        lower = max(side - 1, 1) ** dim
        upper = (side + 1) ** dim
        candidates = sorted({lower, side**dim, upper} - {n})
        raise ValueError(
            f"a regular mesh in {dim} dimension(s) needs {name} = m^{dim} "
            f"(m points per axis), got {n}; try one of {candidates}"
        )
    return side
