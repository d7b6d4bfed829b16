"""Gradient clipping against torch.nn.utils, the textbook's rule, and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import optnotes
from optnotes.clipping import clip_grad_norm_, clip_grad_value_

from conftest import make_batches, make_mlp, mse


def model_with_grads(seed=0, dtype=torch.float64, device="cpu", scale=1.0):
    model = make_mlp(seed, dtype=dtype, device=device)
    (scale * mse(model, make_batches(1, dtype=dtype, device=device)[0])).backward()
    return model


def grads(model):
    return [p.grad.detach().clone() for p in model.parameters()]


def test_exported():
    assert optnotes.clip_grad_norm_ is clip_grad_norm_
    assert optnotes.clip_grad_value_ is clip_grad_value_


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, math.inf])
@pytest.mark.parametrize("fraction", [0.05, 0.5, 2.0])  # v as a fraction of ‖g‖
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_norm_clipping_agrees_with_torch(norm_type, fraction, dtype):
    ours, theirs = model_with_grads(dtype=dtype), model_with_grads(dtype=dtype)
    full = torch.nn.utils.get_total_norm([p.grad for p in theirs.parameters()], norm_type)
    v = fraction * float(full)
    n_ours = clip_grad_norm_(ours.parameters(), v, norm_type)
    n_theirs = torch.nn.utils.clip_grad_norm_(theirs.parameters(), v, norm_type)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert n_ours.dtype == n_theirs.dtype
    assert float(n_ours) == pytest.approx(float(n_theirs), rel=tol)
    # torch divides by ‖g‖ + 1e-6: its factor differs from v/‖g‖ by about 1e-6/‖g‖
    slack = tol + 2e-6 / float(full)
    for a, b in zip(grads(ours), grads(theirs)):
        assert torch.allclose(a, b, rtol=slack, atol=0), (a - b).abs().max()


def test_textbook_rule_in_float64():
    model = model_with_grads()
    g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    v = 0.3 * float(g.norm())
    returned = clip_grad_norm_(model.parameters(), v)
    clipped = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    assert float(returned) == pytest.approx(float(g.norm()), rel=1e-15)
    assert torch.allclose(clipped, g * v / g.norm(), rtol=1e-15, atol=0)  # g ← g v/‖g‖
    assert float(clipped.norm()) == pytest.approx(v, rel=1e-14)  # exactly v, not v‖g‖/(‖g‖+1e-6)


def test_gradient_below_threshold_is_untouched_even_within_torchs_margin():
    model = model_with_grads()
    before = grads(model)
    norm = float(torch.cat([g.reshape(-1) for g in before]).norm())
    clip_grad_norm_(model.parameters(), norm * (1 + 1e-12))  # ‖g‖ ≤ v: unchanged
    assert all(torch.equal(a, b) for a, b in zip(grads(model), before))
    theirs = model_with_grads()
    torch.nn.utils.clip_grad_norm_(theirs.parameters(), norm * (1 + 1e-12))
    assert not all(torch.equal(a, b) for a, b in zip(grads(theirs), before))  # torch shrinks it


@pytest.mark.parametrize("clip_value", [0.0, 1e-3, 0.05, 10.0])
def test_value_clipping_agrees_with_torch(clip_value):
    ours, theirs = model_with_grads(), model_with_grads()
    assert clip_grad_value_(ours.parameters(), clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs.parameters(), clip_value)
    assert all(torch.equal(a, b) for a, b in zip(grads(ours), grads(theirs)))
    assert max(float(g.abs().max()) for g in grads(ours)) <= clip_value


def test_any_iterable_single_tensor_and_params_without_grad():
    model = model_with_grads()
    x = torch.zeros(3, requires_grad=True)  # no grad: skipped
    ref = model_with_grads()
    torch.nn.utils.clip_grad_norm_(list(ref.parameters()), 0.1)
    clip_grad_norm_((p for p in [x, *model.parameters()]), 0.1)  # a generator
    for a, b in zip(grads(model), grads(ref)):
        assert torch.allclose(a, b, rtol=1e-5, atol=0)
    assert x.grad is None
    t = torch.tensor([3.0, 4.0], requires_grad=True)
    t.grad = torch.tensor([3.0, 4.0])
    assert float(clip_grad_norm_(t, 1.0)) == 5.0
    assert torch.allclose(t.grad, torch.tensor([0.6, 0.8]))
    assert float(clip_grad_norm_([x], 1.0)) == 0.0  # nothing to clip
    clip_grad_value_(t, 0.7)
    assert torch.allclose(t.grad, torch.tensor([0.6, 0.7]))


def test_same_signature_as_torch():
    import inspect
    for ours, theirs in ((clip_grad_norm_, torch.nn.utils.clip_grad_norm_),
                         (clip_grad_value_, torch.nn.utils.clip_grad_value_)):
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)
    model = model_with_grads()
    clip_grad_norm_(model.parameters(), 1.0, 2.0, False, foreach=True)
    clip_grad_value_(model.parameters(), 1.0, foreach=False)


def test_infinite_threshold_and_zero_threshold():
    model = model_with_grads()
    before = grads(model)
    clip_grad_norm_(model.parameters(), math.inf)
    assert all(torch.equal(a, b) for a, b in zip(grads(model), before))
    clip_grad_norm_(model.parameters(), 0.0)
    assert all(bool((g == 0).all()) for g in grads(model))


def test_nonfinite_gradient():
    t = torch.zeros(2, requires_grad=True)
    t.grad = torch.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="not finite"):
        clip_grad_norm_(t, 1.0, error_if_nonfinite=True)
    assert bool(torch.isnan(clip_grad_norm_(t, 1.0)))  # left to the optimizer


@pytest.mark.parametrize("bad", [-1.0, -1e-9, float("nan")])
def test_negative_or_nan_threshold(bad):
    model = model_with_grads()
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_(model.parameters(), bad)
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(model.parameters(), bad)


@pytest.mark.parametrize("bad", [float("nan"), -math.inf, 0.0, -2.0])
def test_bad_norm_type(bad):
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(model_with_grads().parameters(), 1.0, norm_type=bad)


@pytest.mark.parametrize("call", [
    lambda m: clip_grad_norm_(m.parameters(), "1"),
    lambda m: clip_grad_norm_(m.parameters(), True),
    lambda m: clip_grad_norm_(m.parameters(), 1.0, norm_type=None),
    lambda m: clip_grad_norm_(m.parameters(), 1.0, error_if_nonfinite=1),
    lambda m: clip_grad_norm_(3.0, 1.0),
    lambda m: clip_grad_norm_([1.0, 2.0], 1.0),
    lambda m: clip_grad_value_(m.parameters(), None),
])
def test_type_errors(call):
    with pytest.raises(TypeError):
        call(model_with_grads())


def test_inside_a_training_loop_bounds_the_step():
    model = model_with_grads(scale=1e4)
    before = [p.detach().clone() for p in model.parameters()]
    opt = optnotes.SGD(model.parameters(), lr=0.1)
    clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    step = torch.cat([(p.detach() - b).reshape(-1) for p, b in zip(model.parameters(), before)])
    assert float(step.norm()) == pytest.approx(0.1, rel=1e-12)  # ‖ε g‖ = ε v


@pytest.mark.gpu
def test_cuda_agrees_with_cpu(cuda):
    cpu, gpu = model_with_grads(), model_with_grads(device=cuda)
    n_cpu = clip_grad_norm_(cpu.parameters(), 0.1)
    n_gpu = clip_grad_norm_(gpu.parameters(), 0.1)
    assert n_gpu.device.type == "cuda"
    assert float(n_gpu) == pytest.approx(float(n_cpu), rel=1e-12)
    for a, b in zip(grads(cpu), grads(gpu)):
        assert torch.allclose(a, b.cpu(), rtol=1e-12, atol=1e-15)
