"""Second-order methods against scipy.optimize and torch.optim.LBFGS on the chained Rosenbrock.

    python bench/second_order.py [--quick] [--device cpu|cuda|all] [--repeats R]
                                 [--tables 1 1a 1b 2 3]

Prints, never asserts. Four tables:

1. Evaluations and wall time to reach ||g||_2 <= 1e-5 from x0 = (-1.2, 1, -1.2, 1, ...),
   n = 2, 100, 1,000 (``--quick``: 2 and 100), budget 20,000 evaluations: optnotes'
   ConjugateGradient, BFGS (n <= 100), LBFGS and NewtonCG against scipy.optimize's CG, BFGS,
   L-BFGS-B and Newton-CG and torch.optim.LBFGS, side by side.
1a. L-BFGS against L-BFGS-B at n = 1,000 (``--quick``: 100): five pairs of runs, the
   median time of each and the median and spread [min, max] of the per-pair time ratio.
1b. The spread of the L-BFGS counts over starts moved by 1e-12 (relative): the chained
   Rosenbrock is chaotic enough that rounding alone changes the counts by a few percent.
2. n = 10,000: f and ||g||_2 at the best point of a fixed budget of 2,000 evaluations.
3. Time per iteration of Newton (dense), Newton-CG and L-BFGS as n grows.

How the runs are made comparable
--------------------------------
* One stopping rule for everyone: every method evaluates f and g through a counting wrapper,
  and a run ends at the first evaluation whose gradient has ||g||_2 <= 1e-5 (or when the
  budget is spent). The methods' own tests are set to that tolerance or switched off, so
  none stops earlier: optnotes ``tolerance_grad=1e-5`` (2-norm) and ``tolerance_change=0``;
  scipy CG/BFGS ``gtol=1e-5, norm=2`` (their default is the inf-norm); L-BFGS-B ``ftol=0,
  gtol=0`` (its gtol tests the inf-norm of the projected gradient, a weaker test than
  ||g||_2 <= 1e-5); Newton-CG ``xtol=1e-300`` (it has no gradient test); torch.optim.LBFGS
  ``tolerance_grad=0, tolerance_change=0`` (it tests the inf-norm). A point counts when it
  is evaluated, even as a line-search trial that is then rejected: that happens rarely
  and favours no method in particular.
* The same function: scipy gets ``rosen``/``rosen_der`` (NumPy). On the CPU the closures of
  torch.optim.LBFGS and optnotes' CG/BFGS/LBFGS call the very same ``rosen``/``rosen_der``
  on ``x.numpy()`` and set ``x.grad`` from it, so an evaluation costs everyone the same and
  the times differ by the optimizers' own work; on a GPU they use the same formulas in
  torch (``rosen_grad``). The Hessian-vector products of scipy's Newton-CG are
  ``rosen_hess_prod``; those of optnotes' NewtonCG come from double backward through
  ``optnotes.objectives.rosenbrock`` (autograd), so its closure is dearer.
* History 10 for every L-BFGS (torch's default is 100, scipy's maxcor is 10).
* Times: all in the same process, one untimed warm-up run per method, then the median of
  ``--repeats`` runs (default 3, ``--quick`` 1).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import torch
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess_prod

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import optnotes  # noqa: E402
from optnotes.quasi_newton import BFGS, LBFGS, ConjugateGradient  # noqa: E402
from optnotes.second_order import Newton, NewtonCG  # noqa: E402

TOL, BUDGET = 1e-5, 20_000
TABLES = ["1", "1a", "1b", "2", "3"]


class Stop(Exception):
    """Raised by the counter to end a run: tolerance reached or budget spent."""


class Counter:
    """Counts f-and-g evaluations, remembers the best point, stops at ||g||_2 <= tol."""

    def __init__(self, tol: float, budget: int):
        self.tol, self.budget = tol, budget
        self.evals = self.hvps = 0
        self.best = (math.inf, math.inf)  # (f, ||g||) at the lowest f seen
        self.reached = False

    def record(self, f: float, gnorm: float) -> None:
        self.evals += 1
        if f < self.best[0]:
            self.best = (f, gnorm)
        if gnorm <= self.tol:
            self.reached, self.best = True, (f, gnorm)
            raise Stop
        if self.evals >= self.budget:
            raise Stop


def start(n: int, seed: int | None = None) -> np.ndarray:
    """x0 = (-1.2, 1, -1.2, 1, ...), or with ``seed`` x0 * (1 + 1e-12 * N(0, 1))."""
    x0 = optnotes.objectives.rosenbrock(n).start.numpy()
    if seed is None:
        return x0
    return x0 * (1 + 1e-12 * np.random.default_rng(seed).standard_normal(n))


def rosen_grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """scipy's rosen and rosen_der, in torch."""
    a, b = x[:-1], x[1:]
    f = (100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2).sum()
    g = torch.zeros_like(x)
    g[:-1] = -400.0 * a * (b - a**2) - 2.0 * (1.0 - a)
    g[1:] += 200.0 * (b - a**2)
    return f, g


