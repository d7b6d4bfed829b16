r"""Parameter initialization (section 8.4 of Goodfellow, Bengio & Courville,
2016).

In-place functions in the style of ``torch.nn.init``: each fills the tensor it
is given (a trailing underscore), returns it, and draws its random numbers
from ``generator`` when one is passed. For a weight of shape
``(n, m, *kernel)`` (``torch.nn.Linear``: ``(out_features, in_features)``;
``torch.nn.Conv2d``: ``(out, in, kh, kw)``) the fan-in is
:math:`m \cdot \prod \text{kernel}` and the fan-out
:math:`n \cdot \prod \text{kernel}`, as in ``torch.nn.init``. The chapter
*Parameter initialization strategies* of the course demonstrates each
function.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch

from . import _checks

__all__ = [
    "uniform_fan_in_", "glorot_uniform_", "glorot_normal_", "orthogonal_",
    "sparse_", "marginal_bias_", "lstm_forget_bias_", "tune_activation_scale_",
]


def _fans(w: torch.Tensor, name: str = "w") -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear or Conv weight, as ``torch.nn.init``
    counts them."""
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(w).__name__}")
    if w.dim() < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (a Linear "
                         f"or Conv weight), got a {w.dim()}-D tensor of "
                         f"shape {tuple(w.shape)}")
    receptive = math.prod(w.shape[2:])
    return w.shape[1] * receptive, w.shape[0] * receptive


