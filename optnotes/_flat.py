r"""The flat parameter vector that the closure-driven (second-order) methods work on.

:class:`FlatOptimizer` is the base of :class:`~optnotes.Newton`,
:class:`~optnotes.NewtonCG`, :class:`~optnotes.SaddleFreeNewton`,
:class:`~optnotes.ConjugateGradient`, :class:`~optnotes.BFGS`, :class:`~optnotes.LBFGS` and
:class:`~optnotes.NaturalGradient`. Like ``torch.optim.LBFGS`` it treats every parameter
of every group as one vector :math:`\theta` (concatenated in the order of
``param_groups``), calls a closure that re-evaluates the loss, and keeps its state on the
first parameter. Parameters whose gradient stays ``None`` count as zero gradient, so they
do not move.

**The closure.** It is the closure of ``torch.optim.LBFGS``: it zeroes the gradients,
computes the loss, calls ``loss.backward()`` and returns the loss. As in torch, the
gradient is whatever the closure leaves in ``.grad`` (gradients set by hand included; a
``None`` gradient counts as zero) and the loss may be a tensor or a plain number. The
closure may also just return the loss without calling ``backward()`` (leaving each
gradient ``None`` or as it was); the optimizer then differentiates it. The Newton family needs the graph of
the gradient (below), so a closure that leaves none (gradients set by hand, a plain
number) makes their ``step()`` fail with a message saying so, unless the gradient is
already small enough to stop.

**Where Hessian-vector products come from.** A method that needs :math:`Hv` evaluates the
closure inside :class:`CreateGraph`, a ``torch.overrides.TorchFunctionMode`` under which
the closure's ``loss.backward()`` runs as ``loss.backward(create_graph=True)``. The
gradients then keep their graph, and :math:`Hv = \nabla_\theta (g^\top v)` is one more
backward pass through it (double backward, Pearlmutter 1994) — with the very closure
``torch.optim.LBFGS`` takes. ``curvature.py`` computes the same products for a function
of a flat vector with ``torch.func``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from typing import Callable, NamedTuple

import torch
from torch.overrides import TorchFunctionMode

from . import _checks
from ._optimizer import Optimizer
from .line_search import strong_wolfe


def _spec_of(value) -> tuple[tuple[int, ...], torch.dtype]:
    """``(shape, dtype)`` of a state value: a tensor's own, ``()`` for a Python number,
    ``(n,)`` for a list of n numbers."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape), value.dtype
    if isinstance(value, bool):
        return (), torch.bool
    if isinstance(value, int):
        return (), torch.int64
    if isinstance(value, float):
        return (), torch.float64
    return (len(value),), torch.float64


class Evaluation(NamedTuple):
    """One call of the closure: its loss, :math:`J(\\theta)` as a float, the flat gradient
    (detached) and, when asked for, the per-parameter gradients that keep their graph
    (None, with the reason in ``no_graph``, when the closure left no graph)."""

    loss: torch.Tensor
    f: float
    g: torch.Tensor
    grads: list | None
    no_graph: str | None = None  # why ``grads`` is None when a graph was asked for


