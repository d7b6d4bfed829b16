"""Data-parallel training on several processes with ``torch.distributed``.

k processes (*ranks*) each hold a copy of the model. At every step each rank takes its
own m examples of the step's minibatch of k·m, computes the gradient of its mean loss,
and ``DistributedDataParallel`` averages the k gradients with an all-reduce. The mean of
k means over m examples is the mean over the k·m examples, so every rank applies the
gradient of the whole minibatch and the copies stay identical: data parallelism computes
the same iterates as one process on the k·m batch, in parallel.

* :func:`launch` starts k local processes with ``torch.multiprocessing.spawn``, sets up
  the process group (gloo on the CPU, NCCL when every rank has a GPU of its own) and
  returns what the function returned on each rank.
* :func:`train_data_parallel` trains a model with any optimizer class this way, plainly
  or with ``torch.distributed.optim.ZeroRedundancyOptimizer``, which shards the
  optimizer's state over the ranks; :func:`train_single_process` is the same training
  in one process on the whole minibatch, the reference.
* ``torchrun --nproc-per-node=2 -m optnotes.parallel`` runs the same training under
  ``torch.distributed.run`` (see the README, "Training on several processes or machines").

The functions the processes run live here, in an importable module: processes started
with ``spawn`` unpickle the function by its name, so a function defined in a notebook
could not be started.
"""

from __future__ import annotations

import copy
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from . import _checks
from .data import Split


def default_backend(world_size: int) -> str:
    """``"nccl"`` when there is one CUDA device per rank, else ``"gloo"`` (CPU)."""
    if torch.cuda.is_available() and torch.cuda.device_count() >= world_size and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def rank_device(backend: str) -> torch.device:
    """The device of this rank: its own GPU under NCCL, the CPU under gloo."""
    if backend == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return torch.device("cpu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, fn, world_size, backend, port, args, out_dir, threads):
    """What each spawned process runs: join the group, call ``fn(*args)``, save its result."""
    torch.set_num_threads(threads)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    dist.init_process_group(backend, rank=rank, world_size=world_size)
    try:
        result = fn(*args)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    torch.save(result, Path(out_dir) / f"rank{rank}.pt")


def launch(fn, world_size: int = 2, args: tuple = (), backend: str | None = None,
           threads: int = 1) -> list:
    """Run ``fn(*args)`` on ``world_size`` local processes joined in one process group.

    ``fn`` must be importable (defined in a module, not in a notebook). Each process
    uses ``threads`` CPU threads. Returns the list of the ranks' results, rank 0 first.
    """
    world_size = _checks.positive_int("world_size", world_size)
    threads = _checks.positive_int("threads", threads)
    backend = default_backend(world_size) if backend is None else backend
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    with tempfile.TemporaryDirectory() as out_dir:
        torch.multiprocessing.spawn(
            _entry, args=(fn, world_size, backend, _free_port(), args, out_dir, threads),
            nprocs=world_size, join=True)
        return [torch.load(Path(out_dir) / f"rank{r}.pt", weights_only=False)
                for r in range(world_size)]


def global_batches(n_examples: int, batch_size: int, steps: int, seed: int = 0) -> list:
    """Index tensors of ``steps`` minibatches of ``batch_size`` examples: each epoch a fresh
    random order, cut into full batches (the remainder of an epoch is skipped)."""
    if batch_size > n_examples:
        raise ValueError(f"batch_size must be <= the number of examples {n_examples}, got {batch_size}")
    gen, out = torch.Generator().manual_seed(seed), []
    while len(out) < steps:
        order = torch.randperm(n_examples, generator=gen)
        out += list(order[:n_examples // batch_size * batch_size].split(batch_size))
    return out[:steps]


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).cpu() for t in tensors])


@dataclass
class Job:
    """Everything one rank needs; picklable, so it travels to spawned processes."""

    model: torch.nn.Module
    optimizer_class: type
    defaults: dict
    data: Split
    steps: int
    batch_size: int
    loss_fn: object = None  # None: F.cross_entropy
    zero: bool = False
    seed: int = 0


def _run(job: Job, model, optimizer, rank: int, world_size: int, device) -> dict:
    """The training loop shared by every rank and by the single-process reference."""
    m, loss_fn = job.batch_size, job.loss_fn or F.cross_entropy
    X, y = job.data.X.to(device), job.data.y.to(device)
    params = [p for p in model.parameters()]
    trajectory, losses, first_gradient = [_flat(params)], [], None
    for idx in global_batches(len(job.data), world_size * m, job.steps, job.seed):
        mine = idx[rank * m:(rank + 1) * m].to(device)  # this rank's m of the k·m examples
        optimizer.zero_grad()
        loss = loss_fn(model(X[mine]), y[mine])
        loss.backward()  # under DDP: the all-reduce averages the k gradients here
        if first_gradient is None:
            first_gradient = _flat(p.grad for p in params)
        optimizer.step()
        losses.append(float(loss.detach()))
        trajectory.append(_flat(params))
    return dict(trajectory=torch.stack(trajectory), losses=losses, first_gradient=first_gradient)


def _state_numel(optimizer) -> int:
    """How many numbers of optimizer state this rank holds."""
    state = optimizer.optim.state if hasattr(optimizer, "optim") else optimizer.state
    return sum(v.numel() for s in state.values() for v in s.values() if torch.is_tensor(v) and v.ndim > 0)


