"""Wrong and hard-coded submissions for ``assignments/06_second_order.md`` (see
``01_erm.py`` for the format)."""

SCIPY = """
def scipy_evaluations(f, x0):
    def fun(v):
        t = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        loss = f(t)
        loss.backward()
        return float(loss), t.grad.numpy()

    res = scipy.optimize.minimize(fun, x0.numpy(), jac=True, method="L-BFGS-B",
                                  options={"gtol": 1e-6, "maxiter": 500})
    return int(res.NFEV), torch.tensor(res.x)
"""

SUBMISSIONS = [
    {
        "name": "the damping ignored",
        "kind": "wrong",
        "fakes": ["q1_newton_step"],
        "cells": {"def newton_step(": """
def newton_step(grad, hess, damping=0.0):
    return -torch.linalg.solve(hess, grad)
"""},
    },
    {
        "name": "the public example's step typed in",
        "kind": "hard-coded",
        "fakes": ["q1_newton_step"],
        "cells": {"def newton_step(": """
def newton_step(grad, hess, damping=0.0):
    return torch.tensor([-4.4, -5.8], dtype=torch.float64)
"""},
    },
    {
        "name": "steepest descent with exact line search instead of CG",
        "kind": "wrong",
        "fakes": ["q2_linear_cg"],
        "cells": {"def cg_solve(": """
def cg_solve(A, b, iters):
    x = torch.zeros_like(b)
    for _ in range(iters):
        r = b - A @ x
        x = x + (r @ r) / (r @ A @ r) * r
    return x
"""},
    },
    {
        "name": "a direct solve, whatever the iteration count",
        "kind": "hard-coded",
        "fakes": ["q2_linear_cg"],
        "cells": {"def cg_solve(": """
def cg_solve(A, b, iters):
    return torch.linalg.solve(A, b)
"""},
    },
    {
        "name": "iterations counted instead of evaluations",
        "kind": "wrong",
        "fakes": ["q3_lbfgs_vs_scipy"],
        "cells": {"def lbfgs_evaluations(": """
import numpy as np
import scipy.optimize

rosen = on.objectives.rosenbrock(ROSEN_DIM)
x0 = torch.tensor(ROSEN_START * (ROSEN_DIM // 2), dtype=torch.float64)


def lbfgs_evaluations(f, x0):
    x = x0.clone().requires_grad_(True)
    opt = on.LBFGS([x], max_iter=500, tolerance_grad=1e-6, tolerance_change=0)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    opt.step(closure)
    return opt.state[x].get("n_iter", 1), x.detach()
""" + SCIPY.replace("NFEV", "nit") + """

ours, x_ours = lbfgs_evaluations(rosen, x0)
theirs, _ = scipy_evaluations(rosen, x0)
"""},
    },
    {
        "name": "counts typed in, the minimizer returned",
        "kind": "hard-coded",
        "fakes": ["q3_lbfgs_vs_scipy"],
        "cells": {"def lbfgs_evaluations(": """
import numpy as np
import scipy.optimize

rosen = on.objectives.rosenbrock(ROSEN_DIM)
x0 = torch.tensor(ROSEN_START * (ROSEN_DIM // 2), dtype=torch.float64)


def lbfgs_evaluations(f, x0):
    return 60, f.minimizer


def scipy_evaluations(f, x0):
    return 55, f.minimizer


ours, x_ours = lbfgs_evaluations(rosen, x0)
theirs, _ = scipy_evaluations(rosen, x0)
"""},
    },
]

# the questions call none of each other's functions: the test grades one
# submission of each kind, all its fakes at once
INDEPENDENT = True
