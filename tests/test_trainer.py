import math

import numpy as np
import pytest
import torch

from kanpde import KAN, MLP, Stage, Trainer, make_stages
from kanpde.problem import Problem
from kanpde.problems.poisson import Poisson


def small_poisson_1d():
    return Poisson(solution="sin_pi_x_plus_half_x", n_interior=64, n_boundary=2, n_test_per_axis=201,
                   sampling="mesh")


def test_kan_solves_1d_poisson():
    # A [1, 5, 1] KAN with G = 10 reaches MSE near 1e-8 within 40 L-BFGS steps in float64; the bound
    # leaves two orders of magnitude for differences between platforms.
    problem = small_poisson_1d()
    model = KAN([1, 5, 1], grid_size=10, seed=0, dtype=torch.float64)
    result = Trainer(problem, model, [Stage("lbfgs", steps=40)], log_every=20).fit()
    assert result.status == "ok"
    assert result.final()["mse"] < 1e-6
    assert result.final()["boundary"] < 1e-8


def test_mlp_trains_through_adam_then_lbfgs():
    problem = small_poisson_1d()
    model = MLP([1, 16, 16, 1], seed=0, dtype=torch.float64)
    stages = make_stages([{"optimizer": "adam", "steps": 50, "lr": 1e-2}, {"optimizer": "lbfgs", "steps": 20}])
    result = Trainer(problem, model, stages, log_every=10).fit()
    assert [entry["optimizer"] for entry in result.history[:51:50]] == ["adam", "lbfgs"]
    first_loss = result.history[0]["loss"]
    assert result.final()["loss"] < 1e-3 * first_loss
    assert result.final()["mse"] < 1e-4


def test_history_records_terms_metrics_and_time():
    problem = small_poisson_1d()
    model = KAN([1, 3, 1], grid_size=5, seed=0, dtype=torch.float64)
    initial_metrics = problem.evaluate(model)
    result = Trainer(problem, model, [Stage("adam", steps=6, lr=1e-2)], log_every=3).fit()
    # A record's metrics belong to the parameters at the start of its step, like its loss.
    assert result.history[0]["mse"] == initial_metrics["mse"]
    assert len(result.history) == 7  # six steps and the final record
    assert {"loss", "interior", "boundary", "time"} <= set(result.history[1])
    assert "mse" in result.history[3]
    assert "mse" not in result.history[1]
    entry = result.history[2]
    assert entry["loss"] == pytest.approx(0.01 * entry["interior"] + entry["boundary"], rel=1e-12)
    times = [entry["time"] for entry in result.history]
    assert times == sorted(times)


class ExplodingProblem(Problem):
    """A problem whose boundary term turns NaN from a given step on (counted by loss evaluations)."""

    input_dim = 1
    loss_weights = {"interior": 1.0, "boundary": 1.0}

    def __init__(self, nan_after_calls):
        self.calls = 0
        self.nan_after_calls = nan_after_calls

    def sample(self, rng):
        return {"x": torch.linspace(-1, 1, 8, dtype=torch.float64).unsqueeze(1)}

    def losses(self, model, points):
        self.calls += 1
        u = model(points["x"])
        boundary = (u - 1).pow(2).mean()
        if self.calls > self.nan_after_calls:
            boundary = boundary * math.nan
        return {"interior": u.pow(2).mean(), "boundary": boundary}

    def evaluate(self, model):
        return {"mse": model(torch.zeros(1, 1, dtype=torch.float64)).pow(2).item()}


def test_nan_stops_training_and_restores_parameters():
    model = MLP([1, 4, 1], seed=0, dtype=torch.float64)
    problem = ExplodingProblem(nan_after_calls=5)
    result = Trainer(problem, model, [Stage("adam", steps=20, lr=1e-2)], log_every=1).fit()
    assert result.status == "diverged"
    assert "loss term 'boundary' is nan at step 5" in result.stop_reason
    assert "smaller learning rate" in result.stop_reason
    assert len(result.history) == 6  # five finite steps and the final record
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # The restored parameters are those of step 4's start, whose loss was finite.
    assert math.isfinite(result.history[-2]["loss"])


def test_lbfgs_stall_ends_stage_with_note():
    problem = small_poisson_1d()
    model = KAN([1, 3, 1], grid_size=5, seed=0, dtype=torch.float64)
    # A huge gradient tolerance makes L-BFGS stop at its first evaluation.
    result = Trainer(problem, model, [Stage("lbfgs", steps=10, tolerance_grad=1e10)], log_every=1).fit()
    assert result.steps == 1
    assert "ended early at step 1" in result.stage_notes[0]
    assert result.status == "ok"


