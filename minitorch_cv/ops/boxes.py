"""torchvision.ops' box utilities: areas, the IoU family, format conversion, clipping, small-box
removal, masks to boxes, and non-maximum suppression.

Boxes are (..., 4) tensors, 'xyxy' = (x1, y1, x2, y2) unless a `fmt` says otherwise. The IoU
family is written with differentiable Tensor ops (the same formulas as torchvision, so the same
gradients, ties in min / max split in half as in PyTorch); NMS and the index-returning helpers
work on raw arrays and return int64 indices.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import xp_of
from ..tensor import Tensor, as_tensor, no_grad

FORMATS = ("xyxy", "xywh", "cxcywh")


# --------------------------------------------------------------------------- argument checks


def _tensor(op, x, name):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (list, tuple)) or hasattr(x, "__array__") or hasattr(x, "shape"):
        return as_tensor(x)
    raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(x).__name__}")


def _check_boxes(op, boxes, name="boxes", layout="(..., 4)"):
    """`boxes` as a Tensor whose last dim is 4 (and at least 2 dims for '(..., N, 4)', exactly 2
    for '(N, 4)'), else a ValueError naming the op, the layout and the shape."""
    boxes = _tensor(op, boxes, name)
    min_ndim = {"(..., 4)": 1, "(..., N, 4)": 2, "(N, 4)": 2}[layout]
    if boxes.ndim < min_ndim or (layout == "(N, 4)" and boxes.ndim != 2) or boxes.shape[-1] != 4:
        raise ValueError(f"{op}: expected {name} of shape {layout}, got {tuple(boxes.shape)}")
    return boxes


def _check_fmt(op, fmt, name="fmt"):
    if fmt not in FORMATS:
        raise ValueError(f"{op}: {name} must be one of {FORMATS}, got {fmt!r}")


def _upcast(t):
    """torchvision's `_upcast`: float16 -> float32, small integers -> int32, so that products
    of coordinates do not overflow; float32 / float64 / int32 / int64 stay."""
    k = np.dtype(t.dtype)
    if k.kind == "f":
        return t if k in (np.float32, np.float64) else t.to(np.float32)
    return t if k in (np.int32, np.int64) else t.to(np.int32)


def _coords(boxes):
    return tuple(boxes[..., i] for i in range(4))


# --------------------------------------------------------------------------- areas and IoUs


def box_area(boxes, fmt="xyxy"):
    """Area of each box (torchvision.ops.box_area): (x2 - x1) * (y2 - y1) for 'xyxy', w * h
    for 'xywh' and 'cxcywh'. Not clamped: an inverted box has a negative area.

    Shapes: boxes (..., 4) -> (...).
    """
    _check_fmt("box_area", fmt)
    boxes = _upcast(_check_boxes("box_area", boxes))
    if fmt == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return boxes[..., 2] * boxes[..., 3]


def _corners(boxes, fmt):
    """(top-left, bottom-right), each (..., 2), of boxes in `fmt`."""
    if fmt == "xyxy":
        return boxes[..., :2], boxes[..., 2:]
    if fmt == "xywh":
        return boxes[..., :2], boxes[..., :2] + boxes[..., 2:]
    half = boxes[..., 2:] / 2
    return boxes[..., :2] - half, boxes[..., :2] + half


def _pairs(b1, b2):
    """b1 (..., N, k) and b2 (..., M, k) as (..., N, 1, k) and (..., 1, M, k)."""
    return b1[..., :, None, :], b2[..., None, :, :]


def _inter_union(boxes1, boxes2, fmt="xyxy"):
    from ..functional import maximum, minimum

    area1, area2 = box_area(boxes1, fmt), box_area(boxes2, fmt)
    lt1, rb1 = _corners(boxes1, fmt)
    lt2, rb2 = _corners(boxes2, fmt)
    lt = maximum(*_pairs(lt1, lt2))  # (..., N, M, 2)
    rb = minimum(*_pairs(rb1, rb2))
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]  # (..., N, M)
    union = area1[..., :, None] + area2[..., None, :] - inter
    return inter, union


def _check_pair(op, boxes1, boxes2):
    boxes1 = _check_boxes(op, boxes1, "boxes1", "(..., N, 4)")
    boxes2 = _check_boxes(op, boxes2, "boxes2", "(..., N, 4)")
    try:
        np.broadcast_shapes(boxes1.shape[:-2], boxes2.shape[:-2])
    except ValueError:
        raise ValueError(
            f"{op}: the leading dims of boxes1 {tuple(boxes1.shape)} and boxes2 "
            f"{tuple(boxes2.shape)} do not broadcast"
        ) from None
    return boxes1, boxes2


def box_iou(boxes1, boxes2, fmt="xyxy"):
    """Intersection over union of every pair (torchvision.ops.box_iou): inter / union, with
    union = area1 + area2 - inter (0 / 0 = nan for two empty boxes, as torchvision).

    Shapes: boxes1 (..., N, 4), boxes2 (..., M, 4) -> (..., N, M).
    """
    _check_fmt("box_iou", fmt)
    boxes1, boxes2 = _check_pair("box_iou", boxes1, boxes2)
    inter, union = _inter_union(boxes1, boxes2, fmt)
    return inter / union


def _enclosing_wh(boxes1, boxes2):
    """Width and height, (..., N, M, 2), of the smallest box holding each pair."""
    from ..functional import maximum, minimum

    lti = minimum(*_pairs(boxes1[..., :2], boxes2[..., :2]))
    rbi = maximum(*_pairs(boxes1[..., 2:], boxes2[..., 2:]))
    return _upcast(rbi - lti).clamp(min=0)


def generalized_box_iou(boxes1, boxes2):
    """Generalised IoU of every pair of 'xyxy' boxes (torchvision.ops.generalized_box_iou):
    IoU - (C - union) / C, C the area of the smallest box enclosing both; in [-1, 1].

    Shapes: boxes1 (..., N, 4), boxes2 (..., M, 4) -> (..., N, M).
    """
    boxes1, boxes2 = _check_pair("generalized_box_iou", boxes1, boxes2)
    inter, union = _inter_union(boxes1, boxes2)
    iou = inter / union
    whi = _enclosing_wh(boxes1, boxes2)
    areai = whi[..., 0] * whi[..., 1]
    return iou - (areai - union) / areai


def _diou_iou(boxes1, boxes2, eps):
    inter, union = _inter_union(boxes1, boxes2)
    iou = inter / union
    whi = _enclosing_wh(boxes1, boxes2)
    diagonal_sq = whi[..., 0] ** 2 + whi[..., 1] ** 2 + eps
    x1, y1, x2, y2 = _coords(boxes1)
    x1g, y1g, x2g, y2g = _coords(boxes2)
    x_p, y_p = (x1 + x2) / 2, (y1 + y2) / 2
    x_g, y_g = (x1g + x2g) / 2, (y1g + y2g) / 2
    centers_sq = (
        _upcast(x_p[..., :, None] - x_g[..., None, :]) ** 2
        + _upcast(y_p[..., :, None] - y_g[..., None, :]) ** 2
    )
    return iou - centers_sq / diagonal_sq, iou


def distance_box_iou(boxes1, boxes2, eps=1e-7):
    """Distance IoU of every pair of 'xyxy' boxes (torchvision.ops.distance_box_iou):
    IoU - d^2 / (c^2 + eps), d the distance between the centres, c the diagonal of the
    smallest enclosing box.

    Shapes: boxes1 (..., N, 4), boxes2 (..., M, 4) -> (..., N, M).
    """
    boxes1, boxes2 = _check_pair("distance_box_iou", boxes1, boxes2)
    diou, _ = _diou_iou(_upcast(boxes1), _upcast(boxes2), eps)
    return diou


def _aspect_term(w_pred, h_pred, w_gt, h_gt):
    """v = 4 / pi^2 (atan(w / h) - atan(w_gt / h_gt))^2, CIoU's aspect-ratio consistency."""
    from ..functional import atan

    return (4 / math.pi**2) * (atan(w_pred / h_pred) - atan(w_gt / h_gt)) ** 2


