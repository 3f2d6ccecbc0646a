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


def run_user_problem(tmp_path, config_name, config_text, arguments):
    """Run the command line on a problem config of the user's own, with tmp_path/user_problems on
    PYTHONPATH for the problem module that the test wrote there."""
    config_dir = tmp_path / "user_conf" / "problem"
    config_dir.mkdir(parents=True)
    (config_dir / f"{config_name}.yaml").write_text(config_text)
    return run_cli(
        [f"problem={config_name}", f"hydra.searchpath=[file://{tmp_path / 'user_conf'}]", *arguments],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "user_problems")},
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
    out = tmp_path / "run"
    completed = run_user_problem(
        tmp_path,
        "blows_up",
        "_target_: nan_problem.BlowsUp\nfinite_calls: 4\n",
        ["trainer=adam", "trainer.stages.0.steps=50", "trainer.log_every=1", f"hydra.run.dir={out}"],
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
    """Return every option of every config group as (group, option) pairs.

    Options in subfolders of a group (such as model/paper/kan.yaml) are named by their relative
    path, as on the command line.
    """
    root = resources.files("kanpde.conf")
    pairs = []
    for group in sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("_")):
        folders = [("", root.joinpath(group))]
        while folders:
            prefix, folder = folders.pop()
            for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
                if entry.is_dir() and not entry.name.startswith("_"):
                    folders.append((f"{prefix}{entry.name}/", entry))
                elif entry.name.endswith(".yaml"):
                    pairs.append((group, prefix + entry.name.removesuffix(".yaml")))
    return sorted(pairs)


def test_config_groups_are_found():
    choices = config_choices()
    groups = {group for group, _ in choices}
    assert {"problem", "model", "trainer", "experiment"} <= groups
    assert ("model", "paper/mlp_d4_w100") in choices


# Anderson configs build data by exact diagonalization: tests use a small chain and no cache.
SMALL_ANDERSON = ["problem.n_sites=144", "problem.n_hamiltonians=20", "problem.states_per_hamiltonian=10", "problem.cache_dir=''"]


def compose_overrides(group, option):
    """Return overrides that compose ``group=option`` with a problem it fits, kept small."""
    overrides = [f"{group}={option}"]
    if group == "problem" and option.startswith("anderson"):
        overrides += SMALL_ANDERSON
    if group == "model" and option.startswith("anderson/"):
        model = option.removeprefix("anderson/")
        overrides = [f"problem=anderson_{model}", *overrides, *SMALL_ANDERSON]
    return overrides


