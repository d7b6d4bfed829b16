"""The small experiments of chapter 9 (*Training in practice since the textbook*):
a digits network trained on seeded minibatches, full-batch gradient descent with its
sharpness tracked, a noisy least-squares problem for schedule-free training, and a
regression with heavy-tailed label noise for clipping.

Each function runs one experiment and returns plain numbers (NumPy arrays), so that a
chapter cell shows the few lines that matter and the bookkeeping stays here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy
import numpy as np
import torch

from . import curvature, data, models
from .clipping import clip_grad_norm_, total_norm


def digits_mlp(seed: int = 0, width: int = 64, depth: int = 2, activation=torch.nn.ReLU,
               dtype=torch.float32) -> torch.nn.Sequential:
    """A ``64 → width × depth → 10`` network for the 8×8 digits, seeded."""
    torch.manual_seed(seed)
    return models.mlp([64] + [width] * depth + [10], activation=activation).to(dtype)


@dataclass
class Run:
    """One training run: the minibatch losses, the gradient norms before clipping, the
    final full training loss, validation error and the norm of every weight matrix."""

    losses: numpy.ndarray
    grad_norms: numpy.ndarray
    train_loss: float
    val_error: float
    weight_norms: numpy.ndarray


def train_digits(make_optimizer, steps: int, batch_size: int = 32, seed: int = 0,
                 scheduler=None, clip: float | None = None, splits=None, width: int = 64,
                 stop_above: float = 1e3) -> Run:
    """Train :func:`digits_mlp` (seed ``seed``) with cross-entropy on minibatches drawn
    with replacement (seed ``seed``); ``make_optimizer(params)``, ``scheduler(opt)``;
    ``clip``: clip the gradient norm at this value. A run whose loss passes
    ``stop_above`` (diverged) stops, its remaining losses set to inf."""
    splits = splits if splits is not None else data.digits(device="cpu")
    train, val = splits.train, splits.val
    model = digits_mlp(seed, width=width)
    opt = make_optimizer(model.parameters())
    sched = scheduler(opt) if scheduler is not None else None
    gen = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.functional.cross_entropy
    losses, norms = np.full(steps, np.inf), np.full(steps, np.inf)
    for k in range(steps):
        idx = torch.randint(len(train), (batch_size,), generator=gen)
        loss = loss_fn(model(train.X[idx]), train.y[idx])
        opt.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        norms[k] = float(total_norm(grads)) if clip is None else float(
            clip_grad_norm_(model.parameters(), clip))
        opt.step()
        if sched is not None:
            sched.step()
        losses[k] = float(loss.detach())
        if not np.isfinite(losses[k]) or losses[k] > stop_above:
            break
    if hasattr(opt, "eval"):  # a schedule-free optimizer: evaluate at its average
        opt.eval()
    with torch.no_grad():
        train_loss = float(loss_fn(model(train.X), train.y))
        val_error = float((model(val.X).argmax(1) != val.y).double().mean())
    weights = np.array([float(p.detach().norm()) for p in model.parameters() if p.dim() == 2])
    return Run(losses, norms, train_loss, val_error, weights)


# --- the edge of stability ----------------------------------------------------------------

def half_mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """½‖out − target‖² per example, averaged: the square loss Cohen et al. use."""
    return 0.5 * ((out - target) ** 2).sum(1).mean()


def full_batch_gd(lr: float, steps: int, every: int = 50, examples: int = 256,
                  seed: int = 0, power_iters: int = 20):
    """Full-batch gradient descent with step ``lr`` on a 64-32-10 tanh network and the
    square loss on ``examples`` digits (float64). Returns ``(losses, at, sharpness)``: the
    loss before every step, and the largest Hessian eigenvalue (power iteration on
    Hessian-vector products, warm-started from the last eigenvector) at steps ``at``."""
    from .first_order import SGD

    splits = data.digits(device="cpu", dtype=torch.float64)
    X, y = splits.train.X[:examples], splits.train.y[:examples]
    Y = torch.nn.functional.one_hot(y, 10).double()
    torch.manual_seed(seed)
    model = models.mlp([64, 32, 10]).double()
    opt = SGD(model.parameters(), lr=lr)
    v = torch.randn(sum(p.numel() for p in model.parameters()), dtype=torch.float64,
                    generator=torch.Generator().manual_seed(seed))
    losses, at, sharp = [], [], []
    for k in range(steps):
        if k % every == 0:
            f, theta = curvature.flat_loss(model, half_mse, X, Y)
            theta = theta.detach()
            lam, v = curvature.power_iteration(lambda u: curvature.hvp(f, theta, u), v,
                                               max_iter=power_iters, tol=1e-4)
            at.append(k)
            sharp.append(lam)
        loss = half_mse(model(X), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return np.array(losses), np.array(at), np.array(sharp)


# --- schedule-free training on a noisy least-squares problem --------------------------------

def noisy_least_squares(make_optimizer, steps: int, seed: int = 0, scheduler=None,
                        batch_size: int = 1, every: int = 10):
    """SGD-type training of a linear model on ``data.linear_regression`` (1000 examples,
    10 features, label noise 1), one example per step; returns the steps and the excess
    training loss over the least-squares optimum at those steps, measured at the point a
    schedule-free optimizer evaluates (``eval()``) and otherwise at the iterate."""
    splits, _ = data.linear_regression(m=1000, n=10, noise=1.0, seed=0, val_fraction=0.0,
                                       device="cpu")
    X, y = splits.train.X, splits.train.y
    best = 0.5 * float(((X @ torch.linalg.lstsq(X, y).solution - y) ** 2).mean())
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = make_optimizer([w])
    sched = scheduler(opt) if scheduler is not None else None
    gen = torch.Generator().manual_seed(seed)
    at, excess = [], []
    for k in range(steps):
        idx = torch.randint(len(y), (batch_size,), generator=gen)
        loss = 0.5 * ((X[idx] @ w - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if (k + 1) % every == 0:
            if hasattr(opt, "eval"):
                opt.eval()
            with torch.no_grad():
                excess.append(0.5 * float(((X @ w - y) ** 2).mean()) - best)
            if hasattr(opt, "train"):
                opt.train()
            at.append(k + 1)
    return np.array(at), np.array(excess)


# --- clipping at a percentile ---------------------------------------------------------------

def heavy_tailed_regression(clip_percentile: float | None, steps: int = 400, seed: int = 0,
                            lr: float = 0.05, warmup: int = 50, df: float = 1.5):
    """SGD on a linear regression whose labels carry Student-t noise with ``df`` degrees
    of freedom (heavy tails: a few huge residuals). With ``clip_percentile`` the gradient
    norms of the first ``warmup`` steps are logged unclipped and every later gradient is
    clipped at that percentile of them. Returns the final distance to the true weights and
    the threshold used (None without clipping)."""
    from .first_order import SGD

    gen = torch.Generator().manual_seed(seed)
    n = 10
    w_true = torch.randn(n, generator=gen, dtype=torch.float64)
    X = torch.randn(2000, n, generator=gen, dtype=torch.float64)
    torch.manual_seed(seed)
    noise = torch.distributions.StudentT(df).sample((2000,)).double()
    y = X @ w_true + noise
    w = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    opt = SGD([w], lr=lr)
    logged, threshold = [], None
    for k in range(steps):
        idx = torch.randint(len(y), (8,), generator=gen)
        loss = 0.5 * ((X[idx] @ w - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if clip_percentile is not None and k >= warmup:
            if threshold is None:
                threshold = float(np.percentile(logged, clip_percentile))
            clip_grad_norm_([w], threshold)
        else:
            logged.append(float(w.grad.norm()))
        opt.step()
    return float((w.detach() - w_true).norm()), threshold
