"""Shared pieces of the step-time benchmarks: model builders, gradients, fair timing, tables.

Used by ``bench/first_order.py`` and meant for every later optimizer benchmark: build the
parameters with :func:`large_tensors` / :func:`small_tensors` (or :data:`MODELS`), give
them fixed random gradients with :func:`set_random_grads`, and compare implementations
with :func:`interleaved`, which alternates them round by round and reports medians, so a
noisy, shared machine slows both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch


# --- models: lists of parameters with gradients ------------------------------------------------

def large_tensors(total: int = 10_000_000, count: int = 3, *, device="cpu", dtype=torch.float32,
                  seed: int = 0) -> list[torch.Tensor]:
    """``count`` tensors of about ``total / count`` elements each (model A: ~10M in 3 tensors)."""
    gen = torch.Generator().manual_seed(seed)
    size = total // count
    return [torch.randn(size, generator=gen, dtype=dtype).to(device).requires_grad_() for _ in range(count)]


def small_tensors(count: int = 400, low: int = 1000, high: int = 5000, *, device="cpu",
                  dtype=torch.float32, seed: int = 0) -> list[torch.Tensor]:
    """``count`` tensors of ``low``–``high`` elements (model B: many small layers)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(low, high + 1, (count,), generator=gen).tolist()
    return [torch.randn(n, generator=gen, dtype=dtype).to(device).requires_grad_() for n in sizes]


MODELS: dict[str, Callable[..., list[torch.Tensor]]] = {
    "A: 3 x 3.3M": large_tensors,
    "B: 400 x 1-5k": small_tensors,
}


def set_random_grads(params: list[torch.Tensor], seed: int = 1) -> None:
    """Fixed random gradients, set once: the timed region runs no backward pass."""
    gen = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(p.device)


def clone_params(params: list[torch.Tensor]) -> list[torch.Tensor]:
    """An independent copy of ``params`` with copies of their gradients."""
    out = []
    for p in params:
        q = p.detach().clone().requires_grad_()
        q.grad = p.grad.detach().clone()
        out.append(q)
    return out


def n_elements(params) -> int:
    return sum(p.numel() for p in params)


# --- timing ------------------------------------------------------------------------------------

def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_block(step: Callable[[], object], steps: int, device) -> float:
    """Seconds per call of ``step`` over ``steps`` calls (synchronised on CUDA)."""
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps


def interleaved(steps_by_name: dict[str, Callable[[], object]], *, device, rounds: int, steps: int,
                warmup: int = 3) -> dict[str, float]:
    """Median seconds per step of each implementation.

    Each implementation is warmed up, then the implementations take turns: every round
    times ``steps`` steps of each, in an order that alternates from round to round, and
    the median over rounds is reported.
    """
    names = list(steps_by_name)
    for name in names:
        for _ in range(warmup):
            steps_by_name[name]()
    sync(device)
    samples = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            samples[name].append(time_block(steps_by_name[name], steps, device))
    return {name: statistics.median(s) for name, s in samples.items()}


# --- command line and output ---------------------------------------------------------------------

def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a short run (fewer rounds and steps)")
    p.add_argument("--device", choices=["cpu", "cuda"], action="append",
                   help="device to time on (repeatable); default: cpu, and cuda when present")
    p.add_argument("--rounds", type=int, help="interleaved rounds (median over them)")
    p.add_argument("--steps", type=int, help="steps timed per round")
    return p


def devices(args) -> list[str]:
    chosen = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    out = []
    for d in chosen:
        if d == "cuda" and not torch.cuda.is_available():
            print("cuda: no CUDA device, skipped")
            continue
        out.append(d)
    return out


def describe(device: str) -> str:
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name()})"
    return f"cpu ({torch.get_num_threads()} threads)"


def table(rows: list[list], headers: list[str]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "  ".join(c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])
