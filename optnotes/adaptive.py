"""Algorithms with adaptive learning rates: delta-bar-delta, AdaGrad, RMSProp, AdaDelta, Adam.

Algorithms 8.4–8.7 of the textbook (Goodfellow et al., 2016, section 8.5), Jacobs' delta-bar-delta rule and Zeiler's AdaDelta.

Chapter: *Adaptive learning rates* (``chapters/05_adaptive``).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch.optim.optimizer import required

from . import _checks
from ._optimizer import Optimizer, _add_scaled_, _fold_scale


def _betas(value) -> tuple[float, float]:
    """``betas`` as a pair :math:`(\\rho_1, \\rho_2)`, each in [0, 1)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"betas must be a pair (rho1, rho2), got {value!r}")
    rho1, rho2 = value
    for i, rho in enumerate(value):
        if isinstance(rho, bool) or not isinstance(rho, numbers.Real):
            raise TypeError(f"betas[{i}] must be a real number, got {rho!r} in betas={value!r}")
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"betas[{i}] must be in [0, 1), got {rho!r} in betas={value!r}")
    return float(rho1), float(rho2)


def _one_minus_powers(rho: float, t: list) -> list:
    """:math:`1 - \\rho^t` for each step count t (scalar tensors, computed on their device),
    as :math:`-\\operatorname{expm1}(t \\ln\\rho)`: accurate even where :math:`\\rho^t`
    is close to 1, and cheap where a compiled step recomputes it inside its loop."""
    # t ln ρ
    powers = torch._foreach_mul(t, math.log(rho) if rho > 0 else -math.inf)
    torch._foreach_expm1_(powers)  # ρ^t − 1
    torch._foreach_neg_(powers)
    return powers


