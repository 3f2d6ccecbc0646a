"""Regression problems from formulas and data files, through the trainer and the command line."""

import json
import logging
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from torch import nn

from kanpde import KAN, Stage, Trainer
from kanpde.cli import build
from kanpde.problems.regression import Regression

TOY = "exp(sin(pi*x) + y**2)"

# The formula's values (numpy through sympy.lambdify) and the same formula written in torch agree
# to round-off in float64; exp(2) ~ 7.4 bounds the values, so 1e-12 leaves a wide margin.
ROUND_OFF = 1e-12

# Noise checks draw 40000 samples: the sample mean has standard error 0.1 / 200 = 5e-4 and the
# sample standard deviation a relative standard error of 1 / sqrt(2 * 40000) ~ 0.35%. Bounds at
# about five standard errors fail by chance far less than once in a million runs.
NOISE_STD = 0.1
NOISE_SAMPLES = 40000
NOISE_MEAN_BOUND = 2.5e-3
NOISE_STD_RELATIVE_BOUND = 0.02

# A KAN [2, 5, 1] with G = 5 reached test MSE 3.5e-7 on x + y**2 after 20 L-BFGS steps (torch 2.13,
# float64, one CPU thread); the bound leaves a factor of about 30 for other platforms.
TRAINED_MSE_BOUND = 1e-5


def toy_numpy(x, y):
    return np.exp(np.sin(np.pi * x) + y**2)


class FormulaModel(nn.Module):
    """A model whose output is a closed form in torch, with one parameter for dtype and device."""

    def __init__(self, function, dim=2, dtype=torch.float64):
        super().__init__()
        self.function = function
        self.anchor = nn.Parameter(torch.zeros((), dtype=dtype))
        self.widths = [dim, 1]

    def forward(self, x):
        return self.function(x) + 0 * self.anchor


def toy_torch(x):
    return torch.exp(torch.sin(math.pi * x[:, 0:1]) + x[:, 1:2] ** 2)


