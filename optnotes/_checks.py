"""Argument checks shared by every optimizer and schedule.

Each check raises at construction time with a message that names the argument
and the value it got. Nothing is clamped: a bad value is an error.
"""

from __future__ import annotations

import math
import numbers

import torch


def real(name: str, value) -> float:
    """``value`` as a finite real number, or TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def nonnegative(name: str, value) -> float:
    """A real number ≥ 0."""
    value = real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def positive(name: str, value) -> float:
    """A real number > 0."""
    value = real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def learning_rate(name: str, value):
    """A real number ≥ 0, or a one-element floating tensor holding one (kept as it is, so
    that a scheduler can ``fill_`` it and a compiled step reads it without recompiling)."""
    if not isinstance(value, torch.Tensor):
        return nonnegative(name, value)
    if not value.is_floating_point():
        raise TypeError(f"{name} as a tensor must be floating-point, got a {value.dtype} "
                        f"tensor of shape {tuple(value.shape)}")
    if value.numel() != 1:  # a ValueError, as in torch.optim
        raise ValueError(f"{name} as a tensor must have one element, got a {value.dtype} "
                         f"tensor of shape {tuple(value.shape)}")
    if value.requires_grad:
        raise ValueError(f"{name} as a tensor must not require grad, got {value!r}")
    nonnegative(name, value.item())  # construction time only: no sync in the step
    return value


def in_unit_interval(name: str, value) -> float:
    """A real number in [0, 1), the range of every decay rate and momentum."""
    value = real(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def positive_int(name: str, value) -> int:
    """An integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return int(value)


def boolean(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _tensor_or_named(item) -> bool:
    """A tensor, or a ``(name, tensor)`` pair as ``named_parameters()`` yields."""
    if isinstance(item, torch.Tensor):
        return True
    return (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
            and isinstance(item[1], torch.Tensor))


def nesterov_needs_momentum(group: dict) -> None:
    """Nesterov momentum without momentum is a mistake, not plain descent."""
    if group["nesterov"] and group["momentum"] == 0:
        raise ValueError(f"nesterov=True needs momentum > 0, got momentum={group['momentum']!r}")


def params(value) -> list:
    """The ``params`` argument of an optimizer as a list of tensors or of group dicts.

    Accepts what ``torch.optim.Optimizer`` accepts: an iterable of tensors, of
    ``(name, tensor)`` pairs, or of dicts whose ``"params"`` is any of these (a
    generator included: it is read once, into a list).
    """
    if isinstance(value, torch.Tensor):
        raise TypeError(
            "params must be an iterable of tensors or of dicts, got a single Tensor; "
            "pass [tensor] or model.parameters()"
        )
    try:
        items = list(value)
    except TypeError:
        raise TypeError(
            f"params must be an iterable of tensors or of dicts, got {value!r} "
            f"({type(value).__name__})"
        ) from None
    if not items:
        raise ValueError("params must not be empty, got an empty iterable")
    checked = []
    for item in items:
        if isinstance(item, dict):
            group = dict(item)
            tensors = group.get("params")
            if isinstance(tensors, torch.Tensor):
                tensors = [tensors]
            try:
                group["params"] = list(tensors)
            except TypeError:
                raise TypeError(f"params group must have 'params', an iterable of tensors, "
                                f"got {tensors!r}") from None
            bad = [t for t in group["params"] if not _tensor_or_named(t)]
            item = group
        else:
            bad = [] if _tensor_or_named(item) else [item]
        if bad:
            raise TypeError(
                f"params must contain only tensors or dicts of tensors, got {bad[0]!r} "
                f"({type(bad[0]).__name__})"
            )
        checked.append(item)
    return checked
