"""RMSNorm / F.rms_norm, Bilinear / F.bilinear, the 1-D and 3-D padding layers, ParameterList and
ParameterDict.

Each op equals a plain loop over its formula, passes a float64 gradcheck over drawn shapes and,
with PyTorch installed, gives torch's outputs and gradients (float64 to 1e-9; the modules with
weights copied across); every module has torch's repr and state_dict keys; the parameter
containers behave like torch's under the same sequence of operations; bad input fails with the
op or layer named."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import nn
from tests.strategies import FEW, SETTINGS, array, seeds
from tests.strategies_core import arrays, check_grad, check_parity

# --------------------------------------------------------------------------- shapes


@st.composite
def rms_cases(draw):
    """(input shape, normalized_shape, with weight, eps): 0-2 leading, 1-2 normalised dims."""
    lead = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    norm = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    return lead + norm, norm, draw(st.booleans()), draw(st.sampled_from([None, 1e-5, 0.5]))


@st.composite
def bilinear_cases(draw):
    """(leading dims, in1, in2, out, with bias): unbatched, batched and two leading dims."""
    lead = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    in1, in2, out = (draw(st.integers(1, 3)) for _ in range(3))
    return lead, in1, in2, out, draw(st.booleans())


def _eps(eps, dtype=np.float64):
    return np.finfo(dtype).eps if eps is None else eps


# --------------------------------------------------------------------------- rms_norm


def rms_norm_loops(x, normalized_shape, weight=None, eps=None):
    """The textbook RMSNorm, one sample at a time with a Python sum of squares."""
    k = len(normalized_shape)
    lead = x.shape[: x.ndim - k]
    out = np.empty_like(x)
    d = math.prod(normalized_shape)
    for i in np.ndindex(*lead):
        sq = 0.0
        for j in np.ndindex(*normalized_shape):
            sq += x[i + j] ** 2
        r = math.sqrt(sq / d + _eps(eps))
        for j in np.ndindex(*normalized_shape):
            out[i + j] = x[i + j] / r * (1.0 if weight is None else weight[j])
    return out


@SETTINGS
@given(case=rms_cases(), seed=seeds)
def test_rms_norm_matches_loop_reference(case, seed):
    shape, norm, with_w, eps = case
    x, w = array(seed, shape), array(seed + 1, norm) if with_w else None
    y = F.rms_norm(mt.tensor(x), norm, None if w is None else mt.tensor(w), eps)
    assert y.shape == shape and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), rms_norm_loops(x, norm, w, eps), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(data=st.data(), case=rms_cases())
def test_rms_norm_gradcheck_float64(data, case):
    shape, norm, with_w, eps = case
    x = data.draw(arrays(shape))
    if with_w:
        w = data.draw(arrays(norm))
        check_grad(lambda lib, x, w: lib.F.rms_norm(x, norm, w, eps), [x, w])
    else:
        check_grad(lambda lib, x: lib.F.rms_norm(x, norm, None, eps), [x])


@pytest.mark.parity
@SETTINGS
@given(data=st.data(), case=rms_cases())
def test_rms_norm_matches_torch_outputs_and_gradients(data, case):
    torch = pytest.importorskip("torch")
    shape, norm, with_w, eps = case
    ins = [data.draw(arrays(shape))] + ([data.draw(arrays(norm))] if with_w else [])
    check_parity(torch, lambda lib, x, *w: lib.F.rms_norm(x, list(norm), *w, eps=eps), ins)


@pytest.mark.parity
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_rms_norm_default_eps_is_the_compute_dtypes_epsilon_as_torch(dtype):
    torch = pytest.importorskip("torch")
    # values ~1e-4: mean(x^2) ~1e-8 is of the order of float32's eps, so eps decides the result
    x = (array(0, (3, 5)) * 1e-4).astype(dtype)
    y = F.rms_norm(mt.tensor(x), (5,))
    yt = torch.nn.functional.rms_norm(torch.tensor(x), (5,))
    assert y.dtype == np.dtype(dtype)
    tol = {"float16": 2e-3, "float32": 1e-5, "float64": 1e-12}[dtype]
    np.testing.assert_allclose(
        y.numpy().astype(np.float64), yt.double().numpy(), rtol=tol, atol=tol
    )
    opmath = np.float64 if dtype == "float64" else np.float32
    x64 = x.astype(np.float64)
    expect = x64 / np.sqrt((x64**2).mean(-1, keepdims=True) + np.finfo(opmath).eps)
    np.testing.assert_allclose(y.numpy().astype(np.float64), expect, rtol=tol, atol=tol)
    if dtype != "float64":  # a different eps (LayerNorm's 1e-5) would be visibly off
        other = x64 / np.sqrt((x64**2).mean(-1, keepdims=True) + 1e-5)
        assert not np.allclose(y.numpy().astype(np.float64), other, rtol=0.1)


def test_rms_norm_keeps_the_input_dtype_with_a_weight_of_another():
    x = array(1, (2, 4)).astype(np.float32)
    w = mt.tensor(array(2, (4,)), requires_grad=True)  # float64
    xt = mt.tensor(x, requires_grad=True)
    y = F.rms_norm(xt, [4], w)
    assert y.dtype == np.float32
    y.sum().backward()
    assert xt.grad.dtype == np.float32 and w.grad.dtype == np.float64


def test_rms_norm_bad_input_names_the_op_and_shapes():
    x = mt.tensor(array(0, (2, 3, 4)))
    with pytest.raises(ValueError, match=r"rms_norm: normalized_shape \(3,\) .* \(2, 3, 4\)"):
        F.rms_norm(x, (3,))
    with pytest.raises(ValueError, match=r"rms_norm: weight has shape \(3,\), expected .*\(4,\)"):
        F.rms_norm(x, (4,), mt.ones(3, dtype=mt.float64))
    with pytest.raises(ValueError, match=r"rms_norm: normalized_shape must have at least one"):
        F.rms_norm(x, ())
    with pytest.raises(TypeError, match=r"rms_norm: expected a floating point input, got .*int64"):
        F.rms_norm(mt.tensor(np.ones((2, 4), dtype=np.int64)), (4,))


# --------------------------------------------------------------------------- nn.RMSNorm


def test_rms_norm_layer_init_repr_and_state_dict():
    m = nn.RMSNorm([2, 3])
    assert m.normalized_shape == (2, 3) and m.eps is None and m.elementwise_affine
    np.testing.assert_array_equal(m.weight.numpy(), np.ones((2, 3), dtype=np.float32))
    assert repr(m) == "RMSNorm((2, 3), eps=None, elementwise_affine=True)"
    assert list(m.state_dict()) == ["weight"]
    bare = nn.RMSNorm(4, eps=1e-5, elementwise_affine=False, dtype=mt.float64)
    assert bare.weight is None and list(bare.state_dict()) == []
    assert repr(bare) == "RMSNorm((4,), eps=1e-05, elementwise_affine=False)"


@pytest.mark.parity
@pytest.mark.parametrize(
    "args, shape",
    [((4,), (3, 4)), (([2, 3],), (4, 2, 3)), ((5, 1e-3), (5,)), ((4, None, False), (2, 3, 4))],
)
def test_rms_norm_layer_matches_torch(args, shape):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.RMSNorm(*args), torch.nn.RMSNorm(*args)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.tensor(array(5, tuple(p.shape)).astype(np.float32)))
    ours.load_state_dict(theirs.state_dict())
    x = array(6, shape).astype(np.float32)
    xo, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = array(7, shape).astype(np.float32)
    yo.backward(mt.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_rms_norm_layer_gradcheck_and_shape_error():
    m = nn.RMSNorm((3,), dtype=mt.float64)
    m.weight.data = mt.tensor(array(3, (3,)))
    assert mt.gradcheck(m, [mt.tensor(array(4, (2, 3)), requires_grad=True)])
    with pytest.raises(ValueError, match=r"^RMSNorm\(\(3,\)\): expected input of shape \(\*, 3\), "
                       r"got shape \(2, 4\)"):  # fmt: skip
        m(mt.tensor(array(0, (2, 4))))
    with pytest.raises(ValueError, match=r"RMSNorm: normalized_shape must be non-empty"):
        nn.RMSNorm(())


# --------------------------------------------------------------------------- bilinear


def bilinear_loops(x1, x2, w, b=None):
    """y[..., o] = sum_i sum_j x1[..., i] W[o, i, j] x2[..., j] + b[o], one sum at a time."""
    out_f = w.shape[0]
    y = np.empty(x1.shape[:-1] + (out_f,))
    for n in np.ndindex(*x1.shape[:-1]):
        for o in range(out_f):
            acc = 0.0 if b is None else b[o]
            for i in range(w.shape[1]):
                for j in range(w.shape[2]):
                    acc += x1[n + (i,)] * w[o, i, j] * x2[n + (j,)]
            y[n + (o,)] = acc
    return y


@SETTINGS
@given(case=bilinear_cases(), seed=seeds)
def test_bilinear_matches_loop_reference(case, seed):
    lead, in1, in2, out, with_b = case
    x1, x2, w = (
        array(seed, lead + (in1,)),
        array(seed + 1, lead + (in2,)),
        array(seed + 2, (out, in1, in2)),
    )
    b = array(seed + 3, (out,)) if with_b else None
    y = F.bilinear(mt.tensor(x1), mt.tensor(x2), mt.tensor(w), None if b is None else mt.tensor(b))
    assert y.shape == lead + (out,)
    np.testing.assert_allclose(y.numpy(), bilinear_loops(x1, x2, w, b), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(data=st.data(), case=bilinear_cases())
def test_bilinear_gradcheck_float64(data, case):
    lead, in1, in2, out, with_b = case
    shapes = [lead + (in1,), lead + (in2,), (out, in1, in2)] + ([(out,)] if with_b else [])
    check_grad(lambda lib, *t: lib.F.bilinear(*t), [data.draw(arrays(s)) for s in shapes])


@pytest.mark.parity
@SETTINGS
@given(data=st.data(), case=bilinear_cases())
def test_bilinear_matches_torch_outputs_and_gradients(data, case):
    torch = pytest.importorskip("torch")
    lead, in1, in2, out, with_b = case
    shapes = [lead + (in1,), lead + (in2,), (out, in1, in2)] + ([(out,)] if with_b else [])
    check_parity(torch, lambda lib, *t: lib.F.bilinear(*t), [data.draw(arrays(s)) for s in shapes])


def test_bilinear_empty_batch_gives_an_empty_output():
    w = mt.tensor(array(0, (4, 3, 2)))
    y = F.bilinear(mt.tensor(np.zeros((0, 3))), mt.tensor(np.zeros((0, 2))), w)
    assert y.shape == (0, 4)


def test_bilinear_bad_input_names_the_op_and_shapes():
    w, b = mt.tensor(array(0, (4, 3, 2))), mt.tensor(array(1, (4,)))
    x1, x2 = mt.tensor(array(2, (5, 3))), mt.tensor(array(3, (5, 2)))
    with pytest.raises(ValueError, match=r"bilinear: .*same leading dims.*\(5, 3\) and \(4, 2\)"):
        F.bilinear(x1, mt.tensor(array(3, (4, 2))), w, b)
    with pytest.raises(ValueError, match=r"bilinear: .*same leading dims.*\(5, 3\) and \(2,\)"):
        F.bilinear(x1, mt.tensor(array(3, (2,))), w, b)
    with pytest.raises(
        ValueError, match=r"bilinear: inputs of shapes \(5, 3\) and \(5, 3\) do not"
    ):
        F.bilinear(x1, mt.tensor(array(3, (5, 3))), w, b)
    with pytest.raises(ValueError, match=r"do not fit weight of shape \(3, 2\)"):
        F.bilinear(x1, x2, mt.tensor(array(0, (3, 2))), b)
    with pytest.raises(ValueError, match=r"bilinear: bias of shape \(3,\) does not fit"):
        F.bilinear(x1, x2, w, mt.tensor(array(1, (3,))))
    with pytest.raises(TypeError, match=r"bilinear: .* one floating dtype, got float32, float64"):
        F.bilinear(x1.float(), x2, w, b)


# --------------------------------------------------------------------------- nn.Bilinear


def test_bilinear_layer_default_init_is_uniform_within_one_over_sqrt_in1():
    m = nn.Bilinear(4, 100, 300)  # bound 1/2 from in1; 1/sqrt(in2) would be 1/10
    bound = 0.5
    w, b = m.weight.numpy(), m.bias.numpy()
    assert w.shape == (300, 4, 100) and b.shape == (300,) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.99 * bound and np.abs(b).max() > 0.9 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)
    assert repr(m) == "Bilinear(in1_features=4, in2_features=100, out_features=300, bias=True)"
    assert list(m.state_dict()) == ["weight", "bias"]
    plain = nn.Bilinear(2, 3, 1, bias=False, dtype=mt.float64)
    assert plain.bias is None and plain.weight.dtype == np.float64
    assert list(plain.state_dict()) == ["weight"]


@pytest.mark.parity
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
def test_bilinear_layer_matches_torch(bias, lead):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Bilinear(3, 2, 4, bias=bias), torch.nn.Bilinear(3, 2, 4, bias=bias)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x1, x2 = array(1, lead + (3,)).astype(np.float32), array(2, lead + (2,)).astype(np.float32)
    a, b = mt.tensor(x1, requires_grad=True), mt.tensor(x2, requires_grad=True)
    at, bt = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    yo, yt = ours(a, b), theirs(at, bt)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = array(3, lead + (4,)).astype(np.float32)
    yo.backward(mt.tensor(g))
    yt.backward(torch.tensor(g))
    for o, t in [(a, at), (b, bt)] + list(zip(ours.parameters(), theirs.parameters())):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_bilinear_layer_gradcheck_and_errors():
    m = nn.Bilinear(3, 2, 2, dtype=mt.float64)
    x1 = mt.tensor(array(0, (4, 3)), requires_grad=True)
    x2 = mt.tensor(array(1, (4, 2)), requires_grad=True)
    assert mt.gradcheck(m, [x1, x2])
    with pytest.raises(ValueError, match=r"^Bilinear\(3, 2->2\): expected input1 \(\*, 3\) and "
                       r"input2 \(\*, 2\) .* got shapes \(4, 3\) and \(4, 3\)"):  # fmt: skip
        m(x1, mt.tensor(array(1, (4, 3))))
    with pytest.raises(ValueError, match=r"got shapes \(4, 3\) and \(5, 2\)"):
        m(x1, mt.tensor(array(1, (5, 2))))
    with pytest.raises(ValueError, match=r"Bilinear: in1_features must be > 0"):
        nn.Bilinear(0, 2, 3)
    with pytest.raises(ValueError, match=r"Bilinear: out_features must be a non-negative int"):
        nn.Bilinear(2, 2, 1.5)


# --------------------------------------------------------------------------- padding layers

# name -> (padded dims, F.pad mode, np.pad mode, the largest width per side for a dim of n)
PADS = {
    f"{kind}Pad{k}d": (k, mode, np_mode, most)
    for k in (1, 2, 3)
    for kind, mode, np_mode, most in [
        ("Zero", "constant", "constant", lambda n: 2),
        ("Constant", "constant", "constant", lambda n: 2),
        ("Reflection", "reflect", "reflect", lambda n: n - 1),
        ("Replication", "replicate", "edge", lambda n: 2),
        ("Circular", "circular", "wrap", lambda n: n),
    ]
}


def make_pad(lib, name, padding):
    cls = getattr(lib, name)
    return cls(padding, -1.5) if name.startswith("Constant") else cls(padding)


@st.composite
def pad_cases(draw, name):
    """(padding, input shape): sides 2-4, each width within the mode's limit, batched and
    unbatched input (and, for the constant pads, input without a channel dim)."""
    k, _, _, most = PADS[name]
    sizes = [draw(st.integers(2, 4)) for _ in range(k)]  # the padded dims, first to last
    padding = []
    for n in reversed(sizes):  # (before, after) pairs, last dim first
        padding += [draw(st.integers(0, most(n))), draw(st.integers(0, most(n)))]
    lead = [(2, 3), (3,)] + ([()] if PADS[name][1] == "constant" else [])
    return tuple(padding), draw(st.sampled_from(lead)) + tuple(sizes)


@pytest.mark.parametrize("name", sorted(PADS))
@SETTINGS
@given(data=st.data(), seed=seeds)
def test_pad_layers_equal_f_pad_and_np_pad(name, data, seed):
    k, mode, np_mode, _ = PADS[name]
    padding, shape = data.draw(pad_cases(name))
    x = array(seed, shape)
    y = make_pad(nn, name, padding)(mt.tensor(x)).numpy()
    value = -1.5 if name.startswith("Constant") else 0.0
    np.testing.assert_array_equal(y, F.pad(mt.tensor(x), padding, mode, value).numpy())
    widths = [(0, 0)] * (len(shape) - k) + [
        (padding[2 * i], padding[2 * i + 1]) for i in reversed(range(k))
    ]
    kw = {"constant_values": value} if np_mode == "constant" else {}
    np.testing.assert_array_equal(y, np.pad(x, widths, mode=np_mode, **kw))


@pytest.mark.parametrize("name", sorted(n for n in PADS if "2d" not in n))
@FEW
@given(data=st.data(), seed=seeds)
def test_pad_layers_gradcheck_float64(name, data, seed):
    padding, shape = data.draw(pad_cases(name))
    x = mt.tensor(array(seed, shape), requires_grad=True)
    assert mt.gradcheck(make_pad(nn, name, padding), [x])


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(PADS))
@FEW
@given(data=st.data(), seed=seeds)
def test_pad_layers_match_torch_repr_forward_and_backward(name, data, seed):
    torch = pytest.importorskip("torch")
    padding, shape = data.draw(pad_cases(name))
    pad_arg = padding[0] if len(set(padding)) == 1 else padding  # an int, as torch allows
    ours, theirs = make_pad(nn, name, pad_arg), make_pad(torch.nn, name, pad_arg)
    assert repr(ours) == repr(theirs)
    assert ours.padding == theirs.padding and list(ours.state_dict()) == []
    x = array(seed, shape)
    xo, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_array_equal(yo.numpy(), yt.detach().numpy())
    g = array(seed + 1, tuple(yt.shape))
    yo.backward(mt.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parity
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("kind", ["Zero", "Constant", "Reflection", "Replication", "Circular"])
def test_negative_padding_crops_as_torch(kind, k):
    torch = pytest.importorskip("torch")
    name = f"{kind}Pad{k}d"
    padding = (-1, 2, 1, -2, 0, 1)[: 2 * k]
    x = array(0, (2,) + (5,) * k)
    y = make_pad(nn, name, padding)(mt.tensor(x)).numpy()
    np.testing.assert_array_equal(y, make_pad(torch.nn, name, padding)(torch.tensor(x)).numpy())


def test_zero_pads_are_constant_pads_of_zero_as_in_torch():
    for k in (1, 2, 3):
        z = getattr(nn, f"ZeroPad{k}d")(1)
        assert isinstance(z, getattr(nn, f"ConstantPad{k}d")) and z.value == 0.0
        assert z.padding == (1,) * (2 * k) and repr(z) == f"ZeroPad{k}d({(1,) * (2 * k)})"


@pytest.mark.parametrize("name", ["ReflectionPad1d", "ReplicationPad3d", "CircularPad1d"])
def test_pad_layers_refuse_input_of_the_wrong_rank(name):
    k = int(name[-2])
    layer = getattr(nn, name)(1)
    for ndim in (k, k + 3):
        x = mt.tensor(np.zeros((3,) * ndim))
        with pytest.raises(ValueError, match=rf"^{name}\(.*\): expected {k + 1}-D or {k + 2}-D "
                           rf"input, got shape \({', '.join(['3'] * ndim)},?\)"):  # fmt: skip
            layer(x)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_reflection_pads_take_an_empty_batch_as_torch(k):
    """An unpadded dim of size 0 (the batch) is no reflection to check: (0, C, ...) pads as
    torch does, where F.pad refused it as 'reflect padding (0, 0) must be smaller than dim 0'."""
    x = mt.tensor(np.zeros((0, 2) + (3,) * k), requires_grad=True)
    y = getattr(nn, f"ReflectionPad{k}d")(1)(x)
    assert y.shape == (0, 2) + (5,) * k
    y.sum().backward()
    assert x.grad.shape == x.shape


@pytest.mark.parametrize(
    "name, padding", [("ReflectionPad1d", True), ("CircularPad1d", (1, False)),
                      ("ZeroPad2d", (True, 2, 0, 0))]
)  # fmt: skip
def test_pad_layers_refuse_bool_widths_as_torch(name, padding):
    with pytest.raises(TypeError, match=rf"^{name}: padding must be an int or ints, got"):
        getattr(nn, name)(padding)


def test_pad_layers_bad_arguments_and_widths_name_the_layer():
    with pytest.raises(ValueError, match=r"ZeroPad1d: padding must be an int or \(left, right\)"):
        nn.ZeroPad1d((1, 2, 3))
    with pytest.raises(ValueError, match=r"ConstantPad3d: padding must be an int or \(left, "
                       r"right, top, bottom, front, back\), got \(1, 2\)"):  # fmt: skip
        nn.ConstantPad3d((1, 2), 0.5)
    with pytest.raises(TypeError, match=r"ReplicationPad3d: padding must be an int or ints"):
        nn.ReplicationPad3d(1.5)
    with pytest.raises(ValueError, match=r"^ReflectionPad3d\(.*\): pad: reflect .* smaller than"):
        nn.ReflectionPad3d((0, 0, 0, 0, 3, 0))(mt.tensor(np.zeros((1, 3, 4, 4))))
    with pytest.raises(ValueError, match=r"^CircularPad1d\(.*\): pad: .* more than once"):
        nn.CircularPad1d(4)(mt.tensor(np.zeros((1, 3))))
    with pytest.raises(ValueError, match=r"^ZeroPad3d\(.*\): pad: .*\(4, 4\)"):
        nn.ZeroPad3d(1)(mt.tensor(np.zeros((4, 4))))


# --------------------------------------------------------------------------- ParameterList


def test_parameter_list_registers_wraps_and_indexes():
    t = mt.tensor(array(0, (2, 3)).astype(np.float32))
    p = nn.Parameter(mt.zeros(3, dtype=mt.float64), requires_grad=False)
    pl = nn.ParameterList([t, p, "not a tensor"])
    assert len(pl) == 3 and isinstance(pl[0], nn.Parameter) and pl[0].requires_grad
    assert pl[1] is p and not pl[1].requires_grad and pl[2] == "not a tensor"
    assert np.shares_memory(pl[0].numpy(), t.numpy())  # wrapped, not copied (torch shares too)
    assert pl[-1] == pl[2] and [type(v).__name__ for v in pl] == ["Parameter"] * 2 + ["str"]
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"] and list(pl.state_dict()) == [
        "0",
        "1",
    ]
    pl.append(mt.ones(4)).extend([mt.ones(1), mt.ones(2)])
    pl += [mt.ones(5)]
    assert len(pl) == 7 and list(pl.state_dict()) == ["0", "1", "3", "4", "5", "6"]
    pl[2] = mt.ones(2, 2)  # an object replaced by a tensor: registered last, as in torch
    assert list(pl.state_dict())[-1] == "2" and pl[2].shape == (2, 2)
    sub = pl[1:6:2]
    assert isinstance(sub, nn.ParameterList) and [v.shape for v in sub] == [(3,), (4,), (2,)]
    assert sub[0] is p and list(sub.state_dict()) == ["0", "1", "2"]
    assert "0" not in dir(pl) and "append" in dir(pl)


def test_parameter_list_inside_a_module_trains_moves_and_loads():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ParameterList([mt.ones(3), mt.ones(3)])

        def forward(self, x):
            for s in self.scales:
                x = x * s
            return x

    net = Net()
    assert list(net.state_dict()) == ["scales.0", "scales.1"]
    opt = mt.optim.SGD(net.parameters(), lr=0.5)
    net(mt.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32))).sum().backward()
    opt.step()
    np.testing.assert_allclose(net.scales[1].numpy(), [0.5, 0.0, -0.5])
    net.double()
    assert net.scales[0].dtype == np.float64 and net.scales[0].grad.dtype == np.float64
    state = {"scales.0": np.full(3, 2.0), "scales.1": np.full(3, 3.0)}
    net.load_state_dict(state)
    np.testing.assert_array_equal(net(mt.ones(3, dtype=mt.float64)).numpy(), [6.0, 6.0, 6.0])


def test_parameter_list_errors():
    pl = nn.ParameterList([mt.ones(2)])
    with pytest.raises(IndexError, match=r"ParameterList: index 1 is out of range for length 1"):
        pl[1]
    with pytest.raises(IndexError, match=r"index -2 is out of range"):
        pl[-2] = mt.ones(1)
    with pytest.raises(TypeError, match=r"ParameterList.extend .* iterable, but got Tensor"):
        pl.extend(mt.ones(2))
    with pytest.raises(TypeError, match=r"cannot assign 'int' as parameter '0'"):
        pl[0] = 3
    with pytest.raises(RuntimeError, match=r"ParameterList should not be called"):
        pl(mt.ones(2))


# --------------------------------------------------------------------------- ParameterDict


def test_parameter_dict_behaves_like_a_registered_dict():
    a = mt.tensor(array(0, (2,)).astype(np.float32))
    pd = nn.ParameterDict({"w": a, "b": nn.Parameter(mt.zeros(3)), "note": "text"})
    assert list(pd) == ["b", "note", "w"]  # a plain dict goes in sorted, as in torch
    assert list(pd.state_dict()) == ["b", "w"] and isinstance(pd["w"], nn.Parameter)
    assert np.shares_memory(pd["w"].numpy(), a.numpy())
    assert "w" in pd and "x" not in pd and len(pd) == 3 and pd.get("x", 4) == 4
    assert list(pd.keys()) == ["b", "note", "w"] and [k for k, _ in pd.items()] == list(pd)
    assert pd["note"] == "text" and list(pd.values())[1] == "text"
    pd.update([("z", mt.ones(1)), ("c", mt.ones(2))])  # pairs keep their order
    assert list(pd) == ["b", "note", "w", "z", "c"]
    assert pd.pop("note") == "text" and list(pd.state_dict()) == ["b", "w", "z", "c"]
    key, value = pd.popitem()
    assert key == "c" and value.shape == (2,) and list(pd) == ["b", "w", "z"]
    assert pd.setdefault("w") is pd["w"] and pd.setdefault("s", mt.ones(4)).shape == (4,)
    assert list(reversed(pd)) == ["s", "z", "w", "b"]
    merged = pd | nn.ParameterDict(OrderedDict([("q", mt.ones(1))]))
    assert list(merged) == ["b", "w", "z", "s", "q"] and merged["b"] is pd["b"]
    pd |= {"r": mt.ones(1)}
    assert list(pd)[-1] == "r"
    del pd["r"]
    assert "r" not in pd and "r" not in dict(pd.named_parameters())
    assert list(pd.fromkeys(["x", "y"])) == ["x", "y"]
    pd.to(mt.float64)
    assert all(p.dtype == np.float64 for p in pd.parameters())
    pd.clear()
    assert len(pd) == 0 and list(pd.state_dict()) == []


def test_parameter_dict_errors():
    pd = nn.ParameterDict({"a": mt.ones(2)})
    with pytest.raises(KeyError, match=r"ParameterDict has no key 'b'; keys: \['a'\]"):
        pd["b"]
    with pytest.raises(AttributeError):  # what torch raises for a missing key
        pd["b"]
    with pytest.raises(KeyError):
        del pd["b"]
    with pytest.raises(TypeError, match=r"ParameterDict keys must be strings, got 0"):
        pd[0] = mt.ones(1)
    with pytest.raises(KeyError, match=r"contain \"\.\""):
        pd["x.y"] = mt.ones(1)
    with pytest.raises(KeyError, match=r"'training' is already an attribute"):
        pd["training"] = mt.ones(1)
    with pytest.raises(ValueError, match=r"element #1 has length 1; 2 is required"):
        pd.update([("q", mt.ones(1)), ("r",)])
    with pytest.raises(TypeError, match=r"update should be called with an iterable"):
        pd.update(3)
    with pytest.raises(RuntimeError, match=r"ParameterDict should not be called"):
        pd()
    assert list(pd) == ["a", "q"] and pd.training  # failed inserts leave no stray keys


# --------------------------------------------------------------------------- containers vs torch

# a random sequence of container operations, run on ours and on torch's
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 3), st.sampled_from(["f32", "f64", "obj"])),
        st.tuples(st.just("set"), st.integers(-4, 3), st.sampled_from(["f32", "f64", "none"])),
        st.tuples(st.just("extend"), st.integers(0, 2), st.sampled_from(["f32", "f64"])),
        st.tuples(st.just("del"), st.sampled_from("abcd"), st.just("")),
    ),
    max_size=8,
)


def _value(lib, kind, n):
    if kind == "obj":
        return n
    if kind == "none":
        return None
    dtype = {"f32": "float32", "f64": "float64"}[kind]
    return lib.tensor(np.arange(n + 1, dtype=dtype).reshape(-1))


def _run(lib, container, ops, as_dict):
    """Apply `ops`; return what happened: per op 'ok' or the exception type."""
    log = []
    for op, a, kind in ops:
        try:
            if as_dict:
                key = "abcd"[a % 4] if op != "del" else a
                if op == "del":
                    del container[key]
                elif op == "extend":
                    container.update([(key, _value(lib, kind, a)), ("e", _value(lib, kind, 1))])
                else:
                    container[key] = _value(lib, kind, a)
            elif op == "append":
                container.append(_value(lib, kind, a))
            elif op == "set":
                container[a] = _value(lib, kind, a)
            elif op == "extend":
                container.extend([_value(lib, kind, a)] * a)
            else:
                continue
            log.append("ok")
        except (IndexError, KeyError, TypeError, AttributeError) as e:
            log.append("KeyError" if isinstance(e, KeyError) else type(e).__name__)
    return log


@pytest.mark.parity
@pytest.mark.parametrize("as_dict", [False, True], ids=["ParameterList", "ParameterDict"])
@SETTINGS
@given(ops=_ops)
def test_parameter_containers_match_torch_under_the_same_operations(as_dict, ops):
    torch = pytest.importorskip("torch")
    name = "ParameterDict" if as_dict else "ParameterList"
    ours, theirs = getattr(nn, name)(), getattr(torch.nn, name)()
    log_o, log_t = _run(mt, ours, ops, as_dict), _run(torch, theirs, ops, as_dict)
    # torch raises AttributeError for a missing key, ours an error that is both
    assert [e.replace("AttributeError", "KeyError") for e in log_t] == log_o
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert len(ours) == len(theirs) and (not as_dict or list(ours) == list(theirs))
    ours.load_state_dict(theirs.state_dict())  # keys, shapes and dtypes line up


@pytest.mark.parity
def test_parameter_dict_construction_order_matches_torch():
    torch = pytest.importorskip("torch")
    for make in (dict, OrderedDict, list):
        items = [("z", np.ones(1)), ("a", np.ones(2)), ("m", np.ones(3))]
        ours = nn.ParameterDict(make([(k, mt.tensor(v)) for k, v in items]))
        theirs = torch.nn.ParameterDict(make([(k, torch.tensor(v)) for k, v in items]))
        assert list(ours) == list(theirs) and repr(ours) == repr(theirs)
