"""Tensor semantics: dtypes, factories, the backward tape (order, accumulation, freeing, errors),
grad modes, detach and conversions, all as in PyTorch."""

import gc
import threading
import time
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from tests.strategies_core import SETTINGS, arrays, broadcastable_pairs, leaf, shapes

# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    "data, dtype",
    [
        (1.5, mt.float32),
        ([1.0, 2], mt.float32),
        ([], mt.float32),
        (3, mt.int64),
        ([[1, 2], [3, 4]], mt.int64),
        (True, mt.bool_),
        (np.zeros(2, np.float64), mt.float64),  # a NumPy array keeps its dtype
        (np.zeros(2, np.int32), mt.int32),
        (np.float64(2.0), mt.float64),
    ],
)
def test_tensor_dtype_rules_follow_pytorch(data, dtype):
    assert mt.tensor(data).dtype == dtype


def test_default_dtype_can_be_changed_to_float64():
    try:
        mt.set_default_dtype(mt.float64)
        assert mt.tensor(1.0).dtype == mt.float64 and mt.zeros(2).dtype == mt.float64
        assert (mt.tensor([1, 2]) / 2).dtype == mt.float64
    finally:
        mt.set_default_dtype(mt.float32)
    assert mt.tensor(1.0).dtype == mt.float32
    with pytest.raises(TypeError, match="only floating dtypes"):
        mt.set_default_dtype(mt.int64)


def test_tensor_copies_and_Tensor_wraps():
    a = np.ones(3)
    assert not np.shares_memory(mt.tensor(a).numpy(), a)
    assert mt.Tensor(a).numpy() is a
    assert mt.as_tensor(a).numpy() is a and mt.from_numpy(a).numpy() is a


@pytest.mark.parametrize("dtype", [mt.int64, mt.int32, mt.bool_, mt.uint8])
def test_integer_tensors_cannot_require_grad(dtype):
    with pytest.raises(
        RuntimeError, match=f"only floating point tensors can require gradients, got dtype {dtype}"
    ):
        mt.zeros(2, 3, dtype=dtype, requires_grad=True)
    t = mt.zeros(2, dtype=dtype)
    with pytest.raises(RuntimeError, match=r"shape \(2,\)"):
        t.requires_grad_()
    assert not t.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        mt.tensor([1, 2], requires_grad=True)


def test_integer_labels_index_float_logits_with_gradient():
    logits = mt.randn(3, 4, requires_grad=True)
    labels = mt.tensor([0, 3, 3])
    assert labels.dtype == mt.int64
    picked = logits[mt.arange(3), labels]
    picked.sum().backward()
    expected = np.zeros((3, 4), np.float32)
    expected[[0, 1, 2], [0, 3, 3]] = 1
    np.testing.assert_array_equal(logits.grad.numpy(), expected)


def test_casts_to_integers_leave_the_graph_and_float_casts_stay_in_it():
    x = mt.tensor([0.5, 1.5, 2.5], requires_grad=True)
    k = x.long()
    assert k.dtype == mt.int64 and not k.requires_grad and k.tolist() == [0, 1, 2]
    y = x.double()
    assert y.dtype == mt.float64 and y.requires_grad
    (y * 2).sum().backward()
    assert x.grad.dtype == mt.float32 and x.grad.tolist() == [2.0, 2.0, 2.0]


# --------------------------------------------------------------------------- factories


FACTORIES = {
    "zeros": lambda **kw: mt.zeros(2, 3, **kw),
    "ones": lambda **kw: mt.ones((2, 3), **kw),
    "empty": lambda **kw: mt.empty(2, 3, **kw),
    "randn": lambda **kw: mt.randn(2, 3, **kw),
    "rand": lambda **kw: mt.rand([2, 3], **kw),
    "full": lambda **kw: mt.full((2, 3), 0.5, **kw),
    "zeros_like": lambda **kw: mt.zeros_like(mt.ones(2, 3, dtype=mt.int64), **kw),
    "ones_like": lambda **kw: mt.ones_like(mt.ones(2, 3, dtype=mt.int64), **kw),
    "randn_like": lambda **kw: mt.randn_like(mt.ones(2, 3), **kw),
    "rand_like": lambda **kw: mt.rand_like(mt.ones(2, 3), **kw),
    "full_like": lambda **kw: mt.full_like(mt.ones(2, 3), 7.0, **kw),
}