def data_parallel_worker(job: Job) -> dict:
    """One rank's part of :func:`train_data_parallel` (the process group must be set up).

    Returns the rank's parameter ``trajectory`` (steps + 1 × number of parameters, on the
    CPU), its local ``losses``, the averaged gradient of the first step
    (``first_gradient``) and how many numbers of optimizer state it holds (``state_numel``).
    """
    rank, world_size = dist.get_rank(), dist.get_world_size()
    device = rank_device(dist.get_backend())
    model = copy.deepcopy(job.model).to(device)
    ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if job.zero:
        from torch.distributed.optim import ZeroRedundancyOptimizer

        optimizer = ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=job.optimizer_class,
                                            **job.defaults)
    else:
        optimizer = job.optimizer_class(ddp.parameters(), **job.defaults)
    out = _run(job, ddp, optimizer, rank, world_size, device)
    out.update(rank=rank, state_numel=_state_numel(optimizer))
    return out


def _jobs_worker(jobs: list) -> list:
    return [data_parallel_worker(job) for job in jobs]


def run_jobs(jobs: list[Job], world_size: int = 2, backend: str | None = None) -> list[list[dict]]:
    """Run several :class:`Job` s one after the other in one launch of ``world_size``
    processes (starting processes costs seconds); ``result[j][r]`` is job j on rank r."""
    per_rank = launch(_jobs_worker, world_size, (list(jobs),), backend)
    return [[per_rank[r][j] for r in range(world_size)] for j in range(len(jobs))]


def make_job(model: torch.nn.Module, optimizer_class: type, data: Split, *, steps: int,
             batch_size: int, loss_fn=F.cross_entropy, zero: bool = False, seed: int = 0,
             **defaults) -> Job:
    """A checked :class:`Job` (arguments as for :func:`train_data_parallel`)."""
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
        raise TypeError(f"optimizer_class must be a torch.optim.Optimizer subclass, got {optimizer_class!r}")
    return Job(model, optimizer_class, dict(defaults), data, _checks.positive_int("steps", steps),
               _checks.positive_int("batch_size", batch_size), loss_fn, _checks.boolean("zero", zero), seed)


def train_data_parallel(model: torch.nn.Module, optimizer_class: type, data: Split, *, steps: int,
                        batch_size: int, world_size: int = 2, loss_fn=F.cross_entropy,
                        zero: bool = False, backend: str | None = None, seed: int = 0,
                        **defaults) -> list[dict]:
    """Train ``model`` data-parallel on ``world_size`` local processes; one result per rank.

    Every step draws a minibatch of ``world_size * batch_size`` examples of ``data``;
    rank r computes the gradient on its ``batch_size`` of them, and DDP averages the
    gradients. ``optimizer_class(params, **defaults)`` is any ``torch.optim.Optimizer``
    (``optnotes.Adam``, ``torch.optim.SGD``, ...); with ``zero=True`` it is wrapped in
    ``ZeroRedundancyOptimizer``, which keeps on each rank the state of its shard of the
    parameters only. ``model`` and ``loss_fn`` must be picklable. ``model`` itself is not
    changed; each result holds the rank's ``trajectory`` of flattened parameters.
    """
    job = make_job(model, optimizer_class, data, steps=steps, batch_size=batch_size,
                   loss_fn=loss_fn, zero=zero, seed=seed, **defaults)
    return run_jobs([job], world_size, backend)[0]


def train_single_process(model: torch.nn.Module, optimizer_class: type, data: Split, *, steps: int,
                         batch_size: int, loss_fn=F.cross_entropy, seed: int = 0, **defaults) -> dict:
    """The reference: the same minibatches of ``batch_size`` examples in one process."""
    job = make_job(model, optimizer_class, data, steps=steps, batch_size=batch_size,
                   loss_fn=loss_fn, seed=seed, **defaults)
    model = copy.deepcopy(model)
    return _run(job, model, optimizer_class(model.parameters(), **defaults), 0, 1,
                next(model.parameters()).device)


def main(argv=None) -> None:
    """``torchrun --nproc-per-node=K -m optnotes.parallel [--optimizer Adam] ...``: train a
    small network on the digits data-parallel and print, on rank 0, the final loss and the
    largest difference between the ranks' parameters."""
    import argparse

    import optnotes
    from .data import digits

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--optimizer", default="Adam", help="a class of optnotes, e.g. SGD, Adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32, help="examples per process and step")
    parser.add_argument("--zero", action="store_true", help="shard the optimizer state (ZeRO)")
    args = parser.parse_args(argv)

    dist.init_process_group(default_backend(int(os.environ["WORLD_SIZE"])))  # env:// from torchrun
    torch.manual_seed(0)  # every rank builds the same model; DDP also broadcasts rank 0's
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
    job = make_job(model, getattr(optnotes, args.optimizer), digits(device="cpu").train,
                   steps=args.steps, batch_size=args.batch_size, zero=args.zero, lr=args.lr)
    out = data_parallel_worker(job)
    final = out["trajectory"][-1].to(rank_device(dist.get_backend()))
    gathered = [torch.empty_like(final) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, final)
    if dist.get_rank() == 0:
        spread = max(float((g - final).abs().max()) for g in gathered)
        print(f"{dist.get_world_size()} ranks, {args.optimizer}: last loss {out['losses'][-1]:.4f}, "
              f"largest difference between ranks' parameters {spread:.1e}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
