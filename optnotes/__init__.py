"""optnotes: the optimizers and experiments of *Optimization for Training Deep Models*.

Every optimizer is a ``torch.optim.Optimizer``; every schedule a
``torch.optim.lr_scheduler.LRScheduler``.
"""

from . import (averaging, clipping, curvature, data, explore, factored, init, interactive,
               landscape, lesson, line_search, matrix, memory, models, muon, noise,
               normalization, objectives, plot, practice, schedules, strategies, symmetry,
               train)
from .adaptive import AdaDelta, AdaGrad, Adam, DeltaBarDelta, RMSProp
from .averaging import PolyakAverage
from .clipping import clip_grad_norm_, clip_grad_value_
from .decoupled import AdamW
from .factored import Adafactor
from .first_order import SGD
from .large_batch import LAMB, LARS
from .matrix import SOAP, Shampoo
from .muon import Muon, newton_schulz
from .natural import NaturalGradient
from .noise import gradient_noise_scale, per_example_gradients
from .normalization import BatchNorm
from .quasi_newton import BFGS, LBFGS, ConjugateGradient
from .runtime import default_device, set_seed
from .schedule_free import ScheduleFreeAdamW, ScheduleFreeSGD
from .schedules import (InverseTimeDecay, LinearDecay, MomentumSchedule, StepDecay,
                        WarmupCosine, WarmupStableDecay)
from .second_order import Newton, NewtonCG, SaddleFreeNewton, conjugate_gradient
from .sign import Lion
from .train import History, Trajectory, evaluate, minimize, zero_one_loss

__all__ = [
    # the textbook's optimizers (chapters 4 to 6)
    "SGD",
    "DeltaBarDelta", "AdaGrad", "RMSProp", "AdaDelta", "Adam",
    "Newton", "NewtonCG", "SaddleFreeNewton", "ConjugateGradient", "BFGS", "LBFGS",
    "NaturalGradient", "conjugate_gradient",
    # since the textbook (chapters 9 and 10)
    "AdamW", "LARS", "LAMB", "Lion", "ScheduleFreeSGD", "ScheduleFreeAdamW",
    "Adafactor", "Shampoo", "SOAP", "Muon", "newton_schulz",
    # schedules
    "LinearDecay", "StepDecay", "InverseTimeDecay", "MomentumSchedule",
    "WarmupCosine", "WarmupStableDecay",
    # meta-algorithms and tools
    "BatchNorm", "PolyakAverage", "clip_grad_norm_", "clip_grad_value_",
    "gradient_noise_scale", "per_example_gradients",
    "default_device", "set_seed",
    "minimize", "evaluate", "zero_one_loss", "Trajectory", "History",
    # modules
    "averaging", "clipping", "curvature", "data", "explore", "factored", "init",
    "interactive", "landscape", "lesson", "line_search", "matrix", "memory", "models",
    "muon", "noise", "normalization", "objectives", "parallel", "plot", "practice",
    "schedules", "strategies", "symmetry", "train",
]
__version__ = "0.1.0"


def __getattr__(name):
    # optnotes.parallel is imported on first use, so that `python -m optnotes.parallel`
    # (what torchrun runs) does not find it imported already
    if name == "parallel":
        import importlib

        return importlib.import_module(".parallel", __name__)
    raise AttributeError(f"module 'optnotes' has no attribute {name!r}")
