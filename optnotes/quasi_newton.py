r"""Line-search methods that need only gradients: nonlinear conjugate gradients
(Algorithm 8.9), BFGS and L-BFGS.

All three take a closure (like ``torch.optim.LBFGS``), work on the flattened parameter
vector and share one strong Wolfe line search (:func:`optnotes.line_search.strong_wolfe`).
One ``step(closure)`` runs up to ``max_iter`` iterations, as in ``torch.optim.LBFGS``, and
stops early when :math:`\|g\|_2 \le` ``tolerance_grad``, when a step or the change of the
loss falls below ``tolerance_change``, or after ``max_eval`` evaluations. The state of the
first parameter counts the evaluations (``"func_evals"``) and iterations (``"n_iter"``)
and holds the history, so ``state_dict()`` / ``load_state_dict()`` continue a run exactly.

The closure is the one ``torch.optim.LBFGS`` takes (it zeroes the gradients, computes the
loss, calls ``loss.backward()`` and returns the loss; it may also return the loss without
calling ``backward()``). The vector :math:`\theta` holds every parameter of every group,
in order, so all groups must carry the same hyperparameters; a parameter whose gradient
stays ``None`` does not move.

Chapter: *Second-order methods* (``chapters/06b_conjugate_gradients``).
"""

from __future__ import annotations

import math

import torch

from . import _checks
from ._flat import FlatOptimizer


def _first_trial(g: torch.Tensor, lr: float) -> float:
    """The first step of a run, min(1, 1/‖g‖₁)·ε: at most a unit move along −g."""
    return min(1.0, 1.0 / float(g.abs().sum())) * lr


