"""The optimizer contract: what every optnotes optimizer promises, checked on one table.

A new optimizer joins by adding ONE row to ``CASES`` (usually with :meth:`Case.of`):

    Case.of("adam", optnotes.Adam, lr=1e-2, betas=(0.9, 0.999),
            bad=LR_BAD + [Bad({"betas": (1.0, 0.9)}, ValueError, "betas")],
            state=("s", "r"))

Every test below is parametrized over the rows (and, for bad arguments, over each row's
``bad`` entries), so the row is all it takes. The fields:

``make(params, **overrides)``
    builds the optimizer; ``overrides`` replace the row's hyperparameters.
``lr``
    the learning rate ``make`` uses; group and scheduler tests scale it.
``bad``
    ``Bad(kwargs, exception, argument)`` entries: ``make(params, **kwargs)`` must raise
    ``exception`` with a message naming ``argument`` and the offending value (the value of
    ``kwargs[argument]`` unless ``Bad.value`` gives it). With ``in_group=True`` (default)
    the same kwargs inside a param-group dict, or passed to ``add_param_group``, must
    raise too.
``state``
    names of the per-parameter state tensors a stepped parameter must have (they must
    have the parameter's shape, dtype and device).
``closure``
    ``step`` needs a closure (second-order methods); the tests then always pass one.
``skip``
    ``{test name: reason}`` for a contract clause that does not apply to this method,
    e.g. ``{"param_groups": "works on one flattened vector, like torch.optim.LBFGS"}``.
    Keep it empty unless the method itself makes the clause meaningless.
"""

from __future__ import annotations

import copy
import functools
import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import torch

import optnotes
from conftest import flat, make_batches, make_mlp, max_rel_diff, mse

class _Missing:
    def __repr__(self) -> str:
        return "kwargs[arg]"


_MISSING = _Missing()


@dataclass(frozen=True)
class Bad:
    """``make(params, **kwargs)`` raises ``exc`` naming ``arg`` and the value it got."""

    kwargs: dict
    exc: type[Exception]
    arg: str
    value: Any = _MISSING  # the value the message must show; default kwargs[arg]
    in_group: bool = True  # also invalid inside a param-group dict / add_param_group

    @property
    def shown(self):
        return self.kwargs[self.arg] if self.value is _MISSING else self.value

    @property
    def id(self) -> str:
        return ",".join(f"{k}={v!r}" for k, v in self.kwargs.items())


@dataclass(frozen=True, repr=False)
class Case:
    """One optimizer configuration: a row of the contract table (see the module docstring)."""

    id: str
    make: Callable[..., torch.optim.Optimizer]
    lr: float
    bad: tuple[Bad, ...] = ()
    state: tuple[str, ...] = ()
    closure: bool = False
    skip: dict = field(default_factory=dict)
    float32_tol: float = 1e-5  # relative gap allowed between float32 and float64 runs

    @classmethod
    def of(cls, id: str, optimizer: type, *, bad=(), state=(), closure=False, skip=None,
           float32_tol=1e-5, **hyper) -> "Case":
        """A row for ``optimizer(params, **hyper)``; ``hyper`` must include ``lr``."""
        return cls(id, functools.partial(optimizer, **hyper), hyper["lr"], tuple(bad),
                   tuple(state), closure, dict(skip or {}), float32_tol)

    def check(self, clause: str) -> None:
        if clause in self.skip:
            pytest.skip(f"{self.id}: {self.skip[clause]}")

    def __str__(self) -> str:
        return self.id

    __repr__ = __str__


# --- bad arguments shared by many rows ---------------------------------------------------

LR_BAD = [
    Bad({"lr": -0.1}, ValueError, "lr"),
    Bad({"lr": float("nan")}, ValueError, "lr"),
    Bad({"lr": float("inf")}, ValueError, "lr"),
    Bad({"lr": "0.1"}, TypeError, "lr"),
    Bad({"lr": None}, TypeError, "lr"),
]
WEIGHT_DECAY_BAD = [
    Bad({"weight_decay": -1e-4}, ValueError, "weight_decay"),
    Bad({"weight_decay": float("nan")}, ValueError, "weight_decay"),
]
MOMENTUM_BAD = [
    Bad({"momentum": -0.1}, ValueError, "momentum"),
    Bad({"momentum": 1.0}, ValueError, "momentum"),
    Bad({"momentum": 1.5}, ValueError, "momentum"),
    Bad({"momentum": "0.9"}, TypeError, "momentum"),
]
MAXIMIZE_BAD = [Bad({"maximize": 1}, TypeError, "maximize"),
                Bad({"maximize": "yes"}, TypeError, "maximize")]
SGD_BAD = LR_BAD + WEIGHT_DECAY_BAD + MOMENTUM_BAD + MAXIMIZE_BAD + [
    Bad({"nesterov": 1}, TypeError, "nesterov"),
    Bad({"nesterov": "yes"}, TypeError, "nesterov"),
]

