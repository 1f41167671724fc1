"""functional/conv.py: conv2d, conv_transpose2d, unfold, fold.

Forward against the loop references, backward by gradcheck in float64, shapes against
kernels.shapes, PyTorch parity in float32 when torch is installed, and the bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import reference
from minitorch_cv.functional.conv import conv2d, conv_transpose2d, fold, unfold
from minitorch_cv.kernels.shapes import conv_out
from tests.strategies import FEW, SETTINGS, array, conv_cases, conv_transpose_cases, seeds


def leaf(a):
    return mt.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def _padding_arg(case):
    """The case's padding as conv2d takes it: a pair when symmetric, nested pairs otherwise."""
    return case.symmetric_padding or case.padding


def _conv_inputs(case, seed, dtype=np.float64, bias=True):
    x = array(seed, (case.n, case.cin, case.h, case.w), dtype)
    w = array(seed + 1, (case.cout, case.cin // case.groups) + case.kernel, dtype)
    b = array(seed + 2, (case.cout,), dtype) if bias else None
    return x, w, b


def _convt_inputs(case, seed, dtype=np.float64):
    x = array(seed, (case.n, case.cin, case.h, case.w), dtype)
    w = array(seed + 1, (case.cin, case.cout // case.groups) + case.kernel, dtype)
    return x, w, array(seed + 2, (case.cout,), dtype)


# --------------------------------------------------------------------------- conv2d


@SETTINGS
@given(case=conv_cases(max_channels=6, max_size=8), seed=seeds)
def test_conv2d_matches_naive_loops(case, seed):
    x, w, b = _conv_inputs(case, seed)
    y = conv2d(
        mt.tensor(x),
        mt.tensor(w),
        mt.tensor(b),
        case.stride,
        _padding_arg(case),
        case.dilation,
        case.groups,
    )
    expect = reference.conv2d(x, w, b, case.stride, case.padding, case.dilation, case.groups)
    assert y.shape == (case.n, case.cout) + case.out  # == kernels.shapes.conv_out per dim
    np.testing.assert_allclose(y.numpy(), expect, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(case=conv_cases(max_channels=4, max_size=5), seed=seeds, bias=st.booleans())
def test_conv2d_gradcheck_float64(case, seed, bias):
    x, w, b = _conv_inputs(case, seed, bias=bias)
    inputs = [leaf(x), leaf(w)] + ([leaf(b)] if bias else [])
    pad = _padding_arg(case)

    def f(x, w, b=None):
        return conv2d(x, w, b, case.stride, pad, case.dilation, case.groups)

    assert mt.gradcheck(f, inputs)


@pytest.mark.parametrize("k, dil", [(3, 1), (4, 1), (2, 3), (5, 1), (1, 1)])
def test_padding_same_keeps_size_and_valid_adds_none(k, dil):
    x = array(0, (2, 3, 7, 6))
    w = array(1, (4, 3, k, k))
    same = conv2d(mt.tensor(x), mt.tensor(w), padding="same", dilation=dil)
    total = dil * (k - 1)  # PyTorch: the odd extra row/column goes to the bottom/right
    pads = ((total // 2, total - total // 2),) * 2
    np.testing.assert_allclose(
        same.numpy(), reference.conv2d(x, w, None, 1, pads, dil), rtol=1e-10, atol=1e-12
    )
    assert same.shape == (2, 4, 7, 6)
    valid = conv2d(mt.tensor(x), mt.tensor(w), padding="valid", dilation=dil)
    assert valid.shape[2:] == (conv_out(7, k, 1, 0, dil), conv_out(6, k, 1, 0, dil))
    x64 = leaf(x)
    assert mt.gradcheck(lambda x, w: conv2d(x, w, padding="same", dilation=dil), [x64, leaf(w)])


def test_conv2d_unbatched_input_and_float32():
    x = array(0, (3, 6, 5), np.float32)
    w = array(1, (2, 3, 3, 3), np.float32)
    y = conv2d(mt.tensor(x), mt.tensor(w), padding=1)
    assert y.shape == (2, 6, 5) and y.dtype == np.float32
    expect = reference.conv2d(x[None].astype(np.float64), w.astype(np.float64), padding=1)[0]
    np.testing.assert_allclose(y.numpy(), expect, rtol=1e-5, atol=1e-5)


def test_conv2d_first_layer_needs_no_input_gradient():
    x = mt.tensor(array(0, (2, 3, 6, 6)))  # data: no gradient wanted
    w = leaf(array(1, (4, 3, 3, 3)))
    conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad is not None


# --------------------------------------------------------------------------- conv_transpose2d


@SETTINGS
@given(case=conv_transpose_cases(max_channels=6), seed=seeds)
def test_conv_transpose2d_matches_naive_loops(case, seed):
    x, w, b = _convt_inputs(case, seed)
    args = (case.stride, case.padding, case.output_padding, case.groups, case.dilation)
    y = conv_transpose2d(mt.tensor(x), mt.tensor(w), mt.tensor(b), *args)
    assert y.shape == (case.n, case.cout) + case.out  # == kernels.shapes.conv_transpose_out
    np.testing.assert_allclose(
        y.numpy(), reference.conv_transpose2d(x, w, b, *args), rtol=1e-10, atol=1e-10
    )


@SETTINGS
@given(case=conv_transpose_cases(max_channels=4, max_size=4), seed=seeds)
def test_conv_transpose2d_gradcheck_float64(case, seed):
    x, w, b = _convt_inputs(case, seed)
    args = (case.stride, case.padding, case.output_padding, case.groups, case.dilation)
    assert mt.gradcheck(
        lambda x, w, b: conv_transpose2d(x, w, b, *args), [leaf(x), leaf(w), leaf(b)]
    )


def test_conv_transpose2d_undoes_the_size_of_a_strided_conv():
    x = array(0, (1, 2, 9, 8))
    w = array(1, (3, 2, 3, 3))
    y = conv2d(mt.tensor(x), mt.tensor(w), stride=2, padding=1)
    assert y.shape[2:] == (5, 4)
    for op in [(0, 0), (1, 1), (0, 1)]:
        back = conv_transpose2d(y, mt.tensor(w), stride=2, padding=1, output_padding=op)
        assert back.shape[2:] == (9 + op[0], 7 + op[1])  # op = (9+2-3) % 2, (8+2-3) % 2 restores


# --------------------------------------------------------------------------- unfold / fold


@FEW
@given(case=conv_cases(asymmetric=False, max_channels=3, max_size=5), seed=seeds)
def test_unfold_and_fold_gradcheck_float64(case, seed):
    x = array(seed, (case.n, case.cin, case.h, case.w))
    pad = case.symmetric_padding
    args = dict(kernel_size=case.kernel, dilation=case.dilation, padding=pad, stride=case.stride)
    cols = unfold(leaf(x), **args)
    oh, ow = case.out
    assert cols.shape == (case.n, case.cin * case.kernel[0] * case.kernel[1], oh * ow)
    assert mt.gradcheck(lambda t: unfold(t, **args), [leaf(x)])
    assert mt.gradcheck(lambda t: fold(t, (case.h, case.w), **args), [leaf(cols.numpy())])


# --------------------------------------------------------------------------- parity with PyTorch

# float32 tolerances: the sums run in a different order (GEMM blocking vs oneDNN), each adding
# ~1e-7 relative error per term; with <= 100 terms of size ~1, 1e-4 absolute covers it.
RTOL32, ATOL32 = 1e-4, 1e-4


@pytest.mark.parity
@SETTINGS
@given(case=conv_cases(asymmetric=False, max_channels=6, max_size=8), seed=seeds)
def test_conv2d_matches_torch_float32(case, seed):
    torch = pytest.importorskip("torch")
    x, w, b = _conv_inputs(case, seed, np.float32)
    args = (case.stride, case.symmetric_padding, case.dilation, case.groups)
    ours = [mt.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y, yt = conv2d(*ours, *args), torch.nn.functional.conv2d(*theirs, *args)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=RTOL32, atol=ATOL32)
    g = array(seed + 3, y.shape, np.float32)
    (y * mt.tensor(g)).sum().backward()
    yt.backward(torch.tensor(g))
    for a, t in zip(ours, theirs):
        assert a.grad.dtype == np.float32
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=RTOL32, atol=ATOL32 * 10)


@pytest.mark.parity
@SETTINGS
@given(case=conv_transpose_cases(max_channels=6), seed=seeds)
def test_conv_transpose2d_matches_torch_float32(case, seed):
    torch = pytest.importorskip("torch")
    x, w, b = _convt_inputs(case, seed, np.float32)
    args = (case.stride, case.padding, case.output_padding, case.groups, case.dilation)
    ours = [mt.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y, yt = conv_transpose2d(*ours, *args), torch.nn.functional.conv_transpose2d(*theirs, *args)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=RTOL32, atol=ATOL32)
    g = array(seed + 3, y.shape, np.float32)
    (y * mt.tensor(g)).sum().backward()
    yt.backward(torch.tensor(g))
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=RTOL32, atol=ATOL32 * 10)


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch notes its own padded copy
def test_padding_same_matches_torch_even_kernel():
    torch = pytest.importorskip("torch")
    x, w = array(0, (2, 3, 7, 6)), array(1, (4, 3, 4, 2))
    y = conv2d(mt.tensor(x), mt.tensor(w), padding="same", dilation=(1, 2))
    yt = torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(w), padding="same", dilation=(1, 2)
    )
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- bad input


def _t(*shape, dtype=np.float32):
    return mt.tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: conv2d(_t(8, 1, 28, 28), _t(16, 3, 3, 3)),
            r"expected input with 3 channels .*\(8, 1, 28, 28\)",
        ),
        (
            lambda: conv2d(_t(2, 3, 2, 2), _t(4, 3, 3, 3)),
            r"kernel \(3, 3\).*larger than the padded input",
        ),
        (lambda: conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), stride=0), r"stride must be >= 1"),
        (lambda: conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), dilation=(1, 0)), r"dilation must be >= 1"),
        (lambda: conv2d(_t(2, 4, 5, 5), _t(6, 2, 3, 3), groups=4), r"groups=4 must divide"),
        (
            lambda: conv2d(_t(2, 4, 5, 5), _t(6, 2, 3, 3), groups=0),
            r"groups must be a positive int",
        ),
        (lambda: conv2d(_t(5, 5), _t(4, 3, 3, 3)), r"expected 3-D or 4-D input"),
        (lambda: conv2d(_t(2, 3, 5, 5), _t(4, 3, 3)), r"expected a 4-D weight"),
        (lambda: conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), _t(3)), r"expected bias of shape \(4,\)"),
        (
            lambda: conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), stride=2, padding="same"),
            r"'same' is not supported",
        ),
        (lambda: conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), padding=-1), r"padding must be >= 0"),
        (
            lambda: conv_transpose2d(_t(2, 3, 5, 5), _t(4, 2, 3, 3)),
            r"expected input with 4 channels",
        ),
        (
            lambda: conv_transpose2d(_t(2, 4, 5, 5), _t(4, 2, 3, 3), stride=2, output_padding=2),
            r"output_padding",
        ),
        (lambda: conv_transpose2d(_t(2, 4, 1, 1), _t(4, 2, 1, 1), padding=1), r"not positive"),
        (lambda: unfold(_t(2, 3, 2, 2), 3), r"unfold: kernel \(3, 3\)"),
        (lambda: fold(_t(2, 12, 5), (4, 4), 2), r"fold: input \(2, 12, 5\) does not match"),
    ],
)
def test_bad_input_raises_value_error_naming_op_and_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mixed_dtypes_raise_type_error():
    with pytest.raises(
        TypeError, match="conv2d: input, weight and bias must share one floating dtype"
    ):
        conv2d(_t(2, 3, 5, 5, dtype=np.float64), _t(4, 3, 3, 3))
