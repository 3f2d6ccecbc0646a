"""Summarize a sweep: one row per configuration, mean and standard deviation over seeds.

Usage: ``python -m kanpde.report SWEEP_DIR [SWEEP_DIR ...] [--output DIR] [--metric mse]``.

A sweep folder contains one job folder per run (Hydra's numbered subfolders, each with ``.hydra/`` and
``metrics.json``). Every job is listed, failed and diverged ones included; a job folder without a
readable ``metrics.json`` counts as failed. Jobs are grouped by their command-line overrides without
``seed`` and without settings the model ignored (such as ``model.grid_size`` for an MLP). Runs that
repeat a configuration and seed are counted once. Means and standard deviations (n - 1 in the
denominator) are taken over the runs with status ``ok``, or, for a configuration without any, over
its interrupted and diverged runs (column ``statistics_over`` names which).

Written to the output folder (the first sweep folder by default):

    summary.csv, summary.md   one row per configuration
    jobs.csv                  one row per job folder
    scaling.png               error against parameter count, log-log, one series per model kind

The same report is written automatically at the end of every ``python -m kanpde -m ...`` sweep by
the ``SweepReport`` Hydra callback that ``conf/config.yaml`` registers.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

logger = logging.getLogger(__name__)

# Columns of summary.csv besides the metrics, in order.
JOB_COLUMNS = ("job", "configuration", "model", "widths", "grid_size", "seed", "parameters", "status",
               "wall_time_s", "stop_reason")
# Metrics shown first when a problem reports them; any other metric follows in name order.
PREFERRED_METRICS = ("mse", "rel_l2", "h1_squared", "max_abs")


@dataclass
class Job:
    """One job folder and what its ``metrics.json`` records."""

    folder: Path
    status: str
    configuration: str
    seed: int | None = None
    model: str = ""
    widths: str = ""
    grid_size: int | None = None
    parameters: int | None = None
    wall_time_s: float | None = None
    stop_reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    overrides: list[str] | None = None


def find_job_folders(sweep: Path) -> list[Path]:
    """Return the job folders under ``sweep``: folders with ``metrics.json`` or a ``.hydra`` folder.

    A sweep root with ``multirun.yaml`` is not itself a job; a folder given directly that contains
    ``metrics.json`` is one.
    """
    if not sweep.exists():
        raise FileNotFoundError(f"sweep folder {str(sweep)!r} does not exist")
    if not sweep.is_dir():
        raise FileNotFoundError(f"{str(sweep)!r} is a file, not a sweep folder; pass the folder that contains the jobs")
    candidates = {path.parent for path in sweep.rglob("metrics.json")}
    candidates |= {path.parent for path in sweep.rglob(".hydra") if path.is_dir()}
    candidates = {folder for folder in candidates if not (folder / "multirun.yaml").exists()}
    return sorted(candidates, key=_natural_key)


def _natural_key(path: Path) -> list[Any]:
    """Sort job folders 2 before 10."""
    return [int(part) if part.isdigit() else part for part in path.parts]


def read_job(folder: Path) -> Job:
    """Read one job folder; a missing or damaged ``metrics.json`` gives status ``failed``."""
    overrides = _read_overrides(folder)
    path = folder / "metrics.json"
    try:
        content = json.loads(path.read_text())
        if not isinstance(content, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return Job(folder, "failed", _label(overrides, [], folder), overrides=overrides,
                   stop_reason="no metrics.json (the job did not finish)")
    except (OSError, ValueError) as error:
        return Job(folder, "failed", _label(overrides, [], folder), overrides=overrides,
                   stop_reason=f"unreadable metrics.json: {error}")

    settings = content.get("settings") or {}
    architecture = content.get("architecture") or {}
    model_settings = settings.get("model") or {}
    status = str(content.get("status", "failed"))
    if status == "running":
        status, reason = "failed", "metrics.json says running: the job stopped before it finished"
    else:
        reason = str(content.get("stop_reason", ""))
    widths = architecture.get("widths") or model_settings.get("widths")
    metrics = {
        name: float(value)
        for name, value in (content.get("metrics") or {}).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    return Job(
        folder=folder,
        status=status,
        configuration=_label(overrides, content.get("ignored_settings") or [], folder),
        seed=content.get("seed", settings.get("seed")),
        model=str(content.get("model", model_settings.get("kind", ""))),
        widths=str(list(widths)) if widths else "",
        grid_size=architecture.get("grid_size"),
        parameters=content.get("parameters"),
        wall_time_s=content.get("wall_time_s"),
        stop_reason=reason,
        metrics=metrics,
        overrides=overrides,
    )


def _read_overrides(folder: Path) -> list[str] | None:
    path = folder / ".hydra" / "overrides.yaml"
    if not path.exists():
        return None
    try:
        return [str(item) for item in OmegaConf.to_container(OmegaConf.load(path))]
    except Exception as error:  # a damaged file must not stop the report
        logger.warning("could not read %s (%s); grouping this job by its folder name", path, error)
        return None


def _label(overrides: list[str] | None, ignored: Sequence[str], folder: Path) -> str:
    """Name a configuration by its overrides without the seed and without ignored settings."""
    if overrides is None:
        return folder.name
    skipped = {"seed", *ignored}
    remaining = [item for item in overrides if item.split("=", 1)[0].lstrip("+~") not in skipped]
    return " ".join(remaining) or "(defaults)"


def summarize(jobs: Sequence[Job]) -> tuple[list[dict[str, Any]], list[str]]:
    """Group jobs by configuration and return the summary rows and the metric names.

    Runs that repeat a configuration and seed (for example an MLP swept over ``model.grid_size``,
    which it ignores) are counted once.
    """
    metric_names = _metric_names(jobs)
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        runs = groups.setdefault(job.configuration, [])
        if job.seed is not None and job.status != "failed" and any(
            other.seed == job.seed and other.status != "failed" for other in runs
        ):
            continue
        runs.append(job)

    rows = []
    for configuration, runs in groups.items():
        finished = [job for job in runs if job.status == "ok"]
        statistics_over = "ok"
        if not finished:
            # A configuration whose every run stopped early still shows where those runs ended.
            finished = [job for job in runs if job.status in ("interrupted", "diverged") and job.metrics]
            statistics_over = "stopped early" if finished else ""
        counts: dict[str, int] = {}
        for job in runs:
            counts[job.status] = counts.get(job.status, 0) + 1
        described = next((job for job in runs if job.model), runs[0])
        row: dict[str, Any] = {
            "configuration": configuration,
            "model": described.model,
            "widths": described.widths,
            "grid_size": described.grid_size if described.grid_size is not None else "",
            "parameters": described.parameters if described.parameters is not None else "",
            "runs": len(runs),
            "ok": sum(job.status == "ok" for job in runs),
            "statistics_over": statistics_over,
            "status": ", ".join(f"{status} {count}" for status, count in sorted(counts.items())),
            "seeds": " ".join(str(job.seed) for job in runs if job.seed is not None),
        }
        for name in [*metric_names, "wall_time_s"]:
            if name == "wall_time_s":
                values = [job.wall_time_s for job in finished if job.wall_time_s is not None]
            else:
                values = [job.metrics[name] for job in finished if name in job.metrics]
            values = [value for value in values if math.isfinite(value)]
            row[f"{name}_mean"] = statistics.fmean(values) if values else math.nan
            row[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else math.nan
        rows.append(row)
    rows.sort(key=lambda row: (row["model"], row["parameters"] if row["parameters"] != "" else -1, row["configuration"]))
    return rows, metric_names


def default_metric(metric_names: Sequence[str]) -> str | None:
    """Return ``mse`` if the jobs report it, else their first metric, else None."""
    if "mse" in metric_names:
        return "mse"
    return metric_names[0] if metric_names else None


def _metric_names(jobs: Iterable[Job]) -> list[str]:
    names = {name for job in jobs for name in job.metrics}
    return [name for name in PREFERRED_METRICS if name in names] + sorted(names - set(PREFERRED_METRICS))


def write_report(sweeps: Sequence[str | Path], output: str | Path | None = None, metric: str | None = None) -> dict[str, Path]:
    """Read every job under the sweep folders and write summary.csv, summary.md, jobs.csv and scaling.png.

    Args:
        sweeps: one or more sweep folders (or single job folders).
        output: folder for the report files; the first sweep folder by default.
        metric: the error drawn in the scaling plot; ``mse`` when the jobs report it.

    Returns:
        The paths written, by name.

    Raises:
        FileNotFoundError: for a sweep folder that does not exist.
        ValueError: when no job folder is found.
    """
    sweeps = [Path(sweep) for sweep in sweeps]
    folders = [folder for sweep in sweeps for folder in find_job_folders(sweep)]
    folders = list(dict.fromkeys(folders))  # overlapping sweep arguments list a job once
    if not folders:
        raise ValueError(
            f"no job folders (with metrics.json or .hydra/) found under {[str(s) for s in sweeps]}; "
            f"pass the folder that a sweep printed, such as multirun/2026-01-31/12-00-00-000000-4242"
        )
    jobs = [read_job(folder) for folder in folders]
    common = strip_common_overrides(jobs)
    rows, metric_names = summarize(jobs)
    if metric is None:
        metric = default_metric(metric_names)
    elif metric not in metric_names:
        raise ValueError(f"unknown metric {metric!r}; the jobs report {metric_names}")
    output = Path(output) if output is not None else sweeps[0]
    output.mkdir(parents=True, exist_ok=True)

    paths = {
        "summary.csv": output / "summary.csv",
        "summary.md": output / "summary.md",
        "jobs.csv": output / "jobs.csv",
    }
    _write_table(paths["summary.csv"], rows)
    _write_table(paths["jobs.csv"], [_job_row(job, metric_names, output) for job in jobs])
    paths["summary.md"].write_text(_markdown(rows, metric_names, jobs, sweeps, common))
    if metric is not None and any(not math.isnan(row[f"{metric}_mean"]) for row in rows):
        from kanpde.plotting import plot_scaling

        paths["scaling.png"] = plot_scaling(rows, metric, output / "scaling.png")
    return paths


def _job_row(job: Job, metric_names: Sequence[str], root: Path) -> dict[str, Any]:
    try:
        name = str(job.folder.relative_to(root))
    except ValueError:
        name = str(job.folder)
    row = {
        "job": name, "configuration": job.configuration, "model": job.model, "widths": job.widths,
        "grid_size": job.grid_size, "seed": job.seed, "parameters": job.parameters, "status": job.status,
        "wall_time_s": job.wall_time_s, "stop_reason": job.stop_reason,
    }
    row.update({name: job.metrics.get(name) for name in metric_names})
    return row


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write one CSV row per mapping, with every key as a column in order of first appearance.

    A key missing from a row is left empty.
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(name for name in row if name not in columns)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _write_table(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write report rows, leaving missing values (None or NaN) empty."""
    blank = [{name: ("" if _is_nan(value) or value is None else value) for name, value in row.items()} for row in rows]
    write_csv(path, blank)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _number(value: Any) -> str:
    if value is None or value == "" or _is_nan(value):
        return ""
    if isinstance(value, float):
        return f"{value:.2e}"
    return str(value)