@pytest.mark.parametrize("name", FACTORIES)
@pytest.mark.parametrize("dtype", [None, mt.float64])
def test_factories_take_shape_dtype_and_device(name, dtype):
    t = FACTORIES[name](device="cpu", dtype=dtype) if dtype else FACTORIES[name](device="cpu")
    assert t.shape == (2, 3) and t.device == "cpu" and str(t.device) == "cpu"
    expected = dtype or (mt.int64 if name in ("zeros_like", "ones_like") else mt.float32)
    assert t.dtype == expected
    assert not t.requires_grad and t.is_leaf


def test_factory_values():
    assert mt.zeros(2).tolist() == [0.0, 0.0] and mt.ones(1, 2).tolist() == [[1.0, 1.0]]
    assert mt.full((2,), 3).dtype == mt.int64 and mt.full((2,), True).dtype == mt.bool_
    assert mt.arange(4).tolist() == [0, 1, 2, 3] and mt.arange(4).dtype == mt.int64
    assert mt.arange(1, 2, 0.5).tolist() == [1.0, 1.5] and mt.arange(1, 2, 0.5).dtype == mt.float32
    assert mt.arange(2.0, dtype=mt.float64).dtype == mt.float64
    r = mt.rand(1000)
    assert 0 <= r.min().item() and r.max().item() < 1
    w = mt.randn(3, 3, requires_grad=True)
    assert w.requires_grad and w.is_leaf


def test_manual_seed_makes_draws_repeatable():
    mt.manual_seed(123)
    a, b = mt.randn(5), mt.rand(2, 2)
    mt.manual_seed(123)
    assert a.tolist() == mt.randn(5).tolist() and b.tolist() == mt.rand(2, 2).tolist()
    assert a.tolist() != mt.randn(5).tolist()


# --------------------------------------------------------------------------- attributes, conversion


def test_attributes():
    x = mt.ones(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24 and len(x) == 2
    assert x.dtype == mt.float32 and x.device == "cpu"
    assert x.requires_grad is False and x.grad is None and x.is_leaf and x.grad_fn is None
    y = mt.ones(2, requires_grad=True) * 2
    assert not y.is_leaf and y.grad_fn.__name__ == "Mul"
    assert "grad_fn=<MulBackward>" in repr(y) and "dtype=float64" in repr(
        mt.ones(1, dtype=mt.float64)
    )


def test_conversions():
    x = mt.tensor([[1.5, 2.0]])
    assert x.tolist() == [[1.5, 2.0]]
    assert np.shares_memory(x.numpy(), x.data)
    assert np.asarray(x).dtype == np.float32 and np.asarray(x, dtype=np.float64).dtype == np.float64
    assert not np.shares_memory(np.array(x, copy=True), x.data)
    s = mt.tensor([[3.25]])
    assert s.item() == 3.25 and float(s) == 3.25 and int(mt.tensor(7)) == 7
    assert isinstance(mt.tensor(7).item(), int)
    with pytest.raises(ValueError, match=r"item\(\): only one-element tensors .* shape \(1, 2\)"):
        x.item()
    assert [row.tolist() for row in x] == [[1.5, 2.0]]


# --------------------------------------------------------------------------- backward


def test_backward_of_a_scalar_fills_leaf_grads():
    x = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = mt.tensor(2.0, requires_grad=True)
    (x * w).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0] and w.grad.item() == 6.0
    assert isinstance(x.grad, mt.Tensor) and x.grad.dtype == mt.float32


def test_non_scalar_backward_needs_gradient_and_changes_nothing():
    x = mt.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"only for scalar outputs, got shape \(2, 3\)"):
        y.backward()
    assert x.grad is None
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\), expected \(2, 3\)"):
        y.backward(mt.ones(3))
    assert x.grad is None
    y.backward(gradient=mt.full((2, 3), 0.5))
    assert x.grad.tolist() == [[1.0] * 3] * 2


def test_backward_without_a_graph_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mt.ones(2).sum().backward()


