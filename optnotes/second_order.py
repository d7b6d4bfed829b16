r"""Newton's method and its relatives: Newton (Algorithm 8.8, with Levenberg–Marquardt
damping), Hessian-free Newton-CG, saddle-free Newton, and the linear conjugate gradient
solver they build on.

The optimizers work on the flattened parameter vector :math:`\theta` (every parameter of
every group, in order; all groups must carry the same hyperparameters) and take a closure,
like ``torch.optim.LBFGS``. One ``step(closure)`` runs up to ``max_iter`` iterations and
stops early when :math:`\|g\|_2 \le` ``tolerance_grad``, when a step or the change of the
loss falls below ``tolerance_change``, or after ``max_eval`` closure calls. The state of
the first parameter counts closure calls (``"func_evals"``), iterations (``"n_iter"``) and
Hessian-vector products (``"hvp_evals"``; a dense Hessian counts :math:`n`).

**The closure** is the one ``torch.optim.LBFGS`` takes: it zeroes the gradients, computes
the loss, calls ``loss.backward()`` and returns the loss. (It may also return the loss
without calling ``backward()``; the optimizer then differentiates it.)

**Where the curvature comes from.** These methods call the closure inside a
``torch.overrides.TorchFunctionMode`` under which its ``loss.backward()`` runs as
``loss.backward(create_graph=True)``, so the gradient :math:`g` keeps its graph. A
Hessian-vector product is then one more backward pass through that graph,
:math:`Hv = \nabla_\theta (g^\top v)` (double backward; Pearlmutter 1994), at about the
cost of a gradient. Only :class:`Newton` and the exact :class:`SaddleFreeNewton` form the
dense Hessian (:math:`n` products in one batched pass), because those methods are the
dense ones. :mod:`optnotes.curvature` computes the same products for a function of a flat
vector with ``torch.func``.

Chapter: *Second-order methods* (``chapters/06a_newton``, ``chapters/06b_conjugate_gradients``).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch

from . import _checks
from ._flat import FlatOptimizer
from .curvature import lanczos


class CGResult(NamedTuple):
    """What :func:`conjugate_gradient` returns."""

    x: torch.Tensor
    iterations: int
    residual_norm: float
    negative_curvature: bool


def conjugate_gradient(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor,
                       x0: torch.Tensor | None = None, tol: float = 1e-10,
                       max_iter: int | None = None) -> CGResult:
    r"""Linear conjugate gradients: solve :math:`Ax = b` for symmetric positive definite
    :math:`A`, given only :math:`v \mapsto Av`.

    This minimizes the quadratic :math:`\tfrac12 x^\top A x - b^\top x` along
    :math:`A`-conjugate directions :math:`p_k` with the exact step, the case the textbook's
    Algorithm 8.9 solves analytically; in exact arithmetic it ends after at most
    :math:`n` steps (Nocedal & Wright, 2006, Algorithm 5.2), with :math:`r = Ax - b`:

    .. math::

        \alpha_k = \frac{r_k^\top r_k}{p_k^\top A p_k}, \quad
        x_{k+1} = x_k + \alpha_k p_k, \quad
        r_{k+1} = r_k + \alpha_k A p_k, \quad
        \beta_{k+1} = \frac{r_{k+1}^\top r_{k+1}}{r_k^\top r_k}, \quad
        p_{k+1} = -r_{k+1} + \beta_{k+1} p_k .

    It stops when :math:`\|r\|_2 \le` ``tol`` :math:`\cdot \|b\|_2`, after ``max_iter``
    products, or when :math:`p^\top A p \le 0` (then :math:`A` is not positive definite:
    the current ``x`` is returned with ``negative_curvature=True``, as truncated Newton
    methods need). ``scipy.sparse.linalg.cg`` is the same iteration with ``rtol``.

    Args:
        matvec: :math:`v \mapsto Av`.
        b: the right-hand side (any device, any floating dtype).
        x0: the start (default zero).
        tol: relative tolerance on the residual.
        max_iter: the most products (default :math:`n`).

    Returns:
        ``CGResult(x, iterations, residual_norm, negative_curvature)``.
    """
    tol = _checks.nonnegative("tol", tol)
    max_iter = b.numel() if max_iter is None else _checks.positive_int("max_iter", max_iter)
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = -b.clone() if x0 is None else matvec(x) - b  # r = Ax − b
    p = -r
    rr, threshold = float(r.dot(r)), tol * float(b.norm())
    k = 0
    while k < max_iter and rr ** 0.5 > threshold:
        Ap = matvec(p)
        k += 1
        pAp = float(p.dot(Ap))
        if pAp <= 0:
            return CGResult(x, k, rr ** 0.5, True)
        alpha = rr / pAp  # α = rᵀr / pᵀAp
        x.add_(p, alpha=alpha)  # x ← x + αp
        r.add_(Ap, alpha=alpha)  # r ← r + αAp
        rr, rr_old = float(r.dot(r)), rr
        p = p.mul_(rr / rr_old).sub_(r)  # p ← −r + βp,  β = rᵀr / rᵀr_old
    return CGResult(x, k, rr ** 0.5, False)


def _singular(opt, group: dict):
    """Raise the error of a Newton step through a singular matrix, saying what to do."""
    raise torch.linalg.LinAlgError(
        f"{type(opt).__name__}: the Hessian (plus damping={group['damping']!r}) is singular at "
        "this point, so the Newton step -(H + damping*I)^-1 g is not defined (a loss linear in "
        "some direction has H = 0 there); pass damping > 0, e.g. damping=1e-3, which makes "
        "the step well defined, or use NewtonCG")


def _wide(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when it is float16 or bfloat16: the dense factorizations
    (``torch.linalg.solve``, ``eigh``) have no half-precision kernels, and a half-precision
    one would lose the step; the step is cast back to the parameters' dtype."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class _NewtonBase(FlatOptimizer):
    """The loop shared by the Newton-type methods: evaluate with graph, direction, move."""

    def check_method_group(self, group: dict) -> None:
        group["damping"] = _checks.nonnegative("damping", group["damping"])

    def _fresh_state(self, group: dict, n: int, like: torch.Tensor) -> dict:
        # Hessian-vector products made, and the loss before the last move
        return {**super()._fresh_state(group, n, like), "hvp_evals": 0, "f": math.nan}

    def direction(self, ev, group: dict) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def first_trial(self, ev, d: torch.Tensor, state: dict, group: dict) -> float:
        """The step ε, or the first trial of the line search."""
        return group["lr"]

    @torch.no_grad()
    def step(self, closure=None):
        """Up to ``max_iter`` iterations; returns the loss of the first ``closure()``."""
        self._check_closure(closure)
        group, state = self._group(), self._state()
        state.setdefault("hvp_evals", 0)
        max_iter = group["max_iter"]
        max_eval = self._max_eval(group)
        ev = self._evaluate(closure, graph=True)  # g ← ∇J(θ), keeping its graph
        loss, evals = ev.loss, 1
        for it in range(max_iter):
            if self._small(ev, group):
                break
            state["n_iter"] += 1
            d = self.direction(ev, group)  # Δθ, see each method's box
            if group["line_search_fn"] and float(ev.g.dot(d)) > -group["tolerance_change"]:
                break  # a line search needs a descent direction
            t0 = self.first_trial(ev, d, state, group)
            state["f"] = ev.f
            t, new, used = self._move(closure, ev, d, t0, group, max_eval - evals,
                                      graph=True)  # θ ← θ + εΔθ
            evals += used
            ev, evals, stop = self._arrive(closure, ev, new, evals, t, d, group, max_eval,
                                           last=it == max_iter - 1, graph=True)
            if stop:
                break
        return loss


class Newton(_NewtonBase):
    r"""Newton's method: jump to the critical point of the local quadratic model,
    :math:`\theta \leftarrow \theta - (H + \alpha I)^{-1} g` (Algorithm 8.8).

    Notation: the damping :math:`\alpha` is ``damping`` (``0`` is the textbook's plain box,
    :math:`\alpha > 0` the regularized Levenberg–Marquardt-style update of the textbook);
    the learning rate :math:`\epsilon` (``lr``, default 1) scales the step. Algorithm 8.8:

    .. math::

        g \leftarrow \nabla_\theta J(\theta), \qquad
        H \leftarrow \nabla^2_\theta J(\theta), \qquad
        \Delta\theta = -(H + \alpha I)^{-1} g, \qquad
        \theta \leftarrow \theta + \epsilon \Delta\theta .

    This is the dense method: :math:`H` is formed from :math:`n` Hessian-vector products
    (one batched double-backward pass) and the system is solved by an LU factorization
    (``torch.linalg.solve``, :math:`O(n^3)`) rather than by forming :math:`H^{-1}`.
    Parameters that received no gradient are left out of the system. Near a saddle point
    :math:`H` is indefinite and the step goes *to* the saddle, as the textbook warns; see
    :class:`SaddleFreeNewton`. With ``line_search_fn="strong_wolfe"`` the step length is
    searched along :math:`\Delta\theta`, and a ``step()`` stops where :math:`\Delta\theta`
    is not a descent direction. Where :math:`H + \alpha I` is singular (:math:`\alpha = 0`
    and a loss that is flat or linear along some direction) the step is not defined and
    ``step()`` raises ``torch.linalg.LinAlgError`` saying to pass ``damping > 0``; with
    :math:`\alpha > 0` a loss linear in :math:`\theta` (:math:`H = 0`) steps
    :math:`-\epsilon g/\alpha`.

    **Differences from scipy.** ``scipy.optimize.minimize(method="Newton-CG")`` and
    ``"trust-exact"`` use the Hessian too but solve by CG or in a trust region; nothing in
    scipy or ``torch.optim`` takes the plain Newton step. ``torch.func.hessian`` gives
    the same :math:`H` for a function of a flat vector (see :mod:`optnotes.curvature`).

    Args:
        params: an iterable of tensors or of param-group dicts (all with the same values).
        lr: :math:`\epsilon`, the step (first trial step with a line search).
        damping: :math:`\alpha \ge 0`.
        max_iter: iterations per ``step()``.
        max_eval: closure calls per ``step()`` (default ``max(max_iter * 5 // 4, 25)``).
        tolerance_grad: stop when :math:`\|g\|_2 \le` this.
        tolerance_change: stop when :math:`\|\epsilon\Delta\theta\|_\infty` or the change
            of the loss falls below this.
        line_search_fn: ``None`` (the textbook's box) or ``"strong_wolfe"``.

    References: Levenberg (1944); Marquardt (1963); Nocedal & Wright (2006), section 3.3;
    Goodfellow, Bengio & Courville (2016), section 8.6.1.
    """

    def __init__(self, params, lr: float = 1.0, damping: float = 0.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, line_search_fn: str | None = None):
        super().__init__(params, dict(lr=lr, damping=damping, max_iter=max_iter,
                                      max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      line_search_fn=line_search_fn))

    def direction(self, ev, group: dict) -> torch.Tensor:
        H = self._hessian(ev)  # H ← ∇²J(θ)
        on = self._active(ev)
        H = _wide(H[on][:, on])
        H.diagonal().add_(group["damping"])  # H + αI
        delta = torch.zeros_like(ev.g)
        try:
            # Δθ = −(H + αI)⁻¹ g
            delta[on] = -torch.linalg.solve(H, _wide(ev.g[on])).to(delta.dtype)
        except torch.linalg.LinAlgError:
            _singular(self, group)
        return delta


class NewtonCG(_NewtonBase):
    r"""Hessian-free (truncated) Newton: solve :math:`(H + \alpha I) d = -g` only
    approximately, by linear CG on Hessian-vector products, then search along :math:`d`.

    Notation: :math:`\alpha` is ``damping``, the cap on CG steps is ``max_cg_iter``; the
    forcing term :math:`\eta` sets the CG tolerance. Nocedal & Wright (2006),
    Algorithm 7.1:

    .. math::

        \eta = \min\bigl(\tfrac12, \sqrt{\|g\|}\bigr), \qquad
        d \approx -(H + \alpha I)^{-1} g \;\text{ by CG until }
        \|(H + \alpha I) d + g\| \le \eta \|g\|, \qquad
        \theta \leftarrow \theta + \epsilon^* d .

    CG stops early where it meets a direction of negative curvature, :math:`p^\top H p
    \le 0`: then :math:`d` is the last iterate, or, if that happens at the first CG step,
    the steepest-descent step :math:`-g\, g^\top g / |g^\top (H + \alpha I) g|` (as
    scipy does), so :math:`d` is always a descent direction. :math:`H` is never formed: each CG
    step costs one Hessian-vector product (a double-backward pass, about the price of a
    gradient), so an iteration costs :math:`O(kn)` for :math:`k` CG steps instead of
    Newton's :math:`O(n^3)`. The tolerance :math:`\eta\|g\|` shrinks with the gradient,
    which makes the convergence superlinear. Each search starts at
    :math:`\min(\epsilon, 2.02 (J_t - J_{t-1}) / g^\top d)`, the step that would repeat
    the last decrease (as scipy does; Nocedal & Wright, eq. 3.60): far from the minimizer
    a truncated direction can be much too long, and near it this is :math:`\epsilon = 1`.

    **Differences from scipy.** ``scipy.optimize.minimize(method="Newton-CG")`` measures
    :math:`\eta` and the residual in the 1-norm, allows :math:`20n` CG steps, uses the
    Moré–Thuente search starting at 1, and stops on the size of the step (``xtol``), not
    on the gradient. ``torch.optim`` has no Newton-CG.

    Args:
        params: an iterable of tensors or of param-group dicts (all with the same values).
        lr: the first trial step :math:`\epsilon` of each search (default 1, the Newton step).
        damping: :math:`\alpha \ge 0`.
        max_cg_iter: CG steps per iteration (default :math:`n`).
        max_iter: iterations per ``step()``.
        max_eval: closure calls per ``step()`` (default ``max(max_iter * 5 // 4, 25)``).
        tolerance_grad: stop when :math:`\|g\|_2 \le` this.
        tolerance_change: stop when :math:`\|\epsilon^* d\|_\infty` or the change of the
            loss falls below this.
        line_search_fn: ``"strong_wolfe"`` (default) or ``None`` (fixed steps of ``lr``).

    References: Dembo, Eisenstat & Steihaug (1982); Martens (2010), *Deep learning via
    Hessian-free optimization*; Nocedal & Wright (2006), section 7.1.
    """

    def __init__(self, params, lr: float = 1.0, damping: float = 0.0,
                 max_cg_iter: int | None = None, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 line_search_fn: str | None = "strong_wolfe"):
        super().__init__(params, dict(lr=lr, damping=damping, max_cg_iter=max_cg_iter,
                                      max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      line_search_fn=line_search_fn))

    def check_method_group(self, group: dict) -> None:
        super().check_method_group(group)
        if group["max_cg_iter"] is not None:
            group["max_cg_iter"] = _checks.positive_int("max_cg_iter", group["max_cg_iter"])

    def first_trial(self, ev, d: torch.Tensor, state: dict, group: dict) -> float:
        """min(ε, 2.02 (J_t − J_{t−1}) / gᵀd): the step that would repeat the last decrease."""
        if group["line_search_fn"] is None or not state["f"] > ev.f:  # no decrease (or NaN)
            return group["lr"]
        return min(group["lr"], 2.02 * (ev.f - state["f"]) / float(ev.g.dot(d)))

    def direction(self, ev, group: dict) -> torch.Tensor:
        g, alpha, hvp = ev.g, group["damping"], self._hvp(ev)
        g_norm = float(g.norm())
        eta = min(0.5, g_norm ** 0.5)  # η = min(½, √‖g‖)
        cg = conjugate_gradient(lambda v: hvp(v) + alpha * v, -g, tol=eta,
                                max_iter=group["max_cg_iter"])  # (H + αI) d ≈ −g
        if cg.negative_curvature and cg.iterations == 1:  # gᵀHg ≤ 0: steepest descent,
            gHg = float(g.dot(hvp(g))) + alpha * g_norm**2  # to where |gᵀHg| would stop it
            return -g * (g_norm**2 / abs(gHg)) if gHg != 0 else -g
        return cg.x


class SaddleFreeNewton(_NewtonBase):
    r"""Saddle-free Newton: Newton's step with the Hessian's eigenvalues replaced by their
    absolute values, :math:`\theta \leftarrow \theta - (|H| + \alpha I)^{-1} g`, so that
    it moves away from saddle points instead of towards them.

    Notation: with :math:`H = Q \Lambda Q^\top`, :math:`|H| = Q |\Lambda| Q^\top`;
    :math:`\alpha` is ``damping``, :math:`\epsilon` is ``lr``. Dauphin et al. (2014):

    .. math::

        g \leftarrow \nabla_\theta J(\theta), \qquad
        Q \Lambda Q^\top = H, \qquad
        \Delta\theta = -Q\,(|\Lambda| + \alpha I)^{-1} Q^\top g, \qquad
        \theta \leftarrow \theta + \epsilon \Delta\theta .

    Along an eigenvector with :math:`\lambda > 0` this is Newton's step; along one with
    :math:`\lambda < 0` Newton would climb to the saddle, while :math:`|\lambda|` makes the
    step go downhill with the same length. With ``krylov_dim=None``, :math:`H` is dense
    and decomposed exactly (:math:`O(n^3)`, small :math:`n`). With ``krylov_dim=k``, as in
    the paper, :math:`k` Lanczos steps started at :math:`g` give :math:`H \approx V T
    V^\top` (:math:`V` is :math:`n \times k`), :math:`T = U \Theta U^\top`, and
    :math:`\Delta\theta = -V U (|\Theta| + \alpha I)^{-1} U^\top V^\top g`: :math:`k`
    Hessian-vector products and :math:`O(k^2 n)` work. Dauphin et al. also choose
    :math:`\alpha` by a line search; here it is fixed and ``line_search_fn`` can search
    the step length instead. :math:`|H| + \alpha I` is positive definite, so
    :math:`\Delta\theta` is always a descent direction.

    **Differences from scipy and PyTorch.** Neither ships saddle-free Newton; scipy's
    ``trust-exact`` and ``trust-krylov`` handle negative curvature with a trust region.

    Args:
        params: an iterable of tensors or of param-group dicts (all with the same values).
        lr: :math:`\epsilon` (the first trial step with a line search).
        damping: :math:`\alpha \ge 0` (needed where :math:`H` is singular).
        krylov_dim: :math:`k`, or ``None`` for the exact eigendecomposition.
        max_iter: iterations per ``step()``.
        max_eval: closure calls per ``step()`` (default ``max(max_iter * 5 // 4, 25)``).
        tolerance_grad: stop when :math:`\|g\|_2 \le` this.
        tolerance_change: stop when :math:`\|\epsilon\Delta\theta\|_\infty` or the change
            of the loss falls below this.
        line_search_fn: ``None`` or ``"strong_wolfe"``.

    References: Dauphin, Pascanu, Gulcehre, Cho, Ganguli & Bengio (2014), *Identifying
    and attacking the saddle point problem in high-dimensional non-convex optimization*,
    NeurIPS; Goodfellow, Bengio & Courville (2016), section 8.2.3.
    """

    def __init__(self, params, lr: float = 1.0, damping: float = 1e-4,
                 krylov_dim: int | None = None, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 line_search_fn: str | None = None):
        super().__init__(params, dict(lr=lr, damping=damping, krylov_dim=krylov_dim,
                                      max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      line_search_fn=line_search_fn))

    def check_method_group(self, group: dict) -> None:
        super().check_method_group(group)
        if group["krylov_dim"] is not None:
            group["krylov_dim"] = _checks.positive_int("krylov_dim", group["krylov_dim"])

    def direction(self, ev, group: dict) -> torch.Tensor:
        g, alpha = ev.g, group["damping"]
        if group["krylov_dim"] is None:
            on = self._active(ev)
            lam, Q = torch.linalg.eigh(_wide(self._hessian(ev)[on][:, on]))  # H = QΛQᵀ
            if alpha == 0 and bool((lam == 0).any()):
                _singular(self, group)
            delta, g_on = torch.zeros_like(g), _wide(g[on])
            # Δθ = −Q(|Λ| + αI)⁻¹Qᵀg
            delta[on] = (-Q @ ((Q.T @ g_on) / (lam.abs() + alpha))).to(g.dtype)
            return delta
        T, V = lanczos(self._hvp(ev), g, group["krylov_dim"])  # H ≈ V T Vᵀ
        theta, U = torch.linalg.eigh(_wide(T))  # T = UΘUᵀ
        V, g_w = _wide(V), _wide(g)
        # Δθ = −VU(|Θ| + αI)⁻¹UᵀVᵀg
        return (-V @ (U @ ((U.T @ (V.T @ g_w)) / (theta.abs() + alpha)))).to(g.dtype)
