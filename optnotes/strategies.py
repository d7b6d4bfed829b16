r"""Optimization strategies (Goodfellow et al., 2016, sections 8.7.2 and 8.7.6).

* Continuation: a sequence of easier objectives :math:`J^{(0)}, \dots, J^{(n)} = J`, here
  blurred versions :math:`J^{(i)}(\theta) = \mathbb E_{\theta' \sim
  \mathcal N(\theta, \sigma^{(i)2} I)} J(\theta')` of the cost.
* Coordinate descent: minimize over one coordinate, or one block of variables, at a
  time; for sparse coding, alternate a lasso step for the codes H and a least-squares
  step for the dictionary W.
* Curriculum learning: present easy examples first (Bengio et al., 2009), or mix a
  growing share of hard ones in (Zaremba & Sutskever, 2014).
* Pretraining (section 8.7.4): start a deeper network from a trained shallower one
  (:func:`deepen`), and train a student on a teacher's softened outputs
  (:func:`distillation_loss`, the second stage of FitNets).
"""

from __future__ import annotations

from typing import Callable

import torch

from . import _checks

# --- continuation --------------------------------------------------------------------------


def gaussian_blur(objective: Callable[[torch.Tensor], torch.Tensor], sigma: float,
                  samples: int, generator: torch.Generator | None = None):
    r"""The blurred objective :math:`\theta \mapsto \mathbb E\,J(\theta + \sigma z)`,
    :math:`z \sim \mathcal N(0, I)`, estimated by a mean over ``samples`` draws.

    The draws are made once, on the first call, and reused (common random numbers), so
    the estimate is a smooth, deterministic, differentiable function of :math:`\theta`
    that autograd can descend. ``objective`` maps ``(..., n)`` to ``(...)``, as
    :mod:`optnotes.objectives` does; the blurred function does the same. ``sigma = 0``
    returns ``objective`` itself.
    """
    sigma = _checks.nonnegative("sigma", sigma)
    samples = _checks.positive_int("samples", samples)
    if sigma == 0.0:
        return objective
    noise: dict = {}

    def blurred(theta: torch.Tensor) -> torch.Tensor:
        n = theta.shape[-1]
        if n not in noise:
            z = torch.randn(samples, n, generator=generator, dtype=torch.float64)
            noise[n] = z
        z = noise[n].to(device=theta.device, dtype=theta.dtype)
        points = theta.unsqueeze(-2) + sigma * z          # θ′ = θ + σz, shape (..., samples, n)
        return objective(points).mean(-1)                 # mean over the draws

    return blurred


def continuation(objective, start: torch.Tensor, sigmas, make_optimizer, steps: int,
                 samples: int = 256, generator: torch.Generator | None = None,
                 blur=None) -> torch.Tensor:
    r"""Follow the minimizer of the blurred objective as :math:`\sigma` shrinks.

    For each :math:`\sigma^{(i)}` in ``sigmas`` (largest first; finish with 0 for the
    true cost) run ``steps`` steps of ``make_optimizer([theta])`` on the blurred objective,
    starting where the previous stage ended. Returns the point after each stage, shape
    ``(len(sigmas) + 1, n)``, the start first.

    The blurred objective is the Monte Carlo estimate :func:`gaussian_blur` with
    ``samples`` draws, unless ``blur(sigma)`` is given to return it (for example in
    closed form: a Monte Carlo estimate of a narrow well is itself a sum of narrow
    wells, one per draw, and traps a local method).
    """
    sigmas = [_checks.nonnegative("sigmas", s) for s in sigmas]
    if not sigmas:
        raise ValueError("sigmas must not be empty")
    steps = _checks.positive_int("steps", steps)
    theta = start.detach().clone().requires_grad_(True)
    path = [theta.detach().clone()]
    for sigma in sigmas:
        if blur is None:
            cost = gaussian_blur(objective, sigma, samples, generator)
        else:
            cost = objective if sigma == 0.0 else blur(sigma)
        opt = make_optimizer([theta])
        for _ in range(steps):
            opt.zero_grad()
            cost(theta).backward()
            opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