# --- the runners: each returns a Counter --------------------------------------------------------

def run_scipy(method: str, n: int, tol: float, budget: int, seed: int | None = None) -> Counter:
    c = Counter(tol, budget)

    def fun(x):
        f, g = rosen(x), rosen_der(x)
        c.record(float(f), float(np.linalg.norm(g)))
        return f, g

    def hessp(x, p):
        c.hvps += 1
        return rosen_hess_prod(x, p)

    options = {
        "CG": dict(gtol=tol, norm=2, maxiter=budget),
        "BFGS": dict(gtol=tol, norm=2, maxiter=budget),
        "L-BFGS-B": dict(ftol=0.0, gtol=0.0, maxcor=10, maxiter=budget, maxfun=budget),
        "Newton-CG": dict(xtol=1e-300, maxiter=budget),
    }[method]
    try:
        minimize(fun, start(n, seed), jac=True, method=method, options=options,
                 hessp=hessp if method == "Newton-CG" else None)
    except Stop:
        pass
    return c


def torch_closure(x: torch.Tensor, opt, c: Counter, autograd: bool):
    """The closure of ``torch.optim.LBFGS``. Without ``autograd`` it sets ``x.grad`` from
    scipy's own ``rosen``/``rosen_der`` on the CPU (so every method pays the same for an
    evaluation) and from their torch transcription, ``rosen_grad``, on a GPU."""
    on_cpu = x.device.type == "cpu"

    def closure():
        opt.zero_grad()
        if autograd:
            f = optnotes.objectives.rosenbrock(x.numel())(x)
            f.backward()
            f_value, g_norm = float(f.detach()), float(x.grad.detach().norm())
        elif on_cpu:
            z = x.detach().numpy()
            f_value, g = float(rosen(z)), rosen_der(z)
            f, x.grad = f_value, torch.from_numpy(g)  # a plain number, as scipy's fun returns
            g_norm = float(np.linalg.norm(g))
        else:
            with torch.no_grad():
                f, x.grad = rosen_grad(x)
            f_value, g_norm = float(f), float(x.grad.norm())
        c.record(f_value, g_norm)
        return f
    return closure


def run_torch(make, n: int, tol: float, budget: int, device, autograd: bool = False,
              seed: int | None = None) -> Counter:
    c = Counter(tol, budget)
    x = torch.tensor(start(n, seed), device=device).requires_grad_(True)
    opt = make([x])
    closure = torch_closure(x, opt, c, autograd)
    try:
        while True:  # one step() runs up to max_iter iterations; repeat until the counter stops
            before = c.evals
            opt.step(closure)
            if c.evals == before + 1:  # the method has stopped by itself
                break
    except Stop:
        pass
    if isinstance(opt, NewtonCG):
        c.hvps = opt.state[x].get("hvp_evals", 0)
    return c


