r"""Test functions with known minimizers, as plain torch functions.

Every function takes ``x`` of shape ``(..., n)`` and returns shape ``(...)``, so one call
evaluates a whole grid for a contour plot. Constants follow ``x``'s device and dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from . import _checks


@dataclass(frozen=True, eq=False)
class Objective:
    """A test function with its known minimizer, minimum value and a usual start."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    minimizer: torch.Tensor
    minimum: float
    start: torch.Tensor
    saddle_point: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    @property
    def dim(self) -> int:
        return self.minimizer.numel()

    def excess(self, x: torch.Tensor) -> torch.Tensor:
        r"""Excess error :math:`J(x) - \min J`."""
        return self.fn(x) - self.minimum


@dataclass(frozen=True, eq=False)
class Quadratic(Objective):
    r""":math:`f(x) = \tfrac12 (x-x^*)^\top Q\,\mathrm{diag}(\lambda)\,Q^\top (x-x^*)`."""

    eigenvalues: torch.Tensor | None = None
    basis: torch.Tensor | None = None  # Q; None means the identity (a diagonal Hessian)

    def hessian(self) -> torch.Tensor:
        """The dense Hessian :math:`Q\\,\\mathrm{diag}(\\lambda)\\,Q^\\top` (float64)."""
        if self.basis is None:
            return torch.diag(self.eigenvalues)
        return self.basis @ torch.diag(self.eigenvalues) @ self.basis.T

    @property
    def condition_number(self) -> float:
        return float(self.eigenvalues.max() / self.eigenvalues.min())


def quadratic(eigenvalues, basis=None, minimizer=None, start=None, name="quadratic") -> Quadratic:
    """A convex quadratic from its Hessian's eigenvalues and (optionally) eigenvectors."""
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64).flatten()
    if lam.numel() == 0 or bool((lam < 0).any()):
        raise ValueError(f"eigenvalues must be a non-empty list of numbers >= 0, got {eigenvalues!r}")
    n = lam.numel()
    Q = None if basis is None else torch.as_tensor(basis, dtype=torch.float64)
    if Q is not None and Q.shape != (n, n):
        raise ValueError(f"basis must have shape ({n}, {n}), got {tuple(Q.shape)}")
    x_star = torch.zeros(n, dtype=torch.float64) if minimizer is None else \
        torch.as_tensor(minimizer, dtype=torch.float64).flatten()
    if x_star.numel() != n:
        raise ValueError(f"minimizer must have {n} entries, got {x_star.numel()}")

    def fn(x):
        d = x - x_star.to(x)
        z = d if Q is None else d @ Q.to(x)  # coordinates in the eigenbasis
        return 0.5 * (lam.to(x) * z**2).sum(-1)

    x0 = x_star + 1.0 if start is None else torch.as_tensor(start, dtype=torch.float64)
    return Quadratic(name, fn, x_star, 0.0, x0, eigenvalues=lam, basis=Q)


def rotated_quadratic(condition_number: float = 10.0, n: int = 2, angle: float = math.pi / 6,
                      seed: int = 0) -> Quadratic:
    r"""An ill-conditioned bowl: eigenvalues spaced geometrically from :math:`1/\kappa` to 1.

    In 2-D the eigenvectors are rotated by ``angle``; for ``n > 2`` they are a random
    orthogonal basis drawn with ``seed``. The largest curvature is 1, so gradient descent
    is stable for every learning rate below 2, whatever :math:`\kappa`.
    """
    kappa = _checks.real("condition_number", condition_number)
    if kappa < 1:
        raise ValueError(f"condition_number must be >= 1, got {condition_number!r}")
    n = _checks.positive_int("n", n)
    if n == 1 and kappa != 1:
        raise ValueError(f"condition_number must be 1 when n = 1, got {condition_number!r}")
    lam = torch.logspace(-math.log10(kappa), 0.0, n, dtype=torch.float64) if n > 1 else \
        torch.ones(1, dtype=torch.float64)
    if n == 2:
        c, s = math.cos(angle), math.sin(angle)
        Q = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    else:
        g = torch.Generator().manual_seed(seed)
        Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    start = torch.tensor([-1.6, 1.1], dtype=torch.float64) if n == 2 else torch.ones(n, dtype=torch.float64)
    return quadratic(lam, Q, start=start, name=f"rotated quadratic (κ = {kappa:g})")


