r"""Learning-rate schedules that work with any torch optimizer.

Each is a ``torch.optim.lr_scheduler.LRScheduler``: call ``scheduler.step()`` once per
iteration (or per epoch, if :math:`k` counts epochs). Each computes the rate of group
:math:`i` in closed form from that group's initial rate :math:`\epsilon_0`, so it can be
saved and restored with ``state_dict()`` and gives the same rate whatever happened before.

Chapter: *First-order methods*, sections "Schedules in practice: linear decay and step
decay" (the learning-rate schedules) and "Convex batch problems: O(1/k) against O(1/k²)"
(:class:`MomentumSchedule` with :func:`nesterov_momentum`).
"""

from __future__ import annotations

import math
import numbers

from torch.optim.lr_scheduler import LRScheduler

from . import _checks


class _ClosedForm(LRScheduler):
    """A scheduler whose rate is ``ε₀ · factor(k)`` for the current iteration ``k``."""

    def factor(self, k: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]

    _get_closed_form_lr = get_lr


class LinearDecay(_ClosedForm):
    r"""The textbook's linear decay (section 8.3.1): :math:`\epsilon_k = (1-\tfrac{k}{\tau})\epsilon_0 + \tfrac{k}{\tau}\epsilon_\tau`
    for :math:`k \le \tau`, and :math:`\epsilon_k = \epsilon_\tau` after.

    The textbook suggests :math:`\epsilon_\tau \approx 1\%` of :math:`\epsilon_0` and
    :math:`\tau` of a few hundred passes through the training set.
    ``torch.optim.lr_scheduler.LinearLR(start_factor=1, end_factor=final_factor,
    total_iters=tau)`` gives the same rates; optax calls it ``linear_schedule``.

    Args:
        optimizer: any ``torch.optim.Optimizer``.
        tau: :math:`\tau \ge 1`, the iteration at which decay ends.
        final_factor: :math:`\epsilon_\tau / \epsilon_0 \ge 0` (default 0.01).
        last_epoch: as in every torch scheduler.
    """

    def __init__(self, optimizer, tau: int, final_factor: float = 0.01, last_epoch: int = -1):
        self.tau = _checks.positive_int("tau", tau)
        self.final_factor = _checks.nonnegative("final_factor", final_factor)
        super().__init__(optimizer, last_epoch)

    def factor(self, k: int) -> float:
        a = min(k, self.tau) / self.tau  # α = k/τ, frozen at 1 after τ
        return (1 - a) + a * self.final_factor


