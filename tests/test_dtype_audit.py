"""Dtypes as PyTorch: what a systematic audit of every op against torch 2 on int64, int32, uint8,
bool, float16, float32 and float64 inputs (and mixed pairs) found wrong, and now holds.

Proved here:
- type promotion (`promote_types`, `result_type`, `can_cast`) equals torch's for every pair of
  dtypes and every rank (tensors with dims, 0-d tensors, Python numbers), and binary ops
  compute in that dtype: float16 + a float32 0-d tensor stays float16, int64 with float32 is
  float32 (NumPy: float64), uint8 + 300 wraps as in torch (NumPy refused it);
- the ops that silently gave wrong values now give torch's (clamp of an int tensor to 2.5, the
  regression losses of an int input, masked_fill of a 0-d float into ints, a bool alpha, the
  margin and embedding losses of uint8 input, int ** negative int, kl_div of a negative target),
  each against hand-computed values and torch;
- what PyTorch refuses and NumPy computed meaninglessly is refused by name (mse_loss of ints,
  affine_grid of an int theta, layer_norm of ints, a float64 batch through float32 norm
  weights), and every layer refuses an input of another dtype than its weights with an error
  that starts with the layer;
- float16 reductions and normalisations are computed in float32 as torch's CPU kernels (var,
  std, norm, cumsum, layer_norm, ... overflowed or lost all precision);
- div's rounding_mode, round's decimals and the //, %, ^ operators against loop references and
  torch, with float64 gradchecks (their gradient is 0).
Integer pooling, convolution and uint8 resizing (computed where torch's CPU computes them,
refused by name elsewhere) are proved in tests/functional/test_int_pooling.py.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import nn
from tests.strategies_core import (
    OURS,
    SETTINGS,
    Lib,
    arrays,
    check_grad,
    nonzero_arrays,
    positive_arrays,
    shapes,
)

DTYPES = ["int64", "int32", "uint8", "bool", "float16", "float32", "float64"]


def _torch_lib():
    """torch as a Lib whose F has torch.nn.functional's names and torch's (div, pow, ...)."""
    torch = pytest.importorskip("torch")

    class Both:
        def __getattr__(self, name):
            return getattr(torch.nn.functional, name, None) or getattr(torch, name)

    return torch, Lib(torch, Both())


def _operand(L, spec, seed=0):
    """A tensor from 'float32' (shape (2, 3)), '0:float32' (0-d), or a Python number as is."""
    if not isinstance(spec, str):
        return spec
    zero_d, name = spec.startswith("0:"), spec.removeprefix("0:")
    k = np.random.default_rng(seed).integers(1, 5, (2, 3))  # 1..4: safe divisors and bases
    a = (k > 2) if name == "bool" else (k + (0.25 if "float" in name else 0)).astype(name)
    a = a[0, 0] if zero_d else a
    return L.mt.tensor(np.array(a))


def _dtype(t):
    """A tensor's (or a torch dtype's) dtype name: 'float32'."""
    return str(getattr(t, "dtype", t)).replace("torch.", "")


def _close(ours, theirs, dtype):
    tol = {"float16": 2e-3, "float32": 1e-6, "float64": 1e-12}.get(str(dtype), 0)
    np.testing.assert_allclose(np.asarray(ours, np.float64), np.asarray(theirs, np.float64),
                               rtol=tol, atol=tol)  # fmt: skip


# --------------------------------------------------------------------------- type promotion

PROMOTION = [  # (a, b, torch's result dtype); "0:" marks a 0-d tensor
    ("int64", "float32", "float32"), ("int32", "float16", "float16"), ("bool", "uint8", "uint8"),
    ("uint8", "int32", "int32"), ("float16", "float32", "float32"),
    ("float16", "0:float32", "float16"), ("float32", "0:float64", "float32"),
    ("int32", "0:int64", "int32"), ("uint8", "0:int64", "uint8"), ("int64", "0:float64", "float64"),
    ("bool", "0:float64", "float64"), ("0:float64", "float32", "float32"),
    ("int32", 5, "int32"), ("int32", 2.5, "float32"), ("bool", 2, "int64"), ("bool", True, "bool"),
    ("float16", 2.5, "float16"), ("0:int64", 2.5, "float32"), ("uint8", 300, "uint8"),
]  # fmt: skip


@pytest.mark.parametrize("a, b, want", PROMOTION)
def test_result_type_follows_torch_categories_and_ranks(a, b, want):
    assert mt.result_type(_operand(OURS, a), _operand(OURS, b)) == np.dtype(want)


@pytest.mark.parity
def test_promotion_equals_torch_for_every_pair_and_rank():
    torch, _ = _torch_lib()
    names = DTYPES + ["int8", "int16"]
    for a in names:
        for b in names:
            ta, tb = getattr(torch, a), getattr(torch, b)
            assert str(mt.promote_types(a, b)) == _dtype(torch.promote_types(ta, tb)), (a, b)
            assert mt.can_cast(a, b) == torch.can_cast(ta, tb), (a, b)
            for sa in ((3,), ()):
                for other in [((3,), b), ((), b), 2, 2.5, True]:
                    x = np.zeros(sa, a)
                    ours = [mt.tensor(x)]
                    theirs = [torch.tensor(x)]
                    if isinstance(other, tuple):
                        y = np.zeros(*other)
                        ours.append(mt.tensor(y))
                        theirs.append(torch.tensor(y))
                    else:
                        ours.append(other)
                        theirs.append(other)
                    want = _dtype(torch.result_type(*theirs))
                    assert str(mt.result_type(*ours)) == want, (sa, a, other)


_MASK = [[True, False, True], [False, True, True]]
BINARY = {  # op(L, a, b) and the float64 reference of its values
    "add": (lambda L, a, b: a + b, np.add),
    "sub": (lambda L, a, b: a - b, np.subtract),
    "mul": (lambda L, a, b: a * b, np.multiply),
    "div": (lambda L, a, b: a / b, np.divide),
    "pow": (lambda L, a, b: L.mt.pow(a, b), np.power),
    "maximum": (lambda L, a, b: L.mt.maximum(a, b), np.maximum),
    "atan2": (lambda L, a, b: L.mt.atan2(a, b), np.arctan2),
    "fmod": (lambda L, a, b: L.mt.fmod(a, b), np.fmod),
    "remainder": (lambda L, a, b: L.mt.remainder(a, b), np.mod),
    "where": (lambda L, a, b: L.mt.where(L.mt.tensor(np.array(_MASK)), a, b),
              lambda a, b: np.where(_MASK, a, b)),
    "addcmul": (lambda L, a, b: L.mt.addcmul(a, b, b), lambda a, b: a + b * b),
    "clamp": (lambda L, a, b: L.mt.clamp(a, max=b), np.minimum),
}  # fmt: skip
PAIRS = [
    ("int64", "float32"), ("float32", "int64"), ("float16", "float32"), ("float32", "float64"),
    ("int32", "int64"), ("uint8", "int64"), ("int32", "float16"), ("float16", "0:float32"),
    ("float32", "0:float64"), ("int32", "0:int64"), ("uint8", "0:int64"), ("int64", "0:float64"),
    ("0:float64", "float32"), ("uint8", 300), ("int32", 2.5),
]  # fmt: skip


@pytest.mark.parametrize(
    "op, pair",
    [(op, p) for op in BINARY for p in PAIRS if op != "addcmul" or isinstance(p[1], str)],
    ids=str,
)  # (addcmul takes tensors only)
def test_binary_ops_compute_in_the_promoted_dtype(op, pair):
    fn, ref = BINARY[op]
    if op in ("fmod", "remainder", "pow") and isinstance(pair[1], int):
        pair = (pair[0], 3)  # (powers and remainders of 300 in uint8: their wrap is not tested)
    a, b = _operand(OURS, pair[0], 0), _operand(OURS, pair[1], 1)
    got = fn(OURS, a, b)
    want = mt.result_type(a, b)
    if op in ("div", "atan2") and want.kind != "f":
        want = mt.get_default_dtype()
    assert got.dtype == want
    a64, b64 = (np.asarray(t, np.float64) if isinstance(t, mt.Tensor) else t for t in (a, b))
    if isinstance(b64, int) and want.kind in "iu" and op != "clamp":  # an int the dtype cannot
        b64 = float(np.array(b64).astype(want))  # hold wraps (a clamp bound is taken as it is)
    expect = ref(a64, b64)
    if want.kind in "iu":
        expect = np.asarray(expect).astype(want)  # (integer overflow wraps, as in torch)
    _close(got.numpy(), expect, want)
    try:
        torch, TL = _torch_lib()
    except pytest.skip.Exception:
        return
    if not isinstance(b, mt.Tensor) and op not in ("add", "sub", "mul", "div", "clamp"):
        return  # torch.maximum, atan2, ... take tensors only
    if pair == ("uint8", 300) and op == "clamp":
        return  # torch refuses a bound beyond uint8 ("cannot be converted without overflow")
    theirs = fn(TL, *(torch.tensor(np.asarray(t)) if isinstance(t, mt.Tensor) else t
                      for t in (a, b)))  # fmt: skip
    assert str(got.dtype) == _dtype(theirs)
    _close(got.numpy(), theirs.numpy(), want)


def test_cat_and_stack_promote_as_torch():
    a, b = mt.tensor([1, 2]), mt.tensor(np.array([0.5, 1.5], np.float32))
    for out in (mt.cat([a, b]), mt.stack([a, b]), mt.hstack([a, b]), mt.cat([b.half(), a])):
        assert out.dtype in (mt.float32, mt.float16)  # NumPy's concatenate: float64
    assert mt.cat([a, b]).dtype == mt.float32 and mt.cat([b.half(), a]).dtype == mt.float16
    np.testing.assert_array_equal(mt.stack([a, b]).numpy(), [[1, 2], [0.5, 1.5]])


# --------------------------------------------------------------------------- silent wrong values

I64, F32, U8 = np.int64, np.float32, np.uint8
FIXED = {  # name: (fn(L, *tensors), input arrays, expected values, expected dtype)
    "clamp of ints to float bounds": (lambda L, x: L.mt.clamp(x, -1.5, 2.5),
                                      [np.array([-3, 0, 3])], [-1.5, 0, 2.5], "float32"),
    "clamp of uint8 to an int64 tensor": (lambda L, x, hi: L.mt.clamp(x, max=hi),
                                          [np.array([0, 5], U8), np.array([-3, 7])], [-3, 5],
                                          "int64"),
    "clamp of bools": (lambda L, x: L.mt.clamp(x, 0, 2), [np.array([True, False])], [1, 0],
                       "int64"),
    "hardtanh of ints": (lambda L, x: L.F.hardtanh(x, -1.5, 1.5), [np.array([-3, 0, 2])],
                         [-1, 0, 1], "int64"),
    "relu6 of ints": (lambda L, x: L.F.relu6(x), [np.array([-3, 4, 9])], [0, 4, 6], "int64"),
    "mse_loss of int input": (lambda L, x, y: L.F.mse_loss(x, y),
                              [np.array([1, 2]), np.array([0.5, 0.5], F32)], 1.25, "float32"),
    "l1_loss of int input": (lambda L, x, y: L.F.l1_loss(x, y),
                             [np.array([1, 2]), np.array([0.5, 0.5], F32)], 1.0, "float32"),
    "smooth_l1_loss of int input": (lambda L, x, y: L.F.smooth_l1_loss(x, y),
                                    [np.array([1, 2]), np.array([0.5, 0.5], F32)], 0.5625,
                                    "float32"),
    "mse_loss of float32 and float64": (lambda L, x, y: L.F.mse_loss(x, y),
                                        [np.array([1, 2], F32), np.array([0.5, 0.5])], 1.25,
                                        "float64"),
    "huber_loss keeps the input's dtype": (lambda L, x, y: L.F.huber_loss(x, y),
                                           [np.array([1, 2], F32), np.array([0.5, 0.5])], 0.5625,
                                           "float32"),
    "masked_fill of a 0-d float into ints": (
        lambda L, x, v: L.mt.masked_fill(x, L.mt.tensor(np.array([True, False, True])), v),
        [np.array([1, 2, 3]), np.array(2.75, F32)], [2, 2, 2], "int64"),
    "add with alpha of bools": (lambda L, x, y: L.F.add(x, y, alpha=2),
                                [np.array([False, False]), np.array([True, False])],
                                [True, False], "bool"),
    "cosine_embedding_loss of uint8": (
        lambda L, x, y: L.F.cosine_embedding_loss(x, y, L.mt.tensor(np.array([1, -1]))),
        [np.array([[2, 1, 0], [2, 1, 3]], U8), np.array([[3, 2, 1], [3, 2, 4]], U8)],
        (1 - 8 / math.sqrt(5 * 14) + 20 / math.sqrt(14 * 29)) / 2, "float32"),
    "hinge_embedding_loss of uint8": (
        lambda L, x: L.F.hinge_embedding_loss(x, L.mt.tensor(np.array([1, -1]))),
        [np.array([1, 3], U8)], 0.5, "float32"),
    "kl_div of a negative target": (lambda L, x, t: L.F.kl_div(x, t, reduction="none"),
                                    [np.array([-1.0, -2.0]), np.array([0.5, -0.5])],
                                    [0.5 * math.log(0.5) + 0.5, math.nan], "float64"),
    "pow of bools": (lambda L, x: x**2, [np.array([True, False])], [1, 0], "int64"),
    "square of bools": (lambda L, x: x.square(), [np.array([True, False])], [1, 0], "int64"),
    "int ** negative ints": (lambda L, x, e: L.mt.pow(x, e),
                             [np.array([2, 1, -1, -1, 0, 3]), np.array([-1, -3, -1, -2, -1, 2])],
                             [0, 1, -1, 1, 0, 9], "int64"),
    "2 ** an int tensor": (lambda L, e: 2**e, [np.array([-1, 0, 3])], [0, 1, 8], "int64"),
    "uint8 + 300": (lambda L, x: x + 300, [np.array([1, 2], U8)], [45, 46], "uint8"),
    "sum of uint8": (lambda L, x: x.sum(), [np.array([255, 255], U8)], 510, "int64"),
    "prod of uint8": (lambda L, x: x.prod(), [np.array([16, 16], U8)], 256, "int64"),
    "int32 & a 0-d int64": (lambda L, x, y: x & y, [np.array([6, 7], np.int32), np.array(3)],
                            [2, 3], "int32"),
    "maximum of float16 and a 0-d float32": (lambda L, x, y: L.mt.maximum(x, y),
                                             [np.array([1, 3], np.float16),
                                              np.array(2.0, F32)], [2, 3], "float16"),
}  # fmt: skip


@pytest.mark.parametrize("name", FIXED)
def test_fixed_ops_give_torchs_values_and_dtype(name):
    fn, inputs, want, dtype = FIXED[name]
    got = fn(OURS, *(mt.tensor(a) for a in inputs))
    assert str(got.dtype) == dtype
    np.testing.assert_allclose(got.numpy().astype(np.float64), want, rtol=1e-6)


@pytest.mark.parity
@pytest.mark.parametrize("name", [n for n in FIXED if n != "hinge_embedding_loss of uint8"])
def test_fixed_ops_as_torch(name):  # (torch refuses a uint8 hinge_embedding_loss: mean of uint8)
    torch, TL = _torch_lib()
    fn, inputs, _, dtype = FIXED[name]
    got = fn(OURS, *(mt.tensor(a) for a in inputs))
    theirs = fn(TL, *(torch.tensor(a) for a in inputs))
    assert _dtype(theirs) == dtype == str(got.dtype)
    np.testing.assert_allclose(got.numpy().astype(np.float64), theirs.numpy().astype(np.float64),
                               rtol=1e-6)  # fmt: skip


def test_margin_ranking_loss_of_uint8_is_computed_in_floats():
    # torch subtracts uint8 in uint8 (1 - 2 wraps to 255); the loss here is the real one
    x1, x2 = mt.tensor(np.array([1, 3], U8)), mt.tensor(np.array([2, 1], U8))
    y = mt.tensor(np.array([1, -1]))
    got = F.margin_ranking_loss(x1, x2, y)
    assert got.dtype == mt.float32 and got.item() == pytest.approx((1 + 2) / 2)


def test_in_place_ops_on_integers_wrap_as_torch():
    x = mt.tensor(np.array([250, 1], U8))
    x += mt.tensor(np.array([10, -2]))  # int64 into uint8: torch computes and wraps
    assert x.dtype == mt.uint8 and x.tolist() == [4, 255]
    x.mul_(300)
    assert x.tolist() == [(4 * 300) % 256, (255 * 300) % 256]
    with pytest.raises(TypeError, match="^add_: cannot update a tensor of dtype int64"):
        mt.tensor([1, 2]).add_(0.5)  # a float result does not cast into ints (torch refuses)
    y = mt.tensor(np.array([1, 2], U8))
    y.addcmul_(mt.tensor([3, 4]), mt.tensor([1, 1]))
    assert y.dtype == mt.uint8 and y.tolist() == [4, 6]


# --------------------------------------------------------------------------- refused by name

REFUSED = {  # name: (fn(L, *tensors), inputs, error type, message start)
    "mse_loss": (lambda L, x: L.F.mse_loss(x, x), [np.array([1, 2])], TypeError,
                 "mse_loss: expected a floating point input or target"),
    "l1_loss": (lambda L, x: L.F.l1_loss(x, x), [np.array([1, 2])], TypeError, "l1_loss:"),
    "smooth_l1_loss": (lambda L, x: L.F.smooth_l1_loss(x, x), [np.array([1, 2])], TypeError,
                       "smooth_l1_loss:"),
    "binary_cross_entropy": (lambda L, x: L.F.binary_cross_entropy(x, x), [np.array([0, 1])],
                             TypeError, "binary_cross_entropy: expected a floating point input"),
    "binary_cross_entropy_with_logits": (
        lambda L, x: L.F.binary_cross_entropy_with_logits(x, x.float()), [np.array([0, 1])],
        TypeError, "binary_cross_entropy_with_logits: expected a floating point input"),
    "affine_grid": (lambda L, t: L.F.affine_grid(t, (1, 1, 2, 2), align_corners=False),
                    [np.array([[[1, 0, 0], [0, 1, 0]]])], (TypeError, ValueError),
                    "affine_grid: expected a floating point theta"),
    "layer_norm of ints": (lambda L, x: L.F.layer_norm(x, (2,)), [np.array([[1, 2]])],
                           TypeError, "layer_norm: expected a floating point input"),
    "group_norm of ints": (lambda L, x: L.F.group_norm(x, 1), [np.array([[1, 2], [3, 5]])],
                           TypeError, "group_norm: expected a floating point input"),
    "layer_norm of float64 with float32 weight": (
        lambda L, x, w: L.F.layer_norm(x, (2,), w), [np.array([[1.0, 2.0]]), np.ones(2, F32)],
        TypeError, "layer_norm: weight has dtype float32 but the input"),
    "batch_norm of float64 with float32 stats": (
        lambda L, x, s: L.F.batch_norm(x, s, s), [np.array([[1.0, 2.0]]), np.ones(2, F32)],
        TypeError, "batch_norm: running_mean has dtype float32"),
    "local_response_norm of ints": (lambda L, x: L.F.local_response_norm(x, 2),
                                    [np.ones((1, 2, 2), np.int32)], TypeError,
                                    "local_response_norm: expected a floating point input"),
    "prelu of ints": (lambda L, x, w: L.F.prelu(x, w), [np.array([-2, 3]), np.array([1])],
                      TypeError, "prelu: expected a floating point input"),
    "prelu of mixed dtypes": (lambda L, x, w: L.F.prelu(x, w),
                              [np.array([-2.0, 3.0]), np.array([0.25], F32)], TypeError,
                              "prelu: weight of dtype float32"),
    "hardtanh of bools": (lambda L, x: L.F.hardtanh(x), [np.array([True])], TypeError,
                          "hardtanh: bool tensors"),
    "hardtanh of uint8 with a negative limit": (lambda L, x: L.F.hardtanh(x), [np.array([1], U8)],
                                                TypeError, "hardtanh: limits (-1.0, 1.0)"),
    "relu of bools": (lambda L, x: L.F.relu(x), [np.array([True])], TypeError, "relu: bool"),
    "add with a float alpha on ints": (lambda L, x: L.F.add(x, x, alpha=0.5), [np.array([1])],
                                       TypeError, "add: alpha must be an integer"),
    "int ** a negative number": (lambda L, x: L.mt.pow(x, -1), [np.array([2])],
                                 (ValueError, RuntimeError), "pow: integers to negative integer"),
    "cosine_similarity of ints": (lambda L, x: L.F.cosine_similarity(x, x), [np.array([[1, 2]])],
                                  TypeError, "cosine_similarity: expected a floating point"),
    "sigmoid_focal_loss of ints": (lambda L, x: F.sigmoid_focal_loss(x, x.float()),
                                   [np.array([0, 1])], TypeError, "sigmoid_focal_loss:"),
}  # fmt: skip


@pytest.mark.parametrize("name", REFUSED)
def test_meaningless_integer_or_mixed_input_is_refused_by_name(name):
    fn, inputs, error, start = REFUSED[name]
    with pytest.raises(error) as e:
        fn(OURS, *(mt.tensor(a) for a in inputs))
    assert str(e.value).startswith(start)


@pytest.mark.parity
@pytest.mark.parametrize("name", [n for n in REFUSED if n != "sigmoid_focal_loss of ints"])
def test_torch_refuses_them_too(name):
    torch, TL = _torch_lib()
    fn, inputs, _, _ = REFUSED[name]
    with pytest.raises(Exception):  # noqa: B017  (torch's types vary: RuntimeError, ValueError)
        fn(TL, *(torch.tensor(a) for a in inputs))


# --------------------------------------------------------------------------- layers

LAYERS = {  # name: (layer factory on a namespace `nn`, input shape, number of inputs)
    "Conv2d": (lambda nn: nn.Conv2d(3, 4, 3), (1, 3, 4, 4), 1),
    "ConvTranspose2d": (lambda nn: nn.ConvTranspose2d(3, 4, 3), (1, 3, 4, 4), 1),
    "Linear": (lambda nn: nn.Linear(4, 2), (2, 4), 1),
    "Bilinear": (lambda nn: nn.Bilinear(4, 4, 2), (2, 4), 2),
    "BatchNorm2d": (lambda nn: nn.BatchNorm2d(3), (2, 3, 2, 2), 1),
    "GroupNorm": (lambda nn: nn.GroupNorm(1, 3), (2, 3, 2, 2), 1),
    "LayerNorm": (lambda nn: nn.LayerNorm(4), (2, 4), 1),
    "InstanceNorm2d": (lambda nn: nn.InstanceNorm2d(3, affine=True), (2, 3, 2, 2), 1),
    "PReLU": (lambda nn: nn.PReLU(), (2, 4), 1),
    "MultiheadAttention": (lambda nn: nn.MultiheadAttention(4, 2, batch_first=True), (1, 2, 4), 3),
    "LSTM": (lambda nn: nn.LSTM(4, 3, batch_first=True), (1, 2, 4), 1),
}


@pytest.mark.parametrize("dtype", ["int64", "float64", "float16"])
@pytest.mark.parametrize("name", LAYERS)
def test_layers_refuse_an_input_of_another_dtype_naming_the_layer(name, dtype):
    make, shape, n = LAYERS[name]
    layer = make(nn)
    x = mt.tensor(np.ones(shape, dtype))
    if dtype == "float16" and name in ("BatchNorm2d", "GroupNorm", "LayerNorm", "InstanceNorm2d"):
        # PyTorch's CPU mixed mode: float16 input through float32 norm weights, float16 out
        y = layer(x)
        assert y.dtype == mt.float16 and bool(mt.isfinite(y).all())
        return
    with pytest.raises((TypeError, ValueError)) as e:
        layer(*[x] * n)
    msg = str(e.value)
    assert msg.startswith(name + "(") and dtype in msg, msg


@pytest.mark.parity
@pytest.mark.parametrize("name", LAYERS)
def test_torch_layers_refuse_float64_input_to_float32_weights(name):
    torch = pytest.importorskip("torch")
    make, shape, n = LAYERS[name]
    with pytest.raises((RuntimeError, ValueError)):
        make(torch.nn)(*[torch.ones(shape, dtype=torch.float64)] * n)


# --------------------------------------------------------------------------- float16 in float32

_r = np.random.default_rng(0)
_LARGE = (_r.standard_normal((2, 64)) * 100 + 300).astype(np.float16)  # squares overflow
_RUN = _r.random((2, 4096)).astype(np.float16)  # a running sum stops growing in float16
_IMG = (_r.standard_normal((1, 4, 8, 8)) * 100 + 300).astype(np.float16)
HALF = {  # name: (fn(L, x), float16 input)
    "var": (lambda L, x: x.var(-1), _LARGE),
    "std": (lambda L, x: x.std(-1), _LARGE),
    "norm": (lambda L, x: x.norm(dim=-1), _LARGE),
    "normalize": (lambda L, x: L.F.normalize(x, dim=-1), _LARGE),
    "cosine_similarity": (lambda L, x: L.F.cosine_similarity(x, x.flip(-1), dim=-1), _LARGE),
    "pairwise_distance": (lambda L, x: L.F.pairwise_distance(x, -x), _LARGE),
    "cumsum": (lambda L, x: x.cumsum(-1), _RUN),
    "logcumsumexp": (lambda L, x: L.mt.logcumsumexp(x, -1), _RUN),
    "layer_norm": (lambda L, x: L.F.layer_norm(x, (64,)), _LARGE),
    "group_norm": (lambda L, x: L.F.group_norm(x, 2), _IMG),
    "gelu": (lambda L, x: L.F.gelu(x), np.array([-5.0, -4.0, -3.0, 0.5, 3.0], np.float16)),
    "mse_loss": (lambda L, x: L.F.mse_loss(x, x - 200), _LARGE),
}


@pytest.mark.parametrize("name", HALF)
def test_float16_reductions_are_computed_in_float32(name):
    fn, a = HALF[name]
    got = fn(OURS, mt.tensor(a))
    want = fn(OURS, mt.tensor(a.astype(np.float32))).numpy().astype(np.float16)  # rounded once
    assert got.dtype == mt.float16 and np.isfinite(got.numpy()).all()
    np.testing.assert_allclose(got.numpy().astype(np.float64), want, rtol=2e-3, atol=1e-6)


@pytest.mark.parity
@pytest.mark.parametrize("name", HALF)
def test_float16_reductions_as_torch(name):
    torch, TL = _torch_lib()
    fn, a = HALF[name]
    got, theirs = fn(OURS, mt.tensor(a)), fn(TL, torch.tensor(a))
    assert _dtype(theirs) == "float16"
    np.testing.assert_allclose(got.numpy().astype(np.float64), theirs.numpy().astype(np.float64),
                               rtol=2e-3, atol=1e-6)  # fmt: skip


def test_float16_gradient_through_float32_stays_float16():
    x = mt.tensor(_LARGE, requires_grad=True)
    x.std(-1).sum().backward()
    x32 = mt.tensor(_LARGE.astype(np.float32), requires_grad=True)
    x32.std(-1).sum().backward()
    assert x.grad.dtype == mt.float16
    np.testing.assert_allclose(x.grad.numpy(), x32.grad.numpy(), rtol=1e-2, atol=1e-5)


# --------------------------------------------------------------------------- div, round, operators


def _trunc_div(a, b):
    """Python ints: the quotient rounded toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


