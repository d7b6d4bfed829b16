"""Where computations run and how runs are made reproducible."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def default_device() -> torch.device:
    """CUDA when a GPU is present, else the CPU. ``OPTNOTES_DEVICE=cpu`` forces a device."""
    forced = os.environ.get("OPTNOTES_DEVICE")
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded alike."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
