"""``OptimizerInfo`` entries for optnotes' optimizers, for the port of PyTorch's optimizer
tests (``test_torch_optim_suite.py``).

Built on ``torch.testing._internal.common_optimizers``: the optimizer inputs of each
optimizer's torch.optim counterpart, translated to optnotes' arguments (an input that sets
a flag optnotes does not have is dropped, and the flags dropped are listed in
``DROPPED``), plus inputs for what only optnotes has; the error inputs likewise, with
optnotes' messages, which name the argument and the value it got.
"""

from __future__ import annotations

import unittest
from copy import deepcopy

import torch
from torch.nn import Parameter
from torch.testing._internal import common_optimizers as co
from torch.testing._internal.common_methods_invocations import DecorateInfo
from torch.testing._internal.common_optimizers import (
    ErrorOptimizerInput,
    OptimizerErrorEnum,
    OptimizerInfo,
    OptimizerInput,
)

import optnotes

# torch.optim flags that optnotes' optimizers do not take (see "Differences from
# torch.optim" on the API page): an upstream input that sets one is left out.
DROPPED = {
    "capturable", "foreach", "fused", "differentiable",  # one implementation, foreach on CPU and CUDA
    "dampening",  # not in the textbook's momentum
    "centered",  # centered RMSProp is not in the textbook
    "amsgrad",  # not in Algorithm 8.7
    "lr_decay", "initial_accumulator_value",  # not in Algorithm 8.4
}
RENAMED_BY = {torch.optim.RMSprop: {"alpha": "rho"}}
RENAMED = {"alpha": "rho"}  # (only RMSprop has an alpha)


def identity_fisher(v: torch.Tensor) -> torch.Tensor:
    """F = I: the natural gradient is then the (damped) gradient."""
    return v


def _translated(torch_inputs, torch_cls, extra=()):
    """``torch_inputs`` (an upstream ``optim_inputs_func``) with torch's names mapped to
    optnotes' and the inputs that use a dropped flag (or a tensor lr) left out."""
    def inputs(device, dtype=None):
        out = []
        for oi in torch_inputs(device, dtype):
            kwargs = {RENAMED_BY.get(torch_cls, {}).get(k, k): v for k, v in oi.kwargs.items()}
            if DROPPED & kwargs.keys() or any(isinstance(v, torch.Tensor) for v in kwargs.values()):
                continue
            out.append(OptimizerInput(params=None, kwargs=kwargs, desc=oi.desc))
        return out + [OptimizerInput(params=None, kwargs=dict(k), desc=d) for d, k in extra]
    return inputs


def _own(*configs):
    def inputs(device, dtype=None):
        return [OptimizerInput(params=None, kwargs=deepcopy(k), desc=d) for d, k in configs]
    return inputs


def _error(kwargs, error_type, regex, desc, on=OptimizerErrorEnum.CONSTRUCTION_ERROR, params=None):
    return ErrorOptimizerInput(OptimizerInput(params=params, kwargs=kwargs, desc=desc),
                               error_on=on, error_type=error_type, error_regex=regex)


# optnotes' message for each of upstream's error inputs, by upstream's description; the
# exception type expected is upstream's own
MESSAGES = {
    "invalid param type": "params must be an iterable of tensors or of dicts, got a single Tensor",
    "a param group cannot have duplicate parameters": ".*a parameter group with duplicate parameters.*",
    "duplicate parameters should not occur across param groups either":
        "some parameters appear in more than one parameter group",
    "Tensor lr must be 1-element": r"lr as a tensor must have one element, got a torch\.\w+ tensor "
                                   r"of shape \(2,\)",
    "all optimizer params should be with/without names":
        "all optimizer params should be with/without names. Some param names are missing",
    "all optimizer param groups should be with/without names.":
        "all optimizer param groups should be with/without names. cannot add param group with names",
    "momentum should be between 0 and 1": r"momentum must be in \[0, 1\), got -\d",
    "rho should be between 0 and 1": r"rho must be in \[0, 1\), got 1.1",
    "beta1 should be between 0 and 1": r"betas\[0\] must be in \[0, 1\), got 1.0",
    "weight_decay should > 0": "weight_decay must be >= 0, got -1",
}
# where optnotes raises another exception type than upstream, on purpose (each one is in
# "Differences from torch.optim" on the API page, with the reason)
OTHER_TYPE = {
    # optnotes takes betas as two Python numbers: a tensor is the wrong type
    "betas must be either both floats or both Tensors":
        (TypeError, r"betas\[\d\] must be a real number, got tensor"),
}