def complete_box_iou(boxes1, boxes2, eps=1e-7):
    """Complete IoU of every pair of 'xyxy' boxes (torchvision.ops.complete_box_iou):
    DIoU - alpha v, v the aspect-ratio term and alpha = v / (1 - IoU + v + eps) held constant
    (computed without gradient, as torchvision does).

    Shapes: boxes1 (..., N, 4), boxes2 (..., M, 4) -> (..., N, M).
    """
    boxes1, boxes2 = _check_pair("complete_box_iou", boxes1, boxes2)
    boxes1, boxes2 = _upcast(boxes1), _upcast(boxes2)
    diou, iou = _diou_iou(boxes1, boxes2, eps)
    x1, y1, x2, y2 = _coords(boxes1)
    x1g, y1g, x2g, y2g = _coords(boxes2)
    v = _aspect_term(
        (x2 - x1)[..., :, None], (y2 - y1)[..., :, None],
        (x2g - x1g)[..., None, :], (y2g - y1g)[..., None, :],
    )  # fmt: skip
    with no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


# --------------------------------------------------------------------------- conversions


def _xywh_to_xyxy(b):
    from ..functional import stack

    x, y, w, h = _coords(b)
    return stack([x, y, x + w, y + h], dim=-1)


def _cxcywh_to_xyxy(b):
    from ..functional import stack

    cx, cy, w, h = _coords(b)
    return stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def _xyxy_to_xywh(b):
    from ..functional import stack

    x1, y1, x2, y2 = _coords(b)
    return stack([x1, y1, x2 - x1, y2 - y1], dim=-1)


