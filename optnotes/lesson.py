"""Small tools every chapter uses: set up, show the package's code, and measure a rate."""

from __future__ import annotations

import inspect
import textwrap

import numpy as np

from . import _checks


def source(obj):
    """The source of ``obj`` (a class, function or method of optnotes) as code: a
    function's or method's without its docstring (the API page shows that) and without
    its class-level indentation; a class's as it is."""
    from IPython.display import Code  # only needed inside a notebook

    text = textwrap.dedent(inspect.getsource(obj))
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        text = _body_text(text, None)
    return Code(text, language="python")


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

# --- Chapter 04, first-order methods -----------------------------------------------------


def sgd_noise_floor(lr: float, momentum: float = 0.0, noise: float = 1.0,
                    curvature: float = 1.0) -> float:
    r"""Stationary excess error of SGD (with heavy-ball momentum :math:`\alpha`) on
    :math:`\tfrac{\lambda}{2}\theta^2` when every gradient carries noise :math:`\sigma\xi`,
    :math:`\xi \sim N(0, 1)`.

    The iteration :math:`\theta_{k+1} = (1+\alpha-\epsilon\lambda)\theta_k - \alpha\theta_{k-1}
    - \epsilon\sigma\xi_k` is an AR(2) process; its stationary variance gives

    .. math::

        \lim_k \mathbb{E}\,\tfrac{\lambda}{2}\theta_k^2 =
        \frac{(1+\alpha)\,\epsilon\sigma^2}{2(1-\alpha)\,(2(1+\alpha) - \epsilon\lambda)}
        \approx \frac{\epsilon\sigma^2}{4(1-\alpha)} ,

    the floor of plain SGD (:math:`\alpha = 0`) at the rate :math:`\epsilon/(1-\alpha)`.
    Needs the stable range :math:`0 < \epsilon\lambda < 2(1+\alpha)`.
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if curvature <= 0 or noise < 0:
        raise ValueError(f"curvature must be > 0 and noise >= 0, got {curvature!r}, {noise!r}")
    if not 0.0 < lr * curvature < 2.0 * (1.0 + momentum):
        raise ValueError(f"lr * curvature must be in (0, 2(1 + momentum)) for a floor to "
                         f"exist, got lr={lr!r}, curvature={curvature!r}, momentum={momentum!r}")
    a, e = momentum, lr
    return (1 + a) * e * noise**2 / (2 * (1 - a) * (2 * (1 + a) - e * curvature))


def examples_to_reach(history, level: float) -> float:
    """Gradients of single examples that :func:`optnotes.train.train` had computed when
    the full training loss in ``history`` first fell to ``level`` or below; ``inf`` if
    it never did."""
    for k, loss in zip(history.eval_step, history.train_loss):
        if loss <= level:
            return float(history.examples[k - 1]) if k > 0 else 0.0
    return float("inf")


def sgd_conventions(lr: float = 0.1, momentum: float = 0.9, steps: int = 30,
                    drop_every: int = 10, gamma: float = 0.1, seed: int = 0) -> dict:
    r"""Run ``optnotes.SGD``, ``torch.optim.SGD`` and ``optax.sgd`` side by side.

    All three minimize the same least-squares cost in float64 with the same gradients
    (computed in closed form, :math:`g = X^\top(Xw - y)/m`), while a step schedule
    multiplies the rate by ``gamma`` every ``drop_every`` steps (``StepLR`` for the two
    torch optimizers, the same staircase as an optax schedule in float64). Returns,
    for ``"momentum"`` and ``"nesterov"``, the largest gaps between the iterates
    (``before`` the first drop and ``after`` it, for the pairs ``optnotes-torch``,
    ``optnotes-optax`` and ``torch-optax``), and each library's state after the first
    step divided by the first gradient (``state_1/g_1``: :math:`-\epsilon` for
    optnotes' velocity, 1 for torch's and optax's buffers).
    """
    import jax
    import jax.numpy as jnp
    import optax
    import torch

    from .first_order import SGD

    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(64, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(64, generator=gen, dtype=torch.float64)
    w0 = torch.randn(5, generator=gen, dtype=torch.float64)

    def gradient(w):
        return X.T @ (X @ w - y) / X.shape[0]

    def run_torch(make_opt):
        w = w0.clone().requires_grad_(True)
        opt = make_opt([w])
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=drop_every, gamma=gamma)
        path, state_1 = [], None
        for _ in range(steps):
            w.grad = gradient(w.detach())
            opt.step()
            sched.step()
            if state_1 is None:
                state = opt.state[w]
                state_1 = (state["v"] if "v" in state else state["momentum_buffer"]).clone()
            path.append(w.detach().clone())
        return torch.stack(path), state_1

    def run_optax(nesterov):
        with jax.enable_x64(True):
            def schedule(count):  # ε₀ γ^⌊k/s⌋, in float64 (optax's own decays use float32)
                return lr * gamma ** (count // drop_every)

            tx = optax.sgd(schedule, momentum=momentum, nesterov=nesterov)
            w = jnp.asarray(w0.numpy())
            opt_state, path, state_1 = tx.init(w), [], None
            for _ in range(steps):
                g = jnp.asarray(gradient(torch.from_numpy(np.array(w))).numpy())
                updates, opt_state = tx.update(g, opt_state, w)
                w = optax.apply_updates(w, updates)
                if state_1 is None:
                    state_1 = torch.from_numpy(np.array(opt_state[0].trace))
                path.append(torch.from_numpy(np.array(w)))
        return torch.stack(path), state_1

    g1 = gradient(w0)
    result = {}
    for name, nesterov in (("momentum", False), ("nesterov", True)):
        ours, v1 = run_torch(lambda p: SGD(p, lr=lr, momentum=momentum, nesterov=nesterov))
        theirs, b1 = run_torch(lambda p: torch.optim.SGD(p, lr=lr, momentum=momentum,
                                                         nesterov=nesterov))
        jaxs, t1 = run_optax(nesterov)
        gaps = {}
        for pair, (a, b) in {"optnotes-torch": (ours, theirs), "optnotes-optax": (ours, jaxs),
                             "torch-optax": (theirs, jaxs)}.items():
            d = (a - b).abs().amax(dim=1)
            gaps[pair] = {"before": float(d[:drop_every].max()),
                          "after": float(d[drop_every:].max())}
        result[name] = {"gaps": gaps, "state_1/g_1": {
            lib: float((s / g1).mean()) for lib, s in
            (("optnotes", v1), ("torch", b1), ("optax", t1))},
            "state_1/g_1 spread": max(float((s / g1).std()) for s in (v1, b1, t1))}
    return result

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


def run_logged(objective: Callable, make_optimizer: Callable, x0, max_evals: int,
               tol: float = 0.0) -> EvaluationLog:
    """Run ``make_optimizer([x])`` on ``objective(x)`` from ``x0`` (float64) and log every
    evaluation, until :math:`\\|g\\| \\le` ``tol``, ``max_evals`` evaluations, or the
    optimizer stops by itself (a ``step()`` that makes no iteration)."""
    import torch

    _checks.positive_int("max_evals", max_evals)
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

    _checks.positive_int("cap", cap)
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

    _checks.positive_int("budget", budget)
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


# --- Chapter 03, challenges ----------------------------------------------------------------

def source_body(obj, start: str | None = None):
    """The source of the function ``obj`` without its docstring, shown as code.

    With ``start``, the lines between the signature and the first line containing
    ``start`` (argument checks, say) are replaced by one ``...`` line, so that a chapter
    shows only the lines that do the work.
    """
    import textwrap

    from IPython.display import Code  # only needed inside a notebook

    return Code(_body_text(textwrap.dedent(inspect.getsource(obj)), start),
                language="python")


def _body_text(text: str, start: str | None) -> str:
    import ast

    lines = text.splitlines()
    node = ast.parse(text).body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError(f"obj must be a function, got {type(node).__name__}")
    first = node.body[0]
    body_from = first.lineno - 1  # 0-based index of the first statement
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        body_from = first.end_lineno  # skip the docstring
    head, body = lines[:first.lineno - 1], lines[body_from:]
    if start is not None:
        hits = [i for i, line in enumerate(body) if start in line]
        if not hits:
            raise ValueError(f"start {start!r} is not in the source of the function")
        if hits[0] > 0:
            indent = body[0][:len(body[0]) - len(body[0].lstrip())]
            body = [indent + "..."] + body[hits[0]:]
    return "\n".join(head + body) + "\n"
