"""Sign-based updates: Lion.

Chen et al. (2023) found Lion by a program search: the step is the sign of an
interpolation between the momentum and the gradient, so every coordinate moves by the
same amount :math:`\\epsilon`, as in signSGD and, with a fixed rate, Rprop.

Chapter: *Training in practice since the textbook* (``chapters/09_practice``), section
"Sign-based updates".
"""

from __future__ import annotations

import torch

from . import _checks
from ._optimizer import Optimizer, _add_scaled_
from .adaptive import _betas
from .decoupled import _ascent_only


class Lion(Optimizer):
    r"""Lion (EvoLved Sign Momentum): a step of the same size :math:`\epsilon` in every
    coordinate, in the direction of the sign of a blend of momentum and gradient.

    Notation: step size :math:`\epsilon` is ``lr``; the two interpolation rates
    :math:`(\beta_1, \beta_2)` are ``betas``; the momentum :math:`m` (starting at 0) is the
    state ``"m"``; the decoupled decay rate :math:`\lambda` is ``weight_decay``. Chen et
    al. (2023), Algorithm 2:

    .. math::

        c \leftarrow \beta_1 m + (1-\beta_1) g, \quad
        \theta \leftarrow \theta - \epsilon\,\bigl(\operatorname{sign}(c) + \lambda\theta\bigr),
        \quad
        m \leftarrow \beta_2 m + (1-\beta_2) g .

    With :math:`\beta_1 = \beta_2 = 0` it is signSGD, :math:`\theta \leftarrow \theta -
    \epsilon\operatorname{sign}(g)`. Since :math:`\beta_2 > \beta_1`, the step looks at the
    current gradient more than the momentum it keeps. Every coordinate of
    :math:`\operatorname{sign}(c)` is :math:`\pm 1` (or 0), so the update has a larger norm
    than Adam's: the paper advises a rate 3–10 times smaller than AdamW's and a
    :math:`\lambda` as much larger, keeping :math:`\epsilon\lambda` the same.

    **Differences from optax.** ``optax.lion`` computes the same (sign of the blend, then
    :math:`\lambda\theta` added, then the rate), with the same ``b1=0.9, b2=0.99``, but
    its default ``weight_decay`` is 1e-3; here it is 0, as in the paper's code.
    PyTorch has no Lion. :math:`\operatorname{sign}(0) = 0` in both.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: step size :math:`\epsilon \ge 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`.
        weight_decay: :math:`\lambda \ge 0`, decoupled (multiplied by :math:`\epsilon`).
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else.

    References: Chen et al. (2023), *Symbolic discovery of optimization algorithms*,
    NeurIPS; Bernstein et al. (2018), *signSGD: compressed optimisation for non-convex
    problems*, ICML.
    """

    def __init__(self, params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize))

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["betas"] = _betas(group["betas"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])

    def _initial_state(self, group: dict) -> dict:
        return {"m": 0.0}

    _decayed = staticmethod(_ascent_only)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # g ← −g if maximize (no L2 term: the decay is decoupled)
        for group, params, theta, g in self._groups():
            eps, (beta1, beta2), lam = group["lr"], group["betas"], group["weight_decay"]
            m = self._state_tensors(params, "m")
            c = torch._foreach_lerp(m, g, 1.0 - beta1)  # c ← β1 m + (1−β1) g
            torch._foreach_sign_(c)  # sign(c)
            if lam:  # θ ← θ − ε(sign(c) + λθ)
                torch._foreach_mul_(theta, 1.0 - eps * lam)
            _add_scaled_(theta, c, -eps, temporary=True)
            torch._foreach_lerp_(m, g, 1.0 - beta2)  # m ← β2 m + (1−β2) g
        return loss
