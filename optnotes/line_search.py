r"""The strong Wolfe line search that every line-search method of ``optnotes`` shares.

:class:`~optnotes.ConjugateGradient`, :class:`~optnotes.BFGS`, :class:`~optnotes.LBFGS`,
:class:`~optnotes.NewtonCG` (and the other closure-driven methods when they are given
``line_search_fn="strong_wolfe"``) pick the step length :math:`\epsilon^*` along a search
direction :math:`d` with :func:`strong_wolfe`.

Chapter: *Second-order methods* (``chapters/06b_conjugate_gradients``).
"""

from __future__ import annotations

import math
from typing import Callable

import torch


def cubic_minimizer(a: float, fa: float, da: float, b: float, fb: float, db: float,
                    lo: float, hi: float) -> float:
    r"""The minimizer, clipped to ``[lo, hi]``, of the cubic through two points.

    The cubic interpolates :math:`\phi(a) = f_a`, :math:`\phi'(a) = d_a`,
    :math:`\phi(b) = f_b`, :math:`\phi'(b) = d_b` (Nocedal & Wright, 2006, eq. 3.59).
    When the cubic has no minimizer (negative discriminant) the midpoint of
    ``[lo, hi]`` is returned; when the two points coincide, that point.
    """
    if not all(math.isfinite(v) for v in (a, fa, da, b, fb, db)):
        return 0.5 * (lo + hi)  # a NaN or infinite trial: bisect
    if a == b:
        return min(max(a, lo), hi)
    if a > b:  # anchor the formula at the larger point
        a, fa, da, b, fb, db = b, fb, db, a, fa, da
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if disc < 0:
        return 0.5 * (lo + hi)
    d2 = math.sqrt(disc)
    denominator = db - da + 2.0 * d2
    if denominator == 0:
        return 0.5 * (lo + hi)
    t = b - (b - a) * ((db + d2 - d1) / denominator)
    return min(max(t, lo), hi)


