"""Schedule-free training: ScheduleFreeSGD and ScheduleFreeAdamW.

Defazio et al. (2024) replace momentum and the decaying schedule by two sequences: a base
sequence :math:`z` that takes plain (or Adam-scaled) gradient steps at a constant rate,
and its running average :math:`x`, the point to evaluate; the gradient is taken at
:math:`y`, an interpolation between the two. The parameters of the model hold :math:`y`
while training and :math:`x` after ``optimizer.eval()``, as in the authors' reference
implementation (``schedulefree``).

Chapter: *Training in practice since the textbook* (``chapters/09_practice``), section
"Schedule-free training".
"""

from __future__ import annotations

import numbers

import torch

from . import _checks
from ._optimizer import Optimizer
from .adaptive import _betas, _one_minus_powers
from .decoupled import _ascent_only

_SCALARS = ("t", "weight_sum", "lr_max")  # scalar tensors, one set per parameter


def _scalar_dtype(p: torch.Tensor) -> torch.dtype:
    """The dtype of the averaging's running sums: the parameter's (as optax keeps them, and
    as ``load_state_dict`` casts them), float64 for a complex parameter."""
    return p.dtype if p.is_floating_point() else torch.float64


def _warmup_steps(value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"warmup_steps must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {value!r}")
    return int(value)