class DeltaBarDelta(Optimizer):
    r"""Jacobs' delta-bar-delta rule: a learning rate per parameter that grows by a
    constant while the derivative keeps its sign and shrinks by a factor when it flips.

    Notation: Jacobs writes the weights :math:`w` and uses :math:`\theta` for the
    averaging factor, so here the textbook's parameters :math:`\theta` are written
    :math:`w`. The initial rate :math:`\epsilon_i(0)` is ``lr``, the increment
    :math:`\kappa` is ``kappa``, the decrease factor :math:`\phi` is ``phi``, the averaging
    factor :math:`\theta` is ``theta``; :math:`\delta(t) = \partial J / \partial w(t)` is
    the gradient ``g``. The per-parameter rates :math:`\epsilon` are the state ``"eps"``
    and the averaged derivative :math:`\bar\delta` the state ``"delta_bar"`` (starting
    at 0, so the first step leaves every rate at ``lr``). Jacobs (1988), eqs. for
    :math:`\Delta\epsilon`, :math:`\bar\delta` and the weight update, elementwise:

    .. math::

        \epsilon \leftarrow \begin{cases}
            \epsilon + \kappa & \text{if } \bar\delta(t-1)\,\delta(t) > 0, \\
            (1 - \phi)\,\epsilon & \text{if } \bar\delta(t-1)\,\delta(t) < 0, \\
            \epsilon & \text{otherwise,}
        \end{cases} \qquad
        \bar\delta(t) \leftarrow (1-\theta)\,\delta(t) + \theta\,\bar\delta(t-1), \qquad
        w \leftarrow w - \epsilon \odot \delta(t) .

    The weight step uses the rate just updated, :math:`w(t+1) = w(t) - \epsilon(t+1)\,
    \delta(t)`, as in the paper. The increase is additive and the decrease
    multiplicative, so a rate that has grown large collapses quickly once the iterates
    start to oscillate across a valley.

    **Full-batch only.** The rule reads the sign of :math:`\bar\delta(t-1)\,\delta(t)` as
    "still going downhill in this coordinate" or "stepped over the minimum". With
    minibatch gradients that sign is flipped at random by the sampling noise whenever the
    true derivative is small against the noise, so the rates shrink for no reason (or
    grow without one). Use it with the full training set as the batch.

    ``lr`` only sets the rates' starting value: a learning-rate scheduler that changes the
    group's ``lr`` later has no effect on the rates, which are the optimizer's state.

    **Differences from PyTorch and optax.** Neither ships delta-bar-delta. The nearest
    relative is ``torch.optim.Rprop``, which uses only the sign of the gradient and changes
    its step sizes multiplicatively in both directions. ensmallen's ``DeltaBarDelta`` is
    this rule but clamps the rates at a minimum of 1e-8; here nothing is clamped.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: initial rate :math:`\epsilon_i(0) \ge 0` of every parameter.
        kappa: additive increase :math:`\kappa \ge 0`.
        phi: multiplicative decrease :math:`\phi \in [0, 1)`.
        theta: averaging factor :math:`\theta \in [0, 1)` of :math:`\bar\delta`.
        maximize: ascend instead (:math:`\delta \leftarrow -\delta` first).

    The four hyperparameters have no defaults (Jacobs gives none that fit every problem):
    pass them to the constructor or set them in every param group. Complex parameters
    are rejected, since the rule compares signs.

    References: Jacobs (1988), *Increased rates of convergence through learning rate
    adaptation*, Neural Networks 1(4); Sutton (1992) for the incremental variant.
    """

    # the sign rule compares signs, which complex numbers lack
    supports_complex = False

    def __init__(self, params, lr: float = required, kappa: float = required,
                 phi: float = required, theta: float = required, maximize: bool = False):
        super().__init__(params, dict(lr=lr, kappa=kappa, phi=phi, theta=theta,
                                      maximize=maximize))

    def check_group(self, group: dict) -> None:
        group["maximize"] = _checks.boolean("maximize", group["maximize"])
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["kappa"] = _checks.nonnegative("kappa", group["kappa"])
        group["phi"] = _checks.in_unit_interval("phi", group["phi"])
        group["theta"] = _checks.in_unit_interval("theta", group["theta"])

    def _initial_state(self, group: dict) -> dict:
        return {"eps": group["lr"], "delta_bar": 0.0}  # ε_i(0) = lr, δ̄(0) = 0

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        for group, params, w, g in self._groups():
            kappa, phi, theta = group["kappa"], group["phi"], group["theta"]
            eps = self._state_tensors(params, "eps")  # ε_i(0) = lr
            delta_bar = self._state_tensors(params, "delta_bar")
            sign = torch._foreach_mul(delta_bar, g)  # sign of δ̄(t−1) δ(t)
            torch._foreach_sign_(sign)
            # 1 where δ̄(t−1) δ(t) > 0
            up = torch._foreach_clamp_min(sign, 0.0)
            torch._foreach_clamp_max_(sign, 0.0)  # −1 where δ̄(t−1) δ(t) < 0
            # ε ← (1−φ) ε  if < 0
            torch._foreach_addcmul_(eps, eps, sign, value=phi)
            torch._foreach_add_(eps, up, alpha=kappa)  # ε ← ε + κ  if > 0
            # δ̄(t) ← (1−θ) δ(t) + θ δ̄(t−1)
            torch._foreach_mul_(delta_bar, theta)
            torch._foreach_add_(delta_bar, g, alpha=1.0 - theta)
            torch._foreach_addcmul_(w, eps, g, value=-1.0)  # w ← w − ε ⊙ δ(t)
        return loss


