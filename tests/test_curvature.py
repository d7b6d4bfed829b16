"""optnotes.curvature against dense matrices: Hessian-, Gauss-Newton- and Fisher-vector
products, Lanczos and power iteration, condition numbers and the gᵀg / gᵀHg monitor."""

from __future__ import annotations

import pytest
import torch
from torch.func import hessian, jacrev

from conftest import make_mlp
from optnotes import curvature, objectives

F64 = dict(dtype=torch.float64)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def classification(m=12, d=5, k=3, seed=2):
    g = gen(seed)
    return torch.randn(m, d, generator=g, **F64), torch.randint(0, k, (m,), generator=g)


def random_symmetric(n, seed=0, shift=0.0):
    A = torch.randn(n, n, generator=gen(seed), **F64)
    return (A + A.T) / 2 + shift * torch.eye(n, **F64)


# --- the flat-vector helpers --------------------------------------------------------------------

def test_flat_loss_is_the_models_loss_and_theta_its_parameters():
    model = make_mlp()
    X, y = classification()
    f, theta = curvature.flat_loss(model, torch.nn.functional.cross_entropy, X, y)
    assert torch.equal(theta, torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert torch.equal(f(theta), torch.nn.functional.cross_entropy(model(X), y))
    out, _ = curvature.flat_output(model, X)
    assert torch.equal(out(theta), model(X))
    # f reads the vector it is given, not the model's parameters
    assert not torch.equal(f(theta + 0.1), f(theta))


# --- Hessian-vector products ---------------------------------------------------------------------

@pytest.mark.parametrize("problem", ["rosenbrock", "mlp-cross-entropy"])
def test_hvp_matches_dense_hessian(problem):
    if problem == "rosenbrock":
        f, x = objectives.rosenbrock(10), objectives.rosenbrock(10).start
    else:
        X, y = classification()
        f, x = curvature.flat_loss(make_mlp(), torch.nn.functional.cross_entropy, X, y)
    H = hessian(f)(x)
    for seed in range(3):
        v = torch.randn(x.shape, generator=gen(seed), **F64)
        assert torch.allclose(curvature.hvp(f, x, v), H @ v, rtol=1e-12, atol=1e-12 * H.abs().max())
    assert torch.allclose(curvature.hessian(f, x), H, rtol=0, atol=1e-12 * H.abs().max())


def test_hessian_of_quadratic_is_its_matrix():
    q = objectives.rotated_quadratic(100.0, n=6)
    assert torch.allclose(curvature.hessian(q, q.start), q.hessian(), atol=1e-13)


# --- Gauss-Newton / Fisher ----------------------------------------------------------------------

def dense_gauss_newton(output_fn, x, likelihood):
    out = output_fn(x)
    J = jacrev(output_fn)(x).reshape(out.shape[0], -1, x.numel())  # (m, k, n)
    z = out.reshape(out.shape[0], -1)
    if likelihood == "categorical":
        p = torch.softmax(z, -1)
        Hout = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    elif likelihood == "bernoulli":
        p = torch.sigmoid(z)
        Hout = torch.diag_embed(p * (1 - p))
    else:
        Hout = torch.eye(z.shape[1], **F64).expand(z.shape[0], -1, -1)
    return torch.einsum("mkn,mkl,mlp->np", J, Hout, J) / out.shape[0]


@pytest.mark.parametrize("likelihood, sizes", [("categorical", (5, 7, 3)), ("bernoulli", (5, 7, 1)),
                                               ("gaussian", (5, 7, 2))])
def test_gauss_newton_vp_matches_dense_jt_h_j(likelihood, sizes):
    model = make_mlp(sizes=sizes)
    X, _ = classification()
    out, theta = curvature.flat_output(model, X)
    G = dense_gauss_newton(out, theta, likelihood)
    for seed in range(3):
        v = torch.randn(theta.shape, generator=gen(seed), **F64)
        Gv = curvature.gauss_newton_vp(out, theta, v, likelihood)
        assert torch.allclose(Gv, G @ v, rtol=1e-11, atol=1e-13)
    assert torch.linalg.eigvalsh(G).min() > -1e-12  # G is positive semi-definite


def test_fisher_is_expected_outer_product_of_scores():
    """F = E_x E_{y~p}[∇log p ∇log pᵀ], with the expectation over y summed exactly."""
    model = make_mlp()
    X, _ = classification(m=6)
    out, theta = curvature.flat_output(model, X)
    logp = lambda t: torch.log_softmax(out(t), -1)  # noqa: E731
    scores = jacrev(logp)(theta)  # (m, k, n): ∇ log p(y = c | x_i)
    p = torch.softmax(out(theta), -1).detach()
    F = torch.einsum("mc,mcn,mcp->np", p, scores, scores) / X.shape[0]
    v = torch.randn(theta.shape, generator=gen(), **F64)
    assert torch.allclose(curvature.gauss_newton_vp(out, theta, v), F @ v, rtol=1e-11, atol=1e-13)


def test_gauss_newton_equals_hessian_for_a_linear_model():
    """Cross-entropy of a linear model: the loss is convex in the logits, which are linear in θ."""
    model = torch.nn.Linear(5, 3).double()
    X, y = classification()
    f, theta = curvature.flat_loss(model, torch.nn.functional.cross_entropy, X, y)
    out, _ = curvature.flat_output(model, X)
    v = torch.randn(theta.shape, generator=gen(), **F64)
    assert torch.allclose(curvature.gauss_newton_vp(out, theta, v), curvature.hvp(f, theta, v),
                          rtol=1e-11, atol=1e-13)


def test_fisher_vector_product_follows_the_models_current_parameters():
    model = make_mlp()
    X, _ = classification()
    fvp = curvature.fisher_vector_product(model, X)
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=gen(), **F64)
    out, theta = curvature.flat_output(model, X)
    assert torch.equal(fvp(v), curvature.gauss_newton_vp(out, theta, v))
    with torch.no_grad():
        model[0].weight.mul_(2.0)
    out, theta = curvature.flat_output(model, X)
    assert torch.equal(fvp(v), curvature.gauss_newton_vp(out, theta, v))