@SETTINGS
@given(pair=broadcastable_pairs(), calls=st.integers(1, 3), data=st.data())
def test_gradients_accumulate_over_backward_calls_with_retain_graph(pair, calls, data):
    """d/da sum(a*b + a) = b + 1 and d/db = a, each summed over the dims its input was
    broadcast along; `calls` backward passes add up `calls` times that."""
    a, b = leaf(data.draw(arrays(pair[0]))), leaf(data.draw(arrays(pair[1])))
    loss = (a * b + a).sum()
    for _ in range(calls):
        loss.backward(retain_graph=True)
    ref_a = calls * _unbroadcast_ref(b.numpy() + 1, pair, 0)
    np.testing.assert_allclose(a.grad.numpy(), ref_a, atol=1e-12)
    ref_b = calls * _unbroadcast_ref(a.numpy(), pair, 1)
    np.testing.assert_allclose(b.grad.numpy(), ref_b, atol=1e-12)


def _unbroadcast_ref(grad_of_other, pair, which):
    """Loop-free reference: broadcast to the result shape, then sum back to input `which`."""
    out = np.broadcast_to(grad_of_other, np.broadcast_shapes(*pair)).astype(np.float64)
    shape = pair[which]
    while out.ndim > len(shape):
        out = out.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and out.shape[i] != 1:
            out = out.sum(i, keepdims=True)
    return out


def test_separate_graphs_accumulate_into_the_same_grad():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]


def test_second_backward_without_retain_graph_is_a_clear_error():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    loss = (x.exp() * 2).sum()
    loss.backward()
    grad = x.grad.tolist()
    with pytest.raises(
        RuntimeError, match="backward through the graph a second time .*retain_graph=True"
    ):
        loss.backward()
    assert x.grad.tolist() == grad  # the failed call touched nothing


def test_graph_is_freed_after_backward_unless_retained():
    x = mt.ones(3, requires_grad=True)
    h = x.exp()
    loss = (h * h).sum()
    ctx = h._ctx
    loss.backward(retain_graph=True)
    assert ctx.saved_tensors and not ctx.freed
    loss.backward()
    assert ctx.freed and not hasattr(ctx, "saved_tensors") and not hasattr(ctx, "inputs")


def test_graph_does_not_keep_intermediate_arrays_alive():
    """Only what a Function saved stays alive: an intermediate that no backward needs (the output
    of an add, consumed by a scale) goes as soon as the caller drops its tensor, as in PyTorch;
    hooks and retain_grad registered on it still see its gradient."""
    x = mt.ones(1000, requires_grad=True)
    h = x + 1.0
    ref = weakref.ref(h.data)
    seen = []
    h.register_hook(lambda g: seen.append(float(g.sum())))
    h.retain_grad()
    loss = (h * 3.0).sum()
    del h
    gc.collect()
    assert ref() is None
    loss.backward()
    assert seen == [3000.0] and x.grad.tolist() == [3.0] * 1000


def test_shared_subgraph_gets_gradient_from_every_path():
    """A diamond: y feeds two branches; topological order must finish y's gradient first."""
    x = mt.tensor([1.0, -2.0], dtype=mt.float64, requires_grad=True)
    y = x * 2
    z = (y * y + y.exp() + y).sum()
    z.backward()
    yv = x.numpy() * 2
    np.testing.assert_allclose(x.grad.numpy(), 2 * (2 * yv + np.exp(yv) + 1))


def test_deep_chains_do_not_recurse():
    x = mt.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_tape_overhead_per_op_is_small():
    x = mt.ones(4, requires_grad=True)
    start = time.perf_counter()
    y = x
    for _ in range(1000):
        y = y * 1.0 + 0.0
    y.sum().backward()
    per_op = (time.perf_counter() - start) / 2000
    assert per_op < 500e-6, f"{per_op * 1e6:.0f} us per op, forward and backward"


def test_non_leaf_grads_are_kept_only_with_retain_grad_and_hooks_see_them():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = x * 4
    y.retain_grad()
    seen = []
    z.register_hook(lambda g: seen.append(g.tolist()))
    x.register_hook(lambda g: g * 10)  # a hook may replace the gradient
    (y + z).sum().backward()
    assert y.grad.tolist() == [1.0, 1.0] and z.grad is None and seen == [[1.0, 1.0]]
    assert x.grad.tolist() == [70.0, 70.0]