def _xyxy_to_cxcywh(b):
    from ..functional import stack

    x1, y1, x2, y2 = _coords(b)
    return stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)


def box_convert(boxes, in_fmt, out_fmt):
    """Convert boxes between 'xyxy' (corners), 'xywh' (top-left corner, width, height) and
    'cxcywh' (centre, width, height), as torchvision.ops.box_convert; differentiable. The same
    format in and out gives a copy.

    Shapes: boxes (..., 4) -> (..., 4).
    """
    if in_fmt not in FORMATS or out_fmt not in FORMATS:
        raise ValueError(
            f"box_convert: in_fmt and out_fmt must be in {FORMATS}, got {in_fmt!r} and {out_fmt!r}"
        )
    boxes = _check_boxes("box_convert", boxes)
    if in_fmt == out_fmt:
        return boxes.clone()
    if in_fmt == "xywh":
        boxes = _xywh_to_xyxy(boxes)
    elif in_fmt == "cxcywh":
        boxes = _cxcywh_to_xyxy(boxes)
    if out_fmt == "xywh":
        return _xyxy_to_xywh(boxes)
    if out_fmt == "cxcywh":
        return _xyxy_to_cxcywh(boxes)
    return boxes


def clip_boxes_to_image(boxes, size):
    """Clamp 'xyxy' boxes into an image of `size` = (height, width): x into [0, width], y into
    [0, height] (torchvision.ops.clip_boxes_to_image); differentiable where not clamped.

    Shapes: boxes (..., 4) -> (..., 4).
    """
    from ..functional import stack

    boxes = _check_boxes("clip_boxes_to_image", boxes)
    if len(size) != 2:
        raise ValueError(f"clip_boxes_to_image: size must be (height, width), got {size!r}")
    height, width = size
    xs = boxes[..., 0::2].clamp(min=0, max=width)
    ys = boxes[..., 1::2].clamp(min=0, max=height)
    return stack([xs, ys], dim=boxes.ndim).reshape(boxes.shape)


def remove_small_boxes(boxes, min_size):
    """Indices (int64, ascending) of the 'xyxy' boxes whose width and height are both at least
    `min_size` (torchvision.ops.remove_small_boxes).

    Shapes: boxes (N, 4) -> (K,).
    """
    b = _check_boxes("remove_small_boxes", boxes, layout="(N, 4)")._data
    xp = xp_of(b)
    keep = ((b[:, 2] - b[:, 0]) >= min_size) & ((b[:, 3] - b[:, 1]) >= min_size)
    return Tensor(xp.nonzero(keep)[0].astype(xp.int64))


def masks_to_boxes(masks):
    """The 'xyxy' box, float32, around the non-zero pixels of each mask: (min x, min y,
    max x, max y) in pixel indices (torchvision.ops.masks_to_boxes); an all-zero mask gives
    (0, 0, 0, 0).

    Shapes: masks (N, H, W) -> (N, 4); no masks (numel 0) -> (0, 4).
    """
    masks = _tensor("masks_to_boxes", masks, "masks")
    if masks.ndim != 3:
        raise ValueError(f"masks_to_boxes: expected masks of shape (N, H, W), got {masks.shape}")
    m = masks._data != 0
    xp = xp_of(m)
    if m.size == 0:
        return Tensor(xp.zeros((0, 4), dtype=xp.float32))
    _, h, w = m.shape
    rows, cols = m.any(axis=2), m.any(axis=1)  # (N, H), (N, W)
    boxes = xp.stack([
        cols.argmax(axis=1), rows.argmax(axis=1),
        w - 1 - cols[:, ::-1].argmax(axis=1), h - 1 - rows[:, ::-1].argmax(axis=1),
    ], axis=1).astype(xp.float32)  # fmt: skip
    return Tensor(boxes * rows.any(axis=1)[:, None])


