"""Compiled optnotes steps against torch.optim's fused, foreach and compiled Adam and SGD.

    python bench/compiled.py [--quick] [--device cpu|cuda]

Model A of ``bench/first_order.py`` (~10M float32 parameters in 3 tensors), fixed random
gradients, so only ``step()`` is timed. For Adam and for SGD with momentum it times, in
interleaved rounds (medians): optnotes eager; optnotes compiled,
``torch.compile(opt.step, fullgraph=True)`` with a tensor ``lr`` (inductor); torch.optim's
``foreach`` implementation (its default), ``fused=True``, and its step under
``torch.compile`` (torch's own step has a deliberate graph break, so not ``fullgraph``).
Each line also gives the bandwidth the step reaches, from the least bytes an elementwise
step must move (Adam: read θ, g, s, r and write θ, s, r, 7 numbers a parameter; SGD with
momentum: read θ, g, v and write θ, v, 5), as a share of the measured copy bandwidth. The
target is compiled ``optnotes.Adam`` within 1.3x of ``torch.optim.Adam(fused=True)``.
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


def steps_to_time(base, moved, make_ours, make_torch, device):
    """The step functions of every implementation, each compiled one already compiled."""
    clone = _common.clone_params
    lr = torch.tensor(1e-3, device=device) if device == "cuda" else torch.tensor(1e-3)
    eager = make_ours(clone(base), 1e-3)
    ours = make_ours(clone(base), lr.clone())
    foreach = make_torch(clone(base), foreach=True)
    fused = make_torch(clone(base), fused=True)
    theirs = make_torch(clone(base))
    for group in theirs.param_groups:
        group["lr"] = lr.clone()
    steps = {
        "optnotes eager": eager.step,
        "optnotes compiled": torch.compile(ours.step, fullgraph=True),
        "torch foreach": foreach.step,
        "torch fused": fused.step,
        "torch compiled": compiled_torch_step(theirs),
    }
    for name in ("optnotes compiled", "torch compiled"):
        steps[name]()  # compile now, untimed
    return steps


def main(argv=None) -> None:
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    steps = args.steps or (3 if args.quick else 10)
    print(f"torch {torch.__version__}; optnotes {optnotes.__version__}; "
          f"{rounds} interleaved rounds x {steps} steps, median ms/step; "
          f"target: compiled optnotes.Adam / torch fused <= {TARGET:.2f}")
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
            ratio = t["optnotes compiled"] / t["torch fused"]
            print(f"  compiled optnotes / torch fused: {ratio:.2f}"
                  + (f" ({'ok' if ratio <= TARGET else 'OVER'} against {TARGET:.2f})"
                     if method == "Adam" else "") + "\n")
            torch._dynamo.reset()


if __name__ == "__main__":
    main()
