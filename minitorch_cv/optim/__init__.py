"""Optimizers and learning-rate schedulers, PyTorch's `torch.optim` names and formulas.

from minitorch_cv import optim
opt = optim.Adam(model.parameters(), lr=1e-3)
sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
"""

from . import lr_scheduler, swa_utils
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

# The optimizers by their lower-case names, as `train --optimizer` and the recipes name them.
OPTIMIZERS = {cls.__name__.lower(): cls
              for cls in (SGD, Adam, AdamW, Adamax, NAdam, RAdam, RMSprop, Adagrad)}  # fmt: skip

__all__ = ["SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Optimizer",
           "OPTIMIZERS", "lr_scheduler", "swa_utils"]  # fmt: skip
