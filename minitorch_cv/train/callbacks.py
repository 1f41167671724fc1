"""Callbacks: code that `fit` runs at the start, after every epoch and at the end of training.

    stop = EarlyStopping(patience=3)                        # plain patience on val_loss
    stop = EarlyStopping(ratio=1.1, ratio_patience=5)       # above 1.1 x its minimum, 5 in a row
    history = fit(..., callbacks=[stop])                    # best weights restored at the end

A callback sees the model, the optimizer and the history through `set_context` (fit calls it);
`on_epoch_end(epoch, logs)` returns True to stop training. Whatever a callback must remember
across an interrupted run goes in `state_dict()`, which `fit` stores in every checkpoint.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..backend import xp_of
from .history import History


class Callback:
    """Base class; every hook does nothing by default.

    Attributes set by `set_context`: `model`, `optimizer`, `history` (the History being built).
    """

    model = None
    optimizer = None
    history: History | None = None

    def set_context(self, model=None, optimizer=None, history: History | None = None) -> None:
        self.model, self.optimizer, self.history = model, optimizer, history

    def on_train_begin(self) -> None:
        """Before the first epoch (also when resuming)."""

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        """After epoch `epoch` (1-based) with its history row `logs`; return True to stop."""
        return False

    def on_train_end(self) -> None:
        """After the last epoch, also when a callback stopped training."""

    def state_dict(self) -> dict:
        """What the callback must remember across a resumed run (arrays and JSON-able values)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned."""


class EarlyStopping(Callback):
    """Stop when a monitored value stops improving, and keep the weights of its best epoch.

    Two rules, either or both:

    * patience: stop after `patience` epochs in a row without an improvement of more than
      `min_delta` over the best value so far (Keras' and most recipes' rule);
    * ratio: stop when the value has been worse than `ratio` x its best so far for
      `ratio_patience` epochs in a row (for a loss: val_loss > 1.1 * min(val_loss), 5 epochs).
      For mode='max' "worse" means below best - (ratio - 1) * |best|; for a negative best in
      mode='min', above best + (ratio - 1) * |best|.

    Args:
        monitor (str): the history key to watch. Default: 'val_loss'.
        mode (str): 'min' (a loss) or 'max' (an accuracy). Default: 'min'.
        patience (int or None): the patience rule's epoch count; None turns the rule off.
            Default: None.
        min_delta (float): the least change that counts as an improvement. Default: 0.
        ratio (float or None): the ratio rule's factor (> 1); None turns it off. Default: None.
        ratio_patience (int): epochs in a row above the ratio bound before stopping. Default: 5.
        restore_best_weights (bool): load the best epoch's weights into the model when training
            ends (stopped early or not). Default: True.

    After training: `stopped_epoch` (0 if it never fired), `best_epoch`, `best`, `reason`.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "min",
        patience: int | None = None,
        min_delta: float = 0.0,
        ratio: float | None = None,
        ratio_patience: int = 5,
        restore_best_weights: bool = True,
    ):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        if patience is None and ratio is None:
            raise ValueError(
                "EarlyStopping: give patience=N (stop after N epochs without improvement), "
                "ratio=R (stop when the value stays worse than R x its best), or both"
            )
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise ValueError(f"EarlyStopping: patience must be an int >= 1, got {patience!r}")
        if ratio is not None and not ratio > 1.0:
            raise ValueError(f"EarlyStopping: ratio must be > 1, got {ratio!r}")
        if not isinstance(ratio_patience, int) or ratio_patience < 1:
            raise ValueError(
                f"EarlyStopping: ratio_patience must be an int >= 1, got {ratio_patience!r}"
            )
        if min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta}")
        self.monitor, self.mode = monitor, mode
        self.patience, self.min_delta = patience, float(min_delta)
        self.ratio, self.ratio_patience = (None if ratio is None else float(ratio)), ratio_patience
        self.restore_best_weights = bool(restore_best_weights)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen (fit calls it when a run starts from scratch)."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.extreme = self.best  # the true minimum (maximum) so far, for the ratio rule
        self.wait = 0  # epochs since the last improvement (patience rule)
        self.above = 0  # epochs in a row beyond the ratio bound (ratio rule)
        self.stopped_epoch = 0
        self.reason = ""
        self.best_weights = None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def _beyond_ratio(self, value: float) -> bool:
        ref = self.extreme
        slack = (self.ratio - 1.0) * abs(ref)
        return value > ref + slack if self.mode == "min" else value < ref - slack

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        if self.monitor not in logs:
            raise KeyError(
                f"EarlyStopping: monitored value {self.monitor!r} is not in the epoch's logs "
                f"(keys: {', '.join(logs)}); pass val_loader to fit or monitor 'train_loss'"
            )
        value = float(logs[self.monitor])
        if math.isnan(value):
            value = math.inf if self.mode == "min" else -math.inf  # nan is never an improvement
        # the ratio rule compares with the minimum before this epoch (a new minimum is never
        # above it); min_delta does not apply to it
        if self.ratio is not None and math.isfinite(self.extreme) and self._beyond_ratio(value):
            self.above += 1
        else:
            self.above = 0
        if (value < self.extreme) if self.mode == "min" else (value > self.extreme):
            self.extreme = value
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights and self.model is not None:
                self.best_weights = _snapshot(self.model)
        else:
            self.wait += 1
        if self.patience is not None and self.wait >= self.patience:
            self.reason = (
                f"{self.monitor} did not improve for {self.wait} epochs (best {self.best:.6g} "
                f"at epoch {self.best_epoch})"
            )
        elif self.ratio is not None and self.above >= self.ratio_patience:
            self.reason = (
                f"{self.monitor} stayed {'above' if self.mode == 'min' else 'below'} "
                f"{self.ratio:g} x its {'minimum' if self.mode == 'min' else 'maximum'} "
                f"({self.extreme:.6g}) for {self.above} epochs in a row"
            )
        else:
            return False
        self.stopped_epoch = epoch
        return True

    def on_train_end(self) -> None:
        if self.restore_best_weights and self.best_weights is not None and self.model is not None:
            self.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "extreme": self.extreme,
            "wait": self.wait,
            "above": self.above,
            "stopped_epoch": self.stopped_epoch,
            "reason": self.reason,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict) -> None:
        for k in ("best", "best_epoch", "extreme", "wait", "above", "stopped_epoch", "reason"):
            setattr(self, k, state[k])
        self.best_weights = state.get("best_weights")

    def __repr__(self) -> str:
        rules = []
        if self.patience is not None:
            rules.append(f"patience={self.patience}")
        if self.ratio is not None:
            rules.append(f"ratio={self.ratio:g}, ratio_patience={self.ratio_patience}")
        return f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, {', '.join(rules)})"


