"""The helpers chapter 04 (first-order methods) takes from ``optnotes.lesson``.

``sgd_conventions`` runs the real ``torch.optim.SGD`` and ``optax.sgd`` (optax is a test
dependency in requirements.txt).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optnotes import lesson
from optnotes.train import History, train
from optnotes.data import linear_regression


# --- sgd_noise_floor ----------------------------------------------------------------------

def simulated_floor(lr, momentum, noise, curvature, coords=4000, steps=3000, seed=0):
    """Mean of ½λθ² over the second half of a heavy-ball run in float64 (plain numpy)."""
    rng = np.random.default_rng(seed)
    theta, v, tail = np.zeros(coords), np.zeros(coords), []
    for k in range(steps):
        g = curvature * theta + noise * rng.standard_normal(coords)
        v = momentum * v - lr * g
        theta = theta + v
        if k >= steps // 2:
            tail.append(0.5 * curvature * np.mean(theta**2))
    return float(np.mean(tail))


@pytest.mark.parametrize("lr,momentum,noise,curvature", [
    (0.1, 0.0, 1.0, 1.0), (0.01, 0.9, 1.0, 1.0), (0.05, 0.5, 2.0, 3.0), (1.5, 0.0, 0.5, 1.0),
])
def test_noise_floor_matches_a_simulation(lr, momentum, noise, curvature):
    predicted = lesson.sgd_noise_floor(lr, momentum, noise, curvature)
    assert simulated_floor(lr, momentum, noise, curvature) == pytest.approx(predicted, rel=0.03)


def test_noise_floor_of_plain_sgd_is_the_closed_form():
    eps = 0.1
    assert lesson.sgd_noise_floor(eps) == pytest.approx(eps / (2 * (2 - eps)), rel=1e-15)


def test_noise_floor_with_momentum_is_that_of_the_effective_rate_for_small_steps():
    eps, alpha = 1e-4, 0.9
    assert lesson.sgd_noise_floor(eps, alpha) == pytest.approx(eps / (4 * (1 - alpha)), rel=1e-3)


@pytest.mark.parametrize("kwargs,word", [
    (dict(lr=2.5), "lr"), (dict(lr=0.0), "lr"), (dict(lr=0.1, momentum=1.0), "momentum"),
    (dict(lr=0.1, curvature=0.0), "curvature"), (dict(lr=0.1, noise=-1.0), "noise"),
])
def test_noise_floor_rejects_unstable_or_invalid_settings(kwargs, word):
    with pytest.raises(ValueError, match=word):
        lesson.sgd_noise_floor(**kwargs)


# --- examples_to_reach --------------------------------------------------------------------

def test_examples_to_reach_reads_the_first_evaluation_at_or_below_the_level():
    h = History(step=[1, 2, 3, 4], examples=[32, 64, 96, 128],
                eval_step=[0, 2, 4], train_loss=[2.0, 0.6, 0.2])
    assert lesson.examples_to_reach(h, 0.6) == 64
    assert lesson.examples_to_reach(h, 0.5) == 128
    assert lesson.examples_to_reach(h, 3.0) == 0
    assert lesson.examples_to_reach(h, 0.1) == math.inf


def test_examples_to_reach_counts_batch_steps_in_passes():
    splits, _ = linear_regression(m=200, n=5, val_fraction=0.0, device="cpu")
    model = torch.nn.Linear(5, 1, bias=False).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.4)
    h = train(model, lambda out, y: torch.nn.functional.mse_loss(out[:, 0], y), opt,
              splits.train, steps=10, batch_size=None, eval_every=1, progress=False)
    level = h.train_loss[3]
    first = next(k for k, loss in zip(h.eval_step, h.train_loss) if loss <= level)
    assert lesson.examples_to_reach(h, level) == first * len(splits.train)


# --- sgd_conventions ----------------------------------------------------------------------

def test_sgd_conventions_against_torch_and_optax():
    result = lesson.sgd_conventions(steps=20, drop_every=8)
    for kind in ("momentum", "nesterov"):
        gaps = result[kind]["gaps"]
        for pair in ("optnotes-torch", "optnotes-optax", "torch-optax"):
            assert gaps[pair]["before"] < 1e-13, (kind, pair)
        assert gaps["torch-optax"]["after"] < 1e-13
        assert gaps["optnotes-torch"]["after"] > 1e-2
        assert gaps["optnotes-optax"]["after"] > 1e-2
        state = result[kind]["state_1/g_1"]
        assert state["optnotes"] == pytest.approx(-0.1, abs=1e-15)
        assert state["torch"] == pytest.approx(1.0, abs=1e-15)
        assert state["optax"] == pytest.approx(1.0, abs=1e-15)
        assert result[kind]["state_1/g_1 spread"] < 1e-15


def test_sgd_conventions_agree_everywhere_without_a_drop():
    result = lesson.sgd_conventions(steps=12, drop_every=6, gamma=1.0)
    for kind in ("momentum", "nesterov"):
        for gap in result[kind]["gaps"].values():
            assert gap["before"] < 1e-13 and gap["after"] < 1e-13
