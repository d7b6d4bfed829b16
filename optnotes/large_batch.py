"""Layer-wise trust ratios for large batches: LARS and LAMB.

You et al. (2017; 2020) scale each tensor's step by :math:`\\|\\theta\\| / \\|u\\|`, the
ratio of the weights' norm to the update's norm, so that every layer moves by about the same
fraction of its size, however its gradient is scaled. The ratio is computed per
parameter tensor (per layer's weight or bias), never per element.

Chapter: *Training in practice since the textbook* (``chapters/09_practice``), section
"Large batches: LARS and LAMB".
"""

from __future__ import annotations

import torch

from . import _checks
from ._optimizer import Optimizer, _add_scaled_, _Piece
from .adaptive import Adam, _one_minus_powers
from .decoupled import _ascent_only


def trust_ratios(theta: list, u: list, coefficient: float = 1.0, eps: float = 0.0) -> list:
    r"""The trust ratio :math:`\eta\,\|\theta\| / (\|u\| + \text{eps})` of each tensor, as a
    0-dim tensor on its device, and 1 where either norm is 0 (a zero-initialized bias, or
    a tensor whose update is 0), as optax's ``scale_by_trust_ratio``."""
    return _ratios(torch._foreach_norm(theta), torch._foreach_norm(u), coefficient, eps)


def _ratios(theta_norms: list, u_norms: list, coefficient: float = 1.0, eps: float = 0.0):
    """:func:`trust_ratios` from the norms."""
    if len({(x.device, x.dtype) for x in theta_norms + u_norms}) == 1:  # one stacked op
        a, b = torch.stack(theta_norms), torch.stack(u_norms)
        ratio = torch.where((a == 0) | (b == 0), torch.ones_like(a), coefficient * a / (b + eps))
        return list(ratio.unbind(0))
    return [torch.where((a == 0) | (b == 0), torch.ones_like(a), coefficient * a / (b + eps))
            for a, b in zip(theta_norms, u_norms)]


