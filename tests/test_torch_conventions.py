"""optnotes' optimizers follow torch.optim's conventions where a PyTorch user relies on them.

Complex parameters (as pairs of reals), ``maximize``, param groups that carry ``lr``,
validated ``load_state_dict``, copies and pickles, the closure protocol of
``torch.optim.LBFGS`` (preset gradients, closures returning a plain number), and the Newton
family on a loss that is linear in the parameters.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

import optnotes

F64 = torch.float64

# optnotes optimizer, torch.optim counterpart, hyperparameters of both (same iterates)
PAIRS = [
    ("sgd", lambda p, **k: optnotes.SGD(p, lr=0.1, **k),
     lambda p, **k: torch.optim.SGD(p, lr=0.1, **k)),
    ("sgd-momentum", lambda p, **k: optnotes.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1, **k),
     lambda p, **k: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1, **k)),
    ("sgd-nesterov", lambda p, **k: optnotes.SGD(p, lr=0.05, momentum=0.9, nesterov=True, **k),
     lambda p, **k: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, **k)),
    ("adagrad", lambda p, **k: optnotes.AdaGrad(p, lr=0.1, eps=1e-10, **k),
     lambda p, **k: torch.optim.Adagrad(p, lr=0.1, eps=1e-10, **k)),
    # δ sits inside RMSProp's root here and outside in torch: equal iterates need δ = 0
    ("rmsprop", lambda p, **k: optnotes.RMSProp(p, lr=0.01, rho=0.9, eps=0.0, **k),
     lambda p, **k: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0, **k)),
    ("rmsprop-momentum", lambda p, **k: optnotes.RMSProp(p, lr=0.01, rho=0.9, eps=0.0,
                                                         momentum=0.5, **k),
     lambda p, **k: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0, momentum=0.5, **k)),
    ("adadelta", lambda p, **k: optnotes.AdaDelta(p, lr=1.0, rho=0.9, eps=1e-6, **k),
     lambda p, **k: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6, **k)),
    ("adam", lambda p, **k: optnotes.Adam(p, lr=0.01, weight_decay=0.1, **k),
     lambda p, **k: torch.optim.Adam(p, lr=0.01, weight_decay=0.1, **k)),
]
PAIR_IDS = [p[0] for p in PAIRS]

FIRST_ORDER = [
    lambda p, **k: optnotes.SGD(p, lr=0.1, momentum=0.9, nesterov=True, **k),
    lambda p, **k: optnotes.AdaGrad(p, **k),
    lambda p, **k: optnotes.RMSProp(p, momentum=0.9, nesterov=True, **k),
    lambda p, **k: optnotes.AdaDelta(p, **k),
    lambda p, **k: optnotes.Adam(p, **k),
]
CLOSURE_CLASSES = [optnotes.Newton, optnotes.NewtonCG, optnotes.SaddleFreeNewton,
                   optnotes.ConjugateGradient, optnotes.BFGS, optnotes.LBFGS]


def _grads(shape, steps, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    real = F64 if dtype == torch.complex128 else dtype
    return [torch.randn(*shape, generator=gen, dtype=real).to(dtype)
            if not dtype.is_complex else
            torch.complex(torch.randn(*shape, generator=gen, dtype=real),
                          torch.randn(*shape, generator=gen, dtype=real))
            for _ in range(steps)]


def _run(make, x0, grads, **kwargs):
    x = x0.clone().requires_grad_(True)
    opt = make([x], **kwargs)
    for g in grads:
        x.grad = g.clone()
        opt.step()
    return x.detach()


def _rel(a, b):
    a, b = torch.view_as_real(a) if a.is_complex() else a, torch.view_as_real(b) if b.is_complex() else b
    return float((a - b).abs().max() / b.abs().max())


# --- complex parameters --------------------------------------------------------------------

def test_adagrad_on_a_complex_number_moves_each_real_component():
    """The issue's example: from z = 1+1j with g = 1+1j, lr = 0.1 gives 0.9+0.9j (torch)."""
    z = _run(lambda p: optnotes.AdaGrad(p, lr=0.1, eps=1e-10),
             torch.tensor([1 + 1j], dtype=torch.complex128),
             [torch.tensor([1 + 1j], dtype=torch.complex128)])
    assert abs(complex(z[0]) - (0.9 + 0.9j)) < 1e-9  # the complex square gives 0.9+1.0j


