"""Bytes of parameters, gradients and optimizer state, measured; and sharded over 2 ranks."""

from __future__ import annotations

import pytest
import torch

import optnotes
from optnotes import memory


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(32, 12, generator=gen)
    return model, X, (X[:, :3].sum(1) > 0).long() + (X[:, 3] > 1).long()


def test_measure_counts_every_state_tensor():
    model, X, y = _setup()
    n = sum(p.numel() for p in model.parameters())
    sgd = memory.measure(model, optnotes.SGD, X, y, lr=0.1)
    assert sgd == {"params": 4 * n, "grads": 4 * n, "state": 0}
    mom = memory.measure(model, optnotes.SGD, X, y, lr=0.1, momentum=0.9)
    assert mom["state"] == 4 * n
    adam = memory.measure(model, optnotes.Adam, X, y)
    assert adam["state"] == 8 * n + 4 * 8  # s, r and a float64 count per tensor
    lbfgs = memory.measure(model, optnotes.LBFGS, X, y, history_size=4, max_iter=10)
    assert lbfgs["state"] >= 2 * 5 * 4 * n  # s and y: l + 1 rows of n each
    fact = memory.measure(model, optnotes.Adafactor, X, y)
    assert fact["state"] == 4 * (8 + 12 + 3 + 8 + 8 + 3) + 4 * 8
    sham = memory.measure(model, optnotes.Shampoo, X, y)
    assert sham["state"] == 4 * 2 * (8 * 8 + 12 * 12 + 3 * 3 + 8 * 8) + 4 * (8 + 3) + 4 * 8


def test_bad_steps():
    model, X, y = _setup()
    with pytest.raises(ValueError, match="steps"):
        memory.measure(model, optnotes.SGD, X, y, steps=0, lr=0.1)


def test_zero_and_fsdp2_shard_and_keep_the_iterates():
    model, X, y = _setup()
    out = memory.sharded_memory(model, X, y, steps=4)
    single = out["single"]
    assert out["DDP"]["state"] == [single["state"]] * 2
    assert sum(out["FSDP2"]["params"]) == single["params"]
    assert sum(out["FSDP2"]["grads"]) == single["grads"]
    assert max(out["FSDP2"]["state"]) < single["state"]
    # ZeRO: every rank keeps the parameters, and the state of its own parameters only
    assert out["ZeRO"]["params"] == [single["params"]] * 2
    assert sum(out["ZeRO"]["state"]) == single["state"]
    assert min(out["ZeRO"]["state"]) > 0
    for how in ("DDP", "ZeRO", "FSDP2"):
        assert out[how]["max_diff"] < 1e-6, how