def test_in_place_writes_respect_the_graph():
    w = mt.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.zero_()
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w[0] = 3.0
    with mt.no_grad():
        w[0] = 3.0
        w.fill_(2.0)
    assert w.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="part of a graph"):
        (w * 2)[0] = 1.0


# --------------------------------------------------------------------------- grad modes, detach


def test_no_grad_context_records_nothing():
    x = mt.ones(2, requires_grad=True)
    with mt.no_grad():
        y = x * 2
        assert not mt.is_grad_enabled()
    assert mt.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf


def test_no_grad_as_decorator_with_and_without_parentheses():
    x = mt.ones(2, requires_grad=True)

    @mt.no_grad()
    def f(t):
        return t * 2

    @mt.no_grad
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad and f.__name__ == "f"
    assert (x * 2).requires_grad


def test_grad_mode_is_restored_after_an_exception_and_nests():
    with pytest.raises(ZeroDivisionError):
        with mt.no_grad():
            raise ZeroDivisionError
    assert mt.is_grad_enabled()
    with mt.no_grad():
        with mt.enable_grad():
            assert (mt.ones(1, requires_grad=True) * 2).requires_grad
        assert not mt.is_grad_enabled()


def test_set_grad_enabled_as_call_and_as_context():
    try:
        mt.set_grad_enabled(False)
        assert not mt.is_grad_enabled()
    finally:
        mt.set_grad_enabled(True)
    with mt.set_grad_enabled(False):
        assert not mt.is_grad_enabled()
    assert mt.is_grad_enabled()

    @mt.set_grad_enabled(False)
    def f():
        return mt.is_grad_enabled()

    assert mt.is_grad_enabled() and f() is False and mt.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = []
    with mt.no_grad():
        t = threading.Thread(target=lambda: seen.append(mt.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_detach_shares_data_and_stops_gradients():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = x * 2
    assert np.shares_memory(y.detach().data, y.data)
    (x * d).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]  # d counted as a constant


@SETTINGS
@given(shape=shapes(), data=st.data())
def test_comparisons_make_boolean_tensors_outside_the_graph(shape, data):
    a = leaf(data.draw(arrays(shape)))
    m = a > 0
    assert m.dtype == mt.bool_ and not m.requires_grad
    np.testing.assert_array_equal(m.numpy(), a.numpy() > 0)


def test_assigning_data_swaps_the_values_and_the_optimizer_follows():
    """`param.data = tensor` (PyTorch's way to set weights by hand) stores the array, not the
    Tensor, so the parameter keeps training."""
    m = mt.nn.Linear(2, 1)
    m.weight.data = mt.ones(1, 2)
    assert isinstance(m.weight.numpy(), np.ndarray)
    opt = mt.optim.SGD(m.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        m(mt.ones(1, 2)).sum().backward()
        opt.step()
    np.testing.assert_allclose(m.weight.numpy(), [[0.7, 0.7]], rtol=1e-6)
    m.bias.data = [0.5]  # plain data is converted as by mt.tensor
    assert m.bias.data.dtype == np.float32 and m.bias.item() == 0.5


def test_inplace_arithmetic_mutates_like_pytorch():
    x = mt.ones(3)
    alias = x
    alias += 1
    alias.mul_(3).sub_(mt.ones(3), alpha=2).div_(2).clamp_(max=1.5)
    np.testing.assert_array_equal(x.numpy(), [1.5, 1.5, 1.5])  # the alias saw every update

    model = mt.nn.Linear(3, 1)
    w0 = model.weight.numpy().copy()
    model(mt.ones(2, 3)).sum().backward()
    with mt.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad  # a hand-written SGD step
    np.testing.assert_allclose(model.weight.numpy(), w0 - 0.1 * 2, rtol=1e-6)


def test_inplace_arithmetic_on_graph_tensors():
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w += 1
    total = mt.zeros(())
    before = total
    total += (w * w).sum()  # grad mode, operand in a graph: rebinds, autograd follows
    assert before.item() == 0.0 and total.item() == 5.0
    total.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])
    y = w * 2
    with pytest.raises(RuntimeError, match="add_ on a tensor that is part of a graph"):
        y.add_(1)
    with pytest.raises(TypeError, match="cannot update a tensor of dtype int64 in place"):
        mt.tensor([1, 2]).add_(0.5)


