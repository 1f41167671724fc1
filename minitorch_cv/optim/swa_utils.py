"""Weight averaging, PyTorch's `torch.optim.swa_utils`: Stochastic Weight Averaging (Izmailov et
al., 2018) and exponential moving averages (EMA) of a model's weights.

    swa_model = AveragedModel(model)                 # or AveragedModel(model,
    swa_scheduler = SWALR(optimizer, swa_lr=0.05)    #   multi_avg_fn=get_ema_multi_avg_fn(0.999))
    for epoch in range(epochs):
        train_one_epoch(model, optimizer)
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_scheduler.step()
    update_bn(train_loader, swa_model)                # BN statistics of the averaged weights
    evaluate(swa_model)
"""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np

from ..layers.module import Module
from ..layers.norm import _BatchNorm, _InstanceNorm
from ..tensor import Tensor, no_grad
from .lr_scheduler import LRScheduler, _per_group
from .optimizer import Optimizer


def get_ema_avg_fn(decay: float = 0.999):
    """avg_fn(averaged, current, num_averaged) of an exponential moving average:
    decay * averaged + (1 - decay) * current."""

    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_ema_multi_avg_fn(decay: float = 0.999):
    """multi_avg_fn(averaged_list, current_list, num_averaged): the EMA of get_ema_avg_fn, on
    every parameter in place."""

    def ema_update(ema_params, current_params, num_averaged):
        for e, c in zip(ema_params, current_params):
            e._data *= decay
            e._data += (1 - decay) * c._data
            e._version += 1  # changed in place: a graph that saved it must not backprop

    return ema_update


def get_swa_multi_avg_fn():
    """multi_avg_fn of the equal average, in place: averaged += (current - averaged) / (n + 1)."""

    def swa_update(averaged_params, current_params, num_averaged):
        for a, c in zip(averaged_params, current_params):
            a._data += (c._data - a._data) / (num_averaged + 1)
            a._version += 1

    return swa_update


def get_swa_avg_fn():
    """avg_fn of the equal average: averaged + (current - averaged) / (num_averaged + 1)."""

    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of `model` whose weights are a running average of the model's, updated by
    `update_parameters(model)` (PyTorch's AveragedModel). The first update copies the weights;
    later ones average them: equally (SWA, the default) or with `avg_fn` / `multi_avg_fn`
    (e.g. an EMA). Its forward is the averaged copy's.

    Args:
        model (Module): the model to average (copied; it is not changed).
        device: where the copy lives (default: where the model is).
        avg_fn: f(averaged, current, num_averaged) -> new averaged Tensor, per parameter.
        multi_avg_fn: f(averaged_list, current_list, num_averaged), updating in place.
        use_buffers (bool): average the buffers too (BN running statistics) instead of copying
            them from the model at each update. Default: False.

    state_dict: 'n_averaged' and the copy's keys under 'module.'.
    """

    def __init__(self, model: Module, device=None, avg_fn=None, multi_avg_fn=None,
                 use_buffers: bool = False):  # fmt: skip
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give avg_fn or multi_avg_fn, not both")
        self.module = copy.deepcopy(model)
        count = Tensor(np.array(0, dtype=np.int64))
        if device is not None:
            self.module, count = self.module.to(device), count.to(device)
        self.register_buffer("n_averaged", count)
        self._count = 0  # the buffer's value on the host: no device read-back per update
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tracked(self, model: Module) -> list:
        if self.use_buffers:
            return list(itertools.chain(model.parameters(), model.buffers()))
        return list(model.parameters())

    def update_parameters(self, model: Module) -> None:
        """Fold the model's current weights into the average (the first call copies them)."""
        mine, theirs = self._tracked(self.module), self._tracked(model)
        if len(mine) != len(theirs):
            raise ValueError(
                f"AveragedModel: the model has {len(theirs)} tensors to average, the copy "
                f"{len(mine)}; is it the model this AveragedModel was made from?"
            )
        n = self._count
        with no_grad():
            current = [c.detach().to(p.device) for p, c in zip(mine, theirs)]
            floats = [(p, c) for p, c in zip(mine, current) if p.dtype.kind == "f"]
            if n == 0:
                for p, c in zip(mine, current):
                    p.copy_(c)
            elif self.multi_avg_fn is not None:
                self.multi_avg_fn([p for p, _ in floats], [c for _, c in floats], n)
            else:
                avg = self.avg_fn or get_swa_avg_fn()
                for p, c in floats:
                    p.copy_(avg(p.detach(), c, n))
            if not self.use_buffers:  # keep the copy's buffers those of the model
                for b, bm in zip(self.module.buffers(), model.buffers()):
                    b.copy_(bm.detach().to(b.device))
        self.n_averaged._data += 1  # on its device, in place
        self._count = n + 1

    def load_state_dict(self, state_dict, strict: bool = True):
        result = super().load_state_dict(state_dict, strict)
        self._count = int(self.n_averaged.item())  # once per load, not per update
        return result


@no_grad()
def update_bn(loader, model: Module, device=None) -> None:
    """Recompute the BatchNorm running statistics of `model` with one pass over `loader`
    (PyTorch's update_bn): the averaged weights of SWA never produced the statistics the
    model's BN layers hold. Each BN layer's running mean and variance become the cumulative
    average over the batches (momentum None for the pass); the model's mode is restored.

    Args:
        loader: iterable of batches, each an input or an (input, target, ...) tuple.
        device: where to move each input first (default: leave it).
    """
    momenta = {}
    for m in model.modules():
        # (instance norm keeps per-image statistics for eval: PyTorch leaves it alone too)
        if isinstance(m, _BatchNorm) and not isinstance(m, _InstanceNorm) and m.track_running_stats:
            m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for m in momenta:
        m.momentum = None
    try:
        for batch in loader:
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            if device is not None:
                x = x.to(device)
            model(x)
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to a constant `swa_lr` over `anneal_epochs` steps, then hold it
    (PyTorch's SWALR): lr_t = swa_lr * a(t) + lr_0 * (1 - a(t)), t = step / anneal_epochs,
    a(t) = (1 - cos(pi t)) / 2 ('cos') or t ('linear').

    Args:
        swa_lr (float or list, one per group): the lr to reach.
        anneal_epochs (int): steps of the annealing (0: jump at once). Default: 10.
        anneal_strategy (str): 'cos' or 'linear'. Default: 'cos'.
    """

    def __init__(self, optimizer: Optimizer, swa_lr, anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1):  # fmt: skip
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"SWALR: {type(optimizer).__name__} is not an Optimizer")
        for lr, group in zip(_per_group("SWALR", "swa_lr", swa_lr, len(optimizer.param_groups)),
                             optimizer.param_groups):  # fmt: skip
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"SWALR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"SWALR: anneal_epochs must be an int >= 0, got {anneal_epochs!r}")
        self.anneal_strategy, self.anneal_epochs = anneal_strategy, anneal_epochs
        super().__init__(optimizer, last_epoch)

    def _anneal(self, t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2 if self.anneal_strategy == "cos" else t

    def get_lr(self) -> list:
        # the lr the optimizer started from, recovered from the current one (PyTorch's recursion)
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev = self._anneal(max(0.0, min(1.0, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self._anneal(max(0.0, min(1.0, step / max(1, self.anneal_epochs))))
        out = []
        for group in self.optimizer.param_groups:
            swa = group["swa_lr"]
            start = swa if prev == 1 else (group["lr"] - prev * swa) / (1 - prev)
            out.append(swa * alpha + start * (1 - alpha))
        return out
