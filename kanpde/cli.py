"""Command line: ``python -m kanpde problem=poisson model=kan trainer=lbfgs ...``.

This is the only module that reads a Hydra config. It turns the config into plain arguments,
builds the problem, the model and the trainer, and writes the run folder:

    metrics.json    status, stop reason, errors, parameter count, wall time, grid changes, settings
    history.csv     loss terms and metrics per step, with the grid size and grid change events
    checkpoint.pt   the trained network, loadable with ``kanpde.load_checkpoint`` alone
    plots/          fields.png (predicted, exact, error), history.png (loss and error curves) and,
                    for KANs, staircase.png (loss against step with the grid changes marked)
    kanpde.log      the log (written by Hydra), next to the resolved config in .hydra/

In a multirun (``-m``) a job that fails writes ``metrics.json`` with status ``failed`` and lets the
sweep go on; ``kanpde.report`` then summarizes the sweep folder.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import platform
import signal
import sys
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_limits

from torch import nn

from kanpde.checkpoint import save_checkpoint
from kanpde.models import build_model, count_parameters, resolve_dtype
from kanpde.problem import Problem
from kanpde.report import write_csv
from kanpde.trainer import GridUpdate, Sparsity, Trainer, make_stages

logger = logging.getLogger("kanpde")


# Run and sweep folder names end in the process id, so two runs or sweeps started at the same
# moment never share a folder. The value is cached in the config, which launchers pass to their
# worker processes, so every job of a sweep resolves the same folder.
if not OmegaConf.has_resolver("kanpde_pid"):
    OmegaConf.register_new_resolver("kanpde_pid", os.getpid, use_cache=True)


class ConfigurationError(ValueError):
    """A config value was rejected while building the problem, model or trainer."""


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one training job from the composed config; return the final MSE for Hydra sweepers."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    hydra_config = HydraConfig.get()
    output_dir = Path(hydra_config.runtime.output_dir)
    choices = dict(hydra_config.runtime.choices)
    in_sweep = hydra_config.mode == RunMode.MULTIRUN
    # SIGTERM (sent by `timeout`, batch schedulers and `kill`) stops training the way Ctrl-C does,
    # so that the finished steps are still written out.
    previous_handler = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        metrics = run(settings, output_dir, problem_name=choices.get("problem", "custom"))
    except ConfigurationError as error:
        logger.error("invalid configuration: %s", error)
        if in_sweep:
            # Hydra stops a sweep at the first job that raises; the other jobs and the report matter more.
            return None
        raise SystemExit(f"kanpde: invalid configuration: {error}") from None
    except Exception:
        if in_sweep:
            logger.exception("job failed; metrics.json records the error and the sweep goes on")
            return None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    if metrics["status"] == "failed" and not in_sweep:
        raise SystemExit(f"kanpde: training failed: {metrics['stop_reason']}; the results so far are in {output_dir}")
    if metrics["status"] == "interrupted":
        # The shell's convention: 128 + the signal number.
        code = 128 + (signal.SIGTERM if "SIGTERM" in metrics["stop_reason"] else signal.SIGINT)
        if not in_sweep:
            sys.exit(code)
        if _jobs_run_in_this_process(hydra_config):
            # The signal was meant for the whole sweep, which runs in this process: stop it, but
            # first write the report of the jobs so far, which the end-of-sweep callback would skip.
            _report_unfinished_sweep(Path(str(hydra_config.sweep.dir)))
            sys.exit(code)
        # In a launcher's worker process (joblib, submitit) the signal ends this job only; the
        # launcher collects its interrupted status and the sweep report lists it.
    return metrics.get("metrics", {}).get("mse")


def _jobs_run_in_this_process(hydra_config) -> bool:
    """Return whether the sweep's launcher runs jobs one after another in the main process."""
    return str(hydra_config.launcher.get("_target_", "")).endswith("BasicLauncher")


