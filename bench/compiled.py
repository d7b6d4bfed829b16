"""Compiled optnotes steps against torch.optim's fused, foreach and compiled Adam and SGD.

    python bench/compiled.py [--quick] [--device cpu|cuda]

Model A of ``bench/first_order.py`` (~10M float32 parameters in 3 tensors), fixed random
gradients, so only ``step()`` is timed. For Adam and for SGD with momentum it times, in
interleaved rounds (medians): optnotes eager; optnotes compiled (inductor) in each form a
user is likely to write: ``torch.compile(opt.step)`` with and without ``fullgraph=True``,
a compiled function calling ``opt.step()``, and one calling ``opt.step()`` and the
scheduler's ``step()``, each with a tensor and with a float ``lr``; torch.optim's
``foreach`` implementation (its default), ``fused=True``, and its step under
``torch.compile`` (torch's own step has a deliberate graph break, so not ``fullgraph``).
Each line also gives the bandwidth the step reaches, from the least bytes an elementwise
step must move (Adam: read θ, g, s, r and write θ, s, r, 7 numbers a parameter; SGD with
momentum: read θ, g, v and write θ, v, 5), as a share of the measured copy bandwidth. The
target is every compiled form of ``optnotes.Adam`` within 1.3x of
``torch.optim.Adam(fused=True)``; a float ``lr`` that the scheduler changes inside the
compiled function misses it by far (inductor specializes on the value and recompiles at
every step; the API page says to use a tensor ``lr``).
Compilation takes a while (it is not timed). Prints, never asserts.
"""

from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from adaptive import copy_bandwidth  # noqa: E402

import optnotes  # noqa: E402

TARGET = 1.30

# name: (numbers moved per parameter, optnotes factory(params, lr), torch factory(params, **impl))
METHODS = {
    "Adam": (7, lambda p, lr: optnotes.Adam(p, lr=lr),
             lambda p, **kw: torch.optim.Adam(p, lr=1e-3, **kw)),
    "SGD momentum": (5, lambda p, lr: optnotes.SGD(p, lr=lr, momentum=0.9),
                     lambda p, **kw: torch.optim.SGD(p, lr=1e-3, momentum=0.9, **kw)),
}


def compiled_torch_step(opt):
    """torch.optim's step under torch.compile, as torch's recipe does it (a tensor lr)."""
    return torch.compile(opt.step)


def _scheduled(opt):
    """A scheduler that changes the rate a little at every step."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1.0 + 1e-6 * k))


def compiled_forms(make_ours, base, lr):
    """The compiled forms of an optnotes step a user is likely to write (each already
    compiled): ``torch.compile(opt.step)`` with or without ``fullgraph``, a compiled
    function that calls ``opt.step()`` (alone or with the scheduler's step), with a tensor
    or a float ``lr``."""
    clone = _common.clone_params
    forms = {}
    for kind, rate in (("tensor lr", lambda: lr.clone()), ("float lr", lambda: 1e-3)):
        opt = make_ours(clone(base), rate())
        forms[f"compile(step, fullgraph), {kind}"] = torch.compile(opt.step, fullgraph=True)
        opt = make_ours(clone(base), rate())
        forms[f"compile(step), {kind}"] = torch.compile(opt.step)
        opt = make_ours(clone(base), rate())
        forms[f"compiled fn: opt.step(), {kind}"] = torch.compile(lambda o=opt: o.step())
        opt = make_ours(clone(base), rate())
        sched = _scheduled(opt)

        @torch.compile
        def step_and_schedule(opt=opt, sched=sched):
            opt.step()
            sched.step()

        forms[f"compiled fn: step + scheduler, {kind}"] = step_and_schedule
    for step in forms.values():
        for _ in range(3):  # compile now (a float lr that changes compiles twice), untimed
            step()
    return forms


def steps_to_time(base, moved, make_ours, make_torch, device):
    """The step functions of every implementation, each compiled one already compiled."""
    clone = _common.clone_params
    lr = torch.tensor(1e-3, device=device) if device == "cuda" else torch.tensor(1e-3)
    eager = make_ours(clone(base), 1e-3)
    foreach = make_torch(clone(base), foreach=True)
    fused = make_torch(clone(base), fused=True)
    theirs = make_torch(clone(base))
    for group in theirs.param_groups:
        group["lr"] = lr.clone()
    steps = {
        "optnotes eager": eager.step,
        **{f"optnotes {k}": v for k, v in compiled_forms(make_ours, base, lr).items()},
        "torch foreach": foreach.step,
        "torch fused": fused.step,
        "torch compiled": compiled_torch_step(theirs),
    }
    steps["torch compiled"]()  # compile now, untimed
    return steps


def main(argv=None) -> None:
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    # every optimizer compiled here is one more compilation of torch.optim's step wrapper
    # (a guard on the optimizer object); a program with one optimizer needs one or two
    torch._dynamo.config.recompile_limit = 64
    torch._dynamo.config.accumulated_recompile_limit = 1024
    rounds = args.rounds or (3 if args.quick else 7)
    steps = args.steps or (3 if args.quick else 10)
    print(f"torch {torch.__version__}; optnotes {optnotes.__version__}; "
          f"{rounds} interleaved rounds x {steps} steps, median ms/step; "
          f"target: every compiled optnotes.Adam / torch fused <= {TARGET:.2f}")
    for device in _common.devices(args):
        base = _common.large_tensors(device=device)
        _common.set_random_grads(base)
        n = _common.n_elements(base)
        copy = copy_bandwidth(device, n, rounds)
        print(f"\n{_common.describe(device)}: model A, {n / 1e6:.1f}M float32 parameters; "
              f"copy bandwidth {copy / 1e9:.1f} GB/s")
        for method, (numbers, make_ours, make_torch) in METHODS.items():
            t = _common.interleaved(steps_to_time(base, numbers, make_ours, make_torch, device),
                                    device=device, rounds=rounds, steps=steps)
            moved = numbers * 4 * n
            rows = [[method, name, f"{1e3 * secs:.2f}", f"{secs / t['torch fused']:.2f}",
                     f"{moved / secs / 1e9:.1f}", f"{moved / secs / copy:.0%}"]
                    for name, secs in t.items()]
            print(_common.table(rows, ["method", "implementation", "ms/step", "/ fused",
                                       "GB/s", "of copy"]))
            forms = {k: v / t["torch fused"] for k, v in t.items()
                     if k.startswith("optnotes ") and k != "optnotes eager"}
            worst = max(forms, key=forms.get)
            print(f"  compiled optnotes / torch fused: {min(forms.values()):.2f} to "
                  f"{forms[worst]:.2f} (slowest: {worst[len('optnotes '):]})"
                  + (f"; {'ok' if forms[worst] <= TARGET else 'OVER'} against {TARGET:.2f}"
                     if method == "Adam" else "") + "\n")
            torch._dynamo.reset()


if __name__ == "__main__":
    main()