@pytest.mark.parametrize("name,ours,theirs", PAIRS, ids=PAIR_IDS)
def test_complex_parameters_agree_with_torch_optim(name, ours, theirs):
    z0 = _grads((4, 3), 1, torch.complex128, seed=1)[0]
    grads = _grads((4, 3), 8, torch.complex128)
    a, b = _run(ours, z0, grads), _run(theirs, z0, grads)
    assert _rel(a, b) <= 1e-12, name


@pytest.mark.parametrize("make", FIRST_ORDER)
def test_complex_parameter_steps_like_its_real_view(make):
    z0 = _grads((5,), 1, torch.complex128, seed=2)[0]
    grads = _grads((5,), 6, torch.complex128)
    z = _run(make, z0, grads)
    r = _run(make, torch.view_as_real(z0).clone(), [torch.view_as_real(g).clone() for g in grads])
    assert torch.equal(torch.view_as_real(z), r)


@pytest.mark.parametrize("make", [lambda p: optnotes.DeltaBarDelta(p, lr=0.1, kappa=0.01,
                                                                     phi=0.5, theta=0.7)]
                         + [lambda p, c=c: c(p) for c in CLOSURE_CLASSES]
                         + [lambda p: optnotes.NaturalGradient(p, fisher_vp=lambda v: v)],
                         ids=["delta-bar-delta"] + [c.__name__ for c in CLOSURE_CLASSES]
                         + ["NaturalGradient"])
def test_unsupported_complex_parameters_are_rejected_naming_the_dtype(make):
    z = torch.zeros(3, dtype=torch.complex64, requires_grad=True)
    with pytest.raises(TypeError, match="complex64"):
        make([z])
    opt = make([torch.zeros(3, requires_grad=True)])
    with pytest.raises(TypeError, match="complex64"):
        opt.add_param_group({"params": [z]})
    assert len(opt.param_groups) == 1


# --- maximize --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,ours,theirs", PAIRS, ids=PAIR_IDS)
def test_maximize_gives_torch_optims_iterates(name, ours, theirs):
    x0 = _grads((6,), 1, F64, seed=3)[0]
    grads = _grads((6,), 8, F64)
    a = _run(ours, x0, grads, maximize=True)
    b = _run(theirs, x0, grads, maximize=True)
    assert _rel(a, b) <= 1e-12
    assert _rel(a, _run(ours, x0, grads)) > 1e-3  # and it is not descent


def test_delta_bar_delta_maximize_is_descent_on_minus_the_gradient():
    make = lambda p, **k: optnotes.DeltaBarDelta(p, lr=0.1, kappa=0.01, phi=0.5, theta=0.7, **k)  # noqa: E731
    x0, grads = _grads((6,), 1, F64, seed=4)[0], _grads((6,), 8, F64)
    assert torch.equal(_run(make, x0, grads, maximize=True), _run(make, x0, [-g for g in grads]))


@pytest.mark.parametrize("make", FIRST_ORDER)
def test_bad_maximize_is_rejected(make):
    with pytest.raises(TypeError, match="maximize must be True or False, got 1"):
        make([torch.zeros(2, requires_grad=True)], maximize=1)


# --- param groups without a top-level lr -----------------------------------------------------

@pytest.mark.parametrize("cls", [optnotes.SGD, optnotes.AdaGrad, optnotes.RMSProp,
                                 optnotes.AdaDelta, optnotes.Adam] + CLOSURE_CLASSES)
def test_built_from_param_groups_that_set_lr(cls):
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    opt = cls([{"params": [a], "lr": 0.5}, {"params": [b], "lr": 0.5}])
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]


