"""Time grid extension and grid update, and what they do to the cost and the loss of a KAN.

For a KAN on the 2D Poisson problem (the KAN paper's solution, uniformly drawn points) this reports:

- the median time of one loss evaluation with its parameter gradient (one L-BFGS closure call) on
  evenly spaced knots, after grid extension (the outer knots keep the coarse spacing) and after a
  grid update (knots at sample quantiles), where the basis takes its general path;
- the time of ``extend_grid`` and ``update_grid`` themselves;
- the ratio of the loss after each change to the loss before, on an untrained network.

Usage:
    python benchmarks/grid.py                       # KAN [2, 10, 1], G = 20, 10000 + 800 points
    python benchmarks/grid.py --points 2601 --markdown out.md
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from kanpde import KAN
from kanpde.problems.poisson import Poisson


def median_seconds(function, repeats: int, warmup: int = 2) -> float:
    """Return the median wall time of ``function()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        function()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def measure(widths: list[int], grid_size: int, n_interior: int, n_boundary: int, repeats: int) -> list[dict]:
    problem = Poisson(n_interior=n_interior, n_boundary=n_boundary, sampling="uniform", boundary_sampling="uniform",
                      n_test_per_axis=5)
    points = problem.sample(np.random.default_rng(0))
    samples = problem.grid_samples(points)

    def loss_of(model) -> torch.Tensor:
        terms = problem.losses(model, points)
        return sum(problem.loss_weights[name] * value for name, value in terms.items())

    def evaluation_time(model) -> float:
        def closure():
            model.zero_grad(set_to_none=True)
            loss_of(model).backward()

        return median_seconds(closure, repeats)

    rows = []
    uniform = KAN(widths, grid_size=grid_size, seed=0, dtype=torch.float64)
    rows.append({"knots": f"evenly spaced, G = {grid_size}", "evaluation_ms": 1e3 * evaluation_time(uniform)})

    # Extension from the coarsest grid that G is a power-of-two multiple of, one doubling at a time.
    coarse = grid_size
    while coarse % 2 == 0 and coarse > 5:
        coarse //= 2
    extended = KAN(widths, grid_size=coarse, seed=0, dtype=torch.float64)
    sizes = []
    while extended.grid_size < grid_size:
        before = float(loss_of(extended).detach())
        target = extended.grid_size * 2
        tic = time.perf_counter()
        extended.extend_grid(target)
        seconds = time.perf_counter() - tic
        sizes.append(f"{target // 2} -> {target}: {1e3 * seconds:.1f} ms, loss ratio {float(loss_of(extended).detach()) / before:.12f}")
    rows.append({"knots": f"extended {coarse} -> {grid_size}", "evaluation_ms": 1e3 * evaluation_time(extended),
                 "change": "; ".join(sizes)})

    updated = copy.deepcopy(uniform)
    before = float(loss_of(updated).detach())
    tic = time.perf_counter()
    updated.update_grid(samples)
    seconds = time.perf_counter() - tic
    ratio = float(loss_of(updated).detach()) / before
    rows.append({"knots": f"updated from {samples.shape[0]} points, G = {grid_size}",
                 "evaluation_ms": 1e3 * evaluation_time(updated),
                 "change": f"update: {1e3 * seconds:.1f} ms, loss ratio {ratio:.3g}"})
    return rows


def to_markdown(rows: list[dict], arguments) -> str:
    lines = [
        f"KAN {arguments.widths}, float64, {arguments.points} interior and {arguments.boundary} boundary points, "
        f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, median of {arguments.repeats}.",
        "",
        "| knots | loss evaluation with gradient | grid change: time, loss after / loss before |",
        "|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['knots']} | {row['evaluation_ms']:.1f} ms | {row.get('change', '')} |")
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="+", default=[2, 10, 1], help="KAN widths (default 2 10 1)")
    parser.add_argument("--grid-size", type=int, default=20, help="final grid size G (default 20)")
    parser.add_argument("--points", type=int, default=10000, help="interior points (default 10000)")
    parser.add_argument("--boundary", type=int, default=800, help="boundary points, even (default 800)")
    parser.add_argument("--repeats", type=int, default=15, help="timed evaluations per case (default 15)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    table = to_markdown(
        measure(arguments.widths, arguments.grid_size, arguments.points, arguments.boundary, arguments.repeats),
        arguments,
    )
    print(table)
    if arguments.markdown:
        arguments.markdown.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
