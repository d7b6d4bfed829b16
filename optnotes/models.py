"""Small networks the chapters train: plain stacks, with batch normalization, with skips."""

from __future__ import annotations

import torch

from . import _checks
from .normalization import BatchNorm


def mlp(sizes, activation=torch.nn.Tanh, batch_norm: bool = False) -> torch.nn.Sequential:
    """Linear layers of the given ``sizes`` (inputs, hidden..., outputs), ``activation``
    after each hidden one. With ``batch_norm`` each hidden layer computes
    φ(BN(XW)): the bias is left out, since BN's β takes its place."""
    sizes = [_checks.positive_int("sizes", s) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least inputs and outputs, got {sizes!r}")
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers.append(torch.nn.Linear(n_in, n_out, bias=not batch_norm))
        if batch_norm:
            layers.append(BatchNorm(n_out))
        layers.append(activation())
    layers.append(torch.nn.Linear(sizes[-2], sizes[-1]))
    return torch.nn.Sequential(*layers)


class ResidualMLP(torch.nn.Module):
    """``depth`` tanh layers of ``width`` units between an input and an output layer;
    with ``skip`` each computes h ← h + tanh(W h + b) (a residual block), without it
    h ← tanh(W h + b)."""

    def __init__(self, n_in: int, width: int, n_out: int, depth: int, skip: bool = True):
        super().__init__()
        depth = _checks.positive_int("depth", depth)
        self.skip = _checks.boolean("skip", skip)
        self.inp = torch.nn.Linear(n_in, width)
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(depth))
        self.out = torch.nn.Linear(width, n_out)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        for block in self.blocks:
            h = h + torch.tanh(block(h)) if self.skip else torch.tanh(block(h))
        return self.out(h)
