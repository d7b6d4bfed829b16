"""Data parallelism on 2 gloo processes matches one process on the whole minibatch.

One launch of two processes runs every job (starting processes costs seconds): DDP with
optnotes.SGD (momentum) and optnotes.Adam, and ZeroRedundancyOptimizer(optimizer_class=
optnotes.Adam). In float64 every rank must hold the same parameters at every step, and
those must be the iterates of train_single_process on the k·m minibatch (1e-10 relative).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import optnotes
from optnotes import parallel
from optnotes.data import Split

from conftest import make_mlp

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

K, M, STEPS = 2, 4, 12  # processes, examples per process and step, steps
SETUPS = {
    "SGD": (optnotes.SGD, dict(lr=0.1, momentum=0.9), False),
    "Adam": (optnotes.Adam, dict(lr=0.01), False),
    "ZeRO-Adam": (optnotes.Adam, dict(lr=0.01), True),
}


def classification(n=40, seed=3):
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randint(3, (n,), generator=g))


@pytest.fixture(scope="module")
def runs():
    model, data = make_mlp(), classification()
    jobs = [parallel.make_job(model, cls, data, steps=STEPS, batch_size=M, zero=zero, **kw)
            for cls, kw, zero in SETUPS.values()]
    results = parallel.run_jobs(jobs, world_size=K, backend="gloo")
    refs = [parallel.train_single_process(model, cls, data, steps=STEPS, batch_size=K * M, **kw)
            for cls, kw, _ in SETUPS.values()]
    return dict(zip(SETUPS, zip(results, refs)))


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("name", list(SETUPS))
def test_every_rank_holds_the_same_parameters(runs, name):
    ranks, _ = runs[name]
    assert [r["rank"] for r in ranks] == list(range(K))
    for r in ranks[1:]:
        assert r["trajectory"].shape == (STEPS + 1, ranks[0]["trajectory"].shape[1])
        assert rel(r["trajectory"], ranks[0]["trajectory"]) <= 1e-15


@pytest.mark.parametrize("name", list(SETUPS))
def test_data_parallel_matches_one_process_on_the_k_m_batch(runs, name):
    ranks, ref = runs[name]
    traj = ranks[0]["trajectory"]
    assert traj.dtype == torch.float64
    assert rel(traj, ref["trajectory"]) < 1e-10
    assert rel(traj[-1], traj[0]) > 1e-3  # it moved: the match is not trivial
    # the averaged gradient of the first step is the gradient of the k·m examples
    assert rel(ranks[0]["first_gradient"], ref["first_gradient"]) < 1e-12
    # each rank's loss is that of its own half of the minibatch; their mean is the whole's
    mean_loss = torch.tensor([r["losses"] for r in ranks], dtype=torch.float64).mean(0)
    assert torch.allclose(mean_loss, torch.tensor(ref["losses"], dtype=torch.float64), rtol=1e-10, atol=0)


def test_zero_shards_the_optimizer_state(runs):
    plain, _ = runs["Adam"]
    zero, _ = runs["ZeRO-Adam"]
    n_params = plain[0]["trajectory"].shape[1]
    assert [r["state_numel"] for r in plain] == [2 * n_params] * K  # every rank: m and v of all
    shards = [r["state_numel"] for r in zero]
    assert sum(shards) == 2 * n_params and all(0 < s < 2 * n_params for s in shards)


def test_single_process_reference_is_plain_minibatch_training():
    """train_single_process against a hand-written loop with torch.optim.SGD."""
    model, data = make_mlp(), classification()
    ref = parallel.train_single_process(model, torch.optim.SGD, data, steps=5, batch_size=8, lr=0.1)
    net = make_mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for idx in parallel.global_batches(len(data), 8, 5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(data.X[idx]), data.y[idx]).backward()
        opt.step()
    final = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    assert rel(ref["trajectory"][-1], final) < 1e-14


def test_global_batches():
    batches = parallel.global_batches(10, 3, 7, seed=1)
    assert len(batches) == 7 and all(len(b) == 3 for b in batches)
    epoch = torch.cat(batches[:3])
    assert len(set(epoch.tolist())) == 9  # without replacement within an epoch
    assert all(torch.equal(a, b) for a, b in zip(batches, parallel.global_batches(10, 3, 7, seed=1)))
    with pytest.raises(ValueError, match="batch_size"):
        parallel.global_batches(4, 5, 1)


def test_bad_input():
    model, data = make_mlp(), classification()
    with pytest.raises(TypeError, match="optimizer_class"):
        parallel.make_job(model, "Adam", data, steps=1, batch_size=1)
    with pytest.raises(ValueError, match="steps"):
        parallel.make_job(model, optnotes.SGD, data, steps=0, batch_size=1, lr=0.1)
    with pytest.raises(ValueError, match="backend"):
        parallel.launch(print, 2, backend="mpi")
    with pytest.raises(ValueError, match="world_size"):
        parallel.launch(print, 0)


@pytest.mark.slow
def test_torchrun_entry_point():
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node=2", "-m", "optnotes.parallel", "--steps", "20"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "2 ranks, Adam" in proc.stdout and "parameters 0.0e+00" in proc.stdout
