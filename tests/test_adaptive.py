"""optnotes.adaptive against torch.optim and against plain float64 re-implementations.

Agreement is measured as max|a − b| / max|b| over all parameters after many steps on a
small seeded network with a fixed sequence of minibatches.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from optnotes import minimize, objectives
from optnotes.adaptive import AdaDelta, AdaGrad, Adam, DeltaBarDelta, RMSProp

STEPS = 120


def relative(a: list, b: list) -> float:
    """max|a − b| / max|b| over every entry of every tensor."""
    num = max(float((x - y).abs().max()) for x, y in zip(a, b))
    den = max(float(y.abs().max()) for y in b)
    return num / den


# --- a small network and a fixed sequence of minibatches -------------------------------

def make_problem(seed: int = 0, m: int = 64, batch: int = 16):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(m, 5, generator=g, dtype=torch.float64)
    y = torch.sin(X @ torch.randn(5, 2, generator=g, dtype=torch.float64))
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    model = model.double()
    batches = [torch.randperm(m, generator=g)[:batch] for _ in range(STEPS)]
    return model, X, y, batches


def loss_at(model, params: list, X, y):
    names = [n for n, _ in model.named_parameters()]
    out = torch.func.functional_call(model, dict(zip(names, params)), (X,))
    return ((out - y) ** 2).mean()


def grad_at(model, params: list, X, y) -> list:
    params = [p.detach().requires_grad_(True) for p in params]
    return list(torch.autograd.grad(loss_at(model, params, X, y), params))


def run(make_optimizer, steps: int = STEPS, full_batch: bool = False, seed: int = 0) -> list:
    """Parameters after ``steps`` updates of ``make_optimizer(model.parameters())``."""
    model, X, y, batches = make_problem(seed)
    optimizer = make_optimizer(model.parameters())
    for idx in batches[:steps]:
        idx = slice(None) if full_batch else idx
        optimizer.zero_grad()
        ((model(X[idx]) - y[idx]) ** 2).mean().backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def run_reference(update, state_names, steps: int = STEPS, full_batch: bool = False,
                  seed: int = 0, interim=None) -> list:
    """A plain re-implementation: ``update(theta, g, state)`` per tensor, in float64.

    ``interim(theta, state)``, if given, is the point where the gradient is taken.
    Returns the final parameters and the per-tensor state dicts.
    """
    model, X, y, batches = make_problem(seed)
    theta = [p.detach().clone() for p in model.parameters()]
    states = [{name: torch.zeros_like(p) for name in state_names} for p in theta]
    for idx in batches[:steps]:
        idx = slice(None) if full_batch else idx
        at = theta if interim is None else [interim(p, st) for p, st in zip(theta, states)]
        grads = grad_at(model, at, X[idx], y[idx])
        theta = [update(p, g, st) for p, g, st in zip(theta, grads, states)]
    return theta, states


# --- agreement with torch.optim ----------------------------------------------------------

@pytest.mark.parametrize("ours, theirs", [
    (lambda p: AdaGrad(p, lr=0.05, eps=1e-7),
     lambda p: torch.optim.Adagrad(p, lr=0.05, eps=1e-7)),
    (lambda p: AdaGrad(p, lr=0.05, eps=1e-7, weight_decay=0.01),
     lambda p: torch.optim.Adagrad(p, lr=0.05, eps=1e-7, weight_decay=0.01)),
    (lambda p: AdaDelta(p, lr=1.0, rho=0.95, eps=1e-6),
     lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6)),
    (lambda p: AdaDelta(p, lr=0.5, rho=0.9, eps=1e-4, weight_decay=0.01),
     lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.9, eps=1e-4, weight_decay=0.01)),
    (lambda p: Adam(p, lr=0.01),
     lambda p: torch.optim.Adam(p, lr=0.01)),
    (lambda p: Adam(p, lr=0.003, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.01),
     lambda p: torch.optim.Adam(p, lr=0.003, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.01)),
], ids=["adagrad", "adagrad-wd", "adadelta", "adadelta-wd", "adam", "adam-wd"])
def test_agrees_with_torch(ours, theirs):
    a, b = run(ours), run(theirs)
    start = run(ours, steps=0)
    assert relative(b, start) > 1e-3  # the parameters moved
    assert relative(a, b) < 1e-10


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_with_eps_zero_equals_torch(momentum):
    a = run(lambda p: RMSProp(p, lr=0.002, rho=0.9, eps=0.0, momentum=momentum))
    b = run(lambda p: torch.optim.RMSprop(p, lr=0.002, alpha=0.9, eps=0.0, momentum=momentum))
    assert relative(a, b) < 1e-12


def test_rmsprop_first_step_differs_from_torch_exactly_as_the_formulas_say():
    eps, rho, delta = 0.01, 0.9, 1e-2
    g = torch.tensor([1e-4, -1e-3, 1e-2, -0.1, 1.0, -10.0], dtype=torch.float64)

    def first_step(make):
        p = torch.zeros_like(g, requires_grad=True)
        optimizer = make([p])
        (p * g).sum().backward()  # ∇ = g
        optimizer.step()
        return p.detach()

    ours = first_step(lambda p: RMSProp(p, lr=eps, rho=rho, eps=delta))
    theirs = first_step(lambda p: torch.optim.RMSprop(p, lr=eps, alpha=rho, eps=delta))
    notes = -eps * g / torch.sqrt(delta + (1 - rho) * g**2)  # δ inside the root
    torch_form = -eps * g / (torch.sqrt((1 - rho) * g**2) + delta)  # δ outside the root
    torch.testing.assert_close(ours, notes, rtol=1e-12, atol=0)
    torch.testing.assert_close(theirs, torch_form, rtol=1e-12, atol=0)
    assert float(((ours - theirs).abs() / theirs.abs()).max()) > 0.5  # and they differ


# --- agreement with plain re-implementations of the algorithm boxes ---------------------

def test_rmsprop_matches_algorithm_8_5():
    eps, rho, delta = 0.003, 0.9, 1e-6

    def update(theta, g, st):
        st["r"] = rho * st["r"] + (1 - rho) * g * g
        return theta - eps / torch.sqrt(delta + st["r"]) * g

    expected, _ = run_reference(update, ["r"])
    got = run(lambda p: RMSProp(p, lr=eps, rho=rho, eps=delta))
    assert relative(got, expected) < 1e-10


def test_rmsprop_momentum_matches_classical_momentum_on_the_rescaled_step():
    eps, rho, delta, alpha = 0.001, 0.95, 1e-6, 0.8

    def update(theta, g, st):
        st["r"] = rho * st["r"] + (1 - rho) * g * g
        st["v"] = alpha * st["v"] - eps / torch.sqrt(delta + st["r"]) * g
        return theta + st["v"]

    expected, _ = run_reference(update, ["r", "v"])
    got = run(lambda p: RMSProp(p, lr=eps, rho=rho, eps=delta, momentum=alpha))
    assert relative(got, expected) < 1e-10


@pytest.mark.parametrize("delta", [1e-6, 0.0])
def test_rmsprop_nesterov_matches_algorithm_8_6(delta):
    eps, rho, alpha = 0.001, 0.9, 0.9

    def update(theta, g, st):  # g was taken at θ̃ = θ + αv
        st["r"] = rho * st["r"] + (1 - rho) * g * g
        st["v"] = alpha * st["v"] - eps / torch.sqrt(delta + st["r"]) * g
        return theta + st["v"]

    theta, states = run_reference(update, ["r", "v"],
                                  interim=lambda p, st: p + alpha * st["v"])
    expected = [p + alpha * st["v"] for p, st in zip(theta, states)]  # φ = θ + αv
    got = run(lambda p: RMSProp(p, lr=eps, rho=rho, eps=delta, momentum=alpha, nesterov=True))
    assert relative(got, expected) < 1e-10
    plain = run(lambda p: RMSProp(p, lr=eps, rho=rho, eps=delta, momentum=alpha))
    assert relative(plain, expected) > 1e-6  # Nesterov is not plain momentum here


def test_delta_bar_delta_matches_jacobs_rule_full_batch():
    lr, kappa, phi, theta_avg = 0.05, 0.01, 0.3, 0.7

    def update(w, g, st):
        if "eps" not in st:
            st["eps"] = torch.full_like(w, lr)
        prod = st["delta_bar"] * g  # δ̄(t−1) δ(t)
        st["ups"] = st.get("ups", 0) + int((prod > 0).sum())
        st["downs"] = st.get("downs", 0) + int((prod < 0).sum())
        st["eps"] = torch.where(prod > 0, st["eps"] + kappa,
                                torch.where(prod < 0, st["eps"] - phi * st["eps"], st["eps"]))
        st["delta_bar"] = (1 - theta_avg) * g + theta_avg * st["delta_bar"]
        return w - st["eps"] * g  # w(t+1) = w(t) − ε(t+1) δ(t)

    expected, states = run_reference(update, ["delta_bar"], full_batch=True)
    got = run(lambda p: DeltaBarDelta(p, lr=lr, kappa=kappa, phi=phi, theta=theta_avg),
              full_batch=True)
    assert relative(got, expected) < 1e-10
    assert sum(st["ups"] for st in states) > 0  # both branches were taken
    assert sum(st["downs"] for st in states) > 0


# --- properties ------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_adam_first_step_is_about_lr_whatever_the_gradient_scale(scale):
    eps, delta = 1e-3, 1e-8
    g = scale * torch.tensor([0.3, -1.0, 2.5, -7.0], dtype=torch.float64)
    p = torch.zeros_like(g, requires_grad=True)
    optimizer = Adam([p], lr=eps, eps=delta)
    (p * g).sum().backward()
    optimizer.step()
    step = p.detach().abs()
    torch.testing.assert_close(step, eps * g.abs() / (g.abs() + delta), rtol=1e-12, atol=0)
    torch.testing.assert_close(step, torch.full_like(step, eps), rtol=1e-4, atol=0)
    assert bool((torch.sign(p.detach()) == -torch.sign(g)).all())


def test_adagrad_step_shrinks_like_one_over_sqrt_t_for_a_constant_gradient():
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = AdaGrad([p], lr=1.0, eps=0.0)
    steps = []
    for _ in range(100):
        before = p.detach().clone()
        optimizer.zero_grad()
        (2.0 * p).sum().backward()  # g = 2 every step
        optimizer.step()
        steps.append(float((p.detach() - before).abs()))
    torch.testing.assert_close(torch.tensor(steps, dtype=torch.float64),
                               1 / torch.arange(1, 101, dtype=torch.float64).sqrt(),
                               rtol=1e-12, atol=0)


def test_adam_state_dict_round_trip_keeps_t_exact():
    model, X, y, batches = make_problem()
    optimizer = Adam(model.parameters(), lr=0.01)

    def steps(model, optimizer, idxs):
        for idx in idxs:
            optimizer.zero_grad()
            ((model(X[idx]) - y[idx]) ** 2).mean().backward()
            optimizer.step()

    steps(model, optimizer, batches[:30])
    saved_model, saved = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    steps(model, optimizer, batches[30:60])
    clone = make_problem()[0]
    clone.load_state_dict(saved_model)
    resumed = Adam(clone.parameters(), lr=0.01)
    resumed.load_state_dict(saved)
    assert all(st["t"].dtype == torch.float64 and st["t"].item() == 30
               for st in resumed.state.values())
    steps(clone, resumed, batches[30:60])
    for a, b in zip(model.parameters(), clone.parameters()):
        assert torch.equal(a, b)


def test_adam_step_count_stays_float64_through_a_float32_state_dict():
    # torch's load_state_dict casts every state tensor but "step" to the parameter's dtype
    p = torch.zeros(3, requires_grad=True)
    optimizer = Adam([p], lr=0.01)
    p.grad = torch.ones(3)
    optimizer.step()
    resumed = Adam([p], lr=0.01)
    resumed.load_state_dict(optimizer.state_dict())
    assert resumed.state[p]["t"].dtype == torch.float64
    legacy = optimizer.state_dict()
    legacy["state"][0]["t"] = 1  # an older state dict: a Python int
    resumed.load_state_dict(legacy)
    assert resumed.state[p]["t"].dtype == torch.float64 and resumed.state[p]["t"].item() == 1


# --- convergence on the rotated quadratic ----------------------------------------------------

@pytest.mark.parametrize("make, steps", [
    (lambda p: DeltaBarDelta(p, lr=0.1, kappa=0.05, phi=0.5, theta=0.7), 300),
    (lambda p: AdaGrad(p, lr=0.5), 500),
    (lambda p: RMSProp(p, lr=0.003), 1500),  # a constant rate ends in a ball of radius ~ lr
    (lambda p: RMSProp(p, lr=0.003, momentum=0.9), 1000),
    (lambda p: RMSProp(p, lr=0.003, momentum=0.9, nesterov=True), 1000),
    (lambda p: AdaDelta(p, lr=1.0, eps=1e-4), 2000),
    (lambda p: Adam(p, lr=0.05), 1000),
], ids=["delta-bar-delta", "adagrad", "rmsprop", "rmsprop-momentum", "rmsprop-nesterov",
        "adadelta", "adam"])
def test_converges_on_rotated_quadratic(make, steps):
    f = objectives.rotated_quadratic(10.0)
    trajectory = minimize(f, make, f.start, steps=steps)
    distance = float((trajectory.points[-1] - f.minimizer).norm())
    assert distance < 1e-2 * float((f.start - f.minimizer).norm())
    assert float(trajectory.values[-1]) < 1e-4 * float(trajectory.values[0])


# --- bad arguments -------------------------------------------------------------------------

DBD = dict(lr=0.1, kappa=0.01, phi=0.5, theta=0.7)


@pytest.mark.parametrize("cls, kwargs, error, words", [
    (DeltaBarDelta, {**DBD, "lr": -0.1}, ValueError, ["lr", "-0.1"]),
    (DeltaBarDelta, {**DBD, "kappa": -1.0}, ValueError, ["kappa", "-1.0"]),
    (DeltaBarDelta, {**DBD, "phi": 1.0}, ValueError, ["phi", "1.0"]),
    (DeltaBarDelta, {**DBD, "phi": -0.2}, ValueError, ["phi", "-0.2"]),
    (DeltaBarDelta, {**DBD, "theta": 1.5}, ValueError, ["theta", "1.5"]),
    (DeltaBarDelta, {**DBD, "theta": "0.5"}, TypeError, ["theta", "'0.5'"]),
    (AdaGrad, {"lr": -1.0}, ValueError, ["lr", "-1.0"]),
    (AdaGrad, {"eps": -1e-7}, ValueError, ["eps", "-1e-07"]),
    (AdaGrad, {"lr": True}, TypeError, ["lr", "True"]),
    (AdaGrad, {"weight_decay": -0.1}, ValueError, ["weight_decay", "-0.1"]),
    (AdaGrad, {"lr": math.nan}, ValueError, ["lr", "nan"]),
    (RMSProp, {"lr": -0.01}, ValueError, ["lr", "-0.01"]),
    (RMSProp, {"rho": 1.0}, ValueError, ["rho", "1.0"]),
    (RMSProp, {"rho": -0.1}, ValueError, ["rho", "-0.1"]),
    (RMSProp, {"eps": -1.0}, ValueError, ["eps", "-1.0"]),
    (RMSProp, {"momentum": 1.0}, ValueError, ["momentum", "1.0"]),
    (RMSProp, {"nesterov": True}, ValueError, ["nesterov", "momentum", "0.0"]),
    (RMSProp, {"nesterov": 1, "momentum": 0.9}, TypeError, ["nesterov", "1"]),
    (RMSProp, {"weight_decay": -1.0}, ValueError, ["weight_decay", "-1.0"]),
    (AdaDelta, {"lr": -1.0}, ValueError, ["lr", "-1.0"]),
    (AdaDelta, {"rho": 1.0}, ValueError, ["rho", "1.0"]),
    (AdaDelta, {"eps": -1e-6}, ValueError, ["eps", "-1e-06"]),
    (AdaDelta, {"weight_decay": -1.0}, ValueError, ["weight_decay", "-1.0"]),
    (Adam, {"lr": -0.001}, ValueError, ["lr", "-0.001"]),
    (Adam, {"betas": (1.0, 0.999)}, ValueError, ["betas[0]", "1.0"]),
    (Adam, {"betas": (0.9, -0.5)}, ValueError, ["betas[1]", "-0.5"]),
    (Adam, {"betas": (0.9, "x")}, TypeError, ["betas[1]", "'x'"]),
    (Adam, {"betas": 0.9}, TypeError, ["betas", "0.9"]),
    (Adam, {"betas": (0.9, 0.99, 0.999)}, TypeError, ["betas", "0.999"]),
    (Adam, {"eps": -1e-8}, ValueError, ["eps", "-1e-08"]),
    (Adam, {"weight_decay": -1.0}, ValueError, ["weight_decay", "-1.0"]),
])
def test_bad_arguments(cls, kwargs, error, words):
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(error) as info:
        cls([p], **kwargs)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("cls, kwargs, bad", [
    (DeltaBarDelta, DBD, {"phi": 2.0}),
    (AdaGrad, {}, {"eps": -1.0}),
    (RMSProp, {}, {"nesterov": True}),
    (AdaDelta, {}, {"rho": 1.0}),
    (Adam, {}, {"betas": (0.9, 1.0)}),
])
def test_bad_values_in_added_param_groups_fail_too(cls, kwargs, bad):
    optimizer = cls([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=next(iter(bad))):
        optimizer.add_param_group({"params": [torch.zeros(2, requires_grad=True)], **bad})


@pytest.mark.parametrize("cls, kwargs", [
    (DeltaBarDelta, DBD), (AdaGrad, {}), (RMSProp, {"momentum": 0.5, "nesterov": True}),
    (AdaDelta, {}), (Adam, {}),
])
def test_state_follows_the_parameter_dtype(cls, kwargs):
    p = torch.ones(3, dtype=torch.float32, requires_grad=True)
    optimizer = cls([p], **kwargs)
    (p**2).sum().backward()
    optimizer.step()
    for name, value in optimizer.state[p].items():
        if name == "t":  # Adam's step count: exact in float64 whatever the parameters
            assert value.dtype == torch.float64 and value.device == p.device
        elif isinstance(value, torch.Tensor):
            assert value.dtype == p.dtype and value.device == p.device
    assert p.dtype == torch.float32 and bool(torch.isfinite(p).all())
