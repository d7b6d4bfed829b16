"""``torch.compile(opt.step, fullgraph=True)`` on the first-order and adaptive optimizers:
no graph break, no recompilation while a scheduler changes a tensor learning rate, and
the eager iterates. The compile counts come from torch's dynamo counters, never a time."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

import optnotes

STEPS = 20

CASES = {
    "SGD": lambda p, lr: optnotes.SGD(p, lr=lr),
    "SGD momentum": lambda p, lr: optnotes.SGD(p, lr=lr, momentum=0.9, weight_decay=1e-2),
    "SGD Nesterov": lambda p, lr: optnotes.SGD(p, lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda p, lr: optnotes.AdaGrad(p, lr=lr),
    "RMSProp": lambda p, lr: optnotes.RMSProp(p, lr=lr),
    "RMSProp momentum": lambda p, lr: optnotes.RMSProp(p, lr=lr, momentum=0.9),
    "RMSProp Nesterov": lambda p, lr: optnotes.RMSProp(p, lr=lr, momentum=0.9, nesterov=True,
                                                       weight_decay=1e-2),
    "AdaDelta": lambda p, lr: optnotes.AdaDelta(p, lr=lr),
    "Adam": lambda p, lr: optnotes.Adam(p, lr=lr, weight_decay=1e-2),
    "DeltaBarDelta": lambda p, lr: optnotes.DeltaBarDelta(p, lr=lr, kappa=1e-3, phi=0.1,
                                                          theta=0.7),
    "Adafactor": lambda p, lr: optnotes.Adafactor(p, lr=lr, weight_decay=1e-2),
    "AdamW": lambda p, lr: optnotes.AdamW(p, lr=lr, weight_decay=0.1),
    "LARS": lambda p, lr: optnotes.LARS(p, lr=lr, weight_decay=1e-2, trust_coefficient=0.1),
    "LARS Nesterov": lambda p, lr: optnotes.LARS(p, lr=lr, nesterov=True),
    "LAMB": lambda p, lr: optnotes.LAMB(p, lr=lr, weight_decay=1e-2),
    "Lion": lambda p, lr: optnotes.Lion(p, lr=lr, weight_decay=0.1),
    "ScheduleFreeSGD": lambda p, lr: optnotes.ScheduleFreeSGD(p, lr=lr, warmup_steps=5,
                                                              weight_decay=1e-2),
    "ScheduleFreeAdamW": lambda p, lr: optnotes.ScheduleFreeAdamW(p, lr=lr, warmup_steps=5,
                                                                  weight_decay=1e-2),
}


def _params():
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=gen).requires_grad_() for shape in [(7,), (3, 5)]]


def _loss(params):
    w, m = params
    return (w**4).sum() + (m.sin() * m).sum() + (m @ w[:5]).square().sum()


def _run(make, backend=None):
    """Iterates of 20 steps under a scheduler that changes a tensor ``lr`` every step,
    eagerly (``backend=None``) or compiled; and the compile counter."""
    params = _params()
    opt = make(params, torch.tensor(0.01))
    counter = None
    if backend is not None:  # compiled before the scheduler wraps opt.step
        counter = CompileCounterWithBackend(backend)
        step = torch.compile(opt.step, backend=counter, fullgraph=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1.0 + 0.3 * k))
    if backend is None:
        step = opt.step
    iterates = []
    for _ in range(STEPS):
        opt.zero_grad()
        _loss(params).backward()
        step()
        sched.step()
        iterates.append(torch.cat([p.detach().flatten() for p in params]).clone())
    return torch.stack(iterates), counter


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_step_has_no_graph_break_nor_recompilation(name):
    torch._dynamo.reset()
    eager, _ = _run(CASES[name])
    compiled, counter = _run(CASES[name], backend="eager")
    assert counter.frame_count == 1, f"{counter.frame_count} compilations in {STEPS} steps"
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)
    assert not torch.equal(eager[0], eager[-1])


def test_inductor_gives_the_eager_iterates_of_adam():
    # Graph breaks and recompilation are checked with the eager backend above. With
    # inductor and a cold cache (a fresh machine) dynamo was seen to compile a second
    # frame once, so this test checks the numbers only.
    torch._dynamo.reset()
    eager, _ = _run(CASES["Adam"])
    compiled, counter = _run(CASES["Adam"], backend="inductor")
    assert counter.frame_count >= 1
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)


@pytest.mark.gpu
def test_compiled_adam_on_cuda_gives_the_eager_iterates():
    torch._dynamo.reset()
    make = CASES["Adam"]

    def on_cuda(params, lr):
        return make([p.detach().cuda().requires_grad_() for p in params], lr.cuda())

    params = _params()
    opts = [on_cuda(params, torch.tensor(0.01)) for _ in range(2)]
    counter = CompileCounterWithBackend("inductor")
    steps = [opts[0].step, torch.compile(opts[1].step, backend=counter, fullgraph=True)]
    for _ in range(STEPS):
        for opt, step in zip(opts, steps):
            opt.zero_grad()
            _loss(opt.param_groups[0]["params"]).backward()
            step()
    assert counter.frame_count == 1
    for a, b in zip(*(opt.param_groups[0]["params"] for opt in opts)):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)


# --- the forms a user is likely to write: no fullgraph, a compiled function, a float lr ------

def _run_form(make, form, lr, backend):
    """Like :func:`_run`, compiled in ``form``: ``"step"`` is ``torch.compile(opt.step)``
    without ``fullgraph``; ``"function"`` a compiled function that calls ``opt.step()`` and
    the scheduler's ``step()``."""
    params = _params()
    opt = make(params, lr)
    counter = CompileCounterWithBackend(backend)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1.0 + 0.3 * k))
    if form == "step":
        compiled = torch.compile(opt.step, backend=counter)

        def step():
            compiled()
            sched.step()
    else:
        @torch.compile(backend=counter)
        def step():
            opt.step()
            sched.step()
    iterates = []
    for _ in range(STEPS):
        opt.zero_grad()
        _loss(params).backward()
        step()
        iterates.append(torch.cat([p.detach().flatten() for p in params]).clone())
    return torch.stack(iterates), counter


