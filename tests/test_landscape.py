"""optnotes.landscape: the curvature monitor, random fields and the critical-point search."""

import math

import numpy as np
import pytest
import torch

from optnotes import curvature, landscape


def test_random_field_derivatives_match_autograd():
    field = landscape.random_field(5, terms=50, seed=3)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for point in x:
        g = torch.func.grad(field.f)(point)
        H = torch.func.hessian(field.f)(point)
        assert torch.allclose(field.grad(point), g, rtol=1e-12, atol=1e-12)
        assert torch.allclose(field.hessian(point), H, rtol=1e-12, atol=1e-12)
    assert field.f(x).shape == (7,) and field.hessian(x).shape == (7, 5, 5)


def test_random_field_has_unit_variance():
    # f(x) at one point, over many draws of the function: mean 0, variance 1
    values = torch.stack([landscape.random_field(3, seed=s).f(torch.zeros(3, dtype=torch.float64))
                          for s in range(400)])
    assert abs(float(values.mean())) < 0.15
    assert abs(float(values.var()) - 1) < 0.2


def _cosines():
    """f(x) = Σ cos(x_i): critical points at x ∈ πℤⁿ with a known index."""
    f = lambda x: torch.cos(x).sum(-1)
    grad = lambda x: -torch.sin(x)
    hessian = lambda x: torch.diag_embed(-torch.cos(x))
    return f, grad, hessian


@pytest.mark.parametrize("target,index", [((math.pi, math.pi), 0), ((0.0, math.pi), 1),
                                          ((math.pi, 0.0), 1), ((0.0, 0.0), 2)])
def test_search_finds_critical_points_of_every_index(target, index):
    f, grad, hessian = _cosines()
    gen = torch.Generator().manual_seed(1)
    starts = torch.tensor(target, dtype=torch.float64) + 0.4 * (
        2 * torch.rand(20, 2, generator=gen, dtype=torch.float64) - 1)
    found = landscape.find_critical_points(grad, hessian, starts)
    assert len(found) == 20  # every start converged ...
    assert float((found - torch.tensor(target, dtype=torch.float64)).abs().max()) < 1e-9
    idx, eig = landscape.morse_index(hessian, landscape.distinct(found))
    assert idx.tolist() == [index]  # ... to the one nearby point, of its own index
    assert torch.allclose(eig.abs(), torch.ones_like(eig))


def test_search_returns_the_minima_scipy_finds():
    # an independent minimizer (scipy's BFGS) finds minima; the search started next
    # to them returns them, with index 0: it does find minima where they are
    from scipy.optimize import minimize

    field = landscape.random_field(4, seed=0)
    fun = lambda v: float(field.f(torch.as_tensor(v)))
    jac = lambda v: field.grad(torch.as_tensor(v)).numpy()
    gen = np.random.default_rng(0)
    minima = []
    for _ in range(10):
        res = minimize(fun, gen.uniform(-3, 3, 4), jac=jac, method="BFGS",
                       options=dict(gtol=1e-10))
        minima.append(res.x)
    minima = landscape.distinct(torch.tensor(np.array(minima)), tol=1e-4)
    assert len(minima) >= 3
    found = landscape.find_critical_points(field.grad, field.hessian, minima + 1e-3)
    assert len(found) == len(minima)
    assert float((found - minima).norm(dim=1).max()) < 1e-6
    idx, _ = landscape.morse_index(field.hessian, found)
    assert (idx == 0).all()


def test_search_drops_points_that_do_not_converge():
    # f = x₁² − x₂ has no critical point at all
    grad = lambda x: torch.stack([2 * x[:, 0], -torch.ones_like(x[:, 1])], 1)
    hessian = lambda x: torch.diag_embed(
        torch.stack([2 * torch.ones_like(x[:, 0]), torch.zeros_like(x[:, 1])], 1))
    found = landscape.find_critical_points(grad, hessian, torch.zeros(5, 2, dtype=torch.float64), iters=5)
    assert found.shape == (0, 2)


def test_distinct_merges_repeats_only():
    p = torch.tensor([[0.0, 0.0], [1e-9, 0.0], [1.0, 0.0], [1.0, 1e-9], [0.0, 1.0]],
                     dtype=torch.float64)
    assert landscape.distinct(p).tolist() == [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]


def _tiny_problem():
    torch.manual_seed(0)
    X = torch.randn(40, 3, dtype=torch.float64)
    y = (X[:, 0] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                torch.nn.Linear(4, 2)).double()
    return model, torch.nn.functional.cross_entropy, X, y


def test_monitor_sgd_measures_the_taylor_terms_and_trains():
    model, loss_fn, X, y = _tiny_problem()
    f, theta = curvature.flat_loss(model, loss_fn, X, y)
    g = torch.func.grad(f)(theta)
    H = torch.func.hessian(f)(theta)  # dense reference, independent of the monitor
    rows = landscape.monitor_sgd(model, loss_fn, X, y, lr=0.5, steps=200, every=50,
                                 batch_size=8)
    assert rows.shape == (5, 4) and rows[:, 0].tolist() == [0, 50, 100, 150, 200]
    assert rows[0, 1] == pytest.approx(float(f(theta)), rel=1e-12)
    assert rows[0, 2] == pytest.approx(float(g @ g), rel=1e-10)
    assert rows[0, 3] == pytest.approx(float(g @ H @ g), rel=1e-8)
    assert rows[-1, 1] < 0.5 * rows[0, 1]  # the model was trained in place
    f_end, theta_end = curvature.flat_loss(model, loss_fn, X, y)
    assert rows[-1, 1] == pytest.approx(float(f_end(theta_end)), rel=1e-12)


def test_monitor_sgd_is_reproducible():
    runs = []
    for _ in range(2):
        model, loss_fn, X, y = _tiny_problem()
        runs.append(landscape.monitor_sgd(model, loss_fn, X, y, steps=30, every=10, seed=4))
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("kwargs,error", [
    (dict(lr=0.0), ValueError), (dict(lr=-1.0), ValueError), (dict(every=0), ValueError),
    (dict(steps=2.5), TypeError), (dict(batch_size=0), ValueError)])
def test_monitor_sgd_rejects_bad_arguments(kwargs, error):
    model, loss_fn, X, y = _tiny_problem()
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        landscape.monitor_sgd(model, loss_fn, X, y, **kwargs)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="n must"):
        landscape.random_field(0)
    with pytest.raises(TypeError, match="terms must"):
        landscape.random_field(2, terms=1.5)
    _, grad, hessian = _cosines()
    with pytest.raises(ValueError, match="starts must"):
        landscape.find_critical_points(grad, hessian, torch.zeros(3))
    with pytest.raises(ValueError, match="tol must"):
        landscape.find_critical_points(grad, hessian, torch.zeros(3, 2), tol=0.0)
    with pytest.raises(ValueError, match="iters must"):
        landscape.find_critical_points(grad, hessian, torch.zeros(3, 2), iters=0)
    with pytest.raises(ValueError, match="tol must"):
        landscape.distinct(torch.zeros(3, 2), tol=-1.0)
