"""Continuation, coordinate descent and curriculum helpers of optnotes.strategies."""

from __future__ import annotations

import math

import pytest
import torch

from optnotes import strategies


def test_blurring_a_quadratic_adds_half_sigma_squared_trace():
    """E J(θ + σz) = J(θ) + ½σ² tr(A) for J = ½θᵀAθ: the estimate is within 4 standard
    errors of that value, and the standard error is small enough to tell it from J(θ)."""
    gen = torch.Generator().manual_seed(0)
    A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    J = lambda x: 0.5 * torch.einsum("...i,ij,...j->...", x, A, x)
    sigma, samples = 0.7, 200_000
    theta = torch.tensor([0.5, -1.0], dtype=torch.float64)
    blurred = strategies.gaussian_blur(J, sigma, samples, generator=gen)
    exact = float(J(theta)) + 0.5 * sigma**2 * float(torch.trace(A))
    z = torch.randn(samples, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    stderr = float(J(theta + sigma * z).std()) / math.sqrt(samples)
    assert abs(float(blurred(theta)) - exact) < 4 * stderr
    assert 0.5 * sigma**2 * float(torch.trace(A)) > 20 * stderr


def test_blur_is_differentiable_and_deterministic():
    J = lambda x: x.square().sum(-1)
    blurred = strategies.gaussian_blur(J, 0.5, 64, generator=torch.Generator().manual_seed(0))
    theta = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    v1 = blurred(theta)
    (g,) = torch.autograd.grad(v1, theta)
    # d/dθ mean ‖θ + σz‖² = 2θ + 2σ mean z: close to 2θ, not equal (common random numbers)
    assert torch.allclose(g, 2 * theta.detach(), atol=0.5)
    assert torch.equal(blurred(theta), v1)
    assert strategies.gaussian_blur(J, 0.0, 10) is J


def test_continuation_escapes_a_local_minimum_on_a_tilted_double_well():
    # J(x) = x⁴ − 2x² + 0.5x: global minimum near x = −1.06, local near +0.93
    J = lambda x: (x**4 - 2 * x**2 + 0.5 * x).sum(-1)
    start = torch.tensor([1.5], dtype=torch.float64)
    sgd = lambda p: torch.optim.SGD(p, lr=0.02)
    plain = strategies.continuation(J, start, [0.0], sgd, steps=300)
    cont = strategies.continuation(J, start, [1.0, 0.5, 0.25, 0.0], sgd, steps=300,
                                   generator=torch.Generator().manual_seed(0))
    assert float(plain[-1]) > 0.8
    assert float(cont[-1]) < -0.9
    assert cont.shape == (5, 1)


def test_continuation_uses_a_given_blur():
    J = lambda x: (x - 1.0).square().sum(-1)
    calls = []

    def blur(sigma):
        calls.append(sigma)
        return lambda x: (x - 1.0).square().sum(-1) + sigma**2  # the exact blur of J

    path = strategies.continuation(J, torch.zeros(1, dtype=torch.float64), [1.0, 0.0],
                                   lambda p: torch.optim.SGD(p, lr=0.1), 100, blur=blur)
    assert calls == [1.0]  # σ = 0 uses J itself
    assert abs(float(path[-1]) - 1.0) < 1e-6


def test_coordinate_descent_needs_more_sweeps_as_alpha_shrinks():
    sweeps = []
    for alpha in [1.0, 0.1, 0.01]:
        A = torch.tensor([[2 + 2 * alpha, -2.0], [-2.0, 2 + 2 * alpha]], dtype=torch.float64)
        x, n = strategies.coordinate_minimize(A, torch.zeros(2, dtype=torch.float64),
                                              torch.tensor([1.0, -1.0], dtype=torch.float64))
        assert x.abs().max() <= 1e-8
        sweeps.append(n)
    assert sweeps[0] < sweeps[1] < sweeps[2]
    assert sweeps[2] > 5 * sweeps[1]


def test_coordinate_minimize_rejects_nonconvex_coordinate():
    with pytest.raises(ValueError, match="diagonal"):
        strategies.coordinate_minimize(-torch.eye(2), torch.zeros(2), torch.zeros(2))


def test_block_coordinate_descent_never_raises_the_cost():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(6, 40, generator=gen, dtype=torch.float64)
    W, H, costs = strategies.block_coordinate_descent(X, k=4, lam=0.5, sweeps=10, generator=gen)
    assert all(b <= a + 1e-9 * abs(a) for a, b in zip(costs, costs[1:]))
    assert costs[-1] < 0.5 * costs[0]
    assert float(strategies.sparse_coding_cost(X, W, H, 0.5)) == pytest.approx(costs[-1])


def test_lasso_codes_match_scipy_free_closed_form_for_orthonormal_dictionary():
    # With W Wᵀ = I the lasso solution is soft(W X, λ/2) elementwise.
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen, dtype=torch.float64))
    X = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    H = strategies.lasso_codes(X, Q, torch.zeros(5, 7, dtype=torch.float64), lam=0.6, iters=200)
    u = Q @ X
    expected = torch.sign(u) * torch.clamp(u.abs() - 0.3, min=0)
    torch.testing.assert_close(H, expected, rtol=1e-10, atol=1e-12)


