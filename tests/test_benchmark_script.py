"""The benchmark script's single-case runner, on a tiny case (timings are never asserted)."""

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "derivatives.py"


@pytest.fixture(scope="module")
def benchmark_module():
    if not SCRIPT.is_file():
        pytest.skip("tests are not inside a kanpde checkout")
    spec = importlib.util.spec_from_file_location("derivatives_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "model, widths, grid_size, method",
    [("kan", [2, 3, 1], 5, "forward"), ("kan", [2, 3, 1], 5, "autograd"), ("mlp", [2, 4, 4, 1], None, "autograd")],
)
def test_run_case_reports_a_timing(benchmark_module, model, widths, grid_size, method):
    case = {"threads": 1, "warmup": 0, "repeats": 3, "budget_s": 5.0, "dtype": "float64", "n_interior": 100,
            "library": "kanpde", "model": model, "widths": widths, "grid_size": grid_size, "method": method}
    result = benchmark_module.run_case(case)
    assert result["measured_repeats"] == 3
    assert result["median_ms"] > 0
    assert result["peak_rss_mb"] > 0
    expected = benchmark_module.kan_parameter_count(widths, grid_size) if model == "kan" else 4 * 3 + 4 * 5 + 5
    assert result["parameters"] == expected


def test_equal_parameter_mlp(benchmark_module):
    assert benchmark_module.equal_parameter_mlp(750) == [2, 25, 25, 1]
    assert benchmark_module.kan_parameter_count([2, 10, 1], 20) == 750


def test_grid_benchmark_table():
    path = SCRIPT.with_name("grid.py")
    if not path.is_file():
        pytest.skip("tests are not inside a kanpde checkout")
    spec = importlib.util.spec_from_file_location("grid_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.main(["--widths", "2", "3", "1", "--grid-size", "10", "--points", "100", "--boundary", "40",
                         "--repeats", "2", "--train-steps", "2"])
    rows = [line for line in table.splitlines() if line.startswith("| ") and "ms" in line]
    assert len(rows) == 5
    # Extension 5 -> 10 keeps the loss to round-off, and the table prints 12 significant digits.
    assert re.search(r"5 -> 10: [0-9.]+ ms, loss ratio 1$", rows[1].rstrip(" |"))
    assert "(not a multiple)" in rows[2]
    assert "fit_derivatives=2" in rows[3]
    assert "fit_derivatives=0" in rows[4]
