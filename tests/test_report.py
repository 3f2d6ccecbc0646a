"""The sweep report on hand-built sweep folders: grouping, statistics and failed jobs."""

import csv
import json
import math
import statistics
import subprocess
import sys

import pytest

from kanpde.report import main, write_report

# Means and standard deviations are computed from the same float values; only formatting differs.
STATISTICS_RTOL = 1e-12


def write_job(sweep, number, overrides, metrics_json):
    folder = sweep / str(number)
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {item}\n" for item in overrides))
    if metrics_json is not None:
        content = metrics_json if isinstance(metrics_json, str) else json.dumps(metrics_json)
        (folder / "metrics.json").write_text(content)
    return folder


def finished(model, seed, mse, widths, parameters, grid_size=None, status="ok", ignored=()):
    architecture = {"widths": widths}
    if grid_size is not None:
        architecture["grid_size"] = grid_size
    return {
        "status": status,
        "stop_reason": "completed all stages" if status == "ok" else "loss term 'interior' is nan at step 3",
        "model": model,
        "seed": seed,
        "architecture": architecture,
        "parameters": parameters,
        "wall_time_s": 10.0 + seed,
        "ignored_settings": list(ignored),
        "metrics": {"mse": mse, "rel_l2": math.sqrt(mse), "h1_squared": 2 * mse, "max_abs": 3 * mse},
        "settings": {"seed": seed, "model": {"kind": model}},
    }


@pytest.fixture
def sweep(tmp_path):
    """Six jobs: a KAN over two seeds, its third seed diverged, an MLP over two seeds (one repeated
    by an ignored grid size), a job that failed in its config and one that left no metrics.json."""
    sweep = tmp_path / "multirun"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    kan = ["problem=poisson_1d", "model=kan"]
    mlp = ["problem=poisson_1d", "model=mlp"]
    write_job(sweep, 0, [*kan, "seed=0"], finished("kan", 0, 1e-6, [1, 5, 1], 100, grid_size=5))
    write_job(sweep, 1, [*kan, "seed=1"], finished("kan", 1, 3e-6, [1, 5, 1], 100, grid_size=5))
    write_job(sweep, 2, [*kan, "seed=2"], finished("kan", 2, 0.5, [1, 5, 1], 100, grid_size=5, status="diverged"))
    write_job(sweep, 3, [*mlp, "model.grid_size=5", "seed=0"],
              finished("mlp", 0, 4e-5, [1, 20, 1], 61, ignored=["model.grid_size"]))
    write_job(sweep, 4, [*mlp, "model.grid_size=10", "seed=0"],
              finished("mlp", 0, 4e-5, [1, 20, 1], 61, ignored=["model.grid_size"]))
    write_job(sweep, 5, [*mlp, "model.grid_size=5", "seed=1"],
              finished("mlp", 1, 6e-5, [1, 20, 1], 61, ignored=["model.grid_size"]))
    write_job(sweep, 6, ["problem=poisson_1d", "model=kan", "model.grid_size=0", "seed=0"],
              {"status": "failed", "stop_reason": "invalid configuration: grid_size must be an integer of at least 1",
               "settings": {"seed": 0}})
    write_job(sweep, 7, ["problem=poisson_1d", "model=kan", "model.grid_size=7", "seed=0"], None)
    return sweep


def read_rows(path):
    with open(path, newline="") as handle:
        return {row["configuration"]: row for row in csv.DictReader(handle)}


def test_report_groups_seeds_and_counts_statuses(sweep):
    paths = write_report([sweep])
    assert set(paths) == {"summary.csv", "summary.md", "jobs.csv", "scaling.png"}
    rows = read_rows(paths["summary.csv"])
    assert set(rows) == {"model=kan", "model=mlp", "model=kan model.grid_size=0", "model=kan model.grid_size=7"}

    kan = rows["model=kan"]
    assert kan["runs"] == "3"
    assert kan["ok"] == "2"
    assert kan["status"] == "diverged 1, ok 2"
    assert float(kan["mse_mean"]) == pytest.approx(2e-6, rel=STATISTICS_RTOL)
    assert float(kan["mse_std"]) == pytest.approx(statistics.stdev([1e-6, 3e-6]), rel=STATISTICS_RTOL)
    assert float(kan["h1_squared_mean"]) == pytest.approx(4e-6, rel=STATISTICS_RTOL)
    assert float(kan["max_abs_mean"]) == pytest.approx(6e-6, rel=STATISTICS_RTOL)
    assert float(kan["wall_time_s_mean"]) == pytest.approx(10.5, rel=STATISTICS_RTOL)
    assert kan["parameters"] == "100"
    assert kan["grid_size"] == "5"

    # The MLP ignores model.grid_size, so its two grid sizes at seed 0 are one run.
    mlp = rows["model=mlp"]
    assert mlp["runs"] == "2"
    assert mlp["seeds"] == "0 1"
    assert float(mlp["mse_mean"]) == pytest.approx(5e-5, rel=STATISTICS_RTOL)
    assert mlp["grid_size"] == ""


