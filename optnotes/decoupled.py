"""Decoupled weight decay: AdamW.

Loshchilov & Hutter (2019): shrink the weights directly instead of adding the gradient of
an L2 penalty, which Adam would divide by :math:`\\sqrt{\\hat r}` like the rest of the gradient.

Chapter: *Training in practice since the textbook* (``chapters/09_practice``), section
"Decoupled weight decay".
"""

from __future__ import annotations

import torch

from ._optimizer import Optimizer, _fold_scale
from .adaptive import Adam, _one_minus_powers


def _ascent_only(theta: list, g: list, group: dict) -> list:
    """−g with ``maximize`` (as torch.optim), and no L2 term: the decay is decoupled and
    applied by the step itself."""
    return torch._foreach_neg(g) if group.get("maximize", False) else g


class AdamW(Optimizer):
    r"""AdamW: Adam (Algorithm 8.7) with the weight decay taken out of the gradient and
    applied to the weights directly, so that it is not rescaled by :math:`1/\sqrt{\hat r}`.

    The textbook's notation against the arguments, as for :class:`optnotes.adaptive.Adam`: step
    size :math:`\epsilon` is ``lr``, :math:`(\rho_1, \rho_2)` are ``betas``, :math:`\delta`
    is ``eps``; the moments :math:`s, r` and the count :math:`t` are the states ``"s"``,
    ``"r"``, ``"t"``. The decay rate :math:`\lambda` is ``weight_decay``. Loshchilov &
    Hutter (2019), Algorithm 2, in PyTorch's parametrization:

    .. math::

        t \leftarrow t + 1, \quad
        s \leftarrow \rho_1 s + (1-\rho_1) g, \quad
        r \leftarrow \rho_2 r + (1-\rho_2)\, g \odot g, \quad
        \hat s \leftarrow \frac{s}{1-\rho_1^t}, \quad
        \hat r \leftarrow \frac{r}{1-\rho_2^t}, \quad
        \theta \leftarrow \theta - \epsilon \Bigl(\frac{\hat s}{\sqrt{\hat r} + \delta}
            + \lambda \theta\Bigr) .

    With an L2 penalty (``optnotes.Adam(weight_decay=λ)``) the term :math:`\lambda\theta`
    enters :math:`g` and so both moments, and it is divided by :math:`\sqrt{\hat r}`:
    weights with large gradients are barely decayed. Here every weight shrinks by the same
    factor :math:`1 - \epsilon\lambda` per step.

    **Differences from the paper, PyTorch and optax.** The paper writes the step as
    :math:`\theta \leftarrow \theta - \eta_t(\alpha\, \hat s/(\sqrt{\hat r}+\delta) +
    \lambda\theta)`, with a base rate :math:`\alpha` and a schedule multiplier
    :math:`\eta_t`, so its decay follows the schedule but not :math:`\alpha`; PyTorch and
    optax multiply the decay by the full rate, :math:`\epsilon\lambda` with
    :math:`\epsilon = \eta_t\alpha`, so their :math:`\lambda` is the paper's divided by
    :math:`\alpha`. This class does what ``torch.optim.AdamW`` does (same defaults,
    ``weight_decay=0.01``; torch shrinks θ first and then adds the Adam step, the same
    numbers) and what ``optax.adamw`` does (whose default ``weight_decay`` is 1e-4).

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: step size :math:`\epsilon \ge 0`.
        betas: :math:`(\rho_1, \rho_2)`, each in :math:`[0, 1)`.
        eps: :math:`\delta \ge 0`, added to :math:`\sqrt{\hat r}`.
        weight_decay: :math:`\lambda \ge 0`, decoupled.
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else, as
            torch.optim's ``maximize=True`` (the decay still shrinks θ).

    References: Loshchilov & Hutter (2019), *Decoupled weight decay regularization*, ICLR;
    Kingma & Ba (2015); Goodfellow, Bengio & Courville (2016), section 8.5.3.
    """

    counts_steps = True

    def __init__(self, params, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    # the hyperparameters and the state of Adam
    check_group = Adam.check_group
    _initial_state = Adam._initial_state
    _decayed = staticmethod(_ascent_only)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # g ← −g if maximize (no L2 term: the decay is decoupled)
        for group, params, theta, g in self._groups():
            eps, (rho1, rho2), delta = group["lr"], group["betas"], group["eps"]
            lam = group["weight_decay"]
            s = self._state_tensors(params, "s")
            r = self._state_tensors(params, "r")
            t = self._step_counts(params)  # t ← t + 1
            torch._foreach_lerp_(s, g, 1.0 - rho1)  # s ← ρ1 s + (1−ρ1) g
            torch._foreach_mul_(r, rho2)  # r ← ρ2 r + (1−ρ2) g⊙g
            torch._foreach_addcmul_(r, g, g, value=1.0 - rho2)
            # r̂ ← r/(1−ρ2^t), then √r̂ + δ
            r_hat = torch._foreach_div(r, _one_minus_powers(rho2, t))
            torch._foreach_sqrt_(r_hat)
            torch._foreach_add_(r_hat, delta)
            # ŝ ← s/(1−ρ1^t): the factor 1−ρ1^t joins the denominator
            torch._foreach_mul_(r_hat, _one_minus_powers(rho1, t))
            if lam:  # θ ← θ − ελθ (from the θ before the step) ...
                torch._foreach_mul_(theta, 1.0 - eps * lam)
            # ... − ε ŝ/(√r̂ + δ)
            torch._foreach_addcdiv_(theta, s, r_hat, value=_fold_scale(r_hat, -eps))
        return loss
