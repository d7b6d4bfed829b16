"""Small tools every chapter uses: set up, show the package's code, and measure a rate."""

from __future__ import annotations

import inspect

import numpy as np


def source(obj):
    """The source of ``obj`` (a class, function or method of optnotes), shown as it is."""
    from IPython.display import Code  # only needed inside a notebook

    return Code(inspect.getsource(obj), language="python")


def loglog_slope(k, y) -> float:
    r"""Slope of :math:`\log y` against :math:`\log k`: the exponent :math:`p` in :math:`y \approx C k^p`."""
    return float(np.polyfit(np.log(k), np.log(y), 1)[0])


def setup(seed: int = 0, threads: int = 1):
    """What a chapter's first (hidden) cell does: one CPU thread, a seed, the course's
    plot style with SVG figures; returns the device :func:`optnotes.default_device` picks.

    The chapters' problems are tiny, so one thread is the fastest setting and polite on a
    shared CPU.
    """
    import torch

    from .plot import use_course_style
    from .runtime import default_device, set_seed

    torch.set_num_threads(threads)
    set_seed(seed)
    use_course_style()
    return default_device()


# --- Chapter 06 (second-order methods): run a closure-driven optimizer and count -------------

from collections import namedtuple  # noqa: E402
from typing import Callable  # noqa: E402

EvaluationLog = namedtuple("EvaluationLog", "f gnorm hit state")
EvaluationLog.__doc__ = """What :func:`run_logged` recorded: the loss ``f`` and gradient norm
``gnorm`` at every closure call (NumPy arrays), ``hit``, the number of calls up to the
first one with :math:`\\|g\\| \\le` ``tol`` (``None`` if the budget ran out first), and
the optimizer's ``state`` for the parameter at the end (its counters: ``n_iter``, ...)."""


def make_closure(optimizer, loss_fn: Callable, log: list | None = None) -> Callable:
    """The usual closure for ``optimizer.step(closure)``: zero the gradients, evaluate
    ``loss_fn()``, back-propagate, return the loss; appends each loss to ``log`` if given."""

    def closure():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        if log is not None:
            log.append(float(loss.detach()))
        return loss

    return closure


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def run_logged(objective: Callable, make_optimizer: Callable, x0, max_evals: int,
               tol: float = 0.0) -> EvaluationLog:
    """Run ``make_optimizer([x])`` on ``objective(x)`` from ``x0`` (float64) and log every
    evaluation, until :math:`\\|g\\| \\le` ``tol``, ``max_evals`` evaluations, or the
    optimizer stops by itself (a ``step()`` that makes no iteration)."""
    import torch

    _positive("max_evals", max_evals)
    if tol < 0:
        raise ValueError(f"tol must be non-negative, got {tol}")
    x = torch.as_tensor(x0, dtype=torch.float64).clone().requires_grad_(True)
    opt = make_optimizer([x])
    f_log, g_log = [], []

    def closure():
        opt.zero_grad()
        loss = objective(x)
        loss.backward()
        f_log.append(float(loss.detach()))
        g_log.append(float(x.grad.detach().norm()))
        return loss

    while len(f_log) < max_evals and not (g_log and min(g_log) <= tol):
        before = opt.state[x].get("n_iter", 0) if x in opt.state else 0
        opt.step(closure)
        if opt.state[x].get("n_iter", 0) == before:  # it stopped by itself
            break
    hit = next((i + 1 for i, g in enumerate(g_log) if g <= tol), None)
    return EvaluationLog(np.array(f_log), np.array(g_log), hit, dict(opt.state[x]))


def iterations_to(objective: Callable, make_optimizer: Callable, x0, target, tol: float = 1e-6,
                  cap: int = 1000) -> int | None:
    """Iterations (``step()`` calls) of ``make_optimizer([x])`` from ``x0`` until
    :math:`\\|x - \\text{target}\\| <` ``tol``; ``None`` if ``cap`` iterations do not suffice."""
    import torch

    _positive("cap", cap)
    x = torch.as_tensor(x0, dtype=torch.float64).clone().requires_grad_(True)
    target = torch.as_tensor(target, dtype=torch.float64)
    opt = make_optimizer([x])
    closure = make_closure(opt, lambda: objective(x))
    for k in range(cap + 1):
        if float((x.detach() - target).norm()) < tol:
            return k
        if k < cap:
            opt.step(closure)
    return None


def state_bytes(optimizer) -> int:
    """Bytes held by the tensors in ``optimizer.state``: the memory the method keeps."""
    import torch

    return sum(t.numel() * t.element_size() for st in optimizer.state.values()
               for t in st.values() if torch.is_tensor(t))


class _Stop(Exception):
    pass


def scipy_evaluations(method: str, objective: Callable, x0, tol: float, budget: int,
                      fun_and_grad: Callable | None = None, hessp: Callable | None = None,
                      **options) -> tuple[int, int, bool]:
    """Run ``scipy.optimize.minimize(method=...)`` on ``objective`` from ``x0`` and count:
    ``(evaluations, hessian_vector_products, reached)``, where the run ends at the first
    evaluation with :math:`\\|g\\|_2 \\le` ``tol`` or after ``budget`` evaluations.

    ``f`` and ``g`` come from autograd on the torch ``objective`` in float64, or from
    ``fun_and_grad(z) -> (f, g)`` on NumPy arrays if given (the same function, computed by
    scipy's own code, e.g. ``scipy.optimize.rosen``); ``Newton-CG`` gets its products
    from ``hessp(z, p)`` if given, else from :func:`optnotes.curvature.hvp`. Further
    keyword arguments are scipy's ``options``.
    """
    import torch
    from scipy.optimize import minimize

    from .curvature import hvp

    _positive("budget", budget)
    count = {"f": 0, "hv": 0, "reached": False}

    def autograd_f_and_g(z):
        x = torch.from_numpy(np.array(z, dtype=np.float64)).requires_grad_(True)
        f = objective(x)
        (g,) = torch.autograd.grad(f, x)
        return float(f.detach()), g.numpy()

    def fun(z):
        f, g = (fun_and_grad or autograd_f_and_g)(z)
        count["f"] += 1
        if float(np.linalg.norm(g)) <= tol:
            count["reached"] = True
            raise _Stop
        if count["f"] >= budget:
            raise _Stop
        return f, g

    def autograd_hessp(z, p):
        return hvp(objective, torch.from_numpy(np.array(z)), torch.from_numpy(np.array(p))).numpy()

    def counted_hessp(z, p):
        count["hv"] += 1
        return (hessp or autograd_hessp)(z, p)

    x0 = np.asarray(torch.as_tensor(x0, dtype=torch.float64).detach().cpu().numpy())
    try:
        minimize(fun, x0, jac=True, method=method, options=options,
                 hessp=counted_hessp if method == "Newton-CG" else None)
    except _Stop:
        pass
    return count["f"], count["hv"], count["reached"]
