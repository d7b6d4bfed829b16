"""Wrong and hard-coded submissions for ``assignments/03_challenges.md`` (see
``01_erm.py`` for the format)."""

GIVEN_W = """
n = len(EIGENVALUES)
gen = torch.Generator().manual_seed(W_SEED)
V, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
W = V @ torch.diag(torch.tensor(EIGENVALUES, dtype=torch.float64)) @ V.T
x0 = torch.randn(n, generator=gen, dtype=torch.float64)
"""

GIVEN_Q = """
gen = torch.Generator().manual_seed(RNN_SEED)
Q, _ = torch.linalg.qr(torch.randn(RNN_DIM, RNN_DIM, generator=gen, dtype=torch.float64))
h0 = torch.randn(RNN_DIM, generator=gen, dtype=torch.float64)
h0 = h0 / h0.norm()
grad_norms = {}
"""

SUBMISSIONS = [
    {
        "name": "always scales to the threshold",
        "kind": "wrong",
        "fakes": ["q1_clip_norm"],
        "cells": {"def clip_by_norm(": """
def clip_by_norm(grads, max_norm):
    norm = float(torch.sqrt(sum((g * g).sum() for g in grads)))
    for g in grads:
        g.mul_(max_norm / norm)
    return norm
"""},
    },
    {
        "name": "the public example typed in",
        "kind": "hard-coded",
        "fakes": ["q1_clip_norm"],
        "cells": {"def clip_by_norm(": """
def clip_by_norm(grads, max_norm):
    for g, value in zip(grads, (0.6, 0.8)):
        g.fill_(value)
    return 5.0
"""},
    },
    {
        "name": "the top eigenvector returned; rho**50 typed in",
        "kind": "hard-coded",
        "fakes": ["q2_power_method", "q3_through_time"],
        "cells": {
            "def power_iterate(": GIVEN_W + """

def power_iterate(W, x, steps):
    return torch.linalg.eigh(W).eigenvectors[:, -1]


alignment = 1.0
""",
            "def gradient_norm(": GIVEN_Q + """

def gradient_norm(W, h0, T):
    return float(torch.linalg.matrix_norm(W, ord=2)) ** T


for rho in (0.9, 1.0, 1.1):
    grad_norms[rho] = rho**50
"""},
    },
    {
        "name": "no normalization; the gradient of the sum instead of the norm",
        "kind": "wrong",
        "fakes": ["q2_power_method", "q3_through_time"],
        "cells": {
            "def power_iterate(": GIVEN_W + """

def power_iterate(W, x, steps):
    for _ in range(steps):
        x = W @ x
    return x


alignment = float((power_iterate(W, x0, POWER_STEPS) @ V[:, 0]).abs())
""",
            "def gradient_norm(": GIVEN_Q + """

def gradient_norm(W, h0, T):
    start = h0.detach().clone().requires_grad_(True)
    h = start
    for _ in range(T):
        h = W @ h
    (g,) = torch.autograd.grad(h.sum(), start)
    return float(g.norm())


for rho in RHOS:
    grad_norms[rho] = gradient_norm(rho * Q, h0, T_STEPS)
"""},
    },
]

# the questions call none of each other's functions: the test grades one
# submission of each kind, all its fakes at once
INDEPENDENT = True
