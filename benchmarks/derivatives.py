"""Time one physics-informed Poisson loss evaluation with its parameter gradient.

That is what one L-BFGS closure call costs: the PDE residual loss at n interior points (which needs
the Laplacian of the network output), the boundary loss, and the backward pass to the parameters.
Compared side by side in one run, with the same torch threads for everything:

- kanpde KAN, forward derivative path (the default) and nested-autograd path;
- pykan 0.2.8 (``pip install ".[bench]"``) with its fast mode (``model.speed()``) and the nested
  ``torch.autograd.functional.jacobian`` Laplacian of its PDE tutorial;
- an MLP [2, 100, 100, 100, 1] and an MLP [2, h, h, 1] with about the same parameter count as each KAN.

Each case runs in a fresh subprocess, so that its peak resident memory (the high-water mark of the
process, minus the resident size after the model and points are built) belongs to it alone.

Usage:
    python benchmarks/derivatives.py                      # the full table, a long run
    python benchmarks/derivatives.py --quick              # 2601 points, float64, no G = 100
    python benchmarks/derivatives.py --markdown out.md --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

KAN_CASES = [([2, 10, 1], 5), ([2, 10, 1], 20), ([2, 10, 1], 100), ([2, 2, 1], 20)]
BIG_MLP = [2, 100, 100, 100, 1]
SPLINE_ORDER = 3
ALPHA = 0.01


def kan_parameter_count(widths: list[int], grid_size: int) -> int:
    edges = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return edges * (grid_size + SPLINE_ORDER + 2)


def equal_parameter_mlp(n_parameters: int) -> list[int]:
    """Return [2, h, h, 1] whose parameter count h^2 + 4h + 1 is closest to ``n_parameters``."""
    width = min(range(1, 400), key=lambda h: abs(h * h + 4 * h + 1 - n_parameters))
    return [2, width, width, 1]


# ----------------------------------------------------------------------------------------------
# One case, in its own process.


def run_case(case: dict) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(case["threads"])
    dtype = getattr(torch, case["dtype"])
    torch.manual_seed(0)

    from kanpde.problems.poisson import Poisson

    side = math.isqrt(case["n_interior"])
    # The test mesh is unused here, so it is the smallest one the problem accepts.
    problem = Poisson(n_interior=case["n_interior"], n_boundary=4 * side, n_test_per_axis=5)
    points = {name: x.to(dtype) for name, x in problem.sample(np.random.default_rng(0)).items()}
    source = problem.source(points["x_interior"])
    model, loss_function = _build(case, problem, points, source, dtype)
    parameters = [p for p in model.parameters() if p.requires_grad]
    baseline_kb = _current_rss_kb()

    def closure() -> float:
        for parameter in parameters:
            parameter.grad = None
        loss = loss_function()
        loss.backward()
        return loss.item()

    for _ in range(case["warmup"]):
        closure()
    times = []
    started = time.perf_counter()
    while len(times) < case["repeats"]:
        tic = time.perf_counter()
        closure()
        times.append(time.perf_counter() - tic)
        if len(times) >= 3 and time.perf_counter() - started > case["budget_s"]:
            break
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        **case,
        "median_ms": 1e3 * statistics.median(times),
        "min_ms": 1e3 * min(times),
        "measured_repeats": len(times),
        "peak_rss_mb": peak_kb / 1024,
        "peak_increase_mb": (peak_kb - baseline_kb) / 1024,
        "parameters": sum(p.numel() for p in parameters),
    }


def _build(case, problem, points, source, dtype):
    import torch

    x_interior, x_boundary = points["x_interior"], points["x_boundary"]
    if case["library"] == "pykan":
        torch.set_default_dtype(dtype)
        from kan import KAN as PyKAN

        # pykan rewrites the width list in place, so it gets a copy.
        model = PyKAN(width=list(case["widths"]), grid=case["grid_size"], k=SPLINE_ORDER, seed=0,
                      auto_save=False, device="cpu")
        model.speed()  # pykan's documented fast mode: no symbolic branch, no saved activations

        def loss_function():
            laplacian = _jacobian_laplacian(model, x_interior)
            residual = laplacian - source
            return ALPHA * residual.pow(2).mean() + model(x_boundary).pow(2).mean()

        return model, loss_function

    from kanpde import KAN, MLP

    if case["model"] == "kan":
        model = KAN(case["widths"], grid_size=case["grid_size"], derivatives=case["method"], seed=0, dtype=dtype)
    else:
        model = MLP(case["widths"], activation="tanh", derivatives=case["method"], seed=0, dtype=dtype)

    def loss_function():
        terms = problem.losses(model, points)
        return ALPHA * terms["interior"] + terms["boundary"]

    return model, loss_function


def _jacobian_laplacian(model, x):
    """Laplacian (N, 1) by nested ``torch.autograd.functional.jacobian``, as pykan's PDE tutorial does."""
    import torch
    from torch.autograd.functional import jacobian

    def gradient_of_sum(points):
        # Row n of the output depends only on row n of the input, so the Jacobian of the sum over
        # points contains every point's gradient, (1, N, D). Summed over points it is (D,).
        return jacobian(lambda z: model(z).sum(dim=0), points, create_graph=True)[0].sum(dim=0)

    hessian_rows = jacobian(gradient_of_sum, x, create_graph=True)  # (D, N, D)
    return hessian_rows.diagonal(dim1=0, dim2=2).sum(dim=-1, keepdim=True)


