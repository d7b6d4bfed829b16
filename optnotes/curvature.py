r"""Curvature of a loss, from Hessian-vector products: :math:`Hv`, the dense Hessian,
Gauss–Newton / Fisher products, extreme eigenvalues, the condition number, and the notes'
monitor of :math:`g^\top g` against :math:`g^\top H g`.

Every tool takes a function ``f`` of one flat vector ``x`` (a plain test function such as
``optnotes.objectives.rosenbrock(10)``, or a model turned into one by :func:`flat_loss` or
:func:`flat_output`) and works on ``x``'s device and dtype. Products use ``torch.func``:
:math:`Hv` differentiates the gradient once more (``vjp`` of ``grad``), at about the cost
of two gradients, and never forms :math:`H`; only :func:`hessian` does.

Example, the largest and smallest curvature of a small model's loss::

    f, theta = flat_loss(model, torch.nn.functional.cross_entropy, X, y)
    lo, hi = extreme_eigenvalues(lambda v: hvp(f, theta, v), torch.randn_like(theta))

Chapter: *Second-order methods* (``chapters/06a_newton``, ``chapters/06b_conjugate_gradients``).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch.func import functional_call, grad, jvp, vjp

from . import _checks

LIKELIHOODS = ("categorical", "bernoulli", "gaussian")


# --- a model as a function of one flat vector --------------------------------------------------

def _flat_model(model: torch.nn.Module):
    """θ (a detached copy of the parameters, concatenated) and θ ↦ {name: view of θ}."""
    named = list(model.named_parameters())
    theta = torch.cat([p.detach().reshape(-1) for _, p in named])

    def unflatten(flat: torch.Tensor) -> dict:
        pieces = flat.split([p.numel() for _, p in named])
        return {name: piece.view_as(p) for (name, p), piece in zip(named, pieces)}

    return theta, unflatten


def flat_output(model: torch.nn.Module, inputs: torch.Tensor
                ) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """``(f, theta)``: ``f(theta)`` is ``model(inputs)`` with the parameters read from the
    flat vector ``theta`` (``torch.func.functional_call``); ``theta`` holds the current
    parameters in the order of ``model.parameters()``."""
    theta, unflatten = _flat_model(model)
    return (lambda flat: functional_call(model, unflatten(flat), (inputs,))), theta


def flat_loss(model: torch.nn.Module, loss_fn: Callable, inputs: torch.Tensor,
              targets: torch.Tensor) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """``(f, theta)``: ``f(theta) = loss_fn(model(inputs; theta), targets)``, the loss as a
    function of the flat parameter vector, and the current ``theta``."""
    output, theta = flat_output(model, inputs)
    return (lambda flat: loss_fn(output(flat), targets)), theta


# --- Hessian and Gauss–Newton products -------------------------------------------------------

def hvp(f: Callable, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""The Hessian-vector product :math:`\nabla^2 f(x)\, v`, by differentiating the gradient
    once more: :math:`\nabla_x (\nabla f(x)^\top v)`, a ``torch.func.vjp`` of
    ``torch.func.grad`` (reverse-over-reverse; :math:`H` is symmetric, so
    :math:`v^\top H = (Hv)^\top`).

    Forward-over-reverse (``torch.func.jvp`` of ``torch.func.grad``) computes the same and
    keeps less in memory, but needs a forward-mode rule for every backward formula;
    in torch 2.13 ``torch.nn.functional.mse_loss`` fails there ("ZeroTensors are
    immutable"), so the reverse-mode form is used.
    """
    return vjp(grad(f), x)[1](v)[0]


def hessian(f: Callable, x: torch.Tensor) -> torch.Tensor:
    r"""The dense Hessian :math:`\nabla^2 f(x)` (``torch.func.hessian``): :math:`n^2` numbers,
    for small problems and for checking the products."""
    return torch.func.hessian(f)(x)


def _output_curvature(out: torch.Tensor, u: torch.Tensor, likelihood: str) -> torch.Tensor:
    """:math:`H_{\\text{out}} u` per example: the Hessian of −log p(y | output) in the output."""
    if likelihood == "categorical":  # softmax over the last axis: diag(p) − ppᵀ
        p = torch.softmax(out, dim=-1)
        return p * u - p * (p * u).sum(-1, keepdim=True)
    if likelihood == "bernoulli":  # sigmoid of one logit: p(1 − p)
        p = torch.sigmoid(out)
        return p * (1 - p) * u
    return u  # Gaussian with unit variance: I


