"""Data sets, the training loop, ``minimize``, the plotting helpers and the runtime helpers."""

from __future__ import annotations

import copy
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import optnotes
from optnotes import data, objectives, plot
from optnotes.data import Split
from optnotes.train import evaluate, minimize, train

CPU = "cpu"


# --- data ---------------------------------------------------------------------------------------

def rows(split: Split) -> list:
    """The examples of a split as a sorted list of (pixels..., label) tuples (a multiset)."""
    return sorted(tuple(x) + (int(y),) for x, y in zip(split.X.double().tolist(), split.y.tolist()))


def test_digits_shapes_and_values():
    s = data.digits(device=CPU)
    for part in (s.train, s.val, s.test):
        assert part.X.ndim == 2 and part.X.shape[1] == 64
        assert part.y.shape == (len(part),) and part.y.dtype == torch.long
        assert part.X.dtype == torch.float32 and part.X.device.type == CPU
        assert float(part.X.min()) >= 0.0 and float(part.X.max()) <= 1.0
    assert set(s.train.y.tolist()) == set(range(10))
    assert len(s.train) + len(s.val) + len(s.test) == 1797
    assert len(s.val) == len(s.test) == round(0.2 * 1797)
    assert data.digits(device=CPU, dtype=torch.float64).train.X.dtype == torch.float64


def test_digits_splits_are_disjoint_and_cover_the_data_set():
    from sklearn.datasets import load_digits

    full = load_digits()
    everything = Split(torch.as_tensor(full.data, dtype=torch.float32) / 16.0, torch.as_tensor(full.target))
    s = data.digits(val_fraction=0.25, test_fraction=0.15, seed=3, device=CPU)
    parts = [rows(s.train), rows(s.val), rows(s.test)]
    assert sorted(parts[0] + parts[1] + parts[2]) == rows(everything)  # covering, as a multiset
    # disjoint: no example of one part appears more often in the union than in the data set
    assert sum(map(len, parts)) == len(everything)


def test_digits_seed():
    a, b, c = (data.digits(seed=s, device=CPU) for s in (0, 0, 1))
    for x, y in ((a.train, b.train), (a.val, b.val), (a.test, b.test)):
        assert torch.equal(x.X, y.X) and torch.equal(x.y, y.y)
    assert not torch.equal(a.train.y, c.train.y)


def test_linear_regression_shapes_and_reproducibility():
    (s, w) = data.linear_regression(m=100, n=7, noise=0.0, seed=2, device=CPU)
    assert w.shape == (7,) and w.dtype == torch.float64
    assert (len(s.train), len(s.val), len(s.test)) == (80, 20, 0)
    assert s.train.X.shape == (80, 7) and s.train.y.shape == (80,)
    assert torch.allclose(s.train.X @ w, s.train.y, rtol=0, atol=1e-12)  # noise = 0: exact
    (s2, w2) = data.linear_regression(m=100, n=7, noise=0.0, seed=2, device=CPU)
    assert torch.equal(w, w2) and torch.equal(s.train.X, s2.train.X)
    (s3, w3) = data.linear_regression(m=100, n=7, noise=0.0, seed=3, device=CPU)
    assert not torch.equal(w, w3)
    (noisy, _) = data.linear_regression(m=2000, n=3, noise=0.5, seed=0, device=CPU, val_fraction=0.0)
    (clean, w0) = data.linear_regression(m=2000, n=3, noise=0.0, seed=0, device=CPU, val_fraction=0.0)
    assert float((noisy.train.y - noisy.train.X @ w0).std()) == pytest.approx(0.5, rel=0.1)


