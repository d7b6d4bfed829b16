"""Wrong and hard-coded submissions for ``assignments/01_erm.md``.

Each submission replaces, in the reference solution, every code cell that contains a key
of ``cells`` with its value; it must lose points on each question in ``fakes`` and keep
full marks on the others (``tests/test_assignments.py``), except those listed in
``uses_faked``, which call a function the submission fakes. With ``INDEPENDENT`` the
test merges the submissions of each kind into one and grades that.
"""

SUBMISSIONS = [
    {
        "name": "accuracy instead of the 0-1 loss",
        "kind": "wrong",
        "fakes": ["q1_zero_one"],
        "cells": {"def zero_one(": """
def zero_one(scores, y):
    return float((scores.argmax(dim=1) == y).float().mean())
"""},
    },
    {
        "name": "the public example's answer typed in",
        "kind": "hard-coded",
        "fakes": ["q1_zero_one"],
        "cells": {"def zero_one(": """
def zero_one(scores, y):
    return 1 / 3
"""},
    },
    {
        "name": "Bayes error copied from the problem; risk typed in",
        "kind": "hard-coded",
        "fakes": ["q2_bayes_error", "q3_memorization"],
        "cells": {
            "def bayes_risk(": """
problem = on.data.TwoGaussians(n=DIM, separation=SEPARATION)


def bayes_risk(problem, m, seed):
    p = problem.bayes_error
    return p, math.sqrt(p * (1 - p) / m)


estimate, stderr = bayes_risk(problem, M_RISK, RISK_SEED)
""",
            "def nn1_predict(": """
def nn1_predict(train, X):
    nearest = torch.cdist(X, train.X).argmin(dim=1)
    return train.y[nearest]


train = problem.sample(N_TRAIN, seed=TRAIN_SEED, device="cpu")
train_risk, true_risk = 0.0, 0.25
"""},
    },
    {
        "name": "the wrong standard error; the farthest neighbour",
        "kind": "wrong",
        "fakes": ["q2_bayes_error", "q3_memorization"],
        "cells": {
            "def bayes_risk(": """
problem = on.data.TwoGaussians(n=DIM, separation=SEPARATION)


def bayes_risk(problem, m, seed):
    fresh = problem.sample(m, seed=seed, device="cpu")
    p = float((problem.bayes_predict(fresh.X) != fresh.y).double().mean())
    return p, math.sqrt(p * (1 - p)) / m


estimate, stderr = bayes_risk(problem, M_RISK, RISK_SEED)
""",
            "def nn1_predict(": """
def nn1_predict(train, X):
    nearest = torch.cdist(X, train.X).argmin(dim=1)
    return train.y[nearest[torch.randperm(len(nearest))]]


train = problem.sample(N_TRAIN, seed=TRAIN_SEED, device="cpu")
fresh = problem.sample(N_TEST, seed=TEST_SEED, device="cpu")
train_risk = 0.0
true_risk = float((nn1_predict(train, fresh.X) != fresh.y).float().mean())
"""},
    },
]

# the questions call none of each other's functions: the test grades one
# submission of each kind, all its fakes at once
INDEPENDENT = True
