"""Plots write non-empty PNG files from NumPy arrays and Tensors, and reject bad shapes."""

from __future__ import annotations

import numpy as np
import pytest

from minitorch_cv.tensor import Tensor
from minitorch_cv.train.plots import (
    best_epoch_index,
    colorize,
    plot_activations,
    plot_confusion_matrix,
    plot_filters,
    plot_history,
    plot_segmentation,
    voc_palette,
)

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 2000


def history(n=8, seg=False):
    rows = []
    for e in range(1, n + 1):
        row = {
            "epoch": e,
            "train_loss": 2 / e,
            "val_loss": 2 / e + 0.05 * max(0, e - 5),
            "lr": 0.01 * 0.5**e,
            "seconds": 1.0,
        }
        if seg:
            row.update(train_pixel_acc=e / n, val_pixel_acc=e / (n + 1), val_miou=e / (3 * n))
        else:
            row.update(train_acc=e / n, val_acc=e / (n + 1))
        rows.append(row)
    return rows


def test_best_epoch_is_the_lowest_validation_loss():
    h = history()
    assert best_epoch_index(h) == int(np.argmin([r["val_loss"] for r in h]))
    assert best_epoch_index([{"epoch": 1, "train_loss": 1.0}]) is None
    assert (
        best_epoch_index([{"val_loss": None}, {"val_loss": 3.0}, {"val_loss": float("nan")}]) == 1
    )


@pytest.mark.parametrize("seg", [False, True])
def test_plot_history_writes_a_png(tmp_path, seg):
    out = plot_history(history(seg=seg), tmp_path / "runs" / "curves.png", title="run")
    assert out == tmp_path / "runs" / "curves.png"
    assert_png(out)


def test_plot_history_without_validation_or_metrics(tmp_path):
    assert_png(
        plot_history(
            [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}], tmp_path / "c.png"
        )
    )
    with pytest.raises(ValueError, match="empty"):
        plot_history([], tmp_path / "x.png")


def test_plot_confusion_matrix(tmp_path):
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    assert_png(plot_confusion_matrix(cm, tmp_path / "cm.png", ["a", "b", "c"]))
    assert_png(
        plot_confusion_matrix(np.eye(30, dtype=int) * 3, tmp_path / "big.png", normalize=False)
    )
    with pytest.raises(ValueError, match=r"expected a \(K, K\) matrix"):
        plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="2 class names for a 3x3"):
        plot_confusion_matrix(cm, tmp_path / "bad.png", ["a", "b"])


def test_plot_segmentation_single_batch_logits_and_tensors(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (2, 3, 16, 16)).astype(np.float32)
    target = rng.integers(0, 21, (2, 16, 16))
    target[:, 0] = 255
    logits = rng.normal(size=(2, 21, 16, 16))
    assert_png(plot_segmentation(img[0], target[0], logits[0], tmp_path / "one.png"))
    assert_png(
        plot_segmentation(
            Tensor(img * 4 - 2),
            Tensor(target),
            Tensor(logits),
            tmp_path / "batch.png",
            class_names=[f"c{i}" for i in range(21)],
        )
    )
    assert_png(plot_segmentation(img[:, :1], target, target, tmp_path / "gray.png"))
    with pytest.raises(ValueError, match="do not fit"):
        plot_segmentation(img, target[:, :8], target, tmp_path / "bad.png")


def test_colorize_uses_the_voc_palette():
    mask = np.array([[0, 1], [15, 255]])
    rgb = colorize(mask)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[1, 1], voc_palette()[255])
    np.testing.assert_array_equal(rgb[0, 1], [128, 0, 0])


@pytest.mark.parametrize("shape", [(16, 3, 5, 5), (6, 1, 3, 3), (4, 12, 3, 3)])
def test_plot_filters(tmp_path, shape):
    w = np.random.default_rng(0).normal(size=shape)
    assert_png(plot_filters(Tensor(w), tmp_path / "filters.png"))


def test_plot_filters_and_activations_reject_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"weight \(F, C, KH, KW\)"):
        plot_filters(np.zeros((3, 3, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        plot_activations(np.zeros((3, 3)), tmp_path / "x.png")


def test_plot_activations(tmp_path):
    a = np.random.default_rng(0).normal(size=(1, 10, 7, 7))
    assert_png(plot_activations(a, tmp_path / "act.png", max_maps=9))
    assert_png(plot_activations(Tensor(a[0]), tmp_path / "act2.png"))
