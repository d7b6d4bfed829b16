"""Learning-rate schedules: closed-form values, agreement with torch's schedulers, groups,
state_dict round trip, use with other optimizers, and argument checks."""

from __future__ import annotations

import math

import pytest
import torch
from torch.optim import lr_scheduler

import optnotes
from optnotes import InverseTimeDecay, LinearDecay, StepDecay

EPS0 = 0.1


def make_optimizer(lrs=(EPS0,), cls=optnotes.SGD):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return cls(groups, lr=lrs[0])


def rates(scheduler, steps):
    """The rate of each group at k = 0..steps (stepping the optimizer first, as torch expects)."""
    out = [[g["lr"] for g in scheduler.optimizer.param_groups]]
    for _ in range(steps):
        scheduler.optimizer.step()
        scheduler.step()
        out.append([g["lr"] for g in scheduler.optimizer.param_groups])
    return out


def rel(a, b):
    return abs(a - b) / abs(b)


# --- values ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("final_factor", [0.01, 0.0, 0.5, 1.0])
def test_linear_decay_values(final_factor):
    tau = 10
    lrs = [r[0] for r in rates(LinearDecay(make_optimizer(), tau=tau, final_factor=final_factor), 25)]
    final = final_factor * EPS0
    assert lrs[0] == EPS0
    assert lrs[tau] == pytest.approx(final, rel=1e-12, abs=1e-15)
    assert all(lr == lrs[tau] for lr in lrs[tau:]), "constant after tau"
    for k in range(tau + 1):  # ε_k = (1 − k/τ) ε₀ + (k/τ) ε_τ
        a = k / tau
        assert lrs[k] == pytest.approx((1 - a) * EPS0 + a * final, rel=1e-12, abs=1e-15)
    steps = [lrs[k] - lrs[k + 1] for k in range(tau)]
    assert max(steps) - min(steps) < 1e-15, "linear in between"


@pytest.mark.parametrize("final_factor", [0.01, 0.3])
def test_linear_decay_matches_torch_linear_lr(final_factor):
    tau = 17
    ours = rates(LinearDecay(make_optimizer(), tau=tau, final_factor=final_factor), 40)
    theirs = rates(lr_scheduler.LinearLR(make_optimizer(), start_factor=1.0, end_factor=final_factor,
                                         total_iters=tau), 40)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert rel(a[0], b[0]) <= 1e-12, f"k = {k}: {a[0]!r} vs {b[0]!r}"