def _current_rss_kb() -> int:
    with open("/proc/self/statm") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * resource.getpagesize() // 1024


# ----------------------------------------------------------------------------------------------
# The driver.


def make_cases(args) -> list[dict]:
    cases = []
    kan_cases = [case for case in KAN_CASES if not (args.quick and case[1] == 100)]
    common = {"threads": args.threads, "warmup": args.warmup, "repeats": args.repeats, "budget_s": args.budget}
    for dtype in args.dtypes:
        for n_interior in args.points:
            base = {**common, "dtype": dtype, "n_interior": n_interior}
            mlps = {}
            for widths, grid_size in kan_cases:
                for method in ("forward", "autograd"):
                    cases.append({**base, "library": "kanpde", "model": "kan", "widths": widths,
                                  "grid_size": grid_size, "method": method})
                if not args.skip_pykan:
                    cases.append({**base, "library": "pykan", "model": "kan", "widths": widths,
                                  "grid_size": grid_size, "method": "autograd"})
                mlp = equal_parameter_mlp(kan_parameter_count(widths, grid_size))
                mlps[tuple(mlp)] = mlp
            mlps[tuple(BIG_MLP)] = BIG_MLP
            for mlp in mlps.values():
                for method in ("forward", "autograd"):
                    cases.append({**base, "library": "kanpde", "model": "mlp", "widths": mlp,
                                  "grid_size": None, "method": method})
    return cases


def run_all(args) -> list[dict]:
    results = []
    cases = make_cases(args)
    for number, case in enumerate(cases, 1):
        completed = subprocess.run(
            [sys.executable, __file__, "--run-case", json.dumps(case)], capture_output=True, text=True
        )
        if completed.returncode != 0:
            result = {**case, "error": completed.stderr.strip().splitlines()[-1] if completed.stderr else "failed"}
        else:
            result = json.loads(completed.stdout.strip().splitlines()[-1])
        results.append(result)
        label = f"{case['library']} {case['model']} {case['widths']} G={case['grid_size']} {case['method']}"
        timing = f"{result['median_ms']:.2f} ms" if "median_ms" in result else result["error"]
        print(f"[{number}/{len(cases)}] {case['dtype']} n={case['n_interior']} {label}: {timing}", flush=True)
    return results


