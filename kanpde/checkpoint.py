"""Save and load trained networks with their architecture, so that loading needs no config."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kanpde.models import MODEL_CLASSES

FORMAT = "kanpde-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is damaged, not a kanpde checkpoint, or does not fit the model."""


def save_checkpoint(path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any] | None = None) -> Path:
    """Write the model's kind, architecture, dtype and weights to ``path``.

    The file is written to a temporary name first and then renamed, so an interrupted save never
    leaves a truncated checkpoint under the final name.

    Args:
        path: destination file, conventionally ``checkpoint.pt``.
        model: a ``KAN`` or ``MLP``.
        metadata: plain values stored alongside (problem name, metrics, ...).
    """
    kind = getattr(model, "kind", None)
    if kind not in MODEL_CLASSES:
        raise TypeError(f"can only save kanpde models ({sorted(MODEL_CLASSES)}), got {type(model).__name__}")
    parameter = next(model.parameters())
    state_dict = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "architecture": model.architecture(),
        "dtype": str(parameter.dtype).removeprefix("torch."),
        "state_dict": state_dict,
        "sha256": "",
        "metadata": metadata or {},
    }
    payload["sha256"] = payload_digest(payload)
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a checkpoint file, returning its payload without building a model.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        CheckpointError: if the file is truncated, damaged or not a kanpde checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{str(path)!r} is a folder; pass the checkpoint file inside it, e.g. {str(path / 'checkpoint.pt')!r}")
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {str(path)!r} not found; a training run writes checkpoint.pt in its output folder"
        )
    try:
        # weights_only=True loads tensors and plain containers only, never arbitrary pickled code.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types on damaged files (OSError, KeyError, ...)
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged, truncated or not a kanpde checkpoint: torch.load "
            f"failed with {type(error).__name__}; rerun the training that wrote it"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a kanpde checkpoint (no {FORMAT!r} marker)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {payload.get('format_version')!r}, but this "
            f"kanpde reads version {FORMAT_VERSION}; load it with the kanpde version that wrote it"
        )
    if payload.get("kind") not in MODEL_CLASSES:
        raise CheckpointError(
            f"checkpoint {str(path)!r} contains an unknown model kind {payload.get('kind')!r}; "
            f"known kinds: {sorted(MODEL_CLASSES)}"
        )
    if payload.get("sha256") != payload_digest(payload):
        raise CheckpointError(
            f"checkpoint {str(path)!r} is damaged: its contents do not match the SHA-256 digest stored "
            f"with them; rerun the training that wrote it"
        )
    return payload


def payload_digest(payload: dict[str, Any]) -> str:
    """Return the SHA-256 of a checkpoint's kind, architecture, dtype and every weight tensor.

    Returns an empty string for a payload whose fields have the wrong types, which then never
    matches a stored digest.
    """
    state_dict = payload.get("state_dict")
    if not isinstance(state_dict, dict):
        return ""
    digest = hashlib.sha256()
    try:
        header = json.dumps([payload.get("kind"), payload.get("architecture"), payload.get("dtype")], sort_keys=True)
    except (TypeError, ValueError):
        return ""
    digest.update(header.encode())
    for name in sorted(state_dict, key=str):
        tensor = state_dict[name]
        if not isinstance(tensor, torch.Tensor):
            return ""
        digest.update(f"|{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        try:
            # A damaged file can describe strides that no tensor of its shape has.
            data = tensor.detach().cpu().flatten().contiguous().view(torch.uint8).numpy().tobytes()
        except (RuntimeError, ValueError, TypeError):
            return ""
        digest.update(data)
    return digest.hexdigest()


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the saved network, with its grids and weights, from a checkpoint file alone.

    Example:
        >>> model = load_checkpoint("outputs/2026-12-04/12-00-00/checkpoint.pt")
        >>> u = model(torch.zeros(1, 2, dtype=torch.float64))

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        CheckpointError: if the file is damaged or its weights do not match its architecture.
    """
    payload = read_checkpoint(path)
    model_class = MODEL_CLASSES[payload["kind"]]
    try:
        dtype = {"float32": torch.float32, "float64": torch.float64}[payload["dtype"]]
        model = model_class(**payload["architecture"], dtype=dtype)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {str(path)!r} has an invalid architecture: {error}") from error
    _load_state(model, payload["state_dict"], path)
    return model.to(device)


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a checkpoint's weights into an existing model whose weights have the same names and shapes.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        CheckpointError: if the file is damaged or was saved from a different architecture.
    """
    payload = read_checkpoint(path)
    kind = getattr(model, "kind", None)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in _with_defaults(model, payload["state_dict"]).items()}
    # Symbolic edges with the same count but other functions would load without a shape mismatch.
    saved_symbolic = payload["architecture"].get("symbolic") or [[] for _ in getattr(model, "layers", [])]
    symbolic = model.architecture().get("symbolic", saved_symbolic)
    if payload["kind"] != kind or expected != found or symbolic != saved_symbolic:
        raise CheckpointError(
            f"checkpoint {str(path)!r} contains a {payload['kind']} with architecture "
            f"{payload['architecture']}, whose weights do not fit the model ({kind}, "
            f"{getattr(model, 'widths', None)}); build the model from the checkpoint with "
            f"load_checkpoint instead"
        )
    _load_state(model, payload["state_dict"], path)
    return model


# KAN layer entries that checkpoints written before pruning and symbolic edges existed do not
# contain. Their defaults (every edge a spline edge, no symbolic edge) describe those networks.
OPTIONAL_KAN_ENTRIES = (".mask", ".symbolic_index", ".symbolic_affine")


def _with_defaults(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return ``state_dict`` with the model's own values for optional KAN entries that it lacks."""
    state_dict = dict(state_dict)
    for name, tensor in model.state_dict().items():
        if name not in state_dict and name.endswith(OPTIONAL_KAN_ENTRIES):
            state_dict[name] = tensor
    return state_dict


def _load_state(model: nn.Module, state_dict: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    defaults = model.state_dict()
    state_dict = _with_defaults(model, state_dict)
    expected = {name: tuple(t.shape) for name, t in defaults.items()}
    found = {name: tuple(t.shape) for name, t in state_dict.items()}
    if expected != found:
        differences = sorted(
            f"{name}: expected {expected.get(name)}, found {found.get(name)}"
            for name in set(expected) | set(found)
            if expected.get(name) != found.get(name)
        )
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not fit the architecture it names "
            f"({'; '.join(differences[:5])}); the file is damaged or was edited"
        )
    model.load_state_dict(state_dict)