class StepDecay(_ClosedForm):
    r"""Step decay: :math:`\epsilon_k = \epsilon_0\,\gamma^{\lfloor k / s \rfloor}`, e.g.
    halve the rate every :math:`s` iterations (``torch.optim.lr_scheduler.StepLR``).

    Args:
        optimizer: any ``torch.optim.Optimizer``.
        step_size: :math:`s \ge 1`, iterations between decays.
        gamma: factor :math:`\gamma \in (0, 1]` applied at each decay (default 0.5).
        last_epoch: as in every torch scheduler.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.5, last_epoch: int = -1):
        self.step_size = _checks.positive_int("step_size", step_size)
        self.gamma = _checks.positive("gamma", gamma)
        if self.gamma > 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        super().__init__(optimizer, last_epoch)

    def factor(self, k: int) -> float:
        return self.gamma ** (k // self.step_size)


class InverseTimeDecay(_ClosedForm):
    r"""Power decay: :math:`\epsilon_k = \epsilon_0 / (1 + k/k_0)^{p}`.

    With :math:`p = 1` it meets both sufficient conditions for SGD's convergence,
    :math:`\sum_k \epsilon_k = \infty` and :math:`\sum_k \epsilon_k^2 < \infty`; with
    :math:`p = 1/2` only the first (the second sum grows like :math:`\log k`), the
    classical choice for convex problems that are not strongly convex.

    Args:
        optimizer: any ``torch.optim.Optimizer``.
        k0: :math:`k_0 > 0`, the iteration at which the rate has fallen by :math:`2^p`.
        power: :math:`p > 0` (default 1).
        last_epoch: as in every torch scheduler.
    """

    def __init__(self, optimizer, k0: float, power: float = 1.0, last_epoch: int = -1):
        self.k0 = _checks.positive("k0", k0)
        self.power = _checks.positive("power", power)
        super().__init__(optimizer, last_epoch)

    def factor(self, k: int) -> float:
        return (1 + k / self.k0) ** -self.power


class MomentumSchedule:
    r"""Sets every group's ``momentum`` to :math:`\alpha_k` = ``fn(k)`` at iteration :math:`k`.

    The textbook advises raising :math:`\alpha` over time; Nesterov's :math:`O(1/k^2)` rate
    on convex problems needs :math:`\alpha_k \to 1`, e.g. :func:`nesterov_momentum`.
    Use it like a learning-rate scheduler: ``step()`` after each ``optimizer.step()``.
    Each value is checked to lie in [0, 1).

    Args:
        optimizer: an optimizer whose groups have a ``momentum`` entry.
        fn: :math:`k \mapsto \alpha_k`.
    """

    def __init__(self, optimizer, fn):
        if not all("momentum" in group for group in optimizer.param_groups):
            raise ValueError(f"optimizer must have a 'momentum' hyperparameter, got {type(optimizer).__name__}")
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        self.optimizer, self.fn, self.last_epoch = optimizer, fn, 0
        self._apply()

    def _apply(self) -> None:
        alpha = _checks.in_unit_interval("momentum", self.fn(self.last_epoch))
        for group in self.optimizer.param_groups:
            group["momentum"] = alpha

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def state_dict(self) -> dict:
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch = state["last_epoch"]
        self._apply()


def nesterov_momentum(k: int) -> float:
    r""":math:`\alpha_k = k / (k + 3)`, an increasing momentum for Nesterov's accelerated
    method on convex problems: the simple form :math:`(j-1)/(j+2)` of Su, Boyd & Candès
    (2016) with :math:`j = k + 1`, so that :math:`\alpha_0 = 0`.

    Nesterov (1983) and Beck & Teboulle's FISTA (2009) use :math:`(t_j - 1)/t_{j+1}` with
    :math:`t_{j+1} = (1 + \sqrt{1 + 4t_j^2})/2`: a different sequence (0, 0.28, 0.43, ...
    against 0, 0.25, 0.4, ...) that also behaves like :math:`1 - 3/j` for large :math:`j`,
    and gives the same :math:`O(1/k^2)` guarantee."""
    return k / (k + 3)


def _nonnegative_int(name: str, value) -> int:
    """An integer ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return int(value)


def _fraction(name: str, value) -> float:
    """A real number in [0, 1]: a learning rate as a fraction of the peak."""
    value = _checks.nonnegative(name, value)
    if value > 1:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def _warmup(k: int, warmup_steps: int, initial_factor: float) -> float:
    """The linear warmup from ``initial_factor`` at k = 0 to 1 at k = ``warmup_steps``."""
    return initial_factor + (1 - initial_factor) * k / warmup_steps


class WarmupCosine(_ClosedForm):
    r"""A linear warmup to the peak rate :math:`\epsilon_0` followed by a cosine decay:

    .. math::

        \frac{\epsilon_k}{\epsilon_0} = \begin{cases}
            a + (1-a)\,k/W & k < W, \\
            b + (1-b)\,\tfrac12\bigl(1 + \cos\bigl(\pi\,\tfrac{k-W}{T-W}\bigr)\bigr)
                & W \le k \le T, \\
            b & k > T,
        \end{cases}

    with :math:`W` = ``warmup_steps``, :math:`T` = ``total_steps`` (the warmup included),
    :math:`a` = ``initial_factor`` and :math:`b` = ``final_factor``. The rate is
    ``optax.warmup_cosine_decay_schedule(init_value=lr·a, peak_value=lr, warmup_steps=W,
    decay_steps=T, end_value=lr·b)`` at every step, and that of torch's
    ``SequentialLR([LinearLR(start_factor=a, total_iters=W), CosineAnnealingLR(T_max=T-W,
    eta_min=lr·b)], milestones=[W])`` (which needs :math:`a > 0` and, past :math:`T`,
    rises again, where this one stays at :math:`b`).

    Why warm up: Adam's first steps divide by a second moment estimated from a few
    gradients (Liu et al., 2020), and with large batches the first steps at the full rate
    can throw the weights out of the region where that rate is stable (Goyal et al., 2017).

    Args:
        optimizer: any ``torch.optim.Optimizer``.
        warmup_steps: :math:`W \ge 0` (0: no warmup).
        total_steps: :math:`T > W`, the step at which the decay ends.
        initial_factor: :math:`a \in [0, 1]`, the rate at step 0 over the peak.
        final_factor: :math:`b \in [0, 1]`, the rate at and after :math:`T` over the peak.
        last_epoch: as in every torch scheduler.

    Chapter: *Training in practice since the textbook*, section "Warmup and schedules".
    """

    def __init__(self, optimizer, warmup_steps: int, total_steps: int,
                 initial_factor: float = 0.0, final_factor: float = 0.0, last_epoch: int = -1):
        self.warmup_steps = _nonnegative_int("warmup_steps", warmup_steps)
        self.total_steps = _checks.positive_int("total_steps", total_steps)
        if self.total_steps <= self.warmup_steps:
            raise ValueError(f"total_steps must be > warmup_steps = {warmup_steps}, "
                             f"got {total_steps!r}")
        self.initial_factor = _fraction("initial_factor", initial_factor)
        self.final_factor = _fraction("final_factor", final_factor)
        super().__init__(optimizer, last_epoch)

    def factor(self, k: int) -> float:
        w, t, b = self.warmup_steps, self.total_steps, self.final_factor
        if k < w:
            return _warmup(k, w, self.initial_factor)
        progress = min(k - w, t - w) / (t - w)
        return b + (1 - b) * 0.5 * (1 + math.cos(math.pi * progress))


