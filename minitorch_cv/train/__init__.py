"""Training: `fit` (the loop), `evaluate`, early stopping and other callbacks, checkpoints with
resume, the History of a run, metrics, gradient clipping and class weights.

    from minitorch_cv.train import fit, EarlyStopping
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, val_loader, epochs=20,
                  callbacks=[EarlyStopping(ratio=1.1, ratio_patience=5)], checkpoint_dir="runs/a")

Figures live in `minitorch_cv.train.plots` (imported on demand: it loads Matplotlib).
"""

from . import metrics
from .callbacks import Callback, EarlyStopping, HistoryWriter, LambdaCallback
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_state,
    restore_checkpoint,
    save_checkpoint,
)
from .history import History
from .metrics import (
    Accuracy,
    ConfusionMatrix,
    Dice,
    F1Score,
    MeanIoU,
    MeanPrecision,
    MeanRecall,
    PixelAccuracy,
    TopKAccuracy,
)
from .trainer import NonFiniteLossError, evaluate, fit
from .utils import class_counts, class_weights, clip_grad_norm_, clip_grad_value_

__all__ = [
    "Accuracy",
    "Callback",
    "CheckpointError",
    "ConfusionMatrix",
    "Dice",
    "EarlyStopping",
    "F1Score",
    "History",
    "HistoryWriter",
    "LambdaCallback",
    "MeanIoU",
    "MeanPrecision",
    "MeanRecall",
    "NonFiniteLossError",
    "PixelAccuracy",
    "TopKAccuracy",
    "class_counts",
    "class_weights",
    "clip_grad_norm_",
    "clip_grad_value_",
    "evaluate",
    "fit",
    "load_checkpoint",
    "load_model_state",
    "metrics",
    "restore_checkpoint",
    "save_checkpoint",
]
