"""Wrong and hard-coded submissions for ``assignments/07_initialization.md`` (see
``01_erm.py`` for the format)."""

GIVEN = """
inits = {"fan_in": on.init.uniform_fan_in_, "glorot": on.init.glorot_uniform_,
         "orthogonal": on.init.orthogonal_}
last_std = {}
"""

SUBMISSIONS = [
    {
        "name": "a normal draw of the right variance",
        "kind": "wrong",
        "fakes": ["q1_glorot"],
        "cells": {"def glorot_uniform(": """
def glorot_uniform(fan_out, fan_in, gain=1.0, generator=None):
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)
    return w.normal_(0.0, std, generator=generator).clamp_(-1, 1)
"""},
    },
    {
        "name": "zeros, which pass the public shape check",
        "kind": "hard-coded",
        "fakes": ["q1_glorot"],
        "cells": {"def glorot_uniform(": """
def glorot_uniform(fan_out, fan_in, gain=1.0, generator=None):
    return torch.zeros(fan_out, fan_in, dtype=torch.float64)
"""},
    },
    {
        "name": "log-frequencies, not centred",
        "kind": "wrong",
        "fakes": ["q2_marginal_bias"],
        "cells": {"def marginal_bias(": """
def marginal_bias(counts):
    c = torch.as_tensor(counts, dtype=torch.float64)
    return torch.log(c / c.sum()) + math.log(3)
"""},
    },
    {
        "name": "zeros, the public example's answer",
        "kind": "hard-coded",
        "fakes": ["q2_marginal_bias"],
        "cells": {"def marginal_bias(": """
def marginal_bias(counts):
    return torch.zeros(len(counts), dtype=torch.float64)
"""},
    },
    {
        "name": "the inputs not passed on from layer to layer",
        "kind": "wrong",
        "fakes": ["q3_deep_tanh"],
        "cells": {"def last_layer_std(": GIVEN + """

def last_layer_std(init, depth, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, WIDTH, generator=gen)
    for _ in range(depth):
        w = init(torch.empty(WIDTH, WIDTH), generator=gen)
        h = torch.tanh(x @ w.T)
    return float(h.std())


for name, init in inits.items():
    last_std[name] = last_layer_std(init, DEPTH, seed=INIT_SEED)
"""},
    },
    {
        "name": "standard deviations typed in",
        "kind": "hard-coded",
        "fakes": ["q3_deep_tanh"],
        "cells": {"def last_layer_std(": GIVEN + """

def last_layer_std(init, depth, seed):
    return {"uniform_fan_in_": 1e-5, "glorot_uniform_": 0.2}.get(init.__name__, 0.6)


for name, init in inits.items():
    last_std[name] = last_layer_std(init, DEPTH, seed=INIT_SEED)
"""},
    },
]

# the questions call none of each other's functions: the test grades one
# submission of each kind, all its fakes at once
INDEPENDENT = True
