"""optnotes.BatchNorm against torch.nn.BatchNorm1d / BatchNorm2d (float64, 1e-10)."""

from __future__ import annotations

import pytest
import torch

from optnotes.normalization import BatchNorm

TOL = dict(rtol=1e-10, atol=1e-12)


def pair(shape, momentum=0.1, affine=True):
    torch.manual_seed(0)
    torch_cls = torch.nn.BatchNorm1d if len(shape) in (2, 3) else torch.nn.BatchNorm2d
    ours = BatchNorm(shape[1], momentum=momentum, affine=affine, dtype=torch.float64)
    ref = torch_cls(shape[1], momentum=momentum, affine=affine, dtype=torch.float64)
    if affine:
        with torch.no_grad():
            w, b = torch.randn(shape[1], dtype=torch.float64), torch.randn(shape[1], dtype=torch.float64)
            ours.weight.copy_(w), ref.weight.copy_(w)
            ours.bias.copy_(b), ref.bias.copy_(b)
    return ours, ref


@pytest.mark.parametrize("shape", [(16, 5), (8, 3, 7), (6, 4, 5, 5)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_matches_torch_in_training_and_evaluation(shape, momentum):
    ours, ref = pair(shape, momentum)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):  # several minibatches: the running averages must agree too
        x = (3 * torch.randn(shape, generator=gen, dtype=torch.float64) + 2).requires_grad_(True)
        up = torch.randn(shape, generator=gen, dtype=torch.float64)
        y1 = ours(x)
        (g1,) = torch.autograd.grad((y1 * up).sum(), x)
        y2 = ref(x)
        (g2,) = torch.autograd.grad((y2 * up).sum(), x)
        torch.testing.assert_close(y1, y2, **TOL)
        torch.testing.assert_close(g1, g2, **TOL)
    torch.testing.assert_close(ours.running_mean, ref.running_mean, **TOL)
    torch.testing.assert_close(ours.running_var, ref.running_var, **TOL)
    ours.eval(), ref.eval()
    x = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(ours(x), ref(x), **TOL)


def test_parameter_gradients_match_torch():
    ours, ref = pair((10, 4))
    x = torch.randn(10, 4, dtype=torch.float64)
    (ours(x).sin().sum()).backward()
    (ref(x).sin().sum()).backward()
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad, **TOL)
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad, **TOL)


def test_gradient_proposes_no_change_of_mean_or_scale():
    """Back-propagated through μ and σ, the gradient w.r.t. H has zero mean per unit and
    is orthogonal to H′ per unit (no change of a unit's mean or standard deviation)."""
    bn = BatchNorm(3, affine=False, eps=0.0, dtype=torch.float64)
    h = (torch.randn(32, 3, dtype=torch.float64) * 5 + 1).requires_grad_(True)
    out = bn(h)
    (g,) = torch.autograd.grad((out * torch.randn_like(out)).sum(), h)
    assert g.mean(0).abs().max() < 1e-12
    assert (g * out.detach()).mean(0).abs().max() < 1e-12
    # without normalization the same upstream gradient has a non-zero mean
    assert torch.randn(32, 3, dtype=torch.float64).mean(0).abs().max() > 1e-3


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_features=0), "num_features"),
    (dict(num_features=3, eps=-1.0), "eps"),
    (dict(num_features=3, momentum=1.5), "momentum"),
    (dict(num_features=3, affine="yes"), "affine"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        BatchNorm(**kwargs)


def test_bad_inputs():
    bn = BatchNorm(3)
    with pytest.raises(ValueError, match="num_features=3"):
        bn(torch.randn(4, 5))
    with pytest.raises(ValueError, match="shape"):
        bn(torch.randn(3))
    with pytest.raises(ValueError, match="more than one value"):
        bn(torch.randn(1, 3))


def test_state_dict_loads_into_torch():
    ours, ref = pair((8, 3))
    ours(torch.randn(8, 3, dtype=torch.float64))
    ref.load_state_dict(ours.state_dict())
    ours.eval(), ref.eval()
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), **TOL)


@pytest.mark.gpu
def test_cuda_matches_cpu(cuda):
    ours, _ = pair((16, 4))
    x = torch.randn(16, 4, dtype=torch.float64)
    on_gpu = BatchNorm(4, dtype=torch.float64, device=cuda)
    on_gpu.load_state_dict(ours.state_dict())
    torch.testing.assert_close(on_gpu(x.to(cuda)).cpu(), ours(x), **TOL)
