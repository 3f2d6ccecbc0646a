"""Command line: ``python -m kanpde problem=poisson model=kan trainer=lbfgs ...``.

This is the only module that reads a Hydra config. It turns the config into plain arguments,
builds the problem, the model and the trainer, and writes the run folder:

    metrics.json    status, stop reason, errors, parameter count, wall time, settings
    history.csv     loss terms and metrics per step
    checkpoint.pt   the trained network, loadable with ``kanpde.load_checkpoint`` alone
    plots/          fields.png (predicted, exact, error) and history.png (loss and error curves)
    kanpde.log      the log (written by Hydra), next to the resolved config in .hydra/
"""

from __future__ import annotations

import csv
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
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from torch import nn

from kanpde.checkpoint import save_checkpoint
from kanpde.models import build_model, count_parameters, resolve_dtype
from kanpde.problem import Problem
from kanpde.trainer import Trainer, make_stages

logger = logging.getLogger("kanpde")


class ConfigurationError(ValueError):
    """A config value was rejected while building the problem, model or trainer."""


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one training job from the composed config; return the final MSE for Hydra sweepers."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    choices = dict(HydraConfig.get().runtime.choices)
    # SIGTERM (sent by `timeout`, batch schedulers and `kill`) stops training the way Ctrl-C does,
    # so that the finished steps are still written out.
    previous_handler = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        metrics = run(settings, output_dir, problem_name=choices.get("problem", "custom"))
    except ConfigurationError as error:
        logger.error("invalid configuration: %s", error)
        raise SystemExit(f"kanpde: invalid configuration: {error}") from None
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    if metrics["status"] == "interrupted":
        # The shell's convention: 128 + the signal number.
        sys.exit(128 + (signal.SIGTERM if "SIGTERM" in metrics["stop_reason"] else signal.SIGINT))
    return metrics.get("metrics", {}).get("mse")


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
    torch.manual_seed(seed)

    problem = _build_problem(dict(settings["problem"]))
    model_settings = dict(settings["model"])
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
    trainer = Trainer(
        problem,
        model,
        make_stages(trainer_settings["stages"]),
        loss_weights=trainer_settings.get("loss_weights") or None,
        log_every=trainer_settings["log_every"],
        eval_every=trainer_settings.get("eval_every"),
        resample_every=trainer_settings.get("resample_every", 0),
        seed=seed,
    )
    return problem, model, trainer


def run(settings: dict[str, Any], output_dir: Path, problem_name: str = "custom") -> dict[str, Any]:
    """Build everything from plain settings, train, and write the run folder; return metrics.json's content."""
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        problem, model, trainer = build(settings)
    except (ValueError, TypeError) as error:
        raise ConfigurationError(str(error)) from error
    seed = int(settings["seed"])
    device = next(model.parameters()).device

    n_parameters = count_parameters(model)
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
        "settings": settings,
    }
    try:
        result = trainer.fit()
    except Exception as error:
        summary.update(status="failed", stop_reason=f"{type(error).__name__}: {error}")
        write_json(output_dir / "metrics.json", summary)
        raise

    final = result.final()
    metric_names = [name for name in final if name not in ("step", "stage", "optimizer", "time", "loss")
                    and name not in problem.loss_weights]
    summary.update(
        status=result.status,
        stop_reason=result.stop_reason,
        steps=result.steps,
        stage_notes=result.stage_notes,
        wall_time_s=result.wall_time,
        metrics={name: final[name] for name in metric_names},
        loss={name: final[name] for name in ("loss", *problem.loss_weights)},
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
        _write_plots(problem, model, result.history, metric_names, output_dir / "plots")
    logger.info("results written to %s", output_dir)
    return summary


def _resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was requested but torch sees no CUDA GPU; use device=cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"invalid device {name!r} ({error}); use device=cpu or device=cuda") from error


def _build_problem(problem_settings: dict[str, Any]) -> Problem:
    target = problem_settings.pop("_target_", None)
    if target is None:
        raise ValueError("the problem config needs a _target_ naming the problem class, e.g. kanpde.problems.poisson.Poisson")
    try:
        problem_class = get_class(target)
    except Exception as error:
        raise ValueError(f"problem class {target!r} could not be imported ({error}); check problem._target_") from error
    return problem_class(**problem_settings)


def write_json(path: Path, content: dict[str, Any]) -> None:
    """Write JSON through a temporary file, so that readers never see a half-written file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=2, default=str) + "\n")
    os.replace(temporary, path)


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    """Write one CSV row per history record; a metric missing from a record is left empty."""
    columns: list[str] = []
    for entry in history:
        columns.extend(name for name in entry if name not in columns)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


def _write_plots(problem, model, history, metric_names, folder: Path) -> None:
    from kanpde import plotting

    folder.mkdir(exist_ok=True)
    plotting.plot_history(history, folder / "history.png", metric_names)

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