class AdaGrad(Optimizer):
    r"""AdaGrad: each coordinate's step is the global rate divided by the root of the sum
    of all its past squared gradients (Algorithm 8.4).

    The textbook's notation against the arguments: global learning rate :math:`\epsilon`
    is ``lr``, the small constant :math:`\delta` is ``eps``, the gradient accumulation
    :math:`r` (starting at 0) is the state ``"r"``. ``weight_decay`` :math:`\lambda` adds
    :math:`\lambda\theta` to the gradient, as in :class:`~optnotes.SGD`.

    Algorithm 8.4 (division and square root elementwise):

    .. math::

        r \leftarrow r + g \odot g, \qquad
        \Delta\theta \leftarrow -\frac{\epsilon}{\delta + \sqrt{r}} \odot g, \qquad
        \theta \leftarrow \theta + \Delta\theta .

    **Differences from PyTorch and optax.** ``torch.optim.Adagrad`` computes the same
    update (:math:`\delta` outside the root, :math:`\sqrt{r} + \delta`) and gives the same
    iterates with its defaults ``initial_accumulator_value=0`` and ``lr_decay=0``; its
    default ``eps`` is 1e-10 instead of the textbook's 1e-7. ``optax.adagrad`` puts
    :math:`\delta` *inside* the root, :math:`\theta \leftarrow \theta - \epsilon\,
    g / \sqrt{r + \delta}`, starts the accumulator at ``initial_accumulator_value=0.1``
    instead of 0, and leaves a coordinate whose accumulator is 0 unchanged. None has
    momentum or bias correction.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: global learning rate :math:`\epsilon \ge 0`.
        eps: :math:`\delta \ge 0`, added to :math:`\sqrt{r}`.
        weight_decay: :math:`\lambda \ge 0`.
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else, as
            torch.optim's ``maximize=True``.

    References: Duchi, Hazan & Singer (2011); Goodfellow, Bengio & Courville (2016),
    section 8.5.1.
    """

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-7, weight_decay: float = 0.0,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["eps"] = _checks.nonnegative("eps", group["eps"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])

    def _initial_state(self, group: dict) -> dict:
        return {"r": 0.0}

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # g ← −g if maximize, then g ← g + λθ
        for group, params, theta, g in self._groups():
            eps, delta = group["lr"], group["eps"]
            r = self._state_tensors(params, "r")
            torch._foreach_addcmul_(r, g, g)  # r ← r + g⊙g
            denom = torch._foreach_sqrt(r)  # Δθ ← −ε/(δ + √r) ⊙ g
            torch._foreach_add_(denom, delta)
            # θ ← θ + Δθ
            torch._foreach_addcdiv_(theta, g, denom, value=_fold_scale(denom, -eps))
        return loss


