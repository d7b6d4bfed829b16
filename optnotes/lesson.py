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


# --- Chapter 05, adaptive learning rates: probes, batches of runs, peers --------------


class Probe:
    """Records ``fn(optimizer)`` after every step of an optimizer.

    :func:`optnotes.train.minimize` (``make_scheduler=``) and :func:`optnotes.train.train`
    (``scheduler=``) step a scheduler after every update; a probe passed in its place
    reads the optimizer's state instead of changing the rate. Calling the probe with
    the optimizer binds it and returns the probe, so it fits both slots; ``log`` holds
    one record per step.
    """

    def __init__(self, fn):
        self.fn, self.log, self.optimizer = fn, [], None

    def __call__(self, optimizer):
        self.optimizer = optimizer
        return self

    def step(self):
        if self.optimizer is None:
            raise RuntimeError("call the probe with its optimizer before stepping it")
        self.log.append(self.fn(self.optimizer))


def batch_of_runs(objective, make_optimizer, lrs, starts, steps: int):
    """Runs from every starting point (rows of ``starts``) with every rate in ``lrs``.

    Each rate is a param group holding all the starting points at once. The optimizers
    of chapter 05 act on every coordinate separately and ``objective`` sums over the
    batch, so this is a batch of independent runs, as fast as one. Returns the points,
    a float64 tensor of shape ``(steps + 1, len(lrs), len(starts), dim)``.
    """
    import torch

    starts = torch.as_tensor(starts, dtype=torch.float64)
    xs = [starts.clone().requires_grad_(True) for _ in lrs]
    opt = make_optimizer([{"params": [x], "lr": lr} for x, lr in zip(xs, lrs)])
    points = [torch.stack([x.detach().clone() for x in xs])]
    for _ in range(steps):
        opt.zero_grad()
        sum(objective(x).sum() for x in xs).backward()
        opt.step()
        points.append(torch.stack([x.detach().clone() for x in xs]))
    return torch.stack(points)


def steps_to(values, tol: float):
    """The first index ``k`` with ``values[k] < tol``; ``math.inf`` if there is none."""
    import math

    hit = np.nonzero(np.asarray(values) < tol)[0]
    return int(hit[0]) if hit.size else math.inf


def first_step(make_optimizer, g: float) -> float:
    """Size of the first step of ``make_optimizer([θ])`` from θ = 0 (one float64
    coordinate) when the gradient is ``g``: the quantity the conventions differ in."""
    import torch

    p = torch.zeros(1, dtype=torch.float64)
    opt = make_optimizer([p])
    p.grad = torch.full_like(p, g)
    opt.step()
    return abs(float(p))


def optax_minimize(objective, transformation, x0, steps: int):
    """Iterates of an optax ``GradientTransformation`` on a torch ``objective``.

    The gradient comes from torch (float64), the update from optax itself, run with
    jax's 64-bit mode switched on for the duration of the call, so the iterates can be
    compared with optnotes' and torch.optim's to rounding error. Returns the points,
    shape ``(steps + 1, dim)``, as a float64 tensor.
    """
    import jax
    import jax.numpy as jnp
    import optax
    import torch

    x = torch.as_tensor(x0, dtype=torch.float64).clone()
    points = [x.clone()]
    with jax.enable_x64(True):
        params = jnp.asarray(x.numpy())
        state = transformation.init(params)
        for _ in range(steps):
            xt = torch.from_numpy(np.array(params)).requires_grad_(True)
            (g,) = torch.autograd.grad(objective(xt), xt)
            updates, state = transformation.update(jnp.asarray(g.numpy()), state, params)
            params = optax.apply_updates(params, updates)
            points.append(torch.from_numpy(np.array(params)))
    return torch.stack(points)


class Table:
    """A small results table for a chapter page: header cells ``columns`` and ``rows``
    (lists of cells, already formatted as text). It shows as an HTML table in the book
    and in Jupyter, and as Markdown where HTML is not rendered."""

    def __init__(self, columns, rows):
        self.columns = [str(c) for c in columns]
        self.rows = [[str(c) for c in row] for row in rows]
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"every row needs {len(self.columns)} cells, got "
                                 f"{len(row)}: {row!r}")

    def _repr_markdown_(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                       for row in self.rows)
        return (f'<table class="table"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")


def sci(x: float, digits: int = 1) -> str:
    """``x`` in scientific notation for prose, "8.8 × 10⁻⁶" rather than "8.8e-06";
    numbers between 0.01 and 1000 are written out, 0 as "0"."""
    import math

    if x == 0:
        return "0"
    if 1e-2 <= abs(x) < 1e3:
        return f"{float(f'{x:.{digits + 1}g}'):g}".replace("-", "−")
    exponent = math.floor(math.log10(abs(x)))
    mantissa = round(x / 10**exponent, digits)
    if abs(mantissa) >= 10:  # rounding carried over, e.g. 9.96 → 10.0
        mantissa, exponent = mantissa / 10, exponent + 1
    sup = str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    m = f"{mantissa:.{digits}f}".replace("-", "−")
    return f"10{sup}" if m == "1" else f"{m} × 10{sup}"