def gauss_newton_vp(output_fn: Callable, x: torch.Tensor, v: torch.Tensor,
                    likelihood: str = "categorical") -> torch.Tensor:
    r"""The Gauss–Newton (= Fisher) product :math:`G v = \frac1m \sum_i J_i^\top H_i J_i v`.

    ``output_fn(x)`` gives the model's outputs for :math:`m` examples (first axis);
    :math:`J_i` is the Jacobian of example :math:`i`'s output in :math:`x` and
    :math:`H_i` the Hessian of :math:`-\log p(y \mid \text{output})` in that output:
    :math:`\operatorname{diag}(p) - p p^\top` for ``"categorical"`` (logits, softmax),
    :math:`p(1-p)` for ``"bernoulli"`` (one logit, sigmoid), :math:`I` for ``"gaussian"``
    (the mean of a unit-variance Gaussian). :math:`H_i` does not depend on :math:`y`, so
    :math:`G` is also the Fisher information :math:`\mathbb{E}_{x}\mathbb{E}_{y \sim p}
    [\nabla \log p\, \nabla \log p^\top]` of the model's predictive distribution, and
    the Gauss–Newton matrix of the mean cross-entropy (or of
    :math:`\frac{1}{2m}\sum_i \|y_i - \hat y_i\|^2`). ``torch.nn.functional.mse_loss``
    averages over outputs too, so its Gauss–Newton matrix is :math:`2G/k` for
    :math:`k` outputs. :math:`Jv` comes from ``torch.func.jvp``, :math:`J^\top u` from
    ``torch.func.vjp``; :math:`G` is never formed.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    out, Jv = jvp(output_fn, (x,), (v,))  # J v
    u = _output_curvature(out, Jv, likelihood)  # H_out J v
    m = out.shape[0] if out.dim() > 0 else 1
    return vjp(output_fn, x)[1](u)[0] / m  # Jᵀ H_out J v / m


def fisher_vector_product(model: torch.nn.Module, inputs: torch.Tensor,
                          likelihood: str = "categorical") -> Callable[[torch.Tensor], torch.Tensor]:
    r"""``fvp(v)`` = :math:`F v` at the model's *current* parameters, on ``inputs``.

    ``v`` is flat, in the order of ``model.parameters()``. This is what
    :class:`~optnotes.NaturalGradient` takes; see :func:`gauss_newton_vp` for :math:`F`.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")

    def fvp(v: torch.Tensor) -> torch.Tensor:
        output, theta = flat_output(model, inputs)
        return gauss_newton_vp(output, theta, v, likelihood)

    return fvp


# --- eigenvalues -----------------------------------------------------------------------

