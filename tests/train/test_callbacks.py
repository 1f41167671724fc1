"""Early stopping: both rules against plain reference implementations on scripted sequences of
validation losses, through `fit` with a fake model whose validation loss is scripted; the best
weights are put back; HistoryWriter and LambdaCallback."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_cv import layers as nn
from minitorch_cv import optim
from minitorch_cv.tensor import Tensor, tensor
from minitorch_cv.train import EarlyStopping, HistoryWriter, LambdaCallback, fit

# --------------------------------------------------------------------------- references


def ratio_rule_stop(values, ratio=1.1, window=5):
    """First epoch (1-based) at which the last `window` values were each above ratio x the
    minimum of the values up to and including them; None if never."""
    run = 0
    for i, v in enumerate(values):
        run = run + 1 if v > ratio * min(values[: i + 1]) else 0
        if run >= window:
            return i + 1
    return None


def patience_rule_stop(values, patience):
    """First epoch at which `patience` epochs in a row brought no new minimum; None if never."""
    best, wait = math.inf, 0
    for i, v in enumerate(values):
        if v < best:
            best, wait = v, 0
        else:
            wait += 1
        if wait >= patience:
            return i + 1
    return None


def run_rule(cb, values):
    for epoch, v in enumerate(values, 1):
        if cb.on_epoch_end(epoch, {"val_loss": v}):
            return epoch
    return None


# --------------------------------------------------------------------------- the rules alone


def test_ratio_rule_on_a_hand_made_sequence():
    # minimum 0.8 at epoch 2; bound 0.88. Epoch 5 (0.85) is below the bound and resets the run;
    # epochs 6..10 are all above it: stop at 10.
    values = [1.0, 0.8, 0.9, 0.95, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1]
    cb = EarlyStopping(ratio=1.1, ratio_patience=5)
    assert run_rule(cb, values) == 10 == ratio_rule_stop(values)
    assert cb.stopped_epoch == 10 and cb.best_epoch == 2 and cb.best == 0.8
    assert cb.reason == "val_loss stayed above 1.1 x its minimum (0.8) for 5 epochs in a row"


def test_patience_rule_on_a_hand_made_sequence():
    values = [1.0, 0.9, 0.95, 0.92, 0.91, 0.5]
    cb = EarlyStopping(patience=3)
    assert run_rule(cb, values) == 5 == patience_rule_stop(values, 3)
    assert cb.best_epoch == 2 and "did not improve for 3 epochs" in cb.reason


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(0.05, 3.0), min_size=1, max_size=30))
def test_ratio_rule_matches_reference(values):
    assert run_rule(EarlyStopping(ratio=1.1, ratio_patience=5), values) == ratio_rule_stop(values)


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(0.05, 3.0), min_size=1, max_size=30), patience=st.integers(1, 6))
def test_patience_rule_matches_reference(values, patience):
    got = run_rule(EarlyStopping(patience=patience), values)
    assert got == patience_rule_stop(values, patience)


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(0.05, 3.0), min_size=1, max_size=30), patience=st.integers(1, 6))
def test_both_rules_stop_at_the_earlier(values, patience):
    stops = [s for s in (ratio_rule_stop(values), patience_rule_stop(values, patience)) if s]
    cb = EarlyStopping(patience=patience, ratio=1.1, ratio_patience=5)
    assert run_rule(cb, values) == (min(stops) if stops else None)


def test_mode_max_watches_an_accuracy():
    cb = EarlyStopping(monitor="val_acc", mode="max", patience=2)
    logs = [{"val_acc": a} for a in (0.5, 0.7, 0.69, 0.7)]
    assert [cb.on_epoch_end(i + 1, lg) for i, lg in enumerate(logs)] == [False, False, False, True]
    assert cb.best == 0.7 and cb.best_epoch == 2
    cb = EarlyStopping(monitor="val_acc", mode="max", ratio=1.1, ratio_patience=2)
    # below 0.9 - 0.09 = 0.81 twice in a row
    assert run_rule_key(cb, "val_acc", [0.9, 0.8, 0.85, 0.8, 0.7]) == 5


def run_rule_key(cb, key, values):
    for epoch, v in enumerate(values, 1):
        if cb.on_epoch_end(epoch, {key: v}):
            return epoch
    return None


def test_nan_is_never_an_improvement():
    cb = EarlyStopping(patience=2)
    assert run_rule(cb, [1.0, float("nan"), float("nan")]) == 3
    assert cb.best == 1.0


def test_min_delta():
    cb = EarlyStopping(patience=2, min_delta=0.1)
    assert run_rule(cb, [1.0, 0.95, 0.92, 0.5]) == 3  # 0.05 and 0.08 are not improvements


def test_bad_arguments():
    with pytest.raises(ValueError, match="give patience=N"):
        EarlyStopping()
    with pytest.raises(ValueError, match="ratio must be > 1"):
        EarlyStopping(ratio=0.9)
    with pytest.raises(ValueError, match="patience must be an int >= 1"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(patience=1, mode="lowest")
    with pytest.raises(KeyError, match="'val_loss' is not in the epoch's logs"):
        EarlyStopping(patience=1).on_epoch_end(1, {"train_loss": 1.0})


def test_state_dict_round_trip_continues_the_count():
    values = [1.0, 0.8, 0.9, 0.95, 0.9, 0.9, 0.9]
    a = EarlyStopping(ratio=1.1, ratio_patience=5, patience=10)
    run_rule(a, values[:4])
    b = EarlyStopping(ratio=1.1, ratio_patience=5, patience=10)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))  # JSON-able without weights
    rest = [b.on_epoch_end(e, {"val_loss": v}) for e, v in enumerate(values[4:], 5)]
    assert rest == [False, False, True] and b.stopped_epoch == 7


# --------------------------------------------------------------------------- through fit


class Scale(nn.Module):
    """y = x * w: one weight that SGD changes every epoch."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(tensor([1.0]))

    def forward(self, x):
        return x * self.w


