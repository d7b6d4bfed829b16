r"""Gradient clipping, the textbook's remedy for cliffs and exploding
gradients.

Clipping by norm (Goodfellow et al., 2016, sections 8.2.4 and 10.11.1;
Pascanu et al., 2013) rescales the whole gradient :math:`g` of all
parameters together when its norm exceeds a threshold :math:`v`:

.. math::

    \text{if } \|g\| > v: \quad g \leftarrow \frac{g\, v}{\|g\|},

which keeps the direction and bounds the length of the step
:math:`\epsilon g` by :math:`\epsilon v`. Clipping by value (Mikolov, 2012)
clamps each component to :math:`[-v, v]`, which bounds every component but
changes the direction.

Both functions take what ``torch.nn.utils.clip_grad_norm_`` and
``clip_grad_value_`` take (one tensor or any iterable of tensors; tensors
without ``.grad`` are skipped), work on every device without a host
synchronisation (unless ``error_if_nonfinite``), and modify the gradients in
place. They are called between ``loss.backward()`` and ``optimizer.step()``.

Chapter: *Challenges in neural network optimization*
(``chapters/03_challenges``).
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable

import torch

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters) -> list[torch.Tensor]:
    """The ``.grad`` of every tensor in ``parameters`` that has one."""
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    try:
        items = list(parameters)
    except TypeError:
        raise TypeError(f"parameters must be a tensor or an iterable of "
                        f"tensors, got {parameters!r} "
                        f"({type(parameters).__name__})") from None
    bad = [p for p in items if not isinstance(p, torch.Tensor)]
    if bad:
        raise TypeError(f"parameters must contain only tensors, got "
                        f"{bad[0]!r} ({type(bad[0]).__name__})")
    return [p.grad for p in items if p.grad is not None]


def _threshold(name: str, value) -> float:
    """A threshold v ≥ 0 (``math.inf`` allowed: no clipping)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} "
                        f"({type(value).__name__})")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def _norm_type(value) -> float:
    """The p of the p-norm: a real number > 0, or ``math.inf`` (the largest
    |g_i|)."""
    if isinstance(value, str) and value == "inf":
        value = math.inf
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"norm_type must be a real number or math.inf, got "
                        f"{value!r} ({type(value).__name__})")
    if math.isnan(value) or value == -math.inf or value <= 0:
        raise ValueError(f"norm_type must be > 0 or math.inf, got {value!r}")
    return float(value)


def total_norm(grads: list[torch.Tensor],
               norm_type: float = 2.0) -> torch.Tensor:
    r""":math:`\|g\|_p` of all gradients together, as if concatenated into
    one vector: the p-norm of the per-tensor p-norms (on the first gradient's
    device)."""
    if not grads:
        return torch.tensor(0.0)
    device = grads[0].device
    norms = [torch.linalg.vector_norm(g, norm_type).to(device)
             for g in grads]
    return torch.linalg.vector_norm(torch.stack(norms), norm_type)


def clip_grad_norm_(parameters: torch.Tensor | Iterable[torch.Tensor],
                    max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> torch.Tensor:
    r"""Clip the gradient by its norm: if :math:`\|g\| > v`,
    :math:`g \leftarrow g\,v/\|g\|`.

    ``max_norm`` is the textbook's threshold :math:`v`; ``norm_type`` the
    :math:`p` of the norm (2 by default, ``math.inf`` for the largest
    component); :math:`g` is the gradient of all ``parameters`` together, so
    one factor rescales every tensor and the direction is kept. Returns
    :math:`\|g\|` before clipping (a tensor), like PyTorch.

    With ``error_if_nonfinite`` a ``nan`` or ``inf`` norm raises
    ``RuntimeError`` (this costs a host synchronisation); otherwise such a
    gradient is left to the optimizer. ``foreach`` is accepted so that calls
    written for PyTorch run unchanged; the gradients are always scaled one
    tensor at a time.

    .. note::
       ``torch.nn.utils.clip_grad_norm_`` multiplies by
       :math:`\min(1, v / (\|g\| + 10^{-6}))`: it also shrinks gradients
       whose norm lies within :math:`10^{-6}` below :math:`v`, and a clipped
       gradient has norm :math:`v\,\|g\| / (\|g\| + 10^{-6})`, slightly
       less than :math:`v`. Here the rule is the textbook's: gradients with
       :math:`\|g\| \le v` are untouched and a clipped one has norm
       :math:`v` up to rounding.
    """
    v = _threshold("max_norm", max_norm)
    p = _norm_type(norm_type)
    if not isinstance(error_if_nonfinite, bool):
        raise TypeError(f"error_if_nonfinite must be True or False, got "
                        f"{error_if_nonfinite!r}")
    grads = _grads(parameters)
    norm = total_norm(grads, p)  # ‖g‖
    if not grads:
        return norm
    if error_if_nonfinite and not bool(torch.isfinite(norm)):
        raise RuntimeError(f"the total norm of order {p:g} of the gradients "
                           f"is {float(norm)}, not finite; with "
                           "error_if_nonfinite=False it is left unclipped")
    # if ‖g‖ > v: g ← g v / ‖g‖  (else factor 1: no branch on the host)
    factor = torch.where(norm > v, v / norm, torch.ones_like(norm))
    for g in grads:
        g.mul_(factor.to(device=g.device, dtype=g.dtype))
    return norm


def clip_grad_value_(parameters: torch.Tensor | Iterable[torch.Tensor],
                     clip_value: float, foreach: bool | None = None) -> None:
    r"""Clip every component of the gradient to :math:`[-v, v]`, with
    :math:`v` = ``clip_value``: :math:`g_i \leftarrow \max(-v, \min(v, g_i))`.

    Unlike :func:`clip_grad_norm_` this changes the direction of :math:`g`
    whenever some components are clipped and others are not. ``foreach`` is
    accepted, as in PyTorch, and has no effect.
    """
    v = _threshold("clip_value", clip_value)
    for g in _grads(parameters):
        g.clamp_(-v, v)  # g_i ← max(−v, min(v, g_i))
