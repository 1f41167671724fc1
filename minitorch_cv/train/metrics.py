"""Classification and segmentation metrics, accumulated over batches.

Each metric object has `update(pred, target)`, `compute()` and `reset()`. `pred` is either
scores / logits with a class axis at dim 1 ((N, K) or (N, K, H, W); the arg-max is taken) or
integer labels of the target's shape ((N,) or (N, H, W)). Both may be minitorch_cv Tensors or
NumPy / CuPy arrays; the counting runs on the arrays' device (one `bincount` per batch for
confusion matrices). On the GPU the counts stay there until `compute()` (or `matrix`) reads
them, so updating a metric every batch never waits for the GPU; labels outside 0..K-1 are then
reported at that read instead of at `update`.

Conventions: confusion matrix rows are true classes and columns predicted classes. Target pixels
equal to `ignore_index` (255 for segmentation) are left out of every count. A class that never
occurs in the targets has no recall and a class never predicted has no precision; a class absent
from both prediction and target has no IoU. Undefined per-class values are NaN and averages are
taken over the defined ones only.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from minitorch_cv import kernels
from minitorch_cv.backend import to_device, xp_of
from minitorch_cv.tensor import Tensor


def _raw(a):
    """The NumPy / CuPy array inside a Tensor, or `a` itself if it is already an array."""
    if isinstance(a, np.ndarray) or type(a).__module__.startswith("cupy"):
        return a
    if isinstance(a, Tensor):
        return a._data
    return np.asarray(a)


def _hard(pred, target, name: str):
    """Soft labels (N, K) (MixUp / CutMix) as their likeliest class (N,), against scores (N, K)
    or labels (N,); any other target as it is."""
    p, t = _raw(pred), _raw(target)
    if t.dtype.kind != "f" or t.ndim != 2 or p.ndim not in (1, 2):
        return t
    if p.ndim == 2 and p.shape != t.shape:
        raise ValueError(
            f"{name}: soft labels {tuple(t.shape)} and pred {tuple(p.shape)} do not match"
        )
    return t.argmax(axis=1)


def _labels(pred, target, name: str):
    """(predicted labels, target labels) as int arrays of the target's shape; soft targets
    (N, K) count as their likeliest class."""
    p, t = _raw(pred), _hard(pred, target, name)
    xp = xp_of(p, t)
    if p.ndim == t.ndim + 1:
        p = p.argmax(axis=1)
    elif p.ndim != t.ndim:
        raise ValueError(
            f"{name}: pred {tuple(p.shape)} must be scores (N, K, ...) or labels "
            f"of the target's shape {tuple(t.shape)}"
        )
    if tuple(p.shape) != tuple(t.shape):
        raise ValueError(f"{name}: pred {tuple(p.shape)} and target {tuple(t.shape)} do not match")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class labels, got dtype {t.dtype}")
    if p.dtype.kind not in "iu":
        if p.dtype.kind == "f" and bool(xp.all(p == xp.round(p))):
            p = p.astype(xp.int64)  # labels that came in as a float array
        else:
            raise TypeError(
                f"{name}: pred must be integer labels or scores with a class axis, "
                f"got {p.dtype} of shape {tuple(p.shape)}"
            )
    return p.reshape(-1).astype(xp.int64), t.reshape(-1).astype(xp.int64)


def _nanmean(v: np.ndarray) -> float:
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else math.nan


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def confusion_matrix(pred, target, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Count (true, predicted) pairs: a (K, K) int64 NumPy array, rows true, columns predicted.

    Args:
        pred: scores (N, K, ...) or labels of target's shape.
        target: labels (N,) or (N, H, W), in 0..K-1 or equal to `ignore_index`.
        num_classes: K.
        ignore_index: target value left out (default None).
    """
    p, t = _labels(pred, target, "confusion_matrix")
    xp = xp_of(p, t)
    if ignore_index is not None:
        keep = t != ignore_index
        p, t = p[keep], t[keep]
    if t.size:
        for what, a in (("target", t), ("pred", p)):
            lo, hi = int(a.min()), int(a.max())
            if lo < 0 or hi >= num_classes:
                raise ValueError(
                    f"confusion_matrix({num_classes} classes): {what} labels must "
                    f"be in 0..{num_classes - 1}"
                    + (f" or {ignore_index}" if ignore_index is not None else "")
                    + f", found {lo}..{hi}"
                )
    counts = xp.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return to_device(counts.reshape(num_classes, num_classes), "cpu").astype(np.int64)


def _device_pair_counts(p, t, num_classes: int, ignore_index: int | None):
    """(K*K + 1,) counts of t*K + p on the GPU, nothing read back: the confusion matrix, then
    how many pairs had a label outside 0..K-1 (CuPy's own bincount reads the maximum back)."""
    xp, k = xp_of(p, t), num_classes
    inside = (t >= 0) & (t < k) & (p >= 0) & (p < k)
    v = xp.where(inside, t * k + p, k * k)
    if ignore_index is not None:
        v = xp.where(t == ignore_index, -1, v)  # -1 lands in the kernel's overflow bin, cut off
    return kernels.cuda_kernels(v).bincount(v, k * k + 1)[: k * k + 1]