class ConjugateGradient(FlatOptimizer):
    r"""Nonlinear conjugate gradients: each search direction adds to :math:`-g` a multiple
    of the previous direction, so a line search does not undo the progress of the last.

    The textbook's notation against the arguments: the search direction :math:`\rho_t`
    (:math:`d` in Nocedal & Wright) is the state ``"rho"``, :math:`\beta_t` is chosen by
    ``beta``, the restart period :math:`k` is ``restart_every``, the step
    :math:`\epsilon^*` comes from the strong Wolfe search (``line_search_fn``) started at
    the guess below. Algorithm 8.9:

    .. math::

        \beta_t = \frac{(g_t - g_{t-1})^\top g_t}{g_{t-1}^\top g_{t-1}}
        \;\text{(Polak–Ribière)} \quad\text{or}\quad
        \beta_t = \frac{g_t^\top g_t}{g_{t-1}^\top g_{t-1}} \;\text{(Fletcher–Reeves)},
        \qquad \beta_t \leftarrow 0 \text{ if } k \mid t, \qquad
        \rho_t = -g_t + \beta_t \rho_{t-1}, \qquad
        \epsilon^* \approx \operatorname{argmin}_\epsilon J(\theta_t + \epsilon \rho_t),
        \qquad \theta_{t+1} = \theta_t + \epsilon^* \rho_t .

    Standard safeguards, none in the textbook's box: ``"polak-ribiere"`` is PR+,
    :math:`\beta_t = \max(\beta_t^{PR}, 0)`, which restarts by itself when the new gradient
    undoes the old one (Powell 1986; Gilbert & Nocedal 1992); ``"fletcher-reeves"``
    restarts when :math:`|g_t^\top g_{t-1}| \ge 0.1\, g_t^\top g_t` (Powell 1977), without
    which it creeps along Rosenbrock's valley in tiny steps; a direction that is not a
    descent direction, :math:`g_t^\top \rho_t \ge 0`, is replaced by :math:`-g_t`; and the
    first trial step is :math:`\min(\epsilon, 2.02 (J_t - J_{t-1}) / g_t^\top \rho_t)`,
    the step that would repeat the last decrease (Nocedal & Wright, eq. 3.60), because
    :math:`\rho_t` has no natural unit length. The search asks for
    :math:`|\phi'(\epsilon)| \le 0.1\,|\phi'(0)|` (:math:`c_2 = 0.1`, a nearly exact
    search, as Nocedal & Wright advise for CG; below the 1/2 that Fletcher–Reeves needs
    to guarantee descent). Some summaries put the Fletcher–Reeves label one formula
    too early; the textbook's box uses Polak–Ribière's formula. On a quadratic with exact line searches both choices give
    linear CG, :func:`optnotes.conjugate_gradient`, which needs at most :math:`n` steps.

    **Differences from scipy.** ``scipy.optimize.minimize(method="CG")`` is PR+ with the
    same initial-step guess, a Moré–Thuente search with :math:`c_2 = 0.4` plus a
    sufficient-descent test on the next direction, and stops on :math:`\|g\|_\infty` by
    default (``norm=2`` gives the test used here). ``torch.optim`` has no nonlinear CG.

    Args:
        params: an iterable of tensors or of param-group dicts (all with the same values).
        beta: ``"polak-ribiere"`` (PR+) or ``"fletcher-reeves"``.
        restart_every: :math:`k`, reset :math:`\beta_t = 0` every :math:`k` iterations;
            ``None`` never resets periodically.
        lr: the first trial step :math:`\epsilon` of each line search (the step itself
            when ``line_search_fn=None``).
        max_iter: iterations per ``step()``.
        max_eval: evaluations per ``step()`` (default ``max(max_iter * 5 // 4, 25)``).
        tolerance_grad: stop when :math:`\|g\|_2 \le` this.
        tolerance_change: stop when :math:`\|\epsilon^* d\|_\infty` or the change of the
            loss falls below this.
        line_search_fn: ``"strong_wolfe"`` or ``None`` (fixed steps of ``lr``).

    References: Fletcher & Reeves (1964); Polak & Ribière (1969); Powell (1977, 1986);
    Gilbert & Nocedal (1992); Nocedal & Wright (2006), chapter 5; Goodfellow, Bengio &
    Courville (2016), section 8.6.2.
    """

    _c2 = 0.1

    def __init__(self, params, lr: float = 1.0, beta: str = "polak-ribiere",
                 restart_every: int | None = None, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 line_search_fn: str | None = "strong_wolfe"):
        super().__init__(params, dict(lr=lr, beta=beta, restart_every=restart_every,
                                      max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      line_search_fn=line_search_fn))

    def check_method_group(self, group: dict) -> None:
        if group["beta"] not in ("polak-ribiere", "fletcher-reeves"):
            raise ValueError(f"beta must be 'polak-ribiere' or 'fletcher-reeves', got {group['beta']!r}")
        if group["restart_every"] is not None:
            group["restart_every"] = _checks.positive_int("restart_every", group["restart_every"])

    def _fresh_state(self, group: dict, n: int, like: torch.Tensor) -> dict:
        # the last direction ρ, gradient and loss
        return {**super()._fresh_state(group, n, like), "rho": like.new_zeros(n),
                "g": like.new_zeros(n), "f": math.nan}

    @torch.no_grad()
    def step(self, closure=None):
        """Up to ``max_iter`` iterations of Algorithm 8.9; returns the first ``closure()``."""
        self._check_closure(closure)
        group, state = self._group(), self._state()
        max_iter, lr, k = group["max_iter"], group["lr"], group["restart_every"]
        max_eval = self._max_eval(group)
        ev = self._evaluate(closure)  # g_t ← ∇J(θ_t)
        loss, evals = ev.loss, 1
        for it in range(max_iter):
            if self._small(ev, group):
                break
            state["n_iter"] += 1
            t, g = state["n_iter"], ev.g
            if t == 1:
                beta = 0.0  # ρ_0 = 0, g_0 = 0
            elif group["beta"] == "fletcher-reeves":
                beta = float(g.dot(g) / state["g"].dot(state["g"]))  # β_t = gₜᵀgₜ / gₜ₋₁ᵀgₜ₋₁
                if abs(float(g.dot(state["g"]))) >= 0.1 * float(g.dot(g)):
                    beta = 0.0  # Powell's restart: g_t and g_{t−1} far from orthogonal
            else:  # β_t = max((gₜ − gₜ₋₁)ᵀgₜ / gₜ₋₁ᵀgₜ₋₁, 0)
                beta = max(float((g - state["g"]).dot(g) / state["g"].dot(state["g"])), 0.0)
            if k is not None and t % k == 0:
                beta = 0.0  # reset β_t every k iterations
            rho = -g if beta == 0.0 else -g + beta * state["rho"]  # ρ_t = −g_t + β_t ρ_{t−1}
            gtd = float(g.dot(rho))
            if gtd >= 0:
                rho, gtd = -g, -float(g.dot(g))  # not a descent direction: restart along −g
            if gtd > -group["tolerance_change"]:
                break
            if t == 1:
                eps = _first_trial(g, lr)
            else:  # the step that repeats the last decrease, at most ε
                eps = min(lr, 2.02 * (ev.f - state["f"]) / gtd) if ev.f < state["f"] else lr
            # ε* ≈ argmin_ε J(θ_t + ερ_t);  θ_{t+1} = θ_t + ε* ρ_t
            eps, new, used = self._move(closure, ev, rho, eps, group, max_eval - evals)
            evals += used
            state.update(rho=rho, g=g, f=ev.f)
            ev, evals, stop = self._arrive(closure, ev, new, evals, eps, rho, group, max_eval,
                                           last=it == max_iter - 1)
            if stop:
                break
        return loss


