"""The optimizers and schedules of chapter 9 against their peers: torch.optim.AdamW, and
optax (run itself, in float64 through ``jax.enable_x64``) for LARS, LAMB, Lion and the
schedule-free methods; the schedules against optax's and torch's.

Agreement is max|a − b| / max|b| over every parameter at every step of a run on a small
network (several tensors, so the per-tensor trust ratios are exercised)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import optnotes
from optnotes import (LAMB, LARS, AdamW, Lion, ScheduleFreeAdamW, ScheduleFreeSGD,
                      WarmupCosine, WarmupStableDecay)

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
optax = pytest.importorskip("optax")

STEPS = 60
TOL = 1e-10


def relative(a: list, b: list) -> float:
    num = max(float((x - y).abs().max()) for x, y in zip(a, b))
    return num / max(float(y.abs().max()) for y in b)


def start(seed: int = 0) -> list:
    """A 5-8-3 tanh network's weights and biases (float64), one bias zero (ratio 1)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(8, 5, generator=g, dtype=torch.float64) * 0.5,
            torch.zeros(8, dtype=torch.float64),
            torch.randn(3, 8, generator=g, dtype=torch.float64) * 0.5,
            torch.randn(3, generator=g, dtype=torch.float64) * 0.1]


def loss_of(params: list, k: int) -> torch.Tensor:
    """The loss on minibatch ``k`` of a fixed sequence (a regression of sin features)."""
    g = torch.Generator().manual_seed(100 + k)
    X = torch.randn(16, 5, generator=g, dtype=torch.float64)
    y = torch.sin(3 * X[:, :3])
    w1, b1, w2, b2 = params
    return ((torch.tanh(X @ w1.T + b1) @ w2.T + b2 - y) ** 2).mean()


def grads(params: list, k: int) -> list:
    ps = [p.detach().clone().requires_grad_() for p in params]
    return list(torch.autograd.grad(loss_of(ps, k), ps))


def run_optnotes(make, steps=STEPS, sched=None):
    params = [p.clone().requires_grad_() for p in start()]
    opt = make(params)
    scheduler = sched(opt) if sched else None
    out = []
    for k in range(steps):
        opt.zero_grad()
        loss_of(params, k).backward()
        opt.step()
        if scheduler:
            scheduler.step()
        out.append([p.detach().clone() for p in params])
    return out, opt


def run_optax(tx, steps=STEPS, eval_params=None):
    """Iterates of optax's ``tx`` (float64), and with ``eval_params(state, params)`` the
    evaluation points too."""
    out, evals = [], []
    with jax.enable_x64(True):
        params = [jnp.asarray(p.numpy()) for p in start()]
        state = tx.init(params)
        for k in range(steps):
            g = grads([torch.from_numpy(np.array(p)) for p in params], k)
            updates, state = tx.update([jnp.asarray(x.numpy()) for x in g], state, params)
            params = optax.apply_updates(params, updates)
            out.append([torch.from_numpy(np.array(p)) for p in params])
            if eval_params:
                evals.append([torch.from_numpy(np.array(p))
                              for p in eval_params(state, params)])
    return out, evals


def assert_same_run(ours, theirs, tol=TOL):
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert relative(a, b) < tol, f"step {k + 1}: {relative(a, b):.3g}"
    assert relative(ours[-1], [p for p in start()]) > 1e-3  # it moved


# --- AdamW ------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"weight_decay": 0.1}, {"weight_decay": 0.0},
                                {"betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.3},
                                {"maximize": True, "weight_decay": 0.05}], ids=str)
def test_adamw_equals_torch(kw):
    kw = {"lr": 0.01, **kw}
    ours, _ = run_optnotes(lambda p: AdamW(p, **kw))
    ref, _ = run_optnotes(lambda p: torch.optim.AdamW(p, **kw))
    assert_same_run(ours, ref)


def test_adamw_under_a_scheduler_equals_torch():
    sched = lambda opt: WarmupCosine(opt, 10, 50, initial_factor=0.1)  # noqa: E731
    ours, _ = run_optnotes(lambda p: AdamW(p, lr=0.02, weight_decay=0.1), sched=sched)
    ref, _ = run_optnotes(lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.1),
                          sched=sched)
    assert_same_run(ours, ref)


def test_adamw_equals_optax():
    ours, _ = run_optnotes(lambda p: AdamW(p, lr=0.01, weight_decay=0.1))
    ref, _ = run_optax(optax.adamw(0.01, weight_decay=0.1))
    assert_same_run(ours, ref)


