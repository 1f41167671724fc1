"""Learning-rate schedulers with torch.optim.lr_scheduler's formulas and `last_epoch` semantics.

Build the scheduler after the optimizer; it sets every group's lr for epoch 0 at once
(last_epoch becomes 0). Call `scheduler.step()` after `optimizer.step()`, once per epoch (or per
iteration, if that is your unit); `ReduceLROnPlateau.step(metric)` takes the monitored value.

Like PyTorch, the schedulers update the current lr recursively (so they can be chained) and keep
a closed form for `step(epoch)`; both give the same numbers.
"""

from __future__ import annotations

import math
import numbers
import types
from bisect import bisect_right
from collections import Counter

from .optimizer import Optimizer


class LRScheduler:
    """Base class. A subclass defines `get_lr()`: the groups' lrs at `self.last_epoch` (the base
    class keeps them unchanged: a constant schedule).

    Args:
        optimizer (Optimizer): whose param_groups' 'lr' are set.
        last_epoch (int): the last epoch done; -1 (default) starts fresh. To resume, pass the
            saved value (the groups must then hold 'initial_lr'), or use load_state_dict.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: {type(optimizer).__name__} is not an Optimizer"
            )
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming a "
                        f"scheduler with last_epoch={last_epoch}; load the optimizer's state first"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def _current_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list:
        """The lrs for `self.last_epoch`, computed from the current ones."""
        return self._current_lrs()

    def get_last_lr(self) -> list:
        """The lrs set by the last `step()`, one per param group."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or jump to `epoch`, using the closed form; deprecated in PyTorch)."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def state_dict(self) -> dict:
        """Every attribute except the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch).

    Args:
        lr_lambda (callable or list of callables, one per group): epoch -> factor.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(
                    f"{type(self).__name__}: expected {n} lr_lambdas, got {len(lr_lambda)}"
                )
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:
        # plain functions cannot be saved; a callable object's attributes can (as in PyTorch)
        sd = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        sd["lr_lambdas"] = [
            None if isinstance(f, types.FunctionType) else dict(f.__dict__) for f in self.lr_lambdas
        ]
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas", [])
        self.__dict__.update(state_dict)
        for f, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                f.__dict__.update(saved)


class StepLR(LRScheduler):
    """Multiply the lr by gamma every `step_size` epochs: lr = base_lr * gamma^(epoch // step_size).

    Args:
        step_size (int): period of the decay, > 0.
        gamma (float): factor. Default: 0.1.
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ):
        if not isinstance(step_size, numbers.Integral) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by gamma at each milestone: lr = base_lr * gamma^(milestones passed).

    Args:
        milestones (iterable of int): epochs at which to decay (a repeated one decays twice).
        gamma (float): factor. Default: 0.1.
    """

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        ms = sorted(self.milestones.elements())
        return [base * self.gamma ** bisect_right(ms, self.last_epoch) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma^epoch.

    Args:
        gamma (float): factor per epoch.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        return [base * self.gamma**self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from base_lr to eta_min over T_max epochs:

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    computed recursively like PyTorch (after T_max the curve climbs back, period 2 * T_max).

    Args:
        T_max (int): half period, in epochs (or iterations), > 0.
        eta_min (float): lowest lr. Default: 0.
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and e > 0:
            return [
                lo + (base - lo) * (1 + math.cos(e * math.pi / T)) / 2 for base in self.base_lrs
            ]
        if (e - 1 - T) % (2 * T) == 0:
            # the bottom of the curve: the recursion's ratio would divide by zero here
            return [
                lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                for base, lr in zip(self.base_lrs, self._current_lrs())
            ]
        return [
            (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - lo) + lo
            for lr in self._current_lrs()
        ]

    def _get_closed_form_lr(self) -> list:
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        return [lo + (base - lo) * (1 + math.cos(math.pi * e / T)) / 2 for base in self.base_lrs]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by `factor` when a metric has stopped improving for `patience` epochs.

    Args:
        mode (str): 'min' (a loss) or 'max' (an accuracy). Default: 'min'.
        factor (float): lr = max(lr * factor, min_lr), factor < 1. Default: 0.1.
        patience (int): epochs without improvement tolerated before a cut. Default: 10.
        threshold (float): what counts as an improvement. Default: 1e-4.
        threshold_mode (str): 'rel': better than best * (1 -+ threshold);
            'abs': better than best -+ threshold. Default: 'rel'.
        cooldown (int): epochs after a cut during which bad epochs are not counted. Default: 0.
        min_lr (float or list): lower bound per group. Default: 0.
        eps (float): a cut smaller than eps is skipped. Default: 1e-8.

    Usage: `scheduler.step(val_loss)` once per epoch.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr=0.0,
        eps: float = 1e-8,
    ):
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        if patience < 0 or cooldown < 0:
            raise ValueError(
                f"ReduceLROnPlateau: patience and cooldown must be >= 0, got {patience}, {cooldown}"
            )
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: {type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs, got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n
        self.factor = factor
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode {mode!r} is unknown (use 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"ReduceLROnPlateau: threshold mode {threshold_mode!r} is unknown "
                "(use 'rel' or 'abs')"
            )
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics, epoch: int | None = None) -> None:
        """Record this epoch's metric (a float or a one-element tensor); cut the lr if due."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"ReduceLROnPlateau: the optimizer has {len(groups)} param groups but min_lr "
                    f"lists {len(self.min_lrs)}; update the min_lrs attribute after add_param_group"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, lo in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, lo)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