# --- coordinate descent --------------------------------------------------------------------


def coordinate_minimize(A: torch.Tensor, b: torch.Tensor, x0: torch.Tensor, tol: float = 1e-8,
                        max_sweeps: int = 100_000) -> tuple[torch.Tensor, int]:
    r"""Exact coordinate descent on :math:`f(x) = \tfrac12 x^\top A x - b^\top x`.

    Each sweep minimizes f over :math:`x_1`, then :math:`x_2`, ... holding the others
    fixed: :math:`x_i \leftarrow (b_i - \sum_{j \ne i} A_{ij} x_j)/A_{ii}`. Stops when
    :math:`\|x - x^*\|_\infty \le` ``tol`` with :math:`x^* = A^{-1}b`. Returns ``(x, sweeps)``.
    """
    tol = _checks.positive("tol", tol)
    max_sweeps = _checks.positive_int("max_sweeps", max_sweeps)
    if A.dim() != 2 or A.shape[0] != A.shape[1] or b.shape != A.shape[:1]:
        raise ValueError(f"A must be square and b match it, got A {tuple(A.shape)}, "
                         f"b {tuple(b.shape)}")
    if bool((torch.diagonal(A) <= 0).any()):
        raise ValueError("A must have a positive diagonal (f convex in each coordinate)")
    x_star = torch.linalg.solve(A, b)
    x = x0.clone()
    for sweep in range(1, max_sweeps + 1):
        for i in range(len(x)):
            x[i] = (b[i] - A[i] @ x + A[i, i] * x[i]) / A[i, i]
        if float((x - x_star).abs().max()) <= tol:
            return x, sweep
    return x, max_sweeps


def sparse_coding_cost(X: torch.Tensor, W: torch.Tensor, H: torch.Tensor,
                       lam: float = 1.0) -> torch.Tensor:
    r""":math:`J(H, W) = \lambda\sum_{i,j}|H_{i,j}| + \sum_{i,j}(X - W^\top H)^2_{i,j}`.

    Shapes: ``X`` (n features, m examples), ``W`` (k atoms, n), ``H`` (k, m).
    """
    return lam * H.abs().sum() + (X - W.T @ H).square().sum()


def lasso_codes(X, W, H, lam: float = 1.0, iters: int = 50) -> torch.Tensor:
    r"""``iters`` proximal-gradient (ISTA) steps on H with W fixed; each lowers J.

    With :math:`L = 2\|W W^\top\|_2`, the Lipschitz constant of the gradient
    :math:`-2W(X - W^\top H)` of the squared error,
    :math:`H \leftarrow \operatorname{soft}(H + \tfrac2L W(X - W^\top H), \lambda/L)`,
    where :math:`\operatorname{soft}(u, t) = \operatorname{sign}(u)\max(|u| - t, 0)`.
    """
    lam = _checks.nonnegative("lam", lam)
    iters = _checks.positive_int("iters", iters)
    L = 2 * torch.linalg.matrix_norm(W @ W.T, ord=2)
    for _ in range(iters):
        u = H + (2 / L) * (W @ (X - W.T @ H))                    # gradient step on the error
        H = torch.sign(u) * torch.clamp(u.abs() - lam / L, min=0)  # shrink towards 0
    return H


def least_squares_dictionary(X, H) -> torch.Tensor:
    r"""The W minimizing :math:`\sum (X - W^\top H)^2` for fixed H (a linear least squares)."""
    return torch.linalg.lstsq(H.T, X.T).solution


def project_rows(W, max_norm: float = 1.0) -> torch.Tensor:
    r"""Each row :math:`W_i` scaled down to norm ``max_norm`` if it is longer:
    the Euclidean projection onto :math:`\{W : \|W_i\| \le c\ \forall i\}`
    with :math:`c` = ``max_norm``."""
    max_norm = _checks.positive("max_norm", max_norm)
    norms = W.norm(dim=1, keepdim=True)
    return W / torch.clamp(norms / max_norm, min=1.0)