def test_report_lists_failed_jobs(sweep):
    paths = write_report([sweep])
    rows = read_rows(paths["summary.csv"])
    assert rows["model=kan model.grid_size=0"]["status"] == "failed 1"
    assert rows["model=kan model.grid_size=0"]["mse_mean"] == ""
    assert rows["model=kan model.grid_size=7"]["status"] == "failed 1"
    assert rows["model=kan model.grid_size=7"]["statistics_over"] == ""

    markdown = paths["summary.md"].read_text()
    assert "Settings shared by every job: `problem=poisson_1d`" in markdown
    assert "grid_size must be an integer of at least 1" in markdown
    assert "no metrics.json (the job did not finish)" in markdown
    assert "| model=kan | kan | [1, 5, 1] | 5 | 100 | 3 | diverged 1, ok 2 | 2.00e-06 ± 1.41e-06 |" in markdown

    with open(paths["jobs.csv"], newline="") as handle:
        jobs = list(csv.DictReader(handle))
    assert len(jobs) == 8
    assert [job["status"] for job in jobs].count("failed") == 2


def test_report_marks_damaged_and_unfinished_metrics(tmp_path):
    sweep = tmp_path / "sweep"
    write_job(sweep, 0, ["seed=0"], finished("kan", 0, 1e-6, [2, 3, 1], 50, grid_size=5))
    write_job(sweep, 1, ["seed=1"], '{"status": "ok", "metr')
    write_job(sweep, 2, ["seed=2"], {"status": "running", "settings": {"seed": 2}})
    paths = write_report([sweep])
    with open(paths["jobs.csv"], newline="") as handle:
        jobs = {row["job"]: row for row in csv.DictReader(handle)}
    assert jobs["0"]["status"] == "ok"
    assert jobs["1"]["status"] == "failed"
    assert "unreadable metrics.json" in jobs["1"]["stop_reason"]
    assert jobs["2"]["status"] == "failed"
    assert "stopped before it finished" in jobs["2"]["stop_reason"]


def test_report_to_other_folder_and_metric(sweep, tmp_path):
    paths = write_report([sweep], output=tmp_path / "report", metric="rel_l2")
    assert paths["scaling.png"].parent == tmp_path / "report"
    assert paths["scaling.png"].stat().st_size > 0
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        write_report([sweep], output=tmp_path / "rejected", metric="accuracy")
    assert not (tmp_path / "rejected").exists()


def test_report_command_errors(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file.txt").write_text("")
    assert main([str(tmp_path / "file.txt")]) == 2
    assert "is a file, not a sweep folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "no job folders" in capsys.readouterr().err


def test_report_module_runs_as_command(sweep):
    completed = subprocess.run(
        [sys.executable, "-m", "kanpde.report", str(sweep)], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert str(sweep / "summary.md") in completed.stdout
    assert (sweep / "summary.csv").exists()


def test_report_shows_runs_that_stopped_early(tmp_path):
    sweep = tmp_path / "sweep"
    write_job(sweep, 0, ["model=mlp", "seed=0"], finished("mlp", 0, 2e-5, [2, 100, 1], 401, status="interrupted"))
    write_job(sweep, 1, ["model=kan", "seed=0"], finished("kan", 0, 1e-6, [2, 5, 1], 100, grid_size=5))
    paths = write_report([sweep])
    rows = read_rows(paths["summary.csv"])
    assert rows["model=mlp"]["statistics_over"] == "stopped early"
    assert float(rows["model=mlp"]["mse_mean"]) == pytest.approx(2e-5, rel=STATISTICS_RTOL)
    assert rows["model=kan"]["statistics_over"] == "ok"
    assert "| 2.00e-05* |" in paths["summary.md"].read_text()