def to_markdown(results: list[dict], args) -> str:
    import torch

    def find(dtype, n, **keys):
        for result in results:
            if result["dtype"] == dtype and result["n_interior"] == n and all(result.get(k) == v for k, v in keys.items()):
                return result
        return None

    def ms(result):
        if result is None:
            return "-"
        return "failed" if "median_ms" not in result else f"{result['median_ms']:.1f}"

    lines = [
        f"Machine: {platform.machine()}, {_cpu_name()}, {_cpu_count()} cores; torch {torch.__version__}; "
        f"{args.threads} torch thread(s); Python {platform.python_version()}.",
        "",
        "Milliseconds per loss evaluation with backward (median). Columns: kanpde forward path, kanpde "
        "autograd path, pykan 0.2.8, the equal-parameter MLP [2, h, h, 1] (faster of its two paths), "
        "the ratios pykan / forward and forward / equal-parameter MLP, and the forward path's peak "
        "memory increase.",
        "",
    ]
    for dtype in args.dtypes:
        lines += [f"### {dtype}", "",
                  "| KAN | G | points | forward | autograd | pykan | MLP equal (widths) | pykan / forward | forward / MLP equal | peak MB (forward) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for widths, grid_size in KAN_CASES:
            for n in args.points:
                forward = find(dtype, n, library="kanpde", model="kan", widths=widths, grid_size=grid_size, method="forward")
                if forward is None:
                    continue
                autograd = find(dtype, n, library="kanpde", model="kan", widths=widths, grid_size=grid_size, method="autograd")
                pykan = find(dtype, n, library="pykan", widths=widths, grid_size=grid_size)
                mlp_widths = equal_parameter_mlp(kan_parameter_count(widths, grid_size))
                mlp_times = [r for r in (find(dtype, n, library="kanpde", model="mlp", widths=mlp_widths, method=m)
                                         for m in ("forward", "autograd")) if r and "median_ms" in r]
                mlp = min(mlp_times, key=lambda r: r["median_ms"]) if mlp_times else None
                speedup = (f"{pykan['median_ms'] / forward['median_ms']:.1f}x"
                           if pykan and "median_ms" in pykan and "median_ms" in forward else "-")
                versus_mlp = (f"{forward['median_ms'] / mlp['median_ms']:.2f}"
                              if mlp and "median_ms" in forward else "-")
                memory = f"{forward['peak_increase_mb']:.0f}" if "peak_increase_mb" in forward else "-"
                mlp_cell = f"{ms(mlp)} ({mlp_widths[1]}x{mlp_widths[2]}, {mlp['method']})" if mlp else "-"
                lines.append(f"| {widths} | {grid_size} | {n} | {ms(forward)} | {ms(autograd)} | {ms(pykan)} | "
                             f"{mlp_cell} | {speedup} | {versus_mlp} | {memory} |")
        lines += ["", f"MLP {BIG_MLP} ({dtype}):", "", "| points | forward | autograd |", "|---|---|---|"]
        for n in args.points:
            forward = find(dtype, n, library="kanpde", model="mlp", widths=BIG_MLP, method="forward")
            autograd = find(dtype, n, library="kanpde", model="mlp", widths=BIG_MLP, method="autograd")
            lines.append(f"| {n} | {ms(forward)} | {ms(autograd)} |")
        lines.append("")
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for every case (default 1)")
    parser.add_argument("--points", type=int, nargs="+", default=[2601, 10000, 40000],
                        help="interior point counts, each a perfect square (default 2601 10000 40000)")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--warmup", type=int, default=3, help="untimed evaluations per case (default 3)")
    parser.add_argument("--repeats", type=int, default=15, help="timed evaluations per case, at most (default 15)")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds after which a case stops repeating, once it has 3 timings (default 20)")
    parser.add_argument("--skip-pykan", action="store_true", help="leave pykan out (it is optional)")
    parser.add_argument("--quick", action="store_true", help="2601 points, float64 and no G = 100 case")
    parser.add_argument("--json", type=Path, help="write every result to this JSON file")
    parser.add_argument("--markdown", type=Path, help="write the tables to this Markdown file")
    parser.add_argument("--run-case", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run_case:
        print(json.dumps(run_case(json.loads(args.run_case))))
        return
    for n in args.points:
        if math.isqrt(n) ** 2 != n:
            parser.error(f"--points must be perfect squares (the interior is a regular mesh), got {n}")
    if args.quick:
        args.points, args.dtypes = [2601], ["float64"]
    if not args.skip_pykan:
        try:
            import kan  # noqa: F401
        except ImportError:
            parser.error('pykan is not installed; install it with pip install ".[bench]" or pass --skip-pykan')

    results = run_all(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    table = to_markdown(results, args)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    failed = [result for result in results if "error" in result]
    if failed:
        sys.exit(f"{len(failed)} of {len(results)} cases failed; the first: {failed[0]['error']}")


if __name__ == "__main__":
    main()
