"""Plotting helpers: pure functions that draw on the ``Axes`` they are given and return it.

The drawing helpers change no global state and show nothing; the caller owns the figure.
The one course style lives here too: :func:`use_course_style` (called once, in a
chapter's hidden set-up cell) selects it and SVG output, and :func:`figure` makes a
figure that fits the book's text column at full size.

A figure is shown as SVG, but an artist that would weigh more than
:data:`DENSE_ARTIST_BYTES` as vectors (hundreds of markers, a long noisy curve, a dense
mesh) is drawn as an image inside the SVG, at :data:`RASTER_DPI` (sharp on a high-density
screen); axes, text, legends and ordinary curves stay vectors (:func:`rasterize_dense`).
"""

from __future__ import annotations

import re

import numpy as np
import torch


#: Width of the book's text column (688 px at 96 px per inch, less a margin), in inches.
COLUMN_WIDTH_IN = 6.8

#: The course's matplotlib style, with text of 11 pt or more (seaborn's "notebook" sizes), so
#: that a figure of the column's width, shown across a 390-px phone at 0.6 of its size, has
#: text about 9 px high (5 px with 9-pt text in the column), and on a desktop, at its full
#: size, text no larger than the body's.
STYLE = {
    "figure.figsize": (COLUMN_WIDTH_IN, 3.4),
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "legend.frameon": False,
    "lines.linewidth": 1.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "path",
    "savefig.bbox": "standard",
    "savefig.dpi": 200,
}

#: An artist whose SVG would take more bytes than this is drawn as an image in the SVG.
DENSE_ARTIST_BYTES = 20_000

#: The resolution of what :func:`rasterize_dense` draws as an image: twice the 100 dpi at
#: which a figure is shown, so that it stays sharp on a high-density screen.
RASTER_DPI = 200

# What one marker and one vertex of a path take in matplotlib's SVG, about (bytes).
_MARKER_BYTES = 110
_VERTEX_BYTES = 18


def use_course_style(svg: bool = True) -> None:
    """Select the course style (:data:`STYLE`) and, in a notebook, SVG figures whose dense
    artists are images (:func:`rasterize_dense`).

    SVG stays crisp on high-DPI screens. This is the only function of the module that
    changes global state; chapters call it once instead of setting ``rcParams``.
    """
    import matplotlib as mpl

    mpl.rcParams.update(STYLE)
    if svg:
        try:  # only inside IPython
            from IPython import get_ipython
            from matplotlib.figure import Figure
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("svg")
            svg_formatter = get_ipython().display_formatter.formatters["image/svg+xml"]
            to_svg = svg_formatter.lookup_by_type(Figure)
        except Exception:  # noqa: BLE001 - outside a notebook there is nothing to set
            return

        def dense_artists_as_images(fig):
            rasterize_dense(fig)
            svg_text = to_svg(fig, dpi=RASTER_DPI)
            return None if svg_text is None else compact_svg(svg_text)

        svg_formatter.for_type(Figure, dense_artists_as_images)


def svg_bytes(artist) -> int:
    """About how many bytes ``artist`` takes in matplotlib's SVG if it is one that is
    lighter as an image when dense: its markers (a line's, a scatter's), the vertices of
    its filled areas (``fill_between``, polygons) or the cells of a mesh; 0 for anything
    else (text, images, plain lines and contour lines, which are lighter as vectors)."""
    from matplotlib.collections import LineCollection, PathCollection, PolyCollection
    from matplotlib.collections import QuadMesh
    from matplotlib.contour import ContourSet
    from matplotlib.lines import Line2D

    if isinstance(artist, Line2D):
        if artist.get_marker() in (None, "", " ", "None", "none"):
            return 0
        n = len(artist.get_xdata(orig=False))
        line = artist.get_linestyle() not in ("None", "", " ", "none")
        return n * (_MARKER_BYTES + (_VERTEX_BYTES if line else 0))
    if isinstance(artist, QuadMesh):
        rows, cols = artist.get_coordinates().shape[:2]
        return (rows - 1) * (cols - 1) * 5 * _VERTEX_BYTES
    if isinstance(artist, (ContourSet, LineCollection)):
        return 0
    if isinstance(artist, PathCollection):
        return len(artist.get_offsets()) * _MARKER_BYTES
    if isinstance(artist, PolyCollection):
        return sum(len(p.vertices) for p in artist.get_paths()) * _VERTEX_BYTES
    return 0