class ScriptedLoss:
    """Training: mean((y_hat - 3)^2), so w moves each step. Validation (model in eval mode):
    the next scripted value, whatever the output."""

    def __init__(self, model, val_values):
        self.model, self.values = model, list(val_values)

    def __call__(self, out, y):
        if self.model.training:
            return ((out - 3.0) ** 2).mean()
        return tensor(self.values.pop(0))


def scripted_fit(val_values, callbacks, epochs=None, **kw):
    model = Scale()
    opt = optim.SGD(model.parameters(), lr=0.01)
    x = Tensor(np.ones((4, 1), np.float32))
    y = Tensor(np.zeros(4, np.int64))
    weights = {}
    record = LambdaCallback(
        on_epoch_end=lambda e, logs: weights.__setitem__(e, float(model.w.item()))
    )
    history = fit(model, ScriptedLoss(model, val_values), opt, [(x, y)], [(x, y)],
                  epochs=epochs or len(val_values), metrics=None, callbacks=[record, *callbacks],
                  progress=False, **kw)  # fmt: skip
    return model, history, weights


def test_fit_ratio_rule_stops_and_restores_best_weights():
    values = [1.0, 0.8, 0.9, 0.95, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1]
    stop = EarlyStopping(ratio=1.1, ratio_patience=5)
    model, history, weights = scripted_fit(values, [stop])
    assert len(history) == 10 and [h["val_loss"] for h in history] == pytest.approx(values[:10])
    assert stop.stopped_epoch == 10 and stop.best_epoch == 2
    assert "above 1.1 x its minimum" in history.stop_reason
    assert weights[2] != weights[10]  # the weight did move after the best epoch
    assert float(model.w.item()) == weights[2]  # and the best epoch's weight is back


def test_fit_patience_rule_stops():
    values = [1.0, 0.9, 0.95, 0.92, 0.91, 0.5, 0.4]
    stop = EarlyStopping(patience=3, restore_best_weights=False)
    model, history, weights = scripted_fit(values, [stop])
    assert len(history) == 5 and history.best_epoch() == 2
    assert float(model.w.item()) == weights[5]  # restore_best_weights=False keeps the last


def test_reduce_lr_on_plateau_gets_the_validation_loss():
    # the training loss falls every epoch; only the scripted validation loss plateaus
    values = [1.0, 0.5, 0.6, 0.7, 0.4, 0.45]
    model = Scale()
    opt = optim.SGD(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    x, y = Tensor(np.ones((4, 1), np.float32)), Tensor(np.zeros(4, np.int64))
    history = fit(model, ScriptedLoss(model, values), opt, [(x, y)], [(x, y)], epochs=6,
                  scheduler=sched, metrics=None, progress=False)  # fmt: skip
    # lr of each epoch: cut after every epoch whose val loss was not a new minimum (3, 4, 6)
    assert history.column("lr") == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.0025, 0.0025])
    assert history.column("train_loss") == sorted(history.column("train_loss"), reverse=True)


def test_scheduler_interval_step_steps_after_every_batch():
    model = Scale()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=3)
    x, y = Tensor(np.ones((4, 1), np.float32)), Tensor(np.zeros(4, np.int64))
    values = [1.0] * 6
    history = fit(model, ScriptedLoss(model, values), opt, [(x, y)] * 3, epochs=2,
                  scheduler=sched, scheduler_interval="step", metrics=None,
                  progress=False)  # fmt: skip
    # the same schedule stepped by hand: the lr of steps 0 and 3 open the two epochs
    ref_opt = optim.SGD(Scale().parameters(), lr=0.1, momentum=0.9)
    ref = optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=1.0, total_steps=6)
    lrs = []
    for _ in range(6):
        lrs.append(ref_opt.param_groups[0]["lr"])
        ref.step()
    assert sched.last_epoch == 6
    assert history.column("lr") == pytest.approx([lrs[0], lrs[3]])
    assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"])


def test_scheduler_interval_errors():
    model = Scale()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler_interval must be 'epoch' or 'step'"):
        fit(model, None, opt, [], scheduler_interval="batch", progress=False)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="ReduceLROnPlateau steps on the validation loss"):
        fit(model, None, opt, [], scheduler=plateau, scheduler_interval="step", progress=False)


def test_history_writer_writes_every_epoch(tmp_path):
    seen = []

    def check(epoch, logs):
        seen.append(json.loads((tmp_path / "history.json").read_text()))

    values = [1.0, 0.9, 0.8]
    scripted_fit(values, [HistoryWriter(tmp_path), LambdaCallback(on_epoch_end=check)])
    assert [len(h) for h in seen] == [1, 2, 3]
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0].split(",")[:3] == ["epoch", "train_loss", "val_loss"] and len(lines) == 4


def test_lambda_callback_can_stop():
    model, history, _ = scripted_fit([1.0] * 5, [LambdaCallback(on_epoch_end=lambda e, lg: e == 2)])
    assert len(history) == 2 and history.stop_reason == "stopped by LambdaCallback"
