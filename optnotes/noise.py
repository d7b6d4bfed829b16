r"""Gradient noise: per-example gradients and the simple noise scale.

The minibatch gradient :math:`\hat g` of :math:`B` examples drawn from a distribution whose
per-example gradients have mean :math:`g` and covariance :math:`\Sigma` has
:math:`\mathbb{E}\,\|\hat g - g\|^2 = \operatorname{tr}(\Sigma)/B`. McCandlish et al.
(2018), "An Empirical Model of Large-Batch Training", compare this noise with the signal
:math:`\|g\|^2` through the *simple noise scale*

.. math::

    B_{\rm simple} = \frac{\operatorname{tr}(\Sigma)}{\|g\|^2},

the batch size at which the noise of :math:`\hat g` equals the squared length of
:math:`g`. Batches much smaller than it are noise-dominated (doubling the batch nearly
halves the steps needed), batches much larger waste examples. Their model of the trade-off
is :math:`S/S_{\min} = 1 + B_{\rm noise}/B` steps and
:math:`E/E_{\min} = 1 + B/B_{\rm noise}` examples, with :math:`B_{\rm simple}` as an
estimate of :math:`B_{\rm noise}` (:func:`steps_and_examples`).

Used in chapter 2 (`chapters/02_minibatches.md`, section "The trade-off, measured").
"""

from __future__ import annotations

import torch

from . import _checks

__all__ = ["per_example_gradients", "gradient_noise_scale", "steps_and_examples"]


def per_example_gradients(model: torch.nn.Module, loss_fn, X: torch.Tensor,
                          y: torch.Tensor) -> torch.Tensor:
    """The gradient of ``loss_fn(model(x), y)`` for every example, as an ``N × P`` matrix
    (one row per example, one column per parameter, in ``model.parameters()`` order).

    Computed with ``torch.func`` (``vmap`` of ``grad`` over the examples);
    ``loss_fn`` must average over its batch, as ``F.cross_entropy`` does.
    """
    from torch.func import functional_call, grad, vmap

    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    params = {k: v.detach() for k, v in model.named_parameters()}

    def one(p, x, t):
        return loss_fn(functional_call(model, p, (x[None],)), t[None])

    G = vmap(grad(one), in_dims=(None, 0, 0))(params, X, y)
    return torch.cat([G[k].reshape(len(X), -1) for k in params], dim=1)


def gradient_noise_scale(G: torch.Tensor) -> float:
    r""":math:`B_{\rm simple} = \operatorname{tr}(\Sigma)/\|g\|^2` from per-example
    gradients ``G`` (``N × P``, one row per example).

    :math:`g` is the mean of the rows and :math:`\Sigma` their covariance over the
    :math:`N` examples (divided by :math:`N`: the rows are the whole distribution a
    minibatch is drawn from, such as a training set), so
    :math:`\operatorname{tr}(\Sigma) = \frac1N\sum_i \|G_i - g\|^2`.
    """
    if not isinstance(G, torch.Tensor):
        raise TypeError(f"G must be a torch.Tensor, got {type(G).__name__}")
    if G.dim() != 2 or G.shape[0] < 2:
        raise ValueError(f"G must be a matrix with at least two rows (examples), "
                         f"got shape {tuple(G.shape)}")
    G = G.double()
    g = G.mean(0)
    signal = float(g @ g)
    if signal == 0.0:
        raise ValueError("the mean gradient of G is zero: the noise scale is undefined")
    trace = float(((G - g) ** 2).sum(1).mean())
    return trace / signal


def steps_and_examples(batch_size, noise_scale: float):
    r"""McCandlish et al.'s model of the large-batch trade-off: the steps and the examples
    needed to reach a given loss with batches of ``batch_size``, relative to their
    minima, :math:`S/S_{\min} = 1 + B_{\rm noise}/B` and
    :math:`E/E_{\min} = 1 + B/B_{\rm noise}`. ``batch_size`` may be a number or an
    array; returns the pair ``(S/S_min, E/E_min)``."""
    noise_scale = _checks.positive("noise_scale", noise_scale)
    b = torch.as_tensor(batch_size, dtype=torch.float64)
    if bool((b <= 0).any()):
        raise ValueError(f"batch_size must be > 0, got {batch_size!r}")
    steps, examples = 1 + noise_scale / b, 1 + b / noise_scale
    if b.dim() == 0:
        return float(steps), float(examples)
    return steps.numpy(), examples.numpy()
