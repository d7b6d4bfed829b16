"""Wrong and hard-coded submissions for ``assignments/02_minibatches.md`` (see
``01_erm.py`` for the format)."""

GIVEN_POPULATION = """
gen = torch.Generator().manual_seed(POPULATION_SEED)
X_all = torch.randn(N_POPULATION, N_FEATURES, generator=gen, dtype=torch.float64)
y_all = X_all @ torch.ones(N_FEATURES, dtype=torch.float64) + torch.randn(
    N_POPULATION, generator=gen, dtype=torch.float64)
w = torch.zeros(N_FEATURES, dtype=torch.float64)
sizes = SIZES
"""

GIVEN_DATA = """
data = on.data.TwoGaussians(n=2, separation=3.0).sample(N_DATA, seed=DATA_SEED,
                                                         device="cpu")
"""

SUBMISSIONS = [
    {
        "name": "the gradient without the factor 2",
        "kind": "wrong",
        "fakes": ["q1_lsq_gradient"],
        "uses_faked": ["q2_standard_error"],
        "cells": {"def minibatch_gradient(": """
def minibatch_gradient(w, X, y):
    return 1 / X.shape[0] * X.T @ (X @ w - y)
"""},
    },
    {
        "name": "the public example's gradient typed in",
        "kind": "hard-coded",
        "fakes": ["q1_lsq_gradient"],
        "uses_faked": ["q2_standard_error"],
        "cells": {"def minibatch_gradient(": """
def minibatch_gradient(w, X, y):
    return -torch.ones(X.shape[1], dtype=torch.float64)
"""},
    },
    {
        "name": "errors from the 1/sqrt(m) law, a slope of -0.5, losses typed in",
        "kind": "hard-coded",
        "fakes": ["q2_standard_error", "q3_sorted_data"],
        "cells": {
            "def gradient_error(": GIVEN_POPULATION + """

def gradient_error(m, draws, seed):
    return 9.8 / math.sqrt(m)


errors = {m: gradient_error(m, DRAWS, seed=ERROR_SEED) for m in sizes}
slope = -0.5
""",
            "def one_epoch(": GIVEN_DATA + """

def one_epoch(order, seed=0):
    return 0.5


loss_sorted, loss_shuffled = 0.9, 0.1
"""},
    },
    {
        "name": "the same first m examples every draw; training ignores the order",
        "kind": "wrong",
        "fakes": ["q2_standard_error", "q3_sorted_data"],
        "cells": {
            "def gradient_error(": GIVEN_POPULATION + """

def gradient_error(m, draws, seed):
    full = minibatch_gradient(w, X_all, y_all)
    idx = torch.arange(m)
    return float((minibatch_gradient(w, X_all[idx], y_all[idx]) - full).norm())


errors = {m: gradient_error(m, DRAWS, seed=ERROR_SEED) for m in sizes}
slope = on.lesson.loglog_slope(sizes, [errors[m] for m in sizes])
""",
            "def one_epoch(": GIVEN_DATA + """

def one_epoch(order, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(2, 2)
    opt = on.SGD(model.parameters(), lr=LR)
    for start in range(0, len(order), BATCH):
        idx = torch.arange(start, start + BATCH)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(data.X[idx]), data.y[idx]).backward()
        opt.step()
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(model(data.X), data.y))


loss_sorted = one_epoch(torch.argsort(data.y, stable=True))
shuffle = torch.Generator().manual_seed(SHUFFLE_SEED)
shuffled = torch.randperm(N_DATA, generator=shuffle)
loss_shuffled = one_epoch(shuffled)
"""},
    },
]