def test_gaussian_classes_shapes_and_reproducibility():
    s = data.gaussian_classes(m=300, n=3, classes=4, seed=5, device=CPU, test_fraction=0.1)
    assert (len(s.train), len(s.val), len(s.test)) == (210, 60, 30)
    assert s.train.X.shape == (210, 3) and s.train.X.dtype == torch.float32
    assert set(s.train.y.tolist()) <= set(range(4))
    s2 = data.gaussian_classes(m=300, n=3, classes=4, seed=5, device=CPU, test_fraction=0.1)
    assert torch.equal(s.train.X, s2.train.X) and torch.equal(s.val.y, s2.val.y)
    assert not torch.equal(s.train.X, data.gaussian_classes(m=300, n=3, classes=4, seed=6,
                                                            device=CPU, test_fraction=0.1).train.X)


@pytest.mark.parametrize("make, arg", [
    (lambda: data.digits(val_fraction=0.6, test_fraction=0.4, device=CPU), "val_fraction + test_fraction"),
    (lambda: data.digits(val_fraction=-0.1, device=CPU), "val_fraction"),
    (lambda: data.linear_regression(m=0, device=CPU), "m"),
    (lambda: data.linear_regression(noise=-1.0, device=CPU), "noise"),
    (lambda: data.gaussian_classes(classes=0, device=CPU), "classes"),
    (lambda: data.gaussian_classes(spread=0.0, device=CPU), "spread"),
], ids=["fractions-sum", "val_fraction", "m", "noise", "classes", "spread"])
def test_data_bad_input(make, arg):
    with pytest.raises((ValueError, TypeError)) as excinfo:
        make()
    assert arg in str(excinfo.value)


# --- train --------------------------------------------------------------------------------------

def regression(m=64, n=4, noise=0.1, seed=0):
    (s, w) = data.linear_regression(m=m, n=n, noise=noise, seed=seed, device=CPU)
    return s, w


def linear_model(n=4):
    model = torch.nn.Linear(n, 1, bias=False).double()
    torch.nn.init.zeros_(model.weight)
    return model


def loss_fn(out, y):
    return torch.nn.functional.mse_loss(out.squeeze(-1), y)


def test_train_history_lengths_and_examples():
    s, _ = regression()  # 51 training examples
    model = linear_model()
    h = train(model, loss_fn, optnotes.SGD(model.parameters(), lr=0.05), s.train, steps=10,
              batch_size=16, val=s.val, progress=False)
    assert h.step == list(range(1, 11))
    assert len(h.loss) == len(h.time) == len(h.examples) == 10
    assert h.examples == [16, 32, 48, 51, 67, 83, 99, 102, 118, 134]  # 4 batches per epoch, last of 3
    assert h.eval_step == [0, 4, 8, 10]  # default: once per epoch, and at the end
    assert len(h.train_loss) == len(h.val_loss) == 4
    assert all(b >= a for a, b in zip(h.time, h.time[1:]))
    assert h.best_step is None and not h.stopped_early
    assert h.train_loss[-1] < h.train_loss[0]

    model = linear_model()
    h = train(model, loss_fn, optnotes.SGD(model.parameters(), lr=0.05), s.train, steps=7,
              batch_size=16, eval_every=3, progress=False)
    assert h.eval_step == [0, 3, 6, 7] and h.val_loss == []


def test_train_full_batch_is_gradient_descent():
    s, _ = regression()
    model, ref = linear_model(), linear_model()
    h = train(model, loss_fn, optnotes.SGD(model.parameters(), lr=0.1), s.train, steps=6,
              batch_size=None, progress=False)
    assert h.examples == [51 * k for k in range(1, 7)]
    for k in range(6):
        loss = loss_fn(ref(s.train.X), s.train.y)
        assert h.loss[k] == pytest.approx(float(loss.detach()), rel=1e-12)
        ref.zero_grad()
        loss.backward()
        with torch.no_grad():
            ref.weight -= 0.1 * ref.weight.grad
    assert torch.allclose(model.weight, ref.weight, rtol=1e-12, atol=0)
    assert h.train_loss[-1] == pytest.approx(evaluate(model, loss_fn, s.train), rel=1e-12)


