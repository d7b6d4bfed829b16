"""Kronecker-factored preconditioners: Shampoo and SOAP.

Gupta, Koren & Singer (2018), Algorithm 1, with the practical additions of Anil et al.
(2020) (roots every k steps, grafting); Vyas et al. (2024), SOAP.

Chapter: *Preconditioning with matrices* (``chapters/10_matrix_preconditioners``),
sections "Kronecker-factored preconditioning: Shampoo" and "SOAP".
"""

from __future__ import annotations

import torch

from . import _checks
from ._structured import StructuredStateOptimizer
from .adaptive import _betas


def matrix_power(A: torch.Tensor, power: float, floor: float = 0.0) -> torch.Tensor:
    """:math:`A^{p}` of a symmetric positive semi-definite matrix by its eigendecomposition
    in float64 (eigenvalues below ``floor`` raised to it first), in ``A``'s dtype. A matrix
    with an inf or a NaN (from a gradient that overflowed) gives NaN, as an elementwise
    step would, rather than an error from the eigensolver."""
    if not bool(torch.isfinite(A).all()):
        return torch.full_like(A, float("nan"))
    evals, Q = torch.linalg.eigh(A.double())
    return ((Q * evals.clamp(min=floor).pow(power)) @ Q.T).to(A.dtype)


def eigenbasis(A: torch.Tensor) -> torch.Tensor:
    """The eigenvectors of a symmetric matrix (columns, eigenvalues ascending), computed
    in float64, in ``A``'s dtype (NaN for a matrix with an inf or a NaN, as above)."""
    if not bool(torch.isfinite(A).all()):
        return torch.full_like(A, float("nan"))
    return torch.linalg.eigh(A.double())[1].to(A.dtype)


def _as_matrix(t: torch.Tensor) -> torch.Tensor:
    """A tensor of two or more dimensions as a matrix (first dimension × the rest)."""
    return t.reshape(t.shape[0], -1)


def _matrix_shape(p: torch.Tensor) -> tuple[int, int]:
    return p.shape[0], p.numel() // p.shape[0]