def _upstream_errors(torch_errors, device, dtype, base):
    """Upstream's error inputs (``torch_errors``, an ``optim_error_inputs_func``): its params,
    its kwargs (on top of ``base``, torch's names mapped to optnotes'), its exception type
    unless listed in ``OTHER_TYPE``, and optnotes' message. An input that sets a flag in
    ``DROPPED`` is left out; one this table does not know fails, so that a new upstream
    input is looked at."""
    out = []
    for e in torch_errors(device, dtype):
        oi = e.optimizer_error_input
        if DROPPED & oi.kwargs.keys():
            continue
        if oi.desc in OTHER_TYPE:
            error_type, regex = OTHER_TYPE[oi.desc]
        elif oi.desc in MESSAGES:
            error_type, regex = e.error_type, MESSAGES[oi.desc]
        else:
            raise KeyError(f"upstream error input {oi.desc!r} is not in MESSAGES or OTHER_TYPE")
        kwargs = {**base, **{RENAMED.get(k, k): v for k, v in oi.kwargs.items()}}
        # upstream passes params=None where a bad hyperparameter must raise first (torch
        # checks hyperparameters before params, optnotes checks params first): give params
        params = oi.params if oi.params is not None else [
            Parameter(torch.randn(1, device=device, dtype=dtype))]
        out.append(_error(kwargs, error_type, regex, oi.desc, on=e.error_on, params=params))
    return out


def _error_inputs(base=None, first_order=True, more=(), upstream=co.get_error_inputs_for_all_optims):
    base = base or {}

    def errors(device, dtype):
        if co._get_device_type(device) != "cpu":
            return []
        out = _upstream_errors(upstream, device, dtype, base)
        q = Parameter(torch.randn(1, device=device, dtype=dtype))
        out.append(_error({**base, "lr": -1}, ValueError, r"lr must be >= 0, got -1",
                          "negative lr", params=[q]))
        out.append(_error({**base, "lr": torch.tensor(-1e-3)}, ValueError,
                          "lr must be >= 0, got -0.001", "a negative Tensor lr", params=[q]))
        p = Parameter(torch.randn(2, device=device, dtype=dtype))
        if first_order:
            p.grad = torch.randn(2, device=device, dtype=dtype).to_sparse()
            out.append(_error(base, RuntimeError, "does not support sparse gradients",
                              "sparse gradients", on=OptimizerErrorEnum.STEP_ERROR, params=[p]))
        else:
            out.append(_error(base, TypeError, "step needs closure", "a closure is needed",
                              on=OptimizerErrorEnum.STEP_ERROR, params=[p]))
        for kwargs, error_type, regex, desc in more:
            out.append(_error({**base, **kwargs}, error_type, regex, desc, params=[p]))
        return out
    return errors


# --- the intended differences that make an upstream test inapplicable ----------------------

def _skip(test: str, reason: str) -> DecorateInfo:
    return DecorateInfo(unittest.skip(reason), "TestOptimRenewed", test)


GROUPS = "works on one flattened vector, so every param group must carry the same " \
         "hyperparameters (torch.optim.LBFGS takes no groups at all)"
NEEDS_GRAPH = "needs the graph of the gradient for Hessian-vector products, which a " \
              "closure returning a constant with gradients set by hand does not give"
TOLERANCE = "tolerance_grad must be a finite number >= 0; torch also accepts -inf and inf"
DBD_REQUIRED = "kappa, phi and theta have no defaults, so a param group that sets only lr " \
               "is incomplete, and lr only sets the initial per-parameter rates"
SINGLE_DEVICE = "one flat vector on one device, like torch.optim.LBFGS"

FIRST_ORDER_SKIPS = ()
CLOSURE_SKIPS = (
    _skip("test_param_groups_lr", GROUPS),
    _skip("test_param_groups_weight_decay", GROUPS),
    _skip("test_param_group_with_lrscheduler_goes_right_direction", GROUPS),
    _skip("test_forloop_goes_right_direction_multigpu", SINGLE_DEVICE),
    _skip("test_second_order_optims_return_consistent_types", TOLERANCE),
)
NEWTON_SKIPS = CLOSURE_SKIPS + tuple(
    _skip(t, NEEDS_GRAPH) for t in ("test_load_nontensor_step", "test_deepcopy_copies_all_public_attrs",
                                    "test_non_empty_state", "test_state_dict_with_cuda_params"))