EPS_BAD = [
    Bad({"eps": -1e-8}, ValueError, "eps"),
    Bad({"eps": float("nan")}, ValueError, "eps"),
    Bad({"eps": "1e-8"}, TypeError, "eps"),
]
RHO_BAD = [
    Bad({"rho": -0.1}, ValueError, "rho"),
    Bad({"rho": 1.0}, ValueError, "rho"),
    Bad({"rho": "0.9"}, TypeError, "rho"),
]
ADAPTIVE_BAD = LR_BAD + WEIGHT_DECAY_BAD + EPS_BAD + MAXIMIZE_BAD
RMSPROP_BAD = ADAPTIVE_BAD + RHO_BAD + MOMENTUM_BAD + [
    Bad({"nesterov": 1}, TypeError, "nesterov"),
    Bad({"nesterov": "yes"}, TypeError, "nesterov"),
]
BETAS_BAD = [
    Bad({"betas": (1.0, 0.999)}, ValueError, "betas"),
    Bad({"betas": (0.9, -0.1)}, ValueError, "betas"),
    Bad({"betas": (0.9, float("nan"))}, ValueError, "betas"),
    Bad({"betas": ("0.9", 0.999)}, TypeError, "betas"),
    Bad({"betas": 0.9}, TypeError, "betas"),
    Bad({"betas": (0.9, 0.99, 0.999)}, TypeError, "betas"),
]
DBD_BAD = LR_BAD + MAXIMIZE_BAD + [
    Bad({"kappa": -0.01}, ValueError, "kappa"),
    Bad({"kappa": float("inf")}, ValueError, "kappa"),
    Bad({"phi": 1.0}, ValueError, "phi"),
    Bad({"phi": -0.1}, ValueError, "phi"),
    Bad({"theta": 1.0}, ValueError, "theta"),
    Bad({"theta": "0.7"}, TypeError, "theta"),
]

CLOSURE_BAD = LR_BAD + [
    Bad({"max_iter": 0}, ValueError, "max_iter"),
    Bad({"tolerance_grad": -1.0}, ValueError, "tolerance_grad"),
    Bad({"line_search_fn": "armijo"}, ValueError, "line_search_fn"),
]

# --- THE TABLE: one row per optimizer configuration ---------------------------------------

