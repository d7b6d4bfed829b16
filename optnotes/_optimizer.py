"""The base class of optnotes' optimizers: torch's Optimizer plus checked param groups."""

from __future__ import annotations

import torch

from . import _checks


# On the CPU a foreach call runs its kernel tensor by tensor, so running every line of the
# algorithm box over a few hundred thousand numbers at a time, rather than each line over
# the whole model, keeps the working set in cache. On CUDA one foreach call is one launch.
CPU_CHUNK = 1 << 18  # elements


def _cpu_chunks(theta: list, g: list):
    """``(θ, g)`` split into runs of at most ``CPU_CHUNK`` elements (a larger tensor alone)."""
    if theta[0].device.type != "cpu":
        yield theta, g
        return
    start, size = 0, 0
    for i, p in enumerate(theta):
        if size and size + p.numel() > CPU_CHUNK:
            yield theta[start:i], g[start:i]
            start, size = i, 0
        size += p.numel()
    yield theta[start:], g[start:]


class Optimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` that checks every param group it is given.

    Subclasses implement :meth:`check_group`, which validates (and may normalise the
    types of) one group's hyperparameters. It runs for the groups made at construction
    and for those added later with ``add_param_group``, so a bad value in a group dict
    fails as loudly as a bad keyword argument.
    """

    def __init__(self, params, defaults: dict):
        super().__init__(_checks.params(params), defaults)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        try:
            self.check_group(self.param_groups[-1])
        except (TypeError, ValueError):
            self.param_groups.pop()  # a rejected group must leave no trace
            raise

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
        """The gradients with the L2 term of ``weight_decay`` λ added: g + λθ (new tensors)."""
        if group.get("weight_decay", 0.0):
            return torch._foreach_add(g, theta, alpha=group["weight_decay"])
        return g

    def _groups(self):
        """Each param group with gradients, as ``(group, θ, g)``; g includes λθ if weight_decay."""
        for group in self.param_groups:
            theta, g = self._params_with_grad(group)
            if theta:
                for theta_part, g_part in _cpu_chunks(theta, g):
                    yield group, theta_part, self._decayed(theta_part, g_part, group)

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
        """State tensor ``name`` of each parameter, created as zeros on first use."""
        tensors = []
        for p in params:
            state = self.state[p]
            if name not in state:
                state[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
            tensors.append(state[name])
        return tensors