class Shampoo(StructuredStateOptimizer):
    r"""Shampoo: each weight matrix is preconditioned on the left and on the right by the
    inverse fourth roots of the sums of :math:`GG^\top` and :math:`G^\top G`, a
    Kronecker-factored approximation of full-matrix AdaGrad.

    Notation of Gupta et al. (2018) against the arguments: the step size :math:`\eta` is
    ``lr``, the damping :math:`\epsilon` (the starting value :math:`\epsilon I` of both
    factors) is ``eps``, the interval :math:`k` between recomputations of the roots is
    ``precondition_frequency``. The factors :math:`L, R` are the states ``"L"`` and
    ``"R"``, their inverse roots :math:`\tilde L = L^{-1/4}`, :math:`\tilde R = R^{-1/4}`
    the states ``"L_root"`` and ``"R_root"``, the step count ``"t"``. For an
    :math:`m \times n` gradient :math:`G_t` (a tensor of more dimensions is seen as a
    matrix, first dimension × the rest), Algorithm 1 of the paper with the practical
    additions of Anil et al. (2020):

    .. math::

        L_t = L_{t-1} + G_t G_t^\top, \quad R_t = R_{t-1} + G_t^\top G_t
        \quad (L_0 = \epsilon I_m,\ R_0 = \epsilon I_n),

        \text{if } t \equiv 1 \pmod k:\ \tilde L = L_t^{-1/4},\ \tilde R = R_t^{-1/4}
        \quad \text{(eigendecomposition, float64)},

        P_t = \tilde L\, G_t\, \tilde R, \qquad
        P_t \leftarrow \frac{\|D_t\|_F}{\|P_t\|_F}\, P_t \ \text{(grafting)}, \qquad
        W_{t+1} = W_t - \eta P_t .

    With ``graft=None`` there is no grafting (the paper's algorithm, :math:`k = 1`);
    ``graft="sgd"`` takes the norm of :math:`D_t = G_t`, ``graft="adam"`` that of Adam's
    step :math:`D_t = \hat s/(\sqrt{\hat r} + \delta)` (``betas``, ``graft_eps``; states
    ``"s"``, ``"r"``): the direction is Shampoo's, its length per layer that of the
    grafted method, so a learning rate tuned for that method carries over. With
    ``momentum`` :math:`\mu > 0`, :math:`v \leftarrow \mu v + P_t` (state ``"v"``) and the
    step is :math:`\eta v`. ``weight_decay`` adds :math:`\lambda W` to the gradient.

    **Vectors.** A parameter with fewer than two dimensions (a bias) is a tensor of
    order one, for which the paper's general rule uses the exponent :math:`-1/2`;
    here its diagonal is kept, :math:`h_t = h_{t-1} + g_t^2` (:math:`h_0 = \epsilon`,
    state ``"h"``), :math:`P_t = h_t^{-1/2} g_t`: AdaGrad (chapter 5), with the same
    grafting and momentum.

    **Relation to the other methods.** Full-matrix AdaGrad preconditions
    :math:`\operatorname{vec}(G)` by :math:`(\sum_t \operatorname{vec}(G_t)
    \operatorname{vec}(G_t)^\top)^{-1/2}`, an :math:`mn \times mn` matrix. Shampoo's
    step is :math:`(\tilde R \otimes \tilde L)\operatorname{vec}(G)`, a Kronecker
    product of :math:`m^2 + n^2` numbers; the paper shows that, for gradients of rank
    at most :math:`r`, :math:`\sum_t \operatorname{vec}(G_t)\operatorname{vec}(G_t)^\top
    \preceq r\, R^{1/2} \otimes L^{1/2}` (columns stacked), so the two fourth roots
    together play the part of AdaGrad's square root.

    **No library peer.** Neither torch.optim nor optax ships Shampoo; the tests compare
    this class with a float64 loop re-implementation of the algorithm above.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: step size :math:`\eta \ge 0`.
        momentum: :math:`\mu \in [0, 1)`.
        eps: damping :math:`\epsilon > 0`.
        precondition_frequency: :math:`k \ge 1`.
        graft: ``None``, ``"sgd"`` or ``"adam"``.
        betas: Adam's :math:`(\rho_1, \rho_2)` for ``graft="adam"``.
        graft_eps: Adam's :math:`\delta \ge 0` for ``graft="adam"``.
        weight_decay: :math:`\lambda \ge 0`.
        maximize: ascend instead (:math:`G \leftarrow -G` first).

    References: Gupta, Koren & Singer (2018), *Shampoo: preconditioned stochastic tensor
    optimization*, ICML; Anil et al. (2020), *Scalable second order optimization for deep
    learning*; Agarwal et al. (2020) for grafting.
    """

    _EYE = {"L": lambda group: group["eps"], "R": lambda group: group["eps"]}

    def __init__(self, params, lr: float = 0.1, momentum: float = 0.0, eps: float = 1e-4,
                 precondition_frequency: int = 1, graft: str | None = None,
                 betas: tuple = (0.9, 0.999), graft_eps: float = 1e-8,
                 weight_decay: float = 0.0, maximize: bool = False):
        super().__init__(params, dict(
            lr=lr, momentum=momentum, eps=eps, precondition_frequency=precondition_frequency,
            graft=graft, betas=betas, graft_eps=graft_eps, weight_decay=weight_decay,
            maximize=maximize))

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["momentum"] = _checks.in_unit_interval("momentum", group["momentum"])
        group["eps"] = _checks.positive("eps", group["eps"])
        group["precondition_frequency"] = _checks.positive_int(
            "precondition_frequency", group["precondition_frequency"])
        if group["graft"] not in (None, "sgd", "adam"):
            raise ValueError(f"graft must be None, 'sgd' or 'adam', got {group['graft']!r}")
        group["betas"] = _betas(group["betas"])
        group["graft_eps"] = _checks.nonnegative("graft_eps", group["graft_eps"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])

    def _state_spec(self, p: torch.Tensor, group: dict) -> dict:
        """The state a parameter keeps: name → (shape, dtype)."""
        shape, dtype = tuple(p.shape), p.dtype
        spec = {"t": ((), torch.float64)}
        if p.dim() >= 2:
            # the factors sum squared gradients: at least float32 (float16 overflows)
            m, n, wide = *_matrix_shape(p), torch.promote_types(dtype, torch.float32)
            spec.update(L=((m, m), wide), R=((n, n), wide),
                        L_root=((m, m), wide), R_root=((n, n), wide))
        else:
            spec["h"] = (shape, dtype)
        if group["graft"] == "adam":
            spec.update(s=(shape, dtype), r=(shape, dtype))
        if group["momentum"]:
            spec["v"] = (shape, dtype)
        return spec

    def _init_group(self, group: dict) -> None:
        super()._init_group(group)
        for p in group["params"]:  # h_0 = ε for a vector
            if p.grad is not None and "h" in self.state[p] and not self.state[p]["t"]:
                self.state[p]["h"].fill_(group["eps"])

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        for group in self.param_groups:
            self._init_group(group)
            eta, mu, k = group["lr"], group["momentum"], group["precondition_frequency"]
            params, grads = self._params_with_grad(group)
            if not params:
                continue
            grads = self._decayed(params, grads, group)  # −G with maximize, + λW
            for W, G in zip(params, grads):
                state = self.state[W]
                t = state["t"].add_(1.0)
                if W.dim() >= 2:
                    L, R = state["L"], state["R"]
                    Gm = _as_matrix(G).to(L.dtype)
                    L.addmm_(Gm, Gm.T)  # L_t = L_{t−1} + G Gᵀ
                    R.addmm_(Gm.T, Gm)  # R_t = R_{t−1} + Gᵀ G
                    if int(t) % k == 1 % k:  # t ≡ 1 (mod k): L̃ = L^{−1/4}, R̃ = R^{−1/4}
                        state["L_root"].copy_(matrix_power(L, -0.25, group["eps"]))
                        state["R_root"].copy_(matrix_power(R, -0.25, group["eps"]))
                    # P_t = L̃ G R̃
                    P = (state["L_root"] @ Gm @ state["R_root"]).to(G.dtype).view_as(G)
                else:
                    state["h"].addcmul_(G, G)  # h_t = h_{t−1} + g² (a vector)
                    P = G / state["h"].sqrt()  # P_t = h^{−1/2} g
                if group["graft"] is not None:
                    # P_t ← ‖D_t‖/‖P_t‖ P_t
                    D = G if group["graft"] == "sgd" else self._adam_direction(state, G, group)
                    P_norm = P.norm()
                    P.mul_(torch.where(P_norm > 0, D.norm() / P_norm, 0.0))
                if mu:
                    P = state["v"].mul_(mu).add_(P)  # v ← μ v + P_t
                W.sub_(eta * P)  # W_{t+1} = W_t − η P_t
        return loss

    @staticmethod
    def _adam_direction(state: dict, G: torch.Tensor, group: dict) -> torch.Tensor:
        """Adam's step direction ŝ/(√r̂ + δ), its moments updated with G."""
        (rho1, rho2), delta, t = group["betas"], group["graft_eps"], state["t"]
        state["s"].lerp_(G, 1.0 - rho1)
        state["r"].mul_(rho2).addcmul_(G, G, value=1.0 - rho2)
        s_hat = state["s"] / (1.0 - torch.pow(rho1, t)).to(G.dtype)
        r_hat = state["r"] / (1.0 - torch.pow(rho2, t)).to(G.dtype)
        return s_hat / (r_hat.sqrt() + delta)