def test_curriculum_pools():
    difficulty = torch.arange(100.0)
    det = strategies.CurriculumSampler(difficulty, 50, ramp_steps=10, mode="deterministic",
                                       start_fraction=0.2, generator=torch.Generator().manual_seed(0))
    first = next(det)
    assert int(first.max()) < 20
    for _ in range(10):
        last = next(det)
    assert int(last.max()) >= 50  # after the ramp the whole set is admitted
    mixed = strategies.CurriculumSampler(difficulty, 2000, ramp_steps=10, mode="mixed",
                                         uniform_share=0.2, generator=torch.Generator().manual_seed(0))
    share_hard = float((next(mixed) >= 20).double().mean())
    assert 0.12 < share_hard < 0.2  # 20% uniform draws, of which 80% land outside the pool
    none = strategies.CurriculumSampler(difficulty, 2000, ramp_steps=10, mode="none",
                                        generator=torch.Generator().manual_seed(0))
    assert float((next(none) >= 20).double().mean()) > 0.75


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode="easy"), "mode"),
    (dict(start_fraction=0.0), "start_fraction"),
    (dict(uniform_share=1.5), "uniform_share"),
    (dict(batch_size=0), "batch_size"),
])
def test_curriculum_bad_arguments(kwargs, match):
    args = dict(difficulty=torch.arange(10.0), batch_size=4, ramp_steps=5) | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        strategies.CurriculumSampler(**args)


def test_dictionary_rows_stay_in_the_ball_and_the_cost_never_rises():
    gen = torch.Generator().manual_seed(3)
    W_true = 4 * torch.randn(4, 6, generator=gen, dtype=torch.float64)
    H_true = torch.randn(4, 40, generator=gen, dtype=torch.float64)
    X = W_true.T @ H_true
    W, H, costs = strategies.block_coordinate_descent(
        X, k=4, lam=0.5, sweeps=10, generator=gen, max_norm=1.0)
    assert float(W.norm(dim=1).max()) <= 1.0 + 1e-12
    assert all(b <= a + 1e-9 * abs(a) for a, b in zip(costs, costs[1:]))
    # unconstrained, the dictionary grows far beyond norm 1 on the same data
    W_free, _, _ = strategies.block_coordinate_descent(
        X, k=4, lam=0.5, sweeps=10, generator=torch.Generator().manual_seed(3),
        max_norm=None)
    assert float(W_free.norm(dim=1).max()) > 2.0


def test_constrained_dictionary_matches_least_squares_when_inactive():
    gen = torch.Generator().manual_seed(4)
    H = torch.randn(3, 50, generator=gen, dtype=torch.float64)
    W_true = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    X = W_true.T @ H + 0.01 * torch.randn(5, 50, generator=gen, dtype=torch.float64)
    free = strategies.least_squares_dictionary(X, H)
    c = 1.5 * float(free.norm(dim=1).max())
    W = strategies.constrained_dictionary(X, H, torch.zeros(3, 5, dtype=torch.float64),
                                          max_norm=c, iters=3000)
    torch.testing.assert_close(W, free, rtol=1e-8, atol=1e-8)


