"""Figures of a training run, written as PNG files with Matplotlib's Agg canvas (no display).

* `plot_history`: loss and metric curves, train vs validation, best epoch marked.
* `plot_confusion_matrix`: a (K, K) matrix as a heat map.
* `plot_segmentation`: image | ground truth | prediction | overlay, in the VOC colours.
* `plot_filters`: first-layer convolution kernels as an image grid.
* `plot_activations`: the feature maps of one layer for one input.

Every function takes NumPy arrays, CuPy arrays or Tensors, writes `path` (creating its folder)
and returns it as a Path. Figures are built with `matplotlib.figure.Figure` directly, never
through pyplot, so no global state or GUI backend is touched.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from minitorch_cv.backend import to_device
from minitorch_cv.data.voc import voc_palette
from minitorch_cv.tensor import Tensor

__all__ = [
    "plot_activations",
    "plot_confusion_matrix",
    "plot_filters",
    "plot_history",
    "plot_segmentation",
    "voc_palette",
]

_NOT_METRICS = {"loss", "lr", "seconds", "time", "epoch"}


def _np(a) -> np.ndarray:
    """A host NumPy array from a Tensor, a CuPy array or anything array-like."""
    if isinstance(a, Tensor):
        a = a._data
    if type(a).__module__.startswith("cupy"):
        a = to_device(a, "cpu")
    return np.asarray(a)


def _figure(width: float, height: float) -> Figure:
    # constrained layout: a panel's y label never runs into its left neighbour
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(os.fspath(path), format="png", bbox_inches="tight")
    return path


def _series(history: Sequence[dict], key: str) -> np.ndarray:
    vals = [h.get(key) for h in history]
    return np.array([np.nan if v is None else float(v) for v in vals], dtype=np.float64)


def best_epoch_index(history: Sequence[dict], key: str = "val_loss") -> int | None:
    """Index of the epoch with the lowest finite `key` (default 'val_loss'), else None."""
    v = _series(history, key)
    if not np.isfinite(v).any():
        return None
    return int(np.nanargmin(np.where(np.isfinite(v), v, np.nan)))


def plot_history(history: Sequence[dict], path, title: str | None = None) -> Path:
    """Loss and metric curves per epoch, train vs validation, with the best epoch marked.

    Args:
        history: one dict per epoch with keys such as 'epoch', 'train_loss', 'val_loss',
            'train_acc', 'val_acc', 'val_pixel_acc', 'val_miou', 'lr' (missing or None values
            are gaps). Every `train_X` / `val_X` pair other than loss gets a curve in the metric
            panel; 'lr', when present, gets a third panel.
        path: PNG file to write.
        title: figure title (default none).

    The best epoch is the one of lowest validation loss (of lowest training loss when there is no
    validation loss); it is marked by a dashed line on every panel.
    """
    history = list(history)
    if not history:
        raise ValueError("plot_history: the history is empty")
    epochs = np.array([h.get("epoch", i + 1) for i, h in enumerate(history)], dtype=np.float64)
    keys = list(dict.fromkeys(k for h in history for k in h))
    metrics = list(
        dict.fromkeys(
            k.split("_", 1)[1]
            for k in keys
            if k.startswith(("train_", "val_")) and k.split("_", 1)[1] not in _NOT_METRICS
        )
    )
    has_lr = "lr" in keys
    panels = 1 + bool(metrics) + has_lr
    fig = _figure(5.0 * panels, 4.0)
    axes = fig.subplots(1, panels, squeeze=False)[0]

    best = best_epoch_index(history, "val_loss")
    if best is None:
        best = best_epoch_index(history, "train_loss")

    def curves(ax, names, ylabel):
        for key, style in names:
            v = _series(history, key)
            if np.isfinite(v).any():
                ax.plot(epochs, v, style, label=key.replace("_", " "), marker=".")
        if best is not None:
            ax.axvline(epochs[best], color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)

    ax = axes[0]
    curves(ax, [("train_loss", "-"), ("val_loss", "-")], "loss")
    if best is not None:
        key = "val_loss" if np.isfinite(_series(history, "val_loss")).any() else "train_loss"
        y = _series(history, key)[best]
        ax.plot(
            [epochs[best]],
            [y],
            marker="*",
            markersize=14,
            color="crimson",
            linestyle="",
            label=f"best epoch {epochs[best]:g} ({key.replace('_', ' ')} {y:.4g})",
        )
    ax.legend(fontsize=8)
    ax.set_title("loss")

    if metrics:
        ax = axes[1]
        names = [
            (f"{split}_{m}", "-" if split == "train" else "--")
            for m in metrics
            for split in ("train", "val")
        ]
        curves(ax, names, "metric")
        ax.legend(fontsize=8)
        ax.set_title(", ".join(m.replace("_", " ") for m in metrics))
    if has_lr:
        ax = axes[-1]
        curves(ax, [("lr", "-")], "learning rate")
        lr = _series(history, "lr")
        if (
            np.all(lr[np.isfinite(lr)] > 0)
            and np.isfinite(lr).sum() > 1
            and np.nanmax(lr) / np.nanmin(lr) > 20
        ):
            ax.set_yscale("log")
        else:  # a constant rate reads as 0.001, not as an offset of 1e-3 with +-4e-5 ticks
            ax.ticklabel_format(axis="y", style="plain", useOffset=False)
        ax.set_title("learning rate")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_confusion_matrix(
    cm,
    path,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """A confusion matrix heat map (rows true class, columns predicted class).

    Args:
        cm: (K, K) counts.
        path: PNG file to write.
        class_names: K tick labels (default 0..K-1).
        normalize: colour by row fractions (per-class recall on the diagonal) rather than counts
            (default True); cells show counts when K <= 20.
        title: figure title (default 'confusion matrix').
    """
    cm = _np(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a (K, K) matrix, got {cm.shape}")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for a {k}x{k} matrix")
    rows = cm.sum(axis=1, keepdims=True)
    shown = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0) if normalize else cm
    side = min(max(4.0, 0.45 * k + 2.0), 24.0)
    fig = _figure(side + 1.0, side)
    ax = fig.subplots()
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(
        im,
        ax=ax,
        fraction=0.046,
        pad=0.04,
        label="fraction of the true class" if normalize else "count",
    )
    ax.set_xticks(range(k), names, rotation=90 if k > 6 else 0, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 20:
        top = 1.0 if normalize else max(float(shown.max()), 1.0)
        for i in range(k):  # k <= 20: at most 400 labels, drawing them is cheap
            for j in range(k):
                ax.text(
                    j,
                    i,
                    f"{int(cm[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shown[i, j] > 0.5 * top else "black",
                )
    ax.set_title(title or "confusion matrix")
    return _save(fig, path)


def _display_image(img: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W, 3) floats in [0, 1]; normalized images are rescaled by their range."""
    img = img.astype(np.float64)
    if img.shape[0] == 1:
        img = np.repeat(img, 3, axis=0)
    elif img.shape[0] != 3:
        raise ValueError(f"plot_segmentation: images must have 1 or 3 channels, got {img.shape}")
    lo, hi = img.min(), img.max()
    if lo < 0 or hi > 1:
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return img.transpose(1, 2, 0)