def write_csv(path, rows, header="x,y,u"):
    lines = [header, *(",".join(str(value) for value in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def table(n_rows=50, seed=0):
    """Return rows (x, y, u) with u = x + 2 y, inputs uniform in [-1, 1]^2."""
    x = np.random.default_rng(seed).uniform(-1, 1, (n_rows, 2))
    return np.column_stack([x, x[:, 0] + 2 * x[:, 1]])


# --- targets from formulas -------------------------------------------------------------------


def test_toy_target_matches_numpy():
    problem = Regression(target=TOY, n_train=100, n_test=100)
    x = problem.x_train.numpy()
    expected = toy_numpy(x[:, 0], x[:, 1])
    np.testing.assert_allclose(problem.u_train.numpy()[:, 0], expected, rtol=ROUND_OFF, atol=0)


def test_u_exact_matches_numpy_at_points():
    problem = Regression(target=TOY, n_train=10, n_test=10)
    points = torch.tensor([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0], [0.3, 0.7]], dtype=torch.float64)
    u = problem.u_exact(points)
    assert u.shape == (4, 1)
    expected = toy_numpy(points[:, 0].numpy(), points[:, 1].numpy())
    np.testing.assert_allclose(u.numpy()[:, 0], expected, rtol=ROUND_OFF, atol=0)


def test_u_exact_keeps_float32_dtype():
    problem = Regression(target=TOY, n_train=10, n_test=10)
    u = problem.u_exact(torch.zeros(3, 2, dtype=torch.float32))
    assert u.dtype == torch.float32


def test_u_exact_rejects_wrong_columns():
    problem = Regression(target=TOY, n_train=10, n_test=10)
    with pytest.raises(ValueError, match=r"x must be shaped \(N, 2\).*got \(4, 3\)"):
        problem.u_exact(torch.zeros(4, 3, dtype=torch.float64))


def test_problem_attributes():
    problem = Regression(target=TOY, n_train=30, n_test=20)
    assert problem.input_dim == 2
    assert problem.output_dim == 1
    assert problem.variable_names == ("x", "y")
    assert problem.derivative_order == 0
    assert problem.loss_weights == {"data": 1.0}
    assert problem.x_train.shape == (30, 2)
    assert problem.u_train.shape == (30, 1)
    assert problem.x_test.shape == (20, 2)
    assert problem.u_test.shape == (20, 1)
    assert problem.x_train.dtype == torch.float64
    assert problem.u_test.dtype == torch.float64


def test_exact_expression_and_symbols():
    problem = Regression(target=TOY, n_train=10, n_test=10)
    x, y = sympy.symbols("x y")
    assert problem.symbols() == (x, y)
    assert problem.exact_expression() == sympy.exp(sympy.sin(sympy.pi * x) + y**2)


def test_exact_expression_in_given_symbols():
    problem = Regression(target=TOY, n_train=10, n_test=10)
    a, b = sympy.symbols("a b")
    assert problem.exact_expression([a, b]) == sympy.exp(sympy.sin(sympy.pi * a) + b**2)
    with pytest.raises(ValueError, match="exact_expression needs 2 symbol"):
        problem.exact_expression([a])


def test_caret_means_power():
    problem = Regression(target="x^2 + y", n_train=20, n_test=10)
    x = problem.x_train
    expected = x[:, 0:1] ** 2 + x[:, 1:2]
    torch.testing.assert_close(problem.u_train, expected, rtol=ROUND_OFF, atol=ROUND_OFF)


@pytest.mark.parametrize("target", ["2", 2, 2.0])
def test_constant_target(target):
    problem = Regression(target=target, n_train=5, n_test=5)
    assert torch.equal(problem.u_train, torch.full((5, 1), 2.0, dtype=torch.float64))


def test_variable_shadows_sympy_name():
    # E is Euler's number in sympy; as a variable name it is the variable.
    problem = Regression(target="2*E", variables=["E"], n_train=10, n_test=10)
    torch.testing.assert_close(problem.u_train, 2 * problem.x_train, rtol=ROUND_OFF, atol=ROUND_OFF)


def test_three_variables_in_domain():
    problem = Regression(
        target="x*y + sin(z)", variables=["x", "y", "z"], domain=[[-1, 1], [-1, 1], [0, 3]], n_train=500, n_test=50
    )
    assert problem.input_dim == 3
    assert problem.x_train[:, 2].min().item() >= 0
    assert problem.x_train[:, 2].max().item() <= 3
    assert problem.x_train[:, 2].max().item() > 1  # the z range is not [-1, 1]
    x = problem.x_train
    expected = x[:, 0:1] * x[:, 1:2] + torch.sin(x[:, 2:3])
    torch.testing.assert_close(problem.u_train, expected, rtol=ROUND_OFF, atol=ROUND_OFF)


def test_mesh_test_set_has_shape():
    problem = Regression(target=TOY, n_train=10, n_test=441, test_sampling="mesh")
    assert problem.test_shape == (21, 21)
    assert problem.x_test.shape == (441, 2)
    assert problem.x_test.min().item() == -1.0
    assert problem.x_test.max().item() == 1.0


def test_mesh_rounds_to_nearest_count():
    # 1000 points in 2D: round(sqrt(1000)) = 32 points per axis.
    problem = Regression(target=TOY, n_train=1000, n_test=10, sampling="mesh")
    assert problem.x_train.shape == (1024, 2)


def test_random_test_set_has_no_shape():
    problem = Regression(target=TOY, n_train=10, n_test=10)
    assert not hasattr(problem, "test_shape")


def test_sobol_points_in_domain():
    problem = Regression(target="x", variables=["x"], domain=[[2, 5]], n_train=64, n_test=8, sampling="sobol")
    assert problem.x_train.min().item() >= 2
    assert problem.x_train.max().item() <= 5


# --- determinism and noise ---------------------------------------------------------------------


def test_same_data_seed_same_data():
    first = Regression(target=TOY, n_train=50, n_test=20, noise=0.1, data_seed=3)
    second = Regression(target=TOY, n_train=50, n_test=20, noise=0.1, data_seed=3)
    assert torch.equal(first.x_train, second.x_train)
    assert torch.equal(first.u_train, second.u_train)
    assert torch.equal(first.x_test, second.x_test)


def test_other_data_seed_other_data():
    first = Regression(target=TOY, n_train=50, n_test=20, data_seed=3)
    second = Regression(target=TOY, n_train=50, n_test=20, data_seed=4)
    assert not torch.equal(first.x_train, second.x_train)
    assert not torch.equal(first.x_test, second.x_test)


def test_sample_returns_fixed_training_set():
    problem = Regression(target=TOY, n_train=50, n_test=20)
    first = problem.sample(np.random.default_rng(0))
    second = problem.sample(np.random.default_rng(1))
    assert set(first) == {"x_train", "u_train"}
    assert torch.equal(first["x_train"], second["x_train"])
    assert torch.equal(first["u_train"], problem.u_train)


def test_noise_statistics():
    problem = Regression(target=TOY, n_train=NOISE_SAMPLES, n_test=10, noise=NOISE_STD)
    x = problem.x_train.numpy()
    residual = problem.u_train.numpy()[:, 0] - toy_numpy(x[:, 0], x[:, 1])
    assert abs(residual.mean()) < NOISE_MEAN_BOUND
    assert abs(residual.std() / NOISE_STD - 1) < NOISE_STD_RELATIVE_BOUND


def test_noise_keeps_points_and_test_targets():
    clean = Regression(target=TOY, n_train=100, n_test=50)
    noisy = Regression(target=TOY, n_train=100, n_test=50, noise=NOISE_STD)
    assert torch.equal(clean.x_train, noisy.x_train)
    assert torch.equal(clean.u_test, noisy.u_test)
    assert not torch.equal(clean.u_train, noisy.u_train)


# --- losses and metrics ------------------------------------------------------------------------


def test_loss_vanishes_for_exact_model():
    problem = Regression(target=TOY, n_train=200, n_test=100)
    model = FormulaModel(toy_torch)
    terms = problem.losses(model, problem.sample(np.random.default_rng(0)))
    assert set(terms) == {"data"}
    assert terms["data"].item() < ROUND_OFF**2


def test_metrics_vanish_for_exact_model():
    problem = Regression(target=TOY, n_train=20, n_test=200)
    metrics = problem.evaluate(FormulaModel(toy_torch))
    assert set(metrics) == {"mse", "rel_l2", "max_abs"}
    assert metrics["max_abs"] < ROUND_OFF


def test_metrics_of_known_error():
    # u = u_exact + 0.1 everywhere gives mse 0.01 and max error 0.1.
    problem = Regression(target=TOY, n_train=20, n_test=200)
    metrics = problem.evaluate(FormulaModel(lambda x: toy_torch(x) + 0.1))
    assert metrics["mse"] == pytest.approx(0.01, rel=1e-10)
    assert metrics["max_abs"] == pytest.approx(0.1, rel=1e-10)
    u_norm = problem.u_test.pow(2).mean().sqrt().item()
    assert metrics["rel_l2"] == pytest.approx(0.1 / u_norm, rel=1e-10)


def test_loss_uses_model_dtype():
    problem = Regression(target=TOY, n_train=20, n_test=20)
    model = FormulaModel(toy_torch, dtype=torch.float32)
    terms = problem.losses(model, problem.sample(np.random.default_rng(0)))
    assert terms["data"].dtype == torch.float32


def test_loss_rejects_flat_model_output():
    problem = Regression(target=TOY, n_train=20, n_test=20)
    model = FormulaModel(lambda x: toy_torch(x)[:, 0])
    with pytest.raises(ValueError, match=r"the model returned shape \(20,\) for 20 points, expected \(20, 1\)"):
        problem.losses(model, problem.sample(np.random.default_rng(0)))


def test_grid_samples_are_training_inputs():
    problem = Regression(target=TOY, n_train=20, n_test=20)
    points = problem.sample(np.random.default_rng(0))
    assert torch.equal(problem.grid_samples(points), problem.x_train)


def test_grid_range_warning(caplog):
    problem = Regression(target="z", variables=["z"], domain=[[0, 3]], n_train=20, n_test=20)
    model = KAN([1, 2, 1], grid_size=5, seed=0, dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger="kanpde"):
        problem.check_model(model)
    assert "beyond the KAN's grid_range [-1, 1]" in caplog.text


def test_kan_learns_simple_target():
    problem = Regression(target="x + y**2", n_train=200, n_test=400)
    model = KAN([2, 5, 1], grid_size=5, seed=0, dtype=torch.float64)
    result = Trainer(problem, model, [Stage("lbfgs", 20)], log_every=10).fit()
    assert result.status == "ok"
    assert result.final()["mse"] < TRAINED_MSE_BOUND


# --- data files --------------------------------------------------------------------------------


def test_csv_loads_and_splits(tmp_path):
    rows = table(50)
    path = write_csv(tmp_path / "data.csv", rows)
    problem = Regression(data_file=str(path))
    assert problem.x_train.shape == (40, 2)
    assert problem.x_test.shape == (10, 2)
    assert problem.u_train.shape == (40, 1)
    assert problem.u_test.shape == (10, 1)
    loaded = torch.cat([torch.cat([problem.x_train, problem.u_train], 1), torch.cat([problem.x_test, problem.u_test], 1)])
    assert sorted(map(tuple, loaded.tolist())) == sorted(map(tuple, rows.tolist()))


def test_csv_columns_by_name(tmp_path):
    # Columns in another order, an ignored text column, and names chosen by the settings.
    path = tmp_path / "data.csv"
    path.write_text("label,value,b,a\nfirst,3.0,2.0,1.0\nsecond,7.0,4.0,3.0\nthird,11.0,6.0,5.0\n")
    problem = Regression(data_file=path, variables=["a", "b"], target_column="value", test_fraction=0.34)
    assert problem.variable_names == ("a", "b")
    inputs = torch.cat([problem.x_train, problem.x_test])
    targets = torch.cat([problem.u_train, problem.u_test])
    torch.testing.assert_close(targets[:, 0], inputs[:, 0] + inputs[:, 1], rtol=0, atol=0)


def test_data_file_has_no_exact_solution(tmp_path):
    problem = Regression(data_file=write_csv(tmp_path / "data.csv", table(10)))
    assert problem.exact_expression() is None
    assert not hasattr(problem, "u_exact")
    assert not hasattr(problem, "test_shape")
    with pytest.raises(ValueError, match="has no target formula"):
        problem.target_values(problem.x_test)


@pytest.mark.parametrize("u_shape", [(60,), (60, 1)])
def test_npz_loads_and_splits(tmp_path, u_shape):
    x = np.random.default_rng(1).uniform(-1, 1, (60, 2))
    u = (x[:, 0] * x[:, 1]).reshape(u_shape)
    np.savez(tmp_path / "data.npz", x=x, u=u)
    problem = Regression(data_file=tmp_path / "data.npz", test_fraction=0.25)
    assert problem.x_train.shape == (45, 2)
    assert problem.u_test.shape == (15, 1)
    torch.testing.assert_close(problem.u_train[:, 0], problem.x_train[:, 0] * problem.x_train[:, 1], rtol=0, atol=0)


def test_split_depends_on_data_seed(tmp_path):
    path = write_csv(tmp_path / "data.csv", table(50))
    first = Regression(data_file=path, data_seed=0)
    again = Regression(data_file=path, data_seed=0)
    other = Regression(data_file=path, data_seed=1)
    assert torch.equal(first.x_test, again.x_test)
    assert not torch.equal(first.x_test, other.x_test)


def test_split_keeps_one_row_each_side(tmp_path):
    problem = Regression(data_file=write_csv(tmp_path / "data.csv", table(2)), test_fraction=0.01)
    assert len(problem.x_train) == 1
    assert len(problem.x_test) == 1


def test_noise_on_data_file(tmp_path):
    path = write_csv(tmp_path / "data.csv", table(50))
    clean = Regression(data_file=path)
    noisy = Regression(data_file=path, noise=NOISE_STD)
    assert torch.equal(clean.x_train, noisy.x_train)
    assert torch.equal(clean.u_test, noisy.u_test)
    assert not torch.equal(clean.u_train, noisy.u_train)


# --- invalid settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs a target formula or a data file, got neither"),
        ({"target": TOY, "data_file": "data.csv"}, "not both.*set one of them to null"),
        ({"target": "x + q"}, r"unknown symbol\(s\) \['q'\]; the variables are \['x', 'y'\]"),
        ({"target": "x +"}, "could not be parsed as a sympy formula .*SyntaxError"),
        ({"target": "(x"}, "could not be parsed as a sympy formula .*TokenError"),
        ({"target": "sin()"}, "could not be parsed as a sympy formula .*TypeError"),
        ({"target": "foo(x)"}, r"calls unknown function\(s\) \['foo'\]"),
        ({"target": "x > 0"}, "not a scalar formula"),
        ({"target": "x, y"}, "parsed to tuple"),
        ({"target": "  "}, "target is an empty string"),
        ({"target": "sqrt(x)"}, "not a finite real number at .* of the 1000 training points"),
        ({"target": "1/x", "domain": [[0, 1], [0, 1]], "sampling": "mesh"}, "not a finite real number"),
        ({"target": "Derivative(sin(x), x)"}, "could not be evaluated with numpy and scipy"),
        ({"target": TOY, "variables": ["x", "2y"]}, "variable name '2y' is not a valid Python identifier"),
        ({"target": TOY, "variables": ["x", "lambda"]}, "variable name 'lambda' .* is a keyword"),
        ({"target": TOY, "variables": ["x", "x"]}, r"name \['x'\] more than once"),
        ({"target": TOY, "variables": []}, "variables is empty"),
        ({"target": TOY, "domain": [[-1, 1]]}, r"domain must be a list of 2 \[low, high\] pair"),
        ({"target": TOY, "domain": [[-1, 1], [1, 1]]}, r"domain of variable 'y' .* low < high, got \[1, 1\]"),
        ({"target": TOY, "domain": [[-1, 1], [0, math.inf]]}, "domain of variable 'y' must be a pair .* finite"),
        ({"target": TOY, "domain": [[-1, 1], [0, 1, 2]]}, "domain of variable 'y' must be a pair"),
        ({"target": TOY, "n_train": 0}, "n_train must be a positive integer, got 0"),
        ({"target": TOY, "n_test": -1}, "n_test must be a positive integer, got -1"),
        ({"target": TOY, "n_train": 10.5}, "n_train must be a positive integer, got 10.5"),
        ({"target": TOY, "noise": -0.1}, "noise .* must be a finite non-negative number, got -0.1"),
        ({"target": TOY, "noise": math.nan}, "noise .* must be a finite non-negative number, got nan"),
        ({"target": TOY, "sampling": "grid"}, "unknown sampling method 'grid'"),
        ({"target": TOY, "test_sampling": "random"}, "unknown test_sampling method 'random'"),
        ({"target": TOY, "data_seed": -1}, "data_seed must be a non-negative integer, got -1"),
        ({"target": TOY, "data_seed": True}, "data_seed must be a non-negative integer, got True"),
    ],
)
def test_invalid_settings_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Regression(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target": ["x"]}, "target must be a formula string"),
        ({"target": True}, "target must be a formula string"),
        ({"target": TOY, "variables": "xy"}, "variables must be a list of names"),
        ({"target": TOY, "variables": ["x", 1]}, "every variable name must be a string, got 1"),
    ],
)
def test_wrong_types_rejected(kwargs, message):
    with pytest.raises(TypeError, match=message):
        Regression(**kwargs)