class BFGS(FlatOptimizer):
    r"""BFGS: a line-search method whose direction is :math:`-M_t g_t`, with :math:`M_t`
    an approximation of :math:`H^{-1}` refined by a rank-two update after every step.

    Notation: the inverse-Hessian approximation :math:`M_t` (an :math:`n \times n` matrix,
    :math:`O(n^2)` memory) is the state ``"M"``; :math:`s = \theta_{t+1} - \theta_t`,
    :math:`y = g_{t+1} - g_t`; the step :math:`\epsilon^*` comes from the strong Wolfe
    search (:math:`c_1 = 10^{-4}`, :math:`c_2 = 0.9`). Some presentations write the direction as
    :math:`M_t g_t`; the minus sign makes it point downhill:

    .. math::

        d_t = -M_t g_t, \qquad
        \epsilon^* \approx \operatorname{argmin}_\epsilon J(\theta_t + \epsilon d_t), \qquad
        \theta_{t+1} = \theta_t + \epsilon^* d_t, \qquad
        M_{t+1} = \Bigl(I - \frac{s y^\top}{y^\top s}\Bigr) M_t
                  \Bigl(I - \frac{y s^\top}{y^\top s}\Bigr) + \frac{s s^\top}{y^\top s} .

    :math:`M_0 = I`, so the first step is along :math:`-g` with length
    :math:`\min(1, 1/\|g\|_1)\,\epsilon`; before the first update :math:`M` is rescaled
    to :math:`\tfrac{y^\top s}{y^\top y} I` (Nocedal & Wright, eq. 6.20). A pair with
    :math:`y^\top s \le 10^{-10}` is skipped, so :math:`M` stays positive definite.

    **Differences from scipy.** ``scipy.optimize.minimize(method="BFGS")`` makes the same
    update without the rescaling of :math:`M_0`, starts each search at :math:`1`
    (the first from a guess based on :math:`\|g\|`), uses the Moré–Thuente search, and
    stops on :math:`\|g\|_\infty` by default (``norm=2`` gives the test here).
    ``torch.optim`` has only the limited-memory version.

    Args:
        params: an iterable of tensors or of param-group dicts (all with the same values).
        lr: the first trial step :math:`\epsilon` of each line search (the step itself
            when ``line_search_fn=None``).
        max_iter: iterations per ``step()``.
        max_eval: evaluations per ``step()`` (default ``max(max_iter * 5 // 4, 25)``).
        tolerance_grad: stop when :math:`\|g\|_2 \le` this.
        tolerance_change: stop when :math:`\|\epsilon^* d\|_\infty` or the change of the
            loss falls below this.
        line_search_fn: ``"strong_wolfe"`` or ``None`` (fixed steps of ``lr``).

    References: Broyden (1970); Fletcher (1970); Goldfarb (1970); Shanno (1970);
    Nocedal & Wright (2006), section 6.1; Goodfellow, Bengio & Courville (2016), 8.6.3.
    """

    def __init__(self, params, lr: float = 1.0, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 line_search_fn: str | None = "strong_wolfe"):
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      line_search_fn=line_search_fn))

    def check_method_group(self, group: dict) -> None:
        pass

    def _fresh_state(self, group: dict, n: int, like: torch.Tensor) -> dict:
        # M, whether M_0 was rescaled, and the last direction, step and gradient
        return {**super()._fresh_state(group, n, like),
                "M": torch.eye(n, dtype=like.dtype, device=like.device), "scaled": False,
                "d": like.new_zeros(n), "t": 0.0, "g": like.new_zeros(n)}

    @torch.no_grad()
    def step(self, closure=None):
        """Up to ``max_iter`` BFGS iterations; returns the first ``closure()``."""
        self._check_closure(closure)
        group, state = self._group(), self._state()
        max_iter, lr = group["max_iter"], group["lr"]
        max_eval = self._max_eval(group)
        ev = self._evaluate(closure)  # g_t ← ∇J(θ_t)
        loss, evals = ev.loss, 1
        for it in range(max_iter):
            if self._small(ev, group):
                break
            state["n_iter"] += 1
            g = ev.g
            if state["n_iter"] == 1:
                state["M"], state["scaled"] = torch.eye(g.numel(), dtype=g.dtype, device=g.device), False
            else:
                M = state["M"]
                s = state["d"] * state["t"]  # s = θ_{t+1} − θ_t
                y = g - state["g"]  # y = g_{t+1} − g_t
                ys = float(y.dot(s))
                if ys > 1e-10:
                    if not state["scaled"]:  # M_0 ← (yᵀs / yᵀy) I
                        M.mul_(ys / float(y.dot(y)))
                        state["scaled"] = True
                    # M ← (I − ρ s yᵀ) M (I − ρ y sᵀ) + ρ s sᵀ,  ρ = 1/yᵀs, expanded:
                    # M ← M − ρ (s (My)ᵀ + (My) sᵀ) + (ρ² yᵀMy + ρ) s sᵀ
                    rho, My = 1.0 / ys, M @ y
                    M.addr_(s, My, alpha=-rho).addr_(My, s, alpha=-rho)
                    M.addr_(s, s, alpha=rho * rho * float(y.dot(My)) + rho)
            d = -(state["M"] @ g)  # d_t = −M_t g_t
            if float(g.dot(d)) > -group["tolerance_change"]:
                break
            t = _first_trial(g, lr) if state["n_iter"] == 1 else lr
            # ε* ≈ argmin_ε J(θ_t + ε d_t);  θ_{t+1} = θ_t + ε* d_t
            t, new, used = self._move(closure, ev, d, t, group, max_eval - evals)
            evals += used
            state.update(d=d, t=t, g=g)
            ev, evals, stop = self._arrive(closure, ev, new, evals, t, d, group, max_eval,
                                           last=it == max_iter - 1)
            if stop:
                break
        return loss


