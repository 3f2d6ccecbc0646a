"""Grid sizes and grid updates in the trainer's schedule."""

import math

import pytest
import torch

from kanpde import KAN, MLP, GridUpdate, Stage, Trainer, make_stages
from kanpde.problems.poisson import Poisson

# An extension onto nested knots keeps the loss to round-off (see the grid tests).
EXTENSION_LOSS_RTOL = 1e-8


def small_poisson_1d():
    return Poisson(solution="sin_pi_x_plus_half_x", n_interior=64, n_boundary=2, n_test_per_axis=101,
                   sampling="mesh")


def three_grid_stages(steps=12):
    return make_stages([{"optimizer": "lbfgs", "steps": steps, "grid_size": size} for size in (5, 10, 20)])


def test_three_grid_stages_lower_the_loss():
    problem = small_poisson_1d()
    model = KAN([1, 4, 1], grid_size=5, seed=0, dtype=torch.float64)
    result = Trainer(problem, model, three_grid_stages(), log_every=6).fit()
    assert result.status == "ok"
    assert model.grid_size == 20

    ends = []
    for stage in range(3):
        records = [entry for entry in result.history if entry["stage"] == stage]
        assert {entry["grid_size"] for entry in records} == {(5, 10, 20)[stage]}
        ends.append(records[-1]["loss"])
    ends.append(result.final()["loss"])
    assert all(math.isfinite(loss) for loss in ends)
    assert ends == sorted(ends, reverse=True), ends
    # The refined stages still make progress, so the optimizer follows the new coefficients.
    assert ends[3] < ends[1]


def test_extension_events_keep_the_loss():
    problem = small_poisson_1d()
    model = KAN([1, 4, 1], grid_size=5, seed=0, dtype=torch.float64)
    result = Trainer(problem, model, three_grid_stages(steps=6), log_every=6).fit()
    events = result.grid_events
    assert [(e["grid_size_before"], e["grid_size_after"]) for e in events] == [(5, 10), (10, 20)]
    assert [e["step"] for e in events] == [6, 12]
    for event in events:
        assert event["kind"] == "extension"
        assert event["loss_after"] == pytest.approx(event["loss_before"], rel=EXTENSION_LOSS_RTOL)
    marked = {entry["step"]: entry["event"] for entry in result.history if entry.get("event")}
    assert marked == {6: "extension 5->10", 12: "extension 10->20"}


def test_grid_updates_follow_the_schedule():
    problem = small_poisson_1d()
    model = KAN([1, 3, 1], grid_size=5, seed=0, dtype=torch.float64)
    stages = [Stage("adam", steps=6, lr=1e-2, grid_size=5), Stage("adam", steps=6, lr=1e-2, grid_size=10)]
    update = GridUpdate(every=2, until=5)
    result = Trainer(problem, model, stages, grid_update=update, log_every=6).fit()
    updates = [event["step"] for event in result.grid_events if event["kind"] == "update"]
    assert updates == [0, 2, 4, 6, 8, 10]
    assert [event["step"] for event in result.grid_events if event["kind"] == "extension"] == [6]
    assert result.history[6]["event"] == "extension 5->10; update"
    # The first layer's knots now follow the points: the grid range is that of x in [-1, 1].
    knots = model.layers[0].knots
    assert knots[0, 3].item() == pytest.approx(-1.0)
    assert knots[0, 3 + 10].item() == pytest.approx(1.0)


def test_mlp_ignores_grid_schedule():
    problem = small_poisson_1d()
    model = MLP([1, 8, 1], seed=0, dtype=torch.float64)
    result = Trainer(problem, model, three_grid_stages(steps=3), grid_update=GridUpdate(every=1)).fit()
    assert result.status == "ok"
    assert result.grid_events == []
    assert result.steps == 9
    assert "grid_size" not in result.final()


def test_failed_grid_change_is_undone(monkeypatch):
    problem = small_poisson_1d()
    model = KAN([1, 3, 1], grid_size=5, seed=0, dtype=torch.float64)
    original = model.extend_grid

    def broken_extension(grid_size, fit_derivatives=2):
        reports = original(grid_size, fit_derivatives)
        with torch.no_grad():
            model.layers[0].coefficients.fill_(float("nan"))
        return reports

    monkeypatch.setattr(model, "extend_grid", broken_extension)
    stages = [Stage("lbfgs", steps=3, grid_size=5), Stage("lbfgs", steps=3, grid_size=10)]
    result = Trainer(problem, model, stages).fit()
    assert result.status == "ok"
    assert model.grid_size == 5
    assert result.grid_events == []
    assert any("undone" in note and "nan" in note for note in result.stage_notes)
    assert math.isfinite(result.final()["loss"])


def test_first_stage_grid_size_sets_the_grid():
    problem = small_poisson_1d()
    model = KAN([1, 3, 1], grid_size=4, seed=0, dtype=torch.float64)
    result = Trainer(problem, model, [Stage("lbfgs", steps=2, grid_size=8)]).fit()
    assert model.grid_size == 8
    assert result.grid_events[0]["step"] == 0


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"every": -1}, "grid_update.every must be a non-negative integer"),
        ({"every": 2, "until": 1.5}, "grid_update.until must be"),
        ({"uniform_weight": 2.0}, "grid_update.uniform_weight must be"),
        ({"fit_derivatives": 3}, "grid_update.fit_derivatives must be 0, 1 or 2"),
    ],
)
def test_grid_update_rejects_invalid_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        GridUpdate(**settings)


@pytest.mark.parametrize("grid_size", [0, 2.5, True])
def test_stage_rejects_invalid_grid_size(grid_size):
    with pytest.raises(ValueError, match="grid_size must be a positive integer or null"):
        Stage("lbfgs", steps=1, grid_size=grid_size)


def test_grid_update_due_steps():
    update = GridUpdate(every=5, until=20)
    assert [step for step in range(30) if update.due(step)] == [0, 5, 10, 15]
    assert not any(GridUpdate(every=0).due(step) for step in range(10))


def test_non_multiple_extension_warns(caplog):
    problem = small_poisson_1d()
    model = KAN([1, 3, 1], grid_size=4, seed=0, dtype=torch.float64)
    stages = [Stage("lbfgs", steps=2), Stage("lbfgs", steps=1, grid_size=6)]
    with caplog.at_level("WARNING", logger="kanpde.trainer"):
        result = Trainer(problem, model, stages).fit()
    assert model.grid_size == 6
    assert result.grid_events[0]["grid_size_after"] == 6
    assert "grid size 6 is not a multiple of 4" in caplog.text


@pytest.mark.parametrize(
    "settings", [{"fit_derivatives": 2.0}, {"fit_derivatives": True}, {"uniform_weight": True}, {"every": 2.5}]
)
def test_grid_update_rejects_wrong_types(settings):
    with pytest.raises(ValueError, match="grid_update"):
        GridUpdate(**settings)
