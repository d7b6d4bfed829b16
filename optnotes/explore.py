"""The interactive figures of the chapters: each runs ``optnotes`` over a grid of values of
the parameter a reader moves, and returns an :class:`optnotes.interactive.SliderFigure`.

Every run is small (a 2-D objective, a linear model, a digits-sized network for a few
hundred steps) so that a chapter computes its grid in a few seconds on a CPU.
"""

from __future__ import annotations

import functools
import math

import torch

from . import objectives
from .adaptive import AdaGrad, Adam, RMSProp
from .clipping import clip_grad_norm_
from .data import TwoGaussians, digits, linear_regression
from .first_order import SGD
from .interactive import Slider, SliderFigure, slider_figure
from .models import mlp
from .second_order import Newton, conjugate_gradient
from .train import minimize


def _one_thread(make):
    """Run ``make`` on one CPU thread: these runs are too small for a second thread to
    help, and on a busy machine its waiting costs more than the work."""
    @functools.wraps(make)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return make(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
    return wrapper


def _gap(objective, make_optimizer, steps: int, x0=None) -> tuple[list, list]:
    """Steps 0..steps and the optimality gap f(x_k) − f* of a run on ``objective``."""
    run = minimize(objective, make_optimizer, objective.start if x0 is None else x0, steps,
                   keep_points=False)
    return list(range(steps + 1)), (run.values - objective.minimum).tolist()


@_one_thread
def momentum_on_quadratic(lrs=(0.1, 0.3, 0.6, 1.0, 1.5, 1.9),
                          momenta=(0.0, 0.5, 0.8, 0.9, 0.95), condition_number: float = 50.0,
                          steps: int = 120) -> SliderFigure:
    """Chapter 4: gradient descent with momentum on a rotated quadratic whose largest
    curvature is 1 (plain descent is stable for ε < 2), for each step size and momentum."""
    q = objectives.rotated_quadratic(condition_number)
    plain = {lr: _gap(q, lambda p, lr=lr: SGD(p, lr=lr), steps) for lr in lrs}
    frames = [[{"momentum α": _gap(q, lambda p, lr=lr, a=a: SGD(p, lr=lr, momentum=a), steps),
                "plain descent (α = 0)": plain[lr]} for a in momenta] for lr in lrs]
    return slider_figure([Slider("step size ε", lrs, start=len(lrs) // 2),
                          Slider("momentum α", momenta)],
                         frames, x_label="step k", y_label="f(θ_k) − f*", y_log=True,
                         limit=1e3)


@_one_thread
def clipping_on_cliff(thresholds=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0), lr: float = 0.5,
                      steps: int = 60) -> SliderFigure:
    """Chapter 3: gradient descent from the plateau of :func:`optnotes.objectives.cliff`, with the
    gradient's norm clipped at each threshold, against the unclipped run."""
    cliff = objectives.cliff()

    def run(threshold):
        x = cliff.start.clone().requires_grad_(True)
        xs = [x[0].item()]
        for _ in range(steps):
            x.grad = None
            cliff(x).backward()
            if threshold is not None:
                clip_grad_norm_([x], threshold)
            with torch.no_grad():
                x -= lr * x.grad
            xs.append(x[0].item())
        return list(range(steps + 1)), xs

    unclipped = run(None)
    frames = [{"clipped": run(v), "not clipped": unclipped} for v in thresholds]
    return slider_figure(Slider("clipping threshold v", thresholds,
                                start=len(thresholds) // 2), frames,
                         x_label="step k", y_label="first coordinate x_k (cliff at x = 1)",
                         limit=50.0)


@_one_thread
def adaptive_learning_rates(lrs=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
                            condition_number: float = 100.0, steps: int = 200) -> SliderFigure:
    """Chapter 5: AdaGrad, RMSProp and Adam with the same learning rate on one rotated
    quadratic, for each learning rate."""
    q = objectives.rotated_quadratic(condition_number)
    methods = {"AdaGrad": AdaGrad, "RMSProp": RMSProp, "Adam": Adam}
    frames = [{name: _gap(q, lambda p, m=m, lr=lr: m(p, lr=lr), steps)
               for name, m in methods.items()} for lr in lrs]
    return slider_figure(Slider("learning rate ε", lrs, start=len(lrs) // 2), frames,
                         x_label="step k", y_label="f(θ_k) − f*", y_log=True, limit=1e6)


@_one_thread
def newton_damping(dampings=(0.0, 0.01, 0.1, 1.0, 10.0, 100.0),
                   steps: int = 30) -> SliderFigure:
    """Chapter 6: damped Newton steps, θ ← θ − (H + αI)⁻¹ g, on Rosenbrock's function from
    (−1.2, 1), for each damping α: a large α turns them into short gradient steps."""
    rosen = objectives.rosenbrock()
    frames = [{"Newton, damping α": _gap(rosen, lambda p, a=a: Newton(p, damping=a, max_iter=1),
                                         steps)} for a in dampings]
    return slider_figure(Slider("damping α", dampings, start=len(dampings) // 2), frames,
                         x_label="iteration k", y_label="f(θ_k) − f*", y_log=True, limit=1e6)


@_one_thread
def conjugate_gradients_condition(kappas=(1.0, 10.0, 100.0, 1e3, 1e4, 1e5), n: int = 20,
                                  steps: int = 40) -> SliderFigure:
    """Chapter 6: linear conjugate gradients and gradient descent (ε = 1/λ_max) on an
    n-dimensional quadratic, relative error ‖θ_k − θ*‖/‖θ_0 − θ*‖, for each condition
    number κ."""
    def run(kappa):
        q = objectives.rotated_quadratic(kappa, n=n)
        A, zero, start = q.hessian(), torch.zeros(n, dtype=torch.float64), q.start
        cg = [1.0] + [float(conjugate_gradient(lambda v: A @ v, zero, x0=start, tol=0.0,
                                               max_iter=k).x.norm() / start.norm())
                      for k in range(1, steps + 1)]
        gd = minimize(q, lambda p: SGD(p, lr=1.0), start, steps).points
        return {"conjugate gradients": (list(range(steps + 1)), cg),
                "gradient descent": (list(range(steps + 1)),
                                     (gd.norm(dim=1) / start.norm()).tolist())}

    return slider_figure(Slider("condition number κ", kappas, fmt="{:.0e}",
                                start=len(kappas) // 2), [run(k) for k in kappas],
                         x_label="step k", y_label="‖θ_k − θ*‖ / ‖θ_0 − θ*‖", y_log=True)


@_one_thread
def batch_size_progress(batch_sizes=(1, 4, 16, 64, 256, 800), lr: float = 0.05,
                        examples: int = 16_000, points: int = 100) -> SliderFigure:
    """Chapter 2: SGD on a linear regression with 800 training examples: training loss
    against the number of examples processed, for each batch size, against full-batch
    gradient descent (each step of which processes all 800)."""
    data = linear_regression(m=1000, n=10, noise=0.1, seed=0)[0].train
    X, y = data.X.double().cpu(), data.y.double().cpu()

    def run(b):
        gen = torch.Generator().manual_seed(0)
        w = torch.zeros(X.shape[1], dtype=torch.float64)
        steps = examples // b
        every = max(1, steps // points)
        seen, losses = [0], [0.5 * (y ** 2).mean().item()]
        for k in range(1, steps + 1):
            idx = torch.randint(len(X), (b,), generator=gen) if b < len(X) else slice(None)
            w -= lr * X[idx].T @ (X[idx] @ w - y[idx]) / b
            if k % every == 0:
                seen.append(k * b)
                losses.append(0.5 * ((X @ w - y) ** 2).mean().item())
        return seen, losses

    full = run(len(X))
    frames = [{"minibatch SGD": run(b), "full batch": full} for b in batch_sizes]
    return slider_figure(Slider("batch size m", batch_sizes, fmt="{:d}",
                                start=len(batch_sizes) // 2), frames,
                         x_label="examples processed", y_label="training loss", y_log=True,
                         limit=1e6)


@_one_thread
def training_set_size(sizes=(10, 20, 40, 80, 160, 320), steps: int = 300,
                      lr: float = 0.5, every: int = 5) -> SliderFigure:
    """Chapter 1: logistic regression on two Gaussian classes in 20 dimensions, trained by
    gradient descent on m examples: training and test error, for each m."""
    problem = TwoGaussians(n=20, separation=1.5)
    test = problem.sample(2000, seed=1, device="cpu")

    def run(m):
        train = problem.sample(m, seed=0, device="cpu")
        w = torch.zeros(train.X.shape[1] + 1, dtype=torch.float64, requires_grad=True)
        opt = SGD([w], lr=lr)
        Xtr = torch.cat([train.X.double(), torch.ones(m, 1, dtype=torch.float64)], 1)
        Xte = torch.cat([test.X.double(), torch.ones(len(test.X), 1, dtype=torch.float64)], 1)
        ytr, yte = train.y.double(), test.y.double()
        ks, tr, te = [], [], []
        for k in range(steps + 1):
            if k % every == 0:
                with torch.no_grad():
                    ks.append(k)
                    tr.append(((Xtr @ w > 0).double() != ytr).double().mean().item())
                    te.append(((Xte @ w > 0).double() != yte).double().mean().item())
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(Xtr @ w, ytr).backward()
            opt.step()
        return ks, tr, te

    frames = []
    for m in sizes:
        k, tr, te = run(m)
        frames.append({"training error": (k, tr), "test error": (k, te)})
    return slider_figure(Slider("training examples m", sizes, fmt="{:d}",
                                start=len(sizes) // 2), frames,
                         x_label="step", y_label="0-1 error")


@_one_thread
def initialization_gain(gains=(0.5, 0.8, 1.0, 1.1, 1.3, 5 / 3, 2.0, 3.0), depth: int = 20,
                        width: int = 100, seed: int = 0) -> SliderFigure:
    """Chapter 7: a deep tanh network with weights N(0, gain²/fan_in): the standard
    deviation of each layer's activations and of the gradient with respect to them (of a
    random linear read-out of the last layer), per gain."""
    x = torch.randn(256, width, generator=torch.Generator().manual_seed(seed))
    readout = torch.randn(256, width, generator=torch.Generator().manual_seed(seed + 2))

    def run(gain):
        gen = torch.Generator().manual_seed(seed + 1)
        h, acts = x, []
        weights = [(torch.randn(width, width, generator=gen) * gain / math.sqrt(width))
                   .requires_grad_(True) for _ in range(depth)]
        outs = []
        for W in weights:
            h = torch.tanh(h @ W)
            h.retain_grad()
            outs.append(h)
            acts.append(h.std().item())
        (h * readout).sum().backward()
        grads = [o.grad.std().item() for o in outs]
        layers = list(range(1, depth + 1))
        return {"activations": (layers, acts), "gradients": (layers, grads)}

    return slider_figure(Slider("gain", gains, fmt="{:.3g}", start=len(gains) // 2),
                         [run(g) for g in gains], x_label="layer", y_label="standard deviation",
                         y_log=True, limit=1e12)


def _digits_run(model, opt, sched, data, steps: int, batch: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(data.X), (batch,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(data.X[idx]), data.y[idx])
        losses.append(loss.item() if math.isfinite(loss.item()) else math.nan)
        opt.zero_grad()
        if not math.isfinite(loss.item()):
            losses.extend([math.nan] * (steps - len(losses)))
            break
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    return list(range(len(losses))), losses


@_one_thread
def batch_norm_learning_rate(lrs=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0), steps: int = 100,
                             depth: int = 6, width: int = 32, seed: int = 0) -> SliderFigure:
    """Chapter 8: a deep tanh network on the digits, trained by SGD with and without batch
    normalization, at each learning rate: training loss per step."""
    data = digits(seed=0, device="cpu").train

    def run(lr, bn):
        torch.manual_seed(seed)
        model = mlp([64] + [width] * depth + [10], batch_norm=bn)
        return _digits_run(model, SGD(model.parameters(), lr=lr), None, data, steps, 64, seed)

    frames = [{"with batch normalization": run(lr, True), "without": run(lr, False)}
              for lr in lrs]
    return slider_figure(Slider("learning rate ε", lrs, start=len(lrs) // 2), frames,
                         x_label="step",
                         y_label="training loss", limit=20.0)


@_one_thread
def warmup_length(warmups=(0, 5, 10, 25, 50, 100), lr: float = 0.1, steps: int = 150,
                  seed: int = 0) -> SliderFigure:
    """Chapter 9: Adam at a large learning rate on a digits network, with the learning
    rate raised linearly from 0 over the first w steps: training loss per step."""
    data = digits(seed=0, device="cpu").train

    def run(w):
        torch.manual_seed(seed)
        model = mlp([64, 64, 64, 10], activation=torch.nn.ReLU)
        opt = Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / (w + 1)))
        return _digits_run(model, opt, sched, data, steps, 64, seed)

    frames = [{"Adam with warmup": run(w)} for w in warmups]
    return slider_figure(Slider("warmup steps w", warmups, fmt="{:d}", start=0), frames,
                         x_label="step", y_label="training loss", limit=20.0)


@_one_thread
def newton_schulz_steps(steps=(0, 1, 2, 3, 4, 5, 6, 8), n: int = 64,
                        seed: int = 0) -> SliderFigure:
    """Chapter 10: what k Newton–Schulz iterations (``optnotes.muon.newton_schulz``, in
    float32) do to the singular values of a matrix, for Muon's quintic and for the
    classical cubic, against the polar factor's (all 1)."""
    from .muon import NS_COEFFICIENTS, newton_schulz

    gen = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    sigma = torch.logspace(-3, 0, n, dtype=torch.float64)
    G = (U * sigma) @ V.T
    # σ / ‖G‖_F: the scale the iteration starts from
    start = (sigma / G.norm()).tolist()

    def singular_values(k, coefficients):
        X = newton_schulz(G, steps=k, coefficients=coefficients, dtype=torch.float32)
        return (U.T @ X.double() @ V).diagonal().tolist()  # X keeps U and V

    frames = [{"Muon's quintic": (start, singular_values(k, NS_COEFFICIENTS)),
               "classical cubic": (start, singular_values(k, (1.5, -0.5, 0.0)))}
              for k in steps]
    return slider_figure(Slider("iterations k", steps, fmt="{:d}", start=steps.index(5)),
                         frames, x_label="singular value of G / ‖G‖_F",
                         y_label="singular value after k iterations", x_log=True)
