"""mt.ops.nms and batched_nms: equal to torchvision's greedy CPU kernel written as a loop
(descending sort, ties in index order where torchvision leaves them undefined, suppress when
IoU > threshold, IoU recomputed per pair) over hypothesis-drawn boxes on a coarse grid, where
equal scores and IoUs exactly at the threshold happen; batched_nms equal to NMS run category by
category; a few thousand boxes in O(N) memory, equal to a greedy pass over the full IoU matrix;
hand cases; errors."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import ops
from tests.strategies_core import SETTINGS


def loop_nms(boxes, scores, thr, dtype=np.float64):
    """torchvision's nms_kernel_impl, line by line: arithmetic in the boxes' dtype, the IoU
    compared with the threshold as a double."""
    boxes = [[dtype(v) for v in b] for b in boxes]
    # ties in index order (Python's sort is stable); torchvision's order of ties is undefined
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    suppressed, keep = [False] * len(boxes), []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[a + 1 :]:
            if suppressed[j]:
                continue
            w = max(dtype(0), min(boxes[i][2], boxes[j][2]) - max(boxes[i][0], boxes[j][0]))
            h = max(dtype(0), min(boxes[i][3], boxes[j][3]) - max(boxes[i][1], boxes[j][1]))
            inter = w * h
            union = area[i] + area[j] - inter
            if union != 0 and float(inter / union) > thr:  # 0 / 0 = nan suppresses nothing
                suppressed[j] = True
    return keep


def loop_batched_nms(boxes, scores, idxs, thr):
    """NMS per category, the kept indices by decreasing score (torchvision's vanilla path)."""
    kept = []
    for c in sorted(set(idxs)):
        members = [i for i in range(len(idxs)) if idxs[i] == c]
        kept += [members[k] for k in loop_nms([boxes[i] for i in members],
                                              [scores[i] for i in members], thr)]  # fmt: skip
    return sorted(kept, key=lambda i: (-scores[i], i))


@st.composite
def detections(draw, max_n=12):
    """Boxes with corners on a whole-number grid (so IoUs like exactly 0.5 occur), some
    degenerate, and scores from a few values (so ties occur)."""
    n = draw(st.integers(0, max_n))
    corners = draw(st.lists(st.tuples(*[st.integers(0, 6)] * 2, *[st.integers(0, 3)] * 2),
                            min_size=n, max_size=n))  # fmt: skip
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in corners], np.float64).reshape(n, 4)
    scores = np.array(draw(st.lists(st.sampled_from([0.1, 0.5, 0.7, 0.9]), min_size=n,
                                    max_size=n)), np.float64)  # fmt: skip
    idxs = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.int64)
    thr = draw(st.sampled_from([0.0, 0.2, 1 / 3, 0.5, 0.7, 1.0]))
    return boxes, scores, idxs, thr


@SETTINGS
@given(case=detections(), dtype=st.sampled_from([np.float64, np.float32]))
def test_nms_matches_the_greedy_loop(case, dtype):
    boxes, scores, _, thr = case
    keep = ops.nms(mt.tensor(boxes.astype(dtype)), mt.tensor(scores.astype(dtype)), thr)
    assert keep.dtype == np.int64
    assert keep.tolist() == loop_nms(boxes.tolist(), scores.tolist(), thr, dtype)


@SETTINGS
@given(case=detections())
def test_batched_nms_is_nms_per_category(case):
    boxes, scores, idxs, thr = case
    keep = ops.batched_nms(mt.tensor(boxes), mt.tensor(scores), mt.tensor(idxs), thr)
    assert keep.tolist() == loop_batched_nms(boxes.tolist(), scores.tolist(), idxs.tolist(), thr)


def test_nms_by_hand_ties_and_the_threshold():
    boxes = mt.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30], [0, 0, 10, 10]])
    # box 1 overlaps box 0 with IoU exactly 0.5: kept at 0.5 (suppressed only when > 0.5)
    scores = mt.tensor([0.9, 0.8, 0.7, 0.9])
    assert ops.nms(boxes, scores, 0.5).tolist() == [0, 1, 2]  # 3 ties 0 and loses (index order)
    assert ops.nms(boxes, scores, 0.49).tolist() == [0, 2]
    # categories: box 3 is alone in its category, so kept too
    idxs = mt.tensor([0, 0, 0, 1])
    assert ops.batched_nms(boxes, scores, idxs, 0.49).tolist() == [0, 3, 2]
    # IoU 1/3: float32's 1/3 rounds up, above the double threshold 1/3, so it suppresses
    pair, two = [[0.0, 0, 3, 1], [0, 0, 1, 1]], mt.tensor([0.9, 0.8])
    assert ops.nms(mt.tensor(np.array(pair)), two, 1 / 3).tolist() == [0, 1]
    assert ops.nms(mt.tensor(np.array(pair, np.float32)), two, 1 / 3).tolist() == [0]
    assert ops.nms(mt.zeros(0, 4), mt.zeros(0), 0.5).tolist() == []
    assert ops.batched_nms(mt.zeros(0, 4), mt.zeros(0), mt.zeros(0), 0.5).dtype == np.int64