def test_changing_a_saved_tensor_before_backward_is_an_error_not_a_wrong_gradient():
    # an input the backward reads (matmul's x for w's gradient), changed in place
    x, w = mt.ones(2, 3), mt.ones(3, 1, requires_grad=True)
    y = (x @ w).sum()
    x.mul_(5)
    expected = (
        r"MatMul.backward: its input 0 \(a tensor of shape \(2, 3\)\) was modified by an "
        r"in-place operation after the forward pass saved it \(version 0, now 1\)"
    )
    with pytest.raises(RuntimeError, match=expected):
        y.backward()
    # an output the backward reads (relu keeps its output), changed under no_grad
    a = mt.tensor([-1.0, 2.0], requires_grad=True)
    r = a.relu()
    with mt.no_grad():
        r.mul_(3)
    with pytest.raises(RuntimeError, match="ReLU.backward: its output"):
        r.sum().backward()
    # an optimizer step between forward and backward changes the weight the backward needs
    model = mt.nn.Linear(3, 2)
    opt = mt.optim.SGD(model.parameters(), lr=0.1)
    loss = (model(mt.ones(4, 3, requires_grad=True)) ** 2).sum()
    for p in model.parameters():
        p.grad = mt.ones_like(p)
    opt.step()
    with pytest.raises(RuntimeError, match="Linear.backward: its input 1"):
        loss.backward()


def test_in_place_changes_that_no_backward_reads_are_fine():
    x, w = mt.ones(3), mt.ones(3, requires_grad=True)
    y = (x + w).sum()  # addition saves nothing
    x.add_(1)
    x.zero_()
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1, 1, 1])
    # a clone taken before the change keeps the saved one intact
    x2, w2 = mt.ones(2, 3), mt.ones(3, 1, requires_grad=True)
    y2 = (x2 @ w2).sum()
    x3 = x2.clone()
    x3.mul_(5)
    y2.backward()
    np.testing.assert_array_equal(w2.grad.numpy().ravel(), [2, 2, 2])


def test_data_is_a_detached_tensor_sharing_the_array_as_in_pytorch():
    m = mt.nn.Conv2d(3, 4, 3)
    d = m.weight.data
    assert isinstance(d, mt.Tensor) and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), m.weight.numpy())
    # the init idioms of PyTorch tutorials work in grad mode, on the parameter's own array
    m.weight.data.normal_(0.0, 0.02)
    m.bias.data.fill_(0)
    assert abs(float(m.weight.numpy().std()) - 0.02) < 0.01 and not m.bias.numpy().any()
    m.weight.data.clamp_(-0.01, 0.01)  # WGAN's weight clipping
    assert np.abs(m.weight.numpy()).max() <= 0.01
    m.weight.data.mul_(2).add_(1)
    assert m.weight.requires_grad and m.weight.is_leaf


def test_pytorch_method_spellings():
    x = mt.tensor([[1.0, -2.0, 3.0]])
    assert x.ne(1.0).tolist() == [[False, True, True]] and x.gt(0).tolist() == [[True, False, True]]
    assert x.le(1.0).tolist() == [[True, True, False]] and x.ge(3).tolist() == [
        [False, False, True]
    ]
    assert x.lt(0).tolist() == [[False, True, False]] and mt.eq(x, x).all().item()
    assert x.new_zeros(2, 3).shape == (2, 3) and x.new_ones((4,)).dtype == mt.float32
    assert x.new_full((2,), 7, dtype=mt.int64).tolist() == [7, 7]
    assert x.new_tensor([1, 2]).dtype == mt.float32
    assert x.view_as(mt.zeros(3, 1)).shape == (3, 1) and x.nelement() == 3 == mt.numel(x)
    assert x.clamp_min(0).tolist() == [[1.0, 0.0, 3.0]] and x.clamp_max(0).tolist() == [
        [0.0, -2.0, 0.0]
    ]
    assert x.where(x > 0, 0.0).tolist() == [[1.0, 0.0, 3.0]]
    assert mt.allclose(x, x + 1e-9) and not mt.equal(x, x + 1) and mt.is_tensor(x)