def accuracy(pred, target, ignore_index: int | None = None) -> float:
    """Fraction of (non-ignored) items whose predicted label equals the target."""
    m = Accuracy(ignore_index=ignore_index)
    m.update(pred, target)
    return m.compute()


class Metric(ABC):
    """Base class: `update(pred, target)` per batch, `compute()` for the value so far, `reset()`.

    `name` is the key a training history stores the value under.
    """

    name = "metric"

    def __init__(self):
        self.reset()

    @abstractmethod
    def reset(self) -> None:
        """Forget everything seen so far."""

    @abstractmethod
    def update(self, pred, target) -> None:
        """Add one batch."""

    @abstractmethod
    def compute(self):
        """The metric over every batch since the last reset."""

    def __call__(self, pred, target):
        """Update with one batch and return the running value."""
        self.update(pred, target)
        return self.compute()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Accuracy(Metric):
    """Top-1 accuracy: correct / counted items (NaN before any update).

    Args:
        ignore_index: target value not counted (default None).
    """

    name = "acc"

    def __init__(self, ignore_index: int | None = None):
        self.ignore_index = ignore_index
        super().__init__()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, pred, target) -> None:
        p, t = _labels(pred, target, type(self).__name__)
        # counts stay on the arrays' device (0-d arrays) until compute() reads them
        if self.ignore_index is None:
            self.correct += (p == t).sum()
            self.total += t.size
        else:
            keep = t != self.ignore_index
            self.correct += ((p == t) & keep).sum()
            self.total += keep.sum()

    def compute(self) -> float:
        total = int(self.total)
        return int(self.correct) / total if total else math.nan


class PixelAccuracy(Accuracy):
    """Segmentation pixel accuracy: correctly labelled pixels / pixels, void (255) left out.

    Args:
        ignore_index: target value not counted (default 255).
    """

    name = "pixel_acc"

    def __init__(self, ignore_index: int | None = 255):
        super().__init__(ignore_index=ignore_index)


class TopKAccuracy(Metric):
    """Fraction of items whose target is among the k highest scores.

    Args:
        k: how many top scores count (default 5).
        ignore_index: target value not counted (default None).

    `pred` must be scores (N, K) (or (N, K, H, W)); ties at the k-th score are broken arbitrarily.
    """

    def __init__(self, k: int = 5, ignore_index: int | None = None):
        if k < 1:
            raise ValueError(f"TopKAccuracy: k must be >= 1, got {k}")
        self.k = int(k)
        self.ignore_index = ignore_index
        self.name = f"top{self.k}_acc"
        super().__init__()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, pred, target) -> None:
        s, t = _raw(pred), _hard(pred, target, f"TopKAccuracy(k={self.k})")
        xp = xp_of(s, t)
        if s.ndim != t.ndim + 1 or s.shape[:1] + s.shape[2:] != t.shape:
            raise ValueError(
                f"TopKAccuracy(k={self.k}): pred must be scores (N, K, ...) for "
                f"target {tuple(t.shape)}, got {tuple(s.shape)}"
            )
        num_classes = s.shape[1]
        if self.k > num_classes:
            raise ValueError(
                f"TopKAccuracy(k={self.k}): only {num_classes} classes in pred {tuple(s.shape)}"
            )
        s = xp.moveaxis(s, 1, -1).reshape(-1, num_classes)
        t = t.reshape(-1).astype(xp.int64)
        top = xp.argpartition(-s, self.k - 1, axis=1)[:, : self.k]  # unordered top k
        hit = (top == t[:, None]).any(axis=1)
        if self.ignore_index is not None:
            keep = t != self.ignore_index
            hit &= keep
            self.total += keep.sum()
        else:
            self.total += t.size
        self.correct += hit.sum()  # on the device until compute()

    def compute(self) -> float:
        total = int(self.total)
        return int(self.correct) / total if total else math.nan

    def __repr__(self) -> str:
        return f"TopKAccuracy(k={self.k})"


