"""kanpde: physics-informed Kolmogorov-Arnold Networks for PDEs, with MLP baselines."""

from pathlib import Path as _Path

# An installed kanpde contains the sub-packages kanpde.problems and kanpde.conf, which pip copies
# from the repository's top-level problems/ and conf/ folders. A source checkout imported directly
# (``python -m kanpde`` in the repository root puts it first on sys.path) has those folders beside
# the package instead, so they are added to the package's search path.
_checkout = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "conf").is_dir() and (_checkout / "conf" / "config.yaml").is_file():
    __path__.append(str(_checkout))

from kanpde.checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from kanpde.derivatives import Fields, evaluate
from kanpde.kan import KAN, KANLayer
from kanpde.mlp import MLP
from kanpde.models import build_model, count_parameters
from kanpde.problem import Problem
from kanpde.trainer import GridUpdate, NonFiniteLossError, Stage, Trainer, TrainResult, make_stages

__version__ = "0.1.0"

__all__ = [
    "KAN",
    "KANLayer",
    "MLP",
    "CheckpointError",
    "Fields",
    "NonFiniteLossError",
    "Problem",
    "Stage",
    "TrainResult",
    "Trainer",
    "GridUpdate",
    "build_model",
    "count_parameters",
    "evaluate",
    "load_checkpoint",
    "load_weights",
    "make_stages",
    "save_checkpoint",
]
