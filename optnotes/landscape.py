r"""Exploring a loss landscape: the curvature monitor along training, random smooth
functions whose critical points can be found and counted, and a search for critical
points of every kind.

* :func:`monitor_sgd` trains a model with minibatch SGD and records the textbook's
  :math:`g^\top g` and :math:`g^\top H g` of the full training loss along the way.
* :func:`random_field` draws a smooth random function of :math:`n` variables (a sum of
  random cosines, approximately a Gaussian random field) with its gradient and Hessian
  in closed form, for many points at once.
* :func:`find_critical_points` solves :math:`\nabla f(x) = 0` by Levenberg–Marquardt
  steps on the residual :math:`\nabla f`, a damped Newton iteration that converges to a
  nearby critical point whatever its index; :func:`distinct` and :func:`morse_index`
  count what it found.

Chapter: *Challenges in neural network optimization* (``chapters/03_challenges``),
sections "Ill-conditioning" and "Saddle points and other flat regions".
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch

from . import _checks, curvature
from .first_order import SGD


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return value


def monitor_sgd(model: torch.nn.Module, loss_fn: Callable, X: torch.Tensor,
                y: torch.Tensor, lr: float = 0.1, steps: int = 2000, every: int = 50,
                batch_size: int = 32, seed: int = 0):
    r"""Train ``model`` in place with minibatch SGD and monitor ill-conditioning.

    Every ``every`` steps (and before the first) the full training loss :math:`J`, its
    squared gradient norm :math:`g^\top g` and the curvature along the gradient
    :math:`g^\top H g` are measured (:func:`optnotes.curvature.taylor_monitor`, one
    Hessian-vector product). Minibatches of ``batch_size`` are drawn with ``seed``.
    Returns an array with one row ``(step, J, gᵀg, gᵀHg)`` per measurement.
    """
    lr = _checks.positive("lr", lr)
    steps, every = _positive_int("steps", steps), _positive_int("every", every)
    batch_size = _positive_int("batch_size", batch_size)
    opt = SGD(model.parameters(), lr=lr)
    batches = torch.Generator().manual_seed(seed)
    rows = []
    for k in range(steps + 1):
        if k % every == 0:  # the full training loss as a function of flat θ
            f, theta = curvature.flat_loss(model, loss_fn, X, y)
            t = curvature.taylor_monitor(f, theta, lr)
            rows.append((k, float(f(theta)), float(t.gTg), float(t.gTHg)))
        if k == steps:
            break
        idx = torch.randint(len(X), (batch_size,), generator=batches).to(X.device)
        opt.zero_grad()
        loss_fn(model(X[idx]), y[idx]).backward()
        opt.step()
    return np.array(rows)


class RandomField(NamedTuple):
    r""":math:`f(x) = \sum_k c_k \cos(w_k^\top x + b_k)` with its gradient and Hessian.

    Each callable takes a batch of points of shape ``(m, n)`` (or one point of shape
    ``(n,)``) and returns ``(m,)``, ``(m, n)`` and ``(m, n, n)`` values.
    """

    f: Callable[[torch.Tensor], torch.Tensor]
    grad: Callable[[torch.Tensor], torch.Tensor]
    hessian: Callable[[torch.Tensor], torch.Tensor]
    n: int


def random_field(n: int, terms: int = 400, seed: int = 0) -> RandomField:
    r"""A random smooth function of ``n`` variables: ``terms`` cosines with frequencies
    :math:`w_k \sim N(0, I)`, phases :math:`b_k \sim U[0, 2\pi)` and amplitudes
    :math:`c_k \sim N(0, 2/K)`, drawn with ``seed`` (float64). For many terms it is
    approximately a Gaussian random field with unit variance; :math:`f` and
    :math:`-f` have the same distribution, so minima and maxima are equally common.
    """
    n, terms = _positive_int("n", n), _positive_int("terms", terms)
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(terms, n, generator=gen, dtype=torch.float64)
    b = 2 * math.pi * torch.rand(terms, generator=gen, dtype=torch.float64)
    c = torch.randn(terms, generator=gen, dtype=torch.float64) * (2 / terms) ** 0.5

    def f(x):
        return torch.cos(x @ W.T + b) @ c                     # Σ c cos(wᵀx + b)

    def grad(x):
        return -(torch.sin(x @ W.T + b) * c) @ W              # −Σ c sin(·) w

    def hessian(x):
        return -torch.einsum("...k,ki,kj->...ij",             # −Σ c cos(·) w wᵀ
                             torch.cos(x @ W.T + b) * c, W, W)

    return RandomField(f, grad, hessian, n)


def find_critical_points(grad: Callable, hessian: Callable, starts: torch.Tensor,
                         iters: int = 60, tol: float = 1e-10) -> torch.Tensor:
    r"""Critical points of every index, by Levenberg–Marquardt on the residual
    :math:`r(x) = \nabla f(x)`, from every row of ``starts`` at once.

    A step solves :math:`(H^2 + \mu I)\, s = -H \nabla f`: with :math:`\mu \to 0` it is
    Newton's step for :math:`\nabla f = 0`, which jumps to the critical point of the
    local quadratic model whatever the signs of :math:`H`'s eigenvalues, so the search
    does not prefer minima or saddles. A step is kept only if it lowers
    :math:`\|\nabla f\|`; then :math:`\mu` shrinks fourfold, else it grows fourfold.
    Returns the points where :math:`\|\nabla f\| <` ``tol`` (the others are dropped).
    """
    iters = _positive_int("iters", iters)
    tol = _checks.positive("tol", tol)
    x = torch.as_tensor(starts, dtype=torch.float64)
    if x.ndim != 2:
        raise ValueError(f"starts must have shape (m, n), got {tuple(x.shape)}")
    eye = torch.eye(x.shape[1], dtype=x.dtype)
    mu = torch.full((len(x),), 1e-3, dtype=x.dtype)
    for _ in range(iters):
        g, H = grad(x), hessian(x)
        A = H @ H + mu[:, None, None] * eye
        step = -torch.linalg.solve(A, H @ g[..., None])[..., 0]
        better = grad(x + step).norm(dim=1) < g.norm(dim=1)
        x = torch.where(better[:, None], x + step, x)
        mu = torch.where(better, mu / 4, mu * 4).clamp(1e-14, 1e6)
    return x[grad(x).norm(dim=1) < tol]


def distinct(points: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
    """The rows of ``points`` with the repeats removed: a row within ``tol`` of an
    earlier row is dropped, so a point reached from several starts counts once."""
    tol = _checks.positive("tol", tol)
    close_to_earlier = (torch.cdist(points, points) < tol).tril(-1).any(1)
    return points[~close_to_earlier]


def morse_index(hessian: Callable, points: torch.Tensor) -> tuple:
    """``(index, eigenvalues)``: the number of negative Hessian eigenvalues at each of
    ``points`` (0 for a minimum, :math:`n` for a maximum, a saddle in between) and the
    eigenvalues themselves, ascending, one row per point."""
    eig = torch.linalg.eigvalsh(hessian(points))
    return (eig < 0).sum(1).numpy(), eig