def strong_wolfe(evaluate: Callable[[float], tuple[float, torch.Tensor]], t: float, f: float,
                 g: torch.Tensor, d: torch.Tensor, c1: float = 1e-4, c2: float = 0.9,
                 max_evals: int = 25, tolerance_change: float = 1e-9, dphi0: float | None = None
                 ) -> tuple[float, float, torch.Tensor, int]:
    r"""A step length :math:`t` along :math:`d` that satisfies the strong Wolfe conditions.

    With :math:`\phi(t) = J(\theta + t d)` and a descent direction,
    :math:`\phi'(0) = g^\top d < 0`, the conditions are

    .. math::

        \phi(t) \le \phi(0) + c_1 t \phi'(0) \quad\text{(sufficient decrease)}, \qquad
        |\phi'(t)| \le c_2 |\phi'(0)| \quad\text{(curvature)} .

    Nocedal & Wright (2006), Algorithms 3.5 and 3.6: a *bracketing* phase tries
    :math:`t` and, while :math:`\phi` still decreases steeply, extrapolates to the
    minimizer of the cubic through the last two trials, kept inside
    :math:`[t + 0.01 (t - t_{\text{prev}}),\, 10 t]`; once an interval is known to contain
    acceptable steps, a *zoom* phase shrinks it with cubic interpolation. A trial that
    falls within 10% of the interval's ends twice in a row is moved to 10% from the
    nearer end, so the interval keeps shrinking. These are the choices of minFunc's
    ``WolfeLineSearch`` (Schmidt, 2005), which ``torch.optim.LBFGS`` also ports; its
    bracketing phase tests :math:`\phi(t) \ge \phi(t_{\text{prev}})` only from the third
    trial, and after a failed trial in the zoom phase it may make that trial the low end
    of the interval; here both follow Nocedal & Wright. A trial where :math:`\phi` or
    :math:`\phi'` is NaN or infinite counts as too long (sufficient decrease fails), so
    the search backs off from it by bisection (torch's search does not test for it).
    ``scipy.optimize`` uses the Moré–Thuente search of MINPACK-2 (``dcsrch``), another
    safeguarded interpolation.

    Args:
        evaluate: ``evaluate(t)`` returns :math:`\phi(t)` (a float) and the flat gradient
            :math:`\nabla J(\theta + t d)`.
        t: the first trial step.
        f: :math:`\phi(0)`.
        g: the flat gradient at :math:`t = 0`.
        d: the search direction.
        c1: :math:`c_1` of the sufficient-decrease condition.
        c2: :math:`c_2` of the curvature condition, :math:`c_1 < c_2 < 1`.
        max_evals: the most calls of ``evaluate``.
        tolerance_change: stop when the interval is shorter than this (in
            :math:`\|t d\|_\infty`).
        dphi0: :math:`\phi'(0) = g^\top d` when the caller has computed it already.

    Returns:
        ``(t, f_t, g_t, evals)``: the step, :math:`\phi(t)`, the gradient there and the
        number of calls of ``evaluate``. When ``max_evals`` runs out first, the best point
        found (possibly :math:`t = 0`, with ``f`` and ``g``) is returned.

    References: Nocedal & Wright (2006), *Numerical Optimization*, section 3.5;
    Moré & Thuente (1994), *Line search algorithms with guaranteed sufficient decrease*.
    """
    if dphi0 is None:
        dphi0 = float(g.dot(d))  # φ'(0)
    # sufficient decrease fails (also where φ(t) is NaN: a trial there is too long)
    armijo = lambda t_, f_: not f_ <= f + c1 * t_ * dphi0  # noqa: E731
    curvature = lambda dphi: abs(dphi) <= -c2 * dphi0  # noqa: E731  (curvature condition holds)

    # --- bracketing (Algorithm 3.5): find an interval that contains acceptable steps
    prev = (0.0, f, g, dphi0)  # (t, φ(t), ∇J, φ'(t)) of the previous trial
    f_t, g_t = evaluate(t)
    evals = 1
    while True:
        cur = (t, f_t, g_t, float(g_t.dot(d)))
        if armijo(t, f_t) or not math.isfinite(cur[3]) or (evals > 1 and f_t >= prev[1]):
            lo, hi = prev, cur  # the minimizer lies between the previous and this trial
            break
        if curvature(cur[3]):
            return t, f_t, g_t, evals  # both conditions hold
        if cur[3] >= 0:
            lo, hi = cur, prev  # φ turned upwards: this trial is the low end
            break
        if evals >= max_evals:
            return t, f_t, g_t, evals  # still descending: the best point found so far
        # extrapolate: minimizer of the cubic through the last two trials
        t_next = cubic_minimizer(prev[0], prev[1], prev[3], t, f_t, cur[3],
                                 t + 0.01 * (t - prev[0]), 10.0 * t)
        prev, t = cur, t_next
        f_t, g_t = evaluate(t)
        evals += 1

    # --- zoom (Algorithm 3.6): shrink [lo, hi] until a trial satisfies both conditions
    d_norm = float(d.abs().max())  # ‖d‖_∞, to measure the interval in θ
    insufficient = False
    while evals < max_evals and abs(hi[0] - lo[0]) * d_norm >= tolerance_change:
        a, b = min(lo[0], hi[0]), max(lo[0], hi[0])
        t = cubic_minimizer(lo[0], lo[1], lo[3], hi[0], hi[1], hi[3], a, b)
        margin = 0.1 * (b - a)
        if min(b - t, t - a) < margin:  # too close to an end: progress may stall
            if insufficient or t >= b or t <= a:
                t = b - margin if abs(t - b) < abs(t - a) else a + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_t, g_t = evaluate(t)
        evals += 1
        cur = (t, f_t, g_t, float(g_t.dot(d)))
        if armijo(t, f_t) or not math.isfinite(cur[3]) or f_t >= lo[1]:
            hi = cur  # t becomes the high end
        else:
            if curvature(cur[3]):
                return t, f_t, g_t, evals  # both conditions hold
            if cur[3] * (hi[0] - lo[0]) >= 0:
                hi = lo  # φ rises from t towards the old high end: keep the other side
            lo = cur  # t becomes the low end
    return lo[0], lo[1], lo[2], evals
