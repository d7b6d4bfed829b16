"""The base of the optimizers whose state is not shaped like the parameter (factors, roots,
eigenbases): the state is made from :meth:`_state_spec`."""

from __future__ import annotations

import torch

from ._optimizer import Optimizer


class StructuredStateOptimizer(Optimizer):
    """An :class:`~optnotes._optimizer.Optimizer` whose per-parameter state is listed by
    :meth:`_state_spec` (name → (shape, dtype)) and created as zeros, or as identity
    matrices times a fill for the names in ``_EYE`` (name → function of the group).
    Every parameter is stepped whole (rows, columns and norms need the whole tensor)."""

    supports_complex = False
    counts_steps = True
    steps_in_pieces = False
    _EYE: dict = {}

    def _state_spec(self, p: torch.Tensor, group: dict) -> dict:  # pragma: no cover
        raise NotImplementedError

    def _initial_state(self, group: dict) -> dict:
        return {"t": 0}

    def _init_group(self, group: dict) -> None:
        self._opt_called = True  # what an lr scheduler's wrapper of step() records
        self._warn_float_lr_recompiles(group)
        for p in group["params"]:
            if p.grad is not None and p.dtype == torch.float16:
                self._warn_eps_underflow(group)
            if p.grad is None or self.state[p]:
                continue
            for name, (shape, dtype) in self._state_spec(p, group).items():
                x = torch.zeros(shape, dtype=dtype, device=p.device)
                if name in self._EYE:
                    x.diagonal().fill_(self._EYE[name](group))
                self.state[p][name] = x
