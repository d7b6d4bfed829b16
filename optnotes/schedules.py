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
