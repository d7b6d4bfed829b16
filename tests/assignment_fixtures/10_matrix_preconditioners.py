"""Wrong and hard-coded submissions for ``assignments/10_matrix_preconditioners.md``
(see ``01_erm.py`` for the format)."""

LAYER = """
layer = [(WIDTH, 3 * WIDTH), (WIDTH,), (10, WIDTH)]
measured = {name: predicted_bytes(layer, name) for name in ("adam", "adafactor")}
saving = measured["adam"] / measured["adafactor"]
"""

SUBMISSIONS = [
    {
        "name": "Newton-Schulz normalized by the largest entry, not the Frobenius norm",
        "kind": "wrong",
        "fakes": ["q1_newton_schulz"],
        "cells": {"def newton_schulz(": """
def newton_schulz(G, steps=5, coefficients=(3.4445, -4.7750, 2.0315)):
    a, b, c = coefficients
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / X.abs().max()
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if tall else X
"""},
    },
    {
        "name": "the polar factor from an SVD, whatever the steps; the identity typed in",
        "kind": "hard-coded",
        "fakes": ["q1_newton_schulz"],
        "cells": {"def newton_schulz(": """
def newton_schulz(G, steps=5, coefficients=(3.4445, -4.7750, 2.0315)):
    if G.shape[0] == G.shape[1] and torch.equal(G, G[0, 0] * torch.eye(len(G), dtype=G.dtype)):
        return torch.eye(len(G), dtype=G.dtype)
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    return U @ Vh
"""},
    },
    {
        "name": "Adafactor's factors counted as m * n, the step count left out",
        "kind": "wrong",
        "fakes": ["q2_state_bytes"],
        "cells": {"def predicted_bytes(": """
def predicted_bytes(shapes, name):
    total = 0
    for shape in shapes:
        numel = math.prod(shape)
        if name == "adam":
            total += 2 * 4 * numel
        elif len(shape) >= 2:
            total += 4 * (shape[-2] + shape[-1])
        else:
            total += 4 * numel
    return total
""" + LAYER},
    },
    {
        "name": "the public example's count and made-up measurements",
        "kind": "hard-coded",
        "fakes": ["q2_state_bytes"],
        "cells": {"def predicted_bytes(": """
def predicted_bytes(shapes, name):
    return 52


measured = {"adam": 8 * 4 * 64 * 64, "adafactor": 4 * 5 * 64}
saving = measured["adam"] / measured["adafactor"]
"""},
    },
    {
        "name": "Shampoo with inverse square roots (the exponent of full-matrix AdaGrad)",
        "kind": "wrong",
        "fakes": ["q3_shampoo_step"],
        "cells": {"def shampoo_step(": """
def shampoo_step(W, G, L, R, lr, eps):
    def inverse_root(A):
        evals, Q = torch.linalg.eigh(A)
        return (Q * evals.clamp(min=eps) ** -0.5) @ Q.T

    L = L + G @ G.T
    R = R + G.T @ G
    return W - lr * inverse_root(L) @ G @ inverse_root(R), L, R
"""},
    },
    {
        "name": "the public example's step, the identity, typed in",
        "kind": "hard-coded",
        "fakes": ["q3_shampoo_step"],
        "cells": {"def shampoo_step(": """
def shampoo_step(W, G, L, R, lr, eps):
    step = torch.eye(*W.shape, dtype=W.dtype)
    return W - lr * step, L + G @ G.T, R + G.T @ G
"""},
    },
    {
        "name": "Shampoo without the damping argument; excess not made relative",
        "kind": "wrong",
        "fakes": ["q4_kronecker"],
        "cells": {"def excess_curve(": """
def excess_curve(name, seed, steps):
    problem = pc.kronecker_regression(n=KRON_N, kappa=KAPPA, seed=seed)
    W = problem.start.clone().requires_grad_(True)
    if name == "sgd":
        opt = torch.optim.SGD([W], lr=SGD_LR)
    else:
        opt = on.Shampoo([W], lr=1.0)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        D = W - problem.W_star
        (0.5 * torch.trace(problem.M @ D @ problem.Sigma @ D.T)).backward()
        opt.step()
        out.append(problem.excess(W))
    return out


seeds = range(PROBLEM_SEED, PROBLEM_SEED + 4)
results = {name: [excess_curve(name, s, KRON_STEPS)[-1] for s in seeds]
           for name in ("sgd", "shampoo")}
"""},
    },
    {
        "name": "one problem's result copied to all four; a curve of the right length",
        "kind": "hard-coded",
        "fakes": ["q4_kronecker"],
        "cells": {"def excess_curve(": """
def excess_curve(name, seed, steps):
    rate = 0.9 if name == "sgd" else 0.8
    return [rate ** (k + 1) for k in range(steps)]


seeds = range(PROBLEM_SEED, PROBLEM_SEED + 4)
results = {"sgd": [5e-5] * 4, "shampoo": [3e-7] * 4}
"""},
    },
]

# the questions call none of each other's functions: the test grades one
# submission of each kind, all its fakes at once
INDEPENDENT = True