def lanczos(matvec: Callable, v0: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(T, V)``: :math:`k` steps of Lanczos on a symmetric :math:`A`, so that
    :math:`V^\top A V = T` (tridiagonal, :math:`k \times k`) with orthonormal columns
    :math:`V` (:math:`n \times k`) spanning :math:`\{v_0, Av_0, \dots, A^{k-1}v_0\}`.

    The eigenvalues of :math:`T` (Ritz values) approximate the extreme eigenvalues of
    :math:`A` first; with :math:`k = n` they are all of them. Every new vector is
    re-orthogonalized against all previous ones (twice), which costs :math:`O(kn)` per
    step but keeps :math:`V` orthonormal in floating point. When the Krylov space is
    exhausted early, :math:`T` and :math:`V` have fewer than :math:`k` columns.
    """
    k = min(_checks.positive_int("k", k), v0.numel())
    V = v0.new_zeros(k, v0.numel())  # rows are the Lanczos vectors
    alphas, betas = [], []
    v, scale = v0 / v0.norm(), 0.0
    for j in range(k):
        V[j] = v
        w = matvec(v)
        alphas.append(w.dot(v))  # α_j = v_jᵀ A v_j
        for _ in range(2):  # w ← w − V Vᵀ w (removes α_j v_j and β_{j−1} v_{j−1} too)
            w = w - V[:j + 1].T @ (V[:j + 1] @ w)
        beta = float(w.norm())
        scale = max(scale, abs(float(alphas[-1])), beta)
        if j == k - 1 or beta <= 100 * torch.finfo(v0.dtype).eps * scale:
            break
        betas.append(w.norm())
        v = w / beta
    T = torch.diag(torch.stack(alphas))
    if betas:
        off = torch.stack(betas)
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    return T, V[:len(alphas)].T


def power_iteration(matvec: Callable, v0: torch.Tensor, max_iter: int = 1000,
                    tol: float = 1e-10) -> tuple[float, torch.Tensor]:
    r"""``(λ, v)``: the eigenvalue of largest magnitude of a symmetric :math:`A` and its
    eigenvector, by :math:`v \leftarrow Av / \|Av\|` until the Rayleigh quotient
    :math:`v^\top A v` changes by less than ``tol`` (relative). It converges like
    :math:`|\lambda_2 / \lambda_1|^k`: slowly when the top two are close."""
    max_iter = _checks.positive_int("max_iter", max_iter)
    v, lam = v0 / v0.norm(), None
    for _ in range(max_iter):
        w = matvec(v)
        lam, lam_old = float(v.dot(w)), lam  # Rayleigh quotient vᵀAv
        v = w / w.norm()  # v ← Av / ‖Av‖
        if lam_old is not None and abs(lam - lam_old) <= tol * abs(lam):
            break
    return lam, v


def extreme_eigenvalues(matvec: Callable, v0: torch.Tensor, k: int | None = None,
                        method: str = "lanczos") -> tuple[float, float]:
    r"""``(λ_min, λ_max)`` of a symmetric :math:`A` given by ``matvec`` (e.g. a Hessian by
    :func:`hvp`).

    ``"lanczos"``: the smallest and largest Ritz values after ``k`` steps (default
    :math:`\min(n, 100)`; exact with :math:`k = n`); they lie inside
    :math:`[\lambda_{\min}, \lambda_{\max}]` and converge from there. ``"power"``: power
    iteration gives the eigenvalue of largest magnitude; the other end comes from power
    iteration on the shifted :math:`\lambda_{\max} I - A` (all eigenvalues
    :math:`\ge 0`, the largest :math:`\lambda_{\max} - \lambda_{\min}`), or on
    :math:`A - \lambda_{\min} I` when the first one found was negative.
    """
    if method == "lanczos":
        T, _ = lanczos(matvec, v0, min(v0.numel(), 100) if k is None else k)
        ritz = torch.linalg.eigvalsh(T)
        return float(ritz[0]), float(ritz[-1])
    if method != "power":
        raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}")
    lam, _ = power_iteration(matvec, v0)
    if lam >= 0:  # λ_max; then λ_max − λ_min is the top eigenvalue of λ_max I − A
        spread, _ = power_iteration(lambda v: lam * v - matvec(v), v0)
        return lam - spread, lam
    spread, _ = power_iteration(lambda v: matvec(v) - lam * v, v0)  # λ_min found first
    return lam, lam + spread


def condition_number(matvec: Callable, v0: torch.Tensor, k: int | None = None,
                     method: str = "lanczos") -> float:
    r""":math:`\kappa = \lambda_{\max} / \lambda_{\min}` of a symmetric positive definite
    :math:`A`, from :func:`extreme_eigenvalues`; ``inf`` when :math:`\lambda_{\min} \le 0`
    (then :math:`A` is not positive definite)."""
    lo, hi = extreme_eigenvalues(matvec, v0, k, method)
    return hi / lo if lo > 0 else float("inf")


# --- the notes' monitor -------------------------------------------------------------------

class TaylorTerms(NamedTuple):
    r"""The two terms of the second-order Taylor prediction for a step :math:`-\epsilon g`:
    :math:`J(\theta - \epsilon g) \approx J(\theta) - \epsilon g^\top g +
    \tfrac12 \epsilon^2 g^\top H g`."""

    gTg: torch.Tensor
    gTHg: torch.Tensor
    lr: float

    @property
    def first_order(self) -> torch.Tensor:
        r""":math:`-\epsilon g^\top g`, the decrease the gradient promises."""
        return -self.lr * self.gTg

    @property
    def second_order(self) -> torch.Tensor:
        r""":math:`\tfrac12 \epsilon^2 g^\top H g`, what curvature takes back."""
        return 0.5 * self.lr**2 * self.gTHg

    @property
    def predicted_change(self) -> torch.Tensor:
        """The predicted change of the cost, the sum of both terms."""
        return self.first_order + self.second_order


def taylor_monitor(f: Callable, x: torch.Tensor, lr: float) -> TaylorTerms:
    r"""The notes' monitor of ill-conditioning: :math:`g^\top g` against :math:`g^\top H g`.

    A gradient step :math:`-\epsilon g` changes the cost by about
    :math:`\tfrac12 \epsilon^2 g^\top H g - \epsilon g^\top g`; when
    :math:`\tfrac12 \epsilon^2 g^\top H g > \epsilon g^\top g` the step goes uphill, so
    during training one watches :math:`g^\top H g` grow while :math:`g^\top g` stays.
    :math:`Hg` costs one :func:`hvp`. Returns both terms as a :class:`TaylorTerms`.
    """
    lr = _checks.nonnegative("lr", lr)
    g, hvp_at_x = vjp(grad(f), x)
    Hg = hvp_at_x(g)[0]  # H g
    return TaylorTerms(g.dot(g), g.dot(Hg), lr)
