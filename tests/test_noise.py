"""optnotes.noise: per-example gradients and the simple noise scale, checked against a
direct computation (one backward pass per example; numpy's covariance)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import optnotes
from optnotes.noise import gradient_noise_scale, per_example_gradients, steps_and_examples


def _net_and_data(seed=0, n=30):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(),
                              torch.nn.Linear(5, 3)).double()
    return net, torch.randn(n, 4, dtype=torch.float64), torch.randint(3, (n,))


def _loop_gradients(net, X, y):
    rows = []
    for x, t in zip(X, y):
        net.zero_grad()
        F.cross_entropy(net(x[None]), t[None]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]))
    return torch.stack(rows)


def test_per_example_gradients_match_one_backward_per_example():
    net, X, y = _net_and_data()
    G = per_example_gradients(net, F.cross_entropy, X, y)
    assert G.shape == (30, sum(p.numel() for p in net.parameters()))
    torch.testing.assert_close(G, _loop_gradients(net, X, y), rtol=1e-12, atol=1e-14)


def test_noise_scale_matches_numpy_covariance():
    net, X, y = _net_and_data(1)
    G = per_example_gradients(net, F.cross_entropy, X, y)
    A = _loop_gradients(net, X, y).numpy()
    direct = np.trace(np.cov(A, rowvar=False, bias=True)) / np.sum(A.mean(0) ** 2)
    assert gradient_noise_scale(G) == pytest.approx(direct, rel=1e-10)


def test_noise_scale_of_known_gradients():
    # rows g + e_i and g - e_i: tr(Σ) = 1, |g|² = 4 -> 0.25; scaling G changes nothing
    g = torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64)
    E = torch.eye(3, dtype=torch.float64)
    G = torch.cat([g + E, g - E])
    assert gradient_noise_scale(G) == pytest.approx(0.25, rel=1e-14)
    assert gradient_noise_scale(7.0 * G) == pytest.approx(0.25, rel=1e-14)
    assert gradient_noise_scale(G.repeat(3, 1)) == pytest.approx(0.25, rel=1e-14)
    assert gradient_noise_scale(g.repeat(4, 1)) == 0.0  # no noise at all


def test_noise_scale_predicts_minibatch_error():
    # E|ĝ - g|² = tr(Σ)/B for B rows drawn with replacement: at B = B_simple it is |g|²
    gen = torch.Generator().manual_seed(0)
    G = torch.randn(400, 6, generator=gen, dtype=torch.float64) * 3 + 1
    b = gradient_noise_scale(G)
    g = G.mean(0)
    B = max(1, round(b))
    err = [float((G[torch.randint(400, (B,), generator=gen)].mean(0) - g).norm() ** 2)
           for _ in range(4000)]
    assert np.mean(err) / (b / B * float(g @ g)) == pytest.approx(1.0, abs=0.05)


def test_steps_and_examples():
    s, e = steps_and_examples(10.0, noise_scale=10.0)
    assert (s, e) == (2.0, 2.0)
    s, e = steps_and_examples([1, 100], noise_scale=10.0)
    np.testing.assert_allclose(s, [11.0, 1.1])
    np.testing.assert_allclose(e, [1.1, 11.0])


def test_bad_input_raises():
    with pytest.raises(TypeError, match="G must be a torch.Tensor"):
        gradient_noise_scale(np.ones((3, 2)))
    with pytest.raises(ValueError, match="shape"):
        gradient_noise_scale(torch.ones(3))
    with pytest.raises(ValueError, match="shape"):
        gradient_noise_scale(torch.ones(1, 3))
    with pytest.raises(ValueError, match="zero"):
        gradient_noise_scale(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    with pytest.raises(ValueError, match="noise_scale"):
        steps_and_examples(4, noise_scale=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        steps_and_examples([0, 4], noise_scale=1.0)
    net, X, y = _net_and_data()
    with pytest.raises(ValueError, match="same length"):
        per_example_gradients(net, F.cross_entropy, X, y[:-1])


def test_exported():
    assert optnotes.gradient_noise_scale is gradient_noise_scale
    assert optnotes.noise.per_example_gradients is per_example_gradients