# --- eigenvalues ----------------------------------------------------------------------------

def test_lanczos_tridiagonalizes_with_orthonormal_basis():
    A = random_symmetric(20)
    T, V = curvature.lanczos(lambda v: A @ v, torch.randn(20, generator=gen(1), **F64), 8)
    assert T.shape == (8, 8) and V.shape == (20, 8)
    assert torch.allclose(V.T @ V, torch.eye(8, **F64), atol=1e-13)
    assert torch.allclose(V.T @ A @ V, T, atol=1e-12)
    tridiagonal = torch.diag(T.diagonal()) + torch.diag(T.diagonal(1), 1) + torch.diag(T.diagonal(-1), -1)
    assert torch.equal(T, tridiagonal)


def test_lanczos_with_k_equal_n_finds_every_eigenvalue():
    A = random_symmetric(15, shift=0.5)
    T, _ = curvature.lanczos(lambda v: A @ v, torch.randn(15, generator=gen(1), **F64), 15)
    assert torch.allclose(torch.linalg.eigvalsh(T), torch.linalg.eigvalsh(A), atol=1e-11)


def test_lanczos_stops_when_the_krylov_space_is_exhausted():
    A = torch.diag(torch.tensor([1.0, 1.0, 2.0, 2.0, 3.0, 3.0], **F64))  # 3 distinct eigenvalues
    T, V = curvature.lanczos(lambda v: A @ v, torch.ones(6, **F64), 6)
    assert T.shape == (3, 3) and V.shape == (6, 3)
    assert torch.allclose(torch.linalg.eigvalsh(T), torch.tensor([1.0, 2.0, 3.0], **F64), atol=1e-12)


@pytest.mark.parametrize("method", ["lanczos", "power"])
@pytest.mark.parametrize("problem", ["rosenbrock-hessian", "indefinite", "negative-dominant"])
def test_extreme_eigenvalues_match_eigvalsh(method, problem):
    if problem == "rosenbrock-hessian":
        r = objectives.rosenbrock(30)
        x = r.start + 0.3 * torch.randn(30, generator=gen(), **F64)
        H = curvature.hessian(r, x)
        matvec = lambda v: curvature.hvp(r, x, v)  # noqa: E731
    else:
        # well separated ends, so power iteration converges in a few hundred products
        lam = torch.cat([torch.tensor([-3.0]), torch.linspace(-1.0, 1.0, 18, **F64), torch.tensor([5.0])])
        if problem == "negative-dominant":
            lam = -lam
        Q, _ = torch.linalg.qr(torch.randn(20, 20, generator=gen(3), **F64))
        H = Q @ torch.diag(lam.to(torch.float64)) @ Q.T
        matvec = lambda v: H @ v  # noqa: E731
    exact = torch.linalg.eigvalsh(H)
    lo, hi = curvature.extreme_eigenvalues(matvec, torch.randn(H.shape[0], generator=gen(7), **F64),
                                           method=method)
    tol = 1e-8 if method == "lanczos" else 1e-6
    assert abs(lo - exact[0]) <= tol * exact.abs().max()
    assert abs(hi - exact[-1]) <= tol * exact.abs().max()


def test_lanczos_ritz_values_lie_inside_the_spectrum_and_converge_at_the_ends():
    q = objectives.rotated_quadratic(1e3, n=200)
    H = q.hessian()
    v0 = torch.randn(200, generator=gen(), **F64)
    lo, hi = curvature.extreme_eigenvalues(lambda v: H @ v, v0, k=60)
    assert 1e-3 - 1e-12 <= lo and hi <= 1.0 + 1e-12
    # geometric spacing: the top is isolated and converges first, the clustered bottom later
    assert hi == pytest.approx(1.0, rel=1e-10)
    assert lo == pytest.approx(1e-3, rel=0.2)


