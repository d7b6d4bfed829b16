"""SGD, momentum and Nesterov momentum (Algorithms 8.1–8.3) against independent references.

References: ``torch.optim.SGD`` (same iterates at a constant learning rate), a plain float64
re-implementation of the notes' algorithm boxes, closed-form facts (terminal velocity) and
convergence on the test functions of ``optnotes.objectives``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call, grad

import optnotes
from conftest import copy_model, make_batches, make_mlp, max_rel_diff, mse
from optnotes import objectives

STEPS = 100
REL = 1e-12


def run(model, opt, batches, scheduler=None):
    """Yield the parameters after each step of ``opt`` on the fixed minibatch sequence."""
    for b in batches:
        opt.zero_grad()
        mse(model, b).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        yield list(model.parameters())


# --- against torch.optim.SGD at a constant learning rate -------------------------------------

CONSTANT_LR = {
    "plain": dict(lr=0.1),
    "weight-decay": dict(lr=0.1, weight_decay=1e-2),
    "momentum": dict(lr=0.05, momentum=0.9),
    "momentum-weight-decay": dict(lr=0.05, momentum=0.9, weight_decay=1e-2),
    "nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
    "nesterov-weight-decay": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
}


@pytest.mark.parametrize("name", CONSTANT_LR)
def test_matches_torch_sgd_at_constant_lr(name):
    kw = CONSTANT_LR[name]
    batches = make_batches(STEPS)
    ours, theirs = make_mlp(), make_mlp()
    opt = optnotes.SGD(ours.parameters(), **kw)
    ref = torch.optim.SGD(theirs.parameters(), **kw)
    worst = 0.0
    for k, (a, b) in enumerate(zip(run(ours, opt, batches), run(theirs, ref, batches))):
        worst = max(worst, max_rel_diff(a, b))
        assert worst <= REL, f"step {k + 1}: relative difference {worst:.3g}"
    assert max_rel_diff(ours.parameters(), make_mlp().parameters()) > 1e-2  # it did move


# --- Nesterov against a plain re-implementation of Algorithm 8.3 --------------------------------

def nesterov_reference(model, batches, eps, alpha, weight_decay=0.0):
    """Algorithm 8.3 line by line on (θ, v), the gradient taken explicitly at θ̃ = θ + αv.

    Yields θ + αv after each step: the point optnotes' SGD holds in its parameters.
    """
    functional = copy_model(model)  # taken now, before the caller's optimizer moves model
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    return _nesterov_reference(functional, theta, batches, eps, alpha, weight_decay)


def _nesterov_reference(functional, theta, batches, eps, alpha, weight_decay):
    def loss(params, batch):
        X, y = batch
        return torch.nn.functional.mse_loss(functional_call(functional, params, (X,)), y)

    v = {n: torch.zeros_like(t) for n, t in theta.items()}
    for batch in batches:
        interim = {n: theta[n] + alpha * v[n] for n in theta}  # θ̃ ← θ + αv
        g = grad(loss)(interim, batch)  # g ← ∇J(θ̃)
        g = {n: g[n] + weight_decay * interim[n] for n in g}  # (+ λθ̃, the L2 penalty's gradient)
        v = {n: alpha * v[n] - eps * g[n] for n in v}  # v ← αv − εg
        theta = {n: theta[n] + v[n] for n in theta}  # θ ← θ + v
        yield [theta[n] + alpha * v[n] for n in theta]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
@pytest.mark.parametrize("alpha", [0.5, 0.9])
def test_nesterov_matches_algorithm_8_3(alpha, weight_decay):
    batches = make_batches(STEPS)
    model = make_mlp()
    reference = nesterov_reference(model, batches, 0.05, alpha, weight_decay)
    opt = optnotes.SGD(model.parameters(), lr=0.05, momentum=alpha, nesterov=True,
                       weight_decay=weight_decay)
    for k, (ours, phi) in enumerate(zip(run(model, opt, batches), reference)):
        d = max_rel_diff(ours, phi)
        assert d <= REL, f"step {k + 1}: relative difference {d:.3g}"


# --- with a changing learning rate: the documented difference from torch --------------------

def momentum_reference(model, batches, lrs, alpha):
    """Algorithm 8.2 with the rate ε_k of step k: v ← αv − ε_k g; θ ← θ + v."""
    model = copy_model(model)
    v = [torch.zeros_like(p) for p in model.parameters()]
    for batch, eps in zip(batches, lrs):
        model.zero_grad()
        mse(model, batch).backward()
        with torch.no_grad():
            for p, vi in zip(model.parameters(), v):
                vi.mul_(alpha).sub_(eps * p.grad)  # v ← αv − ε_k g
                p.add_(vi)  # θ ← θ + v
        yield [p.detach().clone() for p in model.parameters()]


def test_momentum_with_step_lr_follows_the_notes_not_torch():
    """torch keeps b ← αb + g and steps −ε_k b, so a rate change rescales the whole history;
    the notes' velocity v ← αv − ε_k g keeps the rate each gradient was taken with. The two
    agree until the first change of rate (after step 10) and differ from then on."""
    steps, step_size, alpha, lr = 30, 10, 0.9, 0.05
    batches = make_batches(steps)
    lrs = [lr * 0.5 ** (k // step_size) for k in range(steps)]
    ours, theirs = make_mlp(), make_mlp()
    opt = optnotes.SGD(ours.parameters(), lr=lr, momentum=alpha)
    ref = torch.optim.SGD(theirs.parameters(), lr=lr, momentum=alpha)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=0.5)
    sched_ref = torch.optim.lr_scheduler.StepLR(ref, step_size=step_size, gamma=0.5)
    notes = momentum_reference(make_mlp(), batches, lrs, alpha)
    trajectories = zip(run(ours, opt, batches, sched), run(theirs, ref, batches, sched_ref), notes)
    for k, (a, t, n) in enumerate(trajectories, start=1):
        assert max_rel_diff(a, n) <= REL, f"step {k}: differs from the notes' box"
        if k <= step_size:
            assert max_rel_diff(a, t) <= REL, f"step {k}: differs from torch before the rate changed"
        else:
            assert max_rel_diff(a, t) > 1e-6, f"step {k}: should differ from torch after the rate changed"


def test_plain_sgd_with_step_lr_matches_torch():
    """Without momentum there is no history to rescale: optnotes and torch agree throughout."""
    batches = make_batches(30)
    ours, theirs = make_mlp(), make_mlp()
    opt, ref = optnotes.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    sched_ref = torch.optim.lr_scheduler.StepLR(ref, step_size=10, gamma=0.5)
    for k, (a, t) in enumerate(zip(run(ours, opt, batches, sched), run(theirs, ref, batches, sched_ref))):
        assert max_rel_diff(a, t) <= REL, f"step {k + 1}"


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
def test_momentum_schedule_follows_the_box_with_alpha_k(nesterov):
    """With α_k set by ``MomentumSchedule`` (here Nesterov's k/(k+3), which starts at 0), each
    step must be the box's line with α_k: v ← α_k v − εg, then θ ← θ + v (momentum) or, for
    the interim point the class holds, φ ← φ + α_k v − εg (Nesterov, as documented). A step
    with α_k = 0 is still a velocity update (v ← −εg), which the next step's α_{k+1} v uses."""
    eps, steps = 0.05, 12
    batches = make_batches(steps)
    model, ref = make_mlp(), make_mlp()
    opt = optnotes.SGD(model.parameters(), lr=eps, momentum=0.5, nesterov=nesterov)
    sched = optnotes.MomentumSchedule(opt, optnotes.schedules.nesterov_momentum)
    v = [torch.zeros_like(p) for p in ref.parameters()]
    for k, batch in enumerate(batches):
        alpha = k / (k + 3)
        assert opt.param_groups[0]["momentum"] == alpha
        opt.zero_grad()
        mse(model, batch).backward()
        opt.step()
        sched.step()
        ref.zero_grad()
        mse(ref, batch).backward()
        with torch.no_grad():
            for p, vi in zip(ref.parameters(), v):
                vi.mul_(alpha).sub_(eps * p.grad)  # v ← α_k v − εg
                if nesterov:
                    p.add_(alpha * vi - eps * p.grad)  # φ ← φ + α_k v − εg
                else:
                    p.add_(vi)  # θ ← θ + v
        d = max_rel_diff(model.parameters(), ref.parameters())
        assert d <= REL, f"step {k + 1} (α = {alpha:.3f}): relative difference {d:.3g}"


# --- terminal velocity ------------------------------------------------------------------------

@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("alpha", [0.5, 0.9, 0.99])
def test_terminal_velocity(alpha, nesterov):
    """With a constant gradient g the step length tends to ε‖g‖/(1−α) (the notes' terminal
    velocity); the gap shrinks like α^k."""
    eps = 0.01
    g = torch.tensor([0.3, -1.2, 0.5, 2.0], dtype=torch.float64)
    theta = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = optnotes.SGD([theta], lr=eps, momentum=alpha, nesterov=nesterov)
    steps = math.ceil(math.log(1e-9) / math.log(alpha))
    for _ in range(steps):
        before = theta.detach().clone()
        opt.zero_grad()
        (g * theta).sum().backward()  # a linear loss: ∇ = g everywhere
        opt.step()
    step_length = float((theta.detach() - before).norm())
    expected = eps * float(g.norm()) / (1 - alpha)
    assert step_length == pytest.approx(expected, rel=1e-6)
    # and it points down the gradient
    direction = (theta.detach() - before) / step_length
    assert torch.allclose(direction, -g / g.norm(), rtol=0, atol=1e-9)


# --- convergence on the test functions ------------------------------------------------------------

METHODS = {
    "sgd": {},
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.9, nesterov=True),
}
# (lr, steps) that reach the tolerance with a margin; GD needs many more steps than momentum.
QUADRATIC = {"sgd": (1.0, 2000), "momentum": (1.0, 500), "nesterov": (1.0, 500)}
ROSENBROCK = {"sgd": (0.0019, 14000), "momentum": (1e-3, 3000), "nesterov": (1e-3, 3000)}


