"""The chapter-05 helpers of optnotes.lesson: probes, batches of runs, first steps,
optax runs and result tables, each checked against an independent computation."""

from __future__ import annotations

import math

import pytest
import torch

import optnotes as on
from optnotes import objectives
from optnotes.lesson import (Probe, Table, batch_of_runs, first_step, optax_minimize, sci,
                             steps_to)


def test_probe_records_once_per_step_and_reads_the_state():
    bowl = objectives.quadratic([1.0, 0.1], start=[1.0, 1.0])
    probe = Probe(lambda opt: opt.state[opt.param_groups[0]["params"][0]]["r"].clone())
    run = on.minimize(bowl, lambda p: on.AdaGrad(p, lr=0.1), bowl.start, 5, make_scheduler=probe)
    assert len(probe.log) == 5
    # r is the running sum of squared gradients H x_k along the recorded path
    H = torch.diag(torch.tensor([1.0, 0.1], dtype=torch.float64))
    grads = run.points[:-1] @ H
    torch.testing.assert_close(probe.log[-1], (grads**2).sum(dim=0), rtol=1e-12, atol=0)


def test_probe_must_be_bound_before_it_steps():
    with pytest.raises(RuntimeError, match="optimizer"):
        Probe(lambda opt: 0).step()


@pytest.mark.parametrize("make", [on.AdaGrad, on.Adam, lambda p: on.RMSProp(p, momentum=0.9)])
def test_batch_of_runs_equals_separate_runs(make):
    obj = objectives.rosenbrock(2)
    starts = torch.tensor([[-1.0, 1.0], [0.5, 2.0], [1.5, -0.5]], dtype=torch.float64)
    lrs = [1e-3, 1e-2]
    points = batch_of_runs(obj, make, lrs, starts, 25)
    assert points.shape == (26, 2, 3, 2) and points.dtype == torch.float64
    for i, lr in enumerate(lrs):
        for j, x0 in enumerate(starts):
            def single(p, lr=lr):
                opt = make(p)
                opt.param_groups[0]["lr"] = lr
                return opt
            ref = on.minimize(obj, single, x0, 25).points
            torch.testing.assert_close(points[:, i, j], ref, rtol=0, atol=1e-14)


def test_steps_to():
    assert steps_to([3.0, 2.0, 0.5, 0.1], 1.0) == 2
    assert steps_to([3.0, 2.0], 1.0) == math.inf
    assert steps_to([0.0], 1.0) == 0


def test_first_step_against_torch_formulas():
    assert first_step(lambda p: torch.optim.SGD(p, lr=0.1), -3.0) == pytest.approx(0.3, rel=1e-15)
    # Adam's first step is lr g / (|g| + eps) (Kingma & Ba 2015, Algorithm 1)
    got = first_step(lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-8), 1e-6)
    assert got == pytest.approx(1e-3 * 1e-6 / (1e-6 + 1e-8), rel=1e-12)


def test_optax_minimize_matches_torch_sgd_and_restores_jax_precision():
    optax = pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    obj = objectives.rosenbrock(2)
    before = jax.config.jax_enable_x64
    got = optax_minimize(obj, optax.sgd(1e-3, momentum=0.9), obj.start, 30)
    ref = on.minimize(obj, lambda p: torch.optim.SGD(p, lr=1e-3, momentum=0.9), obj.start, 30)
    assert got.shape == (31, 2) and got.dtype == torch.float64
    torch.testing.assert_close(got, ref.points, rtol=0, atol=1e-13)
    assert jax.config.jax_enable_x64 == before


def test_table_as_markdown_and_html():
    table = Table(["a", "b"], [[1, "x"], [2.5, "<y>"]])
    assert table._repr_markdown_().splitlines() == [
        "| a | b |", "|---|---|", "| 1 | x |", "| 2.5 | <y> |"]
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and "<th>a</th>" in html and "&lt;y&gt;" in html
    with pytest.raises(ValueError, match="2 cells"):
        Table(["a", "b"], [[1]])


@pytest.mark.parametrize("x, digits, text", [
    (8.84e-6, 1, "8.8 × 10⁻⁶"), (5.27e-4, 0, "5 × 10⁻⁴"), (2e-15, 0, "2 × 10⁻¹⁵"),
    (9.96e-5, 0, "10⁻⁴"), (-3e-7, 1, "−3.0 × 10⁻⁷"), (0.0, 1, "0"), (0.0316, 1, "0.032"),
    (12345.0, 2, "1.23 × 10⁴"), (100.0, 0, "100"), (97.63, 2, "97.6"),
])
def test_sci(x, digits, text):
    assert sci(x, digits) == text