CASES = [
    Case.of("sgd", optnotes.SGD, lr=0.1,
            bad=SGD_BAD + [Bad({"nesterov": True}, ValueError, "momentum", value=0.0)]),
    Case.of("sgd-momentum", optnotes.SGD, lr=0.05, momentum=0.9, state=("v",), bad=SGD_BAD),
    Case.of("sgd-nesterov", optnotes.SGD, lr=0.05, momentum=0.9, nesterov=True, state=("v",),
            bad=SGD_BAD + [Bad({"momentum": 0.0}, ValueError, "momentum")]),
    Case.of("sgd-weight-decay", optnotes.SGD, lr=0.1, weight_decay=0.01, bad=SGD_BAD),
    Case.of("delta-bar-delta", optnotes.DeltaBarDelta, lr=0.05, kappa=0.01, phi=0.5, theta=0.7,
            state=("eps", "delta_bar"), bad=DBD_BAD,
            skip={"scheduler": "lr only sets the initial per-parameter rates; the rates are state"}),
    Case.of("adagrad", optnotes.AdaGrad, lr=0.05, state=("r",), bad=ADAPTIVE_BAD),
    Case.of("rmsprop", optnotes.RMSProp, lr=0.01, state=("r",),
            bad=RMSPROP_BAD + [Bad({"nesterov": True}, ValueError, "momentum", value=0.0)]),
    Case.of("rmsprop-momentum", optnotes.RMSProp, lr=0.005, momentum=0.9, state=("r", "v"),
            bad=RMSPROP_BAD),
    Case.of("rmsprop-nesterov", optnotes.RMSProp, lr=0.005, momentum=0.9, nesterov=True,
            state=("r", "v"), bad=RMSPROP_BAD + [Bad({"momentum": 0.0}, ValueError, "momentum")]),
    Case.of("adadelta", optnotes.AdaDelta, lr=1.0, state=("r", "s"), bad=ADAPTIVE_BAD + RHO_BAD),
    Case.of("adam", optnotes.Adam, lr=0.01, state=("s", "r"), bad=ADAPTIVE_BAD + BETAS_BAD),
    Case.of("adam-weight-decay", optnotes.Adam, lr=0.01, weight_decay=0.01, state=("s", "r"),
            bad=ADAPTIVE_BAD + BETAS_BAD),
    Case.of("newton", optnotes.Newton, lr=1.0, damping=10.0, max_iter=1, closure=True,
            bad=CLOSURE_BAD + [Bad({"damping": -1.0}, ValueError, "damping")]),
    Case.of("newton-cg", optnotes.NewtonCG, lr=1.0, max_iter=1, closure=True,
            bad=CLOSURE_BAD + [Bad({"max_cg_iter": 0}, ValueError, "max_cg_iter")]),
    Case.of("saddle-free-newton", optnotes.SaddleFreeNewton, lr=1.0, damping=10.0, max_iter=1,
            closure=True, bad=CLOSURE_BAD + [Bad({"krylov_dim": 0}, ValueError, "krylov_dim")]),
    # ten strong-Wolfe line searches in float32 carry its rounding (~6e-8) into β and ε*
    Case.of("cg", optnotes.ConjugateGradient, lr=1.0, max_iter=1, closure=True, float32_tol=1e-4,
            bad=CLOSURE_BAD + [Bad({"beta": "hs"}, ValueError, "beta")]),
    Case.of("bfgs", optnotes.BFGS, lr=1.0, max_iter=1, closure=True, bad=CLOSURE_BAD),
    Case.of("lbfgs", optnotes.LBFGS, lr=1.0, max_iter=1, closure=True,
            bad=CLOSURE_BAD + [Bad({"history_size": 0}, ValueError, "history_size")]),
    Case.of("adafactor", optnotes.Adafactor, lr=0.01, state=("t",),
            bad=LR_BAD + WEIGHT_DECAY_BAD + MAXIMIZE_BAD + [
                Bad({"d": 0.5}, ValueError, "d"), Bad({"beta2_decay": 0.5}, ValueError,
                                                      "beta2_decay"),
                Bad({"eps": 1e-3}, TypeError, "eps")]),
    Case.of("shampoo", optnotes.Shampoo, lr=0.05, momentum=0.5, graft="adam",
            precondition_frequency=2, state=("t",),
            bad=ADAPTIVE_BAD + MOMENTUM_BAD + [Bad({"eps": 0.0}, ValueError, "eps"),
                                               Bad({"graft": "adagrad"}, ValueError, "graft")],
            skip={"no_sync": "decides on the host when to recompute the roots (eigh)"}),
    # the first basis of a tall or wide weight spans a null space of L or R, whose basis
    # eigh picks arbitrarily (and differently in float32 and float64): SOAP's Adam steps
    # there differ by more than rounding (docstring); tests/test_matrix.py checks the values
    Case.of("soap", optnotes.SOAP, lr=0.01, precondition_frequency=3, state=("t", "s", "r"),
            float32_tol=1e-2,
            bad=ADAPTIVE_BAD + BETAS_BAD + [Bad({"shampoo_beta": 1.0}, ValueError,
                                                "shampoo_beta")],
            skip={"no_sync": "decides on the host when to refresh the eigenbasis (eigh)"}),
    # Muon steps matrices; the biases take AdamW steps (adamw_lr). Newton-Schulz in float32:
    # bfloat16 rounds float32 and float64 inputs apart by its own epsilon (4e-3)
    Case.of("muon", optnotes.Muon, lr=0.02, adamw_lr=0.01, ns_dtype=torch.float32,
            bad=LR_BAD + WEIGHT_DECAY_BAD + MOMENTUM_BAD + [
                Bad({"ns_steps": 0}, ValueError, "ns_steps"),
                Bad({"adamw_lr": -1.0}, ValueError, "adamw_lr")]),
    Case.of("adamw", optnotes.AdamW, lr=0.01, weight_decay=0.1, state=("s", "r"),
            bad=ADAPTIVE_BAD + BETAS_BAD),
    Case.of("lars", optnotes.LARS, lr=1.0, momentum=0.9, weight_decay=1e-3, state=("v",),
            bad=SGD_BAD + [Bad({"trust_coefficient": 0.0}, ValueError, "trust_coefficient"),
                           Bad({"eps": -1.0}, ValueError, "eps")]),
    Case.of("lamb", optnotes.LAMB, lr=0.01, weight_decay=0.01, state=("s", "r"),
            bad=ADAPTIVE_BAD + BETAS_BAD),
    Case.of("lion", optnotes.Lion, lr=1e-3, weight_decay=0.1, state=("m",),
            bad=LR_BAD + WEIGHT_DECAY_BAD + BETAS_BAD + MAXIMIZE_BAD),
    Case.of("schedule-free-sgd", optnotes.ScheduleFreeSGD, lr=0.05, warmup_steps=3,
            state=("z",), bad=LR_BAD + WEIGHT_DECAY_BAD + MAXIMIZE_BAD + [
                Bad({"momentum": 0.0}, ValueError, "momentum"),
                Bad({"momentum": 1.0}, ValueError, "momentum"),
                Bad({"warmup_steps": -1}, ValueError, "warmup_steps"),
                Bad({"warmup_steps": 1.5}, TypeError, "warmup_steps")]),
    Case.of("schedule-free-adamw", optnotes.ScheduleFreeAdamW, lr=0.01, weight_decay=0.01,
            state=("z", "r"), bad=ADAPTIVE_BAD + BETAS_BAD + [
                Bad({"betas": (0.0, 0.999)}, ValueError, "betas"),
                Bad({"weight_lr_power": -1.0}, ValueError, "weight_lr_power")]),
]