def test_sgd_default_lr_is_torchs():
    opt = optnotes.SGD([torch.zeros(2, requires_grad=True)])
    assert opt.param_groups[0]["lr"] == torch.optim.SGD([torch.zeros(2)]).defaults["lr"]


def test_delta_bar_delta_from_groups_needs_all_four_in_each_group():
    a = torch.zeros(2, requires_grad=True)
    hyper = dict(lr=0.1, kappa=0.01, phi=0.5, theta=0.7)
    opt = optnotes.DeltaBarDelta([{"params": [a], **hyper}])
    assert opt.param_groups[0]["kappa"] == 0.01
    with pytest.raises(ValueError, match="kappa"):
        optnotes.DeltaBarDelta([{"params": [a], "lr": 0.1, "phi": 0.5, "theta": 0.7}])


# --- load_state_dict validates -----------------------------------------------------------------

@pytest.mark.parametrize("make", FIRST_ORDER + [lambda p: optnotes.LBFGS(p)])
def test_load_state_dict_rejects_a_bad_hyperparameter_and_keeps_the_old(make):
    x = torch.ones(3, requires_grad=True)
    opt = make([x])
    sd = copy.deepcopy(opt.state_dict())
    sd["param_groups"][0]["lr"] = -1
    with pytest.raises(ValueError, match="lr.*-1"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] > 0 and opt.param_groups[0]["params"] == [x]


@pytest.mark.parametrize("make", FIRST_ORDER)
def test_load_state_dict_without_maximize_takes_the_constructors(make):
    x = torch.ones(3, requires_grad=True)
    opt = make([x])
    sd = copy.deepcopy(opt.state_dict())
    del sd["param_groups"][0]["maximize"]
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["maximize"] is False
    x.grad = torch.ones(3)
    opt.step()


# --- NaturalGradient: copies and pickles ------------------------------------------------------

def fisher_identity_times_two(v):
    return 2 * v


def _natural(fvp):
    x = torch.tensor([1.0, -2.0, 0.5], dtype=F64, requires_grad=True)
    return x, optnotes.NaturalGradient([x], fisher_vp=fvp, damping=0.1, max_iter=2)


def _closure(opt, x):
    def closure():
        opt.zero_grad()
        loss = (x**4).sum() + x.sum()
        loss.backward()
        return loss
    return closure


def test_natural_gradient_deepcopy_steps_like_the_original():
    x, opt = _natural(lambda v: 2 * v)
    opt.step(_closure(opt, x))
    x2, opt2 = copy.deepcopy((x, opt))
    assert opt2.fisher_vp is opt.fisher_vp
    for _ in range(2):
        opt.step(_closure(opt, x))
        opt2.step(_closure(opt2, x2))
    assert torch.equal(x, x2)


def test_natural_gradient_shallow_copy_keeps_fisher_vp():
    _, opt = _natural(lambda v: 2 * v)
    assert copy.copy(opt).fisher_vp is opt.fisher_vp


def test_natural_gradient_pickles_with_a_module_level_fisher_vp():
    x, opt = _natural(fisher_identity_times_two)
    opt.step(_closure(opt, x))
    x2, opt2 = pickle.loads(pickle.dumps((x, opt)))
    opt.step(_closure(opt, x))
    opt2.step(_closure(opt2, x2))
    assert torch.equal(x, x2)


def test_natural_gradient_with_a_lambda_refuses_pickle_saying_why():
    _, opt = _natural(lambda v: 2 * v)
    with pytest.raises(TypeError, match="fisher_vp.*state_dict"):
        pickle.dumps(opt)


# --- the closure protocol of torch.optim.LBFGS ------------------------------------------------

def test_lbfgs_reads_preset_gradients_and_a_plain_number_like_torch():
    points = []
    for cls in (optnotes.LBFGS, torch.optim.LBFGS):
        x = torch.tensor([1.0, 2.0, -1.0], dtype=F64, requires_grad=True)
        opt = cls([x], lr=0.1, max_iter=3, line_search_fn=None)
        x.grad = torch.tensor([1.0, -1.0, 0.5], dtype=F64)
        assert opt.step(lambda: 3.0) == 3.0
        points.append(x.detach().clone())
    assert torch.allclose(points[0], points[1], rtol=1e-14, atol=0)
    assert not torch.equal(points[0], torch.tensor([1.0, 2.0, -1.0], dtype=F64))


