"""Interactive figures: a slider over values that ``optnotes`` computed beforehand.

Where moving a parameter is the point of a figure (a step size, a momentum, a gain), a
chapter shows, next to its static figure, one drawn by Bokeh with a slider. Every curve
for every slider value is computed when the chapter runs and shipped with the page, so the
figure needs no kernel and no network: the slider only swaps precomputed data. The book
serves BokehJS from its own build (``_ext/interactive_js.py``), once for all pages.

In a notebook that has no BokehJS loaded (a downloaded chapter), the figure shows a
one-line note instead; the static figure beside it has the same content.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .plot import _numpy  # a tensor or array as a NumPy array

#: What a notebook without BokehJS shows in place of the figure (hidden on the site).
FALLBACK = ("Interactive figure: open this chapter on the course site to move the "
            "slider. The static figure shows the same curves.")

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _finite_or_nan(values, limit: float) -> list:
    """Floats for the page, to four significant digits: non-finite values and those beyond
    ``limit`` become NaN (a gap in the line)."""
    out = []
    for v in np.asarray(values, dtype=float).ravel():
        # four significant digits are more than a figure resolves and halve the data
        out.append(float(f"{v:.4g}") if math.isfinite(v) and abs(v) <= limit else math.nan)
    return out


@dataclass(frozen=True)
class Slider:
    """One slider of a figure: its label (plain text, e.g. ``"step size ε"``), the values
    it steps through, how a value is written, and where it starts (an index)."""

    label: str
    values: tuple
    fmt: str = "{:g}"
    start: int = 0

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))
        if len(self.values) < 2:
            raise ValueError(f"values of slider {self.label!r} must hold at least two "
                             f"positions, got {self.values!r}")
        if not 0 <= self.start < len(self.values):
            raise ValueError(f"start of slider {self.label!r} must index its values "
                             f"(0 to {len(self.values) - 1}), got {self.start}")


@dataclass(frozen=True)
class SliderFigure:
    """A Bokeh figure whose lines change with its sliders; shown by Jupyter and myst-nb
    through ``_repr_html_`` (the page) and ``__repr__`` (text)."""

    html: str
    sliders: tuple
    n_bytes: int
    #: the lines of every frame, in row-major order of the sliders' positions:
    #: ``frames[i][name] = (x, y)``, as drawn (y beyond ``limit`` is NaN)
    frames: tuple = ()

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return FALLBACK


def slider_figure(sliders, frames, *, x_label: str, y_label: str, x_log: bool = False,
                  y_log: bool = False, height: int = 300, limit: float = 1e12,
                  title: str = "") -> SliderFigure:
    """A figure with one or two sliders and one line per name.

    ``sliders`` is a :class:`Slider` or a list of them. With one slider, ``frames[i]`` is
    a dict ``{name: (x, y)}`` of the lines drawn when it stands at ``values[i]``; with
    two, ``frames[i][j]`` is that dict for the first at ``i`` and the second at ``j``.
    Every frame draws the same names. Values of ``y`` that are not finite or exceed
    ``limit`` in size are left out (a diverging run ends where it leaves the plot). The
    axes' ranges are those of all frames together, so moving a slider moves the lines,
    not the axes.
    """
    from bokeh.embed import components
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, CustomJS, CustomJSTickFormatter, Range1d
    from bokeh.models import Slider as BokehSlider
    from bokeh.plotting import figure

    sliders = (sliders,) if isinstance(sliders, Slider) else tuple(sliders)
    if not 1 <= len(sliders) <= 2:
        raise ValueError(f"a figure has one or two sliders, got {len(sliders)}")
    flat = _flatten(frames, [len(s.values) for s in sliders])
    names = list(flat[0])
    odd = [list(f) for f in flat if list(f) != names]
    if not names or odd:
        raise ValueError(f"every frame must draw the same lines: {names} in the first, "
                         f"{odd[0] if odd else names} in another")

    data = [[[_finite_or_nan(_numpy(f[n][0]), math.inf), _finite_or_nan(_numpy(f[n][1]), limit)]
             for n in names] for f in flat]
    xs = [v for frame in data for line in frame for v in line[0] if not math.isnan(v)]
    ys = [v for frame in data for line in frame for v in line[1] if not math.isnan(v)]
    plot = figure(height=height, sizing_mode="stretch_width", title=title or None,
                  x_axis_type="log" if x_log else "linear",
                  y_axis_type="log" if y_log else "linear",
                  x_axis_label=x_label, y_axis_label=y_label, toolbar_location=None)
    plot.x_range = Range1d(*_padded(xs, x_log))
    plot.y_range = Range1d(*_padded(ys, y_log))
    first = _flat_index([s.start for s in sliders], [len(s.values) for s in sliders])
    sources = []
    for k, name in enumerate(names):
        x, y = data[first][k]
        source = ColumnDataSource({"x": x, "y": y})
        plot.line("x", "y", source=source, legend_label=name, line_width=2,
                  color=PALETTE[k % len(PALETTE)])
        sources.append(source)
    plot.legend.label_text_font_size = "10pt"
    plot.legend.background_fill_alpha = 0.7
    for axis in (plot.xaxis, plot.yaxis):
        axis.axis_label_text_font_size = "11pt"
        axis.major_label_text_font_size = "10pt"
    widgets = []
    for s in sliders:
        labels = [s.fmt.format(v) for v in s.values]
        widgets.append(BokehSlider(
            start=0, end=len(s.values) - 1, step=1, value=s.start, title=s.label,
            sizing_mode="stretch_width", tooltips=False, margin=(5, 12, 5, 12),
            format=CustomJSTickFormatter(args={"labels": labels},
                                         code="return labels[Math.round(tick)]")))
    update = CustomJS(args={"sources": sources, "frames": data, "sliders": widgets}, code=(
        "let i = 0;\n"
        "for (const s of sliders) { i = i * (s.end + 1) + Math.round(s.value); }\n"
        "for (let k = 0; k < sources.length; k++) {\n"
        "  sources[k].data = {x: frames[i][k][0], y: frames[i][k][1]};\n"
        "}"))
    for w in widgets:
        w.js_on_change("value", update)
    script, div = components(column(*widgets, plot, sizing_mode="stretch_width"))
    html = (f'<div class="optnotes-interactive">'
            f'<p class="optnotes-interactive-fallback">{FALLBACK}</p>{div}{script}</div>')
    drawn = tuple({n: (tuple(line[0]), tuple(line[1])) for n, line in zip(names, frame)}
                  for frame in data)
    return SliderFigure(html, sliders, len(html.encode()), drawn)


def _flatten(frames, sizes: list) -> list:
    """Frames in row-major order of the sliders' positions, checked against their sizes."""
    if len(frames) != sizes[0]:
        raise ValueError(f"frames must have one entry per value of the first slider: "
                         f"{len(frames)} for {sizes[0]} values")
    if len(sizes) == 1:
        return list(frames)
    flat = []
    for i, row in enumerate(frames):
        if len(row) != sizes[1]:
            raise ValueError(f"frames[{i}] must have one entry per value of the second "
                             f"slider: {len(row)} for {sizes[1]} values")
        flat.extend(row)
    return flat


def _flat_index(positions: list, sizes: list) -> int:
    i = 0
    for p, n in zip(positions, sizes):
        i = i * n + p
    return i


def _padded(v: list, log: bool) -> tuple[float, float]:
    """The range of ``v`` with a 4 % margin (in log space on a log axis)."""
    v = [x for x in v if x > 0] if log else v
    if not v:
        raise ValueError("no finite values to draw" + (" on a log axis" if log else ""))
    lo, hi = min(v), max(v)
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    pad = 0.04 * (hi - lo) or 0.5
    lo, hi = lo - pad, hi + pad
    return (10 ** lo, 10 ** hi) if log else (lo, hi)

