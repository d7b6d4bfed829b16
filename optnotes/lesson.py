"""Small tools every chapter uses: set up, show the package's code, and measure a rate."""

from __future__ import annotations

import inspect

import numpy as np


def source(obj):
    """The source of ``obj`` (a class, function or method of optnotes), shown as it is."""
    from IPython.display import Code  # only needed inside a notebook

    return Code(inspect.getsource(obj), language="python")


def loglog_slope(k, y) -> float:
    r"""Slope of :math:`\log y` against :math:`\log k`: the exponent :math:`p` in :math:`y \approx C k^p`."""
    return float(np.polyfit(np.log(k), np.log(y), 1)[0])


def setup(seed: int = 0, threads: int = 1):
    """What a chapter's first (hidden) cell does: one CPU thread, a seed, the course's
    plot style with SVG figures; returns the device :func:`optnotes.default_device` picks.

    The chapters' problems are tiny, so one thread is the fastest setting and polite on a
    shared CPU.
    """
    import torch

    from .plot import use_course_style
    from .runtime import default_device, set_seed

    torch.set_num_threads(threads)
    set_seed(seed)
    use_course_style()
    return default_device()