class CreateGraph(TorchFunctionMode):
    """Inside this mode ``tensor.backward(...)`` runs with ``create_graph=True``."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is torch.Tensor.backward:
            kwargs["create_graph"] = True
        return func(*args, **kwargs)


@contextlib.contextmanager
def _create_graph():
    """:class:`CreateGraph`, without torch's warning that ``backward(create_graph=True)``
    makes a reference cycle (:meth:`FlatOptimizer._evaluate` breaks it)."""
    with warnings.catch_warnings(), CreateGraph():
        warnings.filterwarnings("ignore", message=r"Using backward\(\) with create_graph")
        yield


class FlatOptimizer(Optimizer):
    """Base class: one flat vector, a closure, and the stopping rules of ``torch.optim.LBFGS``.

    Every group must carry the same hyperparameters (the method sees one vector, so a
    per-group value could not mean anything); a group that differs is rejected. Complex
    parameters are rejected at construction (``TypeError`` naming the dtype).
    Subclasses validate their own arguments in :meth:`check_method_group`.
    """

    _c2 = 0.9  # curvature constant of the strong Wolfe search (quasi-Newton methods)
    supports_complex = False  # one real vector θ; complex parameters are rejected

    def _arrive(self, closure, ev, new, evals: int, t: float, d, group: dict, max_eval: int,
                last: bool, graph: bool = False):
        """After a move by ``t·d``: the evaluation at the new point (the line search's last
        one, else a fresh one unless this was the last iteration), the evaluation count, and
        whether to stop (budget spent, or too little progress)."""
        if new is None:
            if last:
                return ev, evals, True
            new, evals = self._evaluate(closure, graph=graph), evals + 1
        return new, evals, evals >= max_eval or self._stalled(new, ev.f, t, d, group)

    @staticmethod
    def _max_eval(group: dict) -> int:
        """Closure calls allowed per ``step()``: ``max_eval``, else torch's ``max_iter·5/4``
        but at least 25, so a line search has room even when ``max_iter`` is 1 (with
        torch's default, ``max_iter=1`` leaves the line search one trial and θ never moves)."""
        return group["max_eval"] or max(group["max_iter"] * 5 // 4, 25)

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["max_iter"] = _checks.positive_int("max_iter", group["max_iter"])
        if group["max_eval"] is not None:
            group["max_eval"] = _checks.positive_int("max_eval", group["max_eval"])
        group["tolerance_grad"] = _checks.nonnegative("tolerance_grad", group["tolerance_grad"])
        group["tolerance_change"] = _checks.nonnegative("tolerance_change", group["tolerance_change"])
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"line_search_fn must be None or 'strong_wolfe', "
                             f"got {group['line_search_fn']!r}")
        self.check_method_group(group)
        self._same_as_first(group)

    def check_method_group(self, group: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _same_as_first(self, group: dict) -> None:
        first = self.param_groups[0]
        for key, value in group.items():
            if key != "params" and value != first[key]:
                raise ValueError(
                    f"{type(self).__name__} works on one flattened vector, so every param group "
                    f"must have the same {key}; got {key}={value!r} in a group and "
                    f"{key}={first[key]!r} in the first")

    def _group(self) -> dict:
        """The hyperparameters (those of the first group, after checking the others agree),
        with a tensor ``lr`` read as a number (once per ``step()``; the closure-based methods
        read the loss on the host anyway)."""
        for group in self.param_groups[1:]:
            self._same_as_first(group)
        first = self.param_groups[0]
        if isinstance(first["lr"], torch.Tensor):
            return {**first, "lr": float(first["lr"])}
        return first

    def _check_closure(self, closure) -> None:
        if not callable(closure):
            raise TypeError(f"{type(self).__name__}.step needs closure, a function that "
                            "re-evaluates the model and returns the loss (as for "
                            f"torch.optim.LBFGS); got closure={closure!r}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """``torch.optim.Optimizer.zero_grad`` without its profiler scope and foreach grouping.

        The closure calls it at every evaluation, where :meth:`_evaluate` has already set the
        gradients to ``None``, so it is usually a no-op and should cost nothing.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    # --- the flat vector θ -----------------------------------------------------------------

    def _params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def _state(self) -> dict:
        """The optimizer's state, kept on the first parameter (as ``torch.optim.LBFGS`` does),
        made whole by :meth:`_fresh_state` at the first step."""
        params = self._params()
        state = self.state[params[0]]
        if not state:
            n = sum(p.numel() for p in params)
            dtype = functools.reduce(torch.promote_types, [p.dtype for p in params])
            like = torch.empty(0, dtype=dtype, device=params[0].device)
            state.update(self._fresh_state(self.param_groups[0], n, like))
        return state

    def _fresh_state(self, group: dict, n: int, like: torch.Tensor) -> dict:
        """The state a run starts with, for a flat vector of ``n`` numbers typed and placed
        like ``like``: the counts of closure calls and iterations. Subclasses add theirs (a
        number not known yet is NaN), so a stepped optimizer always holds every key."""
        return {"func_evals": 0, "n_iter": 0}

    def _state_spec(self, p: torch.Tensor, group: dict) -> dict:
        """The whole state lives on the first parameter: the keys of :meth:`_fresh_state`
        (vectors of the flat length, a Python number as a scalar); the others have none."""
        params = self._params()
        if p is not params[0]:
            return {}
        like = torch.empty(0, dtype=p.dtype, device="meta")
        fresh = self._fresh_state(group, sum(q.numel() for q in params), like)
        return {key: _spec_of(value) for key, value in fresh.items()}

    @staticmethod
    def _flat(tensors: list, like: list) -> torch.Tensor:
        """The tensors concatenated into one vector; ``None`` counts as zeros shaped like
        ``like``, and a sparse gradient (``nn.Embedding(sparse=True)``) is made dense, as
        ``torch.optim.LBFGS`` does."""
        tensors = [t.to_dense() if t is not None and t.is_sparse else t for t in tensors]
        if len(tensors) == 1 and tensors[0] is not None:  # one tensor: a flat copy
            return (tensors[0] if tensors[0].dim() == 1 else tensors[0].reshape(-1)).clone()
        return torch.cat([p.new_zeros(p.numel()) if t is None else t.reshape(-1)
                          for t, p in zip(tensors, like)])

    @staticmethod
    def _get(params: list) -> torch.Tensor:
        if len(params) == 1 and params[0].dim() == 1:  # θ is one vector
            return params[0].detach().clone()
        return torch.cat([p.detach().reshape(-1) for p in params])

    @staticmethod
    def _set(params: list, x: torch.Tensor, t: float = 0.0, d: torch.Tensor | None = None) -> None:
        """θ ← x + t d (θ ← x without ``d``)."""
        if len(params) == 1 and params[0].dim() == 1:  # θ is one vector: write into it
            if d is None:
                params[0].copy_(x)
            else:
                torch.add(x, d, alpha=t, out=params[0])
            return
        if d is not None:
            x = torch.add(x, d, alpha=t)
        for p, piece in zip(params, x.split([p.numel() for p in params])):
            p.copy_(piece.view_as(p))

    @staticmethod
    def _add(params: list, t: float, d: torch.Tensor) -> None:
        """θ ← θ + t d."""
        for p, piece in zip(params, d.split([p.numel() for p in params])):
            p.add_(piece.view_as(p), alpha=t)

    # --- evaluations --------------------------------------------------------------------------

    def _evaluate(self, closure: Callable, graph: bool = False) -> Evaluation:
        """Call the closure at the current θ (one function-and-gradient evaluation).

        As in ``torch.optim.LBFGS`` the gradient is what the closure leaves in ``.grad``
        (``None`` counts as zero; gradients set by hand count too), and the loss may be a
        plain number. If the closure computes no gradient (each is None or as it was) and
        returns a loss with a graph, the loss is differentiated here. With ``graph=True`` the
        gradients keep their graph for Hessian-vector products when there is one. Each
        parameter's ``.grad`` is left holding its (detached) gradient.
        """
        params = self._params()
        before = [(p.grad, None if p.grad is None else p.grad._version) for p in params]
        hess_grads, no_graph = None, None
        with torch.enable_grad(), (_create_graph() if graph else contextlib.nullcontext()):
            loss = closure()
            differentiable = isinstance(loss, torch.Tensor) and loss.requires_grad
            computed = any(p.grad is not None and (p.grad is not g or p.grad._version != v)
                           for p, (g, v) in zip(params, before))
            if differentiable and not computed:  # the loss, returned without backward()
                grads = list(torch.autograd.grad(loss, params, create_graph=graph,
                                                 allow_unused=True))
            else:
                grads = [p.grad for p in params]
            if graph:
                hess_grads, no_graph = self._graph_of(loss, params, grads, differentiable)
        for p, g in zip(params, grads):
            if g is not None and (g.requires_grad or g is not p.grad):
                p.grad = g.detach()  # also breaks the p → p.grad → graph cycle
        state = self.state[params[0]]
        state["func_evals"] = state.get("func_evals", 0) + 1
        f = float(loss.detach() if isinstance(loss, torch.Tensor) else loss)
        return Evaluation(loss, f, self._flat([p.grad for p in params], params),
                          hess_grads, no_graph)

    def _graph_of(self, loss, params: list, grads: list, differentiable: bool):
        """The gradients with their graph, for Hv, or None and the reason there is none.

        Gradients without a graph mean either a gradient that does not depend on θ (a loss
        linear in θ, H = 0) or a graph that was never built or already freed; a second
        ``torch.autograd.grad`` of the loss tells the two apart.
        """
        if any(g is not None and g.requires_grad for g in grads):
            return grads, None
        if differentiable:
            try:
                again = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
                return list(again), None  # none depends on θ: H = 0
            except RuntimeError:
                pass  # the closure's backward freed the graph
        return None, (
            f"{type(self).__name__} needs the Hessian, from Hessian-vector products through "
            "the graph of the gradient, but the closure left gradients without one (it "
            f"returned {loss!r}): let the closure call loss.backward() (run here with "
            "create_graph=True) or return the loss without calling backward(); gradients set "
            "by hand, a loss returned as a plain number, or torch.autograd.backward/grad "
            "called inside the closure give no graph")

    def _hvp(self, ev: Evaluation) -> Callable[[torch.Tensor], torch.Tensor]:
        """v ↦ Hv, by differentiating gᵀv once more through the graph of ``ev.grads``."""
        params, state = self._params(), self._state()
        state.setdefault("hvp_evals", 0)
        self._need_graph(ev)
        live = self._live(ev)

        def hvp(v: torch.Tensor) -> torch.Tensor:
            state["hvp_evals"] += 1
            if not live:  # the gradient does not depend on θ: H = 0
                return torch.zeros_like(v)
            pieces = v.split([p.numel() for p in params])
            with torch.enable_grad():
                hv = torch.autograd.grad([g for _, g in live], params,
                                         [pieces[i].view_as(g) for i, g in live],
                                         retain_graph=True, allow_unused=True)
            return self._flat(list(hv), params)

        return hvp

    @staticmethod
    def _live(ev: Evaluation) -> list:
        """``(index, gradient)`` of each gradient that depends on θ (a sparse one made dense,
        keeping its graph)."""
        with torch.enable_grad():
            return [(i, g.to_dense() if g.is_sparse else g) for i, g in enumerate(ev.grads)
                    if g is not None and g.requires_grad]

    @staticmethod
    def _need_graph(ev: Evaluation) -> None:
        if ev.grads is None:
            raise RuntimeError(ev.no_graph)

    def _hessian(self, ev: Evaluation) -> torch.Tensor:
        """The dense Hessian, all n Hessian-vector products in one batched backward pass."""
        params, state = self._params(), self._state()
        n = sum(p.numel() for p in params)
        self._need_graph(ev)
        state["hvp_evals"] = state.get("hvp_evals", 0) + n
        live = self._live(ev)
        if not live:
            return params[0].new_zeros(n, n)
        eye = torch.eye(n, dtype=params[0].dtype, device=params[0].device)
        columns = eye.split([p.numel() for p in params], dim=1)
        if any(g is not None and g.is_sparse for g in ev.grads):
            # a sparse gradient's backward has no batched form: one product per column
            with torch.enable_grad():
                cols = [torch.autograd.grad([g for _, g in live], params,
                                            [columns[i][j].view_as(g) for i, g in live],
                                            retain_graph=True, allow_unused=True)
                        for j in range(n)]
            return torch.stack([self._flat(list(c), params) for c in cols])
        with torch.enable_grad():
            rows = torch.autograd.grad([g for _, g in live], params,
                                       [columns[i].reshape(n, *g.shape) for i, g in live],
                                       retain_graph=True, allow_unused=True, is_grads_batched=True)
        return torch.cat([p.new_zeros(n, p.numel()) if r is None else r.reshape(n, -1)
                          for r, p in zip(rows, params)], dim=1)

    def _active(self, ev: Evaluation) -> torch.Tensor:
        """Mask of the coordinates whose parameter received a gradient."""
        params = self._params()
        grads = ev.grads if ev.grads is not None else [p.grad for p in params]
        return torch.cat([torch.full((p.numel(),), g is not None, device=p.device)
                          for g, p in zip(grads, params)])

    # --- moving along a direction -----------------------------------------------------------------

    def _move(self, closure: Callable, ev: Evaluation, d: torch.Tensor, t: float, group: dict,
              budget: int, graph: bool = False, gtd: float | None = None
              ) -> tuple[float, Evaluation | None, int]:
        """θ ← θ + t d, with t from the strong Wolfe search when ``line_search_fn`` asks for it.

        ``gtd`` is gᵀd when the caller has it already. Returns the step t, the evaluation at
        the new θ (``None`` after a fixed step, which evaluates nothing) and the number of
        evaluations used.
        """
        params = self._params()
        if group["line_search_fn"] is None:
            self._add(params, t, d)
            return t, None, 0
        x, trials, last = self._get(params), {}, []

        def evaluate(s: float):
            self._set(params, x, s, d)  # θ ← x + s d
            trials[s] = self._evaluate(closure, graph)
            last.append(s)
            return trials[s].f, trials[s].g

        # at most 25 trials; the search keeps its own interval tolerance (1e-9, as torch)
        t, _, _, evals = strong_wolfe(evaluate, t, ev.f, ev.g, d, c2=self._c2,
                                      max_evals=max(1, min(25, budget)), dphi0=gtd)
        if t == last[-1]:  # θ is already there, and a kept graph is still valid
            return t, trials[t], evals
        self._set(params, x, t, d)  # back to an earlier trial (or to t = 0)
        # moving θ in place invalidates the graph kept for Hessian-vector products
        return t, (None if graph else trials.get(t, ev)), evals

    @staticmethod
    def _stalled(ev: Evaluation, f_prev: float, t: float, d: torch.Tensor, group: dict) -> bool:
        """The lack-of-progress tests of ``torch.optim.LBFGS``: a tiny step or a tiny change;
        or a loss that is not finite at the new point (a fixed step that went too far)."""
        tol = group["tolerance_change"]
        lo, hi = torch.aminmax(d)  # ‖d‖_∞ = max(−min d, max d)
        return (abs(t) * max(-lo.item(), hi.item()) <= tol or abs(ev.f - f_prev) < tol
                or not math.isfinite(ev.f))

    @staticmethod
    def _small(ev: Evaluation, group: dict) -> bool:
        """Nothing to do here: the first-order optimality test ‖g‖₂ ≤ ``tolerance_grad``
        holds, or the loss or the gradient is not finite. ``step()`` then returns the loss
        with θ where it is: a NaN loss comes back as ``torch.optim.LBFGS`` returns it, but
        no direction, comparison or line search is computed from it."""
        g_norm = float(torch.linalg.vector_norm(ev.g))
        return not (math.isfinite(ev.f) and math.isfinite(g_norm)) or \
            g_norm <= group["tolerance_grad"]