def uniform_fan_in_(w: torch.Tensor,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill ``w`` from :math:`U(-1/\sqrt m,\ 1/\sqrt m)`, m the fan-in.

    The heuristic of the textbook's section 8.4 (variance :math:`1/(3m)`);
    it is also the default of ``torch.nn.Linear`` and ``torch.nn.Conv*d``
    (``kaiming_uniform_`` with ``a=√5``).
    """
    m, _ = _fans(w)
    bound = 1.0 / math.sqrt(m)
    with torch.no_grad():
        return w.uniform_(-bound, bound, generator=generator)


def _gain(gain) -> float:
    return _checks.nonnegative("gain", gain)


def glorot_uniform_(w: torch.Tensor, gain: float = 1.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill ``w`` from the normalized initialization of Glorot & Bengio
    (2010), eq. 16:

    .. math::

       W_{i,j} \sim U\left(-g\sqrt{\tfrac{6}{m+n}},\;
       g\sqrt{\tfrac{6}{m+n}}\right)

    with m the fan-in, n the fan-out and g the ``gain``; the variance is
    :math:`2g^2/(m+n)`, a compromise between :math:`1/m` (equal activation
    variance in every layer) and :math:`1/n` (equal gradient variance). Same
    as ``torch.nn.init.xavier_uniform_``.
    """
    gain = _gain(gain)
    m, n = _fans(w)
    bound = gain * math.sqrt(6.0 / (m + n))
    with torch.no_grad():
        return w.uniform_(-bound, bound, generator=generator)


def glorot_normal_(w: torch.Tensor, gain: float = 1.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill ``w`` from :math:`N(0,\ 2g^2/(m+n))`: Glorot & Bengio's variance
    with a Gaussian.

    m is the fan-in, n the fan-out, g the ``gain``. Same as
    ``torch.nn.init.xavier_normal_``.
    """
    gain = _gain(gain)
    m, n = _fans(w)
    std = gain * math.sqrt(2.0 / (m + n))
    with torch.no_grad():
        return w.normal_(0.0, std, generator=generator)


def orthogonal_(w: torch.Tensor, gain: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill ``w`` with a random orthogonal matrix times the ``gain`` g
    (Saxe et al., 2013).

    ``w`` is viewed as a matrix of ``w.shape[0]`` rows (flattening a Conv
    kernel); its rows (if there are fewer rows than columns) or its columns
    are orthonormal times g: :math:`W^\top W = g^2 I` for a tall or square W.
    The matrix is the Q of the QR factorization of a standard Gaussian
    matrix, its columns' signs fixed by
    :math:`\operatorname{sign}(\operatorname{diag} R)` so that Q is uniformly
    (Haar) distributed (Mezzadri, 2007). Same as
    ``torch.nn.init.orthogonal_``.
    """
    gain = _gain(gain)
    _fans(w)
    rows, cols = w.shape[0], w.numel() // w.shape[0]
    a = w.new_empty((rows, cols)).normal_(0.0, 1.0, generator=generator)
    if rows < cols:
        a = a.T  # QR of the tall matrix; its Q is transposed back below
    q, r = torch.linalg.qr(a)
    q = q * torch.diagonal(r).sign()  # Q ← Q diag(sign r_ii): Haar
    if rows < cols:
        q = q.T
    with torch.no_grad():
        return w.copy_(q.reshape(w.shape)).mul_(gain)


def sparse_(w: torch.Tensor, k: int, std: float = 1.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Sparse initialization (Martens, 2010): exactly ``k`` non-zero
    incoming weights per unit.

    Each unit i (row ``w[i]``, its whole kernel for a Conv weight) gets k
    weights drawn from :math:`N(0, \text{std}^2)` at k positions chosen
    uniformly without replacement; all its other weights are 0. A unit's
    total input then does not shrink or grow with the fan-in m, and its
    weights need not be small. Martens used k = 15.

    ``torch.nn.init.sparse_(w, sparsity)`` is a different rule: it zeros a
    *fraction* ``sparsity`` of every *column* of a 2-D ``w``, so the number
    of non-zeros per unit is random and grows with m.
    """
    m, _ = _fans(w)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an integer, got {k!r} "
                        f"({type(k).__name__})")
    if not 1 <= k <= m:
        raise ValueError(f"k must be between 1 and the fan-in {m}, "
                         f"got {k!r}")
    std = _checks.nonnegative("std", std)
    units = w.shape[0]
    scores = torch.rand(units, m, generator=generator, device=w.device)
    chosen = scores.argsort(dim=1)[:, :k]  # k random positions in each row
    values = torch.empty(units, k, dtype=w.dtype, device=w.device).normal_(
        0.0, std, generator=generator)
    flat = torch.zeros(units, m, dtype=w.dtype, device=w.device)
    flat.scatter_(1, chosen, values)
    with torch.no_grad():
        return w.copy_(flat.reshape(w.shape))


def marginal_bias_(b: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Set an output layer's bias ``b`` so that, with negligible weights,
    the output matches the marginal statistics of ``targets`` (textbook
    section 8.4).

    Integer ``targets`` (class labels ``0 … len(b)−1``): solve
    :math:`\operatorname{softmax}(b) = c` for the class frequencies c, i.e.
    :math:`b_j = \log c_j - \frac1K\sum_l \log c_l` (softmax ignores a shift;
    this one has mean 0). Every class must occur: :math:`\log 0` has no
    finite solution.

    Real ``targets`` (a linear output, regression): :math:`b = \bar y`, the
    mean over examples (``targets`` of shape ``(N,)`` for one output or
    ``(N, len(b))``).
    """
    if not isinstance(b, torch.Tensor) or b.dim() != 1:
        got = (tuple(b.shape) if isinstance(b, torch.Tensor)
               else type(b).__name__)
        raise ValueError(f"b must be a 1-D bias tensor, got {got}")
    if not isinstance(targets, torch.Tensor) or targets.numel() == 0:
        raise ValueError(f"targets must be a non-empty Tensor, "
                         f"got {targets!r}")
    K = b.numel()
    if targets.dtype.is_floating_point:
        y = (targets.reshape(targets.shape[0], -1) if targets.dim() > 1
             else targets[:, None])
        if y.shape[1] != K:
            raise ValueError(f"targets must have {K} column(s) to match b, "
                             f"got shape {tuple(targets.shape)}")
        value = y.mean(dim=0)  # b = ȳ
    else:
        if K < 2:
            raise ValueError(f"b must have one entry per class (at least 2) "
                             f"for class targets, got {K}")
        lo, hi = int(targets.min()), int(targets.max())
        if lo < 0 or hi >= K:
            raise ValueError(f"targets must be class labels in "
                             f"[0, {K - 1}], got values in [{lo}, {hi}]")
        counts = torch.bincount(targets.reshape(-1), minlength=K).double()
        if (counts == 0).any():
            missing = torch.nonzero(counts == 0).flatten().tolist()
            raise ValueError(f"targets must contain every class "
                             f"(softmax(b) = 0 has no finite solution), "
                             f"classes {missing} never occur")
        log_c = torch.log(counts / counts.sum())
        value = log_c - log_c.mean()  # b_j = log c_j − mean_l log c_l
    with torch.no_grad():
        return b.copy_(value.to(device=b.device, dtype=b.dtype))


def lstm_forget_bias_(lstm: torch.nn.Module,
                      value: float = 1.0) -> torch.nn.Module:
    r"""Set the forget-gate bias of every layer of a ``torch.nn.LSTM`` (or an
    ``LSTMCell``) to ``value``, so that the gate :math:`f = \sigma(\dots +
    b_f)` starts open (:math:`\sigma(1) \approx 0.73`) and the cell keeps its
    memory (Gers et al., 2000; Jozefowicz et al., 2015).

    PyTorch's LSTM has two biases per layer, ``bias_ih`` and ``bias_hh``,
    which it adds; their gates are stacked as (input, forget, cell, output).
    The forget slice of ``bias_ih`` is set to ``value`` and that of
    ``bias_hh`` to 0, so the gate's total bias is ``value`` (filling both
    with ``value`` would give twice that). Other biases are kept.
    """
    if not isinstance(lstm, (torch.nn.LSTM, torch.nn.LSTMCell)):
        raise TypeError(f"lstm must be a torch.nn.LSTM or LSTMCell, "
                        f"got {type(lstm).__name__}")
    value = _checks.real("value", value)
    if not lstm.bias:
        raise ValueError("lstm has no biases (it was built with bias=False)")
    H = lstm.hidden_size
    forget = slice(H, 2 * H)  # gates stacked as (i, f, g, o)
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                p[forget] = value
            elif name.startswith("bias_hh"):
                p[forget] = 0.0
    return lstm


_TUNABLE = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d,
            torch.nn.Conv3d)


def _forward_order(model, batch, layers):
    """The tunable layers in the order the forward pass runs them."""
    order = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod))
             for m in layers]
    try:
        with torch.no_grad():
            model(batch)
    finally:
        for h in hooks:
            h.remove()
    seen = []
    for m in order:
        if m not in seen:
            seen.append(m)
    return seen


