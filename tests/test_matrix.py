"""Adafactor and Muon against torch.optim; Shampoo and SOAP against float64 loop
re-implementations of their papers' algorithms (numpy, written from the papers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import optnotes
from optnotes.muon import newton_schulz

SHAPES = [(6, 4), (4,), (3, 7)]


def _start(shapes=SHAPES, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]


def _loss(params, t=None):
    """A smooth non-quadratic loss whose gradients couple rows and columns; with a step
    number ``t``, plus a linear term drawn from it (a gradient that changes from step to
    step even where the parameters do not, as a minibatch's would)."""
    out = 0.0
    for i, p in enumerate(params):
        m = p.reshape(p.shape[0], -1)
        out = out + (p.sin() * p**2).sum() + 0.1 * (p**4).sum() + (m @ m.T).square().sum() / 50
        if t is not None:
            gen = torch.Generator().manual_seed(1000 * t + i)
            out = out + (p * torch.randn(p.shape, generator=gen, dtype=p.dtype)).sum()
    return out


def _grad(params_np, t=None):
    """The gradient of ``_loss`` at numpy arrays (through torch autograd, float64)."""
    ts = [torch.tensor(x, requires_grad=True) for x in params_np]
    _loss(ts, t).backward()
    return [t.grad.numpy() for t in ts]


def _run(make, steps, start=None, noisy=False):
    params = [p.clone().requires_grad_() for p in (start or _start())]
    opt = make(params)
    for t in range(1, steps + 1):
        opt.zero_grad()
        _loss(params, t if noisy else None).backward()
        opt.step()
    return [p.detach() for p in params], opt


def _max_diff(a, b):
    return max(float((torch.as_tensor(x) - torch.as_tensor(y)).abs().max()) for x, y in zip(a, b))


# --- Adafactor ------------------------------------------------------------------------------

ADAFACTOR_KW = [dict(), dict(lr=0.05, weight_decay=0.1, d=1.5, eps=(1e-20, 1e-3),
                             beta2_decay=-0.5), dict(maximize=True, lr=0.003)]


@pytest.mark.parametrize("kw", ADAFACTOR_KW, ids=str)
def test_adafactor_equals_torch(kw):
    start = _start(SHAPES + [(2, 3, 5)])
    ours, _ = _run(lambda p: optnotes.Adafactor(p, **kw), 30, start)
    theirs, _ = _run(lambda p: torch.optim.Adafactor(p, **kw), 30, start)
    assert _max_diff(ours, theirs) < 1e-10
    assert _max_diff(ours, start) > 1e-2  # it moved


def test_adafactor_state_is_factored():
    _, opt = _run(lambda p: optnotes.Adafactor(p), 2)
    w, b, v = opt.param_groups[0]["params"]
    assert opt.state[w]["r"].shape == (6, 1) and opt.state[w]["c"].shape == (1, 4)
    assert opt.state[b]["v"].shape == (4,) and "r" not in opt.state[b]
    for p in (w, b, v):
        spec = opt._state_spec(p, opt.param_groups[0])
        assert {k: (tuple(x.shape), x.dtype) for k, x in opt.state[p].items()} == spec


# --- Muon -----------------------------------------------------------------------------------

MUON_KW = [dict(), dict(lr=0.02, weight_decay=0.01, nesterov=False, momentum=0.9, ns_steps=3,
                        adjust_lr_fn="match_rms_adamw")]


@pytest.mark.parametrize("kw", MUON_KW, ids=str)
def test_muon_equals_torch(kw):
    start = _start([(6, 4), (3, 7)])
    ours, _ = _run(lambda p: optnotes.Muon(p, **kw), 30, start)
    theirs, _ = _run(lambda p: torch.optim.Muon(p, **kw), 30, start)
    assert _max_diff(ours, theirs) == 0.0
    assert _max_diff(ours, start) > 1e-2


def test_newton_schulz_is_torchs_and_float32_near_polar_factor():
    from torch.optim._muon import _zeropower_via_newtonschulz

    G = _start([(8, 5)])[0]
    ref = _zeropower_via_newtonschulz(G, optnotes.muon.NS_COEFFICIENTS, 5, 1e-7)
    assert torch.equal(newton_schulz(G), ref)
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    # the classical cubic converges to UVᵀ; the quintic leaves σ in about [0.7, 1.2]
    cubic = newton_schulz(G, steps=60, coefficients=(1.5, -0.5, 0.0), dtype=torch.float64)
    assert float((cubic - U @ Vh).abs().max()) < 1e-10
    sv = torch.linalg.svdvals(newton_schulz(G, dtype=torch.float32).double())
    assert 0.6 < float(sv.min()) and float(sv.max()) < 1.25


def test_muon_float32_differs_from_bfloat16_and_rejects_vectors():
    start = _start([(6, 4)])
    a, _ = _run(lambda p: optnotes.Muon(p, lr=0.02), 5, start)
    b, _ = _run(lambda p: optnotes.Muon(p, lr=0.02, ns_dtype=torch.float32), 5, start)
    assert 0 < _max_diff(a, b) < 1e-2
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        optnotes.Muon([torch.zeros(3, 3, requires_grad=True), torch.zeros(4, requires_grad=True)])
    with pytest.raises(TypeError, match="ns_dtype"):
        optnotes.Muon([torch.zeros(3, 3, requires_grad=True)], ns_dtype="float32")


def test_muon_adamw_for_vectors_equals_torch_adamw():
    start = _start([(6, 4), (4,)])
    ours, _ = _run(lambda p: optnotes.Muon(p, lr=0.02, adamw_lr=0.01, weight_decay=0.05), 20,
                   start)
    params = [p.clone().requires_grad_() for p in start]
    muon = torch.optim.Muon(params[:1], lr=0.02, weight_decay=0.05)
    adamw = torch.optim.AdamW(params[1:], lr=0.01, weight_decay=0.05)
    for _ in range(20):
        muon.zero_grad()
        adamw.zero_grad()
        _loss(params).backward()
        muon.step()
        adamw.step()
    assert _max_diff(ours, [p.detach() for p in params]) < 1e-12


# --- Shampoo: Gupta et al. (2018), Algorithm 1 + roots every k steps + grafting -----------

def _root(A, power, floor):
    w, Q = np.linalg.eigh(A)
    return (Q * np.maximum(w, floor) ** power) @ Q.T


def shampoo_reference(start, steps, lr, eps, k=1, graft=None, momentum=0.0,
                      betas=(0.9, 0.999), delta=1e-8):
    W = [p.numpy().copy() for p in start]
    st = []
    for w in W:
        s = {"v": np.zeros_like(w), "s": np.zeros_like(w), "r": np.zeros_like(w)}
        if w.ndim >= 2:
            m, n = w.shape[0], w.size // w.shape[0]
            s.update(L=eps * np.eye(m), R=eps * np.eye(n))
        else:
            s["h"] = np.full_like(w, eps)
        st.append(s)
    for t in range(1, steps + 1):
        grads = _grad(W)
        for w, g, s in zip(W, grads, st):
            if w.ndim >= 2:
                G = g.reshape(w.shape[0], -1)
                s["L"] = s["L"] + G @ G.T
                s["R"] = s["R"] + G.T @ G
                if (t - 1) % k == 0:
                    s["Lr"], s["Rr"] = _root(s["L"], -0.25, eps), _root(s["R"], -0.25, eps)
                P = (s["Lr"] @ G @ s["Rr"]).reshape(w.shape)
            else:
                s["h"] = s["h"] + g * g
                P = g / np.sqrt(s["h"])
            if graft == "sgd":
                P = P * np.linalg.norm(g) / np.linalg.norm(P)
            elif graft == "adam":
                s["s"] = betas[0] * s["s"] + (1 - betas[0]) * g
                s["r"] = betas[1] * s["r"] + (1 - betas[1]) * g * g
                s_hat, r_hat = s["s"] / (1 - betas[0] ** t), s["r"] / (1 - betas[1] ** t)
                D = s_hat / (np.sqrt(r_hat) + delta)
                P = P * np.linalg.norm(D) / np.linalg.norm(P)
            if momentum:
                s["v"] = momentum * s["v"] + P
                P = s["v"]
            w -= lr * P
    return W


SHAMPOO_KW = [dict(lr=0.05, eps=1e-4), dict(lr=0.05, eps=1e-3, k=3, graft="sgd", momentum=0.5),
              dict(lr=0.01, eps=1e-4, k=2, graft="adam")]


@pytest.mark.parametrize("kw", SHAMPOO_KW, ids=str)
def test_shampoo_equals_float64_reference(kw):
    start = _start(SHAPES + [(2, 3, 2)])
    ref = shampoo_reference(start, 25, **kw)
    args = {("precondition_frequency" if a == "k" else a): v for a, v in kw.items()}
    ours, opt = _run(lambda p: optnotes.Shampoo(p, **args), 25, start)
    assert _max_diff(ours, ref) < 1e-10
    assert _max_diff(ours, start) > 1e-2
    for p in opt.param_groups[0]["params"]:
        spec = opt._state_spec(p, opt.param_groups[0])
        assert {k: (tuple(x.shape), x.dtype) for k, x in opt.state[p].items()} == spec


# --- SOAP: Vyas et al. (2024) with exact eigenvectors ------------------------------------

def soap_reference(start, steps, lr, betas=(0.95, 0.95), shampoo_beta=None, eps=1e-8, f=10,
                   weight_decay=0.0):
    b1, b2 = betas
    bs = b2 if shampoo_beta is None else shampoo_beta
    W = [p.numpy().copy() for p in start]
    st = []
    for w in W:
        G0 = np.zeros((w.shape[0], w.size // w.shape[0])) if w.ndim >= 2 else np.zeros_like(w)
        s = {"M": G0, "V": 0.0}
        if w.ndim >= 2:
            m, n = G0.shape
            s.update(L=np.zeros((m, m)), R=np.zeros((n, n)), QL=np.eye(m), QR=np.eye(n))
        st.append(s)
    for t in range(1, steps + 1):
        grads = _grad(W, t)
        for i, (g, s) in enumerate(zip(grads, st)):
            w = W[i]
            G = g.reshape(w.shape[0], -1) if w.ndim >= 2 else g
            M = s["M"] = b1 * s["M"] + (1 - b1) * G
            if w.ndim >= 2:
                Gr, Mr = s["QL"].T @ G @ s["QR"], s["QL"].T @ M @ s["QR"]
            else:
                Gr, Mr = G, M
            s["V"] = b2 * s["V"] + (1 - b2) * Gr * Gr
            N = (Mr / (1 - b1**t)) / (np.sqrt(s["V"] / (1 - b2**t)) + eps)
            if w.ndim >= 2:
                N = s["QL"] @ N @ s["QR"].T
            w = w - lr * N.reshape(w.shape)
            W[i] = w - lr * weight_decay * w
            if w.ndim >= 2:
                s["L"] = bs * s["L"] + (1 - bs) * G @ G.T
                s["R"] = bs * s["R"] + (1 - bs) * G.T @ G
                if (t - 1) % f == 0:
                    s["QL"], s["QR"] = np.linalg.eigh(s["L"])[1], np.linalg.eigh(s["R"])[1]
    return W


SOAP_KW = [dict(lr=0.01), dict(lr=0.02, f=3, betas=(0.9, 0.99), shampoo_beta=0.8,
                               weight_decay=0.1)]


@pytest.mark.parametrize("kw", SOAP_KW, ids=str)
def test_soap_equals_float64_reference(kw):
    # square blocks: L and R have full rank from the first step, so their eigenbases are
    # unique up to signs (a null space's basis, hence Adam's step in it, is arbitrary)
    start = _start([(5, 5), (4,), (3, 3), (2, 2, 1)])
    ref = soap_reference(start, 25, **kw)
    args = {("precondition_frequency" if a == "f" else a): v for a, v in kw.items()}
    ours, opt = _run(lambda p: optnotes.SOAP(p, **args), 25, start, noisy=True)
    assert _max_diff(ours, ref) < 1e-9
    assert _max_diff(ours, start) > 1e-2
    for p in opt.param_groups[0]["params"]:
        spec = opt._state_spec(p, opt.param_groups[0])
        assert {k: (tuple(x.shape), x.dtype) for k, x in opt.state[p].items()} == spec


def test_soap_on_vectors_is_adam():
    start = _start([(5,)])
    ours, _ = _run(lambda p: optnotes.SOAP(p, lr=0.01), 20, start)
    theirs, _ = _run(lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.95, 0.95)), 20, start)
    assert _max_diff(ours, theirs) < 1e-12


@pytest.mark.parametrize("make, kwargs, exc, arg", [
    (optnotes.Shampoo, {"graft": "adagrad"}, ValueError, "graft"),
    (optnotes.Shampoo, {"eps": 0.0}, ValueError, "eps"),
    (optnotes.Shampoo, {"precondition_frequency": 0}, ValueError, "precondition_frequency"),
    (optnotes.SOAP, {"shampoo_beta": 1.0}, ValueError, "shampoo_beta"),
    (optnotes.Adafactor, {"d": 0.5}, ValueError, "d"),
    (optnotes.Adafactor, {"beta2_decay": 0.1}, ValueError, "beta2_decay"),
    (optnotes.Adafactor, {"eps": 1e-3}, TypeError, "eps"),
    (optnotes.Muon, {"ns_steps": 0}, ValueError, "ns_steps"),
    (optnotes.Muon, {"adjust_lr_fn": "rms"}, ValueError, "adjust_lr_fn"),
])
def test_bad_arguments_name_themselves(make, kwargs, exc, arg):
    with pytest.raises(exc, match=arg):
        make([torch.zeros(3, 3, requires_grad=True)], **kwargs)