# --------------------------------------------------------------------------- NMS


def _greedy(b, cat, threshold):
    """Greedy NMS over boxes `b` (N, 4) already sorted by score: the positions kept. One step
    per kept box: its IoU with every later box (a row, O(N) memory; no N x N matrix), the
    later boxes it overlaps (of its category `cat`, if given) removed, the next survivor kept.

    IoU as torchvision's kernel computes it: inter / (area_i + area_j - inter) in the boxes'
    dtype, areas unclamped, compared with the threshold in float64 as the kernel compares its
    float IoU with a double (a nan IoU suppresses nothing)."""
    xp = xp_of(b)
    x1, y1, x2, y2 = (xp.ascontiguousarray(b[:, i]) for i in range(4))
    area = (x2 - x1) * (y2 - y1)
    zero, threshold = b.dtype.type(0), np.float64(threshold)
    alive = xp.ones(b.shape[0], dtype=bool)
    keep, i = [], 0
    while True:
        keep.append(i)
        r = slice(i + 1, None)  # the later boxes: dead ones too, cheaper than gathering
        w = xp.maximum(zero, xp.minimum(x2[i], x2[r]) - xp.maximum(x1[i], x1[r]))
        h = xp.maximum(zero, xp.minimum(y2[i], y2[r]) - xp.maximum(y1[i], y1[r]))
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            over = inter / (area[i] + area[r] - inter) > threshold
        if cat is not None:
            over &= cat[r] == cat[i]
        alive[r] &= ~over
        later = xp.flatnonzero(alive[r])
        if later.size == 0:
            return xp.asarray(keep, dtype=xp.int64)
        i += 1 + int(later[0])


def _check_threshold(op, iou_threshold):
    if isinstance(iou_threshold, (bool, np.bool_)) or not isinstance(
        iou_threshold, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"{op}: iou_threshold must be a real number, got {type(iou_threshold).__name__} "
            f"{iou_threshold!r}"
        )
    return float(iou_threshold)


def _check_nms(op, boxes, scores, idxs=None):
    boxes = _check_boxes(op, boxes, layout="(N, 4)")
    scores = _tensor(op, scores, "scores")
    n = boxes.shape[0]
    if scores.shape != (n,):
        raise ValueError(
            f"{op}: expected scores of shape ({n},) for boxes {tuple(boxes.shape)}, got "
            f"{tuple(scores.shape)}"
        )
    if idxs is not None:
        idxs = _tensor(op, idxs, "idxs")
        if idxs.shape != (n,):
            raise ValueError(
                f"{op}: expected idxs of shape ({n},) for boxes {tuple(boxes.shape)}, got "
                f"{tuple(idxs.shape)}"
            )
        idxs = idxs._data
    return boxes._data, scores._data, idxs


def _nms(b, s, idxs, iou_threshold):
    from ..functional import argsort

    xp = xp_of(b)
    if b.shape[0] == 0:
        return Tensor(xp.zeros(0, dtype=xp.int64))
    order = argsort(s, descending=True)._data  # equal scores in index order
    cat = None if idxs is None else idxs[order]
    return Tensor(order[_greedy(b[order], cat, iou_threshold)])


def nms(boxes, scores, iou_threshold):
    """Non-maximum suppression (torchvision.ops.nms): visit the boxes by decreasing score
    (ties in index order; torchvision leaves this undefined), keep a box unless a kept box
    overlaps it with IoU > iou_threshold.

    One vectorised step per kept box, each computing that box's IoU with the later boxes: O(N)
    memory, O(N x kept) time. Not differentiable.

    Args:
        boxes: (N, 4) 'xyxy'. scores: (N,). iou_threshold (float): suppress when IoU > this.

    Returns: int64 indices of the kept boxes, by decreasing score.
    """
    b, s, _ = _check_nms("nms", boxes, scores)
    return _nms(b, s, None, _check_threshold("nms", iou_threshold))


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS within each category `idxs` (torchvision.ops.batched_nms): boxes of different
    categories never suppress each other. One greedy pass over all the boxes by decreasing
    score (ties in index order; torchvision leaves this undefined), a kept box suppressing only
    the later boxes of its own category.

    Returns: int64 indices of the kept boxes, by decreasing score.
    """
    b, s, c = _check_nms("batched_nms", boxes, scores, idxs)
    return _nms(b, s, c, _check_threshold("batched_nms", iou_threshold))
