"""Two small loops: ``minimize`` runs an optimizer on a test function, ``train`` fits a model.

Both work with any ``torch.optim.Optimizer``, optnotes' or PyTorch's, and are seeded.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from . import _checks
from .data import Split


@dataclass
class Trajectory:
    """Iterates ``points[k]`` = :math:`x_k` (k = 0..steps) and values ``values[k]`` = :math:`f(x_k)`."""

    points: torch.Tensor | None
    values: torch.Tensor
    evaluations: int


def minimize(objective: Callable[[torch.Tensor], torch.Tensor],
             make_optimizer: Callable[[list], torch.optim.Optimizer], x0, steps: int, *,
             noise: float = 0.0, seed: int = 0, make_scheduler=None, keep_points: bool = True,
             device=None, dtype=torch.float64) -> Trajectory:
    """Run ``steps`` iterations of ``make_optimizer([x])`` on ``objective`` from ``x0``.

    ``noise`` > 0 adds :math:`\\sigma\\xi`, :math:`\\xi \\sim N(0, I)` drawn with ``seed``,
    to every gradient: a stochastic gradient with known variance. ``make_scheduler``,
    if given, is called with the optimizer and stepped once per iteration. Every step
    goes through a closure, so closure-based optimizers (``torch.optim.LBFGS``) work too.
    """
    steps = _checks.positive_int("steps", steps)
    noise = _checks.nonnegative("noise", noise)
    x = torch.as_tensor(x0).to(device=device or "cpu", dtype=dtype).clone().requires_grad_(True)
    optimizer = make_optimizer([x])
    scheduler = make_scheduler(optimizer) if make_scheduler is not None else None
    gen = torch.Generator(device=x.device).manual_seed(seed)
    evaluations = 0

    def closure():
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        f = objective(x)
        f.backward()
        if noise:
            x.grad.add_(torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype), alpha=noise)
        return f

    points, values = [], []
    for _ in range(steps):
        if keep_points:
            points.append(x.detach().clone())
        values.append(optimizer.step(closure).detach())
        if scheduler is not None:
            scheduler.step()
    with torch.no_grad():
        values.append(objective(x))
    if keep_points:
        points.append(x.detach().clone())
    return Trajectory(torch.stack(points) if keep_points else None, torch.stack(values), evaluations)


@dataclass
class History:
    """What ``train`` measured.

    Per step: ``step``, the minibatch ``loss``, ``time`` (seconds since the start, not
    counting evaluations) and ``examples`` (gradients of single examples computed so far).
    Per evaluation: ``eval_step``, the full ``train_loss`` and the ``val_loss``.
    """

    step: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    time: list = field(default_factory=list)
    examples: list = field(default_factory=list)
    eval_step: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    best_step: int | None = None
    stopped_early: bool = False


@torch.no_grad()
def evaluate(model: torch.nn.Module, loss_fn, split: Split, batch_size: int = 4096) -> float:
    """Mean of ``loss_fn`` over ``split`` (``loss_fn`` must average over its batch)."""
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(split), batch_size):
        X, y = split.X[i:i + batch_size], split.y[i:i + batch_size]
        total += float(loss_fn(model(X), y)) * X.shape[0]
    model.train(was_training)
    return total / len(split)


def train(model: torch.nn.Module, loss_fn, optimizer: torch.optim.Optimizer, data: Split, *,
          steps: int, batch_size: int | None = None, val: Split | None = None,
          val_loss_fn=None, eval_every: int | None = None, scheduler=None,
          patience: int | None = None, shuffle: str = "epoch", seed: int = 0,
          progress: bool = True) -> History:
    """Minibatch training for ``steps`` updates; returns a :class:`History`.

    Minibatches of ``batch_size`` examples (``None``: the whole set, i.e. batch gradient
    descent) are consecutive slices of an order of the training set: ``shuffle="epoch"``
    draws a fresh random order each epoch (seeded by ``seed``), ``"once"`` draws one and
    keeps it, ``"none"`` keeps the order the data come in. Every ``eval_every`` steps
    (default: once per epoch) the full training loss and, if ``val`` is given, the
    validation metric (``val_loss_fn``, default ``loss_fn``; any metric where lower is
    better, e.g. :func:`zero_one_loss`) are recorded. With ``patience``, training stops
    after that many evaluations without a new best (strictly lower) validation metric,
    and the parameters of the best evaluation are restored (early stopping).
    ``scheduler``, if given, is stepped after every update.
    """
    steps = _checks.positive_int("steps", steps)
    m = len(data)
    batch_size = m if batch_size is None else _checks.positive_int("batch_size", batch_size)
    batch_size = min(batch_size, m)
    batches_per_epoch = -(-m // batch_size)
    eval_every = batches_per_epoch if eval_every is None else _checks.positive_int("eval_every", eval_every)
    if patience is not None:
        patience = _checks.positive_int("patience", patience)
        if val is None:
            raise ValueError("patience needs a validation split: pass val=...")
    val_loss_fn = loss_fn if val_loss_fn is None else val_loss_fn
    if shuffle not in ("epoch", "once", "none"):
        raise ValueError(f"shuffle must be 'epoch', 'once' or 'none', got {shuffle!r}")

    gen = torch.Generator().manual_seed(seed)
    history, order, best, bad, elapsed = History(), None, float("inf"), 0, 0.0
    best_state = None

    def record_evaluation(k):
        history.eval_step.append(k)
        history.train_loss.append(evaluate(model, loss_fn, data))
        if val is not None:
            history.val_loss.append(evaluate(model, val_loss_fn, val))

    def keep_if_best(k) -> bool:
        """Early-stopping bookkeeping; True when patience has run out."""
        nonlocal best, bad, best_state
        if history.val_loss[-1] < best:
            best, bad, history.best_step = history.val_loss[-1], 0, k
            best_state = copy.deepcopy(model.state_dict())
            return False
        bad += 1
        return bad >= patience

    record_evaluation(0)
    if patience is not None:
        keep_if_best(0)
    model.train()
    iterations = range(1, steps + 1)
    if progress:
        from tqdm.auto import tqdm  # imported only when asked for: it warns without ipywidgets

        iterations = tqdm(iterations, desc="train")
    for k in iterations:
        i = (k - 1) % batches_per_epoch
        if i == 0 and (order is None or shuffle == "epoch"):
            order = (torch.arange(m) if shuffle == "none"
                     else torch.randperm(m, generator=gen)).to(data.X.device)
        idx = order[i * batch_size:(i + 1) * batch_size]
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model(data.X[idx]), data.y[idx])
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        loss = loss.item()  # synchronises, so the time below is the step's real time
        elapsed += time.perf_counter() - start
        history.step.append(k)
        history.loss.append(loss)
        history.time.append(elapsed)
        history.examples.append((history.examples[-1] if history.examples else 0) + len(idx))
        if k % eval_every == 0 or k == steps:
            record_evaluation(k)
            if patience is not None and keep_if_best(k):
                history.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def zero_one_loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The fraction of misclassified examples, the 0-1 loss averaged over the batch.

    ``output`` holds class scores (m × C, the predicted class is the arg max) or, for two
    classes, one logit per example (m, predicted class ``output > 0``). It has no useful
    derivative: the result does not depend on ``output`` through autograd at all.
    """
    if output.ndim == 2 and output.shape[1] > 1:
        predicted = output.argmax(dim=1)
    elif output.ndim in (1, 2):
        predicted = (output.reshape(-1) > 0).long()
    else:
        raise ValueError(f"output must have shape (m,) or (m, C), got {tuple(output.shape)}")
    if predicted.shape != y.shape:
        raise ValueError(f"y must have shape {tuple(predicted.shape)}, got {tuple(y.shape)}")
    return (predicted != y.long()).to(torch.get_default_dtype()).mean()


def gradient_norm(model: torch.nn.Module, loss_fn, split: Split) -> float:
    """Euclidean norm of the gradient of the mean of ``loss_fn`` over all of ``split``."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model(split.X), split.y)
    grads = torch.autograd.grad(loss, params)
    return float(torch.cat([g.reshape(-1) for g in grads]).norm())
