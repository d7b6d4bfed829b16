"""Plotting helpers: pure functions that draw on the ``Axes`` they are given and return it.

No global style is changed and nothing is shown; the caller owns the figure.
"""

from __future__ import annotations

import numpy as np
import torch


def _numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def contours(ax, objective, xlim, ylim, levels: int = 25, resolution: int = 200, log: bool = True,
             cmap: str = "Greys_r"):
    """Contour lines of a 2-D ``objective`` over ``xlim`` × ``ylim``.

    With ``log`` the levels are spaced geometrically in the excess value
    :math:`f - \\min f`, which shows both the floor of a valley and its walls.
    The minimizer (and a saddle point, if the objective has one) is marked.
    """
    xs = torch.linspace(*xlim, resolution, dtype=torch.float64)
    ys = torch.linspace(*ylim, resolution, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
    z = _numpy(objective(grid) - objective.minimum)
    if log:
        positive = z[z > 0]
        lv = np.geomspace(max(positive.min(), 1e-6 * positive.max()), positive.max(), levels)
        ax.contour(_numpy(xs), _numpy(ys), z, levels=lv, cmap=cmap, linewidths=0.6)
    else:
        ax.contour(_numpy(xs), _numpy(ys), z, levels=levels, cmap=cmap, linewidths=0.6)
    star = _numpy(objective.minimizer)
    ax.plot(star[0], star[1], marker="*", color="k", markersize=10, linestyle="none")
    if getattr(objective, "saddle_point", None) is not None:
        sp = _numpy(objective.saddle_point)
        ax.plot(sp[0], sp[1], marker="x", color="k", markersize=8, linestyle="none")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    return ax


def trajectory(ax, points, label=None, **kwargs):
    """The path ``points`` (k × 2) of an optimizer, with its start marked by a circle."""
    p = _numpy(points)
    style = dict(marker=".", markersize=3, linewidth=1.2)
    style.update(kwargs)
    (line,) = ax.plot(p[:, 0], p[:, 1], label=label, **style)
    ax.plot(p[0, 0], p[0, 1], marker="o", color=line.get_color(), markersize=5)
    return ax


def learning_curves(ax, curves: dict, xlabel: str = "step", ylabel: str = "loss",
                    logx: bool = False, logy: bool = True, **kwargs):
    """One line per ``label: (x, y)`` in ``curves``, on log axes by default."""
    for label, (x, y) in curves.items():
        ax.plot(_numpy(x), _numpy(y), label=label, **kwargs)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if curves:
        ax.legend(frameon=False)
    return ax
