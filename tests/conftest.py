"""Shared test setup: a headless matplotlib, GPU skipping, and small seeded models.

GPU tests are marked ``@pytest.mark.gpu`` (or take the ``cuda`` fixture) and are skipped
with the reason "no CUDA device" when ``torch.cuda.is_available()`` is False.

The factories below build the same tiny problem every time they are called with the same
arguments, so two tests (or two runs inside one test) see bitwise identical models and
minibatches.
"""

from __future__ import annotations

import copy
import os

os.environ.setdefault("MPLBACKEND", "Agg")
# The slow session runs several processes at once (chapters, gradings, nbval, a browser)
# on a few cores: one OpenMP/BLAS thread each (inherited by every kernel they start), set
# before torch and numpy load, keeps them from contending for the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import matplotlib  # noqa: E402

matplotlib.use("Agg", force=True)

import pytest  # noqa: E402
import torch  # noqa: E402
from site_build import chapter_runs, chapters_the_session_needs  # noqa: E402,F401 - a fixture

HAS_CUDA = torch.cuda.is_available()
NO_CUDA = "no CUDA device"


# --- markers -------------------------------------------------------------------------------

def pytest_configure(config):
    # pyproject.toml registers them too; registering here keeps `--strict-markers` happy
    # when pytest runs from another directory.
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skipped with a reason when none is present)")
    config.addinivalue_line("markers", "slow: executes chapters or builds the book")


def pytest_collection_modifyitems(config, items):
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason=NO_CUDA)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def chapters_start_with_the_session(request):
    """When a test of the session executes chapters, start executing the ones the session
    needs (every one when it builds the book) at its start, in the background, so they
    run beside the tests that come first (the assignments' gradings use one core each)
    rather than after them."""
    items = request.session.items
    if any("chapter_runs" in item.fixturenames for item in items) \
            and chapters_the_session_needs(request.session):
        request.getfixturevalue("chapter_runs")


@pytest.fixture
def cuda() -> torch.device:
    """The CUDA device; skips the test (reason "no CUDA device") when there is none."""
    if not HAS_CUDA:
        pytest.skip(NO_CUDA)
    return torch.device("cuda")


# --- small seeded problems -----------------------------------------------------------------

SIZES = (5, 7, 3)  # inputs, hidden units, outputs of the tiny MLP


def make_mlp(seed: int = 0, dtype=torch.float64, device="cpu", sizes=SIZES) -> torch.nn.Module:
    """A tiny tanh MLP (5 → 7 → 3 by default) with weights drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = torch.nn.Linear(a, b)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=gen) / a**0.5)
            lin.bias.copy_(0.1 * torch.randn(b, generator=gen))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers).to(device=device, dtype=dtype)


def make_batches(steps: int, batch_size: int = 8, seed: int = 1, dtype=torch.float64,
                 device="cpu", sizes=SIZES) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed sequence of ``steps`` regression minibatches ``(X, y)`` for ``make_mlp``."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(sizes[0], sizes[-1], generator=gen, dtype=torch.float64)
    out = []
    for _ in range(steps):
        X = torch.randn(batch_size, sizes[0], generator=gen, dtype=torch.float64)
        y = torch.sin(X @ w) + 0.1 * torch.randn(batch_size, sizes[-1], generator=gen, dtype=torch.float64)
        out.append((X.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)))
    return out


def mse(model: torch.nn.Module, batch) -> torch.Tensor:
    X, y = batch
    return torch.nn.functional.mse_loss(model(X), y)


def copy_model(model: torch.nn.Module, dtype=None, device=None) -> torch.nn.Module:
    """An independent copy of ``model``, optionally cast to ``dtype``/moved to ``device``."""
    out = copy.deepcopy(model)
    return out.to(device=device, dtype=dtype) if (dtype or device) else out


def flat(tensors) -> torch.Tensor:
    """All tensors of an iterable concatenated into one float64 CPU vector."""
    return torch.cat([t.detach().reshape(-1).to("cpu", torch.float64) for t in tensors])


def max_rel_diff(a, b) -> float:
    """max |a − b| / max |b| over all tensors of two matching iterables."""
    a, b = flat(a), flat(b)
    return float((a - b).abs().max() / b.abs().max())


@pytest.fixture
def mlp() -> torch.nn.Module:
    return make_mlp()


@pytest.fixture
def batches() -> list:
    return make_batches(20)