@given(a=st.lists(st.integers(-50, 50), min_size=1, max_size=8), b=st.integers(-7, 7),
       dtype=st.sampled_from(["int64", "int32", "float32", "float64"]))  # fmt: skip
@SETTINGS
def test_div_rounding_modes_match_a_loop_reference(a, b, dtype):
    assume(b != 0)
    x, y = mt.tensor(np.array(a, dtype)), mt.tensor(np.array([b] * len(a), dtype))
    floor, trunc = F.div(x, y, rounding_mode="floor"), F.div(x, y, rounding_mode="trunc")
    assert floor.dtype == trunc.dtype == np.dtype(dtype)
    assert floor.tolist() == [ai // b for ai in a] == (x // y).tolist() == (x // b).tolist()
    assert trunc.tolist() == [_trunc_div(ai, b) for ai in a]
    assert (x % y).tolist() == [ai % b for ai in a]


@pytest.mark.parity
def test_div_rounding_modes_and_operators_as_torch():
    torch = pytest.importorskip("torch")
    a = np.array([-7.5, -7, -1, 0, 1, 7, 7.5, 3])
    b = np.array([2, -2, 3, -3, 0.5, 2, -0.25, 0])
    for dt in ("float32", "float64", "float16"):
        x, y = a.astype(dt), b.astype(dt)
        for mode in ("floor", "trunc"):
            got = F.div(mt.tensor(x), mt.tensor(y), rounding_mode=mode).numpy()
            np.testing.assert_array_equal(got, torch.div(torch.tensor(x), torch.tensor(y),
                                                         rounding_mode=mode).numpy())  # fmt: skip
    x, y = np.array([-7, 7, 5, -5]), np.array([2, -3, 5, 2])
    for op in (lambda p, q: p // q, lambda p, q: p % q, lambda p, q: 7 // q, lambda p, q: p ^ q,
               lambda p, q: p // 2.5):  # fmt: skip
        got, theirs = op(mt.tensor(x), mt.tensor(y)), op(torch.tensor(x), torch.tensor(y))
        assert str(got.dtype) == _dtype(theirs)
        np.testing.assert_array_equal(got.numpy(), theirs.numpy())


def test_div_rounding_mode_errors():
    x = mt.tensor([1, 2])
    with pytest.raises(RuntimeError, match="^div: ZeroDivisionError"):
        F.div(x, mt.tensor([0, 1]), rounding_mode="floor")
    with pytest.raises(TypeError, match="^div: rounding_mode='trunc' is not defined for bool"):
        F.div(x > 1, x > 0, rounding_mode="trunc")
    with pytest.raises(ValueError, match="^div: rounding_mode must be None, 'trunc' or 'floor'"):
        F.div(x, x, rounding_mode="round")


@given(shape=shapes(0, 2), data=st.data(), mode=st.sampled_from(["floor", "trunc"]))
@SETTINGS
def test_div_rounding_gradcheck_float64(shape, data, mode):
    a, b = data.draw(arrays(shape)), data.draw(nonzero_arrays(shape))
    q = a / b
    assume(np.all(np.abs(q - np.round(q)) > 1e-3))  # away from the jumps
    check_grad(lambda L, x, y: L.F.div(x, y, rounding_mode=mode), [a, b])


@given(a=arrays(shapes(0, 2), -30.0, 30.0), decimals=st.integers(-1, 3))
@SETTINGS
def test_round_decimals_matches_the_rint_reference_and_its_gradient_is_zero(a, decimals):
    got = F.round(mt.tensor(a), decimals=decimals).numpy()
    ten = 10.0 ** abs(decimals)
    want = np.rint(a * ten) / ten if decimals >= 0 else np.rint(a / ten) * ten
    np.testing.assert_array_equal(got, want)
    scaled = a * 10.0**decimals
    assume(np.all(np.abs(scaled - np.floor(scaled) - 0.5) > 1e-3))  # away from the jumps
    check_grad(lambda L, x: L.F.round(x, decimals=decimals), [a])


@pytest.mark.parity
def test_round_decimals_as_torch():
    torch = pytest.importorskip("torch")
    x = np.array([1.2345, 2.5, -0.125, 15, 25, 35, 1e-3, -2.675])
    for dt in ("float16", "float32", "float64"):
        for d in (-1, 1, 2, 3):
            np.testing.assert_array_equal(
                F.round(mt.tensor(x.astype(dt)), decimals=d).numpy(),
                torch.round(torch.tensor(x.astype(dt)), decimals=d).numpy(),
            )


@given(n=st.integers(1, 4), d=st.integers(1, 4), data=st.data())
@SETTINGS
def test_cosine_similarity_broadcasts_and_gradcheck_float64(n, d, data):
    a, b = data.draw(positive_arrays((n, d))), data.draw(positive_arrays((d,)))
    check_grad(lambda L, x, y: L.F.cosine_similarity(x, y, dim=-1), [a, b])
    got = F.cosine_similarity(mt.tensor(a), mt.tensor(b), dim=-1).numpy()
    want = [sum(p * q for p, q in zip(row, b)) / math.hypot(*row) / math.hypot(*b) for row in a]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@given(data=st.data())
@SETTINGS
def test_clamp_to_a_tensor_of_another_float_dtype_gradcheck_float64(data):
    a = data.draw(arrays((3, 2)))
    hi = data.draw(arrays((2,))).astype(np.float32)
    assume(np.all(np.abs(a - hi) > 1e-3))  # no value at its bound (a kink)
    y = mt.clamp(mt.tensor(a), max=mt.tensor(hi))
    assert y.dtype == mt.float64
    check_grad(lambda L, x: L.mt.clamp(x, max=L.mt.tensor(hi)), [a])


def test_tensor_api_additions():
    x = mt.tensor([[1, 0], [1, 1]])
    assert x.half().dtype == mt.float16
    assert x.all(1).tolist() == [False, True] and x.any(0, keepdim=True).tolist() == [[True, True]]
    assert mt.all(x, 0).tolist() == [True, False] and mt.any(x).item() is True
    assert x.sum(dtype=mt.float64).dtype == mt.float64 and x.mean(dtype=mt.float32).item() == 0.75
    assert x.cumsum(0, dtype=mt.float32).dtype == mt.float32
    assert F.prod(x, dtype=mt.float64).dtype == mt.float64
    with pytest.raises(IndexError, match="^all: dim 2 out of range"):
        x.all(2)


def test_promotion_fast_paths_keep_torch_dtypes():
    # _promote's shortcuts (same-dtype tensors, float tensor with a Python number) must give what
    # result_type gives: np.float64 subclasses float, int tensors still divide into floats
    x = mt.ones(3)
    assert (x * np.float64(2.0)).dtype == mt.float32
    assert (np.float64(2.0) + x).dtype == mt.float32
    assert (x + True).dtype == mt.float32 and (x * 2).dtype == mt.float32
    i = mt.tensor([1, 2, 3])
    assert (i / i).dtype == mt.float32 and (i // i).dtype == mt.int64
    assert (i + i).dtype == mt.int64 and (i * 2.5).dtype == mt.float32
    with pytest.raises(ValueError, match=r"add: shapes \(3,\) and \(2,\)"):
        x + mt.ones(2)