def test_train_is_reproducible_and_seeded():
    s, _ = regression()
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        model = linear_model()
        h = train(model, loss_fn, optnotes.SGD(model.parameters(), lr=0.05, momentum=0.5), s.train,
                  steps=12, batch_size=8, seed=seed, progress=False)
        runs[name] = (h.loss, model.weight.detach().clone())
    assert runs["a"][0] == runs["b"][0] and torch.equal(runs["a"][1], runs["b"][1])
    assert runs["a"][0] != runs["c"][0]


def test_early_stopping_stops_and_restores_the_best_parameters():
    """Validation targets are half the training targets, so from θ = 0 the validation loss
    falls while θ passes w*/2 and then rises again: early stopping must stop, and leave the
    parameters of the best evaluation."""
    s, _ = regression(noise=0.0)
    val = Split(s.train.X, 0.5 * s.train.y)
    patience, steps = 3, 300

    def run(steps, patience=None):
        model = linear_model()
        h = train(model, loss_fn, optnotes.SGD(model.parameters(), lr=0.05), s.train, steps=steps,
                  batch_size=16, val=val, eval_every=1, patience=patience, progress=False)
        return model, h

    model, h = run(steps, patience)
    assert h.stopped_early and 0 < h.best_step < h.step[-1] < steps
    assert h.step[-1] == h.best_step + patience  # eval_every = 1
    assert h.val_loss[h.eval_step.index(h.best_step)] == min(h.val_loss)
    assert evaluate(model, loss_fn, val) == pytest.approx(min(h.val_loss), rel=1e-12)
    best_model, _ = run(h.best_step)  # the same run, stopped at the best step
    assert torch.equal(model.weight, best_model.weight)
    last_model, _ = run(h.step[-1])
    assert not torch.equal(model.weight, last_model.weight)