BAD = [pytest.param(c, b, id=f"{c.id}-{b.id}") for c in CASES for b in c.bad]
BAD_IN_GROUP = [p for p in BAD if p.values[1].in_group]
FIRST_BAD = [pytest.param(c, next(b for b in c.bad if b.in_group), id=c.id)
             for c in CASES if any(b.in_group for b in c.bad)]


@pytest.fixture(params=CASES, ids=str)
def case(request) -> Case:
    return request.param


# --- helpers -------------------------------------------------------------------------------

def step(case: Case, opt, model, batch):
    """One optimizer step on ``mse(model, batch)``, the way a user of ``case`` would take it."""
    if case.closure:
        def closure():
            opt.zero_grad()
            loss = mse(model, batch)
            loss.backward()
            return loss
        return opt.step(closure)
    opt.zero_grad()
    mse(model, batch).backward()
    return opt.step()


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


def assert_equal(a, b, what=""):
    a, b = list(a), list(b)
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert torch.equal(x, y), f"{what} tensor {i} differs: max |Δ| = {(x - y).abs().max():.3g}"


def assert_state_dicts_equal(a, b):
    assert a.keys() == b.keys()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        sa, sb = a["state"][i], b["state"][i]
        assert sa.keys() == sb.keys(), f"state of param {i}"
        for k in sa:
            if isinstance(sa[k], torch.Tensor):
                assert torch.equal(sa[k], sb[k]), f"state {k!r} of param {i}"
            else:
                assert sa[k] == sb[k], f"state {k!r} of param {i}"


def message_names(excinfo, arg, value):
    msg = str(excinfo.value)
    assert arg in msg, f"message does not name {arg!r}: {msg!r}"
    assert repr(value) in msg or str(value) in msg, f"message does not show {value!r}: {msg!r}"


# --- (a) bad arguments ---------------------------------------------------------------------

@pytest.mark.parametrize("case, bad", BAD)
def test_bad_argument_raises_naming_it(case, bad):
    p = torch.zeros(3, requires_grad=True)
    with pytest.raises(bad.exc) as excinfo:
        case.make([p], **bad.kwargs)
    message_names(excinfo, bad.arg, bad.shown)


@pytest.mark.parametrize("case, bad", BAD_IN_GROUP)
def test_bad_value_in_group_dict_raises(case, bad):
    p, q = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(bad.exc) as excinfo:
        case.make([{"params": [p]}, {"params": [q], **bad.kwargs}])
    message_names(excinfo, bad.arg, bad.shown)


@pytest.mark.parametrize("case, bad", BAD_IN_GROUP)
def test_bad_value_in_add_param_group_raises(case, bad):
    p, q = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt = case.make([p])
    with pytest.raises(bad.exc) as excinfo:
        opt.add_param_group({"params": [q], **bad.kwargs})
    message_names(excinfo, bad.arg, bad.shown)


@pytest.mark.parametrize("case, bad", FIRST_BAD)
def test_failed_add_param_group_leaves_optimizer_unchanged(case, bad):
    """A rejected group must not stay behind in ``param_groups`` (where ``step`` would use it)."""
    p, q = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt = case.make([p])
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(bad.exc):
        opt.add_param_group({"params": [q], **bad.kwargs})
    assert len(opt.param_groups) == 1, "the rejected group was kept"
    assert_state_dicts_equal(opt.state_dict(), before)
    # and q can still be added with good values
    opt.add_param_group({"params": [q]})
    assert len(opt.param_groups) == 2


# --- (b) the params argument ---------------------------------------------------------------

BAD_PARAMS = {
    "int": (lambda: 3, TypeError),
    "single-tensor": (lambda: torch.zeros(3, requires_grad=True), TypeError),
    "list-with-string": (lambda: [torch.zeros(3, requires_grad=True), "w"], TypeError),
    "group-with-string": (lambda: [{"params": [torch.zeros(3, requires_grad=True), "w"]}], TypeError),
    "empty-list": (lambda: [], ValueError),
    "empty-generator": (lambda: iter(()), ValueError),
}


@pytest.mark.parametrize("kind", BAD_PARAMS)
def test_bad_params_raise_naming_params(case, kind):
    make_params, exc = BAD_PARAMS[kind]
    with pytest.raises(exc) as excinfo:
        case.make(make_params())
    assert "params" in str(excinfo.value)


