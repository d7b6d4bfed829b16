"""optnotes.PolyakAverage against torch.optim.swa_utils.AveragedModel (float64, 1e-12)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from optnotes.averaging import PolyakAverage

TOL = dict(rtol=1e-12, atol=1e-14)


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(),
                               torch.nn.Linear(5, 2)).double()


def run(avg_factory, torch_factory, steps=25):
    net = model()
    ours = avg_factory(net)
    ref = torch_factory(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.3)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(8, 4, generator=gen, dtype=torch.float64)
        opt.zero_grad()
        net(x).square().sum().backward()
        opt.step()
        ours.update()
        ref.update_parameters(net)
    return net, ours, ref


@pytest.mark.parametrize("decay", [None, 0.9, 0.0])
def test_matches_averaged_model(decay):
    if decay is None:
        torch_factory = AveragedModel
    else:
        torch_factory = lambda m: AveragedModel(m, multi_avg_fn=get_ema_multi_avg_fn(decay))
    net, ours, ref = run(lambda m: PolyakAverage(m.parameters(), decay=decay), torch_factory)
    for a, b in zip(ours.averaged(), ref.module.parameters()):
        torch.testing.assert_close(a, b, **TOL)
    gap = max(float((a - p.detach()).abs().max())
              for a, p in zip(ours.averaged(), net.parameters()))
    if decay == 0.0:
        assert gap == 0.0  # α = 0 keeps only the last iterate
    else:
        assert gap > 1e-6  # a real average, not a copy of the last iterate


def test_uniform_average_is_the_mean_of_the_iterates():
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    avg = PolyakAverage([p])
    points = [torch.randn(3, dtype=torch.float64) for _ in range(7)]
    for q in points:
        with torch.no_grad():
            p.copy_(q)
        avg.update()
    torch.testing.assert_close(avg.averaged()[0], torch.stack(points).mean(0), **TOL)


def test_applied_swaps_in_and_restores():
    net, ours, _ = run(lambda m: PolyakAverage(m), AveragedModel, steps=5)
    before = [p.detach().clone() for p in net.parameters()]
    with ours.applied():
        for p, a in zip(net.parameters(), ours.averaged()):
            assert torch.equal(p, a)
    for p, b in zip(net.parameters(), before):
        assert torch.equal(p, b)


def test_state_dict_round_trip_continues_identically():
    net, ours, _ = run(lambda m: PolyakAverage(m, decay=0.8), AveragedModel, steps=5)
    twin = PolyakAverage(net, decay=0.8)
    twin.load_state_dict(copy.deepcopy(ours.state_dict()))
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.1)
        ours.update(), twin.update()
    for a, b in zip(ours.averaged(), twin.averaged()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("decay", [1.0, -0.1, "0.9", True])
def test_bad_decay_names_the_argument(decay):
    with pytest.raises((ValueError, TypeError), match="decay"):
        PolyakAverage(model(), decay=decay)


def test_load_state_dict_rejects_mismatch():
    avg = PolyakAverage(model())
    with pytest.raises(ValueError, match="tensors"):
        avg.load_state_dict({"decay": None, "num_updates": 1, "average": []})
