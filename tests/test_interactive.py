"""optnotes.interactive (slider figures) and optnotes.explore (the chapters' grids)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from optnotes import explore
from optnotes.interactive import FALLBACK, Slider, slider_figure


def line(a):
    x = np.arange(5.0)
    return {"up": (x, a * x), "flat": (x, np.full(5, a))}


def test_one_slider_ships_every_frame_and_fixed_ranges():
    fig = slider_figure(Slider("a", [1, 2, 3], start=1), [line(a) for a in (1, 2, 3)],
                        x_label="x", y_label="y")
    assert repr(fig) == FALLBACK and FALLBACK in fig._repr_html_()
    assert len(fig.frames) == 3 and fig.frames[2]["up"][1] == tuple([0.0, 3.0, 6.0, 9.0, 12.0])
    # the data of every frame is in the page, so the slider needs no kernel
    assert "12.0" in fig.html or "12" in fig.html
    # the y range covers all frames (0 to 12), not only the starting one (0 to 8)
    ranges = re.findall(r'"start":(-?[\d.e+-]+),"end":(-?[\d.e+-]+)', fig.html.replace(" ", ""))
    assert any(float(lo) < 0 and float(hi) > 12 for lo, hi in ranges), ranges


def test_two_sliders_are_row_major():
    frames = [[line(10 * a + b) for b in (1, 2, 3)] for a in (1, 2)]
    fig = slider_figure([Slider("a", [1, 2]), Slider("b", [1, 2, 3])], frames,
                        x_label="x", y_label="y")
    assert [f["flat"][1][0] for f in fig.frames] == [11, 12, 13, 21, 22, 23]


def test_values_beyond_the_limit_leave_a_gap():
    x = np.arange(4.0)
    fig = slider_figure(Slider("a", [1, 2]), [{"run": (x, [1, 10, 1e9, math.inf])}] * 2,
                        x_label="x", y_label="y", limit=100)
    y = fig.frames[0]["run"][1]
    assert y[:2] == (1.0, 10.0) and all(math.isnan(v) for v in y[2:])


@pytest.mark.parametrize("kwargs, message", [
    (dict(sliders=Slider("a", [1, 2]), frames=[line(1)]), "one entry per value"),
    (dict(sliders=Slider("a", [1, 2]), frames=[line(1), {"other": ([0], [0])}]), "same lines"),
    (dict(sliders=[Slider("a", [1, 2])] * 3, frames=[line(1)] * 2), "one or two sliders"),
    (dict(sliders=[Slider("a", [1, 2]), Slider("b", [1, 2])], frames=[[line(1)], [line(1)]]),
     "second slider"),
])
def test_bad_frames_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        slider_figure(x_label="x", y_label="y", **kwargs)


@pytest.mark.parametrize("values, start, message", [([1], 0, "at least two"),
                                                    ([1, 2], 2, "start")])
def test_bad_sliders_are_rejected(values, start, message):
    with pytest.raises(ValueError, match=message):
        Slider("a", values, start=start)


def test_the_slider_callback_indexes_the_frames():
    fig = slider_figure(Slider("a", [1, 2]), [line(1), line(2)], x_label="x", y_label="y")
    assert "sources[k].data = {x: frames[i][k][0], y: frames[i][k][1]}" in json.loads(
        json.dumps(fig.html))


# --- the chapters' figures show their effect --------------------------------------------

def final(fig, i, name):
    y = [v for v in fig.frames[i][name][1] if not math.isnan(v)]
    return y[-1]


def test_momentum_speeds_up_a_small_step_on_an_ill_conditioned_quadratic():
    fig = explore.momentum_on_quadratic(lrs=(0.1, 1.9), momenta=(0.0, 0.9), steps=100)
    # ε = 0.1: α = 0.9 ends ten times below plain descent; α = 0 equals the plain line
    assert final(fig, 1, "momentum α") < 0.1 * final(fig, 1, "plain descent (α = 0)")
    assert fig.frames[0]["momentum α"] == fig.frames[0]["plain descent (α = 0)"]


def test_clipping_keeps_the_step_off_the_cliff_short():
    fig = explore.clipping_on_cliff(thresholds=(0.5, 8.0), steps=40)
    jump = lambda xs: max(abs(b - a) for a, b in zip(xs, xs[1:]))  # noqa: E731
    assert jump(fig.frames[0]["clipped"][1]) <= 0.5 * 0.5 + 1e-9  # ε v
    assert jump(fig.frames[0]["not clipped"][1]) > 4 * jump(fig.frames[0]["clipped"][1])


def test_adaptive_methods_depend_on_the_learning_rate():
    fig = explore.adaptive_learning_rates(lrs=(0.003, 0.3), steps=100)
    for name in ("AdaGrad", "RMSProp", "Adam"):
        assert final(fig, 0, name) > 10 * final(fig, 1, name)


def test_damping_slows_newton_down():
    fig = explore.newton_damping(dampings=(0.0, 100.0), steps=30)
    assert final(fig, 0, "Newton, damping α") < 1e-10 < final(fig, 1, "Newton, damping α")


def test_conjugate_gradients_ignore_the_condition_number_gradient_descent_does_not():
    fig = explore.conjugate_gradients_condition(kappas=(10.0, 1e4), n=10, steps=12)
    cg = [final(fig, i, "conjugate gradients") for i in (0, 1)]
    gd = [final(fig, i, "gradient descent") for i in (0, 1)]
    assert cg[0] < 1e-12                   # n = 10 steps suffice at κ = 10
    assert gd[1] > 0.5 and gd[0] < gd[1]   # descent stalls at κ = 1e4
    assert cg[1] < 1e-3 * gd[1]            # CG, slowed by rounding, is still far ahead


def test_small_batches_make_more_progress_per_example():
    fig = explore.batch_size_progress(batch_sizes=(4, 800), examples=1600, points=20)
    assert final(fig, 0, "minibatch SGD") < 0.5 * final(fig, 0, "full batch")
    assert fig.frames[1]["minibatch SGD"] == fig.frames[1]["full batch"]


def test_few_examples_overfit():
    fig = explore.training_set_size(sizes=(10, 320), steps=100)
    gap = [final(fig, i, "test error") - final(fig, i, "training error") for i in (0, 1)]
    assert gap[0] > gap[1] + 0.1


def test_the_gain_sets_how_activations_grow_or_vanish_with_depth():
    fig = explore.initialization_gain(gains=(0.5, 1.3), depth=10, width=50)
    small, large = fig.frames[0]["activations"][1], fig.frames[1]["activations"][1]
    assert small[-1] < 0.05 * small[0]      # gain 0.5: activations vanish
    assert large[-1] > 0.5 * large[0]       # gain 1.3: they keep their scale


def test_digits_figures_have_a_line_per_setting():
    fig = explore.batch_norm_learning_rate(lrs=(0.1, 1.0), steps=10, depth=3, width=16)
    assert set(fig.frames[0]) == {"with batch normalization", "without"}
    fig = explore.warmup_length(warmups=(0, 20), steps=10)
    assert fig.frames[0]["Adam with warmup"] != fig.frames[1]["Adam with warmup"]


def test_warmup_removes_the_early_spike_of_adam_at_a_large_rate():
    fig = explore.warmup_length(warmups=(0, 25), steps=40)
    peak = [max(fig.frames[i]["Adam with warmup"][1]) for i in (0, 1)]
    start = fig.frames[0]["Adam with warmup"][1][0]
    assert peak[0] > 2 * start and peak[1] <= start + 1e-9


def test_newton_schulz_lifts_small_singular_values_with_the_quintic():
    fig = explore.newton_schulz_steps(steps=(0, 5), n=16)
    q0, q5 = fig.frames[0]["Muon's quintic"][1], fig.frames[1]["Muon's quintic"][1]
    c5 = fig.frames[1]["classical cubic"][1]
    assert max(q0) < 1 and min(q5) > 10 * min(c5) and max(q5) < 1.25