GOOD_PARAMS = {
    "list": lambda m: list(m.parameters()),
    "generator": lambda m: m.parameters(),
    "groups-of-lists": lambda m: [{"params": list(m[0].parameters())}, {"params": list(m[2].parameters())}],
    "groups-of-generators": lambda m: [{"params": m[0].parameters()}, {"params": m[2].parameters()}],
    "group-of-one-tensor": lambda m: [{"params": p} for p in m.parameters()],
    "named_parameters": lambda m: m.named_parameters(),
}


@pytest.mark.parametrize("kind", GOOD_PARAMS)
def test_accepts_every_params_form_torch_accepts(case, kind):
    """Each form ``torch.optim.SGD`` accepts must give an optimizer that holds (and moves)
    every parameter of the model."""
    model = make_mlp()
    ref = torch.optim.SGD(GOOD_PARAMS[kind](model), lr=0.1)  # the form is valid for torch
    assert sum(len(g["params"]) for g in ref.param_groups) == 4
    opt = case.make(GOOD_PARAMS[kind](model))
    held = [p for g in opt.param_groups for p in g["params"]]
    assert len(held) == 4 and {id(p) for p in held} == {id(p) for p in model.parameters()}
    before = params_of(model)
    step(case, opt, model, make_batches(1)[0])
    for a, b in zip(before, model.parameters()):
        assert not torch.equal(a, b)


# --- (c) state_dict round trip mid-run --------------------------------------------------------

@pytest.mark.parametrize("via", ["deepcopy", "torch.save"])
def test_state_dict_round_trip_continues_identically(case, via):
    batches = make_batches(12)
    model = make_mlp()
    opt = case.make(model.parameters())
    for b in batches[:5]:
        step(case, opt, model, b)

    ckpt = {"model": model.state_dict(), "opt": opt.state_dict()}
    if via == "deepcopy":
        ckpt = copy.deepcopy(ckpt)
    else:
        buf = io.BytesIO()
        torch.save(ckpt, buf)
        buf.seek(0)
        ckpt = torch.load(buf, weights_only=True)

    # a fresh model (other weights) and a fresh optimizer (other lr): loading restores both
    model2 = make_mlp(seed=99)
    opt2 = case.make(model2.parameters(), lr=case.lr / 2)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    assert_state_dicts_equal(opt2.state_dict(), opt.state_dict())

    for k, b in enumerate(batches[5:]):
        step(case, opt, model, b)
        step(case, opt2, model2, b)
        assert_equal(model2.parameters(), model.parameters(), f"after step {k + 6}:")
    assert_state_dicts_equal(opt2.state_dict(), opt.state_dict())


# --- (d) param groups ------------------------------------------------------------------------

def test_param_groups_equal_separate_optimizers(case):
    """Two groups with different rates give exactly what one optimizer per group gives."""
    case.check("param_groups")
    if case.closure:
        pytest.skip("a closure re-evaluates the whole model, so groups cannot be split")
    batches = make_batches(6)
    model, model2 = make_mlp(), make_mlp()
    first, second = list(model[0].parameters()), list(model[2].parameters())
    opt = case.make([{"params": first}, {"params": second, "lr": case.lr / 4}])
    assert opt.param_groups[0]["lr"] == case.lr and opt.param_groups[1]["lr"] == case.lr / 4
    opt_a = case.make(model2[0].parameters())
    opt_b = case.make(model2[2].parameters(), lr=case.lr / 4)
    for k, b in enumerate(batches):
        step(case, opt, model, b)
        opt_a.zero_grad()
        opt_b.zero_grad()
        mse(model2, b).backward()
        opt_a.step()
        opt_b.step()
        assert_equal(model.parameters(), model2.parameters(), f"after step {k + 1}:")


# --- (e) parameters without a gradient ----------------------------------------------------------

def test_params_without_grad_untouched_and_stateless(case):
    case.check("grad_none")
    gen = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(n, generator=gen, dtype=torch.float64).requires_grad_() for n in (3, 4, 5))
    b_before = b.detach().clone()
    opt = case.make([a, b, c])

    def closure():
        opt.zero_grad()  # set_to_none: b.grad stays None
        loss = (a**2).sum() + torch.sin(c).sum()
        loss.backward()
        return loss

    for _ in range(3):
        if case.closure:
            opt.step(closure)
        else:
            closure()
            assert b.grad is None
            opt.step()
    assert torch.equal(b.detach(), b_before)
    assert not opt.state.get(b), f"state was created for a parameter without gradient: {opt.state[b]}"
    for p in (a, c):
        assert set(case.state) <= set(opt.state.get(p, {}))


# --- (f) learning-rate schedulers ---------------------------------------------------------------