def _snapshot(model) -> dict:
    """A copy of the model's state dict, on the model's device (no host round trip)."""
    return {k: xp_of(v._data).array(v._data, copy=True) for k, v in model.state_dict().items()}


class HistoryWriter(Callback):
    """Write `history.csv` and `history.json` into a folder after every epoch, so a run in
    progress (or one that crashed) can be read and plotted.

    Args:
        folder: where to write.
    """

    def __init__(self, folder):
        self.folder = Path(folder)

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        self.history.to_csv(self.folder / "history.csv")
        self.history.to_json(self.folder / "history.json")
        return False


class LambdaCallback(Callback):
    """A callback from plain functions: `LambdaCallback(on_epoch_end=lambda epoch, logs: ...)`.

    Args:
        on_train_begin, on_train_end: functions of no arguments.
        on_epoch_end: function (epoch, logs) -> bool or None (True stops training).
    """

    def __init__(self, on_train_begin=None, on_epoch_end=None, on_train_end=None):
        self._begin, self._epoch, self._end = on_train_begin, on_epoch_end, on_train_end

    def on_train_begin(self) -> None:
        if self._begin is not None:
            self._begin()

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        return bool(self._epoch(epoch, logs)) if self._epoch is not None else False

    def on_train_end(self) -> None:
        if self._end is not None:
            self._end()