class LARS(Optimizer):
    r"""LARS (layer-wise adaptive rate scaling): SGD with momentum whose step in each tensor
    is rescaled by the trust ratio :math:`\eta\,\|\theta\| / \|g + \lambda\theta\|`.

    Notation: step size :math:`\epsilon` is ``lr``, momentum :math:`\alpha` is ``momentum``
    with velocity :math:`v` (the state ``"v"``, starting at 0) as in Algorithm 8.2, the
    trust coefficient :math:`\eta` is ``trust_coefficient``, the L2 coefficient
    :math:`\lambda` is ``weight_decay`` and :math:`\delta` is ``eps``. For each parameter
    tensor :math:`\theta` (one layer's weight or bias), as ``optax.lars`` computes it:

    .. math::

        u \leftarrow g + \lambda\theta, \quad
        \tau \leftarrow \frac{\eta\,\|\theta\|}{\|u\| + \delta}
            \ (\tau = 1 \text{ if } \|\theta\| = 0 \text{ or } \|u\| = 0), \quad
        v \leftarrow \alpha v - \epsilon\,\tau u, \quad
        \theta \leftarrow \theta + v .

    With ``nesterov=True`` the last line is :math:`\theta \leftarrow \theta + \alpha v -
    \epsilon\tau u` (optax's ``trace(nesterov=True)``). The velocity accumulates steps that
    already include :math:`\epsilon`, as in the paper (a scheduled rate changes only new
    contributions, unlike ``torch.optim.SGD``, whose velocity is multiplied by the rate).

    **Differences from the paper and optax.** You et al. (2017, Algorithm 1) use the local
    rate :math:`\eta\|\theta\| / (\|g\| + \lambda\|\theta\|)`, the norms of the two terms
    added; optax (and this class) use the norm of their sum, :math:`\|g + \lambda\theta\|`,
    which is never larger, so the ratio is never smaller. The paper (and common practice)
    leaves biases and normalization parameters out of the ratio and the decay; optax
    applies both to every tensor by default (its masks leave tensors out), and so does
    this class: to leave a tensor out, give it to another optimizer, e.g.
    :class:`optnotes.first_order.SGD`. PyTorch has no LARS.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: step size :math:`\epsilon \ge 0`.
        momentum: :math:`\alpha \in [0, 1)` (default 0.9, as optax).
        weight_decay: :math:`\lambda \ge 0` (L2, added to the gradient before the ratio).
        trust_coefficient: :math:`\eta > 0` (default 0.001, as the paper and optax).
        eps: :math:`\delta \ge 0`, added to :math:`\|u\|`.
        nesterov: Nesterov momentum (needs ``momentum > 0``).
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else.

    References: You, Gitman & Ginsburg (2017), *Large batch training of convolutional
    networks*, arXiv:1708.03888.
    """

    steps_in_pieces = False  # the ratio needs the norm of the whole tensor

    def __init__(self, params, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 0.001, eps: float = 0.0, nesterov: bool = False,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps,
                                      nesterov=nesterov, maximize=maximize))

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["momentum"] = _checks.in_unit_interval("momentum", group["momentum"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["trust_coefficient"] = _checks.positive("trust_coefficient",
                                                      group["trust_coefficient"])
        group["eps"] = _checks.nonnegative("eps", group["eps"])
        group["nesterov"] = _checks.boolean("nesterov", group["nesterov"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])
        _checks.nesterov_needs_momentum(group)

    def _initial_state(self, group: dict) -> dict:
        return {"v": 0.0}

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # u ← g + λθ (after g ← −g if maximize)
        for group, params, theta, u in self._groups():
            eps, alpha = group["lr"], group["momentum"]
            # τ ← η‖θ‖/(‖u‖ + δ), per tensor; u ← τu
            tau = trust_ratios(theta, u, group["trust_coefficient"], group["eps"])
            u = torch._foreach_mul(u, tau)
            v = self._state_tensors(params, "v")
            torch._foreach_mul_(v, alpha)  # v ← αv − ετu
            _add_scaled_(v, u, -eps)
            if group["nesterov"]:  # θ ← θ + αv − ετu
                torch._foreach_add_(theta, v, alpha=alpha)
                _add_scaled_(theta, u, -eps, temporary=True)
            else:
                torch._foreach_add_(theta, v)  # θ ← θ + v
        return loss


class LAMB(Optimizer):
    r"""LAMB (layer-wise adaptive moments for batch training): the AdamW direction, with
    each tensor's step rescaled by the trust ratio :math:`\|\theta\| / \|u\|`.

    Notation as for :class:`optnotes.decoupled.AdamW`: step size :math:`\epsilon` is ``lr``,
    :math:`(\rho_1, \rho_2)` are ``betas``, :math:`\delta` is ``eps``, the moments
    :math:`s, r` and the count :math:`t` are the states ``"s"``, ``"r"``, ``"t"``, and
    :math:`\lambda` is ``weight_decay`` (decoupled). For each parameter tensor, You et al.
    (2020), Algorithm 2 with :math:`\phi` the identity:

    .. math::

        t \leftarrow t + 1, \quad
        s \leftarrow \rho_1 s + (1-\rho_1) g, \quad
        r \leftarrow \rho_2 r + (1-\rho_2)\, g \odot g, \quad
        u \leftarrow \frac{s/(1-\rho_1^t)}{\sqrt{r/(1-\rho_2^t)} + \delta} + \lambda\theta,
        \quad
        \theta \leftarrow \theta - \epsilon\,\frac{\|\theta\|}{\|u\|}\, u

    (the ratio is 1 where either norm is 0). Every tensor therefore moves by
    :math:`\epsilon\|\theta\|` in norm, a fraction :math:`\epsilon` of its size.

    **Differences from the paper and optax.** The paper allows a scaling function
    :math:`\phi(\|\theta\|)` (e.g. clipping the norm to :math:`[\gamma_l, \gamma_u]`) and
    uses the identity in its experiments; ``optax.lamb`` uses the identity and computes
    exactly this, with the same defaults (``eps=1e-6``, ``weight_decay=0``). PyTorch has
    no LAMB.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: step size :math:`\epsilon \ge 0`.
        betas: :math:`(\rho_1, \rho_2)`, each in :math:`[0, 1)`.
        eps: :math:`\delta \ge 0`, added to :math:`\sqrt{\hat r}`.
        weight_decay: :math:`\lambda \ge 0`, decoupled (inside the ratio).
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else.

    References: You et al. (2020), *Large batch optimization for deep learning: training
    BERT in 76 minutes*, ICLR.
    """

    counts_steps = True
    #: A large CPU tensor steps in pieces (Adam's passes then run on data in cache); its
    #: norms are those of its pieces combined, √(Σ‖piece‖²), which may differ from the
    #: whole tensor's norm in the last bits, and a last pass in pieces recomputes u.
    norms_from_pieces = True

    def __init__(self, params, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    # the hyperparameters and the state of Adam (and AdamW)
    check_group = Adam.check_group
    _initial_state = Adam._initial_state
    _decayed = staticmethod(_ascent_only)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        chunks, owners, theta_norms, u_norms = [], [], [], []
        # g ← −g if maximize (no L2 term: the decay is decoupled)
        for group, params, theta, g in self._groups():
            rho1, rho2 = group["betas"]
            s = self._state_tensors(params, "s")
            r = self._state_tensors(params, "r")
            t = self._step_counts(params)  # t ← t + 1
            torch._foreach_lerp_(s, g, 1.0 - rho1)  # s ← ρ1 s + (1−ρ1) g
            torch._foreach_mul_(r, rho2)  # r ← ρ2 r + (1−ρ2) g⊙g
            torch._foreach_addcmul_(r, g, g, value=1.0 - rho2)
            u = self._direction(group, theta, s, r, t)
            owners += [x.param if isinstance(x, _Piece) else x for x in params]
            theta_norms += torch._foreach_norm(theta)
            u_norms += torch._foreach_norm(u)
            # a piece of a large CPU tensor: its u is computed again at the end, in cache
            pieced = any(isinstance(x, _Piece) for x in params)
            chunks.append((group, theta, None if pieced else u, (s, r, t)))
        # θ ← θ − ε ‖θ‖/‖u‖ u, each tensor's norms from its pieces' ones
        lengths = _run_lengths(owners)
        ratios = iter(_repeat(_ratios(*(_whole_norms(n, lengths)
                                         for n in (theta_norms, u_norms))), lengths))
        for group, theta, u, moments in chunks:
            if u is None:
                u = self._direction(group, theta, *moments)
            torch._foreach_mul_(u, [next(ratios) for _ in u])
            _add_scaled_(theta, u, -group["lr"], temporary=True)
        return loss

    @staticmethod
    def _direction(group: dict, theta: list, s: list, r: list, t: list) -> list:
        """u ← ŝ/(√r̂ + δ) + λθ."""
        (rho1, rho2), delta = group["betas"], group["eps"]
        denom = torch._foreach_div(r, _one_minus_powers(rho2, t))
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, delta)
        torch._foreach_mul_(denom, _one_minus_powers(rho1, t))
        u = torch._foreach_div(s, denom)
        if group["weight_decay"]:
            torch._foreach_add_(u, theta, alpha=group["weight_decay"])
        return u


def _run_lengths(owners: list) -> list:
    """How many consecutive entries of ``owners`` are the same tensor (its pieces)."""
    lengths = []
    for i, owner in enumerate(owners):
        if i and owner is owners[i - 1]:
            lengths[-1] += 1
        else:
            lengths.append(1)
    return lengths


def _whole_norms(norms: list, lengths: list) -> list:
    """Each tensor's norm from those of its ``lengths`` consecutive pieces, √(Σ‖piece‖²)."""
    if len(norms) == len(lengths):  # no tensor in pieces
        return norms
    whole, start = [], 0
    for n in lengths:
        whole.append(norms[start] if n == 1
                     else torch.linalg.vector_norm(torch.stack(norms[start:start + n])))
        start += n
    return whole


def _repeat(xs: list, lengths: list) -> list:
    """Each ``xs[i]`` repeated ``lengths[i]`` times."""
    return [x for x, n in zip(xs, lengths) for _ in range(n)]
