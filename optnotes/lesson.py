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
