"""Optimizers and learning-rate schedulers, PyTorch's `torch.optim` names and formulas.

from minitorch_cv import optim
opt = optim.Adam(model.parameters(), lr=1e-3)
sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
"""

from . import lr_scheduler, swa_utils
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

# The optimizers by their lower-case names, as `train --optimizer` and the recipes name them:
# those that step once per batch from its gradients (LBFGS needs a closure that fit() does not
# pass, so it is not among them).
OPTIMIZERS = {cls.__name__.lower(): cls
              for cls in (SGD, Adam, AdamW, Adamax, NAdam, RAdam, RMSprop, Adagrad, Adadelta,
                          Rprop)}  # fmt: skip

__all__ = ["SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta",
           "Rprop", "LBFGS", "Optimizer", "OPTIMIZERS", "lr_scheduler", "swa_utils"]  # fmt: skip
