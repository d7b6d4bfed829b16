"""Wrong and hard-coded submissions for ``assignments/04_first_order.md`` (see
``01_erm.py`` for the format)."""

GIVEN_BOWL = """
bowl = on.objectives.quadratic(CURVATURES)
sigma = SIGMA
floors = {}
"""

SUBMISSIONS = [
    {
        "name": "updates the tensors it is given in place",
        "kind": "wrong",
        "fakes": ["q1_momentum_step"],
        "cells": {"def momentum_step(": """
def momentum_step(theta, v, grad, lr, momentum):
    v.mul_(momentum).sub_(lr * grad)
    theta.add_(v)
    return theta, v
"""},
    },
    {
        "name": "the public example's velocity typed in",
        "kind": "hard-coded",
        "fakes": ["q1_momentum_step"],
        "cells": {"def momentum_step(": """
def momentum_step(theta, v, grad, lr, momentum):
    v = -0.1 * grad * (1 - 0.5**5) / (1 - 0.5)
    return theta + v, v
"""},
    },
    {
        "name": "exponential instead of linear decay",
        "kind": "wrong",
        "fakes": ["q2_linear_decay"],
        "cells": {"def linear_decay(": """
def linear_decay(k, lr0, tau, final_factor):
    return lr0 * final_factor ** min(k / tau, 1.0)
"""},
    },
    {
        "name": "the public examples' rates typed in",
        "kind": "hard-coded",
        "fakes": ["q2_linear_decay"],
        "cells": {"def linear_decay(": """
def linear_decay(k, lr0, tau, final_factor):
    return 1.0 if k == 0 else 0.01
"""},
    },
    {
        "name": "floors from the formula in the question",
        "kind": "hard-coded",
        "fakes": ["q3_noise_floor"],
        "cells": {"def noise_floor(": GIVEN_BOWL + """

def noise_floor(lr, steps, seed):
    return sum(lr * sigma**2 / (2 * (2 - lr * lam)) for lam in CURVATURES)


for lr in LRS:
    floors[lr] = noise_floor(lr, N_STEPS, seed=NOISE_SEED)
"""},
    },
    {
        "name": "noise of standard deviation sigma squared",
        "kind": "wrong",
        "fakes": ["q3_noise_floor"],
        "cells": {"def noise_floor(": GIVEN_BOWL + """

def noise_floor(lr, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(N_CHAINS, 2, dtype=torch.float64, requires_grad=True)
    opt = on.SGD([x], lr=lr)
    tail = []
    for step in range(steps):
        opt.zero_grad()
        bowl(x).sum().backward()
        x.grad += sigma**2 * torch.randn(x.shape, generator=gen, dtype=torch.float64)
        opt.step()
        if step >= steps - steps // 2:
            tail.append(float(bowl(x.detach()).mean()))
    return sum(tail) / len(tail)


for lr in LRS:
    floors[lr] = noise_floor(lr, N_STEPS, seed=NOISE_SEED)
"""},
    },
]

# the questions call none of each other's functions: the test grades one
# submission of each kind, all its fakes at once
INDEPENDENT = True
