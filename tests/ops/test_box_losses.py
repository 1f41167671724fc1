"""mt.ops IoU losses on matched boxes: equal to torchvision's formulas written pair by pair (with
eps in the denominators), every reduction, float64 gradchecks for the GIoU and DIoU losses, the
CIoU loss's gradient with alpha held constant, hand values, and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import ops
from tests.ops.box_strategies import distinct_pair, numeric_grad, proper_boxes
from tests.strategies_core import SETTINGS, leaf

EPS = 1e-7
LOSSES = {
    "giou": ops.generalized_box_iou_loss,
    "diou": ops.distance_box_iou_loss,
    "ciou": ops.complete_box_iou_loss,
}


def pair_losses(a, b, eps=EPS):
    """{giou, diou, ciou} losses and (alpha, v) of one matched pair, as torchvision writes them:
    the intersection is 0 unless both overlaps are positive, IoU = inter / (union + eps)."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    inter = ix * iy if (ix > 0 and iy > 0) else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    iou = inter / (union + eps)
    cw = max(a[2], b[2]) - min(a[0], b[0])
    ch = max(a[3], b[3]) - min(a[1], b[1])
    giou = 1 - (iou - (cw * ch - union) / (cw * ch + eps))
    d2 = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
    diou = 1 - iou + d2 / (cw**2 + ch**2 + eps)
    v = (
        4
        / math.pi**2
        * (math.atan((b[2] - b[0]) / (b[3] - b[1])) - math.atan((a[2] - a[0]) / (a[3] - a[1]))) ** 2
    )
    alpha = v / (1 - iou + v + eps)
    return {"giou": giou, "diou": diou, "ciou": diou + alpha * v, "alpha": alpha, "v": v}


def loop_loss(b1, b2, key):
    b1, b2 = np.broadcast_arrays(b1, b2)
    out = np.zeros(b1.shape[:-1])
    for idx in np.ndindex(*out.shape):
        out[idx] = pair_losses(b1[idx].tolist(), b2[idx].tolist())[key]
    return out


@pytest.mark.parametrize("key", sorted(LOSSES))
@SETTINGS
@given(
    data=st.data(),
    reduction=st.sampled_from(["none", "mean", "sum"]),
    one=st.booleans(),
)
def test_iou_losses_match_the_pair_loop(key, data, reduction, one):
    b1 = data.draw(proper_boxes(n_max=5))
    b2 = data.draw(proper_boxes(n_max=5)) if not one else data.draw(proper_boxes(n_max=1))[0]
    if not one:
        b2 = np.resize(b2, b1.shape)  # matched pairs: the same number of boxes
    got = LOSSES[key](mt.tensor(b1), mt.tensor(b2), reduction=reduction).numpy()
    want = loop_loss(b1, b2, key)
    want = {"none": want, "mean": want.mean(), "sum": want.sum()}[reduction]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("key", ["giou", "diou"])
@SETTINGS
@given(pair=distinct_pair(n_max=4))
def test_giou_and_diou_losses_gradcheck_float64(key, pair):
    b1, b2 = pair
    n = min(len(b1), len(b2))
    assert mt.gradcheck(lambda a, b: LOSSES[key](a, b), [leaf(b1[:n]), leaf(b2[:n])])


@SETTINGS
@given(pair=distinct_pair(n_max=4))
def test_ciou_loss_gradient_holds_alpha_constant(pair):
    b1, b2 = pair
    n = min(len(b1), len(b2))
    b1, b2 = b1[:n], b2[:n]
    alpha0 = loop_loss(b1, b2, "alpha")

    def frozen(a, b):
        return float((loop_loss(a, b, "diou") + alpha0 * loop_loss(a, b, "v")).sum())

    t1, t2 = leaf(b1), leaf(b2)
    ops.complete_box_iou_loss(t1, t2, reduction="sum").backward()
    g1, g2 = numeric_grad(frozen, [b1, b2])
    np.testing.assert_allclose(t1.grad.numpy(), g1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(t2.grad.numpy(), g2, rtol=1e-5, atol=1e-7)


def test_hand_computed_losses():
    a = mt.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    b = mt.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 1.0, 1.0]])
    giou = ops.generalized_box_iou_loss(a, b).numpy()
    np.testing.assert_allclose(giou, [1 - (1 / 7 - 2 / 9), 0.0], atol=1e-6)
    diou = ops.distance_box_iou_loss(a, b).numpy()
    np.testing.assert_allclose(diou, [1 - 1 / 7 + 2 / 18, 0.0], atol=1e-6)
    np.testing.assert_allclose(ops.complete_box_iou_loss(a, b).numpy(), diou, atol=1e-7)
    assert ops.generalized_box_iou_loss(a, b, reduction="sum").shape == ()


def test_empty_mean_is_zero_and_integer_boxes_become_float32():
    e = mt.zeros(0, 4, requires_grad=True)
    for fn in LOSSES.values():
        loss = fn(e, e, reduction="mean")
        assert loss.item() == 0.0
    i = mt.tensor(np.array([[0, 0, 2, 2]], np.int64))
    assert ops.distance_box_iou_loss(i, i).dtype == np.float32


def test_loss_errors_name_the_op():
    good = mt.zeros(3, 4)
    with pytest.raises(ValueError, match=r"complete_box_iou_loss: reduction must be 'none', "
                                         r"'mean' or 'sum', got 'avg'"):  # fmt: skip
        ops.complete_box_iou_loss(good, good, reduction="avg")
    with pytest.raises(ValueError, match=r"generalized_box_iou_loss: boxes1 \(3, 4\) and boxes2 "
                                         r"\(2, 4\) must hold matching boxes"):  # fmt: skip
        ops.generalized_box_iou_loss(good, mt.zeros(2, 4))
    with pytest.raises(ValueError, match=r"distance_box_iou_loss: expected boxes2 of shape "
                                         r"\(\.\.\., 4\), got \(3, 2\)"):  # fmt: skip
        ops.distance_box_iou_loss(good, mt.zeros(3, 2))
