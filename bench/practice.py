"""Step time of optnotes' AdamW, Lion and LAMB against ``torch.optim.AdamW``.

    python bench/practice.py [--quick] [--device cpu|cuda]

The two parameter sets of ``bench/first_order.py``: (A) ~10M parameters in 3 large
tensors, (B) 400 small tensors of 1–5k elements, with fixed random gradients so only
``step()`` is timed, in interleaved rounds (medians), each against ``torch.optim.AdamW``'s
default implementation on the device; target ratio ≤ 1.10. PyTorch has no Lion or LAMB,
so AdamW is their yardstick (Lion keeps one state tensor and AdamW two; LAMB adds a norm
of θ and of the update per tensor). Then, on model A, ``torch.compile(opt.step,
fullgraph=True)`` of ``optnotes.AdamW`` (tensor ``lr``, inductor) against
``torch.optim.AdamW(fused=True)``; target ≤ 1.3. Prints, never asserts.
"""

from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

import optnotes  # noqa: E402

TARGET, COMPILED_TARGET = 1.10, 1.30

PAIRS = {
    "AdamW": lambda p: optnotes.AdamW(p, lr=1e-3, weight_decay=0.01),
    "Lion": lambda p: optnotes.Lion(p, lr=1e-4, weight_decay=0.1),
    "LAMB": lambda p: optnotes.LAMB(p, lr=1e-3, weight_decay=0.01),
}


def reference(p):
    return torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01)


def compiled_adamw(device: str, rounds: int, steps: int) -> None:
    base = _common.large_tensors(device=device)
    _common.set_random_grads(base)
    lr = torch.tensor(1e-3, device=device)
    ours = optnotes.AdamW(_common.clone_params(base), lr=lr, weight_decay=0.01)
    fused = torch.optim.AdamW(_common.clone_params(base), lr=1e-3, weight_decay=0.01,
                              fused=True)
    step = torch.compile(ours.step, fullgraph=True)
    step()  # compile now, untimed
    t = _common.interleaved({"optnotes compiled": step, "torch fused": fused.step},
                            device=device, rounds=rounds, steps=steps)
    ratio = t["optnotes compiled"] / t["torch fused"]
    print(f"  compiled optnotes.AdamW {1e3 * t['optnotes compiled']:.2f} ms, "
          f"torch AdamW(fused=True) {1e3 * t['torch fused']:.2f} ms: ratio {ratio:.2f} "
          f"({'ok' if ratio <= COMPILED_TARGET else 'OVER'} against {COMPILED_TARGET:.2f})")
    torch._dynamo.reset()


def main(argv=None) -> None:
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    steps = args.steps or (3 if args.quick else 10)
    print(f"torch {torch.__version__}; optnotes {optnotes.__version__}; "
          f"{rounds} interleaved rounds x {steps} steps, median ms/step; "
          f"target ratio <= {TARGET:.2f}")
    for device in _common.devices(args):
        rows = []
        for model_name, build in _common.MODELS.items():
            base = build(device=device)
            _common.set_random_grads(base)
            for name, make in PAIRS.items():
                ours, theirs = make(_common.clone_params(base)), reference(_common.clone_params(base))
                t = _common.interleaved({"optnotes": ours.step, "torch": theirs.step},
                                        device=device, rounds=rounds, steps=steps)
                ratio = t["optnotes"] / t["torch"]
                rows.append([model_name, name, f"{1e3 * t['optnotes']:.3f}",
                             f"{1e3 * t['torch']:.3f}", f"{ratio:.2f}",
                             "ok" if ratio <= TARGET else "OVER"])
                del ours, theirs
            del base
        print(f"\n{_common.describe(device)}")
        print(_common.table(rows, ["model", "optimizer", "optnotes ms", "torch AdamW ms",
                                   "ratio", "target"]))
        compiled_adamw(device, rounds, steps)


if __name__ == "__main__":
    main()
