"""Weight-space symmetries: permuted and (for ReLU) rescaled networks compute the same function."""

from __future__ import annotations

import math

import pytest
import torch

from optnotes import symmetry


def mlp(act=torch.nn.ReLU, sizes=(5, 6, 4, 3), seed=0):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers).double()


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


X = torch.randn(50, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("act", [torch.nn.ReLU, torch.nn.Tanh, torch.nn.Sigmoid])
def test_permuted_network_computes_the_same_function(act):
    model = mlp(act)
    gen = torch.Generator().manual_seed(2)
    perms = [torch.randperm(6, generator=gen), torch.randperm(4, generator=gen)]
    other = symmetry.permute_hidden_units(model, perms)
    assert not torch.equal(flat(other), flat(model))  # different parameters ...
    assert torch.allclose(other(X), model(X), rtol=0, atol=1e-13)  # ... same function
    # the hidden activations are the original ones, reordered
    h, h_other = model[:2](X), other[:2](X)
    assert torch.equal(h_other, h[:, perms[0]])


def test_count_permutations():
    assert symmetry.count_permutations(mlp()) == math.factorial(6) * math.factorial(4)
    assert symmetry.count_permutations(mlp(sizes=(2, 5, 5, 5, 1))) == math.factorial(5) ** 3


def test_identity_permutation_and_original_untouched():
    model = mlp()
    before = flat(model).clone()
    same = symmetry.permute_hidden_units(model, [torch.arange(6), torch.arange(4)])
    assert torch.equal(flat(same), before) and torch.equal(flat(model), before)


def test_relu_rescaling_keeps_the_function_and_changes_weight_decay():
    model = mlp(torch.nn.ReLU)
    scales = [torch.linspace(0.2, 5.0, 6, dtype=torch.float64), 3.0]
    other = symmetry.rescale_hidden_units(model, scales)
    assert torch.allclose(other(X), model(X), rtol=1e-12, atol=1e-13)
    penalty = lambda m: sum(float((p.detach()**2).sum()) for n, p in m.named_parameters() if "weight" in n)
    assert abs(penalty(other) - penalty(model)) > 1.0  # λ‖w‖² tells the two apart


def test_tanh_rescaling_changes_the_function():
    model = mlp(torch.nn.Tanh)
    other = symmetry.rescale_hidden_units(model, [2.0, 1.0])
    assert float((other(X) - model(X)).detach().abs().max()) > 1e-2


def test_balanced_scale_minimizes_weight_decay_of_one_unit():
    r"""‖a w_in‖² + ‖w_out / a‖² is smallest at a² = ‖w_out‖ / ‖w_in‖ (incoming with bias)."""
    model = mlp(torch.nn.ReLU, sizes=(5, 1, 3))
    w_in = torch.cat([model[0].weight.detach().reshape(-1), model[0].bias.detach()])
    w_out = model[2].weight.detach().reshape(-1)
    best = float((w_out.norm() / w_in.norm()).sqrt())

    def penalty(a):
        m = symmetry.rescale_hidden_units(model, [a])
        with torch.no_grad():
            return float((m[0].weight**2).sum() + (m[0].bias**2).sum() + (m[2].weight**2).sum())

    grid = [best * f for f in (0.5, 0.9, 0.99, 1.01, 1.1, 2.0)]
    assert all(penalty(best) < penalty(a) for a in grid)
    assert penalty(best) == pytest.approx(2 * float(w_in.norm() * w_out.norm()), rel=1e-12)


@pytest.mark.parametrize("call, error", [
    (lambda m: symmetry.permute_hidden_units(m, [torch.arange(6)]), ValueError),
    (lambda m: symmetry.permute_hidden_units(m, [torch.tensor([0, 0, 1, 2, 3, 4]), torch.arange(4)]), ValueError),
    (lambda m: symmetry.rescale_hidden_units(m, [0.0, 1.0]), ValueError),
    (lambda m: symmetry.rescale_hidden_units(m, [-1.0, 1.0]), ValueError),
    (lambda m: symmetry.rescale_hidden_units(m, [torch.ones(5), 1.0]), ValueError),
    (lambda m: symmetry.count_permutations(torch.nn.Linear(2, 2)), TypeError),
    (lambda m: symmetry.count_permutations(torch.nn.Sequential(torch.nn.Linear(2, 2))), ValueError),
])
def test_bad_arguments(call, error):
    with pytest.raises(error):
        call(mlp())