class WarmupStableDecay(_ClosedForm):
    r"""Warmup, a long stretch at the peak rate, then a short decay (Hu et al., 2024):

    .. math::

        \frac{\epsilon_k}{\epsilon_0} = \begin{cases}
            a + (1-a)\,k/W & k < W, \\
            1 & W \le k < T - D, \\
            1 - (1-b)\,\phi\bigl(\tfrac{k - (T-D)}{D}\bigr) & T - D \le k \le T, \\
            b & k > T,
        \end{cases}

    with :math:`\phi(u) = u` (``shape="linear"``) or :math:`\phi(u) = \sqrt u`
    (``shape="sqrt"``, the "1 − sqrt" cooldown of Hägele et al., 2024), :math:`W` =
    ``warmup_steps``, :math:`D` = ``decay_steps``, :math:`T` = ``total_steps``. Because
    the rate is constant until the decay, a run can be stopped at any point of the stable
    phase and finished with a decay, or continued, without knowing :math:`T` in advance.
    optax has no such schedule; ``optax.join_schedules`` of a linear, a constant and a
    linear schedule gives the linear shape.

    Args:
        optimizer: any ``torch.optim.Optimizer``.
        warmup_steps: :math:`W \ge 0`.
        total_steps: :math:`T \ge W + D`.
        decay_steps: :math:`D \ge 1`.
        initial_factor: :math:`a \in [0, 1]`.
        final_factor: :math:`b \in [0, 1]`.
        shape: ``"linear"`` or ``"sqrt"``.
        last_epoch: as in every torch scheduler.
    """

    SHAPES = ("linear", "sqrt")

    def __init__(self, optimizer, warmup_steps: int, total_steps: int, decay_steps: int,
                 initial_factor: float = 0.0, final_factor: float = 0.0,
                 shape: str = "linear", last_epoch: int = -1):
        self.warmup_steps = _nonnegative_int("warmup_steps", warmup_steps)
        self.total_steps = _checks.positive_int("total_steps", total_steps)
        self.decay_steps = _checks.positive_int("decay_steps", decay_steps)
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise ValueError(f"total_steps must be >= warmup_steps + decay_steps = "
                             f"{self.warmup_steps + self.decay_steps}, got {total_steps!r}")
        self.initial_factor = _fraction("initial_factor", initial_factor)
        self.final_factor = _fraction("final_factor", final_factor)
        if shape not in self.SHAPES:
            raise ValueError(f"shape must be 'linear' or 'sqrt', got {shape!r}")
        self.shape = shape
        super().__init__(optimizer, last_epoch)

    def factor(self, k: int) -> float:
        w, t, d = self.warmup_steps, self.total_steps, self.decay_steps
        if k < w:
            return _warmup(k, w, self.initial_factor)
        if k < t - d:
            return 1.0
        u = min(k - (t - d), d) / d
        return 1 - (1 - self.final_factor) * (math.sqrt(u) if self.shape == "sqrt" else u)