def rosenbrock(n: int = 2) -> Objective:
    r"""Chained Rosenbrock, :math:`\sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2`
    (``scipy.optimize.rosen``); minimum 0 at :math:`(1, \dots, 1)`, start :math:`(-1.2, 1, -1.2, 1, \dots)`."""
    n = _checks.positive_int("n", n)
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n!r}")

    def fn(x):
        a, b = x[..., :-1], x[..., 1:]
        return (100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2).sum(-1)

    start = torch.tensor([-1.2, 1.0] * (n // 2) + [-1.2] * (n % 2), dtype=torch.float64)
    return Objective(f"Rosenbrock (n = {n})", fn, torch.ones(n, dtype=torch.float64), 0.0, start)


def saddle() -> Objective:
    r""":math:`f(x, y) = \tfrac12 x^2 + \tfrac14 y^4 - \tfrac12 y^2`: a saddle point at the
    origin (Hessian eigenvalues +1 and −1) between two minima :math:`(0, \pm 1)` of value −1/4."""

    def fn(x):
        return 0.5 * x[..., 0] ** 2 + 0.25 * x[..., 1] ** 4 - 0.5 * x[..., 1] ** 2

    return Objective("saddle", fn, torch.tensor([0.0, 1.0], dtype=torch.float64), -0.25,
                     torch.tensor([1.5, 1e-3], dtype=torch.float64),
                     saddle_point=torch.zeros(2, dtype=torch.float64))


def l1_norm(n: int = 1) -> Objective:
    r""":math:`f(x) = \sum_i |x_i|`: convex but not strongly convex, minimum 0 at the origin."""
    n = _checks.positive_int("n", n)
    zero = torch.zeros(n, dtype=torch.float64)
    return Objective(f"l1 norm (n = {n})", lambda x: x.abs().sum(-1), zero, 0.0, zero + 1.0)


# --- landscapes of chapter 03: a cliff and a mountain ------------------------------------

def _smooth_step(t: torch.Tensor) -> torch.Tensor:
    """0 for t ≤ −1, 1 for t ≥ 1, and ½ + (3t − t³)/4 in between (slope 0 at both ends)."""
    t = t.clamp(-1.0, 1.0)
    return 0.5 + (3.0 * t - t**3) / 4.0


def _ramp(t: torch.Tensor) -> torch.Tensor:
    """0 for t ≤ 0, t²/2 for 0 < t < 1, t − ½ for t ≥ 1: a ramp with a rounded foot."""
    return torch.where(t <= 0, torch.zeros_like(t), torch.where(t < 1, 0.5 * t * t, t - 0.5))


def cliff(height: float = 5.0, width: float = 0.3, curvature: float = 0.2) -> Objective:
    r"""A shallow bowl cut by a cliff (Goodfellow et al., 2016, Figure 8.3):

    .. math::

        f(x, y) = \tfrac{a}{2}\big((x + 1)^2 + y^2\big) + h\, s\!\Big(\frac{x - 1}{w}\Big),

    with :math:`a` = ``curvature``, :math:`h` = ``height``, :math:`w` = ``width`` and the
    smooth step :math:`s(t) = \tfrac12 + \tfrac14(3t - t^3)` on :math:`[-1, 1]` (0 below,
    1 above). For :math:`x > 1 + w` the bowl is raised by :math:`h`: a plateau; on the
    face :math:`|x - 1| < w` the slope reaches :math:`3h/(4w)` (12.5 by default), more
    than ten times the slope of the bowl at the start :math:`(4, 1.5)`, which lies on the
    plateau. Minimum 0 at :math:`(-1, 0)`.
    """
    h = _checks.positive("height", height)
    w = _checks.positive("width", width)
    a = _checks.positive("curvature", curvature)

    def fn(x):
        bowl = 0.5 * a * ((x[..., 0] + 1.0) ** 2 + x[..., 1] ** 2)
        return bowl + h * _smooth_step((x[..., 0] - 1.0) / w)

    return Objective("cliff", fn, torch.tensor([-1.0, 0.0], dtype=torch.float64), 0.0,
                     torch.tensor([4.0, 1.5], dtype=torch.float64))


def mountain(height: float = 1.0, curvature: float = 0.1) -> Objective:
    r"""A bowl with a mountain ridge between the usual start and the minimum (the
    situation of Goodfellow et al., 2016, Figure 8.4, in two dimensions):

    .. math::

        f(x, y) = \tfrac{a}{2}\big((x - 3.5)^2 + y^2\big)
        + h\,\big(1 - (x/3)^2\big)_+^3\, r(3 - y),

    with :math:`a` = ``curvature``, :math:`h` = ``height`` and the ramp :math:`r(t)`
    (0 for :math:`t \le 0`, :math:`t^2/2` up to 1, then :math:`t - \tfrac12`). The ridge
    runs along the :math:`y` axis, :math:`|x| < 3`, grows without bound towards
    :math:`y \to -\infty` and ends at :math:`y = 3`. It is zero at the minimizer
    :math:`(3.5, 0)` (value 0). The start :math:`(-3.5, -0.5)` lies on the far side of
    the ridge: local descent has to go round its end.
    """
    h = _checks.positive("height", height)
    a = _checks.positive("curvature", curvature)

    def fn(x):
        bowl = 0.5 * a * ((x[..., 0] - 3.5) ** 2 + x[..., 1] ** 2)
        across = (1.0 - (x[..., 0] / 3.0) ** 2).clamp(min=0.0) ** 3
        return bowl + h * across * _ramp(3.0 - x[..., 1])

    return Objective("mountain", fn, torch.tensor([3.5, 0.0], dtype=torch.float64), 0.0,
                     torch.tensor([-3.5, -0.5], dtype=torch.float64))
