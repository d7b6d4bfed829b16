"""Step time of optnotes' adaptive optimizers against their ``torch.optim`` counterparts.

    python bench/adaptive.py [--quick] [--device cpu|cuda]

Same two parameter sets as ``bench/first_order.py``: (A) ~10M parameters in 3 large
tensors, (B) 400 small tensors of 1–5k elements, with fixed random gradients so only
``step()`` is timed. Each pair alternates in interleaved rounds and the medians are
compared against torch's default implementation on the device; target ratio ≤ 1.10.

For Adam on model A it also prints the bytes an elementwise Adam step must move at least
(read θ, g, s, r; write θ, s, r: 7 numbers per parameter), the bandwidth that implies, as
a fraction of this machine's measured copy bandwidth (no elementwise update can beat a
copy), and the ratio against ``torch.optim.Adam(fused=True)``. Prints, never asserts.
"""

from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

import optnotes  # noqa: E402

TARGET = 1.10

# name: (optnotes factory, torch factory, note)
PAIRS = {
    "AdaGrad": (lambda p: optnotes.AdaGrad(p, lr=1e-2, eps=1e-7),
                lambda p: torch.optim.Adagrad(p, lr=1e-2, eps=1e-7), ""),
    "RMSProp": (lambda p: optnotes.RMSProp(p, lr=1e-3, rho=0.9, eps=1e-6),
                lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-6), ""),
    "RMSProp+momentum": (lambda p: optnotes.RMSProp(p, lr=1e-3, momentum=0.9),
                         lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, momentum=0.9), ""),
    "RMSProp+Nesterov": (lambda p: optnotes.RMSProp(p, lr=1e-3, momentum=0.9, nesterov=True),
                         lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, momentum=0.9),
                         "torch has no Nesterov RMSprop: vs its momentum variant"),
    "AdaDelta": (lambda p: optnotes.AdaDelta(p, lr=1.0, rho=0.95, eps=1e-6),
                 lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6), ""),
    "Adam": (lambda p: optnotes.Adam(p, lr=1e-3),
             lambda p: torch.optim.Adam(p, lr=1e-3), ""),
    "DeltaBarDelta": (lambda p: optnotes.DeltaBarDelta(p, lr=1e-3, kappa=1e-4, phi=0.1, theta=0.7),
                      lambda p: torch.optim.Rprop(p, lr=1e-3),
                      "no torch counterpart: vs Rprop, the nearest sign-based rule"),
}


def copy_bandwidth(device: str, n: int, rounds: int) -> float:
    """Bytes per second of the faster of ``dst.copy_(src)`` and ``x.mul_(1)`` on ``n``
    float32 numbers; each reads n numbers and writes n."""
    src, dst = torch.randn(n, device=device), torch.randn(n, device=device)
    t = _common.interleaved({"copy": lambda: dst.copy_(src), "scale": lambda: dst.mul_(1.0)},
                            device=device, rounds=rounds, steps=10)
    return 2 * 4 * n / min(t.values())


def adam_bandwidth(device: str, rounds: int, steps: int) -> None:
    base = _common.large_tensors(device=device)
    _common.set_random_grads(base)
    n = _common.n_elements(base)
    ours = optnotes.Adam(_common.clone_params(base), lr=1e-3)
    fused = torch.optim.Adam(_common.clone_params(base), lr=1e-3, fused=True)
    t = _common.interleaved({"optnotes": ours.step, "fused": fused.step}, device=device,
                            rounds=rounds, steps=steps)
    moved = 7 * 4 * n  # read θ, g, s, r and write θ, s, r, float32
    copy = copy_bandwidth(device, n, rounds)
    print(f"\nAdam on model A ({n / 1e6:.1f}M float32 parameters), {_common.describe(device)}:")
    print(f"  least bytes an elementwise step moves: {moved / 1e6:.0f} MB")
    print(f"  measured copy bandwidth: {copy / 1e9:.1f} GB/s")
    for name, secs in t.items():
        print(f"  {name:>9}: {1e3 * secs:7.2f} ms/step, {moved / secs / 1e9:6.1f} GB/s "
              f"= {moved / secs / copy:.0%} of copy bandwidth")
    print(f"  optnotes / torch fused: {t['optnotes'] / t['fused']:.2f}")


def main(argv=None) -> None:
    args = _common.parser(__doc__.splitlines()[0]).parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 7)
    steps = args.steps or (3 if args.quick else 10)
    print(f"torch {torch.__version__}; optnotes {optnotes.__version__}; "
          f"{rounds} interleaved rounds x {steps} steps, median ms/step; target ratio <= {TARGET:.2f}")
    for device in _common.devices(args):
        rows, notes = [], []
        for model_name, build in _common.MODELS.items():
            base = build(device=device)
            _common.set_random_grads(base)
            for name, (make_ours, make_torch, note) in PAIRS.items():
                ours = make_ours(_common.clone_params(base))
                theirs = make_torch(_common.clone_params(base))  # torch's default implementation
                t = _common.interleaved({"optnotes": ours.step, "torch": theirs.step},
                                        device=device, rounds=rounds, steps=steps)
                ratio = t["optnotes"] / t["torch"]
                rows.append([model_name, name, f"{1e3 * t['optnotes']:.3f}", f"{1e3 * t['torch']:.3f}",
                             f"{ratio:.2f}", "ok" if ratio <= TARGET else "OVER"])
                if note and f"{name}: {note}" not in notes:
                    notes.append(f"{name}: {note}")
                del ours, theirs
            del base
        print(f"\n{_common.describe(device)}")
        print(_common.table(rows, ["model", "optimizer", "optnotes ms", "torch ms", "ratio", "target"]))
        for note in notes:
            print(f"  note: {note}")
        adam_bandwidth(device, rounds, steps)


if __name__ == "__main__":
    main()
