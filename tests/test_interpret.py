"""Interpretation from the command line: the two end-to-end formula recoveries and bad input.

The module-scoped runs train the shipped experiments (about 30 s together on two cores) and are
shared by the tests that read their folders.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy
import torch

from kanpde import load_checkpoint

# Acceptance bounds of the recovered formulas, on the problems' test meshes.
FORMULA_MSE = 1e-10
# The formula rounded to 4 significant digits, against the exact solution.
ROUNDED_MAX_ABS = 1e-6

INTERPRET_FILES = [
    "network_trained.png",
    "edges.png",
    "symbolic_fits.csv",
    "importance.json",
    "network.png",
    "formula.txt",
    "formula.tex",
    "formula_metrics.json",
    "checkpoint.pt",
    "retrain_history.csv",
]


def run_module(module, arguments, cwd):
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


# Shorter schedules than the shipped experiments keep the suite fast: 25 instead of 50 L-BFGS steps
# per grid and 40 instead of 100 retraining steps. Both recoveries still pass with margin.
SHORT_SCHEDULE = [
    "trainer.stages.0.steps=25",
    "trainer.stages.1.steps=25",
    "trainer.stages.2.steps=25",
    "interpret.retrain_steps=40",
    "plots=false",
]


def start_module(module, arguments, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", module, *arguments],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Train both experiments at once (one core each). The Poisson run skips its interpret step,
    which the command line ``python -m kanpde.interpret`` then performs on the saved run."""
    folder = tmp_path_factory.mktemp("interpret")
    poisson_dir, regression_dir = folder / "poisson", folder / "regression"
    regression = start_module(
        "kanpde", ["experiment=interpret_regression", *SHORT_SCHEDULE, f"hydra.run.dir={regression_dir}"], folder
    )
    poisson = start_module(
        "kanpde",
        ["experiment=interpret_poisson", *SHORT_SCHEDULE, "interpret.enabled=false", f"hydra.run.dir={poisson_dir}"],
        folder,
    )
    try:
        _, errors = poisson.communicate(timeout=600)
        assert poisson.returncode == 0, errors
        interpreted = run_module("kanpde.interpret", [str(poisson_dir), "--r2-threshold", "0.999", "--steps", "40"], folder)
        _, errors = regression.communicate(timeout=600)
        assert regression.returncode == 0, errors
    finally:
        for process in (poisson, regression):
            if process.poll() is None:
                process.kill()
    return {"poisson": (poisson_dir, interpreted), "regression": regression_dir}


@pytest.fixture(scope="module")
def poisson_run(runs):
    return runs["poisson"]


@pytest.fixture(scope="module")
def regression_run(runs):
    return runs["regression"]


def _summary(run_dir):
    return json.loads((run_dir / "interpret" / "formula_metrics.json").read_text())


def test_interpret_cli_writes_every_file(poisson_run):
    run_dir, completed = poisson_run
    assert completed.returncode == 0, completed.stderr
    for name in INTERPRET_FILES:
        path = run_dir / "interpret" / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name


def test_interpret_cli_prints_formula(poisson_run):
    _, completed = poisson_run
    assert "formula: sin(pi*x)*sin(pi*y)" in completed.stdout


def test_poisson_formula_matches_exact_solution(poisson_run):
    run_dir, _ = poisson_run
    summary = _summary(run_dir)
    assert summary["formula_errors"]["fitted"]["against_exact"]["mse"] <= FORMULA_MSE
    assert summary["formula_errors"]["rounded"]["against_exact"]["max_abs"] <= ROUNDED_MAX_ABS
    assert summary["recognized_equals_exact"] is True


def test_poisson_formula_text_is_exact(poisson_run):
    run_dir, _ = poisson_run
    x, y = sympy.symbols("x y", real=True)
    lines = (run_dir / "interpret" / "formula.txt").read_text().splitlines()
    recognized = next(line for line in lines if line.startswith("recognized"))
    expression = sympy.sympify(recognized.split("=", 1)[1], locals={"x": x, "y": y})
    assert sympy.simplify(expression - sympy.sin(sympy.pi * x) * sympy.sin(sympy.pi * y)) == 0


def test_interpreted_checkpoint_is_symbolic(poisson_run):
    run_dir, _ = poisson_run
    model = load_checkpoint(run_dir / "interpret" / "checkpoint.pt")
    assert [len(layer.symbolic_functions) for layer in model.layers] == [4, 2]
    assert all(name == "sin" for name in model.layers[0].symbolic_functions)