def test_adamw_decay_differs_from_adam_l2():
    """Decoupled decay is not the L2 penalty under Adam (it would be under SGD)."""
    ours, _ = run_optnotes(lambda p: AdamW(p, lr=0.01, weight_decay=0.5))
    l2, _ = run_optnotes(lambda p: optnotes.Adam(p, lr=0.01, weight_decay=0.5))
    assert relative(ours[-1], l2[-1]) > 1e-2


# --- LARS, LAMB, Lion --------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"weight_decay": 1e-2}, {"nesterov": True},
                                {"momentum": 0.5, "trust_coefficient": 0.02, "eps": 1e-3}],
                         ids=str)
def test_lars_equals_optax(kw):
    ours, _ = run_optnotes(lambda p: LARS(p, lr=5.0, **kw))
    ref, _ = run_optax(optax.lars(5.0, **kw))
    assert_same_run(ours, ref)


@pytest.mark.parametrize("kw", [{}, {"weight_decay": 0.1}, {"b1": 0.5, "b2": 0.9, "eps": 1e-3}],
                         ids=str)
def test_lamb_equals_optax(kw):
    ours_kw = {k: v for k, v in kw.items() if k not in ("b1", "b2")}
    if "b1" in kw:
        ours_kw["betas"] = (kw["b1"], kw["b2"])
    ours, _ = run_optnotes(lambda p: LAMB(p, lr=0.01, **ours_kw))
    ref, _ = run_optax(optax.lamb(0.01, **kw))
    assert_same_run(ours, ref)


def test_lamb_moves_every_tensor_by_lr_times_its_norm():
    """Without momentum the first step's norm is ε‖θ‖ in each tensor (the trust ratio)."""
    params = [p.clone().requires_grad_() for p in start()]
    before = [p.detach().clone() for p in params]
    opt = LAMB(params, lr=0.01)
    loss_of(params, 0).backward()
    opt.step()
    for p, q in zip(params, before):
        if q.norm() > 0:
            assert math.isclose(float((p.detach() - q).norm()), 0.01 * float(q.norm()),
                                rel_tol=1e-12)


@pytest.mark.parametrize("kw", [{"weight_decay": 0.0}, {"weight_decay": 0.1},
                                {"b1": 0.5, "b2": 0.9, "weight_decay": 0.0}], ids=str)
def test_lion_equals_optax(kw):
    ours_kw = {"weight_decay": kw["weight_decay"]}
    if "b1" in kw:
        ours_kw["betas"] = (kw["b1"], kw["b2"])
    ours, _ = run_optnotes(lambda p: Lion(p, lr=1e-3, **ours_kw))
    ref, _ = run_optax(optax.lion(1e-3, **kw))
    assert_same_run(ours, ref)


def test_lion_without_momentum_is_signsgd():
    ours, _ = run_optnotes(lambda p: Lion(p, lr=1e-3, betas=(0.0, 0.0)), steps=5)
    params = start()
    for k in range(5):
        params = [p - 1e-3 * torch.sign(g) for p, g in zip(params, grads(params, k))]
        assert relative(ours[k], params) < 1e-14


# --- schedule-free ----------------------------------------------------------------------

def sf_eval(state, params):
    return optax.contrib.schedule_free_eval_params(state, params)


def evaluation_points(opt, run):
    """The evaluation point x of the final iterate, via opt.eval(), and back."""
    params = [p for g in opt.param_groups for p in g["params"]]
    y = [p.detach().clone() for p in params]
    opt.eval()
    x = [p.detach().clone() for p in params]
    opt.train()
    return x, y


@pytest.mark.parametrize("kw", [{}, {"momentum": 0.5}, {"weight_decay": 0.01}], ids=str)
def test_schedule_free_sgd_equals_optax(kw):
    ours, opt = run_optnotes(lambda p: ScheduleFreeSGD(p, lr=0.2, **kw))
    ox = {"b1": kw.get("momentum", 0.9), "weight_decay": kw.get("weight_decay")}
    ref, ref_eval = run_optax(optax.contrib.schedule_free_sgd(0.2, **ox), eval_params=sf_eval)
    assert_same_run(ours, ref)
    x, y = evaluation_points(opt, ours)
    assert relative(x, ref_eval[-1]) < TOL
    assert relative(x, y) > 1e-3  # x and y differ
    assert relative([p.detach() for p in opt.param_groups[0]["params"]], y) < 1e-14