def tune_activation_scale_(model: torch.nn.Module, batch,
                           target_std: float = 1.0, tol: float = 0.01,
                           max_iter: int = 10) -> dict:
    r"""Rescale each layer's weights until its outputs on one minibatch have
    standard deviation ``target_std`` (textbook section 8.4, "choosing the
    scale by activations").

    The layers (every ``Linear`` and ``Conv*d`` of ``model``) are visited in
    the order of the forward pass. For each: run ``model(batch)``, measure
    the standard deviation s of the layer's output (its pre-activation, over
    examples and units), and multiply its weight by ``target_std / s``;
    repeat until :math:`|s - \text{target}| \le` ``tol`` · target or
    ``max_iter`` passes (a ``RuntimeWarning`` says when the target was not
    reached), then go on to the next layer. Fixing the first layer whose
    activations are too small before looking further is the textbook's
    procedure; it costs a few forward passes on one minibatch, not a
    training run. Mishkin & Matas (2016) use the same loop after an
    orthogonal initialization.

    Returns ``{layer name: total factor applied to its weight}``, in forward
    order.
    """
    target_std = _checks.positive("target_std", target_std)
    tol = _checks.positive("tol", tol)
    max_iter = _checks.positive_int("max_iter", max_iter)
    names = {m: n for n, m in model.named_modules()
             if isinstance(m, _TUNABLE)}
    if not names:
        raise ValueError(f"model must contain a Linear or Conv layer, "
                         f"got {type(model).__name__}")
    layers = _forward_order(model, batch, list(names))
    scales = {}
    for layer in layers:
        out = {}
        hook = layer.register_forward_hook(
            lambda mod, i, o: out.__setitem__("y", o))
        total = 1.0
        try:
            for _ in range(max_iter):
                with torch.no_grad():
                    model(batch)
                s = float(out["y"].std())
                if not math.isfinite(s) or s == 0.0:
                    raise ValueError(
                        f"layer {names[layer]!r} gives outputs of standard "
                        f"deviation {s} on this batch; no rescaling of it "
                        f"can fix that")
                if abs(s - target_std) <= tol * target_std:
                    break
                with torch.no_grad():
                    layer.weight.mul_(target_std / s)  # W ← W · target / s
                total *= target_std / s
            else:
                warnings.warn(
                    f"layer {names[layer]!r}: standard deviation {s:.4g} "
                    f"after max_iter={max_iter} rescalings, target "
                    f"{target_std:.4g}", RuntimeWarning, stacklevel=2)
        finally:
            hook.remove()
        scales[names[layer]] = total
    return scales
