"""Time of the dense Newton solve against the number of parameters n, and its exponent.

    python bench/dense_solve.py [--sizes 128 256 512 1024 2048] [--repeats R] [--threads T]

Algorithm 8.8 solves H Δθ = −g with a dense n × n Hessian. An LU factorization costs
about (2/3) n³ floating-point operations, so the time should grow like n³ once the
arithmetic dominates; on a real processor it can grow more slowly over a range of n,
because larger factorizations run at more operations per second. This script times
``torch.linalg.solve`` on random symmetric positive definite float64 matrices (best of
``--repeats`` runs, after one warm-up), and prints per size the time, the achieved
GFLOP/s, the memory of H, and the least-squares slope of log time against log n over
the sizes >= 512 (where the fixed overhead of a call no longer matters). It prints and
never asserts: the numbers depend on the machine and on its load. This study was part
of chapter 06; chapter 06a states the operation count and memory, and points here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from optnotes.lesson import loglog_slope  # noqa: E402


def solve_time(k: int, repeats: int, gen: torch.Generator) -> float:
    B = torch.randn(k, k, generator=gen, dtype=torch.float64)
    A = B + B.T + 2 * k * torch.eye(k, dtype=torch.float64)   # symmetric positive definite
    rhs = torch.randn(k, generator=gen, dtype=torch.float64)
    torch.linalg.solve(A, rhs)                                # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.linalg.solve(A, rhs)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), float64, "
          f"best of {args.repeats}")
    print(f"{'n':>6} {'ms per solve':>13} {'GFLOP/s':>8} {'H [MiB]':>9}")
    times = []
    for k in args.sizes:
        t = solve_time(k, args.repeats, gen)
        times.append(t)
        print(f"{k:>6} {1e3 * t:>13.3f} {2 / 3 * k**3 / t / 1e9:>8.2f} {8 * k * k / 2**20:>9.1f}")
    big = [(k, t) for k, t in zip(args.sizes, times) if k >= 512]
    if len(big) >= 2:
        ks, ts = zip(*big)
        print(f"slope of log(time) against log(n) for n >= 512: {loglog_slope(ks, ts):.2f} "
              f"(operation count: 3)")
    if times:
        per_op = times[-1] / args.sizes[-1] ** 3
        print(f"at that speed one solve with n = 10^6 would take "
              f"{per_op * 1e18 / 86400:.0f} days; H would take {8e12 / 1e12:.0f} TB")


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
