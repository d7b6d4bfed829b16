"""optnotes.init against torch.nn.init where it has a counterpart, else against the formula."""

from __future__ import annotations

import math

import pytest
import torch

from optnotes import init

SHAPES = [(300, 200), (64, 16, 3, 3), (40, 7, 5)]  # Linear, Conv2d, Conv1d weights


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def torch_fans(w):
    return torch.nn.init._calculate_fan_in_and_fan_out(w)


# --- the same numbers as torch.nn.init, from the same generator ---------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ours, theirs", [
    (lambda w, g: init.glorot_uniform_(w, gain=1.7, generator=g),
     lambda w, g: torch.nn.init.xavier_uniform_(w, gain=1.7, generator=g)),
    (lambda w, g: init.glorot_normal_(w, gain=0.5, generator=g),
     lambda w, g: torch.nn.init.xavier_normal_(w, gain=0.5, generator=g)),
    (lambda w, g: init.orthogonal_(w, gain=2.0, generator=g),
     lambda w, g: torch.nn.init.orthogonal_(w, gain=2.0, generator=g)),
    (lambda w, g: init.uniform_fan_in_(w, generator=g),
     lambda w, g: torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)),
], ids=["glorot_uniform", "glorot_normal", "orthogonal", "uniform_fan_in"])
def test_matches_torch_nn_init_draw_for_draw(shape, ours, theirs):
    a = ours(torch.empty(shape, dtype=torch.float64), gen(3))
    b = theirs(torch.empty(shape, dtype=torch.float64), gen(3))
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_uniform_fan_in_is_torch_linear_and_conv_default_bound():
    for layer in (torch.nn.Linear(37, 11), torch.nn.Conv2d(5, 8, 3)):
        m, _ = torch_fans(layer.weight)
        w = init.uniform_fan_in_(torch.empty_like(layer.weight), generator=gen())
        bound = 1 / math.sqrt(m)
        assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
        assert layer.weight.abs().max() <= bound * (1 + 1e-6)


# --- bounds and variances from the formulas ----------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_bounds_and_variances(shape):
    m, n = torch_fans(torch.empty(shape))
    w = torch.empty(shape, dtype=torch.float64)
    g = 1.3
    bound = g * math.sqrt(6 / (m + n))   # √(6/(m+n)), not 6/√(m+n)
    init.glorot_uniform_(w, gain=g, generator=gen())
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    assert w.var().item() == pytest.approx(2 * g**2 / (m + n), rel=0.05)
    init.glorot_normal_(w, gain=g, generator=gen())
    assert w.var().item() == pytest.approx(2 * g**2 / (m + n), rel=0.05)
    init.uniform_fan_in_(w, generator=gen())
    assert w.var().item() == pytest.approx(1 / (3 * m), rel=0.05)


def test_returns_the_same_tensor_and_writes_in_place():
    w = torch.empty(5, 4)
    for fill in (init.uniform_fan_in_, init.glorot_uniform_, init.glorot_normal_,
                 init.orthogonal_, lambda t: init.sparse_(t, 2)):
        assert fill(w) is w


def test_works_on_a_parameter_that_requires_grad():
    layer = torch.nn.Linear(6, 4)
    init.orthogonal_(layer.weight)
    init.sparse_(layer.weight, 3)
    assert layer.weight.requires_grad and layer.weight.grad_fn is None


# --- orthogonal ----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(50, 50), (80, 30), (30, 80), (16, 4, 3, 3)])
def test_orthogonal_gives_g_squared_identity(shape):
    g = 1.7
    w = init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=g, generator=gen())
    a = w.reshape(shape[0], -1)
    small = a.T @ a if a.shape[0] >= a.shape[1] else a @ a.T
    torch.testing.assert_close(small, g**2 * torch.eye(small.shape[0], dtype=torch.float64),
                               rtol=0, atol=1e-12)


def test_orthogonal_is_haar_distributed_not_biased_to_the_identity():
    # Without the sign correction Q's diagonal leans positive; Haar matrices have E Q_ii = 0.
    diag = torch.stack([init.orthogonal_(torch.empty(4, 4, dtype=torch.float64),
                                         generator=gen(s)).diagonal() for s in range(2000)])
    assert diag.mean().abs() < 0.03