DBD_SKIPS = FIRST_ORDER_SKIPS + (
    _skip("test_param_groups_lr", DBD_REQUIRED),
    _skip("test_param_group_with_lrscheduler_goes_right_direction", DBD_REQUIRED),
)

CLOSURE_BAD = [
    ({"max_iter": 0}, ValueError, "max_iter must be >= 1, got 0", "max_iter >= 1"),
    ({"tolerance_grad": -1.0}, ValueError, "tolerance_grad must be >= 0, got -1.0",
     "tolerance_grad >= 0"),
    ({"line_search_fn": "armijo"}, ValueError, "line_search_fn must be None or "
     "'strong_wolfe', got 'armijo'", "unknown line search"),
]


def _first_order(cls, inputs, errors, skips=FIRST_ORDER_SKIPS, **kwargs):
    return OptimizerInfo(cls, optim_inputs_func=inputs, optim_error_inputs_func=errors,
                         supported_impls=(), not_og_supported_flags=("maximize",),
                         skips=skips, **kwargs)


def _closure(cls, inputs, base=None, more=(), skips=CLOSURE_SKIPS,
             upstream=co.get_error_inputs_for_all_optims):
    return OptimizerInfo(cls, optim_inputs_func=inputs,
                         optim_error_inputs_func=_error_inputs(base, False, CLOSURE_BAD + list(more),
                                                               upstream),
                         supported_impls=(), not_og_supported_flags=(), supports_complex=False,
                         step_requires_closure=True, supports_param_groups=False,
                         supports_multiple_devices=False, skips=skips)


DBD = dict(lr=0.01, kappa=0.001, phi=0.5, theta=0.7)
NATURAL = dict(fisher_vp=identity_fisher)