@pytest.mark.parametrize("method", METHODS)
def test_converges_on_rotated_quadratic(method):
    f = objectives.rotated_quadratic(100)
    lr, steps = QUADRATIC[method]
    tr = optnotes.minimize(f, lambda p: optnotes.SGD(p, lr=lr, **METHODS[method]), f.start, steps)
    assert float((tr.points[-1] - f.minimizer).norm()) < 1e-6
    assert float(tr.values[-1]) < float(tr.values[0])


@pytest.mark.parametrize("method", METHODS)
def test_converges_on_rosenbrock(method):
    f = objectives.rosenbrock(2)
    lr, steps = ROSENBROCK[method]
    tr = optnotes.minimize(f, lambda p: optnotes.SGD(p, lr=lr, **METHODS[method]), f.start, steps)
    assert float((tr.points[-1] - f.minimizer).norm()) < 1e-4


@pytest.mark.parametrize("y0", [1e-3, -1e-3])
def test_gradient_descent_escapes_the_saddle(y0):
    """Started just off the saddle's stable direction, GD slides to the minimizer (0, ±1) on
    the side it started."""
    f = objectives.saddle()
    tr = optnotes.minimize(f, lambda p: optnotes.SGD(p, lr=0.1), [0.5, y0], 400)
    target = torch.tensor([0.0, math.copysign(1.0, y0)], dtype=torch.float64)
    assert float((tr.points[-1] - target).norm()) < 1e-6
    assert float(tr.values[-1]) == pytest.approx(f.minimum, abs=1e-12)