def test_symbolic_fits_table_lists_edges(poisson_run):
    run_dir, _ = poisson_run
    rows = (run_dir / "interpret" / "symbolic_fits.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header[:4] == ["edge", "rank", "function", "a"]
    assert {row.split(",")[0] for row in rows[1:]} == {"0.0.0", "0.0.1", "0.1.0", "0.1.1"}


def test_regression_prunes_to_one_hidden_node(regression_run):
    summary = _summary(regression_run)
    assert summary["prune"]["widths_before"] == [2, 5, 1]
    assert summary["prune"]["widths_after"] == [2, 1, 1]


def test_regression_formula_matches_target(regression_run):
    summary = _summary(regression_run)
    x, y = sympy.symbols("x y", real=True)
    rounded = sympy.sympify(summary["formula"]["rounded"][0], locals={"x": x, "y": y})
    assert sympy.simplify(rounded - sympy.exp(sympy.sin(sympy.pi * x) + y**2)) == 0
    assert summary["recognized_equals_exact"] is True
    assert summary["formula_errors"]["fitted"]["against_exact"]["mse"] <= FORMULA_MSE


def test_training_run_records_interpretation(regression_run):
    metrics = json.loads((regression_run / "metrics.json").read_text())
    assert metrics["interpret"]["status"] == "ok"
    assert metrics["interpret"]["widths"] == [2, 1, 1]


def test_interpret_cli_missing_folder(tmp_path):
    completed = run_module("kanpde.interpret", [str(tmp_path / "nowhere")], tmp_path)
    assert completed.returncode == 2
    assert "not found" in completed.stderr


def test_interpret_cli_damaged_checkpoint(tmp_path, poisson_run):
    run_dir, _ = poisson_run
    copy = tmp_path / "run"
    (copy / ".hydra").mkdir(parents=True)
    (copy / ".hydra" / "config.yaml").write_text((run_dir / ".hydra" / "config.yaml").read_text())
    data = (run_dir / "checkpoint.pt").read_bytes()
    (copy / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    completed = run_module("kanpde.interpret", [str(copy)], tmp_path)
    assert completed.returncode == 2
    assert "damaged" in completed.stderr


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--edges", "0.0"], "layer.output.input"),
        (["--functions", "x,sinh"], "sinh"),
        (["--r2-threshold", "2"], "r2_threshold"),
        (["--steps", "-1"], "retrain_steps"),
        (["--edges", "0.0.0=foo"], "foo"),
        (["--edges", "9.9.9=sin"], "layers 0 to 1"),
        (["--seed", "-1"], "interpret.seed"),
        (["--complexity-weight", "-3"], "complexity_weight"),
    ],
)
def test_interpret_cli_bad_options(poisson_run, tmp_path, arguments, message):
    run_dir, _ = poisson_run
    completed = run_module("kanpde.interpret", [str(run_dir), "--output", str(tmp_path / "out"), *arguments], tmp_path)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert not (tmp_path / "out").exists()


def test_interpret_rejects_mlp_run(tmp_path):
    run_dir = tmp_path / "mlp"
    trained = run_module(
        "kanpde",
        ["model=mlp", "model.hidden_widths=[4]", "problem.n_interior=100", "problem.n_boundary=40",
         "trainer.stages.0.steps=1", "plots=false", f"hydra.run.dir={run_dir}"],
        tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    completed = run_module("kanpde.interpret", [str(run_dir)], tmp_path)
    assert completed.returncode == 2
    assert "needs a KAN" in completed.stderr


def test_invalid_interpret_setting_fails_before_training(tmp_path):
    run_dir = tmp_path / "run"
    completed = run_module(
        "kanpde",
        ["interpret.enabled=true", "interpret.r2_threshold=3", "trainer.stages.0.steps=1", f"hydra.run.dir={run_dir}"],
        tmp_path,
    )
    assert completed.returncode != 0
    assert "interpret.r2_threshold must be in [0, 1]" in completed.stderr
    assert not (run_dir / "history.csv").exists()


def test_interpret_leaves_model_unchanged(tmp_path):
    from kanpde import KAN
    from kanpde.interpret import InterpretOptions, interpret
    from kanpde.problems.regression import Regression

    problem = Regression(target="x + y**2", n_train=200, n_test=100)
    model = KAN([2, 2, 1], seed=0, dtype=torch.float64)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    interpret(problem, model, tmp_path / "out", InterpretOptions(r2_threshold=0.0, retrain_steps=2, plots=False))
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
    assert (tmp_path / "out" / "formula.txt").is_file()


def test_interpret_rerun_removes_old_files(poisson_run, tmp_path):
    run_dir, _ = poisson_run
    output = tmp_path / "again"
    output.mkdir()
    (output / "edges.png").write_bytes(b"stale")
    completed = run_module("kanpde.interpret", [str(run_dir), "--output", str(output), "--no-plots", "--steps", "0"], tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert not (output / "edges.png").exists()
    assert (output / "formula.txt").is_file()


def test_edges_setting_accepts_single_string():
    from kanpde.interpret import options_from_settings

    options = options_from_settings({"enabled": True, "edges": "0.0.0=sin,1.0.0"})
    assert options.edges == {"0.0.0": "sin", "1.0.0": None}
