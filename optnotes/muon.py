"""Orthogonalized momentum: Muon and the Newton–Schulz iteration it runs.

Jordan et al. (2024), in the variant ``torch.optim.Muon`` runs.

Chapter: *Preconditioning with matrices* (``chapters/10_matrix_preconditioners``),
section "Orthogonalized momentum: Muon".
"""

from __future__ import annotations

import math

import torch

from . import _checks
from ._structured import StructuredStateOptimizer

#: the quintic's coefficients (a, b, c) of Jordan et al. and torch.optim.Muon
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
_NS_DTYPES = (torch.bfloat16, torch.float16, torch.float32, torch.float64)


def newton_schulz(G: torch.Tensor, steps: int = 5, coefficients=NS_COEFFICIENTS,
                  eps: float = 1e-7, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    r"""``steps`` Newton–Schulz iterations towards the polar factor :math:`UV^\top` of an
    :math:`m \times n` matrix :math:`G = U\Sigma V^\top`, in ``dtype``.

    With :math:`X_0 = G/\max(\|G\|_F, \varepsilon)` (so every singular value is at most 1)
    and the wide orientation (:math:`X` transposed when :math:`m > n`, so that
    :math:`XX^\top` is the smaller Gram matrix),

    .. math::

        A = X_k X_k^\top, \qquad
        X_{k+1} = a X_k + (b A + c A^2) X_k .

    Each step maps every singular value :math:`\sigma` of :math:`X` to
    :math:`p(\sigma) = a\sigma + b\sigma^3 + c\sigma^5` and keeps the singular vectors.
    The cubic :math:`(a, b, c) = (3/2, -1/2, 0)` is the classical Newton–Schulz iteration
    for the polar factor, converging to 1 for every :math:`\sigma \in (0, \sqrt 3)`; the
    default quintic of Jordan et al. has a steep slope :math:`a = 3.4445` at 0, so five
    steps lift even small singular values near 1, at the price of leaving them in about
    :math:`[0.7, 1.2]` rather than converging. This is ``torch.optim.Muon``'s iteration
    (its private ``_zeropower_via_newtonschulz``, which always works in bfloat16).
    Returns a tensor of ``dtype`` and the shape of ``G``.
    """
    if G.dim() != 2:
        raise ValueError(f"newton_schulz needs a matrix, got a tensor of shape {tuple(G.shape)}")
    a, b, c = coefficients
    X = G.to(dtype)
    tall = G.size(0) > G.size(1)
    if tall:
        X = X.T
    X = X / X.norm().clamp(min=eps)  # X_0 = G/‖G‖_F
    for _ in range(steps):
        A = X @ X.T  # A = X Xᵀ
        B = torch.addmm(A, A, A, beta=b, alpha=c)  # b A + c A²
        X = torch.addmm(X, B, X, beta=a)  # X ← a X + (bA + cA²) X
    return X.T if tall else X


def _adjusted_lr(lr, rule, shape) -> float:
    """The step size for a weight of ``shape`` (torch.optim.Muon's ``adjust_lr_fn``)."""
    A, B = shape[:2]
    if rule is None or rule == "original":
        return lr * math.sqrt(max(1.0, A / B))
    return lr * 0.2 * math.sqrt(max(A, B))  # "match_rms_adamw"


def _triple(name: str, value) -> tuple[float, float, float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise TypeError(f"{name} must be three real numbers (a, b, c), got {value!r}")
    return tuple(_checks.real(f"{name}[{i}]", v) for i, v in enumerate(value))


class Muon(StructuredStateOptimizer):
    r"""Muon: momentum SGD for weight matrices whose step is the momentum's polar factor
    :math:`UV^\top` (all singular values set to one), approximated by a few Newton–Schulz
    iterations.

    Notation of ``torch.optim.Muon`` against the arguments: learning rate :math:`\gamma`
    is ``lr``, the momentum :math:`\mu` is ``momentum``, decoupled weight decay
    :math:`\lambda` is ``weight_decay``, :math:`(a, b, c)` are ``ns_coefficients``,
    :math:`k` is ``ns_steps``, :math:`\varepsilon` is ``eps`` (the floor of the norm that
    scales :math:`X_0`); the momentum buffer :math:`B` (starting at 0) is the state
    ``"b"``. For an :math:`m \times n` weight :math:`\theta` with gradient :math:`g`:

    .. math::

        B \leftarrow \mu B + (1-\mu) g, \quad
        \tilde B = \begin{cases} (1-\mu) g + \mu B & \text{nesterov} \\
                                 B & \text{otherwise} \end{cases}, \quad
        O = \mathrm{NS}^{(a,b,c)}_k(\tilde B;\varepsilon),

        \theta \leftarrow (1 - \gamma\lambda)\,\theta, \quad
        \theta \leftarrow \theta - \gamma\sqrt{\max(1, m/n)}\; O ,

    with :math:`\mathrm{NS}` the iteration of :func:`newton_schulz`, run in
    ``ns_dtype``. With ``adjust_lr_fn="match_rms_adamw"`` the factor
    :math:`\sqrt{\max(1, m/n)}` becomes :math:`0.2\sqrt{\max(m, n)}` (Liu et al., 2025),
    which gives the step the RMS of an AdamW step.

    **Matrices only.** Muon orthogonalizes matrices: a parameter that is not 2-D raises
    ``ValueError``, as in torch. Give the other parameters (biases, gains, embeddings)
    to AdamW, either with a second optimizer, as torch's documentation does, or in this
    one: with ``adamw_lr`` set (in the constructor or a param group), every non-matrix
    parameter of that group takes AdamW steps (``torch.optim.AdamW``'s update, with
    ``adamw_lr``, ``adamw_betas``, ``adamw_eps`` and the group's ``weight_decay``; its
    state ``"s"``, ``"r"``, ``"t"``). A scheduler changes ``lr`` only.

    **Differences from PyTorch.** With ``ns_dtype=torch.bfloat16`` (the default) the
    iterates are ``torch.optim.Muon``'s: the same buffer (an exponential average,
    ``lerp``, although torch's docstring box writes :math:`B \leftarrow \mu B + g`), the
    same iteration, decay and scaling. torch offers bfloat16 only; ``ns_dtype`` also
    allows float16, float32 and float64. Keller Jordan's reference code is the same with
    ``adjust_lr_fn="original"``.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: learning rate :math:`\gamma \ge 0`.
        weight_decay: decoupled decay :math:`\lambda \ge 0`.
        momentum: :math:`\mu \in [0, 1)`.
        nesterov: use :math:`(1-\mu) g + \mu B` instead of :math:`B`.
        ns_coefficients: :math:`(a, b, c)` of the quintic.
        eps: :math:`\varepsilon > 0`.
        ns_steps: :math:`k \ge 1`.
        adjust_lr_fn: ``None`` or ``"original"``, or ``"match_rms_adamw"``.
        ns_dtype: the dtype the iteration runs in.
        adamw_lr: ``None`` (non-matrix parameters raise), or AdamW's step size for them.
        adamw_betas: AdamW's :math:`(\beta_1, \beta_2)` for those parameters.
        adamw_eps: AdamW's :math:`\epsilon \ge 0` for those parameters.

    References: Jordan et al. (2024), *Muon: an optimizer for hidden layers in neural
    networks* (blog post); Liu et al. (2025), *Muon is scalable for LLM training*;
    Bernstein & Newhouse (2024) for the steepest descent in the spectral norm.
    """

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True,
                 ns_coefficients: tuple = NS_COEFFICIENTS, eps: float = 1e-7,
                 ns_steps: int = 5, adjust_lr_fn: str | None = None,
                 ns_dtype: torch.dtype = torch.bfloat16, adamw_lr: float | None = None,
                 adamw_betas: tuple = (0.9, 0.999), adamw_eps: float = 1e-8):
        super().__init__(params, dict(
            lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
            ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn, ns_dtype=ns_dtype, adamw_lr=adamw_lr,
            adamw_betas=adamw_betas, adamw_eps=adamw_eps))

    def check_group(self, group: dict) -> None:
        from .adaptive import _betas

        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["momentum"] = _checks.in_unit_interval("momentum", group["momentum"])
        group["nesterov"] = _checks.boolean("nesterov", group["nesterov"])
        group["ns_coefficients"] = _triple("ns_coefficients", group["ns_coefficients"])
        group["eps"] = _checks.positive("eps", group["eps"])
        group["ns_steps"] = _checks.positive_int("ns_steps", group["ns_steps"])
        if group["adjust_lr_fn"] not in (None, "original", "match_rms_adamw"):
            raise ValueError("adjust_lr_fn must be None, 'original' or 'match_rms_adamw', "
                             f"got {group['adjust_lr_fn']!r}")
        if group["ns_dtype"] not in _NS_DTYPES:
            raise TypeError(f"ns_dtype must be one of {_NS_DTYPES}, got {group['ns_dtype']!r}")
        group["adamw_betas"] = _betas(group["adamw_betas"])
        group["adamw_eps"] = _checks.nonnegative("adamw_eps", group["adamw_eps"])
        if group["adamw_lr"] is not None:
            group["adamw_lr"] = _checks.nonnegative("adamw_lr", group["adamw_lr"])
            return
        for p in group["params"]:
            if p.dim() != 2:
                raise ValueError(
                    f"Muon steps 2-D weights only, got a parameter of shape "
                    f"{tuple(p.shape)}; give it to AdamW (adamw_lr=... in its param group, "
                    "or a second optimizer)")

    def _state_spec(self, p: torch.Tensor, group: dict) -> dict:
        """The state a parameter keeps: name → (shape, dtype)."""
        if p.dim() == 2:
            return {"b": (tuple(p.shape), p.dtype)}
        return {"t": ((), torch.float64), "s": (tuple(p.shape), p.dtype),
                "r": (tuple(p.shape), p.dtype)}

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        for group in self.param_groups:
            self._init_group(group)
            gamma, lam, mu = group["lr"], group["weight_decay"], group["momentum"]
            for theta, g in zip(*self._params_with_grad(group)):
                if theta.dim() != 2:
                    self._adamw(theta, g, group)
                    continue
                B = self.state[theta]["b"]
                B.lerp_(g, 1.0 - mu)  # B ← μB + (1−μ) g
                # B̃ = (1−μ) g + μB with Nesterov, else B
                B_tilde = g.lerp(B, mu) if group["nesterov"] else B
                O = newton_schulz(B_tilde, group["ns_steps"], group["ns_coefficients"],
                                  group["eps"], group["ns_dtype"])  # O = NS(B̃)
                theta.mul_(1.0 - gamma * lam)  # θ ← (1 − γλ) θ
                # θ ← θ − γ √max(1, m/n) O
                theta.add_(O, alpha=-_adjusted_lr(gamma, group["adjust_lr_fn"], theta.shape))
        return loss

    def _adamw(self, theta, g, group) -> None:
        """torch.optim.AdamW's step for a parameter that is not a matrix."""
        state = self.state[theta]
        lr, (beta1, beta2), eps = group["adamw_lr"], group["adamw_betas"], group["adamw_eps"]
        t = state["t"].add_(1.0)  # a tensor: no host sync
        theta.mul_(1.0 - lr * group["weight_decay"])
        state["s"].lerp_(g, 1.0 - beta1)
        state["r"].mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
        root2 = (1.0 - torch.pow(beta2, t)).sqrt().to(theta.dtype)
        denom = (state["r"].sqrt() / root2).add_(eps)
        step = (lr / (1.0 - torch.pow(beta1, t))).to(theta.dtype)
        theta.sub_(state["s"] / denom * step)
