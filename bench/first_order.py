"""Step time of ``optnotes.SGD`` against ``torch.optim.SGD``'s default implementation.

    python bench/first_order.py [--quick] [--device cpu|cuda]

Two parameter sets: (A) ~10M parameters in 3 large tensors, (B) 400 small tensors of
1–5k elements. Gradients are random and set once, so only ``step()`` is timed. The two
implementations alternate in interleaved rounds and the medians are compared; the target
is a ratio optnotes / torch ≤ 1.10. This script prints and never asserts.
"""

from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

import optnotes  # noqa: E402

TARGET = 1.10
VARIANTS = {
    "plain": dict(lr=1e-3),
    "momentum": dict(lr=1e-3, momentum=0.9),
    "nesterov": dict(lr=1e-3, momentum=0.9, nesterov=True),
}


def main(argv=None) -> None:
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 9)
    steps = args.steps or (5 if args.quick else 20)
    print(f"torch {torch.__version__}; optnotes {optnotes.__version__}; "
          f"{rounds} interleaved rounds x {steps} steps, median ms/step; target ratio <= {TARGET:.2f}")
    for device in _common.devices(args):
        rows = []
        for model_name, build in _common.MODELS.items():
            base = build(device=device)
            _common.set_random_grads(base)
            for variant, kw in VARIANTS.items():
                ours_params, torch_params = _common.clone_params(base), _common.clone_params(base)
                ours = optnotes.SGD(ours_params, **kw)
                theirs = torch.optim.SGD(torch_params, **kw)  # torch's default implementation
                t = _common.interleaved({"optnotes": ours.step, "torch": theirs.step},
                                        device=device, rounds=rounds, steps=steps)
                ratio = t["optnotes"] / t["torch"]
                rows.append([model_name, variant, f"{1e3 * t['optnotes']:.3f}", f"{1e3 * t['torch']:.3f}",
                             f"{ratio:.2f}", "ok" if ratio <= TARGET else "OVER"])
                del ours, theirs, ours_params, torch_params
            del base
        print(f"\n{_common.describe(device)}")
        print(_common.table(rows, ["model", "variant", "optnotes ms", "torch ms", "ratio", "target"]))


if __name__ == "__main__":
    main()