# --- sparse --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, k", [((100, 400), 15), ((8, 6, 3, 3), 5), ((10, 10), 10)])
def test_sparse_has_exactly_k_nonzeros_per_unit(shape, k):
    w = init.sparse_(torch.full(shape, 7.0), k, std=2.0, generator=gen())
    per_unit = (w.reshape(shape[0], -1) != 0).sum(dim=1)
    assert per_unit.tolist() == [k] * shape[0]


def test_sparse_values_have_the_std_and_positions_are_spread():
    w = init.sparse_(torch.empty(2000, 300, dtype=torch.float64), 15, std=2.0, generator=gen())
    nonzero = w[w != 0]
    assert nonzero.std().item() == pytest.approx(2.0, rel=0.03)
    # every input is used about equally often (2000·15/300 = 100 times each)
    uses = (w != 0).sum(dim=0).double()
    assert uses.mean().item() == pytest.approx(100.0) and uses.min() > 50


def test_sparse_unit_input_does_not_grow_with_fan_in():
    stds = []
    for m in (100, 1600):
        w = init.sparse_(torch.empty(500, m), 15, generator=gen())
        stds.append((torch.randn(256, m, generator=gen(1)) @ w.T).std().item())
    assert stds[0] == pytest.approx(math.sqrt(15), rel=0.1)
    assert stds[1] == pytest.approx(stds[0], rel=0.1)


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("call, word", [
    (lambda: init.sparse_(torch.empty(4, 10), 11), "k"),
    (lambda: init.sparse_(torch.empty(4, 10), 0), "k"),
    (lambda: init.sparse_(torch.empty(4, 10), 3, std=-1.0), "std"),
    (lambda: init.glorot_uniform_(torch.empty(4, 10), gain=-1.0), "gain"),
    (lambda: init.glorot_normal_(torch.empty(4, 10), gain=-0.1), "gain"),
    (lambda: init.orthogonal_(torch.empty(4, 10), gain=-2.0), "gain"),
    (lambda: init.orthogonal_(torch.empty(10)), "w"),
    (lambda: init.uniform_fan_in_(torch.empty(10)), "w"),
    (lambda: init.glorot_uniform_(torch.empty(())), "w"),
    (lambda: init.sparse_(torch.empty(10), 1), "w"),
    (lambda: init.marginal_bias_(torch.empty(3), torch.tensor([0, 1, 1])), "targets"),
    (lambda: init.marginal_bias_(torch.empty(3), torch.tensor([0, 1, 3])), "targets"),
    (lambda: init.marginal_bias_(torch.empty(1), torch.tensor([0, 0])), "b"),
    (lambda: init.marginal_bias_(torch.empty(2, 2), torch.tensor([0, 1])), "b"),
    (lambda: init.marginal_bias_(torch.empty(2), torch.randn(5, 3)), "targets"),
    (lambda: init.lstm_forget_bias_(torch.nn.LSTM(2, 3, bias=False)), "lstm"),
    (lambda: init.tune_activation_scale_(torch.nn.Tanh(), torch.randn(3, 2)), "model"),
    (lambda: init.tune_activation_scale_(torch.nn.Linear(2, 2), torch.randn(3, 2),
                                         target_std=0.0), "target_std"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, word):
    with pytest.raises(ValueError, match=rf"\b{word}\b"):
        call()


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match="k"):
        init.sparse_(torch.empty(4, 10), 2.5)
    with pytest.raises(TypeError, match="lstm"):
        init.lstm_forget_bias_(torch.nn.GRU(2, 3))


# --- biases --------------------------------------------------------------------------------

def test_marginal_bias_softmax_equals_class_frequencies():
    targets = torch.tensor([0] * 50 + [1] * 30 + [2] * 15 + [3] * 5)
    b = init.marginal_bias_(torch.empty(4), targets)
    torch.testing.assert_close(torch.softmax(b.double(), 0),
                               torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64),
                               rtol=1e-6, atol=1e-7)
    # the initial cross-entropy of a model with zero weights is then the entropy of c
    loss = torch.nn.functional.cross_entropy(b.expand(100, 4), targets)
    c = torch.tensor([0.5, 0.3, 0.15, 0.05])
    assert loss.item() == pytest.approx(-(c * c.log()).sum().item(), rel=1e-6)