def methods(n: int, budget: int, device):
    """(name, runner) pairs, peers side by side."""
    ours = dict(max_iter=budget, max_eval=budget, tolerance_grad=TOL, tolerance_change=0.0)
    rows = [
        ("optnotes CG", lambda: run_torch(lambda p: ConjugateGradient(p, **ours), n, TOL, budget, device)),
        ("scipy CG", lambda: run_scipy("CG", n, TOL, budget)),
    ]
    if n <= 100:
        rows += [
            ("optnotes BFGS", lambda: run_torch(lambda p: BFGS(p, **ours), n, TOL, budget, device)),
            ("scipy BFGS", lambda: run_scipy("BFGS", n, TOL, budget)),
        ]
    rows += [
        ("optnotes LBFGS", lambda: run_torch(lambda p: LBFGS(p, history_size=10, **ours), n, TOL,
                                            budget, device)),
        ("torch LBFGS", lambda: run_torch(lambda p: torch.optim.LBFGS(
            p, history_size=10, max_iter=budget, max_eval=budget, tolerance_grad=0.0,
            tolerance_change=0.0, line_search_fn="strong_wolfe"), n, TOL, budget, device)),
        ("scipy L-BFGS-B", lambda: run_scipy("L-BFGS-B", n, TOL, budget)),
        ("optnotes NewtonCG", lambda: run_torch(lambda p: NewtonCG(p, **ours), n, TOL, budget,
                                               device, autograd=True)),
        ("scipy Newton-CG", lambda: run_scipy("Newton-CG", n, TOL, budget)),
    ]
    return rows


def timed(runner, repeats: int) -> tuple[Counter, float]:
    runner()  # warm-up
    times, c = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        c = runner()
        times.append(time.perf_counter() - t0)
    return c, statistics.median(times)


def table_tolerance(dims, device, repeats: int) -> None:
    print(f"\n1. Evaluations and time to ||g||_2 <= {TOL:g} (budget {BUDGET:,}), device {device}")
    print(f"{'n':>6} {'method':<19} {'evals':>7} {'HVPs':>6} {'time [s]':>9} {'ms/eval':>8}"
          f" {'reached':>8} {'final ||g||':>12}")
    for n in dims:
        results = {}
        for name, runner in methods(n, BUDGET, device):
            c, t = timed(runner, repeats)
            results[name] = (c, t)
            print(f"{n:>6} {name:<19} {c.evals:>7} {c.hvps or '':>6} {t:>9.3f} "
                  f"{1e3 * t / max(c.evals, 1):>8.3f} {'yes' if c.reached else 'NO':>8} "
                  f"{c.best[1]:>12.2e}")
        ours, torch_, scipy_ = (results[k] for k in ("optnotes LBFGS", "torch LBFGS", "scipy L-BFGS-B"))
        print(f"{'':>6} LBFGS ratios: evals vs torch {ours[0].evals / torch_[0].evals:.2f}, "
              f"vs scipy {ours[0].evals / scipy_[0].evals:.2f}; time vs torch "
              f"{ours[1] / torch_[1]:.2f}, vs scipy {ours[1] / scipy_[1]:.2f}")


def table_lbfgs_time(n: int, device, runs: int = 5) -> None:
    """optnotes' L-BFGS against scipy's L-BFGS-B: ``runs`` pairs of runs, each pair back to
    back (so a busy machine slows both alike), after one warm-up run of each."""
    ours = dict(max_iter=BUDGET, max_eval=BUDGET, tolerance_grad=TOL, tolerance_change=0.0)
    run_ours = lambda: run_torch(lambda p: LBFGS(p, history_size=10, **ours), n, TOL,  # noqa: E731
                                 BUDGET, device)
    run_scipy_ = lambda: run_scipy("L-BFGS-B", n, TOL, BUDGET)  # noqa: E731
    run_ours(), run_scipy_()
    t_ours, t_scipy = [], []
    for k in range(runs):
        for runner, times in ((run_ours, t_ours), (run_scipy_, t_scipy))[::1 if k % 2 else -1]:
            t0 = time.perf_counter()
            c = runner()
            times.append(time.perf_counter() - t0)
    ratios = sorted(a / b for a, b in zip(t_ours, t_scipy))
    med = statistics.median
    print(f"\n1a. L-BFGS wall time at n = {n:,}, {runs} pairs of runs, device {device}: "
          f"optnotes {med(t_ours):.3f} s [{min(t_ours):.3f}, {max(t_ours):.3f}], "
          f"scipy L-BFGS-B {med(t_scipy):.3f} s [{min(t_scipy):.3f}, {max(t_scipy):.3f}]")
    print(f"    ratio optnotes / scipy: median of medians {med(t_ours) / med(t_scipy):.2f}; "
          f"per pair median {med(ratios):.2f} [{ratios[0]:.2f}, {ratios[-1]:.2f}] "
          f"(target <= 2); last run {c.evals} evaluations")


