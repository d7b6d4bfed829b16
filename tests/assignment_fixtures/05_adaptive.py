"""Wrong and hard-coded submissions for ``assignments/05_adaptive.md`` (see
``01_erm.py`` for the format)."""

SUBMISSIONS = [
    {
        "name": "Adam without bias correction",
        "kind": "wrong",
        "fakes": ["q1_adam_step"],
        "cells": {"def adam_step(": """
def adam_step(theta, s, r, t, grad, lr, betas=(0.9, 0.999), eps=1e-8):
    rho1, rho2 = betas
    s = rho1 * s + (1 - rho1) * grad
    r = rho2 * r + (1 - rho2) * grad * grad
    return theta - lr * s / (r.sqrt() + eps), s, r
"""},
    },
    {
        "name": "a sign step of size lr, the public example's answer",
        "kind": "hard-coded",
        "fakes": ["q1_adam_step"],
        "cells": {"def adam_step(": """
def adam_step(theta, s, r, t, grad, lr, betas=(0.9, 0.999), eps=1e-8):
    return theta - lr * grad / (grad.abs() + 1e-8), s, r
"""},
    },
    {
        "name": "the step's size instead of the rate",
        "kind": "wrong",
        "fakes": ["q2_adagrad_rate"],
        "cells": {"def adagrad_rates(": """
import numpy as np


def adagrad_rates(steps, seed):
    gen = torch.Generator().manual_seed(seed)
    theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = on.AdaGrad([theta], lr=ADAGRAD_LR)
    rates = []
    for _ in range(steps):
        before = theta.detach().clone()
        opt.zero_grad()
        theta.sum().backward()
        theta.grad += NOISE_STD * torch.randn(1, generator=gen, dtype=torch.float64)
        opt.step()
        rates.append(float((theta.detach() - before).abs()))
    return rates


rates = adagrad_rates(N_STEPS, seed=RATE_SEED)
slope = on.lesson.loglog_slope(np.arange(10, N_STEPS + 1), rates[9:])
"""},
    },
    {
        "name": "rates from t^(-1/2), a slope of -0.5",
        "kind": "hard-coded",
        "fakes": ["q2_adagrad_rate"],
        "cells": {"def adagrad_rates(": """
import numpy as np


def adagrad_rates(steps, seed):
    return [ADAGRAD_LR / math.sqrt((1 + NOISE_STD**2) * t) for t in range(1, steps + 1)]


rates = adagrad_rates(N_STEPS, seed=RATE_SEED)
slope = -0.5
"""},
    },
    {
        "name": "the ratio without the square root",
        "kind": "wrong",
        "fakes": ["q3_bias_correction"],
        "cells": {"def uncorrected_first_step_ratio(": """
def uncorrected_first_step_ratio(betas):
    rho1, rho2 = betas
    return (1 - rho1) / (1 - rho2)
"""},
    },
    {
        "name": "the public example's ratio",
        "kind": "hard-coded",
        "fakes": ["q3_bias_correction"],
        "cells": {"def uncorrected_first_step_ratio(": """
def uncorrected_first_step_ratio(betas):
    return 1.0
"""},
    },
]

# the questions call none of each other's functions: the test grades one
# submission of each kind, all its fakes at once
INDEPENDENT = True