SCHEDULERS = {
    "StepLR": (lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
               lambda k: 0.5 ** (k // 2)),
    "LambdaLR": (lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 / (1 + k)),
                 lambda k: 1 / (1 + k)),
}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_uses_the_schedulers_learning_rate(case, name):
    """Under a scheduler the optimizer moves exactly as one whose lr is set by hand each step."""
    case.check("scheduler")
    make_scheduler, factor = SCHEDULERS[name]
    batches = make_batches(7)
    model, model2 = make_mlp(), make_mlp()
    opt = case.make(model.parameters())
    scheduler = make_scheduler(opt)
    opt2 = case.make(model2.parameters())
    for k, b in enumerate(batches):
        for group in opt2.param_groups:
            group["lr"] = case.lr * factor(k)
        assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"] == scheduler.get_last_lr()[0]
        step(case, opt, model, b)
        step(case, opt2, model2, b)
        scheduler.step()
        assert_equal(model.parameters(), model2.parameters(), f"after step {k + 1}:")


# --- (g) dtypes -----------------------------------------------------------------------------------

def assert_state_follows_params(opt, case):
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p, {})
            assert set(case.state) <= set(state), f"missing state: {set(case.state) - set(state)}"
            for name, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape:
                    assert value.dtype == p.dtype, f"state {name!r} is {value.dtype}, param {p.dtype}"
                    assert value.device == p.device, f"state {name!r} on {value.device}, param {p.device}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_state_has_param_dtype_and_device(case, dtype):
    model = make_mlp(dtype=dtype)
    opt = case.make(model.parameters())
    for b in make_batches(3, dtype=dtype):
        step(case, opt, model, b)
    assert all(p.dtype == dtype for p in model.parameters())
    assert_state_follows_params(opt, case)


def test_float32_close_to_float64(case):
    runs = {}
    for dtype in (torch.float32, torch.float64):
        model = make_mlp(dtype=dtype)
        opt = case.make(model.parameters())
        for b in make_batches(10, dtype=dtype):
            step(case, opt, model, b)
        runs[dtype] = list(model.parameters())
    assert max_rel_diff(runs[torch.float32], runs[torch.float64]) < case.float32_tol


# --- (h) CPU/CUDA parity ----------------------------------------------------------------------

def separable_loss(params, targets):
    """An elementwise loss: its gradient involves no reduction, so CPU and CUDA gradients agree
    to rounding and any difference in the trajectories comes from the optimizer."""
    return sum((0.5 * (p - t) ** 2 + 0.1 * p**4).sum() for p, t in zip(params, targets))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)], ids=["float32", "float64"])
def test_cpu_cuda_parity(case, cuda, dtype, tol):
    case.check("cuda")
    gen = torch.Generator().manual_seed(0)
    shapes = [(7, 5), (7,), (3, 7), (3,)]
    start = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
    targets = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
    runs = {}
    for device in ("cpu", cuda):
        params = [t.to(device).requires_grad_() for t in start]
        tgt = [t.to(device) for t in targets]
        opt = case.make(params)

        def closure():
            opt.zero_grad()
            loss = separable_loss(params, tgt)
            loss.backward()
            return loss

        traj = []
        for _ in range(10):
            opt.step(closure)
            traj.append(flat(params))
        assert_state_follows_params(opt, case)
        runs[str(device)] = traj
    for k, (a, b) in enumerate(zip(runs["cpu"], runs[str(cuda)])):
        assert float((a - b).abs().max() / a.abs().max()) <= tol, f"step {k + 1}"


@pytest.mark.gpu
def test_cuda_step_does_not_synchronize(case, cuda):
    """No ``.item()`` or other host sync inside a first-order ``step()``."""
    case.check("no_sync")
    if case.closure:
        pytest.skip("closure-driven methods read the loss on the host")
    model = make_mlp(device=cuda, dtype=torch.float32)
    opt = case.make(model.parameters())
    for b in make_batches(3, device=cuda, dtype=torch.float32):
        opt.zero_grad()
        mse(model, b).backward()
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            opt.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")


# --- (i) step(closure) ------------------------------------------------------------------------

def test_step_returns_closure_loss(case):
    model = make_mlp()
    opt = case.make(model.parameters())
    batch = make_batches(1)[0]
    returned = []

    def closure():
        opt.zero_grad()
        loss = mse(model, batch)
        loss.backward()
        returned.append(loss)
        return loss

    out = opt.step(closure)
    assert returned and out is returned[0]
    n = len(returned)
    with torch.no_grad():  # the closure must still get gradients inside an outer no_grad
        out = opt.step(closure)
    assert len(returned) > n and out is returned[n]
    if not case.closure:
        opt.zero_grad()
        mse(model, batch).backward()
        assert opt.step() is None


# --- (j) reproducibility -------------------------------------------------------------------------