def test_batched_nms_equals_torchvisions_coordinate_offset_trick():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (60, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 20, (60, 2))], 1)
    scores, idxs = rng.random(60), rng.integers(0, 4, 60)
    offset = (idxs * (boxes.max() + 1))[:, None]
    want = ops.nms(mt.tensor(boxes + offset), mt.tensor(scores), 0.3).tolist()
    got = ops.batched_nms(mt.tensor(boxes), mt.tensor(scores), mt.tensor(idxs), 0.3).tolist()
    assert got == want


def matrix_nms(boxes, scores, thr, idxs=None):
    """The greedy pass over the full (N, N) IoU matrix (float64 boxes): a fast reference for
    a few thousand boxes."""
    order = np.lexsort((np.arange(len(scores)), -scores))  # by score, ties in index order
    b = boxes[order]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.clip(np.minimum(b[:, None, 2], b[:, 2]) - np.maximum(b[:, None, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(b[:, None, 3], b[:, 3]) - np.maximum(b[:, None, 1], b[:, 1]), 0, None)
    inter = w * h
    with np.errstate(invalid="ignore", divide="ignore"):
        over = inter / (area[:, None] + area - inter) > thr
    if idxs is not None:
        over &= idxs[order][:, None] == idxs[order]
    suppressed, keep = np.zeros(len(b), bool), []
    for a in range(len(b)):
        if not suppressed[a]:
            keep.append(order[a])
            suppressed[a + 1 :] |= over[a, a + 1 :]
    return keep


@pytest.mark.parametrize("batched", [False, True])
def test_nms_of_thousands_of_boxes_runs_in_linear_memory(batched):
    """An N x N IoU matrix for these 4000 boxes would take 16 MB as bool and 128 MB as float64;
    NMS must stay within a few hundred bytes per box (and agree with the matrix greedy pass)."""
    n = 4000
    rng = np.random.default_rng(0)
    xy = rng.integers(0, 400, (n, 2)).astype(np.float64)
    boxes = np.concatenate([xy, xy + rng.integers(1, 60, (n, 2))], axis=1)
    boxes[rng.integers(0, n, 200)] = boxes[0]  # duplicates: IoU exactly 1
    scores = rng.integers(0, 500, n).astype(np.float64)  # ties
    idxs = rng.integers(0, 5, n) if batched else None
    b, s = mt.tensor(boxes), mt.tensor(scores)
    tracemalloc.start()
    try:
        keep = ops.batched_nms(b, s, mt.tensor(idxs), 0.5) if batched else ops.nms(b, s, 0.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 * n, f"peak {peak} bytes for {n} boxes"
    assert keep.tolist() == matrix_nms(boxes, scores, 0.5, idxs)


def test_nms_errors_name_the_op_and_the_shapes():
    with pytest.raises(ValueError, match=r"nms: expected boxes of shape \(N, 4\), got \(3, 5\)"):
        ops.nms(mt.zeros(3, 5), mt.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"nms: expected scores of shape \(3,\) for boxes "
                                         r"\(3, 4\), got \(2,\)"):  # fmt: skip
        ops.nms(mt.zeros(3, 4), mt.zeros(2), 0.5)
    with pytest.raises(ValueError, match=r"batched_nms: expected idxs of shape \(3,\)"):
        ops.batched_nms(mt.zeros(3, 4), mt.zeros(3), mt.zeros(3, 1), 0.5)
    with pytest.raises(TypeError, match=r"nms: iou_threshold must be a real number, got "
                                        r"NoneType None"):  # fmt: skip
        ops.nms(mt.zeros(3, 4), mt.zeros(3), None)
    with pytest.raises(TypeError, match=r"batched_nms: iou_threshold must be a real number"):
        ops.batched_nms(mt.zeros(3, 4), mt.zeros(3), mt.zeros(3), "0.5")
    assert ops.nms(mt.zeros(3, 4), mt.zeros(3), np.float32(0.5)).tolist() == [0, 1, 2]
