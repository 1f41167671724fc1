"""mt.ops box utilities: the IoU family equal to a pair-by-pair loop over hypothesis-drawn boxes
(every format, leading batch dims, integer boxes), float64 gradchecks away from the kinks,
complete IoU's gradient with alpha held constant (as torchvision), the values and gradients
at touching, identical and zero-area boxes equal to torchvision's formulas written in torch,
hand-computed values, box_convert round trips, clipping, small-box removal, masks to boxes, and
the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import ops
from tests.ops.box_strategies import distinct_pair, numeric_grad, proper_boxes
from tests.strategies_core import SETTINGS, arrays, leaf

EPS = 1e-7


# --------------------------------------------------------------------------- loop references


def pair_ious(a, b, eps=EPS):
    """(IoU, GIoU, DIoU, CIoU) of two 'xyxy' boxes, written out as in the papers."""
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = area(a) + area(b) - inter
    iou = inter / union
    cw = max(max(a[2], b[2]) - min(a[0], b[0]), 0.0)
    chh = max(max(a[3], b[3]) - min(a[1], b[1]), 0.0)
    giou = iou - (cw * chh - union) / (cw * chh)
    d2 = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
    diou = iou - d2 / (cw**2 + chh**2 + eps)
    v = (
        4
        / math.pi**2
        * (math.atan((a[2] - a[0]) / (a[3] - a[1])) - math.atan((b[2] - b[0]) / (b[3] - b[1]))) ** 2
    )
    alpha = v / (1 - iou + v + eps)
    return iou, giou, diou, diou - alpha * v, alpha, v


def loop_matrix(b1, b2, which):
    out = np.zeros(b1.shape[:-1] + (b2.shape[-2],))
    for idx in np.ndindex(*b1.shape[:-1]):
        for j in range(b2.shape[-2]):
            other = b2[idx[:-1] + (j,)]
            out[idx + (j,)] = pair_ious(b1[idx].tolist(), other.tolist())[which]
    return out


def to_fmt(b, fmt):
    x1, y1, x2, y2 = np.moveaxis(b, -1, 0)
    if fmt == "xywh":
        return np.stack([x1, y1, x2 - x1, y2 - y1], -1)
    if fmt == "cxcywh":
        return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)
    return b


OPS = {
    "box_iou": (ops.box_iou, 0),
    "generalized_box_iou": (ops.generalized_box_iou, 1),
    "distance_box_iou": (ops.distance_box_iou, 2),
    "complete_box_iou": (ops.complete_box_iou, 3),
}


# --------------------------------------------------------------------------- the IoU family


@pytest.mark.parametrize("name", sorted(OPS))
@SETTINGS
@given(data=st.data())
def test_iou_family_matches_the_pair_loop(name, data):
    fn, which = OPS[name]
    lead = data.draw(st.sampled_from([(), (2,)]))
    b1 = data.draw(proper_boxes(lead))
    b2 = data.draw(proper_boxes(lead))
    got = fn(mt.tensor(b1), mt.tensor(b2)).numpy()
    np.testing.assert_allclose(got, loop_matrix(b1, b2, which), rtol=1e-10, atol=1e-12)


@SETTINGS
@given(b1=proper_boxes(), b2=proper_boxes(), fmt=st.sampled_from(["xyxy", "xywh", "cxcywh"]))
def test_box_iou_and_box_area_read_every_format(b1, b2, fmt):
    got = ops.box_iou(mt.tensor(to_fmt(b1, fmt)), mt.tensor(to_fmt(b2, fmt)), fmt=fmt).numpy()
    np.testing.assert_allclose(got, loop_matrix(b1, b2, 0), rtol=1e-10, atol=1e-12)
    want = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    np.testing.assert_allclose(ops.box_area(mt.tensor(to_fmt(b1, fmt)), fmt).numpy(), want)


@pytest.mark.parametrize("name", ["box_iou", "generalized_box_iou", "distance_box_iou"])
@SETTINGS
@given(pair=distinct_pair())
def test_iou_family_gradcheck_float64(name, pair):
    fn = OPS[name][0]
    assert mt.gradcheck(fn, [leaf(pair[0]), leaf(pair[1])])


@SETTINGS
@given(pair=distinct_pair())
def test_complete_box_iou_gradient_holds_alpha_constant(pair):
    """torchvision computes alpha under no_grad: the gradient is that of DIoU - alpha0 * v with
    alpha0 frozen at the point, not of the full CIoU."""
    b1, b2 = pair
    w = np.random.default_rng(0).standard_normal((len(b1), len(b2)))
    alpha0 = loop_matrix(b1, b2, 4)

    def frozen(a, b):
        return float((w * (loop_matrix(a, b, 2) - alpha0 * loop_matrix(a, b, 5))).sum())

    t1, t2 = leaf(b1), leaf(b2)
    (ops.complete_box_iou(t1, t2) * mt.tensor(w)).sum().backward()
    g1, g2 = numeric_grad(frozen, [b1, b2])
    np.testing.assert_allclose(t1.grad.numpy(), g1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(t2.grad.numpy(), g2, rtol=1e-5, atol=1e-7)


def torch_iou_family(torch, name, boxes1, boxes2, eps=EPS):
    """torchvision.ops' box_iou / generalized / distance / complete_box_iou, its formulas
    written in torch (torch.max / torch.min split the gradient of ties in half)."""

    def area(b):
        return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])

    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area(boxes1)[:, None] + area(boxes2) - inter
    iou = inter / union
    if name == "box_iou":
        return iou
    lti = torch.min(boxes1[:, None, :2], boxes2[:, :2])
    rbi = torch.max(boxes1[:, None, 2:], boxes2[:, 2:])
    whi = (rbi - lti).clamp(min=0)
    if name == "generalized_box_iou":
        areai = whi[..., 0] * whi[..., 1]
        return iou - (areai - union) / areai
    diagonal_sq = whi[..., 0] ** 2 + whi[..., 1] ** 2 + eps
    x_p, y_p = (boxes1[:, 0] + boxes1[:, 2]) / 2, (boxes1[:, 1] + boxes1[:, 3]) / 2
    x_g, y_g = (boxes2[:, 0] + boxes2[:, 2]) / 2, (boxes2[:, 1] + boxes2[:, 3]) / 2
    centers_sq = (x_p[:, None] - x_g[None, :]) ** 2 + (y_p[:, None] - y_g[None, :]) ** 2
    diou = iou - centers_sq / diagonal_sq
    if name == "distance_box_iou":
        return diou
    w_pred, h_pred = (
        boxes1[:, None, 2] - boxes1[:, None, 0],
        boxes1[:, None, 3] - boxes1[:, None, 1],
    )
    w_gt, h_gt = boxes2[:, 2] - boxes2[:, 0], boxes2[:, 3] - boxes2[:, 1]
    v = (4 / torch.pi**2) * torch.pow(torch.atan(w_pred / h_pred) - torch.atan(w_gt / h_gt), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


KINKS = {  # pairs of boxes where min / max tie, clamps sit at 0, or areas vanish
    "touching_edge": ([[0.0, 0.0, 1.0, 1.0]], [[1.0, 0.0, 2.0, 1.0]]),
    "touching_corner": ([[0.0, 0.0, 1.0, 1.0]], [[1.0, 1.0, 3.0, 2.0]]),
    "identical": ([[0.0, 1.0, 2.0, 4.0]], [[0.0, 1.0, 2.0, 4.0]]),
    "shared_left_edge": ([[0.0, 0.0, 2.0, 2.0]], [[0.0, 1.0, 1.0, 3.0]]),
    "nested": ([[0.0, 0.0, 4.0, 4.0]], [[1.0, 1.0, 2.0, 3.0]]),
    "zero_width_inside": ([[1.0, 1.0, 1.0, 3.0]], [[0.0, 0.0, 2.0, 4.0]]),
    "zero_height_apart": ([[0.0, 5.0, 2.0, 5.0]], [[0.0, 0.0, 2.0, 2.0]]),
    "zero_area_identical": ([[1.0, 1.0, 1.0, 1.0]], [[1.0, 1.0, 1.0, 1.0]]),
    "several": ([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 2.0, 1.0]],
                [[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 2.0, 2.0]]),
}  # fmt: skip


@pytest.mark.parity
@pytest.mark.parametrize("case", sorted(KINKS))
@pytest.mark.parametrize("name", sorted(OPS))
def test_iou_family_at_its_kinks_matches_torchvisions_formulas_in_torch(name, case):
    torch = pytest.importorskip("torch")
    b1, b2 = (np.array(b) for b in KINKS[case])
    t1, t2 = leaf(b1), leaf(b2)
    r1, r2 = (torch.tensor(b, requires_grad=True) for b in (b1, b2))
    w = np.random.default_rng(0).standard_normal((len(b1), len(b2)))
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 and x / 0 happen, as in torch
        y = OPS[name][0](t1, t2)
        (y * mt.tensor(w)).sum().backward()
    want = torch_iou_family(torch, name, r1, r2)
    (want * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.numpy(), want.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t1.grad.numpy(), r1.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t2.grad.numpy(), r2.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_hand_computed_ious():
    a = mt.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = mt.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [4.0, 0.0, 5.0, 1.0]])
    # overlap 1x1 = 1, union 4 + 4 - 1 = 7; identical: 1; apart: 0
    np.testing.assert_allclose(ops.box_iou(a, b).numpy(), [[1 / 7, 1.0, 0.0]], rtol=1e-6)
    # enclosing 3x3 = 9: 1/7 - (9 - 7)/9; apart: enclosing 5x2 = 10, union 5: 0 - 5/10
    np.testing.assert_allclose(
        ops.generalized_box_iou(a, b).numpy(), [[1 / 7 - 2 / 9, 1.0, -0.5]], rtol=1e-6
    )
    # centres 1 apart in x and y (d^2 = 2), enclosing diagonal^2 = 18
    np.testing.assert_allclose(
        ops.distance_box_iou(a, b).numpy()[0, 0], 1 / 7 - 2 / (18 + EPS), rtol=1e-6
    )
    # same aspect ratio: v = 0, CIoU = DIoU
    np.testing.assert_allclose(
        ops.complete_box_iou(a, b).numpy()[0, :2], ops.distance_box_iou(a, b).numpy()[0, :2]
    )
    assert ops.box_area(a).tolist() == [4.0]


def test_integer_boxes_are_upcast_as_torchvision():
    a = mt.tensor(np.array([[0, 0, 2, 2]], np.int64))
    b = mt.tensor(np.array([[1, 1, 3, 3]], np.uint8))
    assert ops.box_area(a).dtype == np.int64 and ops.box_area(b).dtype == np.int32
    iou = ops.box_iou(a, b)
    assert iou.dtype.kind == "f"
    np.testing.assert_allclose(iou.numpy(), [[1 / 7]], rtol=1e-6)
    assert ops.box_area(mt.tensor(np.ones((2, 4), np.float16))).dtype == np.float32


def test_empty_boxes_give_empty_matrices():
    e = mt.zeros(0, 4)
    b = mt.tensor([[0.0, 0.0, 1.0, 1.0]])
    for name in OPS:
        assert OPS[name][0](e, b).shape == (0, 1) and OPS[name][0](b, e).shape == (1, 0)


# --------------------------------------------------------------------------- conversions


@SETTINGS
@given(
    b=proper_boxes(lead=(2,)),
    fmts=st.tuples(*[st.sampled_from(["xyxy", "xywh", "cxcywh"])] * 2),
)
def test_box_convert_matches_the_formulas_and_round_trips(b, fmts):
    in_fmt, out_fmt = fmts
    x = mt.tensor(to_fmt(b, in_fmt))
    y = ops.box_convert(x, in_fmt, out_fmt)
    np.testing.assert_allclose(y.numpy(), to_fmt(b, out_fmt), rtol=1e-12, atol=1e-12)
    back = ops.box_convert(y, out_fmt, in_fmt)
    np.testing.assert_allclose(back.numpy(), x.numpy(), rtol=1e-12, atol=1e-12)
    assert mt.gradcheck(lambda t: ops.box_convert(t, in_fmt, out_fmt), [leaf(to_fmt(b, in_fmt))])


def test_box_convert_by_hand_and_same_format_copies():
    b = mt.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert ops.box_convert(b, "xyxy", "xywh").tolist() == [[10.0, 20.0, 20.0, 40.0]]
    assert ops.box_convert(b, "xyxy", "cxcywh").tolist() == [[20.0, 40.0, 20.0, 40.0]]
    assert ops.box_convert(b, "cxcywh", "xyxy").tolist() == [[-5.0, -10.0, 25.0, 50.0]]
    assert ops.box_convert(b, "xywh", "cxcywh").tolist() == [[25.0, 50.0, 30.0, 60.0]]
    same = ops.box_convert(b, "xyxy", "xyxy")
    same[0, 0] = 0.0
    assert b.tolist() == [[10.0, 20.0, 30.0, 60.0]]


@SETTINGS
@given(b=arrays((3, 4), -4.0, 9.0), size=st.tuples(st.integers(1, 8), st.integers(1, 8)))
def test_clip_boxes_to_image_clamps_x_to_width_and_y_to_height(b, size):
    h, w = size
    got = ops.clip_boxes_to_image(mt.tensor(b), size).numpy()
    want = b.copy()
    want[:, 0::2] = np.clip(b[:, 0::2], 0, w)
    want[:, 1::2] = np.clip(b[:, 1::2], 0, h)
    np.testing.assert_array_equal(got, want)
    assert mt.gradcheck(lambda t: ops.clip_boxes_to_image(t, size), [leaf(b)])


def test_remove_small_boxes_keeps_both_sides_at_least_min_size():
    b = mt.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 5.0], [1.0, 1.0, 3.0, 2.5], [0, 0, 3, 3]])
    keep = ops.remove_small_boxes(b, 1.5)
    assert keep.tolist() == [0, 2, 3] and keep.dtype == np.int64
    assert ops.remove_small_boxes(b, 10.0).tolist() == []


@SETTINGS
@given(masks=st.integers(0, 2**16).map(
    lambda s: np.random.default_rng(s).random((3, 5, 6)) < np.random.default_rng(s).random()
))  # fmt: skip
def test_masks_to_boxes_matches_the_nonzero_loop(masks):
    got = ops.masks_to_boxes(mt.tensor(masks.astype(np.uint8)))
    assert got.dtype == np.float32 and got.shape == (3, 4)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        want = [xs.min(), ys.min(), xs.max(), ys.max()] if len(xs) else [0, 0, 0, 0]
        assert got[i].tolist() == want
    assert ops.masks_to_boxes(mt.zeros(0, 4, 4)).shape == (0, 4)


# --------------------------------------------------------------------------- errors


def test_bad_boxes_and_formats_name_the_op_and_the_shapes():
    good = mt.zeros(2, 4)
    with pytest.raises(ValueError, match=r"box_iou: expected boxes1 of shape \(\.\.\., N, 4\), "
                                         r"got \(2, 3\)"):  # fmt: skip
        ops.box_iou(mt.zeros(2, 3), good)
    with pytest.raises(ValueError, match=r"generalized_box_iou: expected boxes2 .* got \(4,\)"):
        ops.generalized_box_iou(good, mt.zeros(4))
    with pytest.raises(ValueError, match=r"box_area: expected boxes of shape \(\.\.\., 4\)"):
        ops.box_area(mt.zeros(3, 5))
    with pytest.raises(ValueError, match=r"box_iou: fmt must be one of .* got 'xyzw'"):
        ops.box_iou(good, good, fmt="xyzw")
    with pytest.raises(ValueError, match=r"box_convert: in_fmt and out_fmt .* 'xyxy' and 'xy'"):
        ops.box_convert(good, "xyxy", "xy")
    with pytest.raises(ValueError, match=r"distance_box_iou: the leading dims of boxes1 "
                                         r"\(2, 3, 4\) and boxes2 \(3, 3, 4\)"):  # fmt: skip
        ops.distance_box_iou(mt.zeros(2, 3, 4), mt.zeros(3, 3, 4))
    with pytest.raises(ValueError, match=r"remove_small_boxes: expected boxes of shape \(N, 4\)"):
        ops.remove_small_boxes(mt.zeros(1, 2, 4), 1.0)
    with pytest.raises(ValueError, match=r"masks_to_boxes: expected masks of shape \(N, H, W\)"):
        ops.masks_to_boxes(mt.zeros(4, 4))
    with pytest.raises(ValueError, match=r"clip_boxes_to_image: size must be \(height, width\)"):
        ops.clip_boxes_to_image(good, (1, 2, 3))
    with pytest.raises(TypeError, match=r"box_area: expected boxes to be a Tensor, got int"):
        ops.box_area(3)
