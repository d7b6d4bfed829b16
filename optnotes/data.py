"""Small data sets that need no network.

``digits`` is a real data set: the 1,797 8×8 handwritten digits of the UCI ML
repository (Alpaydin & Kaynak, 1998) that scikit-learn ships inside its package
(BSD-3-Clause). The generators make synthetic problems with a known answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import _checks
from .runtime import default_device


@dataclass(frozen=True)
class Split:
    """Inputs ``X`` (m × n) and targets ``y`` (m) of one part of a data set."""

    X: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return self.X.shape[0]


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split


def _split(X, y, val_fraction, test_fraction, seed, device) -> Splits:
    _checks.nonnegative("val_fraction", val_fraction)
    _checks.nonnegative("test_fraction", test_fraction)
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction!r}")
    m = X.shape[0]
    order = torch.randperm(m, generator=torch.Generator().manual_seed(seed))
    n_val, n_test = int(round(val_fraction * m)), int(round(test_fraction * m))
    parts = order[n_val + n_test:], order[:n_val], order[n_val:n_val + n_test]
    device = default_device() if device is None else torch.device(device)
    return Splits(*(Split(X[i].to(device), y[i].to(device)) for i in parts))


def digits(val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0,
           device=None, dtype=torch.float32) -> Splits:
    """The 8×8 digits (10 classes, 64 pixels scaled to [0, 1]), split at random with ``seed``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X = torch.as_tensor(data.data, dtype=dtype) / 16.0
    y = torch.as_tensor(data.target, dtype=torch.long)
    return _split(X, y, val_fraction, test_fraction, seed, device)


def linear_regression(m: int = 1000, n: int = 10, noise: float = 0.1, seed: int = 0,
                      val_fraction: float = 0.2, test_fraction: float = 0.0, device=None,
                      dtype=torch.float64) -> tuple[Splits, torch.Tensor]:
    """``y = X w* + noise·ξ`` with standard normal ``X`` and ``ξ``; returns the splits and ``w*``."""
    m, n = _checks.positive_int("m", m), _checks.positive_int("n", n)
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, generator=g, dtype=dtype)
    X = torch.randn(m, n, generator=g, dtype=dtype)
    y = X @ w + _checks.nonnegative("noise", noise) * torch.randn(m, generator=g, dtype=dtype)
    return _split(X, y, val_fraction, test_fraction, seed, device), w


def gaussian_classes(m: int = 1000, n: int = 2, classes: int = 2, spread: float = 1.0,
                     seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.0,
                     device=None, dtype=torch.float32) -> Splits:
    """``classes`` Gaussian blobs in ``n`` dimensions: centres drawn from N(0, 9 I), points
    scattered around them with standard deviation ``spread``."""
    m, n = _checks.positive_int("m", m), _checks.positive_int("n", n)
    classes = _checks.positive_int("classes", classes)
    g = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.randn(classes, n, generator=g, dtype=dtype)
    y = torch.randint(classes, (m,), generator=g)
    X = centres[y] + _checks.positive("spread", spread) * torch.randn(m, n, generator=g, dtype=dtype)
    return _split(X, y, val_fraction, test_fraction, seed, device)


def sparse_features(m: int = 3000, n: int = 100, common: int = 20, common_density: float = 0.3,
                    rare_density: float = 0.01, common_scale: float = 0.3, rare_scale: float = 3.0,
                    seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2,
                    device=None, dtype=torch.float32) -> tuple[Splits, torch.Tensor]:
    """Binary features for logistic regression in which the informative features are rare.

    Feature ``j`` of an example is 1 with probability ``common_density`` for the first
    ``common`` features and ``rare_density`` for the others, else 0. The true weights
    ``w*`` are small for the common features, drawn from N(0, ``common_scale``²), and
    large for the rare ones, ``±rare_scale`` with random signs; the label ``y`` (0. or 1.,
    of ``dtype``, as ``binary_cross_entropy_with_logits`` expects) is 1 with probability
    ``sigmoid(x · w*)``. A rare feature is seen in few minibatches, so its weight gets few
    gradients: the setting in which per-parameter learning rates pay off.
    Returns the splits and ``w*``.
    """
    m, n = _checks.positive_int("m", m), _checks.positive_int("n", n)
    if isinstance(common, bool) or not isinstance(common, int) or not 0 <= common <= n:
        raise ValueError(f"common must be an integer in [0, n] = [0, {n}], got {common!r}")
    p = torch.full((n,), 0.0, dtype=torch.float64)
    for name, value, part in (("common_density", common_density, slice(None, common)),
                              ("rare_density", rare_density, slice(common, None))):
        value = _checks.real(name, value)
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {value!r}")
        p[part] = value
    common_scale = _checks.nonnegative("common_scale", common_scale)
    rare_scale = _checks.nonnegative("rare_scale", rare_scale)
    g = torch.Generator().manual_seed(seed)
    X = (torch.rand(m, n, generator=g, dtype=torch.float64) < p).to(dtype)
    w = torch.empty(n, dtype=torch.float64)
    w[:common] = common_scale * torch.randn(common, generator=g, dtype=torch.float64)
    w[common:] = rare_scale * (2.0 * torch.randint(2, (n - common,), generator=g, dtype=torch.float64) - 1.0)
    y = (torch.rand(m, generator=g, dtype=torch.float64) < torch.sigmoid(X.double() @ w)).to(dtype)
    return _split(X, y, val_fraction, test_fraction, seed, device), w.to(dtype)


