"""Metrics against hand-computed values and against plain loops; accumulation over batches;
Tensors and (when a GPU is present) CuPy arrays as inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_cv.backend import gpu_available
from minitorch_cv.tensor import Tensor
from minitorch_cv.train.metrics import (
    Accuracy,
    ConfusionMatrix,
    Dice,
    F1Score,
    IoU,
    MeanIoU,
    MeanPrecision,
    MeanRecall,
    PixelAccuracy,
    TopKAccuracy,
    accuracy,
    confusion_matrix,
)

# 5 items, 3 classes; arg-max predictions [0, 2, 1, 1, 2], targets [0, 1, 1, 2, 2]
LOGITS = np.array(
    [[3.0, 1.0, 0.0], [0.1, 0.2, 0.9], [0.0, 5.0, 1.0], [1.0, 2.0, 1.5], [0.0, 0.0, 1.0]]
)
TARGET = np.array([0, 1, 1, 2, 2])


def confusion_loop(pred, target, k, ignore=None):
    cm = np.zeros((k, k), dtype=np.int64)
    for p, t in zip(np.ravel(pred), np.ravel(target)):
        if t != ignore:
            cm[t, p] += 1
    return cm


def test_accuracy_by_hand():
    assert Accuracy()(LOGITS, TARGET) == pytest.approx(3 / 5)
    assert accuracy(np.array([0, 2, 1, 1, 2]), TARGET) == pytest.approx(3 / 5)
    assert math.isnan(Accuracy().compute())


def test_soft_labels_count_as_their_likeliest_class():
    soft = np.eye(3)[TARGET] * 0.7 + np.eye(3)[np.roll(TARGET, 1)] * 0.3  # MixUp's 0.7 / 0.3
    assert Accuracy()(LOGITS, soft) == pytest.approx(3 / 5)
    assert Accuracy()(LOGITS.argmax(1), soft) == pytest.approx(3 / 5)  # predicted labels too
    assert TopKAccuracy(2)(LOGITS, soft) == TopKAccuracy(2)(LOGITS, TARGET)
    with pytest.raises(ValueError, match="do not match"):
        Accuracy()(LOGITS, soft[:, :2])


def test_metrics_accept_tensors():
    assert Accuracy()(Tensor(LOGITS), Tensor(TARGET)) == pytest.approx(0.6)
    cm = ConfusionMatrix(3)
    cm.update(Tensor(LOGITS), Tensor(TARGET))
    assert cm.compute().sum() == 5


def test_accumulating_batches_equals_one_big_batch():
    rng = np.random.default_rng(0)
    logits, target = rng.normal(size=(100, 7)), rng.integers(0, 7, 100)
    whole = [Accuracy(), TopKAccuracy(3), ConfusionMatrix(7), MeanRecall(7)]
    parts = [Accuracy(), TopKAccuracy(3), ConfusionMatrix(7), MeanRecall(7)]
    for m in whole:
        m.update(logits, target)
    for a in range(0, 100, 13):
        for m in parts:
            m.update(logits[a : a + 13], target[a : a + 13])
    for w, p in zip(whole, parts):
        np.testing.assert_array_equal(w.compute(), p.compute())
    for m in parts:
        m.reset()
    assert parts[2].compute().sum() == 0 and math.isnan(parts[0].compute())


def test_topk_by_hand():
    # top-2 sets: {0,1} {2,1} {1,2} {1,2} {2,0 or 1}: hits on items 0, 1, 2, 3, 4
    assert TopKAccuracy(1)(LOGITS, TARGET) == pytest.approx(3 / 5)
    assert TopKAccuracy(2)(LOGITS, TARGET) == pytest.approx(5 / 5)
    assert TopKAccuracy(3)(LOGITS, TARGET) == 1.0
    assert TopKAccuracy(2).name == "top2_acc"
    with pytest.raises(ValueError, match=r"TopKAccuracy\(k=4\): only 3 classes"):
        TopKAccuracy(4).update(LOGITS, TARGET)


def test_topk_matches_a_sorting_loop():
    rng = np.random.default_rng(1)
    logits, target = rng.normal(size=(200, 10)), rng.integers(0, 10, 200)
    for k in (1, 3, 5):
        want = np.mean([t in np.argsort(-row)[:k] for row, t in zip(logits, target)])
        assert TopKAccuracy(k)(logits, target) == pytest.approx(want)


def test_confusion_matrix_precision_recall_by_hand():
    cm = ConfusionMatrix(3)
    cm.update(LOGITS, TARGET)
    np.testing.assert_array_equal(cm.compute(), [[1, 0, 0], [0, 1, 1], [0, 1, 1]])
    np.testing.assert_allclose(cm.precision(), [1, 0.5, 0.5])
    np.testing.assert_allclose(cm.recall(), [1, 0.5, 0.5])
    np.testing.assert_allclose(cm.iou(), [1, 1 / 3, 1 / 3])
    assert cm.mean_recall() == pytest.approx(2 / 3)
    assert cm.accuracy() == pytest.approx(0.6)
    assert MeanRecall(3)(LOGITS, TARGET) == pytest.approx(2 / 3)


def test_undefined_classes_are_nan_and_left_out_of_averages():
    cm = ConfusionMatrix(4)
    cm.update(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))  # class 2, 3 never seen
    rec, prec = cm.recall(), cm.precision()
    np.testing.assert_allclose(rec[:2], [1, 2 / 3])
    assert np.isnan(rec[2:]).all() and np.isnan(prec[2:]).all()
    assert cm.mean_recall() == pytest.approx((1 + 2 / 3) / 2)
    cm.update(np.array([3]), np.array([0]))  # class 3 predicted once, never true
    assert cm.precision()[3] == 0.0 and np.isnan(cm.recall()[3])


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 60), st.integers(0, 2**32 - 1))
def test_confusion_matrix_matches_a_loop(k, n, seed):
    rng = np.random.default_rng(seed)
    pred, target = rng.integers(0, k, n), rng.integers(0, k, n)
    target[rng.random(n) < 0.2] = 255
    np.testing.assert_array_equal(
        confusion_matrix(pred, target, k, ignore_index=255),
        confusion_loop(pred, target, k, ignore=255),
    )


def test_pixel_accuracy_ignores_void():
    target = np.array([[[0, 1], [255, 2]]])
    pred = np.array([[[0, 2], [1, 2]]])
    assert PixelAccuracy()(pred, target) == pytest.approx(2 / 3)
    assert Accuracy()(pred, target) == pytest.approx(2 / 4)  # no ignore: the void pixel counts
    assert PixelAccuracy().name == "pixel_acc"


def test_mean_iou_by_hand_excludes_classes_absent_from_both():
    # 4 classes; class 3 appears in neither prediction nor target
    target = np.array([[[0, 0, 1, 1], [2, 2, 255, 255]]])
    pred = np.array([[[0, 1, 1, 1], [2, 0, 0, 2]]])  # the last two (void) pixels are ignored
    iou = IoU(4)
    iou.update(pred, target)
    # class 0: TP 1, FP 1 (pixel of class 2), FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3;
    # class 2: TP 1, FN 1 -> 1/2; class 3: absent -> NaN
    np.testing.assert_allclose(iou.compute()[:3], [1 / 3, 2 / 3, 1 / 2])
    assert np.isnan(iou.compute()[3])
    assert MeanIoU(4)(pred, target) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)


def test_segmentation_logits_take_the_argmax_over_dim_1():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 5, 6, 6))
    target = rng.integers(0, 5, (2, 6, 6))
    labels = logits.argmax(1)
    assert MeanIoU(5)(logits, target) == pytest.approx(MeanIoU(5)(labels, target))
    cm = confusion_loop(labels, target, 5)
    tp = np.diag(cm)
    want = np.nanmean(tp / (cm.sum(0) + cm.sum(1) - tp))
    assert MeanIoU(5)(logits, target) == pytest.approx(want)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"Accuracy: pred \(5, 3, 2\) must be scores"):
        Accuracy().update(np.zeros((5, 3, 2)), TARGET)
    with pytest.raises(ValueError, match=r"do not match"):
        Accuracy().update(np.zeros(4, np.int64), TARGET)
    with pytest.raises(
        ValueError,
        match=r"confusion_matrix\(3 classes\): target labels must be "
        r"in 0..2, found 0..7",
    ):
        ConfusionMatrix(3).update(np.zeros(2, np.int64), np.array([0, 7]))
    with pytest.raises(TypeError, match="integer class labels"):
        Accuracy().update(LOGITS, TARGET.astype(np.float32))


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_cupy_inputs_give_the_numpy_results():
    import cupy

    rng = np.random.default_rng(3)
    logits, target = rng.normal(size=(4, 6, 8, 8)), rng.integers(0, 6, (4, 8, 8))
    target[:, 0] = 255
    for make in (lambda: MeanIoU(6), lambda: PixelAccuracy(), lambda: TopKAccuracy(2, 255)):
        assert make()(cupy.asarray(logits), cupy.asarray(target)) == pytest.approx(
            make()(logits, target)
        )


def test_f1_dice_and_precision_by_hand_and_against_a_loop():
    # predictions [0, 2, 1, 1, 2] against targets [0, 1, 1, 2, 2]:
    # class 0: TP 1, FP 0, FN 0 -> F1 1;  class 1: TP 1, FP 1, FN 1 -> 2 / 4;  class 2: the same
    assert F1Score(3)(LOGITS, TARGET) == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert MeanPrecision(3)(LOGITS, TARGET) == pytest.approx((1 + 0.5 + 0.5) / 3)
    rng = np.random.default_rng(3)
    pred, target = rng.integers(0, 4, (2, 6, 6)), rng.integers(0, 4, (2, 6, 6))
    target[0, 0] = 255  # void, left out
    keep = target != 255
    dice = []
    for c in range(4):
        p, t = (pred == c) & keep, (target == c) & keep
        if p.sum() + t.sum():
            dice.append(2 * (p & t).sum() / (p.sum() + t.sum()))
    assert Dice(4)(pred, target) == pytest.approx(np.mean(dice))
    assert math.isnan(F1Score(3).compute())
    # always predicting the majority class: the missed class's precision counts 0, not nothing
    majority = np.zeros(10, dtype=np.int64)
    truth = np.array([0] * 9 + [1])
    assert MeanPrecision(2)(majority, truth) == pytest.approx((0.9 + 0.0) / 2)