def test_constrained_dictionary_matches_scipy_when_active():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    import numpy as np

    gen = torch.Generator().manual_seed(5)
    H = torch.randn(2, 30, generator=gen, dtype=torch.float64)
    X = (3 * torch.randn(2, 3, generator=gen, dtype=torch.float64)).T @ H
    W = strategies.constrained_dictionary(X, H, torch.zeros(2, 3, dtype=torch.float64),
                                          max_norm=1.0, iters=5000)
    Xn, Hn = X.numpy(), H.numpy()
    cost = lambda w: float(((Xn - w.reshape(2, 3).T @ Hn) ** 2).sum())
    cons = [{"type": "ineq", "fun": (lambda w, i=i: 1.0 - (w.reshape(2, 3)[i] ** 2).sum())}
            for i in range(2)]
    ref = scipy_optimize.minimize(cost, np.zeros(6), constraints=cons, method="SLSQP",
                                  options={"ftol": 1e-9, "maxiter": 1000})
    assert ref.success
    assert float(W.norm(dim=1).max()) <= 1.0 + 1e-12
    assert abs(cost(W.numpy().ravel()) - ref.fun) < 1e-6 * ref.fun
    np.testing.assert_allclose(W.numpy().ravel(), ref.x, atol=1e-4)


def test_project_rows_rejects_a_nonpositive_norm():
    with pytest.raises(ValueError, match="max_norm"):
        strategies.project_rows(torch.ones(2, 2), 0.0)


# --- deepen and distillation_loss ----------------------------------------------------------


def test_deepen_keeps_the_function_of_a_relu_network_and_adds_layers():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    deep = strategies.deepen(net, 3)
    x = torch.randn(20, 5)
    assert len(deep) == len(net) + 6
    assert sum(isinstance(m, torch.nn.Linear) for m in deep) == 5
    assert torch.equal(deep(x), net(x))
    # the new layers are trainable and change the function once moved
    with torch.no_grad():
        deep[2].weight.add_(0.5)
    assert not torch.allclose(deep(x), net(x))


def test_deepen_is_only_approximate_without_relu():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    deep = strategies.deepen(net, 2, activation=torch.nn.Tanh)
    x = torch.randn(20, 5)
    assert not torch.allclose(deep(x), net(x))  # tanh(h) ≠ h


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_deepen_rejects_bad_layer_counts(bad, error):
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    with pytest.raises(error, match="new_layers"):
        strategies.deepen(net, bad)


def test_deepen_needs_a_sequential_ending_in_linear():
    with pytest.raises(TypeError, match="net"):
        strategies.deepen(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()), 1)


def test_distillation_loss_matches_the_formula_in_float64():
    """H(y, P_S) + λτ² Σ P_T^τ (log P_T^τ − log P_S^τ), re-implemented with NumPy."""
    import numpy as np

    gen = torch.Generator().manual_seed(0)
    s = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    t = 3 * torch.randn(6, 4, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    tau, lam = 3.0, 0.7

    def log_softmax(a):
        a = a - a.max(axis=1, keepdims=True)
        return a - np.log(np.exp(a).sum(axis=1, keepdims=True))

    S, T = s.numpy(), t.numpy()
    hard = -log_softmax(S)[np.arange(6), y.numpy()].mean()
    lt, ls = log_softmax(T / tau), log_softmax(S / tau)
    soft = (np.exp(lt) * (lt - ls)).sum(axis=1).mean()
    expected = hard + lam * tau**2 * soft
    got = strategies.distillation_loss(s, t, y, temperature=tau, weight=lam)
    assert abs(float(got) - expected) < 1e-12
    # weight 0 is plain cross-entropy; the teacher gets no gradient
    s.requires_grad_(True)
    t.requires_grad_(True)
    strategies.distillation_loss(s, t, y, weight=0.5).backward()
    assert t.grad is None and s.grad is not None
    assert abs(float(strategies.distillation_loss(s, t, y, weight=0.0).detach()) - hard) < 1e-12


@pytest.mark.parametrize("kwargs, name", [({"temperature": 0.0}, "temperature"),
                                          ({"temperature": -1.0}, "temperature"),
                                          ({"weight": -0.1}, "weight")])
def test_distillation_loss_rejects_bad_arguments(kwargs, name):
    s, y = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=name):
        strategies.distillation_loss(s, s, y, **kwargs)