# --- distributions one can sample without end ---------------------------------------------------

def _generator(seed) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer or a torch.Generator, got {seed!r}")
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class TwoGaussians:
    r"""A classification problem with a known Bayes error: :math:`p_{\rm data}(x, y)`.

    The label :math:`y \in \{0, 1\}` is a fair coin; given it,
    :math:`x \sim N((2y - 1)\,\mu, I_n)` with :math:`\mu = (\tfrac{d}{2}, 0, \dots, 0)`, so
    the two class means are ``separation`` :math:`= d` apart along the first axis and the
    other ``n - 1`` coordinates are pure noise. The best possible classifier predicts
    :math:`y = [x_1 > 0]` and errs with probability :math:`\Phi(-d/2)`, the Bayes error.
    """

    n: int = 2
    separation: float = 2.0
    dtype: torch.dtype = torch.float32

    def __post_init__(self):
        _checks.positive_int("n", self.n)
        _checks.positive("separation", self.separation)

    @property
    def bayes_error(self) -> float:
        """:math:`\\Phi(-d/2)`, the 0-1 risk of the Bayes classifier."""
        return 0.5 * math.erfc(self.separation / 2 / math.sqrt(2))

    def bayes_predict(self, X: torch.Tensor) -> torch.Tensor:
        """The class of least expected error, :math:`[x_1 > 0]`."""
        return (X[:, 0] > 0).long()

    def sample(self, m: int, seed=0, device=None) -> Split:
        """``m`` independent examples; ``seed`` is an int or a ``torch.Generator`` (to go on
        drawing fresh examples from one stream)."""
        m, g = _checks.positive_int("m", m), _generator(seed)
        y = torch.randint(2, (m,), generator=g)
        X = torch.randn(m, self.n, generator=g, dtype=self.dtype)
        X[:, 0] += (y.to(self.dtype) - 0.5) * self.separation
        device = default_device() if device is None else torch.device(device)
        return Split(X.to(device), y.to(device))


@dataclass(frozen=True)
class Population:
    """A finite :math:`p_{\\rm data}`: the uniform distribution over the ``N`` examples of ``all``.

    Its risk :math:`J^*(\\theta)` and the gradient of it are exact averages over ``all``,
    so they can be computed, not just estimated. :meth:`draw` samples fresh examples
    from it (with replacement: independent draws), :meth:`training_set` draws the fixed
    training set that an algorithm then sees over and over.
    """

    all: Split

    def __len__(self) -> int:
        return len(self.all)

    def draw(self, m: int, seed=0) -> Split:
        """``m`` independent examples of :math:`p_{\\rm data}`."""
        m, g = _checks.positive_int("m", m), _generator(seed)
        idx = torch.randint(len(self), (m,), generator=g).to(self.all.X.device)
        return Split(self.all.X[idx], self.all.y[idx])

    def training_set(self, m: int, seed: int = 0) -> Split:
        """A fixed training set of ``m`` examples drawn from :math:`p_{\\rm data}`."""
        return self.draw(m, seed)

    def stream(self, batch_size: int, seed: int = 0):
        """An endless stream of minibatches of fresh examples (online learning)."""
        batch_size, g = _checks.positive_int("batch_size", batch_size), _generator(seed)
        while True:
            yield self.draw(batch_size, g)