def test_schedule_free_sgd_with_warmup_equals_optax_composition():
    """optax's schedule_free_sgd(warmup_steps) reads the warmup one step behind in its base
    SGD; the reference implementation's warmup, as here, is the same schedule read at the
    same step by both, which optax.contrib.schedule_free builds from its parts."""
    warmup = optax.warmup_constant_schedule(0.0, 0.2, 10)

    def sched(count):  # the int32 count as float64 (else optax computes it in float32)
        return warmup(jnp.asarray(count, jnp.float64))

    with jax.enable_x64(True):
        tx = optax.contrib.schedule_free(optax.sgd(lambda count: sched(count + 1)), sched,
                                         b1=0.9)
    ours, opt = run_optnotes(lambda p: ScheduleFreeSGD(p, lr=0.2, warmup_steps=10))
    ref, ref_eval = run_optax(tx, eval_params=sf_eval)
    assert_same_run(ours, ref)
    assert relative(evaluation_points(opt, ours)[0], ref_eval[-1]) < TOL


@pytest.mark.parametrize("kw", [{}, {"weight_decay": 0.05}, {"b1": 0.5, "b2": 0.9, "eps": 1e-4}],
                         ids=str)
def test_schedule_free_adamw_equals_optax(kw):
    ours_kw = {k: v for k, v in kw.items() if k not in ("b1", "b2")}
    if "b1" in kw:
        ours_kw["betas"] = (kw["b1"], kw["b2"])
    ours, opt = run_optnotes(lambda p: ScheduleFreeAdamW(p, lr=0.01, **ours_kw))
    ref, ref_eval = run_optax(optax.contrib.schedule_free_adamw(0.01, **kw), eval_params=sf_eval)
    assert_same_run(ours, ref)
    assert relative(evaluation_points(opt, ours)[0], ref_eval[-1]) < TOL


def test_schedule_free_without_warmup_averages_z_uniformly():
    """c_{t+1} = 1/t: with β → the SGD form, x is the plain average of z_1 … z_t."""
    params = [p.clone().requires_grad_() for p in start()]
    opt = ScheduleFreeSGD(params, lr=0.1, momentum=0.9)
    zs = []
    for k in range(10):
        opt.zero_grad()
        loss_of(params, k).backward()
        opt.step()
        zs.append([opt.state[p]["z"].clone() for p in params])
    opt.eval()
    mean = [torch.stack([z[i] for z in zs]).mean(0) for i in range(len(params))]
    assert relative([p.detach() for p in params], mean) < 1e-12


def test_schedule_free_step_in_eval_mode_raises_and_modes_are_saved():
    params = [p.clone().requires_grad_() for p in start()]
    opt = ScheduleFreeAdamW(params, lr=0.01)
    loss_of(params, 0).backward()
    opt.step()
    opt.eval()
    with pytest.raises(RuntimeError, match="eval mode"):
        opt.step()
    assert opt.state_dict()["param_groups"][0]["train_mode"] is False
    opt.train()
    opt.step()


@pytest.mark.parametrize("cls, kw, arg", [
    (ScheduleFreeSGD, {"momentum": 0.0}, "momentum"),
    (ScheduleFreeSGD, {"warmup_steps": -1}, "warmup_steps"),
    (ScheduleFreeSGD, {"warmup_steps": 2.5}, "warmup_steps"),
    (ScheduleFreeAdamW, {"betas": (0.0, 0.999)}, "betas"),
    (ScheduleFreeAdamW, {"weight_lr_power": -1.0}, "weight_lr_power"),
    (ScheduleFreeAdamW, {"train_mode": 1}, "train_mode"),
])
def test_schedule_free_bad_arguments(cls, kw, arg):
    with pytest.raises((TypeError, ValueError), match=arg):
        cls([torch.zeros(2, requires_grad=True)], **kw)


def test_state_spec_describes_the_state():
    """Every state entry has the shape and dtype ``_state_spec`` gives."""
    for make in (lambda p: ScheduleFreeSGD(p, lr=0.1), lambda p: ScheduleFreeAdamW(p),
                 lambda p: AdamW(p), lambda p: LAMB(p), lambda p: LARS(p), lambda p: Lion(p)):
        p = torch.randn(3, 2, dtype=torch.float32, requires_grad=True)
        opt = make([p])
        p.grad = torch.ones_like(p)
        opt.step()
        if not hasattr(opt, "_state_spec"):
            continue
        spec = opt._state_spec(p, opt.param_groups[0])
        assert spec.keys() == opt.state[p].keys()
        for name, (shape, dtype) in spec.items():
            assert tuple(opt.state[p][name].shape) == shape and opt.state[p][name].dtype == dtype


# --- schedules ----------------------------------------------------------------------------