@pytest.mark.parametrize("group, option", config_choices())
def test_every_config_composes_and_builds(group, option):
    with initialize_config_module(config_module="kanpde.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=compose_overrides(group, option))
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


TINY_1D = [
    "problem=poisson_1d",
    "problem.n_interior=32",
    "problem.n_test_per_axis=51",
    "model.hidden_widths=[3]",
    "trainer.stages.0.steps=2",
    "trainer.stages.0.max_iter=3",
    "plots=false",
]


def sweep_folders(root):
    return sorted(path.parent for path in (root / "multirun").glob("*/*/multirun.yaml"))


def read_summary(folder):
    with open(folder / "summary.csv", newline="") as handle:
        return {row["configuration"]: row for row in csv.DictReader(handle)}


def test_multirun_writes_report(tmp_path):
    completed = run_cli(["-m", *TINY_1D, "model=kan,mlp"], cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    [sweep] = sweep_folders(tmp_path)
    for name in ("summary.csv", "summary.md", "jobs.csv", "scaling.png"):
        assert (sweep / name).is_file(), name
    rows = read_summary(sweep)
    assert set(rows) == {"model=kan", "model=mlp"}
    assert rows["model=kan"]["status"] == "ok 1"
    assert float(rows["model=kan"]["mse_mean"]) > 0
    assert rows["model=mlp"]["widths"] == "[1, 3, 1]"


def test_parallel_sweep_with_joblib(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    arguments = ["-m", *TINY_1D, "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    completed = run_cli(arguments, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "Joblib.Parallel(n_jobs=2" in completed.stdout
    [sweep] = sweep_folders(tmp_path)
    for job in ("0", "1"):
        assert json.loads((sweep / job / "metrics.json").read_text())["status"] == "ok"
    [row] = read_summary(sweep).values()
    assert row["runs"] == "2"
    assert row["seeds"] == "0 1"
    assert row["mse_std"] != ""


def test_sweep_through_submitit_local_launcher(tmp_path):
    # submitit's local executor runs the jobs as separate processes through the same launcher plugin
    # that sends them to SLURM with hydra/launcher=submitit_slurm.
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    arguments = ["-m", *TINY_1D, "seed=0,1", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"]
    completed = run_cli(arguments, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    [sweep] = sweep_folders(tmp_path)
    assert (sweep / ".submitit").is_dir()
    [row] = read_summary(sweep).values()
    assert row["status"] == "ok 2"


def test_sweep_goes_on_after_failed_job(tmp_path):
    completed = run_cli(["-m", *TINY_1D, "model.grid_size=0,4"], cwd=tmp_path)
    assert completed.returncode == 1
    assert "1 of 2 sweep jobs failed" in completed.stderr
    [sweep] = sweep_folders(tmp_path)
    rows = read_summary(sweep)
    assert rows["model.grid_size=0"]["status"] == "failed 1"
    assert rows["model.grid_size=4"]["status"] == "ok 1"
    failed = json.loads((sweep / "0" / "metrics.json").read_text())
    assert "grid_size must be an integer of at least 1" in failed["stop_reason"]
    assert "grid_size must be an integer of at least 1" in (sweep / "summary.md").read_text()


def test_sweeps_started_together_get_separate_folders(tmp_path):
    command = [sys.executable, "-m", "kanpde", "-m", *TINY_1D, "seed=0,1"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for process in processes:
        _, error = process.communicate(timeout=300)
        assert process.returncode == 0, error
    sweeps = sweep_folders(tmp_path)
    assert len(sweeps) == 2
    for sweep in sweeps:
        assert sorted(path.name for path in sweep.iterdir() if path.is_dir()) == ["0", "1"]
        assert read_summary(sweep)["(common settings)"]["runs"] == "2"


def test_grid_schedule_through_cli(tmp_path):
    out = tmp_path / "run"
    arguments = [
        "problem=poisson_1d", "problem.n_interior=32", "model.hidden_widths=[3]", "model.grid_size=5",
        "trainer=grid_extension", "trainer.stages.0.steps=2", "trainer.stages.1.steps=2",
        "trainer.stages.2.steps=2", "trainer.grid_update.every=1", "trainer.grid_update.until=1",
        f"hydra.run.dir={out}",
    ]
    completed = run_cli(arguments, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    kinds = [(event["kind"], event["step"]) for event in metrics["grid_events"]]
    assert kinds == [("update", 0), ("extension", 2), ("update", 2), ("extension", 4), ("update", 4)]
    assert metrics["architecture"]["grid_size"] == 20
    assert metrics["parameters"] == 6 * (20 + 3 + 2)
    assert metrics["parameters_initial"] == 6 * (5 + 3 + 2)
    with open(out / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["event"] for row in rows[:5]] == ["update", "", "extension 5->10; update", "", "extension 10->20; update"]
    assert [row["grid_size"] for row in rows] == ["5", "5", "10", "10", "20", "20", "20"]
    assert (out / "plots" / "staircase.png").is_file()
    assert "grid extension 5->10 | loss" in completed.stdout


def test_experiment_paper_poisson_composes():
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="kanpde.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=paper_poisson"], return_hydra_config=True)
    assert cfg.model.kind == "kan"
    assert cfg.model.hidden_widths == [10]
    assert cfg.model.grid_size == 5
    assert (cfg.problem.n_interior, cfg.problem.n_boundary, cfg.problem.alpha) == (10000, 800, 0.01)
    assert cfg.problem.sampling == "uniform"
    assert [stage.grid_size for stage in cfg.trainer.stages] == [5, 10, 20, 40]
    assert cfg.trainer.grid_update.every == 5
    models = [name.strip() for name in cfg.hydra.sweeper.params.model.split(",")]
    assert models[0] == "paper/kan"
    assert len(models) == 10
    settings = OmegaConf.to_container(
        compose_settings(["experiment=paper_poisson", "model=paper/mlp_d4_w100"]), resolve=True
    )
    _, model, trainer = build(settings)
    assert model.widths == [2, 100, 100, 100, 1]
    assert [stage.grid_size for stage in trainer.stages] == [5, 10, 20, 40]


def compose_settings(overrides):
    with initialize_config_module(config_module="kanpde.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def test_depth_and_width_build_mlp_widths():
    from omegaconf import OmegaConf

    settings = OmegaConf.to_container(compose_settings(["model=mlp", "model.depth=3", "model.width=7"]), resolve=True)
    _, model, _ = build(settings)
    assert model.widths == [2, 7, 7, 1]
    settings = OmegaConf.to_container(compose_settings(["model=mlp", "model.depth=3"]), resolve=True)
    with pytest.raises(ValueError, match="model.depth and model.width go together"):
        build(settings)


def test_mlp_reports_ignored_grid_size(tmp_path):
    out = tmp_path / "run"
    completed = run_cli([*TINY_1D, "model=mlp", "model.grid_size=10", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "model.grid_size=10 has no effect on a mlp model" in completed.stdout
    assert json.loads((out / "metrics.json").read_text())["ignored_settings"] == ["model.grid_size"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.grid_update.every=-2", "grid_update.every must be a non-negative integer"),
        ("+trainer.grid_update.often=1", "unknown trainer.grid_update setting"),
        ("trainer.stages.0.grid_size=0", "grid_size must be a positive integer or null"),
    ],
)
def test_invalid_grid_schedule_settings(tmp_path, override, message):
    out = tmp_path / "run"
    completed = run_cli([*TINY_1D, override, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert completed.returncode != 0
    assert message in completed.stderr
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"


def test_cli_failed_training_keeps_results(tmp_path):
    # A user problem with a bug that shows only after a few loss evaluations.
    (tmp_path / "user_problems").mkdir()
    (tmp_path / "user_problems" / "buggy_problem.py").write_text(textwrap.dedent('''
        import torch
        from kanpde import Problem

        class Buggy(Problem):
            input_dim = 1
            loss_weights = {"fit": 1.0}

            def __init__(self):
                self.calls = 0

            def sample(self, rng):
                return {"x": torch.linspace(-1, 1, 16, dtype=torch.float64).unsqueeze(1)}

            def losses(self, model, points):
                self.calls += 1
                if self.calls > 4:
                    raise KeyError("u_xx")
                return {"fit": (model(points["x"]) - 1).pow(2).mean()}

            def evaluate(self, model):
                return {"mse": model(torch.zeros(1, 1, dtype=torch.float64)).sub(1).pow(2).item()}
    '''))
    out = tmp_path / "run"
    completed = run_user_problem(
        tmp_path,
        "buggy",
        "_target_: buggy_problem.Buggy\n",
        ["trainer=adam", "trainer.stages.0.steps=50", f"hydra.run.dir={out}"],
    )
    assert completed.returncode == 1
    assert "training failed: KeyError at step 4" in completed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "failed"
    assert metrics["steps"] == 4
    with open(out / "history.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 5  # four steps and the final record
    assert (out / "checkpoint.pt").is_file()


def test_cli_rejects_unknown_model_setting(tmp_path):
    completed = run_cli([*TINY_1D, "+model.foo=1", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert completed.returncode != 0
    assert "unknown model setting(s) ['foo'] for a kan model" in completed.stderr


def test_sigterm_stops_sweep_and_writes_report(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "kanpde", "-m", "problem=poisson_1d", "problem.n_interior=32",
         "model.hidden_widths=[3]", "trainer=adam", "trainer.stages.0.steps=1000000", "trainer.log_every=1",
         "plots=false", "seed=0,1"],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        logs = list((tmp_path / "multirun").glob("*/*/0/kanpde.log"))
        if logs and "step 1 |" in logs[0].read_text():
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, error = process.communicate(timeout=120)
    assert process.returncode == 143, error
    [sweep] = [path.parent for path in (tmp_path / "multirun").glob("*/*/multirun.yaml")]
    assert not (sweep / "1").exists()  # the second job never started
    with open(sweep / "jobs.csv", newline="") as handle:
        [job] = list(csv.DictReader(handle))
    assert job["status"] == "interrupted"
    assert (sweep / "summary.md").is_file()


@pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="finds worker processes through /proc/PID/task/PID/children (Linux)",
)
def test_sigterm_to_joblib_worker_ends_that_job_only(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    process = subprocess.Popen(
        [sys.executable, "-m", "kanpde", "-m", "problem=poisson_1d", "problem.n_interior=32",
         "model.hidden_widths=[3]", "trainer=adam", "trainer.stages.0.steps=1000000", "trainer.log_every=1",
         "plots=false", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        logs = list((tmp_path / "multirun").glob("*/*/*/kanpde.log"))
        if len(logs) == 2 and all("step 1 |" in log.read_text() for log in logs):
            break
        time.sleep(0.2)
    # The workers are the children of the sweep's process that hold a job's log file open.
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    workers = [int(pid) for pid in children
               if any("kanpde.log" in os.path.realpath(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()
                      if fd.is_symlink())]
    assert len(workers) == 2
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    _, error = process.communicate(timeout=120)
    assert process.returncode == 0, error
    [sweep] = [path.parent for path in (tmp_path / "multirun").glob("*/*/multirun.yaml")]
    with open(sweep / "jobs.csv", newline="") as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    assert statuses == ["interrupted", "interrupted"]


def test_unknown_problem_setting_named():
    from kanpde.cli import build_problem

    with pytest.raises(ValueError, match=r"unknown problem setting\(s\) \['foo'\]"):
        build_problem({"_target_": "kanpde.problems.poisson.Poisson", "foo": 3})
