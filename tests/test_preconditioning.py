"""The chapter-10 experiments' helpers: the Kronecker-conditioned regression, the
learning-rate grid, the digits race."""

from __future__ import annotations

import math

import pytest
import torch

import optnotes
from optnotes import preconditioning as pc


def test_kronecker_regression_has_the_stated_curvature():
    prob = pc.kronecker_regression(n=6, kappa=10.0, seed=3)
    assert abs(prob.condition_number() / 1e4 - 1) < 1e-9
    # the excess loss is the expected loss above its minimum: check by sampling
    W = prob.W_star + 0.1 * torch.randn(6, 6, dtype=torch.float64,
                                        generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    batch = prob.sample(100_000, gen)
    sampled = float(prob.loss(W, batch) - prob.loss(prob.W_star, batch))
    assert abs(sampled / prob.excess(W) - 1) < 0.05
    with pytest.raises(ValueError, match="kappa"):
        pc.kronecker_regression(kappa=0.5)


def test_best_of_grid_picks_the_fewest_steps_and_skips_divergence():
    prob = pc.kronecker_regression(n=4, kappa=3.0, seed=0)
    res = pc.best_of_grid(prob, lambda lr: lambda p: optnotes.SGD(p, lr=lr),
                          [0.01, 1.0, 1e4], steps=60, target=0.3)
    assert res["grid"][1e4] == math.inf               # diverged
    assert res["lr"] == 1.0 and res["steps"] < res["grid"][0.01]
    assert len(res["curve"]) == 61 and res["curve"][res["steps"]] < 0.3
    with pytest.raises(ValueError, match="diverged"):
        pc.best_of_grid(prob, lambda lr: lambda p: optnotes.SGD(p, lr=lr), [1e4], 20, 0.1)


def test_digits_race_and_param_groups():
    data = optnotes.data.digits(device="cpu").train
    out = pc.digits_race(lambda m: optnotes.Muon(pc.matrices_and_rest(m), lr=0.05,
                                                 adamw_lr=3e-3),
                         data, steps=20, target=10.0)
    assert len(out["losses"]) == 3 and out["steps_to_target"] == 0
    assert out["losses"][-1] < out["losses"][0] and out["seconds_per_step"] > 0
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    mats, rest = pc.matrices_and_rest(model, lr=0.1)
    assert [p.dim() for p in mats["params"]] == [2, 2] and rest["lr"] == 0.1
    assert [p.dim() for p in rest["params"]] == [1, 1]