class ConfusionMatrix(Metric):
    """Accumulated (K, K) confusion matrix with per-class precision, recall and IoU.

    Args:
        num_classes: K.
        ignore_index: target value left out (default None; use 255 for segmentation).

    `compute()` returns the int64 matrix (rows true class, columns predicted class).
    """

    name = "confusion"

    def __init__(self, num_classes: int, ignore_index: int | None = None):
        if num_classes < 1:
            raise ValueError(f"ConfusionMatrix: num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        super().__init__()

    def reset(self) -> None:
        k = self.num_classes
        self._matrix = np.zeros((k, k), dtype=np.int64)
        self._pending = None  # GPU counts not yet read back: (K*K + 1,), see _device_pair_counts

    def update(self, pred, target) -> None:
        k = self.num_classes
        if xp_of(_raw(pred), _raw(target)) is np:
            self._matrix += confusion_matrix(pred, target, k, self.ignore_index)
            return
        p, t = _labels(pred, target, "confusion_matrix")
        counts = _device_pair_counts(p, t, k, self.ignore_index)
        self._pending = counts if self._pending is None else self._pending + counts

    @property
    def matrix(self) -> np.ndarray:
        """The accumulated (K, K) int64 counts on the host (GPU counts are read back here)."""
        if self._pending is not None:
            counts, self._pending = to_device(self._pending, "cpu"), None
            k = self.num_classes
            if counts[-1]:
                raise ValueError(
                    f"confusion_matrix({k} classes): {int(counts[-1])} (target, pred) pairs had "
                    f"a label outside 0..{k - 1}"
                    + (
                        f" that was not {self.ignore_index}"
                        if self.ignore_index is not None
                        else ""
                    )
                )
            self._matrix += counts[:-1].reshape(k, k)
        return self._matrix

    def compute(self) -> np.ndarray:
        return self.matrix.copy()

    def accuracy(self) -> float:
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else math.nan

    def precision(self) -> np.ndarray:
        """Per class: TP / predicted as that class; NaN for classes never predicted."""
        return _safe_div(np.diag(self.matrix), self.matrix.sum(axis=0))

    def recall(self) -> np.ndarray:
        """Per class: TP / items of that class; NaN for classes absent from the targets."""
        return _safe_div(np.diag(self.matrix), self.matrix.sum(axis=1))

    def iou(self) -> np.ndarray:
        """Per class: TP / (TP + FP + FN); NaN for classes absent from prediction and target."""
        tp = np.diag(self.matrix)
        return _safe_div(tp, self.matrix.sum(axis=0) + self.matrix.sum(axis=1) - tp)

    def f1(self) -> np.ndarray:
        """Per class: 2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall (the
        Dice coefficient of a segmentation); NaN for classes absent from prediction and target."""
        tp = np.diag(self.matrix)
        return _safe_div(2 * tp, self.matrix.sum(axis=0) + self.matrix.sum(axis=1))

    def mean_precision(self) -> float:
        return _nanmean(self.precision())

    def mean_recall(self) -> float:
        """Average top-1 recall over the classes present (balanced accuracy)."""
        return _nanmean(self.recall())

    def mean_iou(self) -> float:
        return _nanmean(self.iou())

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index})"


class _FromConfusion(Metric):
    """A scalar read from an accumulated confusion matrix."""

    def __init__(self, num_classes: int, ignore_index: int | None = None):
        self.cm = ConfusionMatrix(num_classes, ignore_index)
        super().__init__()

    def reset(self) -> None:
        self.cm.reset()

    def update(self, pred, target) -> None:
        self.cm.update(pred, target)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.cm.num_classes}, "
            f"ignore_index={self.cm.ignore_index})"
        )


class MeanRecall(_FromConfusion):
    """Average over classes of per-class top-1 recall ("average top-1 recall").

    Args:
        num_classes: K.
        ignore_index: target value left out (default None).
    """

    name = "mean_recall"

    def compute(self) -> float:
        return self.cm.mean_recall()


class MeanPrecision(_FromConfusion):
    """Macro precision: the mean over classes of TP / (predicted as that class), a class
    present in the targets but never predicted counting 0 (as scikit-learn's macro average,
    so predicting only the majority class does not score high); classes absent from both
    prediction and target left out.

    Args: num_classes: K. ignore_index: target value left out (default None).
    """

    name = "mean_precision"

    def compute(self) -> float:
        precision = self.cm.precision()
        missed = np.isnan(precision) & (self.cm.matrix.sum(axis=1) > 0)
        return _nanmean(np.where(missed, 0.0, precision))


class F1Score(_FromConfusion):
    """Macro F1: the mean over classes of 2 TP / (2 TP + FP + FN), classes absent from both
    prediction and target left out.

    Args: num_classes: K. ignore_index: target value left out (default None).
    """

    name = "f1"

    def compute(self) -> float:
        return _nanmean(self.cm.f1())


class Dice(F1Score):
    """Segmentation Dice coefficient 2 |P & T| / (|P| + |T|) per class, averaged over the
    classes present (the F1 score of the pixels; void 255 left out).

    Args: num_classes: K. ignore_index: target value left out (default 255).
    """

    name = "dice"

    def __init__(self, num_classes: int, ignore_index: int | None = 255):
        super().__init__(num_classes, ignore_index)


class IoU(_FromConfusion):
    """Per-class intersection over union, (K,) float64 with NaN for classes absent from both.

    Args:
        num_classes: K.
        ignore_index: target value left out (default 255).
    """

    name = "iou"

    def __init__(self, num_classes: int, ignore_index: int | None = 255):
        super().__init__(num_classes, ignore_index)

    def compute(self) -> np.ndarray:
        return self.cm.iou()


class MeanIoU(IoU):
    """Mean of the per-class IoU over classes present in prediction or target (void 255 ignored).

    Args:
        num_classes: K.
        ignore_index: target value left out (default 255).
    """

    name = "miou"

    def compute(self) -> float:
        return self.cm.mean_iou()