def test_views_and_detach_share_the_version_counter_as_in_pytorch():
    # a weight seen through a temporary view (W.t()), stepped between two backward passes
    w = mt.nn.Parameter(mt.ones(2, 2) * 2)
    x = mt.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    opt = mt.optim.SGD([w], lr=1.0)
    y = x @ w.t()
    y.sum().backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="MatMul.backward: its input 1"):
        y.sum().backward()
    # detach() shares memory, so a change through it is a change of x
    x = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    x.detach().add_(1)
    with pytest.raises(RuntimeError, match="Mul.backward: its input 0"):
        y.backward()
    # .data does not (PyTorch's documented escape hatch)
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    x.data.add_(1)
    y.backward()


def test_the_version_check_sees_through_a_view_of_a_view():
    """A backward that saved a strided view (windows through as_strided, whose base is a
    helper object whose base is the input) must still notice an in-place change of the input."""

    class Windows(mt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            win = np.lib.stride_tricks.as_strided(x, (len(x) - 1, 2), x.strides * 2)
            ctx.save_for_backward(win)  # its base is as_strided's helper, whose base is x
            return (win * win).sum(axis=1)

        @staticmethod
        def backward(ctx, g):
            (win,) = ctx.saved_tensors
            gx = np.zeros(len(win) + 1)
            gx[:-1] += 2 * g * win[:, 0]
            gx[1:] += 2 * g * win[:, 1]
            return gx

    x = mt.tensor(np.arange(4.0), requires_grad=True)
    h = x * 1.0
    y = Windows.apply(h)
    with mt.no_grad():
        h.mul_(2.0)
    with pytest.raises(RuntimeError, match="Windows.backward: its input 0 .* was modified"):
        y.sum().backward()


def test_no_false_alarms_from_the_version_check():
    # Linear keeps the weight only for the input's gradient: a step between two backward
    # passes of a graph whose input needs none is fine (as in PyTorch)
    lin = mt.nn.Linear(3, 2)
    opt = mt.optim.SGD(lin.parameters(), lr=0.1)
    out = lin(mt.randn(4, 3))
    out.sum().backward(retain_graph=True)
    opt.step()
    (out**2).sum().backward()
    # a refused in-place write changes nothing, so it does not count as a change
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    with pytest.raises(RuntimeError, match="part of a graph"):
        y[0] = 5.0
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0])


def test_a_graph_pickles():
    import pickle

    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = pickle.loads(pickle.dumps((x * x).sum()))
    assert y.item() == 5.0


def test_torch_spellings_mT_type_masked_fill_and_nn_functional():
    x = mt.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(x.mT.numpy(), x.numpy().swapaxes(-1, -2))
    with pytest.raises(RuntimeError, match="mT: needs at least 2 dimensions"):
        _ = mt.ones(3).mT
    assert x.type() == "float32" and x.type(mt.float64).dtype == mt.float64
    y = mt.zeros(2, 3)
    out = y.masked_fill_(mt.tensor([True, False, True]), 5.0)
    assert out is y and y.tolist() == [[5.0, 0.0, 5.0], [5.0, 0.0, 5.0]]
    with pytest.raises(TypeError, match="masked_fill_: the mask must be a bool tensor"):
        y.masked_fill_(mt.tensor([1, 0, 1]), 1.0)
    with pytest.raises(RuntimeError, match=r"mask of shape \(4,\) does not broadcast"):
        y.masked_fill_(mt.ones(4, dtype=mt.bool_), 1.0)
    w = mt.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="masked_fill_: a leaf tensor that requires grad"):
        w.masked_fill_(mt.tensor([True, False, True]), 0.0)
    assert mt.nn.functional is mt.F


def test_masked_fill_in_place_casts_the_value_and_takes_a_list_mask():
    x = mt.tensor([1, 2, 3])
    x.masked_fill_([True, False, True], 2.7)  # as PyTorch: the value takes the tensor's dtype
    assert x.dtype == mt.int64 and x.tolist() == [2, 2, 2]