def rates(make_sched, steps, lr=0.1):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make_sched(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


@pytest.mark.parametrize("warmup, total, a, b", [(10, 50, 0.0, 0.0), (10, 50, 0.1, 0.05),
                                                 (0, 30, 0.0, 0.2), (1, 2, 0.5, 0.0)])
def test_warmup_cosine_equals_optax(warmup, total, a, b):
    ours = rates(lambda o: WarmupCosine(o, warmup, total, a, b), total + 10)
    with jax.enable_x64(True):
        ref = optax.warmup_cosine_decay_schedule(0.1 * a, 0.1, warmup, total, 0.1 * b)
        theirs = np.array([float(ref(k)) for k in range(total + 10)])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_warmup_cosine_equals_torch_sequential():
    total, warmup, a, b = 50, 10, 0.1, 0.05
    ours = rates(lambda o: WarmupCosine(o, warmup, total, a, b), total + 1)

    def torch_sched(opt):
        lin = torch.optim.lr_scheduler.LinearLR(opt, start_factor=a, total_iters=warmup)
        cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup,
                                                         eta_min=0.1 * b)
        return torch.optim.lr_scheduler.SequentialLR(opt, [lin, cos], milestones=[warmup])
    np.testing.assert_allclose(ours, rates(torch_sched, total + 1), rtol=1e-10)


@pytest.mark.parametrize("shape", ["linear", "sqrt"])
def test_warmup_stable_decay(shape):
    w, t, d, a, b = 5, 40, 10, 0.2, 0.1
    ours = rates(lambda o: WarmupStableDecay(o, w, t, d, a, b, shape=shape), t + 5)
    if shape == "linear":
        with jax.enable_x64(True):
            ref = optax.join_schedules([optax.linear_schedule(0.1 * a, 0.1, w),
                                        optax.constant_schedule(0.1),
                                        optax.linear_schedule(0.1, 0.1 * b, d)], [w, t - d])
            theirs = np.array([float(ref(k)) for k in range(t + 5)])
    else:  # plain float64 re-implementation of the 1 − sqrt cooldown
        theirs = np.array([0.1 * (a + (1 - a) * k / w) if k < w else 0.1 if k < t - d else
                           0.1 * (1 - (1 - b) * math.sqrt(min(k - t + d, d) / d))
                           for k in range(t + 5)])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert ours[w:t - d].min() == ours[w:t - d].max() == 0.1


@pytest.mark.parametrize("make, arg", [
    (lambda o: WarmupCosine(o, 10, 10), "total_steps"),
    (lambda o: WarmupCosine(o, -1, 10), "warmup_steps"),
    (lambda o: WarmupCosine(o, 1.5, 10), "warmup_steps"),
    (lambda o: WarmupCosine(o, 1, 10, initial_factor=1.5), "initial_factor"),
    (lambda o: WarmupCosine(o, 1, 10, final_factor=-0.1), "final_factor"),
    (lambda o: WarmupStableDecay(o, 5, 10, 6), "total_steps"),
    (lambda o: WarmupStableDecay(o, 5, 20, 0), "decay_steps"),
    (lambda o: WarmupStableDecay(o, 5, 20, 5, shape="cosine"), "shape"),
])
def test_schedule_bad_arguments(make, arg):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises((TypeError, ValueError), match=arg):
        make(opt)


def test_schedules_work_with_optnotes_and_round_trip():
    opt = AdamW([torch.zeros(2, requires_grad=True)], lr=0.1)
    sched = WarmupStableDecay(opt, 3, 20, 5)
    for _ in range(7):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    opt2 = AdamW([torch.zeros(2, requires_grad=True)], lr=0.1)
    sched2 = WarmupStableDecay(opt2, 3, 20, 5)
    sched2.load_state_dict(sd)
    assert sched2.get_last_lr() == sched.get_last_lr()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64], ids=str)
def test_schedule_free_state_keeps_its_spec_through_a_state_dict(dtype):
    """torch's load_state_dict casts floating state to the parameter's dtype: the running
    sums are kept in that dtype (float64 for complex), so a loaded state is as made."""
    p = torch.randn(3, 2, dtype=dtype, requires_grad=True)
    opt = ScheduleFreeAdamW([p], lr=0.01, warmup_steps=2)
    for _ in range(3):
        p.grad = torch.ones_like(p)
        opt.step()
    q = p.detach().clone().requires_grad_()
    opt2 = ScheduleFreeAdamW([q], lr=0.01, warmup_steps=2)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # else the tensors are shared
    spec = opt2._state_spec(q, opt2.param_groups[0])
    assert spec.keys() == opt2.state[q].keys()
    for name, (shape, dt) in spec.items():
        assert tuple(opt2.state[q][name].shape) == shape and opt2.state[q][name].dtype == dt
    for o, x in ((opt, p), (opt2, q)):
        x.grad = torch.ones_like(x)
        o.step()
    assert torch.equal(p.detach(), q.detach())
