"""kanpde: physics-informed Kolmogorov-Arnold Networks for PDEs, with MLP baselines."""

from kanpde.checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from kanpde.derivatives import Fields, evaluate
from kanpde.kan import KAN, KANLayer
from kanpde.mlp import MLP
from kanpde.models import build_model, count_parameters
from kanpde.problem import Problem
from kanpde.trainer import NonFiniteLossError, Stage, Trainer, TrainResult, make_stages

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
    "build_model",
    "count_parameters",
    "evaluate",
    "load_checkpoint",
    "load_weights",
    "make_stages",
    "save_checkpoint",
]