def rasterize_dense(fig, max_bytes: int = DENSE_ARTIST_BYTES) -> list:
    """Mark every artist of ``fig``'s axes whose SVG would take more than ``max_bytes``
    (:func:`svg_bytes`: many markers, a long filled band, a mesh) to be drawn as an image
    (``set_rasterized(True)``): in an SVG or a PDF it becomes a picture at the resolution
    the figure is saved with, everything else stays vectors. Returns the artists it marked."""
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    marked = []
    for ax in fig.axes:
        for artist in ax.get_children():
            if not artist.get_rasterized() and svg_bytes(artist) > max_bytes:
                artist.set_rasterized(True)
                marked.append(artist)
    return marked


_COORDINATES = re.compile(r'( (?:d|x|y|width|height)=")([^"]*)(")')
_DECIMALS = re.compile(r"(-?\d+\.\d{3,})")


def compact_svg(svg: str, decimals: int = 2) -> str:
    """``svg`` (matplotlib's) with the coordinates of its paths and markers rounded to
    ``decimals`` places: in points (1/72 inch), two places are far finer than a pixel,
    and the file is a third smaller. Nothing else (text, images, transforms) is touched."""
    if decimals < 1:
        raise ValueError(f"decimals must be 1 or more, got {decimals}")

    def rounded(m):
        return f"{float(m.group(1)):.{decimals}f}".rstrip("0").rstrip(".")

    def attribute(m):
        return m.group(1) + _DECIMALS.sub(rounded, m.group(2)) + m.group(3)

    return _COORDINATES.sub(attribute, svg)


def figure(ncols: int = 1, nrows: int = 1, height: float | None = None, **kwargs):
    """A figure of ``nrows`` × ``ncols`` axes (at most two side by side) that fits the
    text column at full size; returns ``(fig, axes)`` like ``plt.subplots``."""
    import matplotlib.pyplot as plt

    if ncols > 2:
        raise ValueError(f"ncols must be 1 or 2 to stay readable in the column, got {ncols}")
    if height is None:
        height = (3.4 if ncols == 1 else 3.0) * nrows
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH_IN, height), **kwargs)


def legend_outside(ax, **kwargs):
    """A legend to the right of ``ax``, off the data (contours, curves)."""
    kwargs.setdefault("loc", "upper left")
    kwargs.setdefault("bbox_to_anchor", (1.02, 1.0))
    kwargs.setdefault("borderaxespad", 0.0)
    return ax.legend(**kwargs)


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


def seed_spread(ax, data, x: str, y: str, hue: str | None = None, log: bool = True,
                estimator: str = "mean", errorbar=None, join: bool = True, order=None,
                hue_order=None, size: float = 5.0):
    """The spread of a result over seeds: every seed a dot, and the ``estimator`` of
    each group (``"mean"`` or ``"median"``) joined by a line, drawn with seaborn.

    ``data`` is a long table (a ``pandas.DataFrame`` or a dict of equal-length columns)
    with one row per seed and setting; ``x`` is treated as a category (its values are
    equally spaced, so geometric values such as learning rates read as a log axis).
    ``errorbar`` is passed to ``seaborn.pointplot`` (``None``: no bars; ``"sd"``: one
    standard deviation, of the values). With ``join`` the estimates of one ``hue`` are joined by a line
    (for an ordered ``x``, such as a learning rate). With ``log`` the ``y`` axis is
    logarithmic.
    """
    import pandas as pd
    import seaborn as sns

    if estimator not in ("mean", "median"):
        raise ValueError(f"estimator must be 'mean' or 'median', got {estimator!r}")
    frame = pd.DataFrame(data)
    for column in (x, y) + ((hue,) if hue is not None else ()):
        if column not in frame.columns:
            raise ValueError(f"data has no column {column!r} (columns: {list(frame.columns)})")
    dodge = hue is not None and frame[hue].nunique() > 1
    width = 0.8 / frame[hue].nunique() if dodge else 0.0
    sns.stripplot(data=frame, x=x, y=y, hue=hue, order=order, hue_order=hue_order,
                  dodge=dodge, jitter=0.05, size=size, alpha=0.55, linewidth=0,
                  legend=False, ax=ax)
    sns.pointplot(data=frame, x=x, y=y, hue=hue, order=order, hue_order=hue_order,
                  estimator=estimator, errorbar=errorbar, capsize=0.15 if errorbar else 0,
                  dodge=(0.8 - width) if dodge else False, markers="D", markersize=4,
                  linewidth=1.5, linestyle="-" if join else "none",
                  err_kws={"linewidth": 1.2}, ax=ax)
    if log:  # after the estimates, which are then of the values, not of their logarithms
        ax.set_yscale("log")
    return ax
