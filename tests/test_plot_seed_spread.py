"""``plot.seed_spread``: every seed a dot, the estimate of each group a marker, no global style change."""

from __future__ import annotations

import copy

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from optnotes import plot

matplotlib.use("Agg")


@pytest.fixture
def ax():
    before = copy.deepcopy(dict(matplotlib.rcParams))
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)
    assert dict(matplotlib.rcParams) == before, "seed_spread changed the global style"


def runs(n_seeds=3):
    return {"rate": [r for r in ("0.01", "0.1", "1") for _ in range(2 * n_seeds)],
            "kind": ["a", "b"] * (3 * n_seeds),
            "loss": list(np.linspace(0.1, 2.0, 6 * n_seeds))}


@pytest.mark.parametrize("estimator", ["mean", "median"])
def test_one_dot_per_seed_and_one_estimate_per_group(ax, estimator):
    data = runs()
    out = plot.seed_spread(ax, data, x="rate", y="loss", hue="kind", estimator=estimator)
    assert out is ax
    dots = sum(len(c.get_offsets()) for c in ax.collections)
    assert dots == len(data["loss"])  # the stripplot: one dot per run
    assert ax.get_yscale() == "log"
    loss = np.array(data["loss"])
    first = loss[(np.array(data["rate"]) == "0.01") & (np.array(data["kind"]) == "a")]
    expected = np.mean(first) if estimator == "mean" else np.median(first)
    heights = [line.get_ydata()[0] for line in ax.lines if len(line.get_ydata()) == 3]
    assert any(abs(h - expected) < 1e-12 for h in heights)


def test_linear_axis_and_no_hue(ax):
    data = runs()
    plot.seed_spread(ax, data, x="rate", y="loss", log=False, join=False)
    assert ax.get_yscale() == "linear"


def test_bad_arguments_are_named(ax):
    with pytest.raises(ValueError, match="estimator"):
        plot.seed_spread(ax, runs(), x="rate", y="loss", estimator="max")
    with pytest.raises(ValueError, match="'lr'"):
        plot.seed_spread(ax, runs(), x="lr", y="loss")