class _ScheduleFree(Optimizer):
    """The averaging shared by both methods; subclasses give the base step's direction."""

    counts_steps = True
    steps_in_pieces = False  # the averaging weights are per parameter, not per piece

    def _check_common(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["warmup_steps"] = _warmup_steps(group["warmup_steps"])
        group["weight_lr_power"] = _checks.nonnegative("weight_lr_power",
                                                       group["weight_lr_power"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])
        group["train_mode"] = _checks.boolean("train_mode", group["train_mode"])

    def _beta(self, group: dict) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _initial_state(self, group: dict) -> dict:
        return {"t": 0, "weight_sum": 0.0, "lr_max": 0.0}

    def _state_spec(self, p: torch.Tensor, group: dict) -> dict:
        """Each state entry's ``(shape, dtype)``: ``z`` (and ``r``) like the parameter, the
        step count a float64 scalar, the averaging's running sums scalars of the
        parameter's dtype (float64 for a complex parameter)."""
        spec = {"t": ((), torch.float64)}
        spec.update({name: ((), _scalar_dtype(p)) for name in _SCALARS[1:]})
        for name in self._tensor_state():
            spec[name] = (tuple(p.shape), p.dtype)
        return spec

    def _tensor_state(self) -> tuple:
        return ("z",)

    def _init_group(self, group: dict) -> None:
        """Missing state: :math:`z = \\theta` (a copy), the other tensors 0, the scalars
        zeros on the parameter's device (see :meth:`_state_spec`)."""
        self._opt_called = True
        self._warn_float_lr_recompiles(group)
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.dtype == torch.float16:
                self._warn_eps_underflow(group)
            state = self.state[p]
            if "z" not in state:
                state["z"] = p.detach().clone(memory_format=torch.preserve_format)
            for name in self._tensor_state()[1:]:
                if name not in state:
                    state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
            for name, (_, dtype) in self._state_spec(p, group).items():
                if name not in state:
                    state[name] = torch.zeros((), dtype=dtype, device=p.device)

    def _averaging(self, params: list, group: dict):
        r"""``t ← t + 1`` and the step's rate :math:`\gamma_t` (with the linear warmup) and
        averaging weight :math:`c_{t+1}` for each parameter, as lists of scalar tensors."""
        t = self._step_counts(params)
        warmup = group["warmup_steps"]
        if warmup:  # γ_t = γ min(1, t/warmup)
            gamma = torch._foreach_div(t, float(warmup))
            torch._foreach_clamp_max_(gamma, 1.0)
        else:
            gamma = [torch.ones_like(x) for x in t]
        torch._foreach_mul_(gamma, group["lr"])
        lr_max = [self.state[p]["lr_max"] for p in params]
        weight_sum = [self.state[p]["weight_sum"] for p in params]
        gamma = [x.to(m.dtype) for x, m in zip(gamma, lr_max)]  # no copy when equal
        torch._foreach_maximum_(lr_max, gamma)  # γ_max ← max(γ_max, γ_t)
        weight = torch._foreach_pow(lr_max, group["weight_lr_power"])  # w_t = γ_max^p
        torch._foreach_add_(weight_sum, weight)  # c_{t+1} = w_t / Σ_{i≤t} w_i (0 if Σ = 0)
        c = [torch.where(ws > 0, w / ws.clamp_min(torch.finfo(ws.dtype).tiny),
                         torch.zeros_like(w)) for w, ws in zip(weight, weight_sum)]
        return gamma, c

    def _move(self, y: list, z: list, d: list, gamma: list, c: list, beta: float) -> None:
        r"""With :math:`d` the base step's direction at :math:`y`:
        :math:`z \leftarrow z - \gamma d`, :math:`x \leftarrow (1-c)x + cz` and
        :math:`y \leftarrow (1-\beta) z + \beta x`, with :math:`x` never stored."""
        # y ← (1−c) y + c z + γ(β(1−c) − 1) d, i.e. y = (1−β) z_new + β x_new
        torch._foreach_add_(y, torch._foreach_mul(torch._foreach_sub(z, y), c))
        coef = torch._foreach_mul(c, -beta)  # γ(β(1−c) − 1)
        torch._foreach_add_(coef, beta - 1.0)
        torch._foreach_mul_(coef, gamma)
        torch._foreach_add_(y, torch._foreach_mul(d, coef))
        torch._foreach_sub_(z, torch._foreach_mul(d, gamma))  # z ← z − γ d

    def _check_train_mode(self, group: dict) -> None:
        if not group["train_mode"]:
            raise RuntimeError(f"{type(self).__name__}.step() called in eval mode: call "
                               "optimizer.train() before training, optimizer.eval() before "
                               "evaluating")

    @torch.no_grad()
    def eval(self) -> None:
        r"""Put the averaged point :math:`x = (y - (1-\beta) z)/\beta` into the parameters
        (to evaluate or save the model); ``train()`` puts :math:`y` back."""
        for group in self.param_groups:
            if group["train_mode"]:
                beta = self._beta(group)
                for p in group["params"]:
                    if "z" in self.state.get(p, {}):
                        p.lerp_(self.state[p]["z"], 1.0 - 1.0 / beta)
                group["train_mode"] = False

    @torch.no_grad()
    def train(self) -> None:
        r"""Put the gradient point :math:`y = (1-\beta) z + \beta x` back into the
        parameters (after ``eval()``); a no-op in train mode."""
        for group in self.param_groups:
            if not group["train_mode"]:
                beta = self._beta(group)
                for p in group["params"]:
                    if "z" in self.state.get(p, {}):
                        p.lerp_(self.state[p]["z"], 1.0 - beta)
                group["train_mode"] = True


class ScheduleFreeSGD(_ScheduleFree):
    r"""Schedule-free SGD: gradient steps on :math:`z` at a constant rate, evaluated at
    their weighted running average :math:`x`, with gradients taken at :math:`y`.

    Notation: the rate :math:`\gamma` is ``lr`` (the textbook's :math:`\epsilon`), the
    interpolation :math:`\beta` is ``momentum``, the L2 coefficient :math:`\lambda` is
    ``weight_decay``; the state holds :math:`z` (``"z"``, starting at :math:`\theta_0`),
    the count :math:`t`, :math:`\gamma_{\max}` (``"lr_max"``) and :math:`\sum_i w_i`
    (``"weight_sum"``); the parameters hold :math:`y` in train mode and :math:`x` in eval
    mode. Defazio et al. (2024), Algorithm 1 with the weighting of their section 6:

    .. math::

        y_t = (1-\beta) z_t + \beta x_t, \quad
        z_{t+1} = z_t - \gamma_t\, \bigl(g(y_t) + \lambda y_t\bigr), \quad
        x_{t+1} = (1-c_{t+1})\, x_t + c_{t+1}\, z_{t+1},

    with :math:`\gamma_t = \gamma\min(1, t/T_w)` (a linear warmup over ``warmup_steps``
    :math:`T_w`), :math:`w_t = \gamma_{\max,t}^{\,p}` (:math:`p` is ``weight_lr_power``)
    and :math:`c_{t+1} = w_t / \sum_{i \le t} w_i`. Without warmup (:math:`p` then does not
    matter) :math:`c_{t+1} = 1/t`: :math:`x` is the plain average of the :math:`z`'s,
    Polyak averaging. With :math:`\beta = 0` the gradient is taken at :math:`z` (SGD,
    averaged); with :math:`\beta = 1` at the average itself.

    **Train and eval.** As in the reference implementation, call ``optimizer.train()``
    before training steps and ``optimizer.eval()`` before evaluating the model or saving
    it; ``step()`` in eval mode raises. The optimizer starts in train mode (at the
    start :math:`x = y = z`).

    **Differences from the reference implementation and optax.** ``schedulefree.SGDScheduleFree``
    computes the same, keeping :math:`t`, :math:`\gamma_{\max}` and the weight sum per
    group (here per parameter, as the step count of :class:`optnotes.adaptive.Adam`).
    ``optax.contrib.schedule_free_sgd`` gives the same iterates without warmup (its
    ``schedule_free_eval_params`` gives :math:`x`); with ``warmup_steps`` its base SGD
    reads the warmup schedule one step behind the averaging weights (its first step is
    0), so it matches this class only when both read the same step.
    :math:`\beta` must be > 0, since :math:`x` is recovered by dividing by it.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: rate :math:`\gamma \ge 0` (default 1.0, as the reference and optax).
        momentum: :math:`\beta \in (0, 1)` (default 0.9).
        weight_decay: :math:`\lambda \ge 0`, added to the gradient at :math:`y`.
        warmup_steps: :math:`T_w \ge 0`, the length of the linear warmup (0: none).
        weight_lr_power: :math:`p \ge 0` (default 2).
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else.
        train_mode: the mode it starts in (kept in each param group; use
            ``optimizer.train()`` and ``optimizer.eval()`` to switch).

    References: Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky (2024), *The road
    less scheduled*, NeurIPS.
    """

    def __init__(self, params, lr: float = 1.0, momentum: float = 0.9,
                 weight_decay: float = 0.0, warmup_steps: int = 0,
                 weight_lr_power: float = 2.0, maximize: bool = False,
                 train_mode: bool = True):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps,
                                      weight_lr_power=weight_lr_power, maximize=maximize,
                                      train_mode=train_mode))

    def check_group(self, group: dict) -> None:
        self._check_common(group)
        group["momentum"] = _checks.real("momentum", group["momentum"])
        if not 0.0 < group["momentum"] < 1.0:
            raise ValueError(f"momentum must be in (0, 1), got {group['momentum']!r}")

    def _beta(self, group: dict) -> float:
        return group["momentum"]

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # g ← −g if maximize, then g ← g + λy (the parameters hold y)
        for group, params, y, g in self._groups():
            self._check_train_mode(group)
            gamma, c = self._averaging(params, group)  # t ← t + 1; γ_t, c_{t+1}
            z = self._state_tensors(params, "z")
            self._move(y, z, g, gamma, c, group["momentum"])  # z, x, y as in the box
        return loss