def strip_common_overrides(jobs: Sequence[Job]) -> list[str]:
    """Remove the overrides that every job shares from the configuration labels; return them.

    Only jobs with command-line overrides take part; a label left empty becomes ``(common settings)``.
    """
    labelled = [job for job in jobs if job.overrides is not None]
    if len(labelled) < 2:
        return []
    common = [item for item in labelled[0].configuration.split(" ")
              if all(item in job.configuration.split(" ") for job in labelled[1:])]
    for job in labelled:
        kept = [item for item in job.configuration.split(" ") if item not in common]
        job.configuration = " ".join(kept) or "(common settings)"
    return common


def _markdown(
    rows: Sequence[dict[str, Any]],
    metric_names: Sequence[str],
    jobs: Sequence[Job],
    sweeps: Sequence[Path],
    common: Sequence[str] = (),
) -> str:
    header = ["configuration", "model", "widths", "G", "parameters", "runs", "status"]
    header += [f"{name} mean ± std" for name in metric_names] + ["train time s"]
    lines = [
        "# Sweep summary",
        "",
        f"Sweep folder(s): {', '.join(str(sweep) for sweep in sweeps)}. {len(jobs)} job(s), "
        f"{sum(job.status == 'ok' for job in jobs)} with status ok. Means and standard deviations "
        f"are over the runs with status ok (different seeds); the standard deviation needs two runs. "
        f"A configuration without such a run shows its interrupted or diverged runs instead, marked with *.",
        "",
        *([f"Settings shared by every job: `{' '.join(common)}`.", ""] if common else []),
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        cells = [row["configuration"], row["model"], row["widths"], _number(row["grid_size"]),
                 _number(row["parameters"]), str(row["runs"]), row["status"]]
        for name in [*metric_names, "wall_time_s"]:
            mean, std = _number(row[f"{name}_mean"]), _number(row[f"{name}_std"])
            if name == "wall_time_s" and mean:
                mean, std = f"{row[f'{name}_mean']:.1f}", (f"{row[f'{name}_std']:.1f}" if std else "")
            if mean and row["statistics_over"] == "stopped early":
                mean += "*"
            cells.append(f"{mean} ± {std}" if std else mean)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")

    unfinished = [job for job in jobs if job.status != "ok"]
    if unfinished:
        lines += ["", "Jobs without status ok:", ""]
        for job in unfinished:
            reason = job.stop_reason.splitlines()[0] if job.stop_reason else ""
            lines.append(f"- `{job.folder}`: {job.status}. {reason}")
    return "\n".join(lines) + "\n"


class SweepReport(Callback):
    """Hydra callback that writes the report into the sweep folder when a multirun ends.

    When a job failed, it exits with status 1 after writing, so that scripts notice. Diverged runs
    are results, not failures, and leave the exit status at 0.
    """

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        sweep = Path(str(config.hydra.sweep.dir))
        try:
            paths = write_report([sweep])
        except (OSError, ValueError) as error:
            logger.error("could not write the sweep report for %s: %s", sweep, error)
            return
        jobs = [read_job(folder) for folder in find_job_folders(sweep)]
        failed = [job for job in jobs if job.status == "failed"]
        logger.info("sweep report written to %s", paths["summary.md"])
        if failed:
            raise SystemExit(
                f"kanpde: {len(failed)} of {len(jobs)} sweep jobs failed; see {paths['summary.md']}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kanpde.report",
        description="Summarize kanpde sweep folders into summary.csv, summary.md, jobs.csv and scaling.png.",
    )
    parser.add_argument("sweeps", nargs="+", help="sweep folders (multirun/DATE/TIME) or job folders")
    parser.add_argument("--output", help="folder for the report files (default: the first sweep folder)")
    parser.add_argument("--metric", help="error drawn in the scaling plot (default: mse when present)")
    arguments = parser.parse_args(argv)
    try:
        paths = write_report(arguments.sweeps, arguments.output, arguments.metric)
    except (FileNotFoundError, ValueError) as error:
        print(f"kanpde.report: {error}", file=sys.stderr)
        return 2
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