def _report_unfinished_sweep(sweep_dir: Path) -> None:
    from kanpde.report import write_report

    try:
        paths = write_report([sweep_dir])
    except (OSError, ValueError) as error:
        logger.error("could not write the report of the interrupted sweep %s: %s", sweep_dir, error)
        return
    logger.warning("sweep interrupted; the report of the jobs so far is in %s", paths["summary.md"])


def _interrupt_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt("SIGTERM")


def build(settings: dict[str, Any]) -> tuple[Problem, nn.Module, Trainer]:
    """Build the problem, the model and the trainer from plain settings, checking them all.

    Every invalid value fails here, before any training step, with a ``ValueError`` naming it.
    """
    dtype = resolve_dtype(settings["dtype"])
    device = _resolve_device(settings["device"])
    seed = settings["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}")
    threads = settings.get("threads")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer or null (torch's default), got {threads!r}")
        torch.set_num_threads(threads)
        # BLAS threads too (numpy and scipy, for example the eigensolvers that build Anderson data
        # sets): two OpenBLAS threads on a busy two-core machine made each N = 610 eigh about ten
        # times slower than one.
        threadpool_limits(limits=threads)
    torch.manual_seed(seed)

    problem = build_problem(dict(settings["problem"]))
    model_settings = dict(settings["model"])
    for name in ignored_model_settings(model_settings):
        logger.info("model.%s=%r has no effect on a %s model", name, model_settings[name], model_settings.get("kind"))
    for name in ignored_model_settings(model_settings, include_unset=True):
        model_settings.pop(name)
    model = build_model(
        model_settings.pop("kind"),
        problem.input_dim,
        problem.output_dim,
        seed=seed,
        dtype=dtype,
        device=device,
        **model_settings,
    )
    problem.check_model(model)

    trainer_settings = settings["trainer"]
    grid_update = _known_settings(trainer_settings, "grid_update", GridUpdate)
    sparsity = _known_settings(trainer_settings, "sparsity", Sparsity)
    # Checked now, so that a bad interpret setting fails before training rather than after it.
    interpret_settings = settings.get("interpret") or {}
    if interpret_settings.get("enabled"):
        from kanpde.interpret import options_from_settings

        options_from_settings(interpret_settings)
    trainer = Trainer(
        problem,
        model,
        make_stages(trainer_settings["stages"]),
        loss_weights=trainer_settings.get("loss_weights") or None,
        log_every=trainer_settings["log_every"],
        eval_every=trainer_settings.get("eval_every"),
        resample_every=trainer_settings.get("resample_every", 0),
        grid_update=GridUpdate(**grid_update),
        sparsity=Sparsity(**sparsity),
        seed=seed,
    )
    return problem, model, trainer


def _known_settings(trainer_settings: dict[str, Any], section: str, dataclass_type: type) -> dict[str, Any]:
    """Return trainer.<section> as a dict, raising ``ValueError`` for a key the dataclass lacks."""
    values = trainer_settings.get(section) or {}
    known = set(dataclass_type.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown trainer.{section} setting(s) {sorted(unknown)}; known settings: {sorted(known)}")
    return values


# Settings that only KANs use. The MLP config lists ``grid_size`` as null so that one sweep such as
# ``model=kan,mlp model.grid_size=5,10`` composes for both kinds; an MLP ignores it.
SPLINE_SETTINGS = ("grid_size", "symbolic")


def ignored_model_settings(model_settings: dict[str, Any], include_unset: bool = False) -> list[str]:
    """Return the model settings that the model kind does not use (set ones only, by default)."""
    if model_settings.get("kind") == "kan":
        return []
    return [
        name for name in SPLINE_SETTINGS
        if name in model_settings and (include_unset or model_settings[name] is not None)
    ]


def run(settings: dict[str, Any], output_dir: Path, problem_name: str = "custom") -> dict[str, Any]:
    """Build everything from plain settings, train, and write the run folder; return metrics.json's content."""
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        problem, model, trainer = build(settings)
    except KeyboardInterrupt as error:
        # Ctrl-C or SIGTERM while the problem prepares its data (Anderson data sets take minutes).
        reason = f"interrupted before training by {error or 'SIGINT'}"
        logger.warning(reason)
        summary = {"status": "interrupted", "stop_reason": reason, "settings": settings}
        write_json(output_dir / "metrics.json", summary)
        return summary
    except (ValueError, TypeError, FileNotFoundError) as error:
        # The failed job still gets a metrics.json, so that a sweep report lists it.
        reason = f"invalid configuration: {error}"
        write_json(output_dir / "metrics.json", {"status": "failed", "stop_reason": reason, "settings": settings})
        raise ConfigurationError(str(error)) from error
    seed = int(settings["seed"])
    device = next(model.parameters()).device

    n_parameters = count_parameters(model)
    ignored = [f"model.{name}" for name in ignored_model_settings(dict(settings["model"]))]
    logger.info("config\n%s", json.dumps(settings, indent=2))
    logger.info(
        "start | problem %s | model %s %s | %d parameters | seed %d | torch %s | %s | %d threads | %s",
        problem_name, model.kind, model.widths, n_parameters, seed, torch.__version__,
        settings["dtype"], torch.get_num_threads(), device,
    )

    summary: dict[str, Any] = {
        "status": "running",
        "problem": problem_name,
        "model": model.kind,
        "architecture": model.architecture(),
        "parameters": n_parameters,
        "seed": seed,
        "dtype": settings["dtype"],
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "machine": platform.machine(),
        "ignored_settings": ignored,
        "settings": settings,
    }
    try:
        result = trainer.fit()
    except Exception as error:
        summary.update(status="failed", stop_reason=f"{type(error).__name__}: {error}")
        write_json(output_dir / "metrics.json", summary)
        raise

    final = result.final()
    not_metrics = {"step", "stage", "optimizer", "time", "loss", "grid_size", "event", *problem.loss_weights}
    metric_names = [name for name in final if name not in not_metrics]
    summary.update(
        status=result.status,
        stop_reason=result.stop_reason,
        steps=result.steps,
        stage_notes=result.stage_notes,
        wall_time_s=result.wall_time,
        metrics={name: final[name] for name in metric_names},
        loss={name: final.get(name) for name in ("loss", *problem.loss_weights)},
        # Grid extension changes the number of coefficients, so the count is taken after training.
        parameters=count_parameters(model),
        parameters_initial=n_parameters,
        architecture=model.architecture(),
        grid_events=result.grid_events,
    )

    # The history and the checkpoint go first: they are the results a later failure must not lose.
    write_history(output_dir / "history.csv", result.history)
    save_checkpoint(
        output_dir / "checkpoint.pt",
        model,
        metadata={"problem": problem_name, "status": result.status, "metrics": summary["metrics"]},
    )
    write_json(output_dir / "metrics.json", summary)
    if settings.get("plots", True):
        try:
            _write_plots(problem, model, result.history, metric_names, output_dir / "plots")
        except Exception:
            # The results are already on disk; a figure that cannot be drawn must not fail the run.
            logger.exception("could not draw the plots in %s", output_dir / "plots")
    if result.status == "interrupted":
        logger.info("no analysis or interpretation: the run was interrupted")
    else:
        _analyze(problem, model, output_dir, summary)
    if (settings.get("interpret") or {}).get("enabled") and result.status != "interrupted":
        _interpret(problem, model, result.status, settings["interpret"], output_dir, summary)
    logger.info("results written to %s", output_dir)
    return summary


def _analyze(problem, model, output_dir: Path, summary: dict[str, Any]) -> None:
    """Add the problem's own analysis of the trained model (``Problem.analyze``) to metrics.json."""
    try:
        analysis = problem.analyze(model, output_dir)
    except Exception:
        # The trained network and its metrics are already written; keep them.
        logger.exception("the problem's analysis failed; the training results in %s are complete", output_dir)
        summary["analysis"] = {"status": "failed"}
    else:
        if not analysis:
            return
        summary["analysis"] = analysis
        logger.info("analysis\n%s", json.dumps(analysis, indent=2, default=str))
    write_json(output_dir / "metrics.json", summary)


def _interpret(problem, model, status: str, interpret_settings, output_dir: Path, summary: dict[str, Any]) -> None:
    """Run the interpretation step into output_dir/interpret and add its formula to metrics.json."""
    from kanpde.interpret import interpret, options_from_settings

    if model.kind != "kan":
        logger.info("interpret.enabled is ignored for a %s model: only KANs have edge functions", model.kind)
        return
    if status != "ok":
        logger.warning("no interpretation: training ended with status %s", status)
        return
    try:
        result = interpret(problem, model, output_dir / "interpret", options_from_settings(interpret_settings))
    except KeyboardInterrupt as error:
        # Training finished and is written. The signal stops the interpretation, and the run ends
        # as interrupted, so that the command exits with 130 or 143 like an interrupted training.
        reason = str(error) or "SIGINT"
        logger.warning("interpretation interrupted: %s", reason)
        summary["interpret"] = {"status": "interrupted", "stop_reason": reason}
        summary.update(status="interrupted", stop_reason=f"interrupted during the interpretation: {reason}")
        write_json(output_dir / "metrics.json", summary)
        return
    except Exception:
        # The trained network and its metrics are already written; keep them.
        logger.exception("interpretation failed; the training results in %s are complete", output_dir)
        summary["interpret"] = {"status": "failed"}
    else:
        formula = result.get("formula")
        if formula:
            logger.info("formula: u = %s", formula["recognized"][0])
        else:
            logger.info(result.get("formula_note", "no formula"))
        summary["interpret"] = {
            "status": "ok",
            "widths": result["widths"],
            "formula": result.get("formula"),
            "formula_errors": result.get("formula_errors"),
            "spline_edges": result["spline_edges"],
        }
    write_json(output_dir / "metrics.json", summary)


def _resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was requested but torch sees no CUDA GPU; use device=cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"invalid device {name!r} ({error}); use device=cpu or device=cuda") from error


def build_problem(problem_settings: dict[str, Any]) -> Problem:
    target = problem_settings.pop("_target_", None)
    if target is None:
        raise ValueError("the problem config needs a _target_ naming the problem class, e.g. kanpde.problems.poisson.Poisson")
    try:
        problem_class = get_class(target)
    except Exception as error:
        raise ValueError(f"problem class {target!r} could not be imported ({error}); check problem._target_") from error
    known = set(inspect.signature(problem_class).parameters)
    unknown = sorted(set(problem_settings) - known)
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(problem_class).parameters.values()):
        raise ValueError(f"unknown problem setting(s) {unknown} for {target}; known settings: {sorted(known)}")
    return problem_class(**problem_settings)


