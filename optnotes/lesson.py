"""Two small tools every chapter uses: show the package's code, and measure a rate."""

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