def constrained_dictionary(X, H, W, max_norm: float = 1.0,
                           iters: int = 50) -> torch.Tensor:
    r"""``iters`` projected-gradient steps on the dictionary W with H fixed,
    under :math:`\|W_i\| \le` ``max_norm`` for every row (atom); each lowers
    :math:`\sum (X - W^\top H)^2` or leaves it unchanged.

    With :math:`L = 2\|H H^\top\|_2`, the Lipschitz constant of the gradient
    :math:`-2H(X - W^\top H)^\top`,
    :math:`W \leftarrow \Pi(W + \tfrac2L H(X - W^\top H)^\top)`, where
    :math:`\Pi` is :func:`project_rows`; the starting ``W`` is projected
    first, so the steps start from a feasible point."""
    iters = _checks.positive_int("iters", iters)
    W = project_rows(W, max_norm)
    L = 2 * torch.linalg.matrix_norm(H @ H.T, ord=2)
    if float(L) == 0.0:              # H = 0: the error does not depend on W
        return W
    for _ in range(iters):
        step = (2 / L) * (H @ (X - W.T @ H).T)        # gradient step
        W = project_rows(W + step, max_norm)           # back into the ball
    return W


def block_coordinate_descent(X, k: int, lam: float = 1.0, sweeps: int = 20,
                             code_iters: int = 50,
                             generator: torch.Generator | None = None,
                             max_norm: float | None = 1.0,
                             dict_iters: int = 50):
    r"""Sparse coding by alternating the two convex blocks: codes H (lasso),
    dictionary W (rows of norm at most ``max_norm``, by projected gradient;
    ``max_norm=None``: unconstrained least squares, which lets J fall by
    growing W and shrinking H). Returns ``(W, H, costs)`` with J after every
    half-sweep; a block step never raises J, so ``costs`` never increases."""
    k = _checks.positive_int("k", k)
    sweeps = _checks.positive_int("sweeps", sweeps)
    n, m = X.shape
    W = torch.randn(k, n, generator=generator, dtype=torch.float64).to(X)
    if max_norm is not None:
        W = project_rows(W, max_norm)
    H = torch.zeros(k, m, dtype=X.dtype, device=X.device)
    costs = [float(sparse_coding_cost(X, W, H, lam))]
    for _ in range(sweeps):
        H = lasso_codes(X, W, H, lam, code_iters)       # minimize over H
        costs.append(float(sparse_coding_cost(X, W, H, lam)))
        if max_norm is None:
            W = least_squares_dictionary(X, H)          # minimize over W
        else:
            W = constrained_dictionary(X, H, W, max_norm, dict_iters)
        costs.append(float(sparse_coding_cost(X, W, H, lam)))
    return W, H, costs


# --- curriculum learning -------------------------------------------------------------------


class CurriculumSampler:
    r"""Minibatch indices that start with the easy examples and bring in the hard ones.

    Examples are ranked by ``difficulty`` (lower is easier). At step t the *pool* is the
    easiest fraction :math:`f_t = \min(1, f_0 + (1 - f_0)\,t/T)` of the examples, with
    :math:`f_0` = ``start_fraction`` and T = ``ramp_steps``.

    * ``mode="none"``: uniform over all examples (no curriculum).
    * ``mode="deterministic"``: uniform over the pool (Bengio et al., 2009).
    * ``mode="mixed"``: each draw is uniform over all examples with probability
      ``uniform_share``, else over the pool (the mixed strategy of Zaremba & Sutskever,
      2014, which keeps some hard examples in every minibatch).
    """

    MODES = ("none", "deterministic", "mixed")

    def __init__(self, difficulty: torch.Tensor, batch_size: int, ramp_steps: int,
                 mode: str = "mixed", start_fraction: float = 0.2, uniform_share: float = 0.2,
                 generator: torch.Generator | None = None):
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        difficulty = torch.as_tensor(difficulty)
        if difficulty.dim() != 1 or len(difficulty) == 0:
            raise ValueError(f"difficulty must be a non-empty 1-D tensor, got shape "
                             f"{tuple(difficulty.shape)}")
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.ramp_steps = _checks.positive_int("ramp_steps", ramp_steps)
        start_fraction = _checks.real("start_fraction", start_fraction)
        if not 0.0 < start_fraction <= 1.0:
            raise ValueError(f"start_fraction must be in (0, 1], got {start_fraction!r}")
        self.start_fraction = start_fraction
        self.uniform_share = _checks.real("uniform_share", uniform_share)
        if not 0.0 <= self.uniform_share <= 1.0:
            raise ValueError(f"uniform_share must be in [0, 1], got {uniform_share!r}")
        self.mode = mode
        self.order = torch.argsort(difficulty.cpu(), stable=True)  # easiest first
        self.generator = generator
        self.step = 0

    def pool_fraction(self, step: int) -> float:
        """:math:`f_t`, the fraction of (easiest) examples that the curriculum admits."""
        f0 = self.start_fraction
        return min(1.0, f0 + (1.0 - f0) * step / self.ramp_steps)

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        n = len(self.order)
        pool = max(1, round(self.pool_fraction(self.step) * n))
        if self.mode == "none":
            pool = n
        ranks = torch.randint(pool, (self.batch_size,), generator=self.generator)
        if self.mode == "mixed":
            anywhere = torch.rand(self.batch_size, generator=self.generator) < self.uniform_share
            ranks[anywhere] = torch.randint(n, (int(anywhere.sum()),), generator=self.generator)
        self.step += 1
        return self.order[ranks]


