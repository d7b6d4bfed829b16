r"""Batch normalization (Ioffe & Szegedy, 2015; Goodfellow et al., 2016,
section 8.7.1).

A minibatch of activations :math:`H` (one row per example, one column per
unit) is replaced by

.. math::

    H' = \frac{H - \mu}{\sigma}, \qquad
    \mu = \frac1m \sum_i H_{i,:}, \qquad
    \sigma = \sqrt{\delta + \frac1m \sum_i (H - \mu)_{i,:}^2},

then by :math:`\gamma H' + \beta`. Because :math:`\mu` and :math:`\sigma` are
functions of :math:`H` that back-propagation differentiates through, the
gradient never proposes a change of a unit's mean or standard deviation.
"""

from __future__ import annotations

import torch

from . import _checks


class BatchNorm(torch.nn.Module):
    r"""Batch normalization of the units (channels) of an ``(N, C)`` or
    ``(N, C, ...)`` input.

    The statistics are taken per unit over the minibatch, and for an
    image-shaped input ``(N, C, H, W)`` also over every position, so one
    :math:`\mu` and :math:`\sigma` is shared by all positions of a channel (as
    a convolution shares its kernel).

    Symbols: :math:`\delta` → ``eps``; the running averages used in evaluation
    mode are exponential moving averages with weight ``momentum`` on the newest
    minibatch (``momentum=None``: the plain average of all minibatches seen).

    Args:
        num_features: the number of units C.
        eps: :math:`\delta \ge 0`, added to the variance under the root.
        momentum: weight of the newest minibatch in the running averages, in
            [0, 1], or None for a cumulative average.
        affine: learn :math:`\gamma` (initialized to 1) and :math:`\beta`
            (to 0).

    Note:
        The normalization uses the biased variance
        :math:`\frac1m\sum(H-\mu)^2`, as the paper does. The running variance,
        as in ``torch.nn.BatchNorm1d``/``2d``, averages the *unbiased* estimate
        :math:`\frac{m}{m-1}` times that, where m counts the values per unit
        (examples × positions). Outputs and gradients agree with torch's
        modules in training and evaluation mode.

    The chapter: :doc:`/chapters/08_meta_algorithms` (batch normalization).
    """

    def __init__(self, num_features: int, eps: float = 1e-5,
                 momentum: float | None = 0.1, affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.num_features = _checks.positive_int("num_features", num_features)
        self.eps = _checks.nonnegative("eps", eps)
        if momentum is not None:
            momentum = _checks.real("momentum", momentum)
            if not 0.0 <= momentum <= 1.0:
                raise ValueError(
                    f"momentum must be in [0, 1] or None, got {momentum!r}")
        self.momentum = momentum
        self.affine = _checks.boolean("affine", affine)
        factory = {"device": device, "dtype": dtype}
        if affine:
            ones, zeros = torch.ones, torch.zeros
            # γ (scale) and β (shift)
            self.weight = torch.nn.Parameter(ones(num_features, **factory))
            self.bias = torch.nn.Parameter(zeros(num_features, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean",
                             torch.zeros(num_features, **factory))
        self.register_buffer("running_var",
                             torch.ones(num_features, **factory))
        self.register_buffer("num_batches_tracked",
                             torch.zeros((), dtype=torch.long, device=device))

    def _check(self, h: torch.Tensor) -> tuple:
        if h.dim() < 2:
            raise ValueError(f"input must have shape (N, C) or (N, C, ...), "
                             f"got {tuple(h.shape)}")
        if h.shape[1] != self.num_features:
            raise ValueError(f"input has {h.shape[1]} channels (dim 1), "
                             f"expected num_features={self.num_features}")
        dims = (0,) + tuple(range(2, h.dim()))
        count = h.numel() // h.shape[1]
        if self.training and count < 2:
            raise ValueError(f"training needs more than one value per unit, "
                             f"got input of shape {tuple(h.shape)}")
        return dims, count

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Normalize each unit of ``h``; then γH′ + β if ``affine``."""
        dims, count = self._check(h)
        shape = (1, -1) + (1,) * (h.dim() - 2)  # a per-unit vector, broadcast
        if self.training:
            mu = h.mean(dims)                              # μ: mean per unit
            var = (h - mu.view(shape)).square().mean(dims)  # mean((H − μ)²)
            self._update_running(mu.detach(), var.detach(), count)
        else:
            mu, var = self.running_mean, self.running_var
        sigma = torch.sqrt(self.eps + var)                 # σ = √(δ + var)
        h_norm = (h - mu.view(shape)) / sigma.view(shape)  # H′ = (H − μ)/σ
        if self.affine:
            gamma, beta = self.weight.view(shape), self.bias.view(shape)
            return gamma * h_norm + beta                   # γH′ + β
        return h_norm

    @torch.no_grad()
    def _update_running(self, mu, var, count):
        self.num_batches_tracked += 1
        if self.momentum is None:
            w = 1.0 / float(self.num_batches_tracked)
        else:
            w = self.momentum
        unbiased = var * (count / (count - 1))
        self.running_mean.lerp_(mu, w)
        self.running_var.lerp_(unbiased, w)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}")
