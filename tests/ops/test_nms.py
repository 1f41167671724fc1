"""mt.ops.nms and batched_nms: equal to torchvision's greedy CPU kernel written as a loop (stable
descending sort, suppress when IoU > threshold, IoU recomputed per pair) over hypothesis-drawn
boxes on a coarse grid, where equal scores and IoUs exactly at the threshold happen; batched_nms
equal to NMS run category by category; hand cases; errors."""

from __future__ import annotations

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
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # Python's sort is stable
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


def test_nms_errors_name_the_op_and_the_shapes():
    with pytest.raises(ValueError, match=r"nms: expected boxes of shape \(N, 4\), got \(3, 5\)"):
        ops.nms(mt.zeros(3, 5), mt.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"nms: expected scores of shape \(3,\) for boxes "
                                         r"\(3, 4\), got \(2,\)"):  # fmt: skip
        ops.nms(mt.zeros(3, 4), mt.zeros(2), 0.5)
    with pytest.raises(ValueError, match=r"batched_nms: expected idxs of shape \(3,\)"):
        ops.batched_nms(mt.zeros(3, 4), mt.zeros(3), mt.zeros(3, 1), 0.5)
