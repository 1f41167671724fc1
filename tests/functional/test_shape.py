"""Shape ops and indexing: gradients vs central differences over drawn shapes and arguments,
parity with torch, the scatter-add of repeated integer indices, and errors naming op and shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from tests.strategies_core import SETTINGS, arrays, check_grad, check_parity, shapes

# Each case draws (fn(lib, *tensors), [arrays]); the same pair feeds gradcheck and torch parity.


@st.composite
def reshape_case(draw):
    shape = draw(shapes())
    n = int(np.prod(shape))
    target = draw(
        st.sampled_from([(-1,), (n, 1), (1, *shape[::-1]), (-1, shape[-1] if shape else 1)])
    )
    view = draw(st.booleans())
    return (lambda L, a: a.view(*target) if view else a.reshape(target)), [draw(arrays(shape))]


@st.composite
def flatten_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=4, max_side=3))
    s = draw(st.integers(0, len(shape) - 1))
    e = draw(st.integers(s, len(shape) - 1)) - len(shape) * draw(st.booleans())  # maybe negative
    return (lambda L, a: a.flatten(s, e)), [draw(arrays(shape))]


@st.composite
def permute_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=4, max_side=3))
    perm = draw(st.permutations(range(len(shape))))
    return (lambda L, a: a.permute(*perm)), [draw(arrays(shape))]


@st.composite
def transpose_case(draw):
    shape = draw(shapes(min_dims=1))
    d0, d1 = (draw(st.integers(-len(shape), len(shape) - 1)) for _ in range(2))
    return (lambda L, a: a.transpose(d0, d1)), [draw(arrays(shape))]


@st.composite
def squeeze_case(draw):
    shape = draw(shapes(min_dims=1, max_side=2))  # side 2 at most: plenty of unit dims
    dim = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    return (lambda L, a: a.squeeze() if dim is None else a.squeeze(dim)), [draw(arrays(shape))]


@st.composite
def unsqueeze_case(draw):
    shape = draw(shapes())
    dim = draw(st.integers(-len(shape) - 1, len(shape)))
    return (lambda L, a: a.unsqueeze(dim)), [draw(arrays(shape))]


@st.composite
def expand_case(draw):
    shape = draw(shapes(max_side=1))  # all ones: every dim can grow
    grown = [draw(st.integers(1, 3)) for _ in shape]
    sizes = [g if draw(st.booleans()) else -1 for g in grown]  # -1 keeps a dim
    lead = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))]
    return (lambda L, a: a.expand((*lead, *sizes))), [draw(arrays(shape))]


@st.composite
def repeat_case(draw):
    shape = draw(shapes(max_side=3))
    reps = [draw(st.integers(1, 3)) for _ in range(len(shape) + draw(st.integers(0, 1)))]
    return (lambda L, a: a.repeat(tuple(reps))), [draw(arrays(shape))]


@st.composite
def slice_case(draw):
    """Basic indexing: an int, a slice (any sign of start/stop, positive step) or None per dim,
    maybe with a leading Ellipsis."""
    shape = draw(shapes(min_dims=1, max_side=5))
    key = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "slice", "none"]))
        if kind == "int":
            key.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            lo, hi = draw(st.integers(-n, n)), draw(st.integers(-n, n))
            key.append(slice(lo, hi, draw(st.integers(1, 3))))
        else:
            key += [None, slice(None)]
    key = (Ellipsis, *key[1:]) if draw(st.booleans()) else tuple(key)
    return (lambda L, a: a[key]), [draw(arrays(shape))]


@st.composite
def fancy_index_case(draw):
    """Integer-array indexing with repeated (and negative) indices, alone, after a slice, or as
    a pair of arrays; the gradient must add up over repeats."""
    shape = draw(shapes(min_dims=2, max_side=4))
    n0, n1 = shape[0], shape[1]
    i = draw(st.lists(st.integers(-n0, n0 - 1), min_size=1, max_size=6))
    j = draw(st.lists(st.integers(-n1, n1 - 1), min_size=len(i), max_size=len(i)))
    kind = draw(st.sampled_from(["first", "second", "pair", "list"]))
    ii, jj = np.array(i), np.array(j)

    def fn(L, a):
        if kind == "first":
            return a[L.mt.tensor(ii)]
        if kind == "second":
            return a[:, L.mt.tensor(jj)]
        if kind == "pair":
            return a[L.mt.tensor(ii), L.mt.tensor(jj)]
        return a[list(i)]

    return fn, [draw(arrays(shape))]


@st.composite
def mask_case(draw):
    shape = draw(shapes(min_dims=1))
    return (lambda L, a: a[a > 0]), [draw(arrays(shape))]


@st.composite
def cat_case(draw):
    shape = list(draw(shapes(min_dims=1)))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    xs = []
    for _ in range(draw(st.integers(1, 3))):
        shape[dim] = draw(st.integers(1, 3))
        xs.append(draw(arrays(tuple(shape))))
    return (lambda L, *t: L.mt.cat(list(t), dim=dim)), xs


@st.composite
def stack_case(draw):
    shape = draw(shapes())
    dim = draw(st.integers(-len(shape) - 1, len(shape)))
    xs = [draw(arrays(shape)) for _ in range(draw(st.integers(1, 3)))]
    return (lambda L, *t: L.mt.stack(list(t), dim=dim)), xs


@st.composite
def split_case(draw):
    shape = draw(shapes(min_dims=1, max_side=5))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    size = draw(st.integers(1, 3))
    chunks = draw(st.booleans())

    def fn(L, a):
        parts = a.chunk(size, dim) if chunks else a.split(size, dim)
        return L.mt.cat([p * (k + 1) for k, p in enumerate(parts)], dim=dim)  # weight each piece

    return fn, [draw(arrays(shape))]


@st.composite
def pad_case(draw):
    """F.pad in every mode; PyTorch's non-constant modes need a (N, C, *) input and pad only the
    spatial dims (reflect: pad < size; circular: pad <= size)."""
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    spatial = draw(st.integers(1, 2))
    shape = (2, 2) + tuple(draw(st.integers(2, 4)) for _ in range(spatial))
    pad = []
    for n in shape[::-1][:spatial]:
        most = n - 1 if mode == "reflect" else n
        lo, hi = draw(st.integers(-1, most)), draw(st.integers(-1, most))  # negative: crops
        kept = n - max(-lo, 0) - max(-hi, 0)
        if mode == "circular" and max(lo, hi) > kept:  # torch itself fails on wrapping twice
            lo, hi = max(lo, 0), max(hi, 0)
        pad += [lo, hi]
    value = draw(st.sampled_from([0.0, 1.5]))

    def fn(L, a):
        return (
            L.F.pad(a, pad, mode=mode, value=value)
            if mode == "constant"
            else L.F.pad(a, pad, mode=mode)
        )

    return fn, [draw(arrays(shape))]


CASES = {
    "reshape": reshape_case,
    "flatten": flatten_case,
    "permute": permute_case,
    "transpose": transpose_case,
    "squeeze": squeeze_case,
    "unsqueeze": unsqueeze_case,
    "expand": expand_case,
    "repeat": repeat_case,
    "slice": slice_case,
    "fancy_index": fancy_index_case,
    "mask": mask_case,
    "cat": cat_case,
    "stack": stack_case,
    "split": split_case,
    "pad": pad_case,
}


@pytest.mark.parametrize("name", CASES)
@SETTINGS
@given(data=st.data())
def test_shape_op_gradcheck(name, data):
    fn, xs = data.draw(CASES[name]())
    check_grad(fn, xs)


@pytest.mark.parity
@pytest.mark.parametrize("name", CASES)
@SETTINGS
@given(data=st.data())
def test_shape_op_matches_torch(name, data):
    torch = pytest.importorskip("torch")
    fn, xs = data.draw(CASES[name]())
    check_parity(torch, fn, xs)


def test_repeated_indices_add_their_gradients():
    x = mt.zeros(4, requires_grad=True)
    x[mt.tensor([0, 2, 0, 0, -1])].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0, 1.0]


def test_negative_step_slices_have_gradients():
    x = mt.arange(6, dtype=mt.float64).reshape(2, 3).requires_grad_()
    y = x[::-1, ::-2]
    assert y.tolist() == [[5.0, 3.0], [2.0, 0.0]]
    assert mt.gradcheck(lambda t: t[::-1, ::-2], [x])


def test_views_share_memory_and_do_not_copy():
    x = mt.randn(3, 4)
    assert np.shares_memory(x.reshape(4, 3).data, x.data)
    assert np.shares_memory(x[1:, ::2].data, x.data)
    assert np.shares_memory(x.permute(1, 0).data, x.data)
    assert np.shares_memory(x.unsqueeze(0).expand(5, 3, 4).data, x.data)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda x: x.reshape(5, -1),
            r"reshape: shape \(2, 3\) \(6 elements\) cannot become \(5, -1\)",
        ),
        (lambda x: x.view(-1, -1), r"reshape: .*cannot become \(-1, -1\)"),
        (lambda x: x.permute(0, 0), r"permute: dims \(0, 0\) are not a permutation"),
        (lambda x: x.transpose(0, 2), r"transpose: dim 2 out of range"),
        (lambda x: x.expand(4, 3), r"expand: cannot expand shape \(2, 3\) to \(4, 3\)"),
        (lambda x: x.expand(3), r"expand: cannot expand shape \(2, 3\) to \(3,\)"),
        (lambda x: x.flatten(1, 0), r"flatten: start_dim 1 comes after end_dim 0"),
        (
            lambda x: mt.cat([x, mt.ones(3, 3)], dim=1),
            r"cat: shapes \[\(2, 3\), \(3, 3\)\] differ outside dim 1",
        ),
        (lambda x: mt.stack([x, mt.ones(3, 2)]), r"stack: all tensors must have the same shape"),
        (lambda x: mt.functional.pad(x, [1, 1, 1]), r"pad: padding \[1, 1, 1\] must be pairs"),
        (lambda x: mt.functional.pad(x, [3, 0], mode="reflect"), r"pad: reflect padding \(3, 0\)"),
        (lambda x: mt.functional.pad(x, [1, 0], mode="edge"), r"pad: unknown mode 'edge'"),
        (lambda x: mt.functional.pad(x, [-4, 1]), r"pad: padding \(-4, 1\) crops more than dim 1"),
        (
            lambda x: mt.functional.pad(x, [-3, 1], mode="circular"),
            r"pad: circular padding \(-3, 1\) crops dim 1 of \(2, 3\) to nothing to wrap",
        ),
        (lambda x: x.repeat(2), r"repeat: need at least 2 repeat counts for shape \(2, 3\)"),
        (lambda x: x.split([1, 1], dim=1), r"split: sizes \[1, 1\] do not add up to 3"),
    ],
)
def test_bad_shape_arguments_name_the_op(call, message):
    x = mt.ones(2, 3, requires_grad=True)
    with pytest.raises((ValueError, IndexError), match=message):
        call(x)
    assert x.grad is None


def test_out_of_range_index_names_the_shape():
    with pytest.raises(IndexError, match=r"index: .*\(tensor of shape \(2, 3\)\)"):
        mt.ones(2, 3)[mt.tensor([0, 5])]


@pytest.mark.parametrize("mode, np_mode", [("reflect", "reflect"), ("replicate", "edge")])
def test_reflect_and_replicate_pad_the_uncropped_input_then_crop(mode, np_mode):
    """As PyTorch: a negative width on one side does not move the other side's mirror or edge,
    so (-1, 3) on [0 1 2 3] reflects to [1 2 3 2 1 0] (constant mode crops first instead)."""
    x = np.arange(4.0).reshape(1, 1, 4)
    for lo, hi in [(-1, 3), (2, -4), (-3, 3), (-2, -1), (-4, 0)]:
        want = np.pad(x, ((0, 0), (0, 0), (max(lo, 0), max(hi, 0))), mode=np_mode)
        want = want[..., max(-lo, 0) : want.shape[-1] - max(-hi, 0)]
        got = mt.functional.pad(mt.tensor(x), (lo, hi), mode=mode).numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"{(lo, hi)}")