def test_condition_number_matches_the_quadratics():
    q = objectives.rotated_quadratic(250.0, n=12)
    H = q.hessian()
    kappa = curvature.condition_number(lambda v: H @ v, torch.randn(12, generator=gen(), **F64))
    exact = torch.linalg.eigvalsh(H)
    assert kappa == pytest.approx(float(exact[-1] / exact[0]), rel=1e-9)
    assert kappa == pytest.approx(q.condition_number, rel=1e-9)
    assert curvature.condition_number(lambda v: random_symmetric(12) @ v,
                                      torch.ones(12, **F64)) == float("inf")


def test_power_iteration_finds_the_dominant_eigenpair():
    A = torch.diag(torch.tensor([1.0, 2.0, -10.0, 3.0], **F64))
    lam, v = curvature.power_iteration(lambda x: A @ x, torch.ones(4, **F64))
    assert lam == pytest.approx(-10.0, rel=1e-9)
    assert abs(float(v[2])) == pytest.approx(1.0, rel=1e-9)


# --- the notes' monitor -----------------------------------------------------------------------

def test_taylor_monitor_terms_and_prediction():
    r = objectives.rosenbrock(8)
    x = r.start
    g = torch.func.grad(r)(x)
    H = hessian(r)(x)
    terms = curvature.taylor_monitor(r, x, lr=1e-4)
    assert torch.allclose(terms.gTg, g @ g, rtol=1e-14)
    assert torch.allclose(terms.gTHg, g @ H @ g, rtol=1e-12)
    assert torch.allclose(terms.first_order, -1e-4 * g @ g, rtol=1e-14)
    assert torch.allclose(terms.second_order, 0.5e-8 * g @ H @ g, rtol=1e-12)
    # on a quadratic the prediction is exact
    q = objectives.rotated_quadratic(30.0, n=5)
    t = curvature.taylor_monitor(q, q.start, lr=0.7)
    gq = torch.func.grad(q)(q.start)
    assert torch.allclose(t.predicted_change, q(q.start - 0.7 * gq) - q(q.start), rtol=1e-12)


def test_taylor_monitor_sees_the_step_go_uphill():
    """ε > 2 gᵀg / gᵀHg: the second-order term outweighs the first and the cost rises."""
    q = objectives.rotated_quadratic(10.0, n=2)
    t = curvature.taylor_monitor(q, q.start, lr=1.0)
    critical = float(2 * t.gTg / t.gTHg)
    up = curvature.taylor_monitor(q, q.start, lr=1.1 * critical)
    down = curvature.taylor_monitor(q, q.start, lr=0.9 * critical)
    assert up.predicted_change > 0 > down.predicted_change


# --- bad arguments ------------------------------------------------------------------------

def test_bad_arguments_name_themselves():
    out, theta = curvature.flat_output(make_mlp(), classification()[0])
    with pytest.raises(ValueError, match="likelihood.*'poisson'"):
        curvature.gauss_newton_vp(out, theta, theta, likelihood="poisson")
    with pytest.raises(ValueError, match="likelihood.*'softmax'"):
        curvature.fisher_vector_product(make_mlp(), classification()[0], likelihood="softmax")
    with pytest.raises(ValueError, match="method.*'qr'"):
        curvature.extreme_eigenvalues(lambda v: v, torch.ones(3), method="qr")
    with pytest.raises(ValueError, match="k.*0"):
        curvature.lanczos(lambda v: v, torch.ones(3), 0)
    with pytest.raises(ValueError, match="lr.*-1"):
        curvature.taylor_monitor(objectives.rosenbrock(2), torch.zeros(2, **F64), lr=-1.0)


# --- devices ----------------------------------------------------------------------------------

@pytest.mark.gpu
def test_cuda_matches_cpu(cuda):
    r = objectives.rosenbrock(20)
    x, v = r.start, torch.randn(20, generator=gen(), **F64)
    assert torch.allclose(curvature.hvp(r, x.to(cuda), v.to(cuda)).cpu(), curvature.hvp(r, x, v), rtol=1e-12)
    model, X = make_mlp(), classification()[0]
    out, theta = curvature.flat_output(model, X)
    out_c, theta_c = curvature.flat_output(make_mlp(device=cuda), X.to(cuda))
    w = torch.randn(theta.shape, generator=gen(), **F64)
    assert torch.allclose(curvature.gauss_newton_vp(out_c, theta_c, w.to(cuda)).cpu(),
                          curvature.gauss_newton_vp(out, theta, w), rtol=1e-10, atol=1e-13)
    lo, hi = curvature.extreme_eigenvalues(lambda u: curvature.hvp(r, x.to(cuda), u), v.to(cuda), k=20)
    exact = torch.linalg.eigvalsh(curvature.hessian(r, x))
    assert lo == pytest.approx(float(exact[0]), rel=1e-8) and hi == pytest.approx(float(exact[-1]), rel=1e-10)