def test_same_seed_same_history():
    def run():
        problem = Poisson(solution="sin_pi_x_sin_pi_y", n_interior=100, n_boundary=40, sampling="uniform",
                          boundary_sampling="uniform", n_test_per_axis=11)
        model = KAN([2, 3, 1], grid_size=4, seed=1, dtype=torch.float64)
        return Trainer(problem, model, [Stage("lbfgs", steps=3)], log_every=1, seed=7, resample_every=2).fit()

    first, second = run(), run()
    strip = lambda history: [{k: v for k, v in entry.items() if k != "time"} for entry in history]
    assert strip(first.history) == strip(second.history)


def test_spline_order_too_low_for_laplacian():
    problem = small_poisson_1d()
    with pytest.raises(ValueError, match="spline_order 1 is too low .* order 2.*set model.spline_order"):
        Trainer(problem, KAN([1, 3, 1], spline_order=1), [Stage("adam", 1)])


@pytest.mark.parametrize(
    "widths, message",
    [([2, 3, 1], "first width is 2 but the problem has 1 input"), ([1, 3, 2], "last width is 2 but the problem has 1 output")],
)
def test_widths_must_match_problem(widths, message):
    with pytest.raises(ValueError, match=message):
        Trainer(small_poisson_1d(), MLP(widths), [Stage("adam", 1)])


def test_negative_loss_weight_rejected():
    with pytest.raises(ValueError, match="loss weight of 'boundary' must be a finite non-negative number, got -1"):
        Trainer(small_poisson_1d(), MLP([1, 3, 1]), [Stage("adam", 1)], loss_weights={"boundary": -1})


def test_unknown_loss_term_rejected():
    with pytest.raises(ValueError, match="unknown loss term\\(s\\) \\['pde'\\]"):
        Trainer(small_poisson_1d(), MLP([1, 3, 1]), [Stage("adam", 1)], loss_weights={"pde": 1})


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"optimizer": "sgd", "steps": 5}, "unknown optimizer 'sgd'; choose one of \\['adam', 'lbfgs'\\]"),
        ({"optimizer": "adam", "steps": 0}, "a stage needs steps >= 1, got steps=0"),
        ({"optimizer": "adam", "steps": 5, "lr": -1}, "learning rate must be positive"),
        ({"optimizer": "lbfgs", "steps": 5, "line_search": "armijo"}, "unknown line_search 'armijo'"),
        ({"optimizer": "adam", "steps": 5, "momentum": 0.9}, "unknown setting\\(s\\) \\['momentum'\\]"),
    ],
)
def test_invalid_stage_rejected(spec, message):
    with pytest.raises(ValueError, match=message):
        make_stages([spec])


def test_empty_stage_list_rejected():
    with pytest.raises(ValueError, match="at least one optimizer stage"):
        make_stages([])


def test_blow_up_through_kan_ends_diverged():
    # A huge Adam step in float32 drives hidden values to inf or NaN inside the KAN.
    problem = small_poisson_1d()
    model = KAN([1, 4, 1], grid_size=5, seed=0, dtype=torch.float32)
    result = Trainer(problem, model, [Stage("adam", steps=50, lr=1e30)], log_every=10).fit()
    assert result.status == "diverged"
    assert "is nan" in result.stop_reason or "is inf" in result.stop_reason
    assert all(torch.isfinite(p).all() for p in model.parameters())


class FailingProblem(Problem):
    """A problem whose loss raises an unexpected error from its fourth evaluation on."""

    input_dim = 1
    loss_weights = {"fit": 1.0}

    def __init__(self):
        self.calls = 0

    def sample(self, rng):
        return {"x": torch.linspace(-1, 1, 16, dtype=torch.float64).unsqueeze(1)}

    def losses(self, model, points):
        self.calls += 1
        if self.calls > 3:
            raise IndexError("simulated bug in a problem")
        return {"fit": (model(points["x"]) ** 2).mean()}

    def evaluate(self, model):
        return {}


def test_unexpected_error_ends_run_as_failed():
    model = MLP([1, 4, 1], seed=0, dtype=torch.float64)
    result = Trainer(FailingProblem(), model, [Stage("adam", steps=10, lr=1e-2)]).fit()
    assert result.status == "failed"
    assert result.stop_reason.startswith("IndexError at step 3: simulated bug in a problem")
    assert [entry["step"] for entry in result.history] == [0, 1, 2, 3]
    assert result.history[-1]["stage"] == "final"
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"optimizer": "lbfgs", "steps": 1, "history_size": 2.5}, "stage 0: max_iter and history_size must be integers"),
        ({"optimizer": "lbfgs", "steps": 1, "tolerance_grad": "abc"}, "stage 0: L-BFGS tolerances must be non-negative"),
        ({"optimizer": "adam", "steps": 1, "betas": [0.9, 1.5]}, r"stage 0: betas must be two numbers in \[0, 1\)"),
        ({"optimizer": "adam", "steps": 1, "lr": "fast"}, "stage 0: learning rate must be positive"),
    ],
)
def test_make_stages_names_stage_and_value(spec, message):
    with pytest.raises(ValueError, match=message):
        make_stages([spec])