class SOAP(StructuredStateOptimizer):
    r"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioner, the basis refreshed
    every few steps.

    Notation of Vyas et al. (2024) against the arguments: the step size :math:`\eta` is
    ``lr``, :math:`(\beta_1, \beta_2)` are ``betas``, Adam's :math:`\epsilon` is ``eps``,
    the factors' decay :math:`\beta_s` is ``shampoo_beta`` (``None``: :math:`\beta_2`),
    the refresh interval :math:`f` is ``precondition_frequency``. The first moment
    :math:`M` (in the parameter's coordinates) and the second moment :math:`V` (in the
    rotated ones) are the states ``"s"`` and ``"r"``, the factors :math:`L, R` the states
    ``"L"`` and ``"R"``, their eigenvectors :math:`Q_L, Q_R` the states ``"QL"`` and
    ``"QR"``, the step count :math:`t` the state ``"t"``. ``weight_decay`` :math:`\lambda`
    is decoupled. The bases start at the identity (the first step is Adam's) and are
    made from the factors after the step, so a gradient is never rotated by a basis made
    from itself. For an :math:`m \times n` gradient :math:`G` (a tensor of more
    dimensions seen as a matrix, first dimension × the rest):

    .. math::

        G' = Q_L^\top G Q_R, \quad M \leftarrow \beta_1 M + (1-\beta_1) G, \quad
        M' = Q_L^\top M Q_R, \quad V \leftarrow \beta_2 V + (1-\beta_2)\, G' \odot G',

        N' = \frac{M'/(1-\beta_1^t)}{\sqrt{V/(1-\beta_2^t)} + \epsilon}, \quad
        W \leftarrow W - \eta\, Q_L N' Q_R^\top, \quad
        W \leftarrow W - \eta\lambda W,

        L \leftarrow \beta_s L + (1-\beta_s) G G^\top, \quad
        R \leftarrow \beta_s R + (1-\beta_s) G^\top G, \quad
        \text{if } t \equiv 1 \pmod f:\ Q_L, Q_R \leftarrow
        \text{eigenvectors of } L, R .

    In the eigenbasis Shampoo's preconditioner is diagonal, so Adam there is a diagonal
    method that sees the Kronecker structure; while the basis is fixed it is Adam on the
    rotated weights :math:`Q_L^\top W Q_R`. The paper (section 3) shows that Shampoo with
    exponent :math:`1/2` is Adafactor in this basis; SOAP replaces Adafactor's rank-one
    second moment by Adam's full one.

    **Vectors.** A parameter with fewer than two dimensions has no factors: it takes Adam's
    steps (:math:`Q = I`), as in the paper's implementation.

    **Where this differs from the paper's code.** The reference implementation's first
    step only fills :math:`L, R` and computes the basis, without moving the parameters
    (here the first step is Adam's); it refreshes the basis with one step of power
    iteration and a QR decomposition (cheaper than ``eigh``) after the first and reorders
    :math:`V` to follow the eigenvalues; here the
    basis is recomputed exactly by ``eigh`` (float64), eigenvalues ascending: the
    algorithm as the paper states it with exact eigenvectors. While :math:`L` or
    :math:`R` is singular (the first steps of a tall or wide matrix), the basis of its
    null space is whatever ``eigh`` returns, and so is the part of the step in it:
    Adam's coordinatewise division is not invariant to rotations. No library ships SOAP;
    the tests compare with a float64 loop re-implementation.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: step size :math:`\eta \ge 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`.
        shampoo_beta: :math:`\beta_s \in [0, 1)` or ``None`` (:math:`\beta_2`).
        eps: :math:`\epsilon \ge 0`.
        precondition_frequency: :math:`f \ge 1`.
        weight_decay: decoupled :math:`\lambda \ge 0`.
        maximize: ascend instead (:math:`G \leftarrow -G` first).

    References: Vyas et al. (2024), *SOAP: improving and stabilizing Shampoo using Adam*,
    arXiv:2409.11321.
    """

    def __init__(self, params, lr: float = 3e-3, betas: tuple = (0.95, 0.95),
                 shampoo_beta: float | None = None, eps: float = 1e-8,
                 precondition_frequency: int = 10, weight_decay: float = 0.0,
                 maximize: bool = False):
        super().__init__(params, dict(
            lr=lr, betas=betas, shampoo_beta=shampoo_beta, eps=eps,
            precondition_frequency=precondition_frequency, weight_decay=weight_decay,
            maximize=maximize))

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["betas"] = _betas(group["betas"])
        if group["shampoo_beta"] is not None:
            group["shampoo_beta"] = _checks.in_unit_interval("shampoo_beta",
                                                             group["shampoo_beta"])
        group["eps"] = _checks.nonnegative("eps", group["eps"])
        group["precondition_frequency"] = _checks.positive_int(
            "precondition_frequency", group["precondition_frequency"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])

    def _state_spec(self, p: torch.Tensor, group: dict) -> dict:
        """The state a parameter keeps: name → (shape, dtype)."""
        shape, dtype = tuple(p.shape), p.dtype
        spec = {"t": ((), torch.float64), "s": (shape, dtype), "r": (shape, dtype)}
        if p.dim() >= 2:
            m, n = _matrix_shape(p)
            spec.update(L=((m, m), dtype), R=((n, n), dtype),
                        QL=((m, m), dtype), QR=((n, n), dtype))
        return spec

    _EYE = {"QL": lambda group: 1.0, "QR": lambda group: 1.0}

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        for group in self.param_groups:
            self._init_group(group)
            eta, lam = group["lr"], group["weight_decay"]
            beta_s = group["betas"][1] if group["shampoo_beta"] is None else group["shampoo_beta"]
            f = group["precondition_frequency"]
            for W, G in zip(*self._params_with_grad(group)):
                G = -G if group["maximize"] else G
                state = self.state[W]
                t = int(state["t"].add_(1.0))  # t ← t + 1
                matrix = W.dim() >= 2
                if matrix:
                    G = _as_matrix(G)
                self._adam_in_eigenbasis(W, G, state, group, t)
                W.sub_(eta * lam * W)  # W ← W − ηλW
                if not matrix:
                    continue
                L, R = state["L"], state["R"]
                # L ← β_s L + (1−β_s) G Gᵀ,  R ← β_s R + (1−β_s) Gᵀ G
                L.mul_(beta_s).addmm_(G, G.T, alpha=1.0 - beta_s)
                R.mul_(beta_s).addmm_(G.T, G, alpha=1.0 - beta_s)
                if t % f == 1 % f:  # t ≡ 1 (mod f): refresh Q_L, Q_R
                    state["QL"].copy_(eigenbasis(L))
                    state["QR"].copy_(eigenbasis(R))
        return loss

    @staticmethod
    def _adam_in_eigenbasis(W, G, state, group, t) -> None:
        """W ← W − η Q_L N' Q_Rᵀ, Adam's moments updated with G (a matrix or a vector)."""
        (beta1, beta2), eps, eta = group["betas"], group["eps"], group["lr"]
        matrix = W.dim() >= 2
        M = _as_matrix(state["s"]) if matrix else state["s"]
        V = _as_matrix(state["r"]) if matrix else state["r"]
        QL, QR = (state["QL"], state["QR"]) if matrix else (None, None)
        G_rot = QL.T @ G @ QR if matrix else G  # G' = Q_Lᵀ G Q_R
        M.lerp_(G, 1.0 - beta1)  # M ← β1 M + (1−β1) G
        M_rot = QL.T @ M @ QR if matrix else M  # M' = Q_Lᵀ M Q_R
        V.mul_(beta2).addcmul_(G_rot, G_rot, value=1.0 - beta2)  # V ← β2 V + (1−β2) G'⊙G'
        # N' = (M'/(1−β1^t)) / (√(V/(1−β2^t)) + ε)
        N = M_rot / (1.0 - beta1**t) / ((V / (1.0 - beta2**t)).sqrt() + eps)
        if matrix:
            N = QL @ N @ QR.T  # back to the parameter's coordinates: Q_L N' Q_Rᵀ
        W.sub_(eta * N.view_as(W))  # W ← W − η Q_L N' Q_Rᵀ
