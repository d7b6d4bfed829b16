"""First-order methods: SGD, momentum and Nesterov momentum (Algorithms 8.1–8.3).

Chapter: *First-order methods* (``chapters/04_first_order``).
"""

from __future__ import annotations

import torch

from . import _checks
from ._optimizer import Optimizer, _add_scaled_


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum.

    The textbook's notation against the arguments: learning rate :math:`\epsilon` is
    ``lr``, momentum parameter :math:`\alpha` is ``momentum``, velocity :math:`v` is the
    state ``"v"``. ``weight_decay`` :math:`\lambda` adds :math:`\lambda\theta` to the
    gradient (an L2 penalty :math:`\tfrac{\lambda}{2}\|\theta\|^2` on the cost).

    Algorithm 8.1 (``momentum=0``):

    .. math::

        \theta \leftarrow \theta - \epsilon g

    Algorithm 8.2 (``momentum=α``):

    .. math::

        v \leftarrow \alpha v - \epsilon g, \qquad \theta \leftarrow \theta + v

    Algorithm 8.3 (``nesterov=True``): the gradient is taken at the interim point
    :math:`\tilde\theta = \theta + \alpha v`,

    .. math::

        v \leftarrow \alpha v - \epsilon \nabla J(\theta + \alpha v), \qquad
        \theta \leftarrow \theta + v .

    **How Nesterov gets the interim gradient without a closure.** The parameters this
    optimizer holds are the interim point itself, :math:`\phi = \theta + \alpha v`, so
    the gradient a normal ``loss.backward()`` leaves in ``p.grad`` is already
    :math:`\nabla J(\tilde\theta)`. Substituting :math:`\theta = \phi - \alpha v` into
    Algorithm 8.3 gives the update of :math:`\phi`:

    .. math::

        v \leftarrow \alpha v - \epsilon \nabla J(\phi), \qquad
        \phi \leftarrow \phi + \alpha v - \epsilon \nabla J(\phi) .

    With :math:`v_0 = 0` both sequences start at the same point, and
    :math:`\phi_k = \theta_k + \alpha v_k` at every step, so the two converge to the
    same minimizer. With a momentum that changes between steps, the exact substitution
    would use the next step's :math:`\alpha` in the second line; this class uses the
    current one, as ``torch.optim.SGD`` does. A group built with ``momentum > 0`` keeps
    its velocity even while a schedule (:class:`~optnotes.MomentumSchedule`) sets
    :math:`\alpha = 0`, since :math:`v \leftarrow 0 \cdot v - \epsilon g` is still the box.

    **Differences from PyTorch and optax.** ``torch.optim.SGD`` keeps a buffer
    :math:`b \leftarrow \alpha b + g` and steps :math:`\theta \leftarrow \theta - \epsilon b`,
    so :math:`v = -\epsilon b` while :math:`\epsilon` is constant and both give the same
    iterates. When a schedule changes :math:`\epsilon`, torch rescales the whole history
    by the current rate, whereas the textbook's velocity keeps the rates at which each
    gradient was taken. ``optax.sgd`` (``optax.trace``) keeps torch's buffer form.
    torch's ``dampening`` is not offered: the textbook has no such term.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: learning rate :math:`\epsilon \ge 0` (default 1e-3, torch's, so that an
            optimizer built from param groups that each set ``lr`` needs no other).
        momentum: :math:`\alpha \in [0, 1)`.
        nesterov: use Algorithm 8.3; needs ``momentum > 0``.
        weight_decay: :math:`\lambda \ge 0`.
        maximize: ascend instead, :math:`g \leftarrow -g` before everything else (as
            ``torch.optim.SGD(maximize=True)``).

    References: Robbins & Monro (1951); Polyak (1964); Nesterov (1983);
    Sutskever et al. (2013) for the change of variables.
    """

    steps_in_pieces = False  # one to four passes: whole tensors are faster

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["momentum"] = _checks.in_unit_interval("momentum", group["momentum"])
        group["nesterov"] = _checks.boolean("nesterov", group["nesterov"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])
        _checks.nesterov_needs_momentum(group)
        # A group built with momentum keeps its velocity even while a schedule sets α = 0
        # (v ← 0·v − εg is still the box); only a group built without momentum skips v.
        group.setdefault("keep_velocity", group["momentum"] > 0)

    def _initial_state(self, group: dict) -> dict:
        return {"v": 0.0} if group["momentum"] != 0 or group["keep_velocity"] else {}

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # g ← −g if maximize, then g ← g + λθ
        for group, params, theta, g in self._groups():
            eps, alpha = group["lr"], group["momentum"]
            if alpha == 0 and not group["keep_velocity"]:
                _add_scaled_(theta, g, -eps)  # θ ← θ − εg
                continue
            v = self._state_tensors(params, "v")
            torch._foreach_mul_(v, alpha)  # v ← αv − εg
            _add_scaled_(v, g, -eps)
            if group["nesterov"]:
                # θ holds the interim point φ = θ + αv:  φ ← φ + αv − εg
                torch._foreach_add_(theta, v, alpha=alpha)
                _add_scaled_(theta, g, -eps)
            else:
                torch._foreach_add_(theta, v)  # θ ← θ + v
        return loss