class RMSProp(Optimizer):
    r"""RMSProp: AdaGrad with the sum of squared gradients replaced by an exponentially
    weighted moving average, optionally with momentum or Nesterov momentum
    (Algorithms 8.5 and 8.6).

    The textbook's notation against the arguments: global learning rate :math:`\epsilon`
    is ``lr``, decay rate :math:`\rho` is ``rho``, the small constant :math:`\delta` is
    ``eps``, momentum coefficient :math:`\alpha` is ``momentum``; the accumulation
    :math:`r` (starting at 0) is the state ``"r"`` and the velocity :math:`v` (starting at
    0) the state ``"v"``. ``weight_decay`` :math:`\lambda` adds :math:`\lambda\theta` to
    the gradient.

    Algorithm 8.5 (``momentum=0``), with :math:`\delta` inside the square root as the
    notes write it:

    .. math::

        r \leftarrow \rho r + (1-\rho)\, g \odot g, \qquad
        \Delta\theta = -\frac{\epsilon}{\sqrt{\delta + r}} \odot g, \qquad
        \theta \leftarrow \theta + \Delta\theta .

    With ``momentum=α`` (classical momentum on the rescaled step):

    .. math::

        r \leftarrow \rho r + (1-\rho)\, g \odot g, \qquad
        v \leftarrow \alpha v - \frac{\epsilon}{\sqrt{\delta + r}} \odot g, \qquad
        \theta \leftarrow \theta + v .

    Algorithm 8.6 (``nesterov=True``): the same, with :math:`g` taken at the interim
    point :math:`\tilde\theta = \theta + \alpha v`. The textbook's box 8.6 writes
    :math:`\epsilon/\sqrt{r}`; here :math:`\delta` sits where Algorithm 8.5 puts it, and
    ``eps=0`` gives box 8.6 exactly.

    **How Nesterov gets the interim gradient without a closure.** As in
    :class:`~optnotes.SGD`, the parameters hold the interim point
    :math:`\phi = \theta + \alpha v`, so ``p.grad`` is already
    :math:`\nabla J(\tilde\theta)`. After the velocity update, :math:`\phi' = \theta' +
    \alpha v' = (\phi - \alpha v) + v' + \alpha v'`, and :math:`v' - \alpha v =
    -\epsilon g/\sqrt{\delta + r}`, so

    .. math::

        r \leftarrow \rho r + (1-\rho)\, g \odot g, \qquad
        v \leftarrow \alpha v - \frac{\epsilon}{\sqrt{\delta + r}} \odot g, \qquad
        \phi \leftarrow \phi + \alpha v - \frac{\epsilon}{\sqrt{\delta + r}} \odot g,

    with the new :math:`v` in the last line and :math:`g = \nabla J(\phi)`. With
    :math:`v_0 = 0` both sequences start at the same point and
    :math:`\phi_k = \theta_k + \alpha v_k` at every step.

    **Differences from PyTorch and optax.** ``torch.optim.RMSprop`` (``alpha`` is
    :math:`\rho`) puts :math:`\delta` *outside* the root,
    :math:`\theta \leftarrow \theta - \epsilon\, g / (\sqrt{r} + \delta)`; its momentum
    buffer is :math:`b \leftarrow \alpha b + g/(\sqrt{r} + \delta)`,
    :math:`\theta \leftarrow \theta - \epsilon b`, which equals the velocity form
    (:math:`v = -\epsilon b`) while :math:`\epsilon` is constant; it has no Nesterov
    option; its defaults are ``lr=0.01``, ``alpha=0.99``, ``eps=1e-8``. With ``eps=0``
    the two give the same iterates; with :math:`\delta > 0` the first step from
    :math:`r = 0` is :math:`-\epsilon g/\sqrt{\delta + (1-\rho) g^2}` here and
    :math:`-\epsilon g/(\sqrt{(1-\rho) g^2} + \delta)` in torch. ``optax.rmsprop`` puts
    :math:`\delta` inside the root by default (``eps_in_sqrt=True``, ``eps=1e-8``,
    ``decay=0.9``), starts :math:`r` at ``initial_scale=0``, and scales by the learning
    rate *before* ``optax.trace``, so its momentum is the velocity form above and its
    ``nesterov=True`` computes the :math:`\phi` update above. None applies bias
    correction (optax only with ``bias_correction=True``).

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: global learning rate :math:`\epsilon \ge 0`.
        rho: decay rate :math:`\rho \in [0, 1)`.
        eps: :math:`\delta \ge 0`, added to :math:`r` inside the square root.
        momentum: :math:`\alpha \in [0, 1)`.
        nesterov: use Algorithm 8.6; needs ``momentum > 0``.
        weight_decay: :math:`\lambda \ge 0`.
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else, as
            torch.optim's ``maximize=True``.

    References: Tieleman & Hinton (2012), lecture 6.5 of *Neural Networks for Machine
    Learning*; Sutskever et al. (2013) for the change of variables; Goodfellow, Bengio &
    Courville (2016), section 8.5.2.
    """

    def __init__(self, params, lr: float = 0.001, rho: float = 0.9, eps: float = 1e-6,
                 momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 maximize: bool = False):
        defaults = dict(lr=lr, rho=rho, eps=eps, momentum=momentum, nesterov=nesterov,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["rho"] = _checks.in_unit_interval("rho", group["rho"])
        group["eps"] = _checks.nonnegative("eps", group["eps"])
        group["momentum"] = _checks.in_unit_interval("momentum", group["momentum"])
        group["nesterov"] = _checks.boolean("nesterov", group["nesterov"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])
        _checks.nesterov_needs_momentum(group)

    def _initial_state(self, group: dict) -> dict:
        return {"r": 0.0, "v": 0.0} if group["momentum"] != 0 else {"r": 0.0}

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # g ← −g if maximize, then g ← g + λθ
        for group, params, theta, g in self._groups():
            eps, rho = group["lr"], group["rho"]
            delta, alpha = group["eps"], group["momentum"]
            r = self._state_tensors(params, "r")
            torch._foreach_mul_(r, rho)  # r ← ρr + (1−ρ) g⊙g
            torch._foreach_addcmul_(r, g, g, value=1.0 - rho)
            denom = torch._foreach_add(r, delta)  # √(δ + r)
            torch._foreach_sqrt_(denom)
            minus_eps = _fold_scale(denom, -eps)  # (a tensor ε joins the denominator)
            if alpha == 0:
                # θ ← θ − ε/√(δ+r)⊙g
                torch._foreach_addcdiv_(theta, g, denom, value=minus_eps)
                continue
            v = self._state_tensors(params, "v")
            torch._foreach_mul_(v, alpha)  # v ← αv − ε/√(δ+r) ⊙ g
            torch._foreach_addcdiv_(v, g, denom, value=minus_eps)
            if group["nesterov"]:
                # θ holds the interim point φ = θ + αv:  φ ← φ + αv − ε/√(δ+r) ⊙ g
                torch._foreach_add_(theta, v, alpha=alpha)
                torch._foreach_addcdiv_(theta, g, denom, value=minus_eps)
            else:
                torch._foreach_add_(theta, v)  # θ ← θ + v
        return loss


class AdaDelta(Optimizer):
    r"""AdaDelta: RMSProp whose global rate is replaced by the root of a moving average
    of the squared updates themselves, so the step has the units of the parameters.

    Notation: :math:`\rho` is ``rho``, the small constant :math:`\delta` is ``eps``,
    :math:`\epsilon` is ``lr``, a factor on the step that Zeiler does not have
    (:math:`\epsilon = 1` is his algorithm); the moving average of squared gradients
    :math:`r` and of squared updates :math:`s` (both starting at 0) are the states
    ``"r"`` and ``"s"``. ``weight_decay`` :math:`\lambda` adds :math:`\lambda\theta` to
    the gradient. Zeiler (2012), Algorithm 1:

    .. math::

        r \leftarrow \rho r + (1-\rho)\, g \odot g, \qquad
        \Delta\theta = -\frac{\sqrt{s + \delta}}{\sqrt{r + \delta}} \odot g, \qquad
        s \leftarrow \rho s + (1-\rho)\, \Delta\theta \odot \Delta\theta, \qquad
        \theta \leftarrow \theta + \epsilon\, \Delta\theta .

    **The units argument.** If :math:`\theta` has units :math:`u` and :math:`J` none, then
    :math:`g` has units :math:`1/u`: SGD's step :math:`\epsilon g` has units :math:`1/u`
    and AdaGrad's or RMSProp's :math:`\epsilon g/\sqrt{r}` has none, so in both the rate
    :math:`\epsilon` must carry the missing units. A Newton step :math:`H^{-1} g` has
    units :math:`u`, and :math:`\Delta\theta \approx H^{-1} g` gives
    :math:`H^{-1} \approx \Delta\theta/g`. Zeiler therefore replaces the global rate with
    :math:`\sqrt{s + \delta}`, the RMS of past updates (units :math:`u`; from the
    previous step, since :math:`s` is updated after :math:`\Delta\theta`), and divides by
    :math:`\sqrt{r + \delta}`, the RMS of the gradients: the ratio is a diagonal estimate
    of :math:`H^{-1}` and the step has the units of :math:`\theta`. Some presentations
    write :math:`g^2` where :math:`\delta` stands; this follows the paper.

    **Differences from PyTorch and optax.** ``torch.optim.Adadelta`` computes the same
    (:math:`\delta` inside both roots, accumulators at 0, :math:`s` fed with the update
    *before* ``lr`` multiplies it) and gives the same iterates; its default ``rho`` is 0.9
    where Zeiler suggests 0.95. ``optax.adadelta`` computes the same rescaling
    (``scale_by_adadelta``, ``rho=0.9``, ``eps=1e-6``) and applies the learning rate
    after it, so :math:`s` is also fed the unscaled update. None has momentum or bias
    correction.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: factor :math:`\epsilon \ge 0` on the step (1 in Zeiler's algorithm).
        rho: decay rate :math:`\rho \in [0, 1)` of both averages.
        eps: :math:`\delta \ge 0`, inside both square roots.
        weight_decay: :math:`\lambda \ge 0`.
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else, as
            torch.optim's ``maximize=True``.

    References: Zeiler (2012), *ADADELTA: an adaptive learning rate method*,
    arXiv:1212.5701.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6,
                 weight_decay: float = 0.0, maximize: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["rho"] = _checks.in_unit_interval("rho", group["rho"])
        group["eps"] = _checks.nonnegative("eps", group["eps"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])

    def _initial_state(self, group: dict) -> dict:
        return {"r": 0.0, "s": 0.0}

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # g ← −g if maximize, then g ← g + λθ
        for group, params, theta, g in self._groups():
            eps, rho, delta = group["lr"], group["rho"], group["eps"]
            r = self._state_tensors(params, "r")
            s = self._state_tensors(params, "s")
            torch._foreach_mul_(r, rho)  # r ← ρr + (1−ρ) g⊙g
            torch._foreach_addcmul_(r, g, g, value=1.0 - rho)
            # Δθ = −√(s+δ)/√(r+δ) ⊙ g, held as −Δθ
            minus_dtheta = torch._foreach_add(s, delta)
            torch._foreach_sqrt_(minus_dtheta)
            rms_g = torch._foreach_add(r, delta)
            torch._foreach_sqrt_(rms_g)
            torch._foreach_div_(minus_dtheta, rms_g)
            torch._foreach_mul_(minus_dtheta, g)
            torch._foreach_mul_(s, rho)  # s ← ρs + (1−ρ) Δθ⊙Δθ
            torch._foreach_addcmul_(s, minus_dtheta, minus_dtheta, value=1.0 - rho)
            _add_scaled_(theta, minus_dtheta, -eps, temporary=True)  # θ ← θ + εΔθ
        return loss


class Adam(Optimizer):
    r"""Adam: RMSProp's rescaling applied to an exponential moving average of the
    gradient (momentum), with both averages corrected for their start at zero
    (Algorithm 8.7).

    The textbook's notation against the arguments: step size :math:`\epsilon` is ``lr``,
    the decay rates :math:`(\rho_1, \rho_2)` are ``betas``, the small constant
    :math:`\delta` is ``eps``; the first and second moment estimates :math:`s` and
    :math:`r` (starting at 0) are the states ``"s"`` and ``"r"``, and the time step
    :math:`t` is the state ``"t"``, a float64 scalar tensor per parameter on its device
    (exact, also through a ``state_dict`` round trip; the bias corrections are computed
    from it on the device, so a compiled step neither syncs nor recompiles). ``weight_decay`` :math:`\lambda` adds
    :math:`\lambda\theta` to the gradient (an L2 penalty, not AdamW's decoupled decay).

    Algorithm 8.7, with :math:`\delta` outside the square root as in Kingma & Ba:

    .. math::

        t \leftarrow t + 1, \quad
        s \leftarrow \rho_1 s + (1-\rho_1) g, \quad
        r \leftarrow \rho_2 r + (1-\rho_2)\, g \odot g, \quad
        \hat s \leftarrow \frac{s}{1-\rho_1^t}, \quad
        \hat r \leftarrow \frac{r}{1-\rho_2^t}, \quad
        \Delta\theta = -\epsilon \frac{\hat s}{\sqrt{\hat r} + \delta}, \quad
        \theta \leftarrow \theta + \Delta\theta .

    Some presentations write :math:`\sqrt{\hat r + \delta}`; Kingma & Ba (2015, Algorithm 1)
    put :math:`\delta` outside the root, and so does this class. The bias correction makes
    the first step :math:`-\epsilon\, g/(|g| + \delta)`, of size about :math:`\epsilon` in
    every coordinate whatever the scale of the gradient.

    **Differences from PyTorch and optax.** ``torch.optim.Adam`` computes the same update
    in a different order, :math:`\theta \leftarrow \theta - \frac{\epsilon}{1-\rho_1^t}\,
    s / \bigl(\sqrt{r}/\sqrt{1-\rho_2^t} + \delta\bigr)`, the same up to rounding, with the
    same defaults; it keeps :math:`t` as a float32 tensor ``"step"`` and its
    ``weight_decay`` is the same L2 term. ``optax.adam`` computes
    :math:`\hat s/(\sqrt{\hat r + \delta_{\text{root}}} + \delta)` with
    ``eps_root=0`` by default, i.e. the same; its ``nesterov=True`` is NAdam, not offered
    here. Both start :math:`s, r` at 0 and correct both.

    Args:
        params: an iterable of tensors or of param-group dicts.
        lr: step size :math:`\epsilon \ge 0`.
        betas: :math:`(\rho_1, \rho_2)`, each in :math:`[0, 1)`.
        eps: :math:`\delta \ge 0`, added to :math:`\sqrt{\hat r}`.
        weight_decay: :math:`\lambda \ge 0`.
        maximize: ascend instead: :math:`g \leftarrow -g` before everything else, as
            torch.optim's ``maximize=True``.

    References: Kingma & Ba (2015), *Adam: a method for stochastic optimization*, ICLR;
    Goodfellow, Bengio & Courville (2016), section 8.5.3.
    """

    counts_steps = True

    def __init__(self, params, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, maximize: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def check_group(self, group: dict) -> None:
        group["lr"] = _checks.learning_rate("lr", group["lr"])
        group["betas"] = _betas(group["betas"])
        group["eps"] = _checks.nonnegative("eps", group["eps"])
        group["weight_decay"] = _checks.nonnegative("weight_decay", group["weight_decay"])
        group["maximize"] = _checks.boolean("maximize", group["maximize"])

    def _initial_state(self, group: dict) -> dict:
        return {"s": 0.0, "r": 0.0, "t": 0}

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._loss(closure)
        # g ← −g if maximize, then g ← g + λθ
        for group, params, theta, g in self._groups():
            eps, (rho1, rho2), delta = group["lr"], group["betas"], group["eps"]
            s = self._state_tensors(params, "s")
            r = self._state_tensors(params, "r")
            t = self._step_counts(params)  # t ← t + 1
            torch._foreach_lerp_(s, g, 1.0 - rho1)  # s ← ρ1 s + (1−ρ1) g
            torch._foreach_mul_(r, rho2)  # r ← ρ2 r + (1−ρ2) g⊙g
            torch._foreach_addcmul_(r, g, g, value=1.0 - rho2)
            # r̂ ← r/(1−ρ2^t)
            r_hat = torch._foreach_div(r, _one_minus_powers(rho2, t))
            torch._foreach_sqrt_(r_hat)  # √r̂ + δ
            torch._foreach_add_(r_hat, delta)
            # ŝ ← s/(1−ρ1^t) and θ ← θ − ε ŝ/(√r̂ + δ): the factor 1−ρ1^t joins the
            # denominator in place, which saves allocating ŝ (a pass over memory)
            torch._foreach_mul_(r_hat, _one_minus_powers(rho1, t))
            torch._foreach_addcdiv_(theta, s, r_hat, value=_fold_scale(r_hat, -eps))
        return loss
