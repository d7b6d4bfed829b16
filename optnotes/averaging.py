r"""Polyak averaging (Polyak & Juditsky, 1992; Goodfellow et al., 2016, section 8.7.3).

The average of the points an optimizer visits,

.. math::

    \hat\theta^{(t)} = \frac1t \sum_{i=1}^t \theta^{(i)}
    \qquad\text{or}\qquad
    \hat\theta^{(t)} = \alpha\,\hat\theta^{(t-1)} + (1-\alpha)\,\theta^{(t)},

often lies nearer the bottom of a valley than any single iterate: a run that jumps back
and forth across it averages to the floor.
"""

from __future__ import annotations

import contextlib

import torch

from . import _checks


class PolyakAverage:
    r"""A running average of parameters: uniform (``decay=None``) or exponential.

    Call :meth:`update` after each optimizer step. :meth:`averaged` returns the averaged
    tensors; ``with avg.applied():`` swaps them into the parameters (to evaluate the
    averaged model) and restores the iterates afterwards.

    Symbols: :math:`\alpha` → ``decay``; :math:`t` → the number of updates.

    .. math::

        t \leftarrow t + 1, \qquad
        \hat\theta \leftarrow
        \begin{cases}
        \hat\theta + (\theta - \hat\theta)/t & \text{uniform} \\
        \alpha\hat\theta + (1-\alpha)\theta & \text{exponential}
        \end{cases}

    The first update sets :math:`\hat\theta = \theta^{(1)}` in both cases, as
    ``torch.optim.swa_utils.AveragedModel`` does (uniform by default, exponential with
    ``get_ema_multi_avg_fn(decay)``); before it, the average holds the parameters as
    they were at construction. Only parameters are averaged, not buffers.

    Args:
        params: an iterable of tensors (``model.parameters()``) or an ``nn.Module``.
        decay: None for the uniform average, else :math:`\alpha \in [0, 1)`.
    """

    def __init__(self, params, decay: float | None = None):
        if isinstance(params, torch.nn.Module):
            params = params.parameters()
        items = _checks.params(params)
        if any(isinstance(p, dict) for p in items):
            raise TypeError("params must be tensors or a module, not param groups")
        self.params = [p[1] if isinstance(p, tuple) else p for p in items]
        self.decay = None if decay is None else _checks.in_unit_interval("decay", decay)
        self.num_updates = 0
        self._average = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current parameters into the average."""
        self.num_updates += 1
        t = self.num_updates
        for avg, theta in zip(self._average, self.params):
            if t == 1:
                avg.copy_(theta)                               # θ̂ ← θ⁽¹⁾
            elif self.decay is None:
                avg.add_(theta - avg, alpha=1.0 / t)           # θ̂ ← θ̂ + (θ − θ̂)/t
            else:
                avg.lerp_(theta, 1.0 - self.decay)             # θ̂ ← αθ̂ + (1 − α)θ

    def averaged(self) -> list[torch.Tensor]:
        """The averaged tensors (copies), in the order of ``params``."""
        return [a.clone() for a in self._average]

    @contextlib.contextmanager
    def applied(self):
        """Swap the averaged values into the parameters for the ``with`` block."""
        saved = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, a in zip(self.params, self._average):
                p.copy_(a)
        try:
            yield self
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, saved):
                    p.copy_(s)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates,
                "average": [a.clone() for a in self._average]}

    def load_state_dict(self, state: dict) -> None:
        average = state["average"]
        if len(average) != len(self._average):
            raise ValueError(f"state has {len(average)} tensors, this average has "
                             f"{len(self._average)}")
        for a, b in zip(self._average, average):
            if a.shape != b.shape:
                raise ValueError(f"state tensor of shape {tuple(b.shape)} does not match "
                                 f"parameter of shape {tuple(a.shape)}")
        decay = state["decay"]
        self.decay = None if decay is None else _checks.in_unit_interval("decay", decay)
        if isinstance(state["num_updates"], bool) or int(state["num_updates"]) < 0:
            raise ValueError(f"num_updates must be >= 0, got {state['num_updates']!r}")
        self.num_updates = int(state["num_updates"])
        with torch.no_grad():
            for a, b in zip(self._average, average):
                a.copy_(b)
