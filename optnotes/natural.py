r"""The natural gradient: steepest descent in the space of the distributions the model
outputs, :math:`\theta \leftarrow \theta - \epsilon (F + \lambda I)^{-1} g`.

Chapter: *Second-order methods* (``chapters/06a_newton``, ``chapters/06b_conjugate_gradients``).
"""

from __future__ import annotations

import copy
import pickle
from typing import Callable

import torch

from . import _checks
from ._flat import FlatOptimizer
from .second_order import conjugate_gradient


class NaturalGradient(FlatOptimizer):
    r"""Natural gradient descent: precondition the gradient by the inverse Fisher
    information of the model's predictive distribution, solved by CG on Fisher-vector
    products.

    Notation of the textbook against the arguments: the Fisher information
    :math:`F = \mathbb{E}_{x}\,\mathbb{E}_{y \sim p_\theta(\cdot|x)}[-\nabla^2 \log
    p_\theta(y|x)]` is given by ``fisher_vp`` (:math:`v \mapsto Fv`), the damping
    :math:`\lambda` is ``damping``, the learning rate :math:`\epsilon` is ``lr``. The step
    minimizes the loss's linear model plus :math:`\tfrac12 \Delta^\top (F + \lambda I)
    \Delta`, the second-order expansion of :math:`\mathrm{KL}(p_\theta \| p_{\theta +
    \Delta})` (Amari, 1998):

    .. math::

        g \leftarrow \nabla_\theta J(\theta), \qquad
        \Delta\theta = -(F + \lambda I)^{-1} g \;\text{ (by CG on } v \mapsto Fv + \lambda v),
        \qquad \theta \leftarrow \theta + \epsilon \Delta\theta .

    The expectation in :math:`F` is over the *model's* distribution of :math:`y`, where
    Newton's :math:`H` averages over the data's; for an output layer whose loss is the
    negative log-likelihood of an exponential family in its natural parameters (softmax
    cross-entropy, sigmoid, Gaussian mean) :math:`F` equals the Gauss–Newton matrix
    :math:`J^\top H_{\text{out}} J`, which is what
    :func:`optnotes.curvature.fisher_vector_product` computes from ``torch.func.jvp`` and
    ``torch.func.vjp``:

    .. code-block:: python

        fvp = optnotes.curvature.fisher_vector_product(model, X, likelihood="categorical")
        opt = optnotes.NaturalGradient(model.parameters(), fisher_vp=fvp, damping=1e-3)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X), y)
            loss.backward()
            return loss

        opt.step(closure)

    ``fisher_vp`` is called with flat vectors in the order of the optimizer's parameters
    (for ``model.parameters()``, the order :func:`~optnotes.curvature.flat_output` uses)
    and must read the *current* parameters; for minibatches, let it read the current
    batch. The closure is that of ``torch.optim.LBFGS``. One ``step()`` runs up to
    ``max_iter`` iterations (each one closure call and at most ``max_cg_iter``
    Fisher-vector products, counted in the state as ``"func_evals"`` and
    ``"fvp_evals"``), stopping early as :class:`~optnotes.LBFGS` does.

    ``copy.deepcopy`` keeps ``fisher_vp`` (the same function, so a copy of an optimizer
    whose ``fisher_vp`` reads a model reads that same model); ``pickle`` works when
    ``fisher_vp`` can be pickled (a module-level function) and otherwise fails with a
    ``TypeError`` saying so.

    **Differences from PyTorch.** ``torch.optim`` has no natural gradient. K-FAC
    (Martens & Grosse, 2015) approximates :math:`F^{-1}` by Kronecker factors per layer
    instead of solving with CG, as Hessian-free optimization does here.

    Args:
        params: an iterable of tensors or of param-group dicts (all with the same values).
        fisher_vp: :math:`v \mapsto Fv` on flat vectors.
        lr: :math:`\epsilon` (the first trial step with a line search).
        damping: :math:`\lambda \ge 0`; :math:`F` is singular for most networks.
        max_cg_iter: CG steps per solve (default :math:`n`).
        cg_tol: relative residual at which CG stops.
        max_iter: iterations per ``step()``.
        max_eval: closure calls per ``step()`` (default ``max(max_iter * 5 // 4, 25)``).
        tolerance_grad: stop when :math:`\|g\|_2 \le` this.
        tolerance_change: stop when :math:`\|\epsilon\Delta\theta\|_\infty` or the change
            of the loss falls below this.
        line_search_fn: ``None`` (default) or ``"strong_wolfe"``.

    References: Amari (1998), *Natural gradient works efficiently in learning*, Neural
    Computation 10(2); Martens (2014), *New insights and perspectives on the natural
    gradient method*; Goodfellow, Bengio & Courville (2016), section 8.6.
    """

    def __init__(self, params, fisher_vp: Callable[[torch.Tensor], torch.Tensor], lr: float = 1.0,
                 damping: float = 1e-4, max_cg_iter: int | None = None, cg_tol: float = 1e-8,
                 max_iter: int = 20, max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, line_search_fn: str | None = None):
        if not callable(fisher_vp):
            raise TypeError(f"fisher_vp must be a function v ↦ Fv (e.g. "
                            f"optnotes.curvature.fisher_vector_product), got {fisher_vp!r}")
        super().__init__(params, dict(lr=lr, damping=damping, max_cg_iter=max_cg_iter,
                                      cg_tol=cg_tol, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      line_search_fn=line_search_fn))
        self.fisher_vp = fisher_vp

    def __getstate__(self) -> dict:
        # torch.optim.Optimizer keeps only defaults, state and param_groups: keep v ↦ Fv too
        return {**super().__getstate__(), "fisher_vp": self.fisher_vp}

    def __deepcopy__(self, memo: dict) -> "NaturalGradient":
        """A copy that steps exactly like this optimizer (the same ``fisher_vp`` function)."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new

    def __copy__(self) -> "NaturalGradient":
        new = type(self).__new__(type(self))
        new.__setstate__(dict(self.__getstate__()))
        return new

    def __reduce_ex__(self, protocol):
        try:
            pickle.dumps(self.fisher_vp, protocol)
        except (pickle.PicklingError, AttributeError, TypeError) as e:
            raise TypeError(
                f"NaturalGradient cannot be pickled because its fisher_vp ({self.fisher_vp!r}) "
                f"cannot be ({e}); a local function or lambda never can. Save "
                "opt.state_dict() instead and load it into a NaturalGradient built with the "
                "same fisher_vp") from e
        return super().__reduce_ex__(protocol)

    def check_method_group(self, group: dict) -> None:
        group["damping"] = _checks.nonnegative("damping", group["damping"])
        group["cg_tol"] = _checks.nonnegative("cg_tol", group["cg_tol"])
        if group["max_cg_iter"] is not None:
            group["max_cg_iter"] = _checks.positive_int("max_cg_iter", group["max_cg_iter"])

    def _fresh_state(self, group: dict, n: int, like: torch.Tensor) -> dict:
        return {**super()._fresh_state(group, n, like), "fvp_evals": 0}

    def _fvp(self, v: torch.Tensor, damping: float) -> torch.Tensor:
        state = self._state()
        state["fvp_evals"] = state.get("fvp_evals", 0) + 1
        Fv = self.fisher_vp(v)
        if Fv.shape != v.shape:
            raise ValueError(f"fisher_vp returned shape {tuple(Fv.shape)} for a vector of shape "
                             f"{tuple(v.shape)}; it must map flat vectors over the optimizer's params")
        return Fv + damping * v  # (F + λI) v

    @torch.no_grad()
    def step(self, closure=None):
        """Up to ``max_iter`` natural-gradient iterations; returns the first ``closure()``."""
        self._check_closure(closure)
        group, state = self._group(), self._state()
        state.setdefault("fvp_evals", 0)
        max_iter, lam = group["max_iter"], group["damping"]
        max_eval = self._max_eval(group)
        ev = self._evaluate(closure)  # g ← ∇J(θ)
        loss, evals = ev.loss, 1
        for it in range(max_iter):
            if self._small(ev, group):
                break
            state["n_iter"] += 1
            cg = conjugate_gradient(lambda v: self._fvp(v, lam), -ev.g, tol=group["cg_tol"],
                                    max_iter=group["max_cg_iter"])  # Δθ = −(F + λI)⁻¹ g
            delta = cg.x if cg.iterations > 1 or not cg.negative_curvature else -ev.g
            t, new, used = self._move(closure, ev, delta, group["lr"], group,
                                      max_eval - evals)  # θ ← θ + εΔθ
            evals += used
            ev, evals, stop = self._arrive(closure, ev, new, evals, t, delta, group, max_eval,
                                           last=it == max_iter - 1)
            if stop:
                break
        return loss
