"""optnotes: the optimizers and experiments of *Optimization for Training Deep Models*.

Every optimizer is a ``torch.optim.Optimizer``; every schedule a
``torch.optim.lr_scheduler.LRScheduler``.
"""

from . import data, objectives, plot, schedules, train
from .adaptive import AdaDelta, AdaGrad, Adam, DeltaBarDelta, RMSProp
from .first_order import SGD
from .runtime import default_device, set_seed
from .schedules import InverseTimeDecay, LinearDecay, MomentumSchedule, StepDecay
from .train import History, Trajectory, evaluate, minimize

__all__ = [
    "SGD",
    "DeltaBarDelta", "AdaGrad", "RMSProp", "AdaDelta", "Adam",
    "LinearDecay", "StepDecay", "InverseTimeDecay", "MomentumSchedule",
    "default_device", "set_seed",
    "minimize", "evaluate", "Trajectory", "History",
    "data", "objectives", "plot", "schedules", "train",
]
__version__ = "0.1.0"