@pytest.mark.parametrize("make", [
    lambda p: optnotes.BFGS(p, line_search_fn=None, max_iter=1),
    lambda p: optnotes.ConjugateGradient(p, line_search_fn=None, max_iter=1),
    lambda p: optnotes.NaturalGradient(p, fisher_vp=lambda v: v, damping=0.0, max_iter=1),
], ids=["BFGS", "ConjugateGradient", "NaturalGradient"])
def test_gradient_methods_read_gradients_set_by_the_closure(make):
    x = torch.zeros(3, dtype=F64, requires_grad=True)
    opt = make([x])
    g = torch.tensor([0.5, -0.25, 0.125], dtype=F64)

    def closure():
        x.grad = g.clone()
        return torch.tensor(1.0)

    opt.step(closure)
    direction = -x.detach() / x.detach().norm()
    assert torch.allclose(direction, g / g.norm(), atol=1e-12)


@pytest.mark.parametrize("cls", CLOSURE_CLASSES + [optnotes.NaturalGradient])
def test_zero_preset_gradient_and_a_number_is_a_no_op(cls):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    kwargs = {"fisher_vp": lambda v: v} if cls is optnotes.NaturalGradient else {}
    opt = cls([x], **kwargs)
    x.grad = torch.zeros(2)
    assert opt.step(lambda: 1) == 1
    assert torch.equal(x, torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("cls", [optnotes.Newton, optnotes.NewtonCG, optnotes.SaddleFreeNewton])
def test_newton_family_without_a_graph_says_it_needs_one(cls):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    opt = cls([x], damping=1.0)
    x.grad = torch.ones(2)
    with pytest.raises(RuntimeError, match="needs the Hessian.*loss.backward"):
        opt.step(lambda: 1.0)


# --- the Newton family on a linear loss (H = 0) ------------------------------------------------

def _linear(cls, c, **kwargs):
    x = torch.tensor([1.0, 2.0, 3.0], dtype=F64, requires_grad=True)
    opt = cls([x], max_iter=1, **kwargs)

    def closure():
        opt.zero_grad()
        loss = (c * x).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return x.detach()


@pytest.mark.parametrize("cls", [optnotes.Newton, optnotes.SaddleFreeNewton])
def test_damped_newton_on_a_linear_loss_steps_minus_g_over_damping(cls):
    c = torch.tensor([3.0, -4.0, 0.5], dtype=F64)
    x = _linear(cls, c, damping=2.0)
    assert torch.allclose(x, torch.tensor([1.0, 2.0, 3.0], dtype=F64) - c / 2.0, atol=1e-15)


def test_newton_cg_on_a_linear_loss_steps_downhill():
    c = torch.tensor([3.0, -4.0, 0.5], dtype=F64)
    x = _linear(optnotes.NewtonCG, c, damping=2.0, line_search_fn=None)
    assert torch.allclose(x, torch.tensor([1.0, 2.0, 3.0], dtype=F64) - c / 2.0, atol=1e-12)


@pytest.mark.parametrize("cls", [optnotes.Newton, optnotes.NewtonCG, optnotes.SaddleFreeNewton])
def test_newton_family_on_a_constant_gradient_of_zero_does_nothing(cls):
    x = _linear(cls, torch.zeros(3, dtype=F64), damping=0.0)
    assert torch.equal(x, torch.tensor([1.0, 2.0, 3.0], dtype=F64))


@pytest.mark.parametrize("cls", [optnotes.Newton, optnotes.SaddleFreeNewton])
def test_undamped_newton_on_a_singular_hessian_says_to_damp(cls):
    with pytest.raises(torch.linalg.LinAlgError, match="singular.*damping > 0"):
        _linear(cls, torch.tensor([1.0, 1.0, 1.0], dtype=F64), damping=0.0)
