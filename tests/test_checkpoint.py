import pytest
import torch

from kanpde import KAN, MLP, CheckpointError, load_checkpoint, load_weights, save_checkpoint
from kanpde.checkpoint import payload_digest


@pytest.mark.parametrize(
    "model",
    [
        KAN([2, 4, 1], grid_size=7, spline_order=2, grid_range=(-2, 2), seed=0, dtype=torch.float64),
        KAN([2, 3, 1], grid_size=5, seed=0, dtype=torch.float32),
        MLP([2, 8, 8, 1], activation="sin", seed=0, dtype=torch.float64),
    ],
)
def test_round_trip_reproduces_outputs(tmp_path, model):
    with torch.no_grad():
        if isinstance(model, KAN):
            model.layers[0].knots.mul_(1.1)  # an adapted grid must survive the round trip
    path = save_checkpoint(tmp_path / "checkpoint.pt", model, metadata={"problem": "poisson"})
    loaded = load_checkpoint(path)
    dtype = next(model.parameters()).dtype
    x = torch.rand(20, 2, dtype=dtype) * 2 - 1
    assert type(loaded) is type(model)
    assert next(loaded.parameters()).dtype == dtype
    assert torch.equal(loaded(x), model(x))


def test_load_weights_into_same_architecture(tmp_path):
    source = KAN([2, 3, 1], seed=0, dtype=torch.float64)
    path = save_checkpoint(tmp_path / "c.pt", source)
    target = KAN([2, 3, 1], seed=1, dtype=torch.float64)
    load_weights(target, path)
    x = torch.rand(5, 2, dtype=torch.float64)
    assert torch.equal(target(x), source(x))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint '.*nothing.pt' not found"):
        load_checkpoint(tmp_path / "nothing.pt")


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.75, 0.99])
def test_truncated_checkpoint(tmp_path, fraction):
    path = save_checkpoint(tmp_path / "c.pt", KAN([2, 3, 1], dtype=torch.float64))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError, match="is damaged.*rerun the training"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="is damaged.*rerun the training"):
        load_weights(KAN([2, 3, 1], dtype=torch.float64), path)


def test_checkpoint_with_corrupted_bytes(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", KAN([2, 3, 1], grid_size=20, dtype=torch.float64))
    data = bytearray(path.read_bytes())
    # Overwrite 50 bytes in the middle of the file, as a failing disk might.
    start = len(data) // 2
    data[start : start + 50] = bytes(50)
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="is damaged"):
        load_checkpoint(path)


def test_folder_instead_of_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder; pass the checkpoint file inside it"):
        load_checkpoint(tmp_path)


def test_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    path.write_text("metrics, not weights")
    with pytest.raises(CheckpointError, match="damaged, truncated or not a kanpde checkpoint"):
        load_checkpoint(path)
    path.write_text("e" * 200)
    with pytest.raises(CheckpointError, match="damaged, truncated or not a kanpde checkpoint"):
        load_checkpoint(path)
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="is not a kanpde checkpoint"):
        load_checkpoint(path)


def test_incompatible_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", KAN([2, 3, 1], grid_size=5, dtype=torch.float64))
    with pytest.raises(CheckpointError, match="do not fit the model .*load_checkpoint instead"):
        load_weights(KAN([2, 4, 1], grid_size=5, dtype=torch.float64), path)
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load_weights(KAN([2, 3, 1], grid_size=6, dtype=torch.float64), path)
    with pytest.raises(CheckpointError, match="contains a kan"):
        load_weights(MLP([2, 3, 1], dtype=torch.float64), path)


def test_load_weights_ignores_initialization_settings(tmp_path):
    # noise_scale and the derivative method do not change the weights' shapes.
    source = KAN([2, 3, 1], grid_size=5, noise_scale=0.1, seed=0, dtype=torch.float64)
    path = save_checkpoint(tmp_path / "c.pt", source)
    target = KAN([2, 3, 1], grid_size=5, noise_scale=0.5, derivatives="autograd", dtype=torch.float64)
    load_weights(target, path)
    x = torch.rand(4, 2, dtype=torch.float64)
    assert torch.equal(target(x), source(x))


def test_edited_checkpoint_with_wrong_shapes(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", KAN([2, 3, 1], grid_size=5, dtype=torch.float64))
    payload = torch.load(path, weights_only=True)
    payload["architecture"]["grid_size"] = 6
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match the SHA-256 digest"):
        load_checkpoint(path)
    # Even with a matching digest, weights that do not fit the named architecture are rejected.
    payload["sha256"] = payload_digest(payload)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="does not fit the architecture it names.*coefficients"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "field, value",
    [("dtype", "gloat64"), ("kind", "mlp"), ("architecture", {"widths": [2, 3, 1], "grid_size": 99})],
)
def test_edited_metadata_fails_digest(tmp_path, field, value):
    path = save_checkpoint(tmp_path / "c.pt", KAN([2, 3, 1], dtype=torch.float64))
    payload = torch.load(path, weights_only=True)
    payload[field] = value
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match the SHA-256 digest"):
        load_checkpoint(path)


def test_every_single_byte_change_is_caught_or_harmless(tmp_path):
    # Flip each byte of a small checkpoint in turn: loading either raises CheckpointError or
    # returns a model with identical outputs (bytes such as zip padding carry no content).
    source = KAN([1, 1, 1], grid_size=1, spline_order=1, seed=0, dtype=torch.float64)
    path = save_checkpoint(tmp_path / "c.pt", source)
    original = path.read_bytes()
    x = torch.linspace(-1, 1, 5, dtype=torch.float64).unsqueeze(1)
    expected = source(x)
    for position in range(0, len(original), 7):
        damaged = bytearray(original)
        damaged[position] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            model = load_checkpoint(path)
        except CheckpointError:
            continue
        assert torch.equal(model(x), expected), f"byte {position} changed the outputs silently"


def test_edited_weights_fail_digest(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", KAN([2, 3, 1], dtype=torch.float64))
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["layers.0.coefficients"][0, 0, 0] += 1.0
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match the SHA-256 digest"):
        load_checkpoint(path)
