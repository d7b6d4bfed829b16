"""The experiments of the chapter on matrix preconditioners: a least-squares problem whose
curvature is a Kronecker product, a learning-rate grid, and a race on the digits.

Chapter: *Preconditioning with matrices* (``chapters/10_matrix_preconditioners``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import _checks


@dataclass
class KroneckerRegression:
    r"""Linear regression of :math:`y \in \mathbb R^n` on :math:`x \in \mathbb R^n` with
    the loss :math:`\tfrac12 (Wx - y)^\top M (Wx - y)`, inputs
    :math:`x \sim N(0, \Sigma)` and targets :math:`y = W_* x + \xi`,
    :math:`\xi \sim N(0, M^{-1})`: the negative log-likelihood of a Gaussian model.

    The Hessian on :math:`\operatorname{vec}(W)` is :math:`\Sigma \otimes M`, a
    Kronecker product, and it equals the Fisher matrix, the covariance of the gradient
    at :math:`W_*`. :math:`\Sigma` and :math:`M` have eigenvalues spaced evenly on a log
    scale from :math:`1/\kappa^2` to 1 in random bases, so each side has condition
    number :math:`\kappa^2` and the Hessian :math:`\kappa^4`.
    """

    Sigma: torch.Tensor
    M: torch.Tensor
    W_star: torch.Tensor

    @property
    def start(self) -> torch.Tensor:
        return torch.zeros_like(self.W_star)

    def sample(self, batch_size: int, gen: torch.Generator):
        """A minibatch ``(x, y)`` of ``batch_size`` examples drawn with ``gen``."""
        n = self.W_star.shape[1]
        x = torch.randn(batch_size, n, generator=gen, dtype=self.W_star.dtype)
        x = x @ torch.linalg.cholesky(self.Sigma).T
        xi = torch.randn(batch_size, n, generator=gen, dtype=self.W_star.dtype)
        xi = xi @ torch.linalg.cholesky(torch.linalg.inv(self.M)).T
        return x, x @ self.W_star.T + xi

    def loss(self, W: torch.Tensor, batch) -> torch.Tensor:
        """The minibatch's mean loss."""
        x, y = batch
        r = x @ W.T - y
        return 0.5 * ((r @ self.M) * r).sum(1).mean()

    def excess(self, W: torch.Tensor) -> float:
        r"""The expected loss above its minimum, :math:`\tfrac12 \operatorname{tr}(M D
        \Sigma D^\top)` with :math:`D = W - W_*`."""
        D = W.detach() - self.W_star
        return float(0.5 * torch.trace(self.M @ D @ self.Sigma @ D.T))

    def condition_number(self) -> float:
        """κ of the Hessian Σ ⊗ M: the product of the two sides' condition numbers."""
        s, m = torch.linalg.eigvalsh(self.Sigma), torch.linalg.eigvalsh(self.M)
        return float(s[-1] / s[0] * m[-1] / m[0])


def kronecker_regression(n: int = 12, kappa: float = 10.0, seed: int = 0,
                         dtype=torch.float64) -> KroneckerRegression:
    """A :class:`KroneckerRegression` with n × n weights drawn with ``seed``."""
    n = _checks.positive_int("n", n)
    kappa = _checks.real("kappa", kappa)
    if kappa < 1:
        raise ValueError(f"kappa must be >= 1, got {kappa!r}")
    gen = torch.Generator().manual_seed(seed)

    def spd():
        Q = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))[0]
        lam = torch.logspace(-2 * math.log10(kappa), 0, n, dtype=torch.float64)
        return Q @ torch.diag(lam) @ Q.T

    Sigma, M = spd(), spd()
    W_star = torch.randn(n, n, generator=gen, dtype=torch.float64)
    return KroneckerRegression(Sigma.to(dtype), M.to(dtype), W_star.to(dtype))


def relative_excess(problem: KroneckerRegression, make_optimizer, steps: int,
                    batch_size: int = 32, seed: int = 0) -> list[float]:
    """The excess loss relative to the start's after each of ``steps`` minibatch steps
    (the minibatches drawn with ``seed``); stops early (a shorter list) once it is not
    finite or exceeds 1000."""
    gen = torch.Generator().manual_seed(seed)
    W = problem.start.clone().requires_grad_()
    opt = make_optimizer([W])
    e0 = problem.excess(W)
    out = [1.0]
    for _ in range(steps):
        opt.zero_grad()
        problem.loss(W, problem.sample(batch_size, gen)).backward()
        opt.step()
        out.append(problem.excess(W) / e0)
        if not math.isfinite(out[-1]) or out[-1] > 1e3:
            break
    return out


def first_below(values, level: float) -> float:
    """The first index with ``values[k] < level``; ``math.inf`` if there is none."""
    return next((k for k, v in enumerate(values) if v < level), math.inf)


def best_of_grid(problem, make, lrs, steps: int, target: float, seed: int = 0) -> dict:
    """Run ``make(lr)`` for every learning rate of ``lrs``; the best is the one reaching
    ``target`` (relative excess loss) in the fewest steps, or, if none does, the one
    with the lowest final value. Returns ``{"lr", "steps", "curve", "grid": {lr:
    steps}}``."""
    runs = {lr: relative_excess(problem, make(lr), steps, seed=seed) for lr in lrs}
    grid = {lr: first_below(c, target) if len(c) == steps + 1 else math.inf
            for lr, c in runs.items()}
    ok = [lr for lr in lrs if len(runs[lr]) == steps + 1]
    if not ok:
        raise ValueError(f"every learning rate of {list(lrs)} diverged")
    best = min(ok, key=lambda lr: (grid[lr], runs[lr][-1]))
    return {"lr": best, "steps": grid[best], "curve": runs[best], "grid": grid}


# --- the digits race -------------------------------------------------------------------------

def digits_race(make_optimizer, data, *, hidden: int = 64, steps: int = 300,
                batch_size: int = 64, target: float = 0.1, seed: int = 0) -> dict:
    """Train a 64-``hidden``-``hidden``-10 tanh network on ``data`` (a Split) with
    ``make_optimizer(model)`` (which gets the model, so it may build param groups) on
    minibatches drawn with ``seed``. Returns the training ``losses`` (full training set,
    every 10 steps), ``steps_to_target`` (the first logged step whose loss is below
    ``target``, ``math.inf`` if none) and ``seconds_per_step`` (wall clock of the
    optimizer steps alone)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.Tanh(),
                                torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
                                torch.nn.Linear(hidden, 10))
    opt = make_optimizer(model)
    X, y = data.X.cpu(), data.y.cpu()
    losses, spent, reached = [], 0.0, math.inf
    for k in range(steps + 1):
        if k % 10 == 0:
            with torch.no_grad():
                losses.append(float(F.cross_entropy(model(X), y)))
            if losses[-1] < target and reached == math.inf:
                reached = k
        if k == steps:
            break
        idx = torch.randint(len(X), (batch_size,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(X[idx]), y[idx]).backward()
        start = time.perf_counter()
        opt.step()
        spent += time.perf_counter() - start
    return {"losses": losses, "steps_to_target": reached, "seconds_per_step": spent / steps}


def matrices_and_rest(model: torch.nn.Module, **rest) -> list[dict]:
    """Param groups: the 2-D weights in one, everything else (with ``rest``) in another."""
    mats = [p for p in model.parameters() if p.dim() == 2]
    others = [p for p in model.parameters() if p.dim() != 2]
    return [{"params": mats}, {"params": others, **rest}]

