"""fit(): the training loop, and evaluate(): one pass over a loader without gradients.

The loop reads top to bottom, one epoch at a time:

    for each epoch:
        lr of the epoch; loader.set_epoch (same batches and augmentation on resume)
        for each batch: forward, loss, zero_grad, backward, clip, step, accumulate on the device
            every log_interval batches: read the losses once, check they are finite, update bar
        validation pass (no grad, eval mode)
        scheduler step (ReduceLROnPlateau gets the validation loss)
        history row; callbacks (early stopping); checkpoint last.npz (+ best.npz)

Losses stay on the device between log intervals: one host read per interval, not per batch.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..backend import device as parse_device
from ..backend import to_device, xp_of
from ..layers.loss import CrossEntropyLoss
from ..optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau
from ..tensor import Tensor, no_grad
from . import metrics as M
from .callbacks import EarlyStopping
from .checkpoint import atomic_copy, load_checkpoint, restore_checkpoint, save_checkpoint
from .history import History
from .utils import clip_grad_norm_


class NonFiniteLossError(RuntimeError):
    """The training loss became nan or inf; training stopped.

    Attributes: epoch, batch (1-based), value (the bad loss), last_finite_loss (or None),
    checkpoint (the last good checkpoint's path, or None).
    """

    def __init__(self, epoch, batch, value, last_finite_loss, last_finite_batch, checkpoint=None):
        self.epoch, self.batch, self.value = epoch, batch, value
        self.last_finite_loss, self.checkpoint = last_finite_loss, checkpoint
        if last_finite_loss is None:
            last = "no finite loss before it in this epoch"
        else:
            last = f"last finite loss {last_finite_loss:.6g} at batch {last_finite_batch}"
        ck = (
            f"; the last good checkpoint {checkpoint} is intact"
            if checkpoint
            else "; no checkpoint has been written"
        )
        super().__init__(
            f"non-finite training loss {value} at epoch {epoch}, batch {batch}; {last}{ck}. "
            "Try a lower learning rate, gradient clipping (grad_clip=1.0) or check the data"
        )


# --------------------------------------------------------------------------- helpers


def _model_device(model):
    for p in model.parameters():
        return p.device
    return parse_device("cpu")


def _to(t, dev):
    """A batch tensor on `dev` (no copy when it is already there)."""
    if not isinstance(t, Tensor):
        t = Tensor(t)  # arrays (NumPy or CuPy) are wrapped as they are; lists become arrays
    return t if t.device == dev else Tensor(to_device(t._data, dev))


def _main_and_loss(model_out, y, loss_fn, aux_weight):
    """(the output that metrics read, the loss) of a model's output. A model that returns a dict
    (torchvision's segmentation models: 'out', and 'aux' with an auxiliary head) is scored on
    'out'; its loss is loss(out) + aux_weight * loss(aux), torchvision's reference recipe
    (aux_weight 0.5), where it has an 'aux' output and aux_weight is not 0."""
    if not isinstance(model_out, Mapping):
        return model_out, (loss_fn(model_out, y) if loss_fn is not None else None)
    if "out" not in model_out:
        raise ValueError(
            f"fit: the model returned a dict with keys {sorted(model_out)}; the trainer reads "
            "its 'out' entry (and 'aux', as torchvision's segmentation models)"
        )
    out = model_out["out"]
    if loss_fn is None:
        return out, None
    loss = loss_fn(out, y)
    if "aux" in model_out and aux_weight:
        loss = loss + aux_weight * loss_fn(model_out["aux"], y)
    return out, loss


def _labels_of(out, y):
    """Predicted labels on the device: arg-max over the class axis when `out` holds scores."""
    o = out._data
    return o.argmax(axis=1) if o.ndim == y.ndim + 1 else o


def _auto_metrics(loss_fn, out, y) -> list:
    """Accuracy for (N, K) scores vs (N,) labels (or, with a CrossEntropyLoss, (N, K) soft
    labels: MixUp / CutMix, against their likeliest class); pixel accuracy and mean IoU for
    (N, K, H, W) scores vs (N, H, W) masks (the loss's ignore_index, else 255, left out); none
    otherwise."""
    ignore = getattr(loss_fn, "ignore_index", None)
    # soft labels only where the loss says the targets are classes (a regression's float
    # targets of the output's shape are not)
    soft = isinstance(loss_fn, CrossEntropyLoss) and y.dtype.kind == "f" and y.shape == out.shape
    if out.ndim == 2 and (y.ndim == 1 and y.dtype.kind in "iu" or soft):
        return [M.Accuracy(ignore_index=ignore if ignore is not None and ignore >= 0 else None)]
    if out.ndim == 4 and y.ndim == 3 and y.dtype.kind in "iu":
        ignore = ignore if ignore is not None and ignore >= 0 else 255
        return [M.PixelAccuracy(ignore_index=ignore), M.MeanIoU(out.shape[1], ignore_index=ignore)]
    return []


def _scalar_results(metrics, prefix: str) -> dict:
    """{prefix + metric.name: value} for metrics whose value is one number."""
    out = {}
    for m in metrics:
        v = m.compute()
        if isinstance(v, (int, float, np.integer, np.floating)) or getattr(v, "ndim", 1) == 0:
            out[prefix + m.name] = float(v)
    return out


def _length(loader):
    try:
        return len(loader)
    except TypeError:
        return None


class _Meter:
    """Training losses kept on the device, read back once per log interval.

    Also keeps the batches' predicted labels until the next read so that training metrics are
    updated then, not per batch (their update reads counts back to the host)."""

    def __init__(self, epoch: int, metrics: list, checkpoint):
        self.epoch, self.metrics, self.checkpoint = epoch, metrics, checkpoint
        self.pending, self.sizes, self.preds = [], [], []
        self.total, self.count, self.batches = 0.0, 0, 0
        self.last_finite, self.last_finite_batch = None, 0

    def add(self, loss: Tensor, n: int, pred=None, target=None) -> None:
        self.pending.append(loss._data.reshape(()))
        self.sizes.append(n)
        if pred is not None:
            self.preds.append((pred, target))

    def flush(self) -> None:
        if not self.pending:
            return
        values = to_device(xp_of(*self.pending).stack(self.pending), "cpu").astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            if i > 0:
                self.last_finite, self.last_finite_batch = float(values[i - 1]), self.batches + i
            raise NonFiniteLossError(
                self.epoch,
                self.batches + i + 1,
                float(values[i]),
                self.last_finite,
                self.last_finite_batch,
                self.checkpoint,
            )
        self.total += float(values @ np.asarray(self.sizes, dtype=np.float64))
        self.count += sum(self.sizes)
        self.batches += len(values)
        self.last_finite, self.last_finite_batch = float(values[-1]), self.batches
        for pred, target in self.preds:
            for m in self.metrics:
                m.update(pred, target)
        self.pending, self.sizes, self.preds = [], [], []

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan


def _best_criterion(callbacks, has_val: bool) -> tuple[str, str]:
    """What 'best' means for best.npz: the early-stopping monitor if there is one, else the
    lowest validation loss (training loss without a validation set)."""
    for cb in callbacks:
        if isinstance(cb, EarlyStopping):
            return cb.monitor, cb.mode
    return ("val_loss" if has_val else "train_loss"), "min"


# --------------------------------------------------------------------------- evaluate


def evaluate(model, loss_fn, loader, metrics="auto", device=None, progress=False, _bar=None):
    """Average loss and metrics of `model` over `loader`, in eval mode and without gradients.

    Args:
        model: the Module (its train/eval mode is restored afterwards). A model that returns
            a dict (torchvision's segmentation models) is scored on its 'out' entry.
        loss_fn: loss(output, target) with mean reduction, or None to skip the loss.
        loader: iterable of (x, y) batches.
        metrics: 'auto' (accuracy, or pixel accuracy + mean IoU for masks), a list of Metric
            objects (updated in place; reset first), or None.
        device: where to run (default: the model's device).
        progress (bool): show a tqdm bar. Default: False.

    Returns:
        {'loss': mean loss per item, metric.name: value, ...}; non-scalar metrics (confusion
        matrix, per-class IoU) are included as NumPy arrays.
    """
    dev = parse_device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    bar = _bar or tqdm(total=_length(loader), desc="evaluate", unit="batch", disable=not progress,
                       file=sys.stderr, dynamic_ncols=True)  # fmt: skip
    loss_sum, count = None, 0
    ms = None if metrics == "auto" else list(metrics or [])
    for m in ms or []:
        m.reset()
    try:
        with no_grad():
            for x, y in loader:
                x, y = _to(x, dev), _to(y, dev)
                out, loss = _main_and_loss(model(x), y, loss_fn, 0)  # the main head's loss
                n = x.shape[0]
                if loss is not None:
                    s = loss._data * n  # a device sum, read once at the end
                    loss_sum = s if loss_sum is None else loss_sum + s
                count += n
                if ms is None:
                    ms = _auto_metrics(loss_fn, out, y)
                pred = _labels_of(out, y._data)
                for m in ms:
                    m.update(pred, y._data)
                bar.update(1)
    finally:
        model.train(was_training)
        if _bar is None:
            bar.close()
    result = {}
    if loss_fn is not None:
        result["loss"] = float(to_device(loss_sum, "cpu")) / count if count else math.nan
    for m in ms or []:
        v = m.compute()
        result[m.name] = float(v) if getattr(v, "ndim", 0) == 0 else np.asarray(v)
    return result


# --------------------------------------------------------------------------- fit


def _stretch_cosine(scheduler, horizon) -> None:
    """An extended run (resumed with more epochs, its cosine schedule built for all of them)
    keeps the new T_max: the checkpoint's would have trained the first new epoch at eta_min and
    then climbed back up. The lrs jump to the stretched curve at the epoch reached."""
    if not isinstance(scheduler, CosineAnnealingLR) or horizon is None:
        return
    if horizon <= scheduler.T_max:  # the same plan, or a shorter one: the checkpoint's stands
        return
    scheduler.T_max = horizon
    lrs = scheduler._get_closed_form_lr()
    for group, lr in zip(scheduler.optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs


def fit(
    model,
    loss_fn,
    optimizer,
    train_loader,
    val_loader=None,
    epochs: int = 1,
    scheduler=None,
    metrics="auto",
    callbacks=(),
    device=None,
    grad_clip=None,
    scheduler_interval: str = "epoch",
    checkpoint_dir=None,
    resume=False,
    progress: bool = True,
    log_interval: int = 10,
    meta: dict | None = None,
    aux_weight: float = 0.5,
) -> History:
    """Train `model` for `epochs` epochs and return the per-epoch History.

    Args:
        model: the Module to train.
        loss_fn: loss(output, target) -> scalar Tensor (e.g. nn.CrossEntropyLoss()).
        optimizer: an Optimizer over the model's parameters.
        train_loader: iterable of (x, y) batches; `set_epoch(e)` is called before epoch e when
            it has one, so shuffling and augmentation are the same on resume.
        val_loader: batches for the validation pass after each epoch (optional).
        epochs (int): the total number of epochs (a resumed run continues up to it). Default: 1.
        scheduler: stepped once per epoch; ReduceLROnPlateau gets the validation loss (the
            training loss without val_loader).
        scheduler_interval (str): 'epoch' (default) or 'step': step the scheduler after every
            optimizer step instead (OneCycleLR, or a warm-up counted in iterations).
        metrics: 'auto' (accuracy for labels; pixel accuracy and mean IoU for masks), a list of
            Metric objects (copied for the training and validation sides), or None.
        callbacks: Callback objects, e.g. EarlyStopping (whose best weights are put back into
            the model at the end).
        device: 'cpu' / 'cuda' / 'cuda:N': the model is moved there and every batch follows.
            Default: wherever the model is.
        grad_clip: a float: clip the gradients' global 2-norm to it (clip_grad_norm_); or a
            function called with the parameters after backward. Default: None.
        checkpoint_dir: folder for last.npz (every epoch) and best.npz (the best epoch by the
            early-stopping monitor, else val_loss), written atomically. Default: None.
        resume: True: continue from checkpoint_dir/last.npz when it exists (the model, optimizer,
            scheduler, callbacks, history, RNG and loader seed are restored, and the result is
            the same as an uninterrupted run); a path: continue from that checkpoint. A
            CosineAnnealingLR built with a longer T_max than the checkpoint's (a run extended
            past its planned epochs) keeps the longer one: the curve is stretched to the new end.
        progress (bool): a tqdm bar per epoch with the running loss and images/s. Default: True.
        log_interval (int): batches between reads of the loss (bar update, finiteness check).
            Default: 10.
        meta (dict): JSON-able information stored in the checkpoints (e.g. the run's config).
        aux_weight (float): for a model that returns a dict of outputs (torchvision's
            segmentation models): the training loss is loss(out['out']) + aux_weight *
            loss(out['aux']); metrics and the validation loss read 'out'. Default: 0.5.

    Returns:
        History: one dict per epoch with 'epoch', 'train_loss', 'train_<metric>', 'val_loss',
        'val_<metric>', 'lr' (of the epoch) and 'seconds'. `history.stop_reason` tells why an
        early stop happened ('' otherwise).

    Raises:
        NonFiniteLossError: the loss became nan / inf (names the epoch, the batch and the last
        finite loss; the checkpoint of the previous epoch is left as it was).
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if not isinstance(log_interval, int) or log_interval < 1:
        raise ValueError(f"fit: log_interval must be an int >= 1, got {log_interval!r}")
    if grad_clip is not None and not callable(grad_clip) and not float(grad_clip) > 0:
        raise ValueError(
            f"fit: grad_clip must be a positive max norm or a function, got {grad_clip!r}"
        )
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(
            f"fit: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}"
        )
    if scheduler_interval == "step" and isinstance(scheduler, ReduceLROnPlateau):
        raise ValueError(
            "fit: ReduceLROnPlateau steps on the validation loss, once per epoch; "
            "use scheduler_interval='epoch'"
        )
    step_scheduler = scheduler if scheduler_interval == "step" else None
    epoch_scheduler = scheduler if scheduler_interval == "epoch" else None
    callbacks = list(callbacks or [])
    if device is not None:
        model.to(device)
    dev = _model_device(model)
    ckpt_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    monitor, mode = _best_criterion(callbacks, val_loader is not None)
    history = History()
    history.stop_reason = ""
    for cb in callbacks:
        cb.set_context(model=model, optimizer=optimizer, history=history)

    # --- resume: put every piece of state back as the checkpoint recorded it
    start, stopped = 1, False
    if resume:
        if isinstance(resume, (str, os.PathLike)):
            path = Path(resume)
        elif ckpt_dir is None:
            raise ValueError("fit: resume=True needs checkpoint_dir (or pass the checkpoint path)")
        else:
            path = ckpt_dir / "last.npz"
        if isinstance(resume, (str, os.PathLike)) or path.exists():
            loaders = {"train": train_loader}
            horizon = getattr(scheduler, "T_max", None)
            ck = restore_checkpoint(load_checkpoint(path), model, optimizer, scheduler,
                                    callbacks=callbacks, loaders=loaders)  # fmt: skip
            _stretch_cosine(scheduler, horizon)
            history.extend(ck["history"])
            start = ck["epoch"] + 1
            stopped = bool(ck["meta"].get("stopped"))
            history.stop_reason = ck["meta"].get("stop_reason", "")
    last_ckpt = ckpt_dir / "last.npz" if ckpt_dir is not None and start > 1 else None

    train_metrics = val_metrics = None if metrics == "auto" else list(metrics or [])
    if train_metrics is not None:
        train_metrics = [copy.deepcopy(m) for m in train_metrics]
    for cb in callbacks:
        cb.on_train_begin()

    for epoch in range(start, epochs + 1):
        if stopped:
            break
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        n_train, n_val = _length(train_loader), _length(val_loader) if val_loader else 0
        bar = tqdm(total=None if n_train is None or n_val is None else n_train + n_val,
                   desc=f"epoch {epoch}/{epochs}", unit="batch", disable=not progress,
                   file=sys.stderr, dynamic_ncols=True)  # fmt: skip
        try:
            # --- train
            model.train()
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch - 1)
            for m in train_metrics or []:
                m.reset()
            meter = _Meter(epoch, train_metrics or [], last_ckpt)
            seen = 0
            for b, (x, y) in enumerate(train_loader, 1):
                x, y = _to(x, dev), _to(y, dev)
                out, loss = _main_and_loss(model(x), y, loss_fn, aux_weight)
                optimizer.zero_grad()
                loss.backward()
                if grad_clip is not None:
                    if callable(grad_clip):
                        grad_clip(model.parameters())
                    else:
                        clip_grad_norm_(model.parameters(), float(grad_clip))
                optimizer.step()
                if step_scheduler is not None:
                    step_scheduler.step()

                if train_metrics is None:  # 'auto': decided by the first batch's shapes
                    train_metrics = _auto_metrics(loss_fn, out, y)
                    meter.metrics = train_metrics
                pred = _labels_of(out, y._data) if train_metrics else None
                meter.add(loss.detach(), x.shape[0], pred, y._data if train_metrics else None)
                seen += x.shape[0]
                bar.update(1)
                if b % log_interval == 0:
                    meter.flush()
                    rate = seen / max(time.perf_counter() - t0, 1e-9)
                    bar.set_postfix(loss=f"{meter.mean:.4f}", img_s=f"{rate:.0f}")
            meter.flush()
            logs = {"epoch": epoch, "train_loss": meter.mean}
            logs.update(_scalar_results(train_metrics or [], "train_"))
            train_seconds = time.perf_counter() - t0

            # --- validate
            if val_loader is not None:
                bar.set_description(f"epoch {epoch}/{epochs} val")
                if val_metrics is None:
                    val_metrics = [copy.deepcopy(m) for m in train_metrics or []]
                res = evaluate(model, loss_fn, val_loader, val_metrics, dev, _bar=bar)
                logs["val_loss"] = res["loss"]
                logs.update(_scalar_results(val_metrics, "val_"))
            logs["lr"] = lr
            logs["seconds"] = time.perf_counter() - t0
            bar.set_postfix_str(
                f"{seen / max(train_seconds, 1e-9):.0f} img/s, "
                + ", ".join(
                    f"{k} {v:.4g}" for k, v in logs.items() if k not in ("epoch", "seconds")
                )
            )
        finally:
            bar.close()

        # --- schedule, record, callbacks
        if isinstance(epoch_scheduler, ReduceLROnPlateau):
            epoch_scheduler.step(logs.get("val_loss", logs["train_loss"]))
        elif epoch_scheduler is not None:
            epoch_scheduler.step()
        history.append(logs)
        for cb in callbacks:
            if cb.on_epoch_end(epoch, logs):
                stopped = True
                reason = getattr(cb, "reason", "") or f"stopped by {type(cb).__name__}"
                history.stop_reason = history.stop_reason or reason

        # --- checkpoint: last.npz every epoch, best.npz when this epoch is the best so far
        if ckpt_dir is not None:
            info = {"stopped": stopped, "stop_reason": history.stop_reason, "monitor": monitor,
                    "mode": mode, "best_epoch": history.best_epoch(monitor, mode)}  # fmt: skip
            last_ckpt = save_checkpoint(
                ckpt_dir / "last.npz", model, optimizer, scheduler, epoch=epoch, history=history,
                callbacks=callbacks, loaders={"train": train_loader}, meta={**(meta or {}), **info},
            )  # fmt: skip
            if history.best(monitor, mode) is logs:
                atomic_copy(last_ckpt, ckpt_dir / "best.npz")

    for cb in callbacks:
        cb.on_train_end()
    return history
