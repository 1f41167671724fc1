"""torchvision.ops' box-regression losses: generalised, distance and complete IoU losses between
matched pairs of 'xyxy' boxes (boxes1[i] against boxes2[i], not every pair), written with
differentiable Tensor ops in torchvision's formulas, so the gradients are torchvision's.
"""

from __future__ import annotations

import numpy as np

from ..tensor import no_grad
from .boxes import _aspect_term, _check_boxes, _coords

_REDUCTIONS = ("none", "mean", "sum")


def _upcast_non_float(t):
    """torchvision's `_upcast_non_float`: anything but float32 / float64 becomes float32."""
    return t if np.dtype(t.dtype) in (np.float32, np.float64) else t.to(np.float32)


def _check(op, boxes1, boxes2, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    boxes1 = _check_boxes(op, boxes1, "boxes1")
    boxes2 = _check_boxes(op, boxes2, "boxes2")
    try:
        np.broadcast_shapes(boxes1.shape, boxes2.shape)
    except ValueError:
        raise ValueError(
            f"{op}: boxes1 {tuple(boxes1.shape)} and boxes2 {tuple(boxes2.shape)} must hold "
            "matching boxes (the same shape, or shapes that broadcast)"
        ) from None
    return _upcast_non_float(boxes1), _upcast_non_float(boxes2)


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    return loss.sum() if reduction == "sum" else loss


def _inter_union(boxes1, boxes2):
    """Intersection (0 where the boxes do not overlap) and union of matched pairs."""
    from ..functional import maximum, minimum, where

    x1, y1, x2, y2 = _coords(boxes1)
    x1g, y1g, x2g, y2g = _coords(boxes2)
    xkis1, ykis1 = maximum(x1, x1g), maximum(y1, y1g)
    xkis2, ykis2 = minimum(x2, x2g), minimum(y2, y2g)
    overlap = ((ykis2 > ykis1) & (xkis2 > xkis1))._data
    inter = where(overlap, (xkis2 - xkis1) * (ykis2 - ykis1), 0.0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter, union


def _enclosing(boxes1, boxes2):
    """Width and height of the smallest box around each matched pair (not clamped)."""
    from ..functional import maximum, minimum

    x1, y1, x2, y2 = _coords(boxes1)
    x1g, y1g, x2g, y2g = _coords(boxes2)
    return maximum(x2, x2g) - minimum(x1, x1g), maximum(y2, y2g) - minimum(y1, y1g)


def generalized_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """1 - GIoU of matched 'xyxy' boxes (torchvision.ops.generalized_box_iou_loss):
    1 - inter / (union + eps) + (C - union) / (C + eps), C the enclosing box's area.

    Args:
        boxes1, boxes2: (..., 4), the same shape (or broadcasting). reduction: 'none' (the
            default), 'mean' or 'sum'. eps (float): Default 1e-7.
    """
    boxes1, boxes2 = _check("generalized_box_iou_loss", boxes1, boxes2, reduction)
    inter, union = _inter_union(boxes1, boxes2)
    iou = inter / (union + eps)
    wc, hc = _enclosing(boxes1, boxes2)
    area_c = wc * hc
    return _reduce(1 - (iou - (area_c - union) / (area_c + eps)), reduction)


def _diou_loss(boxes1, boxes2, eps):
    inter, union = _inter_union(boxes1, boxes2)
    iou = inter / (union + eps)
    wc, hc = _enclosing(boxes1, boxes2)
    diagonal_sq = wc**2 + hc**2 + eps
    x1, y1, x2, y2 = _coords(boxes1)
    x1g, y1g, x2g, y2g = _coords(boxes2)
    centers_sq = ((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2 + ((y2 + y1) / 2 - (y1g + y2g) / 2) ** 2
    return 1 - iou + centers_sq / diagonal_sq, iou


def distance_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """1 - DIoU of matched 'xyxy' boxes (torchvision.ops.distance_box_iou_loss):
    1 - IoU + d^2 / (c^2 + eps), d the distance between the centres and c the enclosing box's
    diagonal (IoU = inter / (union + eps)).

    Args: as generalized_box_iou_loss.
    """
    boxes1, boxes2 = _check("distance_box_iou_loss", boxes1, boxes2, reduction)
    loss, _ = _diou_loss(boxes1, boxes2, eps)
    return _reduce(loss, reduction)


def complete_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """1 - CIoU of matched 'xyxy' boxes (torchvision.ops.complete_box_iou_loss): the DIoU loss
    plus alpha v, v = 4 / pi^2 (atan(w_gt / h_gt) - atan(w / h))^2 and alpha =
    v / (1 - IoU + v + eps) held constant (no gradient through alpha, as torchvision).

    Args: as generalized_box_iou_loss.
    """
    boxes1, boxes2 = _check("complete_box_iou_loss", boxes1, boxes2, reduction)
    diou_loss, iou = _diou_loss(boxes1, boxes2, eps)
    x1, y1, x2, y2 = _coords(boxes1)
    x1g, y1g, x2g, y2g = _coords(boxes2)
    v = _aspect_term(x2g - x1g, y2g - y1g, x2 - x1, y2 - y1)  # (gt - pred)^2 = (pred - gt)^2
    with no_grad():
        alpha = v / (1 - iou + v + eps)
    return _reduce(diou_loss + alpha * v, reduction)
