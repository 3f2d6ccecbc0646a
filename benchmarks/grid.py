"""Time grid extension and grid update, and what they do to the cost and the loss of a KAN.

For a KAN on the 2D Poisson problem (the KAN paper's solution, uniformly drawn points) this reports:

- the median time of one loss evaluation with its parameter gradient (one L-BFGS closure call) on
  evenly spaced knots, after grid extension and after a grid update. After either change the knots
  are unevenly spaced and the basis takes its general path;
- the time of ``extend_grid`` and ``update_grid`` themselves;
- the ratio of the loss after each change to the loss before, on a network first trained on the
  coarse grid. The changes are extension to multiples of G (exact) and to another size, and updates
  whose refit matches values and two derivatives (the default) or values only.

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

from kanpde import KAN, Stage, Trainer
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


def measure(
    widths: list[int], grid_size: int, n_interior: int, n_boundary: int, repeats: int, train_steps: int
) -> list[dict]:
    problem = Poisson(n_interior=n_interior, n_boundary=n_boundary, sampling="uniform", boundary_sampling="uniform",
                      n_test_per_axis=5)
    points = problem.sample(np.random.default_rng(0))
    samples = problem.grid_samples(points)

    def loss_of(model) -> float:
        terms = problem.losses(model, points)
        return float(sum(problem.loss_weights[name] * value.detach() for name, value in terms.items()))

    def evaluation_time(model) -> float:
        def closure():
            model.zero_grad(set_to_none=True)
            terms = problem.losses(model, points)
            sum(problem.loss_weights[name] * value for name, value in terms.items()).backward()

        return median_seconds(closure, repeats)

    def change(model, action) -> str:
        before = loss_of(model)
        tic = time.perf_counter()
        action(model)
        seconds = time.perf_counter() - tic
        return f"{1e3 * seconds:.1f} ms, loss ratio {loss_of(model) / before:.12g}"

    rows = []
    uniform = KAN(widths, grid_size=grid_size, seed=0, dtype=torch.float64)
    rows.append({"knots": f"evenly spaced, G = {grid_size}", "evaluation_ms": 1e3 * evaluation_time(uniform)})

    # Grid changes act on a network trained on the coarsest grid that G is a power-of-two multiple
    # of, because the loss jumps that matter are those of a network that already fits the problem.
    coarse = grid_size
    while coarse % 2 == 0 and coarse > 5:
        coarse //= 2
    trained = KAN(widths, grid_size=coarse, seed=0, dtype=torch.float64)
    if train_steps:
        Trainer(problem, trained, [Stage("lbfgs", steps=train_steps)], log_every=train_steps + 1).fit()

    extended = copy.deepcopy(trained)
    steps = []
    while extended.grid_size < grid_size:
        target = extended.grid_size * 2
        steps.append(f"{target // 2} -> {target}: " + change(extended, lambda model: model.extend_grid(target)))
    rows.append({"knots": f"extended {coarse} -> {grid_size}", "evaluation_ms": 1e3 * evaluation_time(extended),
                 "change": "; ".join(steps)})

    odd = copy.deepcopy(trained)
    odd_size = coarse + coarse // 2 + 1
    rows.append({"knots": f"extended {coarse} -> {odd_size} (not a multiple)",
                 "change": change(odd, lambda model: model.extend_grid(odd_size))})

    for derivatives in (2, 0):
        updated = copy.deepcopy(extended)
        text = change(updated, lambda model: model.update_grid(samples, 0.02, derivatives))
        row = {"knots": f"updated from {samples.shape[0]} points, G = {grid_size}, fit_derivatives={derivatives}",
               "change": text}
        if derivatives == 2:
            row["evaluation_ms"] = 1e3 * evaluation_time(updated)
        rows.append(row)
    return rows


def to_markdown(rows: list[dict], arguments) -> str:
    lines = [
        f"KAN {arguments.widths}, float64, {arguments.points} interior and {arguments.boundary} boundary points, "
        f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}, median of {arguments.repeats}. "
        f"Grid changes act on a network trained {arguments.train_steps} L-BFGS steps on the coarse grid.",
        "",
        "| knots | loss evaluation with gradient | grid change: time, loss after / loss before |",
        "|---|---|---|",
    ]
    for row in rows:
        evaluation = f"{row['evaluation_ms']:.1f} ms" if "evaluation_ms" in row else ""
        lines.append(f"| {row['knots']} | {evaluation} | {row.get('change', '')} |")
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="+", default=[2, 10, 1], help="KAN widths (default 2 10 1)")
    parser.add_argument("--grid-size", type=int, default=20, help="final grid size G (default 20)")
    parser.add_argument("--points", type=int, default=10000, help="interior points (default 10000)")
    parser.add_argument("--boundary", type=int, default=800, help="boundary points, even (default 800)")
    parser.add_argument("--repeats", type=int, default=15, help="timed evaluations per case (default 15)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--train-steps", type=int, default=40,
                        help="L-BFGS steps on the coarse grid before the grid changes (default 40)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    table = to_markdown(
        measure(arguments.widths, arguments.grid_size, arguments.points, arguments.boundary, arguments.repeats,
                arguments.train_steps),
        arguments,
    )
    print(table)
    if arguments.markdown:
        arguments.markdown.write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