@pytest.mark.parametrize("fraction", [0, 1, -0.5, 1.5, "0.2"])
def test_invalid_test_fraction_rejected(tmp_path, fraction):
    path = write_csv(tmp_path / "data.csv", table(10))
    with pytest.raises(ValueError, match="test_fraction must be a number above 0 and below 1"):
        Regression(data_file=path, test_fraction=fraction)


def test_missing_file_rejected(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(FileNotFoundError, match="data file .*absent.csv.* not found"):
        Regression(data_file=path)


def test_unknown_suffix_rejected(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("x,y,u\n1,2,3\n")
    with pytest.raises(ValueError, match=r"has the suffix '\.txt'; use a \.csv file"):
        Regression(data_file=path)


def test_target_column_variable_clash_rejected(tmp_path):
    path = write_csv(tmp_path / "data.csv", table(10))
    with pytest.raises(ValueError, match="target_column 'x' is also one of the variables"):
        Regression(data_file=path, target_column="x")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty; its first line must be a header"),
        ("x,y,u\n", r"has 0 data row\(s\); at least 2 are needed"),
        ("x,y,u\n1,2,3\n", r"has 1 data row\(s\); at least 2 are needed"),
        ("x,u\n1,2\n3,4\n", r"has no column\(s\) \['y'\]; its header names \['x', 'u'\]"),
        ("x,x,y,u\n1,1,2,3\n", r"names the column\(s\) \['x'\] more than once"),
        ("x,y,u\n1,2,3\n4,5\n", "line 3 has 2 field.* but the header has 3"),
        ("x,y,u\n1,2,3\n4,five,6\n", "line 3, column 'y' contains 'five', which is not a number"),
        ("x,y,u\n1,2,3\n4,5,nan\n6,7,8\n", r"NaN or infinite targets in 1 row\(s\), the first at data row 1"),
        ("x,y,u\n1,2,3\n4,inf,6\n", "NaN or infinite inputs in 1 row"),
    ],
)
def test_invalid_csv_rejected(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"data file .*bad.csv.*{message}"):
        Regression(data_file=path)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((5, 2))}, r"has no array\(s\) \['u'\]; it contains \['x'\]"),
        ({"x": np.zeros((5, 3)), "u": np.zeros(5)}, r"array x has shape \(5, 3\), expected \(N, 2\)"),
        ({"x": np.zeros(5), "u": np.zeros(5)}, r"array x has shape \(5,\), expected \(N, 2\)"),
        ({"x": np.zeros((5, 2)), "u": np.zeros(4)}, r"array u has shape \(4,\), expected \(5,\) or \(5, 1\)"),
        ({"x": np.zeros((5, 2)), "u": np.zeros((5, 2))}, r"array u has shape \(5, 2\)"),
        ({"x": np.zeros((5, 2)), "u": np.array(["a"] * 5)}, "array u has dtype <U1; it must contain real numbers"),
        ({"x": np.full((5, 2), np.nan), "u": np.zeros(5)}, r"NaN or infinite inputs in 5 row\(s\)"),
    ],
)
def test_invalid_npz_rejected(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"data file .*bad.npz.*{message}"):
        Regression(data_file=path)