class LBFGS(FlatOptimizer):
    r"""L-BFGS: BFGS that never stores :math:`M`, but applies it to :math:`g` from the
    last :math:`l` pairs :math:`(s, y)` with the two-loop recursion (:math:`O(ln)` memory).

    Notation: the history size :math:`l` is ``history_size``; the pairs
    :math:`s_i = \theta_{i+1} - \theta_i`, :math:`y_i = g_{i+1} - g_i` and
    :math:`\rho_i = 1/y_i^\top s_i`; the initial matrix :math:`M^0 = \gamma I`,
    :math:`\gamma = s^\top y / y^\top y` of the newest pair, has :math:`\gamma` in
    ``"gamma"``. The textbook's :math:`M^{t-1} = I` becomes this scaled identity (Nocedal &
    Wright, eq. 7.20). Algorithm 7.4 of Nocedal & Wright, newest pair :math:`k-1`:

    .. math::

        q \leftarrow g; \quad
        a_i \leftarrow \rho_i s_i^\top q,\; q \leftarrow q - a_i y_i \;\;
        (i = k-1, \dots, k-l); \quad
        r \leftarrow \gamma q; \quad
        b \leftarrow \rho_i y_i^\top r,\; r \leftarrow r + (a_i - b) s_i \;\;
        (i = k-l, \dots, k-1); \quad
        d = -r, \quad \theta \leftarrow \theta + \epsilon^* d .

    The first direction is :math:`-g` with step :math:`\min(1, 1/\|g\|_1)\,\epsilon`,
    later searches start at :math:`\epsilon`, and a pair with
    :math:`y^\top s \le 10^{-10}` is not stored.

    **How it is stored.** The pairs live in two preallocated buffers of :math:`l + 1` rows
    that are written in turn (a ring): the row after the newest pair is always free, the
    next :math:`s` and :math:`y` are computed straight into it, and once it holds a pair
    the row of the oldest becomes the free one (when :math:`l` are kept). Storing a pair
    thus writes :math:`2n` numbers; the history is never copied or re-allocated. State:
    ``"s"``, ``"y"`` (:math:`(l + 1) \times n`, row :math:`i` holds :math:`s_i`,
    :math:`y_i`), ``"rho"`` (the list of the :math:`\rho_i`, by row), ``"order"`` (the
    rows that hold pairs, oldest first), ``"gamma"``, and the last direction, step and
    gradient ``"d"``, ``"t"``, ``"g"``. A history size changed between calls takes effect
    at the next ``step()``, which keeps the newest pairs.

    **How the loops are run.** As written: one inner product and one vector update per
    pair, in the order and with the rounding of ``torch.optim.LBFGS``. For moderate
    :math:`n` these :math:`4l` small operations cost mostly PyTorch's per-call overhead,
    which inference mode lowers. Their inner products could instead be assembled from the
    numbers :math:`s_i^\top y_j`, kept as pairs arrive, and from :math:`Sg` and
    :math:`Yq` (two matrix-vector products; Byrd, Nocedal & Schnabel 1994), but measured
    here that saves little, and it rounds differently: on a chaotic path such as the
    chained Rosenbrock's, a last-bit difference grows until the iterates part after a few
    dozen steps.

    **Differences from PyTorch and scipy.** With ``line_search_fn="strong_wolfe"``,
    ``torch.optim.LBFGS`` makes the same choices (first step, pair skipping,
    :math:`\gamma`, a cubic-interpolation Wolfe search ported from minFunc); the searches
    differ in two details (see :func:`~optnotes.line_search.strong_wolfe`) and
    torch tests :math:`\|g\|_\infty`, not :math:`\|g\|_2`, so the iterates agree to
    rounding until a search hits one of those details. torch's default is
    ``line_search_fn=None`` and ``history_size=100``; each extra ``step()`` call
    re-evaluates the closure, as here. ``scipy``'s ``L-BFGS-B`` (with ``maxcor`` as
    :math:`l`, default 10) handles bounds, uses the Moré–Thuente search, and stops on the
    projected gradient's :math:`\|\cdot\|_\infty` (``gtol``) or on a relative decrease of
    :math:`J` (``ftol``).

    Args:
        params: an iterable of tensors or of param-group dicts (all with the same values).
        history_size: :math:`l \ge 1`.
        lr: the first trial step :math:`\epsilon` of each line search (the step itself
            when ``line_search_fn=None``).
        max_iter: iterations per ``step()``.
        max_eval: evaluations per ``step()`` (default ``max(max_iter * 5 // 4, 25)``).
        tolerance_grad: stop when :math:`\|g\|_2 \le` this.
        tolerance_change: stop when :math:`\|\epsilon^* d\|_\infty` or the change of the
            loss falls below this.
        line_search_fn: ``"strong_wolfe"`` or ``None`` (fixed steps of ``lr``).

    References: Nocedal (1980); Liu & Nocedal (1989); Byrd, Nocedal & Schnabel (1994);
    Nocedal & Wright (2006), section 7.2; Goodfellow, Bengio & Courville (2016), 8.6.3.
    """

    def __init__(self, params, lr: float = 1.0, history_size: int = 10, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, line_search_fn: str | None = "strong_wolfe"):
        super().__init__(params, dict(lr=lr, history_size=history_size, max_iter=max_iter,
                                      max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      line_search_fn=line_search_fn))

    def check_method_group(self, group: dict) -> None:
        group["history_size"] = _checks.positive_int("history_size", group["history_size"])

    def _fresh_state(self, group: dict, n: int, like: torch.Tensor) -> dict:
        # the ring of l + 1 rows (no pairs yet), γ, and the last direction, step and gradient
        l = group["history_size"]
        return {**super()._fresh_state(group, n, like), "s": like.new_zeros(l + 1, n),
                "y": like.new_zeros(l + 1, n), "rho": [0.0] * (l + 1), "order": [],
                "gamma": 1.0, "d": like.new_zeros(n), "t": 0.0, "g": like.new_zeros(n)}

    def _state_spec(self, p: torch.Tensor, group: dict) -> dict:
        spec = super()._state_spec(p, group)
        if spec:  # "order" lists the rows that hold pairs: at most l of them
            spec["order"] = (group["history_size"],), torch.int64
        return spec

    @staticmethod
    def _ring(state: dict, g: torch.Tensor, l: int) -> tuple[tuple, tuple]:
        """The rows of the ring buffers ``"s"``, ``"y"`` (views), made or resized for l pairs."""
        if "s" not in state:  # no pairs yet
            state.update(s=g.new_zeros(l + 1, g.numel()), y=g.new_zeros(l + 1, g.numel()),
                         rho=[0.0] * (l + 1), order=[])
        elif len(state["s"]) != l + 1:  # history_size changed: keep the newest l pairs
            keep = state["order"][-l:]
            s, y = g.new_zeros(l + 1, g.numel()), g.new_zeros(l + 1, g.numel())
            s[:len(keep)], y[:len(keep)] = state["s"][keep], state["y"][keep]
            rho = [state["rho"][i] for i in keep]
            state.update(s=s, y=y, rho=rho + [0.0] * (l + 1 - len(keep)),
                         order=list(range(len(keep))))
        return state["s"].unbind(), state["y"].unbind()

    @staticmethod
    def _store_pair(state: dict, S: tuple, Y: tuple, g: torch.Tensor) -> None:
        """Store the pair of the last step in the free row of the ring, unless yᵀs ≤ 1e-10."""
        order = state["order"]
        i = (order[-1] + 1) % len(S) if order else 0  # the free row
        s = torch.mul(state["d"], state["t"], out=S[i])  # s = θ_k − θ_{k−1}
        y = torch.sub(g, state["g"], out=Y[i])  # y = g_k − g_{k−1}
        ys = y.dot(s)
        ys_value = ys.item()
        if not ys_value > 1e-10:
            return  # skipped: row i stays free
        if len(order) == len(S) - 1:
            order.pop(0)  # l pairs kept: the oldest goes, its row is the next free one
        order.append(i)
        state["rho"][i] = ys.reciprocal().item()  # ρ = 1/yᵀs (in θ's dtype, as torch)
        state["gamma"] = ys_value / y.dot(y).item()  # γ = sᵀy / yᵀy

    @staticmethod
    def _two_loop(state: dict, S: tuple, Y: tuple, g: torch.Tensor) -> torch.Tensor:
        """d = −r, r = M g by the two-loop recursion over the pairs in the rows ``S``, ``Y``.

        Inference mode makes each of the 4l small operations cheaper; q and r stay inside it.
        """
        rho, order = state["rho"], state["order"]
        with torch.inference_mode():
            q, a = g.clone(), [0.0] * len(S)  # q ← g
            for i in reversed(order):  # i = k−1, …, k−l
                a[i] = rho[i] * S[i].dot(q).item()  # a_i ← ρ_i s_iᵀ q
                q.add_(Y[i], alpha=-a[i])  # q ← q − a_i y_i
            r = q.mul_(state["gamma"])  # r ← γ q
            for i in order:  # i = k−l, …, k−1
                b = rho[i] * Y[i].dot(r).item()  # b ← ρ_i y_iᵀ r
                r.add_(S[i], alpha=a[i] - b)  # r ← r + (a_i − b) s_i
        return r.neg()  # d = −r

    @torch.no_grad()
    def step(self, closure=None):
        """Up to ``max_iter`` L-BFGS iterations; returns the first ``closure()``."""
        self._check_closure(closure)
        group, state = self._group(), self._state()
        max_iter, lr, l = group["max_iter"], group["lr"], group["history_size"]
        max_eval = self._max_eval(group)
        ev = self._evaluate(closure)  # g ← ∇J(θ)
        loss, evals = ev.loss, 1
        for it in range(max_iter):
            if self._small(ev, group):
                break
            state["n_iter"] += 1
            g = ev.g
            if it == 0:  # the rows s_i, y_i of the ring (views), once per call
                S, Y = self._ring(state, g, l)
            if state["n_iter"] == 1:  # no pairs yet: M⁰ = I
                state["gamma"] = 1.0
            else:
                self._store_pair(state, S, Y, g)
            d = self._two_loop(state, S, Y, g)
            gtd = g.dot(d).item()
            if gtd > -group["tolerance_change"]:
                break
            t = _first_trial(g, lr) if state["n_iter"] == 1 else lr
            t, new, used = self._move(closure, ev, d, t, group, max_eval - evals,
                                      gtd=gtd)  # θ ← θ + ε* d
            evals += used
            state.update(d=d, t=t, g=g)
            ev, evals, stop = self._arrive(closure, ev, new, evals, t, d, group, max_eval,
                                           last=it == max_iter - 1)
            if stop:
                break
        return loss
