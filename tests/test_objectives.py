"""Test functions: minimizers, saddle, scipy's Rosenbrock, condition numbers, batching, dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import torch
from torch.func import hessian

from optnotes import objectives

# torch.func.hessian goes through a deprecated torch.jit.script inside torch itself
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

OBJECTIVES = {
    "quadratic-diag": lambda: objectives.quadratic([1.0, 2.0, 5.0]),
    "quadratic-shifted": lambda: objectives.quadratic([0.5, 3.0], basis=[[0.6, -0.8], [0.8, 0.6]],
                                                      minimizer=[1.0, -2.0]),
    "rotated-quadratic-2d": lambda: objectives.rotated_quadratic(100),
    "rotated-quadratic-5d": lambda: objectives.rotated_quadratic(1e3, n=5, seed=3),
    "rosenbrock-2": lambda: objectives.rosenbrock(2),
    "rosenbrock-5": lambda: objectives.rosenbrock(5),
    "saddle": objectives.saddle,
    "l1-norm": lambda: objectives.l1_norm(3),
}


@pytest.fixture(params=OBJECTIVES)
def objective(request):
    return OBJECTIVES[request.param]()


def gradient(f, x):
    x = x.detach().clone().to(torch.float64).requires_grad_()
    f(x).backward()
    return x.grad


def test_gradient_vanishes_at_minimizer(objective):
    g = gradient(objective, objective.minimizer)
    assert torch.allclose(g, torch.zeros_like(g), rtol=0, atol=1e-12), g


def test_minimum_value_and_local_minimality(objective):
    x_star = objective.minimizer
    assert x_star.dtype == torch.float64 and x_star.shape == (objective.dim,)
    assert float(objective(x_star)) == pytest.approx(objective.minimum, abs=1e-12)
    assert float(objective.excess(x_star)) == pytest.approx(0.0, abs=1e-12)
    gen = torch.Generator().manual_seed(0)
    nearby = x_star + 1e-3 * torch.randn(200, objective.dim, generator=gen, dtype=torch.float64)
    assert bool((objective(nearby) >= objective.minimum - 1e-15).all())
    assert objective.start.shape == x_star.shape
    assert float(objective(objective.start)) > objective.minimum


def test_saddle_point():
    f = objectives.saddle()
    sp = f.saddle_point
    g = gradient(f, sp)
    assert torch.equal(g, torch.zeros(2, dtype=torch.float64))
    H = hessian(f.fn)(sp)
    eig = torch.linalg.eigvalsh(H)
    assert torch.allclose(eig, torch.tensor([-1.0, 1.0], dtype=torch.float64), rtol=0, atol=1e-12)
    # both minima (0, ±1) have value −1/4
    for y in (1.0, -1.0):
        x = torch.tensor([0.0, y], dtype=torch.float64)
        assert float(f(x)) == pytest.approx(-0.25, abs=1e-15)
        assert torch.equal(gradient(f, x), torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("n", [2, 5, 100])
def test_rosenbrock_equals_scipy(n):
    f = objectives.rosenbrock(n)
    rng = np.random.default_rng(n)
    for x in rng.uniform(-2, 2, size=(20, n)):
        ours = float(f(torch.as_tensor(x)))
        assert ours == pytest.approx(scipy.optimize.rosen(x), rel=1e-12)
        g = gradient(f, torch.as_tensor(x)).numpy()
        assert np.allclose(g, scipy.optimize.rosen_der(x), rtol=1e-12, atol=1e-10)
    assert torch.equal(f.minimizer, torch.ones(n, dtype=torch.float64))
    assert f.start[0] == -1.2 and f.start.shape == (n,)


@pytest.mark.parametrize("kappa", [1.0, 2.5, 10.0, 100.0, 1e4])
@pytest.mark.parametrize("n", [2, 5])
def test_rotated_quadratic_condition_number_and_hessian(kappa, n):
    f = objectives.rotated_quadratic(kappa, n=n)
    assert f.condition_number == pytest.approx(kappa, rel=1e-12)
    H = f.hessian()
    assert H.dtype == torch.float64 and H.shape == (n, n)
    assert torch.allclose(H, H.T, rtol=0, atol=1e-15)
    eig = torch.linalg.eigvalsh(H)
    expected = torch.tensor([kappa ** (-1 + i / (n - 1)) for i in range(n)], dtype=torch.float64)
    assert torch.allclose(eig, expected, rtol=1e-12, atol=1e-15)
    assert float(eig.max() / eig.min()) == pytest.approx(kappa, rel=1e-10)
    # hessian() is the Hessian of the function (autograd, at an arbitrary point)
    x = torch.linspace(-1, 2, n, dtype=torch.float64)
    assert torch.allclose(hessian(f.fn)(x), H, rtol=0, atol=1e-13)
    # a quadratic: f(x) = ½ (x−x*)ᵀ H (x−x*)
    d = x - f.minimizer
    assert float(f(x)) == pytest.approx(float(0.5 * d @ H @ d), rel=1e-13)


def test_rotated_quadratic_2d_basis_is_the_rotation():
    angle = 0.3
    f = objectives.rotated_quadratic(10, angle=angle)
    c, s = math.cos(angle), math.sin(angle)
    assert torch.allclose(f.basis, torch.tensor([[c, -s], [s, c]], dtype=torch.float64))


def test_rotated_quadratic_seed_picks_the_basis():
    a, b, c = (objectives.rotated_quadratic(10, n=4, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.basis, b.basis) and not torch.equal(a.basis, c.basis)
    assert torch.allclose(a.basis @ a.basis.T, torch.eye(4, dtype=torch.float64), atol=1e-14)


def test_batched_evaluation_equals_pointwise(objective):
    gen = torch.Generator().manual_seed(1)
    grid = torch.randn(4, 3, objective.dim, generator=gen, dtype=torch.float64)
    batched = objective(grid)
    assert batched.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            assert float(batched[i, j]) == pytest.approx(float(objective(grid[i, j])), rel=1e-14, abs=1e-300)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_follows_the_dtype_of_x(objective, dtype):
    x = objective.start.to(dtype)
    y = objective(x)
    assert y.dtype == dtype and y.shape == ()
    assert float(y) == pytest.approx(float(objective(objective.start)), rel=1e-5)
    xg = x.clone().requires_grad_()
    objective(xg).backward()
    assert xg.grad.dtype == dtype


BAD = {
    "rotated_quadratic(condition_number=0.5)": (lambda: objectives.rotated_quadratic(0.5), ValueError, "condition_number"),
    "rotated_quadratic(condition_number='10')": (lambda: objectives.rotated_quadratic("10"), TypeError, "condition_number"),
    "rotated_quadratic(condition_number=nan)": (lambda: objectives.rotated_quadratic(float("nan")), ValueError, "condition_number"),
    "rotated_quadratic(n=0)": (lambda: objectives.rotated_quadratic(10, n=0), ValueError, "n"),
    "rotated_quadratic(n=2.0)": (lambda: objectives.rotated_quadratic(10, n=2.0), TypeError, "n"),
    "rosenbrock(n=1)": (lambda: objectives.rosenbrock(1), ValueError, "n"),
    "rosenbrock(n=2.0)": (lambda: objectives.rosenbrock(2.0), TypeError, "n"),
    "quadratic(eigenvalues=[])": (lambda: objectives.quadratic([]), ValueError, "eigenvalues"),
    "quadratic(eigenvalues=[-1, 1])": (lambda: objectives.quadratic([-1.0, 1.0]), ValueError, "eigenvalues"),
    "quadratic(basis 3x3 for n=2)": (lambda: objectives.quadratic([1.0, 2.0], basis=torch.eye(3)), ValueError, "basis"),
    "quadratic(minimizer of 3 for n=2)": (lambda: objectives.quadratic([1.0, 2.0], minimizer=[0, 0, 0]), ValueError, "minimizer"),
    "l1_norm(n=0)": (lambda: objectives.l1_norm(0), ValueError, "n"),
}


@pytest.mark.parametrize("what", BAD)
def test_bad_input_raises(what):
    make, exc, arg = BAD[what]
    with pytest.raises(exc) as excinfo:
        make()
    assert arg in str(excinfo.value)


def test_one_dimensional_rotated_quadratic_cannot_have_condition_number_above_one():
    """With n = 1 there is one eigenvalue, so a condition number κ > 1 cannot be honoured; it
    must not be dropped silently (the object would be named "κ = 100" but have κ = 1)."""
    assert objectives.rotated_quadratic(1.0, n=1).condition_number == 1.0
    with pytest.raises(ValueError) as excinfo:
        objectives.rotated_quadratic(100.0, n=1)
    assert "condition_number" in str(excinfo.value) or "n" in str(excinfo.value)


# --- the cliff and the mountain of chapter 03 ----------------------------------------------

LANDSCAPES = {"cliff": objectives.cliff, "mountain": objectives.mountain}


@pytest.mark.parametrize("name", LANDSCAPES)
def test_landscape_minimizer_start_and_batching(name):
    f = LANDSCAPES[name]()
    test_gradient_vanishes_at_minimizer(f)
    test_minimum_value_and_local_minimality(f)
    grid = torch.randn(4, 5, 2, dtype=torch.float64)
    assert f(grid).shape == (4, 5)
    assert torch.equal(f(grid)[1, 2], f(grid[1, 2]))
    assert f(grid.float()).dtype == torch.float32


def test_cliff_face_is_steep_and_plateau_raised():
    h, w, a = 5.0, 0.3, 0.2
    f = objectives.cliff(h, w, a)
    g_face = gradient(f, torch.tensor([1.0, 0.0]))  # middle of the face: 3h/(4w) + a·2
    assert float(g_face[0]) == pytest.approx(3 * h / (4 * w) + 2 * a, rel=1e-12)
    g_start = gradient(f, f.start)
    assert float(g_face.norm()) > 10 * float(g_start.norm())
    bowl = 0.5 * a * ((3.0 + 1.0) ** 2 + 0.5**2)
    assert float(f(torch.tensor([3.0, 0.5], dtype=torch.float64))) == pytest.approx(bowl + h)
    # one gradient step of length ε‖g‖ from the face overshoots the minimizer by far
    x = torch.tensor([1.0, 0.0], dtype=torch.float64) - 1.0 * g_face
    assert float((x - f.minimizer).norm()) > 10


def test_mountain_blocks_the_straight_path_but_has_no_other_minimum():
    f = objectives.mountain()
    s = torch.linspace(0, 1, 101, dtype=torch.float64)[:, None]
    segment = f.start + s * (f.minimizer - f.start)
    assert float(f(segment).max()) > float(f(f.start)) + 0.5  # a mountain in the way
    # gradient descent from a 25 × 25 grid of starts always ends at the minimizer
    g1 = torch.linspace(-6, 6, 25, dtype=torch.float64)
    x = torch.stack(torch.meshgrid(g1, g1, indexing="xy"), -1).reshape(-1, 2).requires_grad_()
    for _ in range(3000):
        (g,) = torch.autograd.grad(f(x).sum(), x)
        with torch.no_grad():
            x -= 0.5 * g
    assert float((x.detach() - f.minimizer).norm(dim=-1).max()) < 1e-6


@pytest.mark.parametrize("make, kwargs, name", [
    (objectives.cliff, {"height": 0.0}, "height"),
    (objectives.cliff, {"width": -1.0}, "width"),
    (objectives.cliff, {"curvature": float("nan")}, "curvature"),
    (objectives.mountain, {"height": -1.0}, "height"),
    (objectives.mountain, {"curvature": 0.0}, "curvature"),
])
def test_landscape_bad_arguments(make, kwargs, name):
    with pytest.raises(ValueError, match=name):
        make(**kwargs)
