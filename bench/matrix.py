"""Step time of the matrix optimizers: Muon and Adafactor against torch.optim, Shampoo and
SOAP against Adam.

    python bench/matrix.py [--quick] [--device cpu|cuda]

The parameters are weight matrices (Muon steps matrices only): eight 1024 x 1024 (four
256 x 512 with ``--quick``), with fixed random gradients, so only ``step()`` is timed.
Each pair alternates in interleaved rounds and the medians are compared. Muon and
Adafactor have a peer in torch.optim (target ratio <= 1.10); Shampoo and SOAP have none,
and their cost per step is reported against Adam's (the price of their matrix products,
and of the eigendecompositions every ``precondition_frequency`` = 10 steps, amortised
over the timed steps). Prints, never asserts.
"""

from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

import optnotes  # noqa: E402

TARGET = 1.10

# name: (optnotes factory, peer factory, peer name, has a target)
PAIRS = {
    "Adafactor": (lambda p: optnotes.Adafactor(p, lr=1e-2),
                  lambda p: torch.optim.Adafactor(p, lr=1e-2), "torch Adafactor", True),
    "Muon": (lambda p: optnotes.Muon(p, lr=0.02),
             lambda p: torch.optim.Muon(p, lr=0.02), "torch Muon", True),
    "Muon, float32": (lambda p: optnotes.Muon(p, lr=0.02, ns_dtype=torch.float32),
                      lambda p: torch.optim.Muon(p, lr=0.02), "torch Muon (bf16)", False),
    "Shampoo": (lambda p: optnotes.Shampoo(p, lr=1e-3, graft="adam",
                                           precondition_frequency=10),
                lambda p: torch.optim.Adam(p, lr=1e-3), "torch Adam", False),
    "SOAP": (lambda p: optnotes.SOAP(p, lr=3e-3, precondition_frequency=10),
             lambda p: torch.optim.Adam(p, lr=1e-3), "torch Adam", False),
}


def matrices(count: int, rows: int, cols: int, device) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(rows, cols, generator=gen).div_(cols**0.5).to(device).requires_grad_()
            for _ in range(count)]


def main(argv=None) -> None:
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    steps = args.steps or (10 if args.quick else 20)  # ≥ 10: one root or basis refresh in each
    count, rows, cols = (4, 256, 512) if args.quick else (8, 1024, 1024)
    print(f"torch {torch.__version__}; optnotes {optnotes.__version__}; {count} matrices "
          f"{rows} x {cols}; {rounds} interleaved rounds x {steps} steps, median ms/step")
    for device in _common.devices(args):
        base = matrices(count, rows, cols, device)
        _common.set_random_grads(base)
        out = []
        for name, (make_ours, make_peer, peer, has_target) in PAIRS.items():
            ours = make_ours(_common.clone_params(base))
            theirs = make_peer(_common.clone_params(base))
            t = _common.interleaved({"optnotes": ours.step, "peer": theirs.step}, device=device,
                                    rounds=rounds, steps=steps)
            ratio = t["optnotes"] / t["peer"]
            verdict = ("ok" if ratio <= TARGET else "OVER") if has_target else "reported"
            out.append([name, peer, f"{1e3 * t['optnotes']:.2f}", f"{1e3 * t['peer']:.2f}",
                        f"{ratio:.2f}", verdict])
        print(f"\n{_common.describe(device)}")
        print(_common.table(out, ["optimizer", "peer", "optnotes ms", "peer ms", "ratio",
                                  "target"]))


if __name__ == "__main__":
    main()
