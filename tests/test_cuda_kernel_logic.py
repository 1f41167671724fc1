"""The CUDA kernels of minitorch_cv/kernels/im2col_cupy.py, checked on a machine without a GPU.

Each `k_*` function below is the per-thread body of one kernel, transcribed line by line into
Python (C's `/` and `%` agree with Python's `//` and `%` here because the kernels only divide
non-negative numbers). `emulate` stands in for `im2col_cupy._launch`: it checks every argument
against the kernel's C signature parsed from the source (pointer element types, int vs long
long), then runs the body once per thread index. With it, the GPU drivers themselves (column
layouts, strides, groups, chunks of images, bias, pooling wrappers) run on NumPy arrays and are
compared with the NumPy backend. The CUDA C is compiled with nvcc when nvcc is installed.
Last, the DataLoader's host-to-GPU copies are checked for their stream ordering against a
recording stand-in for CuPy.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitorch_cv import Tensor, kernels
from minitorch_cv import functional as F
from minitorch_cv.backend import device as mt_device
from minitorch_cv.kernels import im2col_cupy, im2col_numpy
from minitorch_cv.kernels.shapes import pool_out
from tests.strategies import (
    FEW,
    SETTINGS,
    array,
    conv_cases,
    conv_transpose_cases,
    distinct_array,
    pool_cases,
    seeds,
)

# --------------------------------------------------------------------------- kernel bodies


def window_of(q, i, S, D, O):
    d = q - i * D
    if d < 0 or d % S != 0:
        return -1
    o = d // S
    return o if o < O else -1


def k_im2col(idx, x, cols, total, C, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW, sn, sc, st_, sp):
    ow = idx % OW
    r = idx // OW
    oh = r % OH
    r //= OH
    c = r % C
    n = r // C
    plane = (n * C + c) * H * W
    out = n * sn + c * sc + (oh * OW + ow) * sp
    h0, w0 = oh * SH - PH, ow * SW - PW
    for i in range(KH):
        h = h0 + i * DH
        for j in range(KW):
            w = w0 + j * DW
            inside = 0 <= h < H and 0 <= w < W
            cols[out + (i * KW + j) * st_] = x[plane + h * W + w] if inside else 0


def k_col2im(
    idx, cols, bias, x, total, C, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW, sn, sc, st_, sp,
    has_bias,
):  # fmt: skip
    w = idx % W
    r = idx // W
    h = r % H
    r //= H
    c = r % C
    n = r // C
    col = n * sn + c * sc
    s = x.dtype.type(0)
    for i in range(KH):
        oh = window_of(h + PH, i, SH, DH, OH)
        if oh < 0:
            continue
        for j in range(KW):
            ow = window_of(w + PW, j, SW, DW, OW)
            if ow < 0:
                continue
            s += cols[col + (i * KW + j) * st_ + (oh * OW + ow) * sp]
    x[idx] = s + bias[c] if has_bias else s


def k_max_pool2d(idx, x, y, arg, total, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW):
    ow = idx % OW
    r = idx // OW
    oh = r % OH
    nc = r // OH
    plane = nc * H * W
    best, best_t = -np.inf, -1
    for i in range(KH):
        h = oh * SH - PH + i * DH
        if h < 0 or h >= H:
            continue
        for j in range(KW):
            w = ow * SW - PW + j * DW
            if w < 0 or w >= W:
                continue
            v = x[plane + h * W + w]
            if best_t < 0 or v > best or v != v:
                best, best_t = v, i * KW + j
    y[idx], arg[idx] = best, best_t


def k_max_pool2d_backward(idx, gy, arg, gx, total, H, W, KH, KW, OH, OW, SH, SW, PH, PW, DH, DW):
    w = idx % W
    r = idx // W
    h = r % H
    nc = r // H
    g = a = nc * OH * OW
    s = gx.dtype.type(0)
    for i in range(KH):
        oh = window_of(h + PH, i, SH, DH, OH)
        if oh < 0:
            continue
        for j in range(KW):
            ow = window_of(w + PW, j, SW, DW, OW)
            if ow < 0:
                continue
            o = oh * OW + ow
            if arg[a + o] == i * KW + j:
                s += gy[g + o]
    gx[idx] = s


def avg_divisor(oh, ow, H, W, KH, KW, SH, SW, PH, PW, count_include_pad, divisor_override):
    if divisor_override != 0:
        return divisor_override
    hs, ws = oh * SH - PH, ow * SW - PW
    he, we = min(hs + KH, H + PH), min(ws + KW, W + PW)
    if count_include_pad:
        return (he - hs) * (we - ws)
    return (min(he, H) - max(hs, 0)) * (min(we, W) - max(ws, 0))


def k_avg_pool2d(idx, x, y, total, H, W, KH, KW, OH, OW, SH, SW, PH, PW, cip, override):
    ow = idx % OW
    r = idx // OW
    oh = r % OH
    nc = r // OH
    plane = nc * H * W
    hs, ws = oh * SH - PH, ow * SW - PW
    s = y.dtype.type(0)
    for h in range(max(hs, 0), min(hs + KH, H)):
        for w in range(max(ws, 0), min(ws + KW, W)):
            s += x[plane + h * W + w]
    div = avg_divisor(oh, ow, H, W, KH, KW, SH, SW, PH, PW, cip, override)
    y[idx] = s / y.dtype.type(div)


def k_avg_pool2d_backward(idx, gy, gx, total, H, W, KH, KW, OH, OW, SH, SW, PH, PW, cip, override):
    w = idx % W
    r = idx // W
    h = r % H
    nc = r // H
    g = nc * OH * OW
    s = gx.dtype.type(0)
    for i in range(KH):
        oh = window_of(h + PH, i, SH, 1, OH)
        if oh < 0:
            continue
        for j in range(KW):
            ow = window_of(w + PW, j, SW, 1, OW)
            if ow < 0:
                continue
            div = avg_divisor(oh, ow, H, W, KH, KW, SH, SW, PH, PW, cip, override)
            s += gy[g + oh * OW + ow] / gx.dtype.type(div)
    gx[idx] = s


def k_adaptive_max_pool2d_backward(idx, gy, argmax, gx, total, H, W, OH, OW):
    w = idx % W
    r = idx // W
    h = r % H
    nc = r // H
    g = a = nc * OH * OW
    me = h * W + w
    i0, i1 = (h * OH) // H, ((h + 1) * OH + H - 1) // H
    j0, j1 = (w * OW) // W, ((w + 1) * OW + W - 1) // W
    s = gx.dtype.type(0)
    for i in range(i0, i1):
        for j in range(j0, j1):
            if argmax[a + i * OW + j] == me:
                s += gy[g + i * OW + j]
    gx[idx] = s


def k_bincount(idx, values, counts, total, length):
    v = values[idx]
    counts[v if 0 <= v < length else length] += 1  # atomicAdd


BODIES = {name[2:]: fn for name, fn in globals().items() if name.startswith("k_")}

# --------------------------------------------------------------------------- the launcher


def _signatures():
    """{kernel name: [C type of each parameter]} parsed from the CUDA source."""
    src = "".join(im2col_cupy.KERNEL_SOURCES)
    sigs = {}
    for name, params in re.findall(r'extern "C" __global__ void (\w+)\(([^)]*)\)', src):
        types = []
        for p in params.split(","):
            words = p.replace("__restrict__", "").replace("const", "").split()
            types.append(" ".join(words[:-1]))  # drop the parameter name
        sigs[name] = types
    return sigs


SIGNATURES = _signatures()
_POINTEE = {"int*": np.int32, "long long*": np.int64}
launched = set()


def emulate(name, dtype, total, *args):
    """Stand-in for im2col_cupy._launch: check the arguments against the C signature, then run
    the kernel body for every thread index 0 .. total-1 (any order gives the same result: each
    thread writes only its own outputs, bincount's adds commute)."""
    types = SIGNATURES[name]
    assert len(args) == len(types), f"{name}: {len(args)} arguments for {len(types)} parameters"
    flat = []
    for a, t in zip(args, types):
        if t.endswith("*"):
            want = dtype if t == "T*" else _POINTEE[t]
            assert isinstance(a, np.ndarray) and a.dtype == want, f"{name}: {t} got {a!r:.60}"
            assert a.flags.c_contiguous, f"{name}: pointer argument must be C-contiguous"
            flat.append(a.reshape(-1))  # a view: writes land in the caller's array
        else:
            want = {"int": np.int32, "long long": np.int64}[t]
            assert type(a) is want, f"{name}: parameter of type {t} got {type(a).__name__}"
            flat.append(int(a))
    launched.add(name)
    if total <= 0:
        return
    body = BODIES[name]
    for idx in range(total):
        body(idx, *flat)


@pytest.fixture(autouse=True, scope="module")
def on_emulated_gpu():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(im2col_cupy, "_launch", emulate)
        yield


def test_every_kernel_in_the_source_has_an_emulated_body():
    assert set(SIGNATURES) == set(BODIES)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs the CUDA compiler nvcc")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_sources_compile_with_nvcc(tmp_path, dtype):
    src = tmp_path / f"kernels_{dtype}.cu"
    src.write_text(im2col_cupy.cuda_source(dtype))
    res = subprocess.run(
        [
            "nvcc",
            "--ptx",
            "-arch=sm_75",
            "-Werror",
            "all-warnings",
            str(src),
            "-o",
            str(src) + ".ptx",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    ptx = (tmp_path / f"kernels_{dtype}.cu.ptx").read_text()
    assert all(f".entry {name}(" in ptx for name in SIGNATURES)  # extern "C": unmangled names


def test_unsupported_dtype_is_named():
    with pytest.raises(TypeError, match="float32 and float64, not int32"):
        im2col_cupy.cuda_source(np.int32)


# --------------------------------------------------------------------------- im2col / col2im


@pytest.mark.parametrize("channels_last", [False, True])
@FEW
@given(case=conv_cases(), seed=seeds)
def test_im2col_kernel_equals_numpy_im2col(channels_last, case, seed):
    x = array(seed, (case.n, case.cin, case.h, case.w))
    args = (case.kernel, case.stride, case.padding, case.dilation, channels_last)
    np.testing.assert_array_equal(im2col_cupy.im2col(x, *args), im2col_numpy.im2col(x, *args))


@pytest.mark.parametrize("channels_last", [False, True])
@FEW
@given(case=conv_cases(), seed=seeds)
def test_col2im_gather_equals_numpy_col2im(channels_last, case, seed):
    x_shape = (case.n, case.cin, case.h, case.w)
    args = (case.kernel, case.stride, case.padding, case.dilation, channels_last)
    cols = array(seed, im2col_numpy.im2col(np.zeros(x_shape), *args).shape)
    got = im2col_cupy.col2im(cols, x_shape, *args)
    np.testing.assert_allclose(
        got, im2col_numpy.col2im(cols, x_shape, *args), rtol=1e-12, atol=1e-12
    )


def test_col2im_rejects_columns_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"col2im: columns of shape \(1, 9, 5\) do not match"):
        im2col_cupy.col2im(np.zeros((1, 9, 5)), (1, 1, 4, 4), (3, 3))


# --------------------------------------------------------------------------- convolution drivers


CHUNKING = pytest.mark.parametrize("budget", [1 << 30, 1], ids=["whole_batch", "image_chunks"])


@contextmanager
def workspace(budget):
    """Chunks of the whole batch, or of one image each (a 1-byte budget)."""
    saved, im2col_cupy.WORKSPACE_BYTES = im2col_cupy.WORKSPACE_BYTES, budget
    try:
        yield
    finally:
        im2col_cupy.WORKSPACE_BYTES = saved


def _conv_args(case):
    return case.stride, case.padding, case.dilation, case.groups


@CHUNKING
@FEW
@given(case=conv_cases(max_channels=6), seed=seeds)
def test_gpu_conv_drivers_equal_the_numpy_drivers(budget, case, seed):
    with workspace(budget):
        _check_conv_drivers(case, seed)


def _check_conv_drivers(case, seed):
    x = array(seed, (case.n, case.cin, case.h, case.w))
    w = array(seed + 1, (case.cout, case.cin // case.groups) + case.kernel)
    b = array(seed + 2, (case.cout,))
    stride, padding, dilation, groups = _conv_args(case)
    y = im2col_cupy.conv2d(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(
        y, kernels.conv2d(x, w, b, *_conv_args(case)), rtol=1e-10, atol=1e-10
    )
    g = array(seed + 3, y.shape)
    gw = im2col_cupy.conv2d_weight(x, g, case.kernel, *_conv_args(case))
    want = kernels.conv2d_weight(x, g, case.kernel, *_conv_args(case))
    np.testing.assert_allclose(gw, want, rtol=1e-10, atol=1e-10)
    extra = tuple(
        (n + sum(p) - d * (k - 1) - 1) % s
        for n, p, d, k, s in zip(x.shape[2:], padding, dilation, case.kernel, stride)
    )
    gx = im2col_cupy.conv_transpose2d(g, w, None, stride, padding, extra, dilation, groups)
    want = kernels.conv_transpose2d(g, w, None, stride, padding, extra, dilation, groups)
    assert gx.shape == x.shape
    np.testing.assert_allclose(gx, want, rtol=1e-10, atol=1e-10)


@CHUNKING
@FEW
@given(case=conv_transpose_cases(max_channels=6), seed=seeds)
def test_gpu_conv_transpose_with_bias_and_output_padding(budget, case, seed):
    with workspace(budget):
        _check_conv_transpose(case, seed)


def _check_conv_transpose(case, seed):
    x = array(seed, (case.n, case.cin, case.h, case.w))
    w = array(seed + 1, (case.cin, case.cout // case.groups) + case.kernel)
    b = array(seed + 2, (case.cout,))
    pads = tuple((p, p) for p in case.padding)
    args = (case.stride, pads, case.output_padding, case.dilation, case.groups)
    y = im2col_cupy.conv_transpose2d(x, w, b, *args)
    assert y.shape == (case.n, case.cout) + case.out
    np.testing.assert_allclose(y, kernels.conv_transpose2d(x, w, b, *args), rtol=1e-10, atol=1e-10)


def test_float16_goes_through_the_float32_kernels():
    x = array(0, (2, 3, 5, 5), np.float16)
    w = array(1, (4, 3, 3, 3), np.float16)
    y = im2col_cupy.conv2d(x, w, None, (1, 1), ((1, 1), (1, 1)))
    assert y.dtype == np.float16
    want = kernels.conv2d(
        x.astype(np.float32), w.astype(np.float32), None, (1, 1), ((1, 1), (1, 1))
    )
    np.testing.assert_allclose(y, want, rtol=1e-2, atol=1e-2)


# --------------------------------------------------------------------------- pooling


def _flat_indices(arg, case):
    """Tap index of each window -> h*W + w, as functional/pool.py makes return_indices."""
    (oh, ow), kw = case.out, case.kernel[1]
    (sh, sw), (ph, pw), (dh, dw) = case.stride, case.padding, case.dilation
    rows = np.arange(oh).reshape(oh, 1) * sh - ph + (arg // kw) * dh
    cols = np.arange(ow) * sw - pw + (arg % kw) * dw
    return rows * case.w + cols


@st.composite
def pool_inputs(draw):
    """A pooling case and an input: distinct values, or few distinct values (ties) with NaNs."""
    case = draw(pool_cases())
    seed = draw(seeds)
    shape = (case.n, case.c, case.h, case.w)
    if draw(st.booleans()):
        return case, distinct_array(seed, shape)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, shape).astype(np.float64)
    x[rng.random(shape) < 0.05] = np.nan
    return case, x


@SETTINGS
@given(data=pool_inputs(), seed=seeds)
def test_max_pool_kernels_equal_the_numpy_path(data, seed):
    case, x = data
    geo = (case.kernel, case.stride, case.padding, case.dilation)
    y, arg = im2col_cupy.max_pool2d(x, *geo, case.out)
    t = Tensor(x, requires_grad=True)
    want_y, want_idx = F.max_pool2d(t, *geo, ceil_mode=case.ceil_mode, return_indices=True)
    np.testing.assert_array_equal(y, want_y.data)  # NaN where NumPy has NaN
    np.testing.assert_array_equal(_flat_indices(arg, case), want_idx.data)  # ties: first; NaN: last
    gy = array(seed, y.shape)
    want_y.backward(Tensor(gy))
    gx = im2col_cupy.max_pool2d_backward(gy, arg, x.shape, *geo)
    np.testing.assert_allclose(gx, t.grad.data, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(
    case=pool_cases(dilation=False),
    seed=seeds,
    count_include_pad=st.booleans(),
    divisor_override=st.sampled_from([None, None, 3]),
)
def test_avg_pool_kernels_equal_the_numpy_path(case, seed, count_include_pad, divisor_override):
    x = array(seed, (case.n, case.c, case.h, case.w))
    rules = (count_include_pad, divisor_override)
    y = im2col_cupy.avg_pool2d(x, case.kernel, case.stride, case.padding, case.out, *rules)
    t = Tensor(x, requires_grad=True)
    want = F.avg_pool2d(t, case.kernel, case.stride, case.padding, case.ceil_mode, *rules)
    np.testing.assert_allclose(y, want.data, rtol=1e-12, atol=1e-12)
    gy = array(seed + 1, y.shape)
    want.backward(Tensor(gy))
    gx = im2col_cupy.avg_pool2d_backward(
        gy, x.shape, case.kernel, case.stride, case.padding, *rules
    )
    np.testing.assert_allclose(gx, t.grad.data, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 2),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    oh=st.integers(1, 7),
    ow=st.integers(1, 7),
    seed=seeds,
)
def test_adaptive_max_pool_backward_gather_equals_numpy(n, c, h, w, oh, ow, seed):
    """Output bigger or smaller than the input: a pixel can sit in many bins or in none."""
    x = distinct_array(seed, (n, c, h, w))
    t = Tensor(x, requires_grad=True)
    y, idx = F.adaptive_max_pool2d(t, (oh, ow), return_indices=True)
    gy = array(seed + 1, y.shape)
    y.backward(Tensor(gy))
    gx = im2col_cupy.adaptive_max_pool2d_backward(gy, idx.data, x.shape)
    np.testing.assert_allclose(gx, t.grad.data, rtol=1e-12, atol=1e-12)


def test_pool_output_size_formula_is_the_shared_one():
    """The wrappers take (OH, OW) from the caller: the same kernels.shapes.pool_out."""
    x = distinct_array(0, (1, 1, 7, 7))
    out = (pool_out(7, 3, 2, 1, 1, True),) * 2
    y, _ = im2col_cupy.max_pool2d(x, (3, 3), (2, 2), (1, 1), (1, 1), out)
    assert y.shape == (1, 1, 4, 4)


@SETTINGS
@given(values=st.lists(st.integers(-3, 12), max_size=40), length=st.integers(1, 10))
def test_bincount_counts_in_range_and_out_of_range(values, length):
    v = np.asarray(values, dtype=np.int64)
    counts = im2col_cupy.bincount(v, length)
    inside = v[(v >= 0) & (v < length)]
    np.testing.assert_array_equal(counts[:length], np.bincount(inside, minlength=length))
    assert counts[length] == len(v) - len(inside)


# --------------------------------------------------------------------------- the dispatch lines


@pytest.fixture
def cuda_dispatch(monkeypatch):
    """kernels.backend answers im2col_cupy for every array, as it does for CuPy arrays: the ops'
    GPU branches (kernels/__init__.py, functional/pool.py) then run on the emulated kernels."""
    monkeypatch.setattr(kernels, "backend", lambda *arrays: im2col_cupy)


def _forward_backward(fn, *inputs, seed=0):
    """(output, input gradients) of fn for a fixed random upstream gradient."""
    ts = [Tensor(a, requires_grad=True) for a in inputs]
    y = fn(*ts)
    y = y[0] if isinstance(y, tuple) else y
    y.backward(Tensor(array(seed, y.shape)))
    return [y.data] + [t.grad.data for t in ts]


OPS = {
    "conv2d": (
        lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=(1, 2), groups=2),
        [(2, 4, 7, 6), (6, 2, 3, 2), (6,)],
    ),
    "conv_transpose2d": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        [(2, 3, 4, 5), (3, 4, 3, 3), (4,)],
    ),
    "max_pool2d": (
        lambda x: F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True),
        [(2, 2, 7, 6)],
    ),
    "avg_pool2d": (
        lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        [(2, 2, 7, 6)],
    ),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (3, 4)), [(1, 2, 7, 6)]),
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_ops_take_the_cuda_kernels_for_gpu_arrays(op, request):
    fn, shapes = OPS[op]
    inputs = [distinct_array(i, s) for i, s in enumerate(shapes)]
    want = _forward_backward(fn, *inputs)
    launched.clear()
    request.getfixturevalue("cuda_dispatch")
    got = _forward_backward(fn, *inputs)
    assert launched, f"{op}: no CUDA kernel was launched"
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- the loader's copies


class _FakeCuda:
    """Records what the DataLoader's _CudaBatchMover asks of CuPy, in order."""

    def __init__(self):
        self.log, self.current = [], []
        fake = self

        class Event:
            def __init__(self, stream):
                self.stream = stream

            def synchronize(self):
                fake.log.append(("host waits", self.stream.name))

        class Stream:
            def __init__(self, non_blocking=False, name="copy"):
                self.name, self.ptr = name, 7

            def record(self):
                fake.log.append(("record", self.name))
                return Event(self)

            def wait_event(self, event):
                fake.log.append((f"{self.name} waits", event.stream.name))

            def __enter__(self):
                fake.current.append(self)

            def __exit__(self, *exc):
                fake.current.pop()

        class Array(np.ndarray):
            def set(self, host, stream):
                fake.log.append(("copy on", stream.name))
                np.copyto(self, host)

        class Namespace:
            pass

        self.cuda = Namespace()
        self.cuda.Stream, self.cuda.Device = Stream, lambda i: contextlib.nullcontext()
        self.cuda.alloc_pinned_memory = bytearray
        self.training = Stream(name="training")
        self.cuda.get_current_stream = lambda: self.training

        def empty(shape, dtype):
            fake.log.append(("allocate on", fake.current[-1].name if fake.current else None))
            return np.empty(shape, dtype).view(Array)

        self.empty = empty


def test_loader_copies_are_ordered_between_the_training_stream_and_the_copy_stream(monkeypatch):
    from minitorch_cv.data import loader

    fake = _FakeCuda()
    monkeypatch.setattr(loader, "cupy_module", lambda: fake)
    mover = loader._CudaBatchMover.create(mt_device("cuda"))
    x, y = np.arange(6.0).reshape(2, 3), np.array([1, 2])
    for _ in range(2):
        fake.log.clear()
        gx, gy = mover(x, y)
        np.testing.assert_array_equal(gx, x)
        np.testing.assert_array_equal(gy, y)
        log = [e for e in fake.log if e[0] != "host waits"]
        assert log == [
            ("allocate on", "training"),  # from the training stream's pool: reuse is ordered
            ("allocate on", "training"),
            ("record", "training"),  # ... after all training work queued so far
            ("copy waits", "training"),
            ("copy on", "copy"),
            ("copy on", "copy"),
            ("record", "copy"),
            ("training waits", "copy"),  # the step (and the transforms) read the batch after
        ]
    # the second batch refills the pinned buffers only after the first batch's copy finished
    assert fake.log.count(("host waits", "copy")) == 2


def test_gpu_confusion_counts_equal_the_host_ones(cuda_dispatch):
    from minitorch_cv.train import metrics

    rng = np.random.default_rng(0)
    p, t = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    t[:5] = 255
    counts = metrics._device_pair_counts(p, t, 4, 255)
    np.testing.assert_array_equal(counts[:-1].reshape(4, 4), metrics.confusion_matrix(p, t, 4, 255))
    assert counts[-1] == 0
    p[7], t[9] = 4, -1  # out of range: counted apart, for the error at read time
    assert metrics._device_pair_counts(p, t, 4, 255)[-1] == 2
