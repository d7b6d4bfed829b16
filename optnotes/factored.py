"""Factored second moments: Adafactor.

Shazeer & Stern (2018), Algorithms 4 and 5, in the variant ``torch.optim.Adafactor`` runs.

Chapter: *Preconditioning with matrices* (``chapters/10_matrix_preconditioners``),
section "Factored second moments: Adafactor".
"""

from __future__ import annotations

import math
import numbers

import torch

from . import _checks
from ._structured import StructuredStateOptimizer


def _eps_pair(value) -> tuple[float | None, float]:
    """``eps`` as ``(ε1 or None, ε2)``, each ≥ 0."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"eps must be a pair (eps1 or None, eps2), got {value!r}")
    eps1, eps2 = value
    if eps1 is not None:
        if isinstance(eps1, bool) or not isinstance(eps1, numbers.Real):
            raise TypeError(f"eps[0] must be None or a real number, got {eps1!r} in eps={value!r}")
        if not (math.isfinite(eps1) and eps1 >= 0):
            raise ValueError(f"eps[0] must be >= 0, got {eps1!r} in eps={value!r}")
        eps1 = float(eps1)
    if isinstance(eps2, bool) or not isinstance(eps2, numbers.Real):
        raise TypeError(f"eps[1] must be a real number, got {eps2!r} in eps={value!r}")
    if not (math.isfinite(eps2) and eps2 >= 0):
        raise ValueError(f"eps[1] must be >= 0, got {eps2!r} in eps={value!r}")
    return eps1, float(eps2)


def factored_shapes(shape) -> tuple[tuple, tuple]:
    """Shapes of the row factor :math:`R` and the column factor :math:`C` that Adafactor
    keeps for a tensor of ``shape`` (two or more dimensions; the last two are factored)."""
    shape = tuple(shape)
    return shape[:-1] + (1,), shape[:-2] + (1, shape[-1])


class Adafactor(StructuredStateOptimizer):
    r"""Adafactor: Adam without momentum whose second-moment matrix of each weight matrix
    is kept as a rank-one product of a row and a column factor, :math:`O(m + n)` numbers
    for an :math:`m \times n` weight instead of :math:`mn`, with a step size relative to
    the size of the weights and the update clipped in RMS.

    Notation of Shazeer & Stern against the arguments: the cap of the relative step size
    :math:`\rho_t` is ``lr`` (the paper fixes it at :math:`10^{-2}`), the exponent of the
    decay :math:`\hat\beta_{2t} = 1 - t^{c}` is ``beta2_decay`` :math:`c` (the paper's
    :math:`-0.8`), :math:`(\epsilon_1, \epsilon_2)` is ``eps`` (``None`` for
    :math:`\epsilon_1` means the machine epsilon of the parameter's dtype), the clipping
    threshold :math:`d` is ``d``. The row and column factors :math:`R_t, C_t` (means over
    the last and next-to-last dimension) are the states ``"r"`` and ``"c"``; a vector keeps
    the unfactored :math:`\hat V_t` as ``"v"``; the step count :math:`t` is ``"t"``.
    ``weight_decay`` :math:`\lambda` shrinks :math:`X` by :math:`1 - \epsilon\lambda`
    (decoupled, with :math:`\epsilon` = ``lr``) before the step, as torch does. For an
    :math:`m \times n` gradient :math:`G_t` (a tensor of more dimensions is factored over
    its last two, a batch of matrices):

    .. math::

        \rho_t = \min(\epsilon, 1/\sqrt{t}), \quad
        \alpha_t = \max(\epsilon_2, \operatorname{RMS}(X_{t-1}))\,\rho_t, \quad
        \hat\beta_{2t} = 1 - t^{c},

        R_t = \hat\beta_{2t} R_{t-1} + (1-\hat\beta_{2t})\,
              \operatorname{mean}_{\text{cols}}(G_t^2), \quad
        C_t = \hat\beta_{2t} C_{t-1} + (1-\hat\beta_{2t})\,
              \operatorname{mean}_{\text{rows}}(G_t^2), \quad
        \hat V_t = \frac{R_t C_t}{\operatorname{mean}(R_t)},

        U_t = \frac{G_t}{\sqrt{\max(\hat V_t, \epsilon_1^2)}}, \quad
        \hat U_t = \frac{U_t}{\max(1, \operatorname{RMS}(U_t)/d)}, \quad
        X_t = X_{t-1} - \alpha_t \hat U_t .

    The factors are rank-one: :math:`\hat V_t` is the outer product of the row and column
    averages of :math:`G^2`, scaled so that it has their total, which is the rank-one
    matrix closest to the averaged :math:`G^2` in the generalized Kullback–Leibler
    divergence (the paper's section 3).

    **Differences from the paper and from PyTorch.** ``torch.optim.Adafactor`` computes
    exactly this (same arguments and defaults; the iterates agree to rounding). The paper
    (Algorithm 4) adds :math:`\epsilon_1 = 10^{-30}` to :math:`G^2` before averaging
    instead of flooring :math:`\hat V` at :math:`\epsilon_1^2`, and writes the factors as
    row and column sums (the same :math:`\hat V`); it fixes the cap of :math:`\rho_t` at
    :math:`10^{-2}` where torch and this class take ``lr``, and offers the relative step
    (the factor :math:`\operatorname{RMS}(X)`) and momentum as options, where torch always
    scales by :math:`\operatorname{RMS}(X)` and has no momentum. torch reads
    :math:`t`, :math:`\operatorname{RMS}(X)` and :math:`\operatorname{RMS}(U)` on the host
    (``.item()``); here they stay tensors on the parameter's device (no synchronisation,
    and a compiled step does not recompile as :math:`t` grows).

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: cap :math:`\epsilon \ge 0` of the relative step size :math:`\rho_t`.
        beta2_decay: :math:`c \le 0` in :math:`\hat\beta_{2t} = 1 - t^{c}`.
        eps: :math:`(\epsilon_1, \epsilon_2)`: floor of :math:`\sqrt{\hat V}` (``None``:
            the dtype's machine epsilon) and floor of :math:`\operatorname{RMS}(X)`.
        d: clipping threshold :math:`d \ge 1` of :math:`\operatorname{RMS}(U)`.
        weight_decay: :math:`\lambda \ge 0`, decoupled.
        maximize: ascend instead (:math:`G \leftarrow -G` first).

    References: Shazeer & Stern (2018), *Adafactor: adaptive learning rates with
    sublinear memory cost*, ICML.
    """

    def __init__(self, params, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                                      weight_decay=weight_decay, maximize=maximize))

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["beta2_decay"] = _checks.real("beta2_decay", group["beta2_decay"])
        if group["beta2_decay"] > 0:
            raise ValueError(f"beta2_decay must be <= 0, got {group['beta2_decay']!r}")
        group["eps"] = _eps_pair(group["eps"])
        group["d"] = _checks.real("d", group["d"])
        if group["d"] < 1:
            raise ValueError(f"d must be >= 1, got {group['d']!r}")
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])

    def _state_spec(self, p: torch.Tensor, group: dict) -> dict:
        """The state a parameter keeps: name → (shape, dtype)."""
        if p.dim() < 2:
            return {"t": ((), torch.float64), "v": (tuple(p.shape), p.dtype)}
        rows, cols = factored_shapes(p.shape)
        return {"t": ((), torch.float64), "r": (rows, p.dtype), "c": (cols, p.dtype)}

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        for group in self.param_groups:
            self._init_group(group)
            eps, c, d = group["lr"], group["beta2_decay"], group["d"]
            eps1, eps2 = group["eps"]
            lam = group["weight_decay"]
            for X, G in zip(*self._params_with_grad(group)):
                G = -G if group["maximize"] else G
                state = self.state[X]
                e1 = torch.finfo(X.dtype).eps if eps1 is None else eps1
                t = state["t"]
                t.add_(1.0)  # t ← t + 1
                # ρ_t = min(ε, 1/√t)
                rho = torch.clamp(1.0 / t.sqrt(), max=eps).to(X.dtype)
                # α_t = max(ε2, RMS(X_{t−1})) ρ_t
                alpha = (X.norm() / math.sqrt(X.numel())).clamp(min=eps2) * rho
                # 1 − β̂_2t = t^c
                one_minus_beta2 = t.pow(c).to(X.dtype)
                if lam:
                    X.mul_(1.0 - eps * lam)  # X ← (1 − ελ) X (decoupled decay)
                if G.dim() >= 2:
                    R, C = state["r"], state["c"]
                    # R_t = β̂ R + (1−β̂) mean over columns of G²
                    R.lerp_(G.square().mean(dim=-1, keepdim=True), one_minus_beta2)
                    # C_t = β̂ C + (1−β̂) mean over rows of G²
                    C.lerp_(G.square().mean(dim=-2, keepdim=True), one_minus_beta2)
                    # V̂_t = R_t C_t / mean(R_t)
                    V = (R @ C).div_(R.mean(dim=-2, keepdim=True).clamp(min=e1))
                else:
                    # V̂_t = β̂ V̂ + (1−β̂) G² (a vector: not factored)
                    state["v"].lerp_(G.square(), one_minus_beta2)
                    V = state["v"].clone()
                # U_t = G / √max(V̂_t, ε1²)
                U = V.clamp_(min=e1 * e1).rsqrt_().mul_(G)
                # Û_t = U_t / max(1, RMS(U_t)/d)
                clip = (U.norm() / (math.sqrt(U.numel()) * d)).clamp(min=1.0)
                X.sub_(U.mul_(alpha / clip))  # X_t = X_{t−1} − α_t Û_t
        return loss