def test_two_identical_runs_are_identical(case):
    finals = []
    for _ in range(2):
        model = make_mlp()
        opt = case.make(model.parameters())
        for b in make_batches(8):
            step(case, opt, model, b)
        finals.append((params_of(model), copy.deepcopy(opt.state_dict())))
    assert_equal(finals[0][0], finals[1][0])
    assert_state_dicts_equal(finals[0][1], finals[1][1])


@pytest.mark.parametrize("chunk", [7, 16])
def test_large_cpu_tensors_in_pieces_step_exactly_as_whole(case, chunk, monkeypatch):
    """On the CPU a tensor of more than ``CPU_CHUNK`` elements is stepped in pieces (views),
    so that every line of the step runs on data in cache: parameters and state come out
    bit for bit as when each tensor is stepped whole. A non-contiguous one stays whole."""
    if case.closure:
        pytest.skip("a closure method steps one flat vector, never in pieces")
    runs = []
    for size in (chunk, 1 << 40):
        monkeypatch.setattr(optnotes._optimizer, "CPU_CHUNK", size)
        model = make_mlp()
        odd = torch.linspace(-1, 1, 30, dtype=torch.float64).reshape(6, 5).t().requires_grad_()
        assert not odd.is_contiguous()
        extra = [odd]
        if case.make([odd]).supports_complex:  # 24 reals: pieces of the real view
            extra.append(torch.linspace(-1, 1, 12, dtype=torch.float64).to(torch.complex128)
                         .mul(1 + 0.5j).requires_grad_())
        opt = case.make([*model.parameters(), *extra])
        if not opt.steps_in_pieces:
            pytest.skip(f"{type(opt).__name__} steps whole tensors (a step of few passes)")
        for b in make_batches(4):
            opt.zero_grad()
            (mse(model, b) + 0.1 * sum((e.abs() ** 3).sum() for e in extra)).backward()
            opt.step()
        runs.append((params_of(model) + [e.detach().clone() for e in extra],
                     copy.deepcopy(opt.state_dict())))
    if getattr(opt, "norms_from_pieces", False):
        # a whole tensor's norm from its pieces' norms rounds differently in the last bits
        # (LAMB's trust ratio): equal to a few units in the last place, then
        for a, b in zip(runs[0][0], runs[1][0]):
            torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-16)
        assert not all(torch.equal(a, b) for a, b in zip(runs[0][0], runs[1][0])), \
            "bit for bit equal: drop norms_from_pieces"
        return
    assert_equal(runs[0][0], runs[1][0], "parameter")
    assert_state_dicts_equal(runs[0][1], runs[1][1])


def test_is_a_torch_optimizer_and_moves_downhill(case):
    model = make_mlp()
    opt = case.make(model.parameters())
    assert isinstance(opt, torch.optim.Optimizer)
    assert case.id and repr(opt)
    batch = make_batches(1)[0]
    with torch.no_grad():
        before = float(mse(model, batch))
    for _ in range(5):
        step(case, opt, model, batch)
    with torch.no_grad():
        after = float(mse(model, batch))
    assert math.isfinite(after) and after < before


# --- (k) state dicts that do not belong: another optimizer's, or one with a key removed -------

def stepped(make, model, batches, closure):
    opt = make(model.parameters())
    for b in batches:
        step(Case("donor", make, 0.0, closure=closure), opt, model, b)
    return opt


DONORS = {  # optimizers whose state another row may be handed by mistake
    "torch-adam": (functools.partial(torch.optim.Adam, lr=1e-3), False),
    "adam": (functools.partial(optnotes.Adam, lr=1e-3), False),
    "sgd-momentum": (functools.partial(optnotes.SGD, lr=1e-3, momentum=0.9), False),
    "lbfgs": (functools.partial(optnotes.LBFGS, lr=1.0, max_iter=1), True),
}


@pytest.mark.parametrize("donor", DONORS)
def test_foreign_state_dict_is_rejected_naming_a_key(case, donor):
    """Another optimizer's per-parameter state fails to load with a ValueError that names a
    key and a parameter, and leaves the optimizer as it was."""
    batches = make_batches(3)
    make_donor, donor_closure = DONORS[donor]
    foreign = stepped(make_donor, make_mlp(), batches, donor_closure).state_dict()
    model = make_mlp()
    opt = stepped(case.make, model, batches, case.closure)
    own = opt.state_dict()
    mine = {i: set(s) for i, s in own["state"].items()}
    theirs = {i: set(s) for i, s in foreign["state"].items()}
    if mine == theirs:
        pytest.skip(f"{donor} keeps the same state as {case.id}")
    before = copy.deepcopy(own)
    with pytest.raises(ValueError) as excinfo:
        opt.load_state_dict({"state": foreign["state"], "param_groups": own["param_groups"]})
    msg = str(excinfo.value)
    keys = set().union(*mine.values(), *theirs.values())
    assert any(repr(k) in msg for k in keys), f"no state key named in {msg!r}"
    assert "parameter" in msg
    assert_state_dicts_equal(opt.state_dict(), before)


