"""optnotes: the optimizers and experiments of *Optimization for Training Deep Models*.

Every optimizer is a ``torch.optim.Optimizer``; every schedule a
``torch.optim.lr_scheduler.LRScheduler``.
"""

from . import (averaging, clipping, curvature, data, init, lesson, line_search, models,
               normalization, objectives, plot, schedules, strategies, symmetry, train)
from .adaptive import AdaDelta, AdaGrad, Adam, DeltaBarDelta, RMSProp
from .averaging import PolyakAverage
from . import factored, matrix, memory, muon
from .factored import Adafactor
from .matrix import SOAP, Shampoo
from .muon import Muon, newton_schulz
from .clipping import clip_grad_norm_, clip_grad_value_
from .first_order import SGD
from .natural import NaturalGradient
from .normalization import BatchNorm
from .quasi_newton import BFGS, LBFGS, ConjugateGradient
from .second_order import Newton, NewtonCG, SaddleFreeNewton, conjugate_gradient
from .runtime import default_device, set_seed
from .schedules import InverseTimeDecay, LinearDecay, MomentumSchedule, StepDecay
from .train import History, Trajectory, evaluate, minimize, zero_one_loss
from . import explore, interactive  # the chapters' interactive figures (drawn by Bokeh)
from . import landscape
from .decoupled import AdamW
from .large_batch import LAMB, LARS
from .schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from .schedules import WarmupCosine, WarmupStableDecay
from .sign import Lion
from . import practice  # the experiments of chapter 9

__all__ = [
    "SGD",
    "DeltaBarDelta", "AdaGrad", "RMSProp", "AdaDelta", "Adam",
    "Newton", "NewtonCG", "SaddleFreeNewton", "ConjugateGradient", "BFGS", "LBFGS",
    "NaturalGradient", "conjugate_gradient",
    "Adafactor", "Shampoo", "SOAP", "Muon", "newton_schulz",
    "LinearDecay", "StepDecay", "InverseTimeDecay", "MomentumSchedule",
    "BatchNorm", "PolyakAverage", "clip_grad_norm_", "clip_grad_value_",
    "default_device", "set_seed",
    "minimize", "evaluate", "zero_one_loss", "Trajectory", "History",
    "averaging", "clipping", "curvature", "data", "init", "lesson", "line_search", "models",
    "normalization", "objectives", "parallel", "plot", "schedules", "strategies", "symmetry",
    "train", "explore", "interactive",
    "factored", "matrix", "memory", "muon",
    "AdamW", "LARS", "LAMB", "Lion", "ScheduleFreeSGD", "ScheduleFreeAdamW",
    "WarmupCosine", "WarmupStableDecay", "practice",
]
__all__ += ["landscape"]
__version__ = "0.1.0"


def __getattr__(name):
    # optnotes.parallel is imported on first use, so that `python -m optnotes.parallel`
    # (what torchrun runs) does not find it imported already
    if name == "parallel":
        import importlib

        return importlib.import_module(".parallel", __name__)
    raise AttributeError(f"module 'optnotes' has no attribute {name!r}")


from . import noise  # noqa: E402
from .noise import gradient_noise_scale, per_example_gradients  # noqa: E402

__all__ += ["noise", "gradient_noise_scale", "per_example_gradients"]