def test_damaged_npz_rejected(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip archive at all")
    with pytest.raises(ValueError, match="could not be read as a .npz archive"):
        Regression(data_file=path)


def test_object_array_npz_rejected(tmp_path):
    # Object arrays need pickle, which the loader never runs.
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((5, 2)), u=np.array([None] * 5, dtype=object))
    with pytest.raises(ValueError, match="arrays x and u must be numeric"):
        Regression(data_file=path)


# --- configs and the command line --------------------------------------------------------------


def compose_settings(overrides):
    with initialize_config_module(config_module="kanpde.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["problem=regression", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def test_config_builds_toy_problem():
    problem, model, _ = build(compose_settings([]))
    assert problem.target == TOY
    assert problem.test_shape == (101, 101)
    assert model.widths == [2, 10, 1]


def test_config_quoted_formula_three_variables():
    # The override as a shell passes "problem.target='x*y + sin(z)'" to Hydra.
    settings = compose_settings(
        ["problem.target='x*y + sin(z)'", "problem.variables=[x,y,z]", "problem.domain=[[-1,1],[-1,1],[0,3]]", "problem.n_test=1000"]
    )
    problem, model, _ = build(settings)
    assert problem.input_dim == 3
    assert model.widths == [3, 10, 1]
    assert problem.test_shape == (10, 10, 10)


def run_cli(arguments, cwd):
    return subprocess.run(
        [sys.executable, "-m", "kanpde", "problem=regression", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


TINY = [
    "problem.n_train=100",
    "problem.n_test=441",
    "model.hidden_widths=[3]",
    "model.grid_size=4",
    "trainer.stages.0.steps=2",
    "trainer.stages.0.max_iter=3",
    "trainer.log_every=1",
]


def test_cli_fits_default_target(tmp_path):
    out = tmp_path / "run"
    completed = run_cli([*TINY, f"hydra.run.dir={out}"], cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok"
    assert set(metrics["metrics"]) == {"mse", "rel_l2", "max_abs"}
    assert metrics["metrics"]["mse"] > 0
    assert metrics["loss"]["data"] > 0
    assert (out / "plots" / "fields.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_fits_data_file(tmp_path):
    write_csv(tmp_path / "data.csv", table(40))
    out = tmp_path / "run"
    completed = run_cli(
        [*TINY, "problem.target=null", "problem.data_file=data.csv", f"hydra.run.dir={out}"], cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok"
    assert set(metrics["metrics"]) == {"mse", "rel_l2", "max_abs"}
    assert not (out / "plots" / "fields.png").exists()


def test_cli_rejects_both_sources(tmp_path):
    out = tmp_path / "run"
    completed = run_cli([*TINY, "problem.data_file=data.csv", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert completed.returncode != 0
    assert "invalid configuration: Regression takes a target formula or a data file, not both" in completed.stderr
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"