class ScheduleFreeAdamW(_ScheduleFree):
    r"""Schedule-free AdamW: the schedule-free averaging of :class:`ScheduleFreeSGD` with
    the base step :math:`z \leftarrow z - \gamma_t\bigl(g/(\sqrt{\hat r}+\delta) +
    \lambda y\bigr)`, RMSProp's rescaling with bias correction (Adam without momentum:
    the averaging replaces it).

    Notation: the rate :math:`\gamma` is ``lr``, ``betas`` are :math:`(\beta, \rho_2)`:
    the interpolation :math:`\beta` and the second-moment decay :math:`\rho_2`;
    :math:`\delta` is ``eps``, :math:`\lambda` is ``weight_decay``; the state holds
    :math:`z`, :math:`r` (``"r"``) and the scalars of :class:`ScheduleFreeSGD`. Defazio
    et al. (2024), Algorithm 1:

    .. math::

        y_t = (1-\beta) z_t + \beta x_t, \quad
        r \leftarrow \rho_2 r + (1-\rho_2)\, g \odot g, \quad
        z_{t+1} = z_t - \gamma_t \Bigl(\frac{g}{\sqrt{r/(1-\rho_2^t)} + \delta}
            + \lambda y_t\Bigr), \quad
        x_{t+1} = (1-c_{t+1})\, x_t + c_{t+1}\, z_{t+1},

    with :math:`g = g(y_t)`, :math:`\gamma_t`, :math:`w_t` and :math:`c_{t+1}` as in
    :class:`ScheduleFreeSGD`. Train and eval modes as there.

    **Differences from the reference implementation and optax.** The current
    ``schedulefree.AdamWScheduleFree`` computes the same (earlier versions folded
    :math:`\sqrt{1-\rho_2^t}` into :math:`\gamma_t`, and so into the averaging weights);
    ``optax.contrib.schedule_free_adamw`` computes the same without warmup. The decay is
    applied at :math:`y`, the point where the gradient is taken, as in both.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: rate :math:`\gamma \ge 0` (default 0.0025, as the reference and optax).
        betas: :math:`(\beta, \rho_2)`, :math:`\beta \in (0, 1)`, :math:`\rho_2 \in [0, 1)`.
        eps: :math:`\delta \ge 0`.
        weight_decay: :math:`\lambda \ge 0`, decoupled, at :math:`y`.
        warmup_steps: :math:`T_w \ge 0`, the length of the linear warmup (0: none).
        weight_lr_power: :math:`p \ge 0` (default 2).
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else.
        train_mode: the mode it starts in.

    References: Defazio et al. (2024), *The road less scheduled*, NeurIPS.
    """

    def __init__(self, params, lr: float = 0.0025, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, warmup_steps: int = 0,
                 weight_lr_power: float = 2.0, maximize: bool = False,
                 train_mode: bool = True):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      warmup_steps=warmup_steps,
                                      weight_lr_power=weight_lr_power, maximize=maximize,
                                      train_mode=train_mode))

    def check_group(self, group: dict) -> None:
        self._check_common(group)
        group["betas"] = _betas(group["betas"])
        if group["betas"][0] == 0.0:
            raise ValueError(f"betas[0] must be in (0, 1), got 0.0 in betas={group['betas']!r}")
        group["eps"] = _checks.nonnegative("eps", group["eps"])

    def _beta(self, group: dict) -> float:
        return group["betas"][0]

    def _tensor_state(self) -> tuple:
        return ("z", "r")

    _decayed = staticmethod(_ascent_only)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # g ← −g if maximize (the decay is added after the rescaling)
        for group, params, y, g in self._groups():
            self._check_train_mode(group)
            (beta, rho2), delta = group["betas"], group["eps"]
            gamma, c = self._averaging(params, group)  # t ← t + 1; γ_t, c_{t+1}
            t = [self.state[p]["t"] for p in params]
            r = self._state_tensors(params, "r")
            torch._foreach_mul_(r, rho2)  # r ← ρ2 r + (1−ρ2) g⊙g
            torch._foreach_addcmul_(r, g, g, value=1.0 - rho2)
            # d = g/(√(r/(1−ρ2^t)) + δ) + λy
            denom = torch._foreach_div(r, _one_minus_powers(rho2, t))
            torch._foreach_sqrt_(denom)
            torch._foreach_add_(denom, delta)
            d = torch._foreach_div(g, denom)
            if group["weight_decay"]:
                torch._foreach_add_(d, y, alpha=group["weight_decay"])
            z = self._state_tensors(params, "z")
            self._move(y, z, d, gamma, c, beta)  # z, x, y as in the box
        return loss
