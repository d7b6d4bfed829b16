r"""Weight-space symmetries of a multilayer perceptron: many parameter
vectors, one function.

A network is *identifiable* when a large training set rules out all but one
setting of its parameters. A multilayer perceptron is not (Goodfellow et al.,
2016, section 8.2.2):

* **permuting** the hidden units of a layer (the rows of its weight matrix
  and bias, and the matching columns of the next layer's weights) leaves the
  function unchanged, so a network with :math:`m` hidden layers of :math:`n`
  units has :math:`(n!)^m` equivalent parameter settings
  (:func:`permute_hidden_units`, :func:`count_permutations`);
* for **rectified linear** units, scaling a unit's incoming weights and bias
  by :math:`a > 0` and its outgoing weights by :math:`1/a` leaves the
  function unchanged, because :math:`\max(0, a z) = a \max(0, z)`
  (:func:`rescale_hidden_units`); a weight decay penalty
  :math:`\lambda \|w\|^2` does change, which breaks this symmetry.

Both functions take a ``torch.nn.Sequential`` of ``Linear`` layers separated
by element-wise activations (``ReLU``, ``Tanh``, ...) and return a modified
deep copy.

Chapter: *Challenges in neural network optimization*
(``chapters/03_challenges``).
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import torch

__all__ = ["linear_layers", "count_permutations", "permute_hidden_units",
           "rescale_hidden_units"]


def linear_layers(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """The ``Linear`` layers of an MLP, in order; TypeError if ``model`` is
    not one."""
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential MLP, got "
                        f"{type(model).__name__}")
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    if len(layers) < 2:
        raise ValueError(f"model must have at least two Linear layers, got "
                         f"{len(layers)}")
    for a, b in zip(layers[:-1], layers[1:]):
        if a.out_features != b.in_features:
            raise ValueError(f"consecutive Linear layers must match, got {a} "
                             f"then {b}")
    return layers


def count_permutations(model: torch.nn.Module) -> int:
    r""":math:`\prod_l n_l!` over the hidden layers: :math:`(n!)^m` for
    :math:`m` layers of :math:`n` units. Every one gives the same function."""
    hidden = linear_layers(model)[:-1]
    return math.prod(math.factorial(layer.out_features) for layer in hidden)


def _hidden(model, values, name):
    layers = linear_layers(model)
    if len(values) != len(layers) - 1:
        raise ValueError(f"{name} must have one entry per hidden layer "
                         f"({len(layers) - 1}), got {len(values)}")
    return layers


@torch.no_grad()
def permute_hidden_units(model: torch.nn.Module,
                         perms: Sequence[torch.Tensor]) -> torch.nn.Module:
    r"""A copy of ``model`` whose hidden layer :math:`l` has its units
    reordered by ``perms[l]`` (a permutation of :math:`0, \dots, n_l - 1`):
    unit :math:`i` of the copy is unit ``perms[l][i]`` of the original. Rows
    of :math:`W^{(l)}, b^{(l)}` and columns of :math:`W^{(l+1)}` move
    together, so the copy computes the same function."""
    out = copy.deepcopy(model)
    layers = _hidden(out, perms, "perms")
    for l, perm in enumerate(perms):
        perm = torch.as_tensor(perm, dtype=torch.long)
        n = layers[l].out_features
        if perm.shape != (n,) or not torch.equal(perm.sort().values,
                                                 torch.arange(n)):
            raise ValueError(f"perms[{l}] must be a permutation of "
                             f"0..{n - 1}, got {perm.tolist()}")
        perm = perm.to(layers[l].weight.device)
        W_in, W_out = layers[l].weight, layers[l + 1].weight
        W_in.copy_(W_in[perm])  # rows of W⁽ˡ⁾
        if layers[l].bias is not None:
            layers[l].bias.copy_(layers[l].bias[perm])
        W_out.copy_(W_out[:, perm])  # columns of W⁽ˡ⁺¹⁾
    return out


@torch.no_grad()
def rescale_hidden_units(model: torch.nn.Module,
                         scales: Sequence[torch.Tensor | float]
                         ) -> torch.nn.Module:
    r"""A copy of ``model`` in which unit :math:`i` of hidden layer :math:`l`
    has its incoming weights and bias multiplied by :math:`a_i` =
    ``scales[l][i]`` (> 0, a number or one per unit) and its outgoing weights
    by :math:`1/a_i`.

    For ReLU (or any positively homogeneous) activations the copy computes
    the same function; for ``Tanh`` or ``Sigmoid`` it does not.
    """
    out = copy.deepcopy(model)
    layers = _hidden(out, scales, "scales")
    for l, a in enumerate(scales):
        n, W_in = layers[l].out_features, layers[l].weight
        a = torch.as_tensor(a, dtype=W_in.dtype, device=W_in.device)
        a = a.expand(n) if a.dim() == 0 else a
        if (a.shape != (n,) or not bool((a > 0).all())
                or not bool(torch.isfinite(a).all())):
            raise ValueError(f"scales[{l}] must be a positive finite number "
                             f"or {n} of them, got {a.tolist()}")
        W_in.mul_(a[:, None])  # incoming weights × a
        if layers[l].bias is not None:
            layers[l].bias.mul_(a)
        layers[l + 1].weight.div_(a[None, :])  # outgoing weights × 1/a
    return out