def table_spread(dims, device, starts: int = 5) -> None:
    print(f"\n1b. L-BFGS evaluations to ||g||_2 <= {TOL:g} from {starts} starts x0 * (1 + 1e-12 N(0, 1)): "
          f"median [min, max], device {device}")
    ours = dict(max_iter=BUDGET, max_eval=BUDGET, tolerance_grad=TOL, tolerance_change=0.0)
    runners = {
        "optnotes LBFGS": lambda n, k: run_torch(lambda p: LBFGS(p, history_size=10, **ours), n, TOL,
                                                 BUDGET, device, seed=k),
        "torch LBFGS": lambda n, k: run_torch(lambda p: torch.optim.LBFGS(
            p, history_size=10, max_iter=BUDGET, max_eval=BUDGET, tolerance_grad=0.0,
            tolerance_change=0.0, line_search_fn="strong_wolfe"), n, TOL, BUDGET, device, seed=k),
        "scipy L-BFGS-B": lambda n, k: run_scipy("L-BFGS-B", n, TOL, BUDGET, seed=k),
    }
    for n in dims:
        cells = []
        for name, runner in runners.items():
            counts = sorted(runner(n, k).evals for k in range(starts))
            cells.append(f"{name} {statistics.median(counts):>6.0f} [{counts[0]}, {counts[-1]}]")
        print(f"{n:>6}   " + "   ".join(cells))


def table_budget(n: int, budget: int, device) -> None:
    print(f"\n2. n = {n:,}: best f and its ||g||_2 within {budget:,} evaluations, device {device}")
    print(f"{'method':<19} {'evals':>6} {'f':>12} {'||g||_2':>10} {'time [s]':>9}")
    for name, runner in methods(n, budget, device):
        t0 = time.perf_counter()
        c = runner()
        print(f"{name:<19} {c.evals:>6} {c.best[0]:>12.4e} {c.best[1]:>10.2e} "
              f"{time.perf_counter() - t0:>9.2f}")


def per_iteration(dims, device, repeats: int) -> None:
    print(f"\n3. Time per iteration [ms] on the Rosenbrock of dimension n (autograd closure), "
          f"device {device}")
    print(f"{'n':>6} {'Newton (dense)':>15} {'NewtonCG':>10} {'LBFGS':>8}")
    for n in dims:
        cells = []
        for make, iters in ((lambda p: Newton(p, max_iter=3, damping=1e-3, tolerance_change=0.0), 3),
                            (lambda p: NewtonCG(p, max_iter=10, tolerance_change=0.0), 10),
                            (lambda p: LBFGS(p, max_iter=20, tolerance_change=0.0), 20)):
            times = []
            for _ in range(repeats + 1):  # the first is a warm-up
                x = torch.tensor(start(n), device=device).requires_grad_(True)
                opt = make([x])
                f = optnotes.objectives.rosenbrock(n)

                def closure():
                    opt.zero_grad()
                    loss = f(x)
                    loss.backward()
                    return loss

                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                opt.step(closure)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append((time.perf_counter() - t0) / max(opt.state[x]["n_iter"], 1))
            cells.append(1e3 * statistics.median(times[1:]))
        print(f"{n:>6} {cells[0]:>15.2f} {cells[1]:>10.2f} {cells[2]:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cuda when present)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=TABLES,
                        help="the tables to print (default all), e.g. --tables 1a")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    if args.device == "all":
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    else:
        devices = [torch.device(args.device)]
    torch.set_default_dtype(torch.float64)
    print(f"torch {torch.__version__}, scipy {scipy.__version__}, "
          f"{torch.get_num_threads()} threads, float64")
    tables = {
        "1": lambda device: table_tolerance((2, 100) if args.quick else (2, 100, 1000), device,
                                            repeats),
        "1a": lambda device: table_lbfgs_time(100 if args.quick else 1000, device),
        "1b": lambda device: table_spread((100,) if args.quick else (100, 1000), device),
        "2": lambda device: table_budget(1000 if args.quick else 10_000, 2000, device),
        "3": lambda device: per_iteration((50, 100, 200) if args.quick
                                          else (50, 100, 200, 400, 800, 1600), device, repeats),
    }
    for device in devices:
        for name in TABLES:
            if name in args.tables:
                tables[name](device)


if __name__ == "__main__":
    main()
