"""Wrong and hard-coded submissions for ``assignments/09_practice.md`` (see
``01_erm.py`` for the format)."""

PROBLEM = '''
def heavy_tailed_problem(seed):
    """X (2000 × 10), y = X w* + t-distributed noise, w*, and a generator."""
    gen = torch.Generator().manual_seed(seed)
    w_star = torch.randn(10, generator=gen, dtype=torch.float64)
    X = torch.randn(2000, 10, generator=gen, dtype=torch.float64)
    z = torch.randn(3, 2000, generator=gen, dtype=torch.float64)
    noise = z[0] / torch.sqrt((z[1] ** 2 + z[2] ** 2) / 2)
    return X, X @ w_star + noise, w_star, gen
'''


def clipped_sgd(clip):
    """A ``clipped_sgd`` that clips the gradient with the statement ``clip``."""
    return PROBLEM + f'''

def clipped_sgd(percentile, seed, steps, lr, warmup):
    X, y, w_star, gen = heavy_tailed_problem(seed)
    w = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    opt = on.SGD([w], lr=lr)
    norms, threshold = [], None
    for k in range(steps):
        idx = torch.randint(2000, (8,), generator=gen)
        opt.zero_grad()
        (0.5 * ((X[idx] @ w - y[idx]) ** 2).mean()).backward()
        norms.append(float(w.grad.norm()))
        if percentile is not None and k >= warmup:
            if threshold is None:
                threshold = float(np.percentile(norms[:warmup], percentile))
            {clip}
        opt.step()
    return float((w.detach() - w_star).norm()), threshold, norms
'''


SUBMISSIONS = [
    {
        "name": "L2 regularization inside Adam instead of decoupled decay",
        "kind": "wrong",
        "fakes": ["q1_adamw_step"],
        "cells": {"def adamw_step(": """
def adamw_step(theta, s, r, t, grad, lr, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=0.01):
    rho1, rho2 = betas
    grad = grad + weight_decay * theta
    s = rho1 * s + (1 - rho1) * grad
    r = rho2 * r + (1 - rho2) * grad * grad
    s_hat = s / (1 - rho1**t)
    r_hat = r / (1 - rho2**t)
    return theta - lr * s_hat / (r_hat.sqrt() + eps), s, r
"""},
    },
    {
        "name": "the public example's first step, a decayed sign step, at every step",
        "kind": "hard-coded",
        "fakes": ["q1_adamw_step"],
        "cells": {"def adamw_step(": """
def adamw_step(theta, s, r, t, grad, lr, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=0.01):
    return theta * (1 - lr * weight_decay) - lr * grad / (grad.abs() + 1e-8), s, r
"""},
    },
    {
        "name": "the cosine's progress counted from step 0, not from the warmup's end",
        "kind": "wrong",
        "fakes": ["q2_warmup_cosine"],
        "cells": {"def warmup_cosine(": """
def warmup_cosine(k, lr0, warmup_steps, total_steps, final_factor):
    if k < warmup_steps:
        return lr0 * k / warmup_steps
    progress = min(k, total_steps) / total_steps
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return lr0 * (final_factor + (1 - final_factor) * cosine)
"""},
    },
    {
        "name": "the public examples' rates: the peak, then the final rate",
        "kind": "hard-coded",
        "fakes": ["q2_warmup_cosine"],
        "cells": {"def warmup_cosine(": """
def warmup_cosine(k, lr0, warmup_steps, total_steps, final_factor):
    return lr0 if k <= warmup_steps else lr0 * final_factor
"""},
    },
    {
        "name": "each coordinate clipped at the threshold instead of the norm",
        "kind": "wrong",
        "fakes": ["q3_clip_percentile"],
        "cells": {"def clipped_sgd(": clipped_sgd("on.clip_grad_value_([w], threshold)") + """

seeds = range(CLIP_SEED, CLIP_SEED + 5)
distances = {pc: [clipped_sgd(pc, s, CLIP_STEPS, CLIP_LR, CLIP_WARMUP)[0]
                  for s in seeds]
             for pc in (None, CLIP_PERCENTILE)}
"""},
    },
    {
        "name": "a right clipped_sgd, distances typed in",
        "kind": "hard-coded",
        "fakes": ["q3_clip_percentile"],
        "cells": {"def clipped_sgd(": clipped_sgd("on.clip_grad_norm_([w], threshold)") + """

distances = {None: [0.45] * 5, CLIP_PERCENTILE: [0.40] * 5}
"""},
    },
]

# the questions call none of each other's functions: the test grades one
# submission of each kind, all its fakes at once
INDEPENDENT = True
