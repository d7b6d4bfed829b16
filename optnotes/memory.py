"""What an optimizer's state costs in memory, and how ZeRO and FSDP2 shard it over ranks.

Everything here is measured, not computed from formulas: the bytes of the tensors a
model's parameters, its gradients and an optimizer's ``state_dict()`` hold, and, on
several processes, those each rank holds.

Chapter: *Preconditioning with matrices* (``chapters/10_matrix_preconditioners``),
section "What optimizer state costs".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import _checks


def _local(t: torch.Tensor) -> torch.Tensor:
    """The part of a tensor this process holds (a DTensor's local shard)."""
    return t.to_local() if hasattr(t, "to_local") else t


def tensor_bytes(tensors) -> int:
    """Bytes of the tensors (this process's shards of distributed ones) in an iterable."""
    return sum(_local(t).numel() * t.element_size() for t in tensors if torch.is_tensor(t))


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the tensors in ``optimizer.state_dict()["state"]`` (step counts included;
    for a ``ZeroRedundancyOptimizer``, the state of this rank's shard)."""
    local = getattr(optimizer, "optim", optimizer)  # ZeRO wraps the rank's optimizer
    out = 0
    for per_param in local.state_dict()["state"].values():
        out += tensor_bytes(per_param.values())
    return out


def model_bytes(model: torch.nn.Module) -> dict:
    """Bytes of the parameters and of their gradients (this process's shards)."""
    params = list(model.parameters())
    return {"params": tensor_bytes(params),
            "grads": tensor_bytes(p.grad for p in params if p.grad is not None)}


def _closure_step(model, optimizer, X, y):
    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        return loss
    return optimizer.step(closure)


def measure(model: torch.nn.Module, optimizer_class: type, X: torch.Tensor, y: torch.Tensor,
            steps: int = 3, **hyper) -> dict:
    """Train a copy of ``model`` for ``steps`` full-batch steps on ``(X, y)`` (cross-entropy)
    with ``optimizer_class(params, **hyper)`` and measure the bytes of its parameters,
    gradients and optimizer state: ``{"params", "grads", "state"}``. An optimizer that
    needs a closure (L-BFGS) gets one; its history fills during those steps."""
    model = copy.deepcopy(model)
    opt = optimizer_class(model.parameters(), **hyper)
    for _ in range(_checks.positive_int("steps", steps)):
        _closure_step(model, opt, X, y)
    return {**model_bytes(model), "state": state_bytes(opt)}


# --- sharding over ranks ---------------------------------------------------------------------

@dataclass
class ShardJob:
    """What each rank trains: picklable, so it travels to spawned processes."""

    model: torch.nn.Module
    X: torch.Tensor
    y: torch.Tensor
    steps: int
    lr: float


def _train(model, opt, job: ShardJob, rank: int, world: int, full) -> torch.Tensor:
    m = len(job.X) // world
    mine = slice(rank * m, (rank + 1) * m)  # this rank's m of the k·m examples
    for _ in range(job.steps):
        opt.zero_grad()
        F.cross_entropy(model(job.X[mine]), job.y[mine]).backward()
        opt.step()
    return torch.cat([full(p).detach().reshape(-1) for p in model.parameters()])


def _shard_worker(job: ShardJob) -> dict:
    """On each rank: Adam plain (DDP), with ZeRO, and with FSDP2; bytes held and iterates."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel

    rank, world = dist.get_rank(), dist.get_world_size()
    out = {}
    for how in ("DDP", "ZeRO", "FSDP2"):
        model = copy.deepcopy(job.model)
        if how == "FSDP2":
            for layer in model:
                if any(True for _ in layer.parameters()):
                    fully_shard(layer)
            fully_shard(model)
            wrapped = model
            opt = torch.optim.Adam(model.parameters(), lr=job.lr)
        else:
            wrapped = DistributedDataParallel(model)
            opt = (ZeroRedundancyOptimizer(wrapped.parameters(), torch.optim.Adam, lr=job.lr)
                   if how == "ZeRO" else torch.optim.Adam(wrapped.parameters(), lr=job.lr))
        final = _train(wrapped, opt, job, rank, world,
                       lambda p: p.full_tensor() if hasattr(p, "full_tensor") else p)
        out[how] = {**model_bytes(model), "state": state_bytes(opt), "final": final}
    return out


def sharded_memory(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, *,
                   steps: int = 5, lr: float = 1e-2, world_size: int = 2) -> dict:
    """Adam trained on ``world_size`` local processes (gloo on the CPU) three ways: plain
    data parallelism (DDP: every rank holds everything), ZeRO
    (``ZeroRedundancyOptimizer``: each rank keeps the state of its shard of the parameters)
    and FSDP2 (``fully_shard`` per layer: parameters, gradients and state sharded), and in
    one process on the whole batch.

    Each rank takes its ``len(X) // world_size`` examples of the full batch at every
    step. Returns ``{"DDP" | "ZeRO" | "FSDP2": {"params", "grads", "state": [bytes on
    each rank], "max_diff": largest |difference| of the final parameters from the one
    process's}, "single": {"params", "grads", "state": bytes}}``.
    """
    from .parallel import launch

    job = ShardJob(model, X, y, _checks.positive_int("steps", steps), _checks.positive("lr", lr))
    ranks = launch(_shard_worker, world_size, (job,), backend="gloo")
    one = copy.deepcopy(model)
    opt = torch.optim.Adam(one.parameters(), lr=lr)
    final = _train(one, opt, job, 0, 1, lambda p: p)
    out = {"single": {**model_bytes(one), "state": state_bytes(opt)}}
    for how in ranks[0]:
        per = [r[how] for r in ranks]
        out[how] = {key: [p[key] for p in per] for key in ("params", "grads", "state")}
        out[how]["max_diff"] = max(float((p["final"] - final).abs().max()) for p in per)
    return out
