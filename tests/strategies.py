"""Hypothesis strategies for convolution and pooling tests: geometries drawn, not hand-picked.

Each geometry strategy draws sizes, kernel, stride (smaller than, equal to and larger than the
kernel), padding, dilation, groups or ceil_mode, and only returns combinations that PyTorch
accepts. Arrays come from a drawn seed (fast for any size) via `array(seed, shape)`, or as
well-separated distinct values via `distinct_array` (no ties, so a max's gradient is defined and
finite differences never cross a kink).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

from minitorch_cv.kernels.shapes import conv_out, conv_transpose_out, pool_out

# Bounded work per test (2 cores; the whole conv/pool suite runs in well under a minute): the
# loaded profile's max_examples (20 in tests/conftest.py's "ci", 200 in "thorough"), at most 20
# unless HYPOTHESIS_PROFILE=thorough asks for more.
_N = settings.default.max_examples
SETTINGS = settings(
    deadline=None,
    max_examples=_N,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(SETTINGS, max_examples=max(1, _N // 3))

seeds = st.integers(0, 2**32 - 1)


def array(seed, shape, dtype=np.float64):
    """Standard normal values of `shape`, reproducible from `seed`."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def distinct_array(seed, shape, dtype=np.float64):
    """A random permutation of evenly spaced values in (-2, 2): distinct, 4/size apart or more."""
    n = int(np.prod(shape))
    values = (np.arange(n) - n / 2 + 0.5) * (4.0 / max(n, 1))
    return np.random.default_rng(seed).permutation(values).reshape(shape).astype(dtype)


@dataclass(frozen=True)
class ConvCase:
    """One convolution: x (n, cin, h, w), weight (cout, cin/groups, kh, kw)."""

    n: int
    cin: int
    cout: int
    h: int
    w: int
    kernel: tuple
    stride: tuple
    padding: tuple  # ((top, bottom), (left, right))
    dilation: tuple
    groups: int

    @property
    def out(self):
        return tuple(
            conv_out(s, k, st_, p, d)
            for s, k, st_, p, d in zip(
                (self.h, self.w), self.kernel, self.stride, self.padding, self.dilation
            )
        )

    @property
    def symmetric_padding(self):
        """(ph, pw) when top == bottom and left == right, else None."""
        (t, b), (l, r) = self.padding
        return (t, l) if t == b and l == r else None


@st.composite
def conv_cases(draw, max_channels=4, max_size=7, asymmetric=True, max_n=2):
    """Convolution geometries with at least one output pixel."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, max(1, max_channels // groups)))
    cout = groups * draw(st.integers(1, max(1, max_channels // groups)))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = tuple(draw(st.integers(1, k + 1)) for k in kernel)  # below, at and above the kernel
    if asymmetric and draw(st.booleans()):
        padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    else:
        padding = tuple((p, p) for p in (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    sizes = []
    for k, d, (lo, hi) in zip(kernel, dilation, padding):
        smallest = max(1, d * (k - 1) + 1 - lo - hi)  # the dilated kernel must fit the padded input
        sizes.append(draw(st.integers(smallest, max(smallest, max_size))))
    n = draw(st.integers(1, max_n))
    return ConvCase(n, cin, cout, sizes[0], sizes[1], kernel, stride, padding, dilation, groups)


@dataclass(frozen=True)
class ConvTransposeCase:
    """One transposed convolution: x (n, cin, h, w), weight (cin, cout/groups, kh, kw)."""

    n: int
    cin: int
    cout: int
    h: int
    w: int
    kernel: tuple
    stride: tuple
    padding: tuple  # (ph, pw), symmetric as in PyTorch
    output_padding: tuple
    dilation: tuple
    groups: int

    @property
    def out(self):
        return tuple(
            conv_transpose_out(s, k, st_, p, o, d)
            for s, k, st_, p, o, d in zip(
                (self.h, self.w),
                self.kernel,
                self.stride,
                self.padding,
                self.output_padding,
                self.dilation,
            )
        )


@st.composite
def conv_transpose_cases(draw, max_channels=4, max_size=5, max_n=2):
    """Transposed-convolution geometries PyTorch accepts (output_padding < max(stride, dilation),
    positive output size)."""
    groups = draw(st.sampled_from([1, 1, 2]))
    cin = groups * draw(st.integers(1, max(1, max_channels // groups)))
    cout = groups * draw(st.integers(1, max(1, max_channels // groups)))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = tuple(draw(st.integers(1, k + 1)) for k in kernel)
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    sizes, padding = [], []
    for k, s, d, o in zip(kernel, stride, dilation, output_padding):
        size = draw(st.integers(1, max_size))
        full = conv_transpose_out(size, k, s, 0, o, d)
        padding.append(draw(st.integers(0, min(2, (full - 1) // 2))))
        sizes.append(size)
    n = draw(st.integers(1, max_n))
    return ConvTransposeCase(
        n,
        cin,
        cout,
        sizes[0],
        sizes[1],
        kernel,
        stride,
        tuple(padding),
        output_padding,
        dilation,
        groups,
    )


@dataclass(frozen=True)
class PoolCase:
    """One sliding-window pooling over (n, c, h, w)."""

    n: int
    c: int
    h: int
    w: int
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    ceil_mode: bool

    @property
    def out(self):
        return tuple(
            pool_out(s, k, st_, p, d, self.ceil_mode)
            for s, k, st_, p, d in zip(
                (self.h, self.w), self.kernel, self.stride, self.padding, self.dilation
            )
        )


def _every_window_sees_input(size, k, s, p, d, out):
    """True when every window has at least one tap on a real (unpadded) pixel."""
    for o in range(out):
        if not any(0 <= o * s - p + i * d < size for i in range(k)):
            return False
    return True


@st.composite
def pool_cases(draw, dilation=True, max_size=8, max_n=2, max_c=3):
    """Pooling geometries PyTorch accepts (padding <= kernel // 2, output >= 1), where every window
    covers at least one input pixel (an all-padding window has no meaningful max)."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = tuple(draw(st.integers(1, k + 1)) for k in kernel)
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    ceil_mode = draw(st.booleans())
    sizes = []
    for k, s, p, d in zip(kernel, stride, padding, dil):
        smallest = max(1, d * (k - 1) + 1 - 2 * p)
        size = draw(st.integers(smallest, max(smallest, max_size)))
        out = pool_out(size, k, s, p, d, ceil_mode)
        assume(out >= 1 and _every_window_sees_input(size, k, s, p, d, out))
        sizes.append(size)
    n, c = draw(st.integers(1, max_n)), draw(st.integers(1, max_c))
    return PoolCase(n, c, sizes[0], sizes[1], kernel, stride, padding, dil, ceil_mode)