def colorize(mask, palette: np.ndarray | None = None) -> np.ndarray:
    """Class-index mask (H, W) -> (H, W, 3) uint8 colours (VOC palette by default)."""
    palette = voc_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    mask = _np(mask).astype(np.int64)
    return palette[np.clip(mask, 0, len(palette) - 1)]


def plot_segmentation(
    image,
    target,
    pred,
    path,
    class_names: Sequence[str] | None = None,
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """Panels image | ground truth | prediction | overlay, one row per image.

    Args:
        image: (C, H, W) or (N, C, H, W), C = 1 or 3; values outside [0, 1] (normalized
            input) are rescaled to the image's range for display.
        target: (H, W) or (N, H, W) class indices (255 = void, drawn in the palette's colour 255).
        pred: predicted indices of target's shape, or scores (K, H, W) / (N, K, H, W).
        path: PNG file to write.
        class_names: names for a legend of the classes present (default: no legend).
        alpha: opacity of the prediction over the image in the overlay (default 0.5).
        palette: (>= K, 3) uint8 colours (default `voc_palette()`).
        title: figure title.
    """
    image, target, pred = _np(image), _np(target), _np(pred)
    if image.ndim == 3:
        image, target = image[None], target[None]
        pred = pred[None]
    if pred.ndim == target.ndim + 1:
        pred = pred.argmax(axis=1)
    if (
        image.ndim != 4
        or target.shape != (image.shape[0], *image.shape[2:])
        or pred.shape != target.shape
    ):
        raise ValueError(
            f"plot_segmentation: image {image.shape}, target {target.shape} and "
            f"pred {pred.shape} do not fit (expected (N, C, H, W), (N, H, W), "
            f"(N, H, W) or (N, K, H, W))"
        )
    palette = voc_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    n = image.shape[0]
    fig = _figure(12.0, 3.2 * n + (0.6 if class_names is not None else 0.0))
    axes = fig.subplots(n, 4, squeeze=False)
    for r in range(n):
        rgb = _display_image(image[r])
        pc = colorize(pred[r], palette) / 255.0
        show = pred[r] != 0  # background (class 0) keeps the image in the overlay
        overlay = np.where(show[..., None], (1 - alpha) * rgb + alpha * pc, rgb)
        panels = (rgb, colorize(target[r], palette), pc, overlay)
        for c, (ax, im, name) in enumerate(
            zip(axes[r], panels, ("image", "ground truth", "prediction", "overlay"))
        ):
            ax.imshow(im, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name)
            if c == 0 and n > 1:
                ax.set_ylabel(f"#{r}")
    if class_names is not None:
        present = np.unique(np.concatenate([target.reshape(-1), pred.reshape(-1)]))
        handles = [
            Patch(
                color=palette[i] / 255.0,
                label=class_names[i] if i < len(class_names) else "void" if i == 255 else str(i),
            )
            for i in present
            if i < len(palette)
        ]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _grid(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def _rescale(a: np.ndarray) -> np.ndarray:
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.full_like(a, 0.5)


def plot_filters(
    weight, path, max_filters: int = 64, max_channels: int = 8, title: str | None = None
) -> Path:
    """Convolution kernels as an image grid.

    Args:
        weight: (F, C, KH, KW). With C = 3 each filter is one RGB tile; with C = 1 one grey
            tile; otherwise row f shows filter f's first `max_channels` input channels.
        path: PNG file to write.
        max_filters: most filters shown (default 64).
        max_channels: most input channels per filter when C is not 1 or 3 (default 8).
        title: figure title (default 'filters F x C x KH x KW').

    Each tile is min-max scaled on its own, so the pattern shows whatever its magnitude.
    """
    w = _np(weight).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: expected a weight (F, C, KH, KW), got {w.shape}")
    f, c = min(w.shape[0], max_filters), w.shape[1]
    title = title or "filters {} x {} x {} x {}".format(*w.shape)
    if c in (1, 3):
        rows, cols = _grid(f)
        fig = _figure(1.0 * cols + 0.5, 1.0 * rows + 0.6)
        axes = fig.subplots(rows, cols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if i < f:
                tile = _rescale(w[i]).transpose(1, 2, 0)
                ax.imshow(tile[..., 0] if c == 1 else tile, cmap="gray", interpolation="nearest")
    else:
        cc = min(c, max_channels)
        fig = _figure(0.8 * cc + 0.5, 0.8 * f + 0.6)
        axes = fig.subplots(f, cc, squeeze=False)
        for i in range(f):
            for j in range(cc):
                ax = axes[i, j]
                ax.set_axis_off()
                ax.imshow(_rescale(w[i, j]), cmap="gray", interpolation="nearest")
    fig.suptitle(title)
    return _save(fig, path)


def plot_activations(
    activations, path, max_maps: int = 64, cmap: str = "viridis", title: str | None = None
) -> Path:
    """The feature maps of one layer for one input, as a grid.

    Args:
        activations: (C, H, W), or (1, C, H, W) (the first item of a batch is used).
        path: PNG file to write.
        max_maps: most channels shown (default 64).
        cmap: Matplotlib colour map (default 'viridis').
        title: figure title (default 'activations C x H x W').
    """
    a = _np(activations).astype(np.float64)
    if a.ndim == 4:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"plot_activations: expected (C, H, W) or (N, C, H, W), got {a.shape}")
    count = min(a.shape[0], max_maps)
    rows, cols = _grid(count)
    fig = _figure(1.3 * cols + 0.5, 1.3 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < count:
            ax.imshow(a[i], cmap=cmap, interpolation="nearest")
            ax.set_title(str(i), fontsize=7)
    fig.suptitle(title or "activations {} x {} x {}".format(*a.shape))
    return _save(fig, path)
