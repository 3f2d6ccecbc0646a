"""The command line as users run it: subprocesses of ``python -m kanpde`` on tiny budgets."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from importlib import resources
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from kanpde import load_checkpoint
from kanpde.cli import build, run

TINY_2D = [
    "problem.n_interior=100",
    "problem.n_boundary=40",
    "problem.n_test_per_axis=21",
    "model.hidden_widths=[3]",
    "model.grid_size=4",
    "trainer.stages.0.steps=2",
    "trainer.stages.0.max_iter=3",
    "trainer.log_every=1",
]


def run_cli(arguments, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "kanpde", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def test_cli_writes_run_folder(tmp_path):
    out = tmp_path / "run"
    completed = run_cli([*TINY_2D, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok"
    assert metrics["stop_reason"] == "completed all stages"
    assert metrics["parameters"] == 9 * (4 + 3 + 2)
    assert set(metrics["metrics"]) == {"mse", "rel_l2", "max_abs", "h1_squared"}
    assert metrics["metrics"]["mse"] > 0
    assert metrics["wall_time_s"] > 0

    with open(out / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["step"] for row in rows] == ["0", "1", "2"]
    assert float(rows[-1]["mse"]) == pytest.approx(metrics["metrics"]["mse"], rel=1e-12)

    model = load_checkpoint(out / "checkpoint.pt")
    assert model.widths == [2, 3, 1]
    for name in ("fields.png", "history.png"):
        image = out / "plots" / name
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / ".hydra" / "config.yaml").is_file()
    assert "step 2 | loss" in (out / "kanpde.log").read_text()


def test_cli_rejects_invalid_value_before_training(tmp_path):
    out = tmp_path / "run"
    completed = run_cli([*TINY_2D, "model.spline_order=1", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert completed.returncode != 0
    assert "invalid configuration: spline_order 1 is too low" in completed.stderr
    assert not (out / "checkpoint.pt").exists()


def test_cli_user_problem_that_diverges(tmp_path):
    # A problem defined outside kanpde, found through PYTHONPATH and an extra config folder.
    (tmp_path / "user_problems").mkdir()
    (tmp_path / "user_problems" / "nan_problem.py").write_text(textwrap.dedent('''
        import math
        import torch
        from kanpde import Problem

        class BlowsUp(Problem):
            input_dim = 1
            loss_weights = {"fit": 1.0}

            def __init__(self, finite_calls):
                self.finite_calls = finite_calls
                self.calls = 0

            def sample(self, rng):
                return {"x": torch.linspace(-1, 1, 16, dtype=torch.float64).unsqueeze(1)}

            def losses(self, model, points):
                self.calls += 1
                fit = (model(points["x"]) - 1).pow(2).mean()
                return {"fit": fit * (math.inf if self.calls > self.finite_calls else 1.0)}

            def evaluate(self, model):
                return {"mse": model(torch.zeros(1, 1, dtype=torch.float64)).sub(1).pow(2).item()}
    '''))
    config_dir = tmp_path / "user_conf" / "problem"
    config_dir.mkdir(parents=True)
    (config_dir / "blows_up.yaml").write_text("_target_: nan_problem.BlowsUp\nfinite_calls: 4\n")

    out = tmp_path / "run"
    completed = run_cli(
        [
            "problem=blows_up",
            f"hydra.searchpath=[file://{tmp_path / 'user_conf'}]",
            "trainer=adam",
            "trainer.stages.0.steps=50",
            "trainer.log_every=1",
            f"hydra.run.dir={out}",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "user_problems")},
    )
    assert completed.returncode == 0, completed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "diverged"
    assert "loss term 'fit' is inf at step 4" in metrics["stop_reason"]
    with open(out / "history.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 5  # four finite steps and the final record
    model = load_checkpoint(out / "checkpoint.pt")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def config_choices():
    """Every option of every config group, as (group, option) pairs."""
    root = resources.files("kanpde.conf")
    pairs = []
    for group in sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("_")):
        for option in sorted(entry.name for entry in root.joinpath(group).iterdir() if entry.name.endswith(".yaml")):
            pairs.append((group, option.removesuffix(".yaml")))
    return pairs


def test_config_groups_are_found():
    groups = {group for group, _ in config_choices()}
    assert {"problem", "model", "trainer"} <= groups


@pytest.mark.parametrize("group, option", config_choices())
def test_every_config_composes_and_builds(group, option):
    with initialize_config_module(config_module="kanpde.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"{group}={option}"])
    from omegaconf import OmegaConf

    settings = OmegaConf.to_container(cfg, resolve=True)
    problem, model, trainer = build(settings)
    assert model.widths[0] == problem.input_dim


def test_same_seed_gives_identical_metrics(tmp_path):
    with initialize_config_module(config_module="kanpde.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*TINY_2D, "plots=false", "problem.sampling=uniform"])
    from omegaconf import OmegaConf

    settings = OmegaConf.to_container(cfg, resolve=True)
    first = run(settings, tmp_path / "a")
    second = run(settings, tmp_path / "b")
    assert first["metrics"] == second["metrics"]
    assert first["loss"] == second["loss"]
    other = run({**settings, "seed": 1}, tmp_path / "c")
    assert other["metrics"] != first["metrics"]


def test_installed_package_ships_configs_and_problems():
    import kanpde.problems.poisson

    assert resources.files("kanpde.conf").joinpath("config.yaml").is_file()
    assert Path(kanpde.problems.poisson.__file__).name == "poisson.py"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cli_runs_on_cuda(tmp_path):
    out = tmp_path / "run"
    completed = run_cli([*TINY_2D, "device=cuda", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device"].startswith("cuda")
    assert metrics["status"] == "ok"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cli_cuda_without_gpu(tmp_path):
    completed = run_cli([*TINY_2D, "device=cuda", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert completed.returncode != 0
    assert "device 'cuda' was requested but torch sees no CUDA GPU; use device=cpu" in completed.stderr


def test_sigterm_keeps_finished_steps(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "kanpde", *TINY_2D, "trainer.stages.0.steps=100000", "plots=false",
         f"hydra.run.dir={out}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    log = out / "kanpde.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.is_file() and "step 3 |" in log.read_text()):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)

    assert process.returncode == 128 + signal.SIGTERM
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    assert "by SIGTERM" in metrics["stop_reason"]
    assert metrics["steps"] >= 3
    assert load_checkpoint(out / "checkpoint.pt").widths == [2, 3, 1]


def test_cli_runs_from_repository_root():
    # python -m puts the current folder first on sys.path, so this imports the source checkout.
    root = Path(__file__).resolve().parents[1]
    if not (root / "conf" / "config.yaml").is_file():
        pytest.skip("tests are not inside a kanpde checkout")
    completed = run_cli([*TINY_2D, "plots=false", "--cfg", "job"], cwd=root)
    assert completed.returncode == 0, completed.stderr
    assert "_target_: kanpde.problems.poisson.Poisson" in completed.stdout
    imported = subprocess.run(
        [sys.executable, "-c", "import kanpde.problems.poisson, kanpde.conf; print(kanpde.__file__)"],
        cwd=root, capture_output=True, text=True, timeout=120,
    )
    assert imported.returncode == 0, imported.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        ("seed=-1", "seed must be an integer from 0 to 2\\*\\*32 - 1, got -1"),
        ("threads=0", "threads must be a positive integer or null"),
        ("dtype=float16", "unknown dtype 'float16'"),
        ("trainer.stages.0.tolerance_grad=-1", "L-BFGS tolerances must be non-negative"),
    ],
)
def test_invalid_top_level_settings(override, message):
    with initialize_config_module(config_module="kanpde.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*TINY_2D, override])
    from omegaconf import OmegaConf

    with pytest.raises(ValueError, match=message):
        build(OmegaConf.to_container(cfg, resolve=True))