optim_db: list[OptimizerInfo] = [
    _first_order(optnotes.SGD, _translated(co.optim_inputs_func_sgd, torch.optim.SGD),
                 _error_inputs(upstream=co.optim_error_inputs_func_sgd)),
    _first_order(optnotes.DeltaBarDelta, _own(
        ("default", DBD), ("non-default lr", {**DBD, "lr": 0.001}),
        ("larger increase", {**DBD, "kappa": 0.01}), ("maximize", {**DBD, "maximize": True})),
        _error_inputs(DBD, more=[({"phi": 1.0}, ValueError, r"phi must be in \[0, 1\), got 1.0",
                                  "phi should be between 0 and 1")]),
        skips=DBD_SKIPS, supports_complex=False),
    _first_order(optnotes.AdaGrad, _translated(co.optim_inputs_func_adagrad, torch.optim.Adagrad),
                 _error_inputs(upstream=co.optim_error_inputs_func_adagrad, more=[
                     ({"eps": -1e-8}, ValueError, "eps must be >= 0, got -1e-08", "eps >= 0")])),
    _first_order(optnotes.RMSProp, _translated(
        co.optim_inputs_func_rmsprop, torch.optim.RMSprop,
        extra=[("momentum", {"momentum": 0.1}), ("nesterov", {"momentum": 0.9, "nesterov": True}),
               ("maximize, weight_decay, w/ momentum",
                {"momentum": 0.1, "weight_decay": 0.1, "maximize": True})]),
        _error_inputs(upstream=co.optim_error_inputs_func_rmsprop)),
    _first_order(optnotes.AdaDelta, _translated(co.optim_inputs_func_adadelta, torch.optim.Adadelta),
                 _error_inputs(upstream=co.optim_error_inputs_func_adadelta)),
    _first_order(optnotes.Adam, _translated(co.optim_inputs_func_adam, torch.optim.Adam),
                 _error_inputs(upstream=co.optim_error_inputs_func_adam)),
    _first_order(optnotes.AdamW, _translated(co.optim_inputs_func_adamw, torch.optim.AdamW),
                 _error_inputs(upstream=co.optim_error_inputs_func_adamw)),
    # the suite's losses, (Wx + b)² and sums of BatchNorm outputs, have singular Hessians,
    # where undamped Newton raises: every Newton input is damped
    _closure(optnotes.Newton, _own(
        ("damped", {"damping": 1.0}), ("non-default lr", {"damping": 0.1, "lr": 0.5}),
        ("strong_wolfe", {"damping": 1.0, "line_search_fn": "strong_wolfe"}),
        ("one iteration", {"damping": 1.0, "max_iter": 1})),
        more=[({"damping": -1.0}, ValueError, "damping must be >= 0, got -1.0", "damping >= 0")],
        skips=NEWTON_SKIPS),
    _closure(optnotes.NewtonCG, _own(
        ("default", {}), ("non-default lr", {"lr": 0.5}), ("damping", {"damping": 0.1}),
        ("fixed steps", {"line_search_fn": None, "lr": 0.5, "damping": 0.1}),
        ("max_cg_iter", {"max_cg_iter": 2})),
        more=[({"max_cg_iter": 0}, ValueError, "max_cg_iter must be >= 1, got 0", "max_cg_iter")],
        skips=NEWTON_SKIPS),
    _closure(optnotes.SaddleFreeNewton, _own(
        ("default", {}), ("damping", {"damping": 0.1}), ("krylov_dim", {"krylov_dim": 3}),
        ("strong_wolfe", {"damping": 0.1, "line_search_fn": "strong_wolfe"})),
        more=[({"krylov_dim": 0}, ValueError, "krylov_dim must be >= 1, got 0", "krylov_dim")],
        skips=NEWTON_SKIPS),
    _closure(optnotes.ConjugateGradient, _own(
        ("default", {}), ("non-default lr", {"lr": 0.01}), ("fletcher-reeves", {"beta": "fletcher-reeves"}),
        ("restart_every", {"restart_every": 2}),
        ("fixed steps", {"line_search_fn": None, "lr": 0.01})),
        more=[({"beta": "hs"}, ValueError, "beta must be 'polak-ribiere' or 'fletcher-reeves', "
               "got 'hs'", "unknown beta")]),
    _closure(optnotes.BFGS, _own(
        ("default", {}), ("non-default lr", {"lr": 0.01}), ("tolerance_grad", {"tolerance_grad": 1e-6}),
        ("fixed steps", {"line_search_fn": None, "lr": 0.01}))),
    _closure(optnotes.LBFGS, _translated(co.optim_inputs_func_lbfgs, torch.optim.LBFGS,
                                         extra=[("history_size", {"history_size": 3}),
                                                ("fixed steps", {"line_search_fn": None})]),
             more=[({"history_size": 0}, ValueError, "history_size must be >= 1, got 0",
                    "history_size")], upstream=co.optim_error_inputs_func_lbfgs),
    _first_order(optnotes.Adafactor, _translated(co.optim_inputs_func_adafactor,
                                                 torch.optim.Adafactor),
                 _error_inputs(more=[({"d": 0.5}, ValueError, "d must be >= 1, got 0.5",
                                      "d >= 1")]), supports_complex=False),
    _first_order(optnotes.Shampoo, _own(
        ("default", {}), ("graft adam", {"graft": "adam", "lr": 0.01}),
        ("momentum, graft sgd, every 2", {"momentum": 0.5, "graft": "sgd",
                                          "precondition_frequency": 2}),
        ("maximize, weight_decay", {"maximize": True, "weight_decay": 0.1})),
        _error_inputs(more=[({"eps": 0.0}, ValueError, "eps must be > 0, got 0.0", "eps > 0")]),
        supports_complex=False),
    # SOAP's default lr, 0.003, is the value the suite's load_state_dict hooks use as a flag
    _first_order(optnotes.SOAP, _own(
        ("lr 0.01", {"lr": 0.01}), ("every step", {"lr": 0.01, "precondition_frequency": 1}),
        ("maximize, weight_decay", {"lr": 0.01, "maximize": True, "weight_decay": 0.1})),
        _error_inputs(more=[({"shampoo_beta": 1.0}, ValueError,
                             r"shampoo_beta must be in \[0, 1\), got 1.0", "shampoo_beta")]),
        supports_complex=False),
    _closure(optnotes.NaturalGradient, _own(
        ("F = I", {**NATURAL, "lr": 0.01}), ("damping", {**NATURAL, "lr": 0.01, "damping": 0.1}),
        ("strong_wolfe", {**NATURAL, "line_search_fn": "strong_wolfe"})),
        base=NATURAL, more=[({"cg_tol": -1.0}, ValueError, "cg_tol must be >= 0, got -1.0", "cg_tol")]),
]