def test_state_dict_missing_a_key_is_rejected(case):
    """A state dict with one per-parameter key removed (say Adam's ``t``) does not load
    (torch would restart that key and keep the others)."""
    model = make_mlp()
    opt = stepped(case.make, model, make_batches(3), case.closure)
    full = opt.state_dict()
    # (a state left empty is that of a parameter not stepped yet, which may load)
    held = [(i, k) for i, s in full["state"].items() for k in s if len(s) > 1]
    if not held:
        assert len(case.state) < 2
        pytest.skip(f"{case.id} keeps fewer than two per-parameter state keys")
    for i, key in held:
        sd = copy.deepcopy(full)
        del sd["state"][i][key]
        fresh = case.make(make_mlp().parameters())
        with pytest.raises(ValueError) as excinfo:
            fresh.load_state_dict(sd)
        assert repr(key) in str(excinfo.value) and str(i) in str(excinfo.value)
        assert not fresh.state, "a rejected state dict left state behind"
    case.make(make_mlp().parameters()).load_state_dict(full)  # the whole one loads


def test_state_dict_with_a_misshapen_tensor_is_rejected(case):
    model = make_mlp()
    opt = stepped(case.make, model, make_batches(3), case.closure)
    sd = opt.state_dict()
    bad = [(i, k) for i, s in sd["state"].items() for k, v in s.items()
           if isinstance(v, torch.Tensor) and v.dim() > 0]
    if not bad:
        pytest.skip(f"{case.id} keeps no state tensors")
    i, key = bad[0]
    sd["state"][i][key] = torch.cat([sd["state"][i][key].reshape(-1)] * 2)
    with pytest.raises(ValueError) as excinfo:
        case.make(make_mlp().parameters()).load_state_dict(sd)
    assert repr(key) in str(excinfo.value) and "shape" in str(excinfo.value)


# --- (l) a NaN loss (closure-based methods) --------------------------------------------------

def test_nan_loss_stops_the_step_without_moving(case):
    """A closure that returns NaN: ``step`` returns that loss (as torch.optim.LBFGS does) and
    leaves the parameters where they were; never a KeyError or NaN parameters."""
    if not case.closure:
        pytest.skip("a first-order step does not read the loss")
    model = make_mlp()
    opt = case.make(model.parameters())
    batch = make_batches(1)[0]

    def closure():
        opt.zero_grad()
        loss = mse(model, batch) * float("nan")
        loss.backward()
        return loss

    before = params_of(model)
    for _ in range(2):
        assert math.isnan(float(opt.step(closure).detach()))
    assert_equal(model.parameters(), before, "after a NaN loss:")


def test_nan_loss_away_from_the_start_leaves_finite_parameters(case):
    """The loss is NaN wherever a parameter leaves [−1, 1]: a line search backs off from
    there, a fixed step that lands there stops; the parameters never become NaN."""
    if not case.closure:
        pytest.skip("a first-order step does not read the loss")
    x = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = case.make([x])
    target = torch.tensor([3.0, -2.0, 0.5, 4.0], dtype=torch.float64)

    def closure():
        opt.zero_grad()
        loss = ((x - target) ** 2).sum()
        if bool((x.detach().abs() > 1).any()):
            loss = loss * float("nan")
        loss.backward()
        return loss

    for _ in range(4):
        opt.step(closure)
        assert bool(torch.isfinite(x).all()), f"x = {x}"


# --- (m) half precision --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision_steps(case, dtype):
    """float16 and bfloat16 parameters step (the dense methods solve in float32), keep
    their dtype, and the state follows the parameters; no "not implemented for 'Half'"."""
    model = make_mlp(dtype=dtype)
    before = params_of(model)
    opt = case.make(model.parameters())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for b in make_batches(3, dtype=dtype):
            step(case, opt, model, b)
    assert all(p.dtype == dtype for p in model.parameters())
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        # a δ that is 0 in float16 divides by zero (torch.optim too): said, not silent
        assert any("eps=" in str(w.message) and "float16" in str(w.message) for w in caught)
        return
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert_state_follows_params(opt, case)
    # state tensors keep the parameters' dtype, unless the optimizer's spec declares a
    # wider one (Shampoo's factors sum squared gradients in float32 at least)
    for p, s in opt.state.items():
        group = next(g for g in opt.param_groups if any(q is p for q in g["params"]))
        declared = opt._state_spec(p, group) if isinstance(p, torch.Tensor) else {}
        for key, value in s.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dim():
                wanted = declared[key][1] if key in declared else dtype
                assert value.dtype == wanted, f"state {key!r} of dtype {value.dtype}"
                assert wanted == dtype or wanted.itemsize > dtype.itemsize, key
