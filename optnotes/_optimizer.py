"""The base class of optnotes' optimizers: torch's Optimizer plus checked param groups."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch

from . import _checks


# On the CPU a foreach call runs its kernel tensor by tensor, so running every line of the
# algorithm box over a few hundred thousand numbers at a time, rather than each line over
# the whole model, keeps the working set in cache: small tensors are grouped into chunks and
# a large one is stepped in pieces. On CUDA one foreach call is one launch.
CPU_CHUNK = 1 << 18  # elements


class _Piece(NamedTuple):
    """Elements ``start:stop`` of a parameter, flattened (a large CPU tensor, in pieces)."""

    param: torch.Tensor
    start: int
    stop: int

    def of(self, t: torch.Tensor) -> torch.Tensor:
        """The same elements of ``t``, a tensor laid out like the parameter."""
        return _as_real(t).view(-1)[self.start:self.stop]


def _cpu_chunks(theta: list):
    """Index ranges of ``θ`` with at most ``CPU_CHUNK`` elements each (a larger tensor alone)."""
    if theta[0].device.type != "cpu":
        yield 0, len(theta)
        return
    start, size = 0, 0
    for i, p in enumerate(theta):
        if size and size + p.numel() > CPU_CHUNK:
            yield start, i
            start, size = i, 0
        size += p.numel()
    yield start, len(theta)


def _as_real(t: torch.Tensor) -> torch.Tensor:
    """A complex tensor as pairs of reals (``torch.view_as_real``, as torch.optim does)."""
    return torch.view_as_real(t) if t.is_complex() else t


def _conforms(value, shape: tuple, dtype: torch.dtype) -> bool:
    """Whether a state value has ``shape`` and ``dtype`` (a tensor), or is a Python number
    for a shape ``()`` or a list of at most ``n`` numbers for a shape ``(n,)``."""
    if isinstance(value, torch.Tensor):
        return tuple(value.shape) == tuple(shape) and value.dtype == dtype
    if isinstance(value, bool):
        return shape == () and dtype == torch.bool
    if isinstance(value, (int, float)):
        return shape == () and dtype != torch.bool and (
            dtype.is_floating_point or isinstance(value, int))
    if isinstance(value, list):
        return (len(shape) == 1 and len(value) <= shape[0] and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    return False


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}" if not isinstance(value, list) else \
        f"a list of {len(value)} items"


def _check_param_state(name: str, index: int, state: dict, spec: dict) -> None:
    """``state`` (not empty) has exactly the keys of ``spec``, each conforming to it."""
    expected = ", ".join(f"{k!r}: shape {tuple(s)}, {d}" for k, (s, d) in spec.items()) or \
        "no state"
    for key in state:
        if key not in spec:
            raise ValueError(
                f"{name}.load_state_dict: the state of parameter {index} has the key {key!r}, "
                f"which {name} does not keep (is it another optimizer's state dict?); "
                f"expected {{{expected}}}")
    for key, (shape, dtype) in spec.items():
        if key not in state:
            raise ValueError(
                f"{name}.load_state_dict: the state of parameter {index} lacks the key "
                f"{key!r}; expected {{{expected}}}")
        if not _conforms(state[key], tuple(shape), dtype):
            raise ValueError(
                f"{name}.load_state_dict: state {key!r} of parameter {index} is "
                f"{_describe(state[key])}, expected shape {tuple(shape)} and dtype {dtype}")


def _add_scaled_(xs: list, ys: list, scale, temporary: bool = False) -> None:
    """xs ← xs + scale·ys, for a float ``scale`` or a scalar tensor (from a tensor ``lr``).

    A tensor passed as ``alpha=`` is read on the host (``.item()``): a sync on CUDA, and
    under ``torch.compile`` without ``fullgraph=True`` a graph break that sends the whole
    step back to eager. So a tensor multiplies ``ys`` instead (in place where ``ys`` is a
    ``temporary``)."""
    if not isinstance(scale, torch.Tensor):
        torch._foreach_add_(xs, ys, alpha=scale)
    elif temporary:
        torch._foreach_mul_(ys, scale)
        torch._foreach_add_(xs, ys)
    else:
        torch._foreach_add_(xs, torch._foreach_mul(ys, scale))


def _fold_scale(den: list, scale):
    """The ``value=`` for ``_foreach_addcdiv_(x, a, den, value=scale)``: ``scale`` itself
    when it is a float; for a scalar tensor, ``den`` (a temporary) is divided by it in place
    and the value is 1 (see :func:`_add_scaled_` for why)."""
    if not isinstance(scale, torch.Tensor):
        return scale
    torch._foreach_div_(den, scale)
    return 1.0


class Optimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` that checks every param group and every state it is given.

    A subclass defines:

    - :meth:`check_group`, which validates (and may normalise the types of) one group's
      hyperparameters. It runs for the groups made at construction, for those added later
      with ``add_param_group`` and for those of a loaded state dict, so a bad value in a
      group dict fails as loudly as a bad keyword argument.
    - :meth:`_initial_state`, the state a parameter starts with (name → fill value), for a
      method whose state is shaped like its parameter; :meth:`_init_group` creates it.
    - :meth:`_state_spec`, ``(p, group) → {key: (shape, dtype)}``: the per-parameter state
      this optimizer keeps for parameter ``p`` of ``group``. The default derives it from
      :meth:`_initial_state`: the step count ``"t"`` is ``((), torch.float64)``, every other
      key ``(p.shape, p.dtype)`` (for a complex ``p``, as the state is stored). A method
      whose state is not shaped like its parameter (the closure-based methods, factored or
      matrix preconditioners) overrides it.

    :meth:`load_state_dict` checks every parameter's loaded state against
    :meth:`_state_spec`: it must be empty (the parameter has not been stepped) or have
    exactly the spec's keys, each a tensor of that shape and dtype (after torch's cast of
    floating-point state to the parameter's dtype; a plain Python number matches a
    shape ``()``, a list of at most ``n`` numbers a shape ``(n,)``). Otherwise it raises
    ``ValueError`` naming the key, the parameter's index and what was expected, and the
    optimizer is left as it was. So another optimizer's state dict, or one with a key
    removed, never loads silently.
    """

    #: whether the method handles complex parameters (as pairs of reals)
    supports_complex = True
    #: whether the state holds a step count ``"t"`` (a float64 scalar tensor)
    counts_steps = False
    #: whether a large CPU tensor is stepped in pieces of ``CPU_CHUNK`` elements: worth it
    #: for a step of many passes over memory (they then run on data in cache), not for one
    #: of one to four (SGD), where each piece's thread fork/join and views cost more
    steps_in_pieces = True

    def __init__(self, params, defaults: dict):
        super().__init__(_checks.params(params), defaults)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # an optimizer pickled before a flag existed
            self._fill_defaults(group)

    def _fill_defaults(self, group: dict) -> None:
        """The constructor's value of each hyperparameter ``group`` lacks."""
        for key, value in self.defaults.items():
            if key != "differentiable":  # torch's __setstate__ adds it to the defaults
                group.setdefault(key, value)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        try:
            self._check_dtypes(self.param_groups[-1])
            self.check_group(self.param_groups[-1])
        except (TypeError, ValueError):
            self.param_groups.pop()  # a rejected group must leave no trace
            raise

    def load_state_dict(self, state_dict: dict) -> None:
        """``torch.optim.Optimizer.load_state_dict``, with every loaded group checked as the
        constructor checks it (a hand-edited ``lr=-1`` is rejected and nothing is loaded)
        and every parameter's state checked against :meth:`_state_spec` (another
        optimizer's state, or a state with a key removed, is rejected with a ``ValueError``
        naming the key). A flag missing from an older state dict takes the constructor's
        value."""
        before = self.__getstate__()
        super().load_state_dict(state_dict)
        try:
            for group in self.param_groups:
                self._fill_defaults(group)
                self.check_group(group)
            # torch casts a loaded count to the parameter's dtype (an older state dict has
            # an int): back to a float64 scalar
            for p, state in self.state.items():
                if (self.counts_steps and isinstance(state, dict) and "t" in state
                        and isinstance(state["t"], (torch.Tensor, int, float))):
                    state["t"] = torch.as_tensor(state["t"], dtype=torch.float64,
                                                 device=p.device)
            self._check_state()
        except (TypeError, ValueError):
            self.__setstate__(before)  # a rejected state dict must leave no trace
            raise

    def _state_spec(self, p: torch.Tensor, group: dict) -> dict:
        """The per-parameter state this optimizer keeps for ``p`` of ``group``: key →
        ``(shape, dtype)``. By default that of :meth:`_initial_state`: the count ``"t"`` a
        float64 scalar, every other key shaped and typed like ``p``."""
        return {name: ((), torch.float64) if name == "t" else (tuple(p.shape), p.dtype)
                for name in self._initial_state(group)}

    def _check_state(self) -> None:
        """Every parameter's state is empty or exactly :meth:`_state_spec` (see the class)."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p)
                if state:
                    _check_param_state(type(self).__name__, index, state,
                                       self._state_spec(p, group))
                index += 1

    def _check_dtypes(self, group: dict) -> None:
        """Complex parameters are rejected by a method that cannot handle them."""
        if self.supports_complex:
            return
        for p in group["params"]:
            if p.is_complex():
                raise TypeError(
                    f"{type(self).__name__} does not support complex parameters, got a "
                    f"parameter of dtype {p.dtype}; optimize torch.view_as_real(p) instead")

    def check_group(self, group: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _loss(closure):
        """``closure()`` evaluated with gradients enabled, or None without a closure."""
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    @staticmethod
    def _decayed(theta: list, g: list, group: dict) -> list:
        """The gradient of the cost the step descends: −g with ``maximize`` (ascent, as
        torch.optim), then the L2 term of ``weight_decay`` λ added, g + λθ (new tensors)."""
        if group.get("maximize", False):
            g = torch._foreach_neg(g)
        if group.get("weight_decay", 0.0):
            return torch._foreach_add(g, theta, alpha=group["weight_decay"])
        return g

    def _groups(self):
        """Each param group with gradients, as ``(group, params, θ, g)``: the parameters
        (to look up their state; on the CPU a large one may come as :class:`_Piece` s), θ
        the same tensors with complex ones viewed as pairs of reals, g −g with ``maximize``
        and including λθ with ``weight_decay``."""
        for group in self.param_groups:
            self._init_group(group)
            params, g = self._params_with_grad(group)
            if params:
                theta, g = [_as_real(p) for p in params], [_as_real(t) for t in g]
                if (self.steps_in_pieces and theta[0].device.type == "cpu"
                        and not torch.compiler.is_compiling()):
                    params, theta, g = self._in_pieces(params, theta, g)
                for a, b in _cpu_chunks(theta):
                    yield (group, params[a:b], theta[a:b],
                           self._decayed(theta[a:b], g[a:b], group))

    def _in_pieces(self, params: list, theta: list, g: list) -> tuple[list, list, list]:
        """Every tensor of more than ``CPU_CHUNK`` elements, split into pieces of at most
        that many (views, flattened), when it, its gradient and its state are contiguous."""
        pieces = ([], [], [])
        for p, th, gr in zip(params, theta, g):
            n = th.numel()
            if n <= CPU_CHUNK or not (th.is_contiguous() and gr.is_contiguous() and all(
                    s.is_contiguous() for s in self.state.get(p, {}).values()
                    if isinstance(s, torch.Tensor) and s.dim() > 0)):
                whole = ([p], [th], [gr])
            else:
                whole = ([_Piece(p, a, min(a + CPU_CHUNK, n)) for a in range(0, n, CPU_CHUNK)],
                         th.view(-1).split(CPU_CHUNK), gr.view(-1).split(CPU_CHUNK))
            for out, new in zip(pieces, whole):
                out.extend(new)
        return pieces

    def _initial_state(self, group: dict) -> dict:  # pragma: no cover - abstract
        """The state a parameter of ``group`` starts with: name → fill value (``"t"``, the
        step count, is a float64 scalar tensor)."""
        raise NotImplementedError

    def _init_group(self, group: dict) -> None:
        """Create the missing state of every parameter of ``group`` that has a gradient.

        ``torch.compile`` runs a method of this name eagerly, before it traces the step
        (as for ``torch.optim``'s optimizers), so the traced step only reads its state and
        the first compiled step is not followed by a recompilation.
        """
        # What an lr scheduler's wrapper of step() records; a step compiled before the
        # scheduler was built calls the method itself, so it records it here.
        self._opt_called = True
        self._warn_float_lr_recompiles(group)
        initial = self._initial_state(group)
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.dtype == torch.float16:
                self._warn_eps_underflow(group)
            if not initial:  # plain SGD has no state
                continue
            state = self.state[p]
            for name, fill in initial.items():
                if name in state:
                    continue
                if name == "t":  # a count: exact in float64, on the parameter's device
                    state[name] = torch.zeros((), dtype=torch.float64, device=p.device)
                else:
                    state[name] = torch.full_like(p, float(fill),
                                                  memory_format=torch.preserve_format)

    def _warn_float_lr_recompiles(self, group: dict) -> None:
        """Warn (once) when a compiled step sees a second value of a float ``lr``.

        A float ``lr`` is a constant of the compiled graph: every new value (a scheduler's)
        compiles the step again, seconds each, and past dynamo's cache size limit the step
        runs eagerly, far slower than not compiling. A tensor ``lr`` is read inside the
        graph instead. (``torch.compile`` runs this method eagerly, once per compilation.)
        """
        if not torch.compiler.is_compiling() or isinstance(group["lr"], torch.Tensor):
            return
        seen = self.__dict__.setdefault("_compiled_float_lrs", [])  # in the order seen
        lr = float(group["lr"])
        earlier = [x for x in seen if x != lr]
        if lr not in seen:
            seen.append(lr)
        if earlier and not self.__dict__.get("_warned_float_lr", False):
            self._warned_float_lr = True
            warnings.warn(
                f"{type(self).__name__}: a compiled step saw lr={lr!r} after "
                f"lr={earlier[-1]!r}: with a float lr every new value (a scheduler's) compiles "
                "the step again, and past dynamo's cache size limit it runs eagerly; build the optimizer with lr=torch.tensor(lr) to compile "
                "the step once", RuntimeWarning, stacklevel=4)

    def _warn_eps_underflow(self, group: dict) -> None:
        """Warn (once) where a δ of a float16 group (``eps``, or another ``*eps``, such as a
        grafted Adam's) is 0 in float16 (δ ≤ 2⁻²⁵)."""
        small = [(key, delta) for key, delta in group.items()
                 if key.endswith("eps") and isinstance(delta, float) and 0 < delta <= 2.0**-25]
        if small and not getattr(self, "_warned_eps", False):
            self._warned_eps = True
            key, delta = small[0]
            warnings.warn(
                f"{type(self).__name__}: {key}={delta!r} is 0 in float16, so where g⊙g "
                "underflows to 0 (|g| below about 2.4e-4) the step divides by zero and the "
                f"parameters become inf or NaN (as with torch.optim); pass {key} >= 6e-8 (1e-4 "
                "is common for float16) or keep float32 parameters (torch.autocast)",
                RuntimeWarning, stacklevel=4)

    def _params_with_grad(self, group: dict) -> tuple[list, list]:
        """The group's parameters that have a gradient, and those gradients."""
        params, grads = [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            params.append(p)
            grads.append(p.grad)
        return params, grads

    def _state_tensors(self, params: list, name: str) -> list:
        """State tensor ``name`` of each parameter or piece (made by :meth:`_init_group`;
        shaped, typed and placed like the parameter; complex ones viewed as reals)."""
        return [x.of(self.state[x.param][name]) if isinstance(x, _Piece)
                else _as_real(self.state[x][name]) for x in params]

    def _step_counts(self, params: list) -> list:
        """The step count ``t`` of each parameter, incremented: a float64 scalar tensor on
        the parameter's device (exact up to 2⁵³ steps; no host sync, no recompilation).
        A parameter in pieces counts once, at its first piece (the pieces come in order)."""
        counts = [self.state[x.param if isinstance(x, _Piece) else x]["t"] for x in params]
        first = [t for t, x in zip(counts, params) if not isinstance(x, _Piece) or x.start == 0]
        if first:  # a chunk may hold only a later piece
            torch._foreach_add_(first, 1.0)
        return counts