class MultiplicativeLR(LambdaLR):
    """Multiply the lr by lr_lambda(epoch) at every step after the first.

    Args:
        lr_lambda (callable or list of callables, one per group): epoch -> factor.
    """

    def get_lr(self) -> list:
        if self._is_initial:
            return self._current_lrs()
        return [lr * f(self.last_epoch) for f, lr in zip(self.lr_lambdas, self._current_lrs())]


def _check_total_iters(owner: str, total_iters) -> None:
    if not isinstance(total_iters, numbers.Integral) or total_iters < 1:
        raise ValueError(f"{owner}: total_iters must be an int >= 1, got {total_iters!r}")


class ConstantLR(LRScheduler):
    """lr = base_lr * factor for the first `total_iters` epochs, then base_lr.

    Args:
        factor (float): in [0, 1]. Default: 1/3.
        total_iters (int): epochs at the reduced lr. Default: 5.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        if not 0 <= factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._current_lrs()]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [lr / self.factor for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        f = self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor)
        return [base * f for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr linearly from base_lr * start_factor to base_lr * end_factor over
    `total_iters` epochs, then hold it (the usual warm-up):

        lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)

    Args:
        start_factor (float): in (0, 1]. Default: 1/3.
        end_factor (float): in [0, 1]. Default: 1.
        total_iters (int): length of the ramp. Default: 5.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        _check_total_iters("LinearLR", total_iters)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        e, s, d = self.last_epoch, self.start_factor, self.end_factor - self.start_factor
        if e == 0:
            return [lr * s for lr in self._current_lrs()]
        if e > self.total_iters:
            return self._current_lrs()
        # ratio of this epoch's factor to the last one's
        ratio = 1.0 + d / (self.total_iters * s + (e - 1) * d)
        return [lr * ratio for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        e, s, d = self.last_epoch, self.start_factor, self.end_factor - self.start_factor
        return [
            base * (s + d * min(self.total_iters, e) / self.total_iters) for base in self.base_lrs
        ]


class PolynomialLR(LRScheduler):
    """Polynomial decay to zero over `total_iters` epochs (the 'poly' schedule of segmentation
    nets): lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ** power.

    Args:
        total_iters (int): epochs until the lr reaches 0. Default: 5.
        power (float): Default: 1 (linear).
    """

    def __init__(
        self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1
    ):
        _check_total_iters("PolynomialLR", total_iters)
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        e, T = self.last_epoch, self.total_iters
        if self._is_initial or e > T:
            return self._current_lrs()
        factor = ((1.0 - e / T) / (1.0 - (e - 1) / T)) ** self.power
        return [lr * factor for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        f = (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
        return [base * f for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing restarted every T_i epochs (SGDR), T_i = T_0 * T_mult^i:

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    `step(epoch)` takes fractional epochs, for stepping every batch:
    `scheduler.step(epoch + i / len(loader))`.

    Args:
        T_0 (int): length of the first period, > 0.
        T_mult (int): growth of the period after each restart, >= 1. Default: 1.
        eta_min (float): lowest lr. Default: 0.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ):
        if not isinstance(T_0, numbers.Integral) or T_0 <= 0:
            raise ValueError(
                f"CosineAnnealingWarmRestarts: T_0 must be a positive int, got {T_0!r}"
            )
        if not isinstance(T_mult, numbers.Integral) or T_mult < 1:
            raise ValueError(
                f"CosineAnnealingWarmRestarts: T_mult must be an int >= 1, got {T_mult!r}"
            )
        self.T_0, self.T_i, self.T_mult, self.eta_min = T_0, T_0, T_mult, eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        c = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]

    def step(self, epoch=None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be >= 0, got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    # n completed periods: T_0 * (T_mult^n - 1) / (T_mult - 1) <= epoch
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._step_count += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin): the lr climbs from max_lr / div_factor to max_lr over
    the first pct_start of the steps, then anneals to max_lr / (div_factor * final_div_factor);
    the momentum (SGD's momentum or Adam's beta1) moves the opposite way. Step it every batch.

    Args:
        max_lr (float or list, one per group): the peak lr.
        total_steps (int): steps in the cycle; or give epochs and steps_per_epoch.
        epochs, steps_per_epoch (int): total_steps = epochs * steps_per_epoch.
        pct_start (float): share of the steps spent climbing. Default: 0.3.
        anneal_strategy (str): 'cos' or 'linear'. Default: 'cos'.
        cycle_momentum (bool): cycle the momentum inversely to the lr. Default: True.
        base_momentum, max_momentum (float or list): its range. Default: 0.85, 0.95.
        div_factor (float): initial_lr = max_lr / div_factor. Default: 25.
        final_div_factor (float): min_lr = initial_lr / final_div_factor. Default: 1e4.
        three_phase (bool): climb, descend symmetrically back to initial_lr, then anneal to
            min_lr (fast.ai's schedule is the two-phase default). Default: False.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OneCycleLR: {type(optimizer).__name__} is not an Optimizer")
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
            for name, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(v, numbers.Integral) or v <= 0:
                    raise ValueError(f"OneCycleLR: {name} must be a positive int, got {v!r}")
            total_steps = epochs * steps_per_epoch
        if not isinstance(total_steps, numbers.Integral) or total_steps <= 0:
            raise ValueError(f"OneCycleLR: total_steps must be a positive int, got {total_steps!r}")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self.total_steps = int(total_steps)
        self.anneal_strategy = anneal_strategy
        up = float(pct_start * total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * total_steps) - 2, "start_lr": "max_lr",
                 "end_lr": "initial_lr", "start_momentum": "base_momentum",
                 "end_momentum": "max_momentum"},
                {"end_step": total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]  # fmt: skip
        else:
            self._schedule_phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]  # fmt: skip
        groups = optimizer.param_groups
        max_lrs = _per_group("OneCycleLR", "max_lr", max_lr, len(groups))
        if last_epoch == -1:
            for group, peak in zip(groups, max_lrs):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"OneCycleLR: {type(optimizer).__name__} has neither momentum nor betas; "
                    "pass cycle_momentum=False"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            lows = _per_group("OneCycleLR", "base_momentum", base_momentum, len(groups))
            highs = _per_group("OneCycleLR", "max_momentum", max_momentum, len(groups))
            if last_epoch == -1:
                for group, lo, hi in zip(groups, lows, highs):
                    self._set_momentum(group, hi)
                    group["max_momentum"], group["base_momentum"] = hi, lo
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, m: float) -> None:
        if self.use_beta1:
            group["betas"] = (m, *group["betas"][1:])
        else:
            group["momentum"] = m

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {step} times; the schedule has total_steps="
                f"{self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            last = len(self._schedule_phases) - 1
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == last:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(
                            group,
                            self._anneal(
                                group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                            ),
                        )
                    break
                start = end
        return lrs


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith, 2017): the lr runs back and forth between base_lr and
    max_lr, a cycle every step_size_up + step_size_down steps; the momentum (SGD's momentum or
    Adam's beta1) moves the other way. Step it every batch.

    Args:
        base_lr, max_lr (float or list, one per group): the bounds of the cycle.
        step_size_up (int): steps from base_lr up to max_lr. Default: 2000.
        step_size_down (int or None): steps back down. Default: step_size_up.
        mode (str): 'triangular' (constant amplitude), 'triangular2' (amplitude halved every
            cycle) or 'exp_range' (amplitude scaled by gamma ** step). Default: 'triangular'.
        gamma (float): of 'exp_range'. Default: 1.0.
        scale_fn (callable or None): a custom amplitude f(x) in [0, 1], overriding `mode`.
        scale_mode (str): with scale_fn, whether x is the cycle ('cycle') or the step
            ('iterations'). Default: 'cycle'.
        cycle_momentum (bool): Default: True. base_momentum, max_momentum: Default 0.8, 0.9.

    At step t: cycle = floor(1 + t / (up + down)), x = 1 + t / (up + down) - cycle;
    height = x / r if x <= r else (x - 1) / (r - 1) with r = up / (up + down);
    lr = base_lr + (max_lr - base_lr) * height * scale.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr,
        max_lr,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn=None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum=0.8,
        max_momentum=0.9,
        last_epoch: int = -1,
    ):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"CyclicLR: {type(optimizer).__name__} is not an Optimizer")
        groups = optimizer.param_groups
        base_lrs = _per_group("CyclicLR", "base_lr", base_lr, len(groups))
        if last_epoch == -1:
            for lr, group in zip(base_lrs, groups):
                group["lr"] = lr
        self.max_lrs = _per_group("CyclicLR", "max_lr", max_lr, len(groups))
        up = float(step_size_up)
        down = up if step_size_down is None else float(step_size_down)
        if up <= 0 or down < 0:
            raise ValueError(
                f"CyclicLR: step_size_up must be > 0 and step_size_down >= 0, got {step_size_up}, "
                f"{step_size_down}"
            )
        self.total_size, self.step_ratio = up + down, up / (up + down)
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(
                f"CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range', got {mode!r}"
            )
        if scale_fn is not None and scale_mode not in ("cycle", "iterations"):
            raise ValueError(
                f"CyclicLR: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}"
            )
        self.mode, self.gamma, self.scale_mode = mode, gamma, scale_mode
        self._custom_scale_fn = scale_fn
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"CyclicLR: {type(optimizer).__name__} has neither momentum nor betas; "
                    "pass cycle_momentum=False"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group("CyclicLR", "base_momentum", base_momentum,
                                             len(groups))  # fmt: skip
            self.max_momentums = _per_group("CyclicLR", "max_momentum", max_momentum, len(groups))
            if last_epoch == -1:
                for m, b, group in zip(self.max_momentums, self.base_momentums, groups):
                    self._set_momentum(group, m)
                    group["max_momentum"], group["base_momentum"] = m, b
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    _set_momentum = OneCycleLR._set_momentum

    def _init_scale_fn(self) -> None:
        """The amplitude function: the custom one, or the mode's (rebuilt after loading)."""
        if self._custom_scale_fn is not None:
            self._scale_fn = self._custom_scale_fn
            return
        gamma = self.gamma
        self._scale_fn, self.scale_mode = {
            "triangular": (lambda x: 1.0, "cycle"),
            "triangular2": (lambda x: 1 / (2.0 ** (x - 1)), "cycle"),
            "exp_range": (lambda x: gamma**x, "iterations"),
        }[self.mode]

    def get_lr(self) -> list:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        height = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self._scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [b + (m - b) * height * scale for b, m in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, b, m in zip(self.optimizer.param_groups, self.base_momentums,
                                   self.max_momentums):  # fmt: skip
                self._set_momentum(group, m - (m - b) * height * scale)
        return lrs

    def state_dict(self) -> dict:
        """As the base class, without the amplitude functions: the mode's is rebuilt from
        `mode` and `gamma` on loading; a custom scale_fn stays the one this scheduler was built
        with (a function cannot go into a pickle-free checkpoint)."""
        skip = ("_scale_fn", "_custom_scale_fn")
        return {k: v for k, v in super().state_dict().items() if k not in skip}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._init_scale_fn()


def _per_group(owner: str, name: str, value, n: int) -> list:
    """`value` repeated for n groups, or a list/tuple of n values."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{owner}: expected {n} values of {name}, got {len(value)}")
        return list(value)
    return [value] * n


class SequentialLR(LRScheduler):
    """Hand the schedule from one scheduler to the next at each milestone, e.g. a linear warm-up
    then cosine annealing:

        warm = LinearLR(opt, start_factor=0.1, total_iters=5)
        cos = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warm, cos], milestones=[5])

    Each scheduler after the first starts over (its epoch 0) at its milestone.

    Args:
        schedulers (list): schedulers of this optimizer, in order.
        milestones (list of int): the epochs at which the next one takes over
            (len(schedulers) - 1 of them, increasing).
    """

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ValueError("SequentialLR: expected at least one scheduler")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(
                    f"SequentialLR: schedulers[{i}] is a ReduceLROnPlateau, which steps on a "
                    "metric and cannot be sequenced"
                )
            if getattr(s, "optimizer", None) is not optimizer:
                raise ValueError(
                    f"SequentialLR: schedulers[{i}] ({type(s).__name__}) drives another optimizer"
                )
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR: {len(schedulers)} schedulers need {len(schedulers) - 1} "
                f"milestones, got {len(milestones)}"
            )
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"SequentialLR: milestones must increase, got {milestones}")
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        # each scheduler's constructor already took its first step: undo them all, then take
        # the first one's again from the groups' initial lrs
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in schedulers:
            s.last_epoch -= 1
        first = schedulers[0]
        first._step_count, first._is_initial = 0, True
        try:
            first.step()
        finally:
            first._is_initial = False
        self._step_count = 1
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        self._step_count += 1
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            scheduler.step(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict:
        sd = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        sd["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        saved = state_dict.pop("_schedulers")
        self.__dict__.update(state_dict)
        for s, sd in zip(self._schedulers, saved):
            s.load_state_dict(sd)

    def __repr__(self) -> str:
        inner = ", ".join(type(s).__name__ for s in self._schedulers)
        return f"{type(self).__name__}([{inner}], last_lr={self._last_lr})"


class ChainedScheduler(LRScheduler):
    """Step several schedulers together, each multiplying into the lr the others set (e.g.
    ConstantLR warm-up times ExponentialLR decay).

    Args:
        schedulers (list): the schedulers, all of one optimizer.
        optimizer: that optimizer (default: the first scheduler's).
    """

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("ChainedScheduler: expected at least one scheduler")
        optimizer = optimizer or schedulers[0].optimizer
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(
                    f"ChainedScheduler: schedulers[{i}] is a ReduceLROnPlateau, which steps on a "
                    "metric and cannot be chained"
                )
            if s.optimizer is not optimizer:
                raise ValueError(
                    f"ChainedScheduler: schedulers[{i}] ({type(s).__name__}) drives another "
                    "optimizer"
                )
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._last_lr = self._current_lrs()

    def step(self) -> None:
        for s in self._schedulers:
            s.step()
        self._last_lr = self._current_lrs()

    state_dict = SequentialLR.state_dict
    load_state_dict = SequentialLR.load_state_dict
    __repr__ = SequentialLR.__repr__