# --- pretraining: deeper from shallower, distillation --------------------------------------


def deepen(net: torch.nn.Sequential, new_layers: int,
           activation=torch.nn.ReLU) -> torch.nn.Sequential:
    """A deeper copy of ``net`` that computes the same function at the start.

    ``new_layers`` layers ``Linear(w, w)`` followed by ``activation()`` are inserted
    before the output layer (the last module, a ``Linear`` with ``w`` inputs), each with
    identity weights and zero bias, as in Net2DeeperNet (Chen et al., 2016). The copy is
    exact when the layer below ends in a ReLU, whose outputs are non-negative and pass
    ``relu(I h + 0) = h`` unchanged; with other activations it only approximates ``net``.
    The modules of ``net`` are shared, not copied.
    """
    if not isinstance(net, torch.nn.Sequential) or not isinstance(net[-1], torch.nn.Linear):
        raise TypeError(f"net must be a torch.nn.Sequential ending in a Linear layer, "
                        f"got {type(net).__name__}")
    new_layers = _checks.positive_int("new_layers", new_layers)
    out = net[-1]
    width = out.in_features
    inserted = []
    for _ in range(new_layers):
        layer = torch.nn.Linear(width, width, device=out.weight.device, dtype=out.weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(torch.eye(width, dtype=out.weight.dtype))
            layer.bias.zero_()
        inserted += [layer, activation()]
    return torch.nn.Sequential(*net[:-1], *inserted, out)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      targets: torch.Tensor, temperature: float = 4.0,
                      weight: float = 1.0) -> torch.Tensor:
    r"""Knowledge distillation (Hinton et al., 2015), as in the second stage of FitNets.

    .. math::

        L = H(y, P_S) + \lambda\, \tau^2\, \mathrm{KL}(P_T^\tau \,\|\, P_S^\tau),
        \qquad P^\tau = \operatorname{softmax}(a / \tau),

    with :math:`\tau` = ``temperature`` and :math:`\lambda` = ``weight``. Romero et al.
    (2015) write the second term as the cross-entropy :math:`H(P_T^\tau, P_S^\tau)`,
    which differs from the KL divergence by the teacher's entropy, a constant with the
    same gradient; the factor :math:`\tau^2` (Hinton et al.) keeps the soft term's
    gradient of the same size as :math:`\tau` changes.
    """
    temperature = _checks.positive("temperature", temperature)
    weight = _checks.nonnegative("weight", weight)
    hard = torch.nn.functional.cross_entropy(student_logits, targets)
    soft = torch.nn.functional.kl_div(
        torch.log_softmax(student_logits / temperature, dim=-1),
        torch.log_softmax(teacher_logits.detach() / temperature, dim=-1),
        reduction="batchmean", log_target=True)
    return hard + weight * temperature**2 * soft