def test_train_argument_checks():
    s, _ = regression()
    model = linear_model()
    opt = optnotes.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="patience"):
        train(model, loss_fn, opt, s.train, steps=5, patience=2, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train(model, loss_fn, opt, s.train, steps=0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        train(model, loss_fn, opt, s.train, steps=5, batch_size=0, progress=False)


def test_train_steps_the_scheduler_every_update():
    s, _ = regression()
    model = linear_model()
    opt = optnotes.SGD(model.parameters(), lr=0.1)
    sched = optnotes.StepDecay(opt, step_size=3, gamma=0.5)
    train(model, loss_fn, opt, s.train, steps=7, batch_size=16, scheduler=sched, progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** (7 // 3))


# --- minimize -----------------------------------------------------------------------------------

def test_minimize_shapes_and_evaluations():
    f = objectives.rotated_quadratic(10)
    tr = minimize(f, lambda p: optnotes.SGD(p, lr=0.5), f.start, 25)
    assert tr.points.shape == (26, 2) and tr.values.shape == (26,) and tr.evaluations == 25
    assert torch.equal(tr.points[0], f.start)
    assert torch.allclose(tr.values, f(tr.points), rtol=1e-14, atol=0)
    tr = minimize(f, lambda p: optnotes.SGD(p, lr=0.5), f.start, 25, keep_points=False)
    assert tr.points is None and tr.values.shape == (26,)
    tr32 = minimize(f, lambda p: optnotes.SGD(p, lr=0.5), f.start, 5, dtype=torch.float32)
    assert tr32.points.dtype == torch.float32


def test_minimize_plain_gradient_descent_by_hand():
    f = objectives.rosenbrock(2)
    tr = minimize(f, lambda p: optnotes.SGD(p, lr=1e-3), f.start, 20)
    x = f.start.clone()
    for k in range(20):
        xg = x.clone().requires_grad_()
        f(xg).backward()
        x = x - 1e-3 * xg.grad
        assert torch.allclose(tr.points[k + 1], x, rtol=1e-14, atol=0)


def test_minimize_noise_is_reproducible():
    f = objectives.rotated_quadratic(10)
    run = lambda seed, noise=0.1: minimize(f, lambda p: optnotes.SGD(p, lr=0.1), f.start, 30,  # noqa: E731
                                           noise=noise, seed=seed)
    a, b, c, clean = run(0), run(0), run(1), run(0, noise=0.0)
    assert torch.equal(a.points, b.points) and torch.equal(a.values, b.values)
    assert not torch.equal(a.points, c.points)
    assert not torch.equal(a.points, clean.points)
    # the noise enters the step as −ε σ ξ: first step's deviation from the clean step is ε σ ξ₀
    dev = (a.points[1] - clean.points[1]) / (-0.1 * 0.1)
    assert float(dev.norm()) > 0.1 and float(dev.abs().max()) < 6


def test_minimize_with_torch_lbfgs():
    f = objectives.rosenbrock(2)
    tr = minimize(f, lambda p: torch.optim.LBFGS(p, lr=1, max_iter=20, line_search_fn="strong_wolfe",
                                                 tolerance_grad=1e-12, tolerance_change=1e-14),
                  f.start, 5)
    assert tr.evaluations > 5
    assert float((tr.points[-1] - f.minimizer).norm()) < 1e-6


def test_minimize_with_scheduler_and_bad_input():
    f = objectives.rotated_quadratic(10)
    opts = []

    def make(p):
        opts.append(optnotes.SGD(p, lr=0.5))
        return opts[-1]

    minimize(f, make, f.start, 9, make_scheduler=lambda o: optnotes.StepDecay(o, step_size=3))
    assert opts[0].param_groups[0]["lr"] == pytest.approx(0.5 / 8)
    with pytest.raises(ValueError, match="steps"):
        minimize(f, make, f.start, 0)
    with pytest.raises(ValueError, match="noise"):
        minimize(f, make, f.start, 3, noise=-1.0)


# --- plot ---------------------------------------------------------------------------------------

@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.fixture(autouse=True)
def rc_unchanged():
    before = copy.deepcopy(dict(matplotlib.rcParams))
    yield
    assert dict(matplotlib.rcParams) == before, "a plot function changed the global style"


@pytest.mark.parametrize("log", [True, False])
@pytest.mark.parametrize("make", [objectives.saddle, lambda: objectives.rotated_quadratic(10),
                                  lambda: objectives.rosenbrock(2)], ids=["saddle", "quadratic", "rosenbrock"])
def test_contours(ax, make, log):
    f = make()
    out = plot.contours(ax, f, (-2, 2), (-1.5, 1.5), resolution=40, log=log)
    assert out is ax
    assert ax.collections, "no contour lines drawn"
    assert len(ax.lines) == (2 if f.saddle_point is not None else 1)  # ★ minimizer (× saddle)
    assert ax.get_xlim() == (-2, 2) and ax.get_ylim() == (-1.5, 1.5)


def test_trajectory(ax):
    f = objectives.rotated_quadratic(10)
    tr = minimize(f, lambda p: optnotes.SGD(p, lr=0.5), f.start, 10)
    out = plot.trajectory(ax, tr.points, label="GD", color="C1")
    assert out is ax and len(ax.lines) == 2
    path = ax.lines[0]
    assert path.get_label() == "GD" and len(path.get_xdata()) == 11
    assert ax.lines[1].get_color() == path.get_color()


def test_learning_curves(ax):
    k = torch.arange(1, 11)
    out = plot.learning_curves(ax, {"a": (k, 1.0 / k), "b": (k.numpy(), [2.0 / i for i in range(1, 11)])})
    assert out is ax and len(ax.lines) == 2
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert ax.get_legend() is not None and ax.get_xlabel() == "step"
    _, ax2 = plt.subplots()
    assert plot.learning_curves(ax2, {}, logx=True, logy=False) is ax2
    assert ax2.get_xscale() == "log" and ax2.get_legend() is None
    plt.close(ax2.figure)


def test_plot_functions_do_not_show(ax, monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() called"))
    f = objectives.saddle()
    plot.contours(ax, f, (-2, 2), (-2, 2), resolution=20)
    plot.trajectory(ax, torch.zeros(3, 2))
    plot.learning_curves(ax, {"x": ([1, 2], [1.0, 0.5])})



def test_rasterize_dense_draws_only_dense_artists_as_images(ax):
    import io

    rng = np.random.default_rng(0)
    ax.plot(np.cumsum(rng.normal(size=2000)), marker=".", label="noisy")  # ~260 KB as SVG
    ax.plot(np.cumsum(rng.normal(size=2000)), label="plain line")  # lighter as vectors
    ax.plot([0, 1000, 2000], [0, 5, 0], marker="o", label="sparse")
    ax.scatter(rng.normal(size=50), rng.normal(size=50))
    x = np.linspace(-2, 2, 100)
    ax.contour(x, x, np.add.outer(x**2, 3 * x**2), levels=20)  # lighter as vectors
    ax.legend()
    vector = io.BytesIO()
    ax.figure.savefig(vector, format="svg")
    marked = plot.rasterize_dense(ax.figure)
    assert marked == [ax.lines[0]] and ax.lines[0].get_rasterized()
    assert not any(a.get_rasterized() for a in ax.lines[1:] + list(ax.collections))
    assert plot.rasterize_dense(ax.figure) == []  # already marked
    mixed = io.BytesIO()
    ax.figure.savefig(mixed, format="svg", dpi=plot.RASTER_DPI)
    assert mixed.getvalue().decode().count("<image") == 1  # the noisy line's markers
    assert len(mixed.getvalue()) < len(vector.getvalue()) / 2
    with pytest.raises(ValueError, match="max_bytes"):
        plot.rasterize_dense(ax.figure, max_bytes=0)


def test_svg_bytes_counts_markers_and_filled_areas(ax):
    (line,) = ax.plot(np.arange(100))
    (dots,) = ax.plot(np.arange(100), marker="o", linestyle="none")
    band = ax.fill_between(np.arange(100), np.zeros(100), np.ones(100))
    assert plot.svg_bytes(line) == 0
    assert plot.svg_bytes(dots) == 100 * plot._MARKER_BYTES
    assert plot.svg_bytes(band) >= 200 * plot._VERTEX_BYTES
    assert plot.svg_bytes(ax.set_title("t")) == 0


def test_compact_svg_rounds_coordinates_only(ax):
    import io

    ax.plot(np.sin(np.linspace(0, 60, 2000)))
    ax.set_title("0.123456 stays")
    out = io.StringIO()
    ax.figure.savefig(out, format="svg")
    svg = out.getvalue()
    small = plot.compact_svg(svg)
    assert len(small) < len(svg) and re.search(r' d="[^"]*\d\.\d{3}', svg)
    assert not re.search(r' (d|x|y)="[^"]*\d\.\d{3}', small)  # two decimals at most
    assert small.count("<path") == svg.count("<path") and small.count("<use") == svg.count("<use")
    assert "0.123456 stays" in small  # text (here in a comment) is left alone
    assert 'd="M 1.5 -2.25 L 3.75 0.1"' in plot.compact_svg('<path d="M 1.5 -2.254 L 3.7499 0.1"/>')
    assert "scale(0.015625)" in plot.compact_svg('<g transform="scale(0.015625)"/>')
    with pytest.raises(ValueError, match="decimals"):
        plot.compact_svg(svg, decimals=0)

# --- runtime ------------------------------------------------------------------------------------

def test_set_seed_and_default_device(monkeypatch):
    draws = []
    for _ in range(2):
        g = optnotes.set_seed(7)
        draws.append((torch.rand(3), torch.rand(3, generator=g)))
    assert torch.equal(draws[0][0], draws[1][0]) and torch.equal(draws[0][1], draws[1][1])
    with pytest.raises(TypeError, match="seed"):
        optnotes.set_seed(1.5)
    monkeypatch.setenv("OPTNOTES_DEVICE", "cpu")
    assert optnotes.default_device() == torch.device("cpu")
    monkeypatch.delenv("OPTNOTES_DEVICE")
    assert optnotes.default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


# --- distributions with a known answer, zero_one_loss, early stopping on a metric ---------------

def test_two_gaussians_statistics_and_bayes_error():
    p = data.TwoGaussians(n=3, separation=2.0, dtype=torch.float64)
    s = p.sample(200_000, seed=1, device=CPU)
    assert s.X.shape == (200_000, 3) and s.X.dtype == torch.float64 and s.y.dtype == torch.long
    assert float(s.y.double().mean()) == pytest.approx(0.5, abs=0.005)  # a fair coin
    for c, sign in ((0, -1.0), (1, 1.0)):
        Xc = s.X[s.y == c]
        assert torch.allclose(Xc.mean(0), torch.tensor([sign, 0.0, 0.0], dtype=torch.float64), atol=0.01)
        assert torch.allclose(torch.cov(Xc.T), torch.eye(3, dtype=torch.float64), atol=0.02)
    # Φ(−1) from scipy, and the Bayes classifier's measured error within 4 standard errors
    from scipy.stats import norm

    assert p.bayes_error == pytest.approx(norm.cdf(-1.0), rel=1e-12)
    err = float((p.bayes_predict(s.X) != s.y).double().mean())
    se = (p.bayes_error * (1 - p.bayes_error) / len(s)) ** 0.5
    assert abs(err - p.bayes_error) < 4 * se
    # no classifier does better: a shifted threshold errs more often
    assert float(((s.X[:, 0] > 0.3).long() != s.y).double().mean()) > err + 4 * se


def test_two_gaussians_seeds_and_streams():
    p = data.TwoGaussians()
    a, b, c = p.sample(50, seed=0, device=CPU), p.sample(50, seed=0, device=CPU), p.sample(50, seed=1, device=CPU)
    assert torch.equal(a.X, b.X) and not torch.equal(a.X, c.X)
    g = torch.Generator().manual_seed(0)
    first, second = p.sample(50, seed=g, device=CPU), p.sample(50, seed=g, device=CPU)
    assert torch.equal(first.X, a.X) and not torch.equal(second.X, first.X)  # a stream goes on
    with pytest.raises(ValueError, match="separation"):
        data.TwoGaussians(separation=0.0)
    with pytest.raises(TypeError, match="seed"):
        p.sample(5, seed=1.5)


def test_population_draws_are_uniform_and_fresh():
    X = torch.arange(10.0).reshape(10, 1)
    pop = data.Population(Split(X, torch.arange(10) % 2))
    assert len(pop) == 10
    draw = pop.draw(100_000, seed=2)
    counts = torch.bincount(draw.X[:, 0].long(), minlength=10).double()
    assert torch.allclose(counts / 100_000, torch.full((10,), 0.1, dtype=torch.float64), atol=0.005)
    assert torch.equal(draw.y, draw.X[:, 0].long() % 2)  # examples keep their labels
    train_set = pop.training_set(6, seed=3)
    assert torch.equal(train_set.X, pop.training_set(6, seed=3).X) and len(train_set) == 6
    stream = pop.stream(4, seed=0)
    b1, b2 = next(stream), next(stream)
    assert len(b1) == len(b2) == 4 and not torch.equal(torch.cat([b1.X, b2.X]), torch.cat([b2.X, b1.X]))
    with pytest.raises(ValueError, match="m"):
        pop.draw(0)


def test_zero_one_loss():
    from optnotes.train import zero_one_loss

    scores = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [0.0, 1.0, 0.5]])
    assert float(zero_one_loss(scores, torch.tensor([0, 1, 1, 2]))) == pytest.approx(0.5)
    logits = torch.tensor([-1.0, 2.0, 0.5])
    assert float(zero_one_loss(logits, torch.tensor([0, 1, 0]))) == pytest.approx(1 / 3)
    assert float(zero_one_loss(logits.reshape(3, 1), torch.tensor([1.0, 1.0, 1.0]))) == pytest.approx(1 / 3)
    # the same count as sklearn's
    from sklearn.metrics import zero_one_loss as sk

    g = torch.Generator().manual_seed(0)
    s, y = torch.randn(500, 4, generator=g), torch.randint(4, (500,), generator=g)
    assert float(zero_one_loss(s, y)) == pytest.approx(sk(y.numpy(), s.argmax(1).numpy()), abs=1e-7)
    with pytest.raises(ValueError, match="y must have shape"):
        zero_one_loss(scores, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="output"):
        zero_one_loss(torch.zeros(2, 2, 2), torch.tensor([0, 1]))


def test_early_stopping_on_the_zero_one_loss():
    """Patience counts evaluations of any metric: here the validation 0-1 loss of a linear
    classifier whose validation labels are the training labels flipped on a half-space."""
    from optnotes.train import zero_one_loss

    p = data.TwoGaussians(n=2, separation=4.0)
    tr = p.sample(200, seed=0, device=CPU)
    va = p.sample(200, seed=1, device=CPU)
    val = Split(va.X, torch.where(va.X[:, 1] > 0.5, 1 - va.y, va.y))
    model = torch.nn.Linear(2, 2)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    h = train(model, torch.nn.functional.cross_entropy, optnotes.SGD(model.parameters(), lr=0.5),
              tr, steps=500, batch_size=20, val=val, val_loss_fn=zero_one_loss, eval_every=1,
              patience=20, progress=False)
    assert h.stopped_early and h.step[-1] < 500
    best = min(h.val_loss)
    assert h.val_loss[h.eval_step.index(h.best_step)] == best
    assert all(v >= best for v in h.val_loss[h.eval_step.index(h.best_step):])
    assert h.step[-1] - h.best_step == 20  # twenty evaluations without a strictly lower value
    assert evaluate(model, zero_one_loss, val) == pytest.approx(best)


@pytest.mark.parametrize("shuffle", ["epoch", "once", "none"])
def test_train_shuffle_orders(shuffle):
    """The examples each step sees, recorded by a loss that notes the batch's targets."""
    X = torch.arange(12.0).reshape(12, 1)
    seen = []

    def note(out, y):
        seen.append(y.tolist())
        return (out.squeeze(-1) * 0).sum()

    model = torch.nn.Linear(1, 1)
    train(model, note, optnotes.SGD(model.parameters(), lr=0.0), Split(X, X[:, 0].clone()),
          steps=6, batch_size=4, eval_every=100, shuffle=shuffle, progress=False)
    steps = seen[1:7]  # seen[0] is the evaluation before training (full set in one batch)
    epochs = [sum(steps[0:3], []), sum(steps[3:6], [])]
    assert all(sorted(e) == list(map(float, range(12))) for e in epochs)  # every example once
    if shuffle == "none":
        assert epochs[0] == epochs[1] == list(map(float, range(12)))
    elif shuffle == "once":
        assert epochs[0] == epochs[1] != list(map(float, range(12)))
    else:
        assert epochs[0] != epochs[1]
    with pytest.raises(ValueError, match="shuffle"):
        train(model, note, optnotes.SGD(model.parameters(), lr=0.0), Split(X, X[:, 0]), steps=1,
              shuffle="always", progress=False)


def test_gradient_norm_against_a_closed_form():
    from optnotes.train import gradient_norm

    s, w = regression(noise=0.0)
    model = linear_model()  # θ = 0: the gradient of the mean squared error is −2 Xᵀy / m
    expected = (2 * s.train.X.T @ s.train.y / len(s.train)).norm()
    assert gradient_norm(model, loss_fn, s.train) == pytest.approx(float(expected), rel=1e-12)
