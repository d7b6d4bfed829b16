"""Wrong and hard-coded submissions for ``assignments/08_meta_algorithms.md`` (see
``01_erm.py`` for the format)."""

SUBMISSIONS = [
    {
        "name": "the unbiased standard deviation",
        "kind": "wrong",
        "fakes": ["q1_batch_norm"],
        "cells": {"def batch_norm(": """
def batch_norm(H, eps=1e-5):
    return (H - H.mean(0)) / torch.sqrt(eps + H.var(0))
"""},
    },
    {
        "name": "the public example's output typed in",
        "kind": "hard-coded",
        "fakes": ["q1_batch_norm"],
        "cells": {"def batch_norm(": """
def batch_norm(H, eps=1e-5):
    out = torch.tensor([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    return out * math.sqrt(1.5)
"""},
    },
    {
        "name": "the average started at zero",
        "kind": "wrong",
        "fakes": ["q2_ema"],
        "cells": {"def ema(": """
def ema(points, decay):
    averages, a = [], torch.zeros_like(points[0])
    for theta in points:
        a = decay * a + (1 - decay) * theta
        averages.append(a / (1 - decay ** (len(averages) + 1)))
    return averages
"""},
    },
    {
        "name": "the points themselves",
        "kind": "hard-coded",
        "fakes": ["q2_ema"],
        "cells": {"def ema(": """
def ema(points, decay):
    return list(points)
"""},
    },
    {
        "name": "the average taken over every step, not the tail",
        "kind": "wrong",
        "fakes": ["q3_tail_average"],
        "cells": {"def tail_errors(": """
def tail_errors(steps, seed):
    gen = torch.Generator().manual_seed(seed)
    theta = torch.ones(1, dtype=torch.float64, requires_grad=True)
    opt = on.SGD([theta], lr=TAIL_LR)
    tail = []
    for step in range(steps):
        opt.zero_grad()
        (0.5 * theta**2).sum().backward()
        theta.grad += TAIL_NOISE * torch.randn(1, generator=gen, dtype=torch.float64)
        opt.step()
        tail.append(float(theta))
    mean = sum(tail) / len(tail)
    return sum(0.5 * t**2 for t in tail) / len(tail), 0.5 * mean**2


floor, averaged = tail_errors(TAIL_STEPS, seed=TAIL_SEED)
"""},
    },
    {
        "name": "the floor from the formula, the average typed in",
        "kind": "hard-coded",
        "fakes": ["q3_tail_average"],
        "cells": {"def tail_errors(": """
def tail_errors(steps, seed):
    return 0.1 / 3.8, 0.0001


floor, averaged = tail_errors(TAIL_STEPS, seed=TAIL_SEED)
"""},
    },
]

# the questions call none of each other's functions: the test grades one
# submission of each kind, all its fakes at once
INDEPENDENT = True