def test_marginal_bias_is_the_mean_for_real_targets():
    y = torch.randn(1000, 3, generator=gen(), dtype=torch.float64) + torch.tensor([1.0, -2.0, 5.0],
                                                                               dtype=torch.float64)
    b = init.marginal_bias_(torch.empty(3, dtype=torch.float64), y)
    torch.testing.assert_close(b, y.mean(0))
    b1 = init.marginal_bias_(torch.empty(1), torch.tensor([1.0, 2.0, 6.0]))
    assert b1.item() == pytest.approx(3.0)


@pytest.mark.parametrize("make", [lambda: torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True),
                                  lambda: torch.nn.LSTMCell(3, 5)])
def test_lstm_forget_gate_starts_at_sigmoid_of_value(make):
    # With zero weights and zero other biases, one step from cell state c0 = 1 and input 0
    # gives c1 = f·c0 + i·tanh(0) = σ(b_f): torch's own gate order decides which slice is f.
    lstm = make()
    with torch.no_grad():
        for p in lstm.parameters():
            p.zero_()
    init.lstm_forget_bias_(lstm, value=1.0)
    x = torch.zeros(1, 3)
    if isinstance(lstm, torch.nn.LSTMCell):
        _, c1 = lstm(x, (torch.zeros(1, 5), torch.ones(1, 5)))
    else:
        _, (_, c1) = lstm(x[None], (torch.zeros(4, 1, 5), torch.ones(4, 1, 5)))
    torch.testing.assert_close(c1, torch.full_like(c1, torch.sigmoid(torch.tensor(1.0)).item()))


def test_lstm_forget_bias_keeps_other_biases():
    lstm = torch.nn.LSTM(3, 5)
    before = lstm.bias_ih_l0.detach().clone()
    init.lstm_forget_bias_(lstm, value=2.0)
    after = lstm.bias_ih_l0.detach()
    keep = torch.ones(20, dtype=torch.bool)
    keep[5:10] = False
    assert torch.equal(after[keep], before[keep]) and torch.all(after[5:10] == 2.0)
    assert torch.all(lstm.bias_hh_l0.detach()[5:10] == 0.0)


# --- tuning by activations -----------------------------------------------------------------

def deep_tanh(depth=8, width=64, scale=0.1, seed=0):
    torch.manual_seed(seed)
    layers = []
    for _ in range(depth):
        lin = torch.nn.Linear(width, width)
        with torch.no_grad():
            lin.weight.mul_(scale)
            lin.bias.zero_()
        layers += [lin, torch.nn.Tanh()]
    return torch.nn.Sequential(*layers[:-1])


def layer_output_stds(model, batch):
    stds = []
    hooks = [m.register_forward_hook(lambda mod, i, o: stds.append(o.std().item()))
             for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        model(batch)
    for h in hooks:
        h.remove()
    return stds


@pytest.mark.parametrize("target", [1.0, 0.5])
def test_tuning_reaches_the_target_std_in_every_layer(target):
    model = deep_tanh()
    batch = torch.randn(256, 64, generator=gen())
    before = layer_output_stds(model, batch)
    assert before[-1] < 1e-4 * target  # the badly scaled net loses its signal
    scales = init.tune_activation_scale_(model, batch, target_std=target, tol=0.01)
    after = layer_output_stds(model, batch)
    assert all(abs(s - target) <= 0.01 * target for s in after)
    assert list(scales) == [str(i) for i in range(0, 15, 2)]  # forward order, by name
    assert all(v > 1 for v in scales.values())


def test_tuning_with_biases_converges_and_reports_the_factor():
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3))
    w0 = model[2].weight.detach().clone()
    batch = torch.randn(128, 10, generator=gen())
    scales = init.tune_activation_scale_(model, batch, target_std=2.0, tol=1e-3, max_iter=20)
    assert abs(layer_output_stds(model, batch)[-1] - 2.0) <= 2e-3
    torch.testing.assert_close(model[2].weight.detach(), w0 * scales["2"])


def test_tuning_refuses_a_dead_layer():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.zero_()  # every unit of the first layer outputs its bias, 0
        model[0].bias.zero_()
    with pytest.raises(ValueError, match="standard deviation"):
        init.tune_activation_scale_(model, torch.randn(8, 4))


def test_tuning_warns_when_max_iter_is_too_small():
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3))
    with torch.no_grad():
        model[0].bias.fill_(3.0)  # a large bias: one rescaling cannot reach the target
    with pytest.warns(RuntimeWarning, match="max_iter=1"):
        init.tune_activation_scale_(model, torch.randn(64, 10, generator=gen()), max_iter=1)