@pytest.mark.parametrize("form", ["step", "function"])
@pytest.mark.parametrize("name", list(CASES))
def test_compiled_without_fullgraph_the_step_is_one_graph(name, form):
    """Without ``fullgraph=True`` a graph break is legal, and one inside the step (a tensor
    ``lr`` read on the host as ``alpha=``) sent the whole step back to eager, slower than
    not compiling. The step must stay one graph: no graph break inside it, one frame."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    eager, _ = _run(CASES[name])
    compiled, counter = _run_form(CASES[name], form, torch.tensor(0.01), "eager")
    breaks = {k: v for k, v in torch._dynamo.utils.counters["graph_break"].items()
              if "scheduler" not in k and "lr_scheduler" not in k}
    assert counter.frame_count == 1, f"{counter.frame_count} frames"
    if form == "step":
        assert not breaks, f"graph breaks: {dict(breaks)}"
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)



@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adafactor", "ScheduleFreeAdamW"])
def test_a_float_lr_that_a_scheduler_changes_inside_a_compiled_step_is_said(name):
    """A float ``lr`` is a constant of the graph, so a scheduler's new value recompiles
    the step (past the cache size limit it runs eagerly): the optimizer warns, once, and
    says to pass a tensor; a tensor ``lr``, or a float that stays, gives no warning."""
    torch._dynamo.reset()
    with pytest.warns(RuntimeWarning, match=r"lr=torch\.tensor\(lr\)") as caught:
        _run_form(CASES[name], "function", 0.01, "eager")
    said = [str(w.message) for w in caught if "compiles the step again" in str(w.message)]
    assert len(said) == 1
    new, old = re.search(r"saw lr=(\S+) after lr=(\S+):", said[0]).groups()
    assert float(new) != float(old), said[0]  # the two values that differ
    for lr, scheduled in ((torch.tensor(0.01), True), (0.01, False)):
        torch._dynamo.reset()
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*compiles the step again.*")
            if scheduled:
                _run_form(CASES[name], "function", lr, "eager")
            else:
                params = _params()
                opt = CASES[name](params, lr)
                step = torch.compile(opt.step, backend="eager")
                for _ in range(3):
                    opt.zero_grad()
                    _loss(params).backward()
                    step()
