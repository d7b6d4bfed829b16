"""The chapter-06 helpers of optnotes.lesson: logging runs, counting iterations and memory,
and counting scipy.optimize's evaluations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch

from optnotes import lesson, objectives
from optnotes.quasi_newton import LBFGS
from optnotes.second_order import Newton


def quadratic(x):
    return 0.5 * (torch.arange(1, x.numel() + 1, dtype=x.dtype) * x * x).sum()


def test_run_logged_stops_at_the_tolerance_and_counts_the_hit():
    log = lesson.run_logged(quadratic, lambda p: LBFGS(p, max_iter=50, tolerance_grad=0.0,
                                                       tolerance_change=0.0),
                            torch.ones(5), 500, tol=1e-8)
    assert log.hit is not None and log.gnorm[log.hit - 1] <= 1e-8
    assert all(g > 1e-8 for g in log.gnorm[: log.hit - 1])
    assert len(log.f) == len(log.gnorm) >= log.hit
    assert log.f[0] == pytest.approx(float(quadratic(torch.ones(5, dtype=torch.float64))))
    assert log.state["n_iter"] >= 1 and log.state["func_evals"] == len(log.f)


def test_run_logged_stops_when_the_optimizer_stops():
    # optnotes' LBFGS stops by its own test at ||g|| <= 1e-3: the run ends there, long
    # before the budget, without reaching the run's tolerance 1e-12
    log = lesson.run_logged(quadratic, lambda p: LBFGS(p, max_iter=1, tolerance_grad=1e-3),
                            torch.ones(6), 10_000, tol=1e-12)
    assert len(log.f) < 100 and log.hit is None and log.gnorm.min() <= 1e-3


def test_run_logged_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_evals"):
        lesson.run_logged(quadratic, lambda p: Newton(p), torch.ones(2), 0)
    with pytest.raises(TypeError, match="max_evals"):
        lesson.run_logged(quadratic, lambda p: Newton(p), torch.ones(2), 2.5)
    with pytest.raises(ValueError, match="tol"):
        lesson.run_logged(quadratic, lambda p: Newton(p), torch.ones(2), 5, tol=-1.0)


def test_iterations_to_counts_steps_to_the_target():
    bowl = objectives.rotated_quadratic(condition_number=10, n=4)
    newton = lambda p: Newton(p, max_iter=1)  # noqa: E731
    assert lesson.iterations_to(bowl, newton, bowl.start, bowl.minimizer) == 1
    assert lesson.iterations_to(bowl, newton, bowl.minimizer, bowl.minimizer) == 0
    # gradient descent with a tiny rate cannot get there in 3 steps
    sgd = lambda p: torch.optim.SGD(p, lr=1e-3)  # noqa: E731
    assert lesson.iterations_to(bowl, sgd, bowl.start, bowl.minimizer, cap=3) is None


def test_make_closure_logs_and_backpropagates():
    x = torch.ones(3, requires_grad=True)
    opt = torch.optim.SGD([x], lr=0.1)
    losses = []
    closure = lesson.make_closure(opt, lambda: (x * x).sum(), losses)
    opt.step(closure)
    assert losses == [3.0] and torch.allclose(x.detach(), torch.full((3,), 0.8))


def test_state_bytes_counts_adams_two_moments():
    x = torch.zeros(100, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x])
    x.sum().backward()
    opt.step()
    # exp_avg and exp_avg_sq: 2 × 100 float64; the step counter is a float32 scalar
    assert lesson.state_bytes(opt) == 2 * 100 * 8 + 4


def test_scipy_evaluations_match_a_hand_count():
    rosen = objectives.rosenbrock(4)
    evals, hv, reached = lesson.scipy_evaluations("BFGS", rosen, rosen.start, 1e-6, 5000,
                                                  gtol=1e-12, norm=2)
    calls = []

    def fun(z):
        f, g = scipy.optimize.rosen(z), scipy.optimize.rosen_der(z)
        calls.append(np.linalg.norm(g))
        return f, g

    scipy.optimize.minimize(fun, rosen.start.numpy(), jac=True, method="BFGS",
                            options=dict(gtol=1e-12, norm=2))
    first = next(i + 1 for i, g in enumerate(calls) if g <= 1e-6)
    assert reached and hv == 0 and evals == first


def test_scipy_evaluations_counts_hessian_products_and_budget():
    rosen = objectives.rosenbrock(10)
    evals, hv, reached = lesson.scipy_evaluations("Newton-CG", rosen, rosen.start, 1e-6, 5000,
                                                  xtol=1e-300)
    assert reached and hv > evals
    evals, _, reached = lesson.scipy_evaluations("CG", rosen, rosen.start, 1e-12, 7)
    assert evals == 7 and not reached


def test_scipy_evaluations_with_numpy_functions_agree_with_autograd():
    rosen = objectives.rosenbrock(10)
    numpy_f = lambda z: (scipy.optimize.rosen(z), scipy.optimize.rosen_der(z))  # noqa: E731
    autograd = lesson.scipy_evaluations("Newton-CG", rosen, rosen.start, 1e-6, 5000,
                                        xtol=1e-300)
    numpy = lesson.scipy_evaluations("Newton-CG", rosen, rosen.start, 1e-6, 5000,
                                     fun_and_grad=numpy_f,
                                     hessp=scipy.optimize.rosen_hess_prod, xtol=1e-300)
    assert numpy[2] and abs(numpy[0] - autograd[0]) <= 2 and abs(numpy[1] - autograd[1]) <= 10