@pytest.mark.parametrize("step_size, gamma", [(1, 0.5), (3, 0.5), (4, 0.9), (5, 1.0)])
def test_step_decay_matches_step_lr(step_size, gamma):
    ours = rates(StepDecay(make_optimizer(), step_size=step_size, gamma=gamma), 30)
    theirs = rates(lr_scheduler.StepLR(make_optimizer(), step_size=step_size, gamma=gamma), 30)
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert rel(a[0], b[0]) <= 1e-12, f"k = {k}"
        assert a[0] == pytest.approx(EPS0 * gamma ** (k // step_size), rel=1e-14)


@pytest.mark.parametrize("k0, power", [(1.0, 1.0), (10.0, 1.0), (5.0, 0.5), (2.5, 2.0)])
def test_inverse_time_decay_values(k0, power):
    lrs = [r[0] for r in rates(InverseTimeDecay(make_optimizer(), k0=k0, power=power), 50)]
    assert lrs[0] == EPS0
    for k, lr in enumerate(lrs):
        assert lr == pytest.approx(EPS0 / (1 + k / k0) ** power, rel=1e-14)
    assert all(a > b for a, b in zip(lrs, lrs[1:])), "strictly decreasing"
    if float(k0).is_integer():
        assert lrs[int(k0)] == pytest.approx(EPS0 / 2**power, rel=1e-14)


def test_inverse_time_decay_robbins_monro_sums():
    """p = 1: Σε_k diverges (grows like log k) while Σε_k² stays bounded."""
    lrs = [r[0] for r in rates(InverseTimeDecay(make_optimizer(), k0=1.0), 4000)]
    s1 = [sum(lrs[:n]) for n in (1000, 4000)]
    s2 = [sum(x * x for x in lrs[:n]) for n in (1000, 4000)]
    assert s1[1] - s1[0] == pytest.approx(EPS0 * math.log(4), rel=1e-2)
    assert s2[1] < EPS0**2 * math.pi**2 / 6 and s2[1] - s2[0] < 1e-5


# --- groups, state, other optimizers ----------------------------------------------------------------

SCHEDULES = {
    "LinearDecay": lambda opt: LinearDecay(opt, tau=8, final_factor=0.05),
    "StepDecay": lambda opt: StepDecay(opt, step_size=3, gamma=0.5),
    "InverseTimeDecay": lambda opt: InverseTimeDecay(opt, k0=4.0, power=0.5),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_is_a_torch_scheduler(name):
    assert isinstance(SCHEDULES[name](make_optimizer()), lr_scheduler.LRScheduler)


@pytest.mark.parametrize("name", SCHEDULES)
def test_each_group_scales_its_own_base_rate(name):
    base = (0.1, 0.02, 3.0)
    out = rates(SCHEDULES[name](make_optimizer(base)), 15)
    single = rates(SCHEDULES[name](make_optimizer((1.0,))), 15)
    for k, (lrs, (factor,)) in enumerate(zip(out, single)):
        for b, lr in zip(base, lrs):
            assert lr == pytest.approx(b * factor, rel=1e-14), f"k = {k}"


@pytest.mark.parametrize("name", SCHEDULES)
def test_state_dict_round_trip(name):
    opt = make_optimizer((0.1, 0.02))
    sched = SCHEDULES[name](opt)
    rates(sched, 5)
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in saved_sched
    expected = rates(sched, 12)

    # resume as torch documents it: build both, then load both (other rates: loading
    # must restore the base rates and the current rates)
    opt2 = make_optimizer((0.7, 0.3))
    sched2 = SCHEDULES[name](opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.last_epoch == 5 and sched2.base_lrs == [0.1, 0.02]
    assert rates(sched2, 12) == expected


@pytest.mark.parametrize("name", SCHEDULES)
def test_works_with_torch_adam(name):
    p = torch.ones(3, requires_grad=True)
    opt = torch.optim.Adam([p], lr=EPS0)
    sched = SCHEDULES[name](opt)
    reference = rates(SCHEDULES[name](make_optimizer()), 10)
    for k in range(10):
        assert opt.param_groups[0]["lr"] == pytest.approx(reference[k][0], rel=1e-14)
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
        sched.step()
    assert bool((p < 1).all())


# --- bad arguments ---------------------------------------------------------------------------------

BAD = [
    (LinearDecay, dict(tau=0), "tau", 0),
    (LinearDecay, dict(tau=-5), "tau", -5),
    (LinearDecay, dict(tau=2.5), "tau", 2.5),
    (LinearDecay, dict(tau="10"), "tau", "10"),
    (LinearDecay, dict(tau=True), "tau", True),
    (LinearDecay, dict(tau=10, final_factor=-0.1), "final_factor", -0.1),
    (LinearDecay, dict(tau=10, final_factor=float("nan")), "final_factor", float("nan")),
    (StepDecay, dict(step_size=0), "step_size", 0),
    (StepDecay, dict(step_size=-2), "step_size", -2),
    (StepDecay, dict(step_size=1.5), "step_size", 1.5),
    (StepDecay, dict(step_size=2, gamma=0.0), "gamma", 0.0),
    (StepDecay, dict(step_size=2, gamma=-0.5), "gamma", -0.5),
    (StepDecay, dict(step_size=2, gamma=1.5), "gamma", 1.5),
    (InverseTimeDecay, dict(k0=0.0), "k0", 0.0),
    (InverseTimeDecay, dict(k0=-1.0), "k0", -1.0),
    (InverseTimeDecay, dict(k0=1.0, power=0.0), "power", 0.0),
    (InverseTimeDecay, dict(k0=1.0, power=-1.0), "power", -1.0),
]


@pytest.mark.parametrize("cls, kwargs, arg, value", BAD,
                         ids=[f"{c.__name__}-{a}={v!r}" for c, _, a, v in BAD])
def test_bad_argument_raises_naming_it(cls, kwargs, arg, value):
    with pytest.raises((ValueError, TypeError)) as excinfo:
        cls(make_optimizer(), **kwargs)
    msg = str(excinfo.value)
    assert arg in msg and (repr(value) in msg or str(value) in msg), msg


# --- momentum schedule ------------------------------------------------------------------------------

def test_nesterov_momentum_values():
    from optnotes.schedules import nesterov_momentum

    assert [nesterov_momentum(k) for k in range(4)] == [0.0, 0.25, 0.4, 0.5]
    values = [nesterov_momentum(k) for k in range(1000)]
    assert all(0 <= a < b < 1 for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("cls", [optnotes.SGD, torch.optim.SGD], ids=["optnotes", "torch"])
def test_momentum_schedule_sets_alpha_k_every_step(cls):
    opt = make_optimizer((0.1, 0.02), cls=cls)
    fn = lambda k: 0.9 * k / (k + 1)  # noqa: E731
    sched = optnotes.MomentumSchedule(opt, fn)
    for k in range(6):  # α_0 is set at construction, α_k after the k-th step()
        assert [g["momentum"] for g in opt.param_groups] == [fn(k)] * 2
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.02]  # rates untouched


def test_momentum_schedule_state_dict_round_trip():
    fn = optnotes.schedules.nesterov_momentum
    opt = make_optimizer()
    sched = optnotes.MomentumSchedule(opt, fn)
    for _ in range(5):
        sched.step()
    state = sched.state_dict()
    opt2 = make_optimizer()
    sched2 = optnotes.MomentumSchedule(opt2, fn)
    assert opt2.param_groups[0]["momentum"] == 0.0
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 5 and opt2.param_groups[0]["momentum"] == fn(5)
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"] == fn(6)


def test_momentum_schedule_bad_input():
    with pytest.raises(ValueError, match="momentum"):
        optnotes.MomentumSchedule(torch.optim.Adam([torch.zeros(2, requires_grad=True)]), lambda k: 0.5)
    with pytest.raises(TypeError, match="fn"):
        optnotes.MomentumSchedule(make_optimizer(), 0.9)
    for value in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError) as excinfo:
            optnotes.MomentumSchedule(make_optimizer(), lambda k, v=value: v)
        assert "momentum" in str(excinfo.value) and str(value) in str(excinfo.value)
    sched = optnotes.MomentumSchedule(make_optimizer(), lambda k: 0.5 if k < 2 else 1.0)
    sched.step()
    with pytest.raises(ValueError, match="momentum"):
        sched.step()  # α_2 = 1 is rejected when it is reached