def write_json(path: Path, content: dict[str, Any]) -> None:
    """Write JSON through a temporary file, so that readers never see a half-written file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=2, default=str) + "\n")
    os.replace(temporary, path)


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    """Write one CSV row per history record; a metric missing from a record is left empty."""
    write_csv(path, history)


def _write_plots(problem, model, history, metric_names, folder: Path) -> None:
    from kanpde import plotting

    folder.mkdir(exist_ok=True)
    plotting.plot_history(history, folder / "history.png", metric_names)
    if any("grid_size" in entry for entry in history):
        plotting.plot_staircase(history, folder / "staircase.png", metric_names)

    x_test = getattr(problem, "x_test", None)
    u_exact = getattr(problem, "u_exact", None)
    if x_test is None or u_exact is None or not hasattr(problem, "test_shape") or x_test.shape[1] > 2:
        logger.info(
            "no field plot: it needs a 1D or 2D problem with x_test (a regular mesh), test_shape "
            "(points per axis) and u_exact(x), like kanpde.problems.poisson.Poisson"
        )
        return
    parameter = next(model.parameters())
    with torch.no_grad():
        u = model(x_test.to(dtype=parameter.dtype, device=parameter.device)).double().cpu().numpy()
    plotting.plot_fields(
        x_test.numpy(), u, u_exact(x_test).numpy(), problem.test_shape, folder / "fields.png",
        problem.variable_names,
    )
