"""kernels/shapes.py: every output-size formula against its definition (counting windows) and
against PyTorch, plus the argument normalisers."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minitorch_cv.kernels.shapes import (
    conv_out,
    conv_transpose_out,
    pair,
    pool_out,
    resolve_padding,
    same_padding,
)
from tests.strategies import SETTINGS

sizes, kernels_, strides = st.integers(1, 64), st.integers(1, 7), st.integers(1, 4)
pads, dils = st.integers(0, 3), st.integers(1, 3)


@SETTINGS
@given(size=sizes, k=kernels_, stride=strides, pad=pads)
def test_transposed_conv_inverts_conv_size(size, k, stride, pad):
    assume(size + 2 * pad >= k)
    out_pad = (size + 2 * pad - k) % stride
    assert conv_transpose_out(conv_out(size, k, stride, pad), k, stride, pad, out_pad) == size


@SETTINGS
@given(size=sizes, k=kernels_, stride=strides, lo=pads, hi=pads, dil=dils)
def test_conv_out_counts_the_windows_that_fit(size, k, stride, lo, hi, dil):
    # definition: window o covers padded positions o*stride + i*dil, i < k; all must exist
    fits = [o for o in range(size + lo + hi) if o * stride + dil * (k - 1) < size + lo + hi]
    assert max(conv_out(size, k, stride, (lo, hi), dil), 0) == len(fits)


@SETTINGS
@given(size=sizes, k=kernels_, stride=strides, pad=pads, dil=dils, ceil=st.booleans())
def test_pool_out_counts_windows_ceil_mode_rule(size, k, stride, pad, dil, ceil):
    assume(pad <= k // 2 and size + 2 * pad >= dil * (k - 1) + 1)
    starts = range(0, size + 2 * pad, stride)
    n = len([o for o in starts if o + dil * (k - 1) < size + 2 * pad])  # windows that fit
    # ceil_mode adds one partial window over the leftover positions, if there are any and it
    # starts inside the input or the left padding
    leftover = (n - 1) * stride + dil * (k - 1) + 1 < size + 2 * pad
    if ceil and leftover and n * stride < size + pad:
        n += 1
    assert pool_out(size, k, stride, pad, dil, ceil) == n
    assert pool_out(size, k, stride, pad, dil, False) <= pool_out(size, k, stride, pad, dil, True)


@SETTINGS
@given(size=sizes, k=kernels_, dil=dils)
def test_same_padding_keeps_the_size(size, k, dil):
    lo, hi = same_padding(k, dil)
    assert hi - lo in (0, 1)  # an odd total puts the extra element on the right/bottom
    assert conv_out(size, k, 1, (lo, hi), dil) == size


@pytest.mark.parity
@SETTINGS
@given(
    size=st.integers(1, 20),
    k=st.integers(1, 5),
    stride=strides,
    pad=pads,
    dil=dils,
    ceil=st.booleans(),
)
def test_formulas_match_torch(size, k, stride, pad, dil, ceil):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.zeros(1, 1, size, size + 1)
    if size + 2 * pad >= dil * (k - 1) + 1:
        y = F.conv2d(x, torch.zeros(1, 1, k, k), stride=stride, padding=pad, dilation=dil)
        assert tuple(y.shape[2:]) == (
            conv_out(size, k, stride, pad, dil),
            conv_out(size + 1, k, stride, pad, dil),
        )
    if pad <= k // 2 and pool_out(size, k, stride, pad, dil, ceil) >= 1:
        y = F.max_pool2d(x, k, stride, pad, dil, ceil)
        assert tuple(y.shape[2:]) == (
            pool_out(size, k, stride, pad, dil, ceil),
            pool_out(size + 1, k, stride, pad, dil, ceil),
        )
    out_pad = min(stride, dil) - 1 if stride > 1 or dil > 1 else 0
    if conv_transpose_out(size, k, stride, pad, out_pad, dil) >= 1:
        y = F.conv_transpose2d(
            x,
            torch.zeros(1, 1, k, k),
            stride=stride,
            padding=pad,
            output_padding=out_pad,
            dilation=dil,
        )
        assert y.shape[2] == conv_transpose_out(size, k, stride, pad, out_pad, dil)


def test_pair_normalises_ints_and_tuples():
    assert pair(3) == (3, 3)
    assert pair((2, 5)) == (2, 5)
    assert pair([4]) == (4, 4)
    for bad in [(1, 2, 3), "3", 1.5, True, None]:
        with pytest.raises(TypeError, match="stride"):
            pair(bad, "stride")


def test_resolve_padding_same_valid_and_pairs():
    assert resolve_padding("valid", (3, 3), (1, 1), (1, 1)) == ((0, 0), (0, 0))
    assert resolve_padding("same", (4, 3), (1, 1), (1, 2)) == ((1, 2), (2, 2))
    assert resolve_padding(2, (3, 3), (1, 1), (1, 1)) == ((2, 2), (2, 2))
    assert resolve_padding((1, 0), (3, 3), (1, 1), (1, 1)) == ((1, 1), (0, 0))
    assert resolve_padding(((0, 1), (2, 3)), (3, 3), (1, 1), (1, 1)) == ((0, 1), (2, 3))
    with pytest.raises(ValueError, match="conv2d: padding='same' is not supported for strided"):
        resolve_padding("same", (3, 3), (2, 1), (1, 1))
    with pytest.raises(ValueError, match="'same' or 'valid'"):
        resolve_padding("full", (3, 3), (1, 1), (1, 1))
    with pytest.raises(ValueError, match=">= 0"):
        resolve_padding(-1, (3, 3), (1, 1), (1, 1))
