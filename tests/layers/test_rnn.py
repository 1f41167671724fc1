"""nn.RNN, nn.LSTM, nn.GRU and the cells: equal to PyTorch (outputs, final states, the input's,
the initial states' and every parameter's gradient, torch's state_dict loaded) over
hypothesis-drawn sizes and options in float64 and float32; equal to loop-based references
written from the equations; float64 gradcheck of the cells and of a whole stack; torch's
state_dict keys, reprs and initialisation; dropout between layers in training only; clear errors;
a GRU and an LSTM learn to sum a sequence."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from tests.strategies_core import SETTINGS

KINDS = ("RNN", "LSTM", "GRU")

# torch's CPU LSTM says once that oneDNN has no projections and it uses its own implementation
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")

# --------------------------------------------------------------------------- helpers


def load_torch(ours, theirs):
    """Copy a torch module's state into ours (by state_dict, as a user would)."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def flat(outputs):
    """(output, h_n) / (output, (h_n, c_n)) / (h, c) / h as a flat list of tensors."""
    if not isinstance(outputs, (tuple, list)):
        return [outputs]
    return [t for o in outputs for t in flat(o)]


@st.composite
def stack_case(draw):
    kind = draw(st.sampled_from(KINDS))
    hidden = draw(st.integers(1, 4))
    opts = dict(
        input_size=draw(st.integers(1, 4)),
        hidden_size=hidden,
        num_layers=draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
    )
    if kind == "RNN":
        opts["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "LSTM":
        opts["proj_size"] = draw(st.integers(0, hidden - 1))
    call = dict(
        steps=draw(st.integers(1, 4)),
        batch=draw(st.sampled_from([None, 1, 2, 3])),  # None: unbatched
        with_hx=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )
    return kind, opts, call


def _state_shapes(kind, opts, batch):
    dirs = 2 if opts.get("bidirectional") else 1
    lead = (opts.get("num_layers", 1) * dirs,) + (() if batch is None else (batch,))
    h = lead + ((opts.get("proj_size") or opts["hidden_size"]),)
    return [h, lead + (opts["hidden_size"],)] if kind == "LSTM" else [h]


def _run_pair(torch, kind, opts, call, dtype):
    """Both stacks (torch's weights loaded into ours) on the same inputs; returns (outputs,
    gradients of x, of the initial states and of every parameter by name) ours, theirs."""
    rng = np.random.default_rng(call["seed"])
    torch.manual_seed(call["seed"])
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    theirs = getattr(torch.nn, kind)(**opts).to(tdt)
    ours = getattr(nn, kind)(**opts, dtype=dtype)
    load_torch(ours, theirs)
    steps, batch = call["steps"], call["batch"]
    if batch is None:
        shape = (steps, opts["input_size"])
    else:
        shape = (batch, steps) if opts["batch_first"] else (steps, batch)
        shape += (opts["input_size"],)
    arrays = [rng.standard_normal(shape).astype(dtype)]
    if call["with_hx"]:
        arrays += [rng.standard_normal(s).astype(dtype) for s in _state_shapes(kind, opts, batch)]
    ins = [mt.tensor(a, requires_grad=True) for a in arrays]
    tins = [torch.tensor(a, requires_grad=True) for a in arrays]

    def hx(ts):
        if len(ts) == 1:
            return None
        return tuple(ts[1:]) if kind == "LSTM" else ts[1]

    outs, touts = flat(ours(ins[0], hx(ins))), flat(theirs(tins[0], hx(tins)))
    weights = [rng.standard_normal(o.shape).astype(dtype) for o in outs]
    loss = sum((o * mt.tensor(w)).sum() for o, w in zip(outs, weights))
    tloss = sum((o * torch.tensor(w)).sum() for o, w in zip(touts, weights))
    loss.backward()
    tloss.backward()
    mine = (
        [o.numpy() for o in outs],
        [t.grad.numpy() for t in ins],
        {k: p.grad.numpy() for k, p in ours.named_parameters()},
    )
    ref = (
        [o.detach().numpy() for o in touts],
        [t.grad.numpy() for t in tins],
        {k: p.grad.numpy() for k, p in theirs.named_parameters()},
    )
    return mine, ref


def _assert_pair(mine, ref, rtol, atol):
    assert len(mine[0]) == len(ref[0]) and len(mine[1]) == len(ref[1])  # zip would truncate
    for i, (a, b) in enumerate(zip(mine[0], ref[0])):
        assert a.shape == b.shape, (i, a.shape, b.shape)
        assert a.dtype == b.dtype, (i, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"output {i}")
    for i, (a, b) in enumerate(zip(mine[1], ref[1])):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
    assert list(mine[2]) == list(ref[2])
    for k in ref[2]:
        np.testing.assert_allclose(mine[2][k], ref[2][k], rtol=rtol, atol=atol, err_msg=k)


# --------------------------------------------------------------------------- torch parity


@SETTINGS
@given(case=stack_case())
def test_stack_matches_torch_float64(case):
    """Outputs, h_n (c_n), and the gradients of x, h_0 (c_0) and every parameter."""
    torch = pytest.importorskip("torch")
    _assert_pair(*_run_pair(torch, *case, np.float64), rtol=1e-9, atol=1e-11)


@SETTINGS
@given(case=stack_case())
def test_stack_matches_torch_float32(case):
    torch = pytest.importorskip("torch")
    _assert_pair(*_run_pair(torch, *case, np.float32), rtol=2e-4, atol=2e-5)


@SETTINGS
@given(
    kind=st.sampled_from(["RNNCell", "LSTMCell", "GRUCell"]),
    sizes=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    bias=st.booleans(),
    relu=st.booleans(),
    batch=st.sampled_from([None, 1, 3]),
    with_hx=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**16),
)
def test_cells_match_torch(kind, sizes, bias, relu, batch, with_hx, dtype, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opts = dict(bias=bias)
    if kind == "RNNCell":
        opts["nonlinearity"] = "relu" if relu else "tanh"
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    theirs = getattr(torch.nn, kind)(*sizes, **opts).to(tdt)
    ours = getattr(nn, kind)(*sizes, **opts, dtype=dtype)
    load_torch(ours, theirs)
    lead = () if batch is None else (batch,)
    arrays = [rng.standard_normal(lead + (sizes[0],)).astype(dtype)]
    if with_hx:
        n_states = 2 if kind == "LSTMCell" else 1
        arrays += [rng.standard_normal(lead + (sizes[1],)).astype(dtype) for _ in range(n_states)]
    ins = [mt.tensor(a, requires_grad=True) for a in arrays]
    tins = [torch.tensor(a, requires_grad=True) for a in arrays]

    def hx(ts):
        if len(ts) == 1:
            return None
        return tuple(ts[1:]) if kind == "LSTMCell" else ts[1]

    outs, touts = flat(ours(ins[0], hx(ins))), flat(theirs(tins[0], hx(tins)))
    weights = [rng.standard_normal(o.shape).astype(dtype) for o in outs]
    sum((o * mt.tensor(w)).sum() for o, w in zip(outs, weights)).backward()
    sum((o * torch.tensor(w)).sum() for o, w in zip(touts, weights)).backward()
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    mine = ([o.numpy() for o in outs], [t.grad.numpy() for t in ins],
            {k: p.grad.numpy() for k, p in ours.named_parameters()})  # fmt: skip
    ref = ([o.detach().numpy() for o in touts], [t.grad.numpy() for t in tins],
           {k: p.grad.numpy() for k, p in theirs.named_parameters()})  # fmt: skip
    _assert_pair(mine, ref, **tol)


@pytest.mark.parametrize(
    "kind, opts",
    [
        ("RNN", dict(num_layers=3, bidirectional=True, nonlinearity="relu")),
        ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2)),
        ("LSTM", dict(num_layers=2, bias=False, batch_first=True)),
        ("GRU", dict(num_layers=2, bidirectional=True, bias=False)),
    ],
)
def test_state_dict_keys_shapes_and_repr_equal_torch(kind, opts):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, kind)(3, 5, **opts)
    ours = getattr(nn, kind)(3, 5, **opts)
    want = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == want
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    assert [[p.shape for p in ws] for ws in ours.all_weights] == [
        [tuple(p.shape) for p in ws] for ws in theirs.all_weights
    ]
    # a torch state_dict loads strictly; and ours back into torch
    load_torch(ours, theirs)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})


@pytest.mark.parametrize(
    "kind, opts",
    [("RNNCell", dict(bias=False, nonlinearity="relu")), ("LSTMCell", {}), ("GRUCell", {})],
)
def test_cell_state_dict_and_repr_equal_torch(kind, opts):
    torch = pytest.importorskip("torch")
    theirs, ours = getattr(torch.nn, kind)(3, 4, **opts), getattr(nn, kind)(3, 4, **opts)
    want = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == want
    assert repr(ours) == repr(theirs)


# --------------------------------------------------------------------------- references


def _sig(a):
    return 1.0 / (1.0 + math.exp(-a))


def loop_lstm_layer(m, x, h0, c0, reverse=False):
    """One LSTM layer from the equations, one sequence, time step and unit at a time: x (T, I),
    h0 (P,), c0 (H,) -> (outputs (T, P), h_T, c_T). Weights of layer 0 (forward or reverse)."""
    sfx = "_l0_reverse" if reverse else "_l0"
    w_ih, w_hh = getattr(m, "weight_ih" + sfx).numpy(), getattr(m, "weight_hh" + sfx).numpy()
    hid = m.hidden_size
    zero = np.zeros(4 * hid)
    b = (
        (getattr(m, "bias_ih" + sfx).numpy() + getattr(m, "bias_hh" + sfx).numpy())
        if m.bias
        else zero
    )
    w_hr = getattr(m, "weight_hr" + sfx).numpy() if m.proj_size else None
    h, c = list(h0), list(c0)
    out = [None] * len(x)
    for t in reversed(range(len(x))) if reverse else range(len(x)):
        # every gate's pre-activation from x_t and h_{t-1}, row by row
        pre = [
            b[row]
            + sum(w_ih[row, j] * x[t][j] for j in range(len(x[t])))
            + sum(w_hh[row, j] * h[j] for j in range(len(h)))
            for row in range(4 * hid)
        ]
        m_t = []
        for u in range(hid):
            i = _sig(pre[u])
            f = _sig(pre[hid + u])
            g = math.tanh(pre[2 * hid + u])
            o = _sig(pre[3 * hid + u])
            c[u] = f * c[u] + i * g
            m_t.append(o * math.tanh(c[u]))
        if w_hr is None:
            h = m_t
        else:
            h = [sum(w_hr[k, u] * m_t[u] for u in range(hid)) for k in range(m.proj_size)]
        out[t] = list(h)
    return np.array(out), np.array(h), np.array(c)


def loop_gru_layer(m, x, h0):
    """One forward GRU layer from the equations (b_hn inside r * (.)), unit by unit."""
    w_ih, w_hh = m.weight_ih_l0.numpy(), m.weight_hh_l0.numpy()
    hid = m.hidden_size
    b_ih = m.bias_ih_l0.numpy() if m.bias else np.zeros(3 * hid)
    b_hh = m.bias_hh_l0.numpy() if m.bias else np.zeros(3 * hid)
    h = list(h0)
    out = []
    for xt in x:
        new = []
        for u in range(hid):
            xi = [b_ih[k * hid + u] + w_ih[k * hid + u] @ xt for k in range(3)]
            hh = [b_hh[k * hid + u] + w_hh[k * hid + u] @ np.array(h) for k in range(3)]
            r, z = _sig(xi[0] + hh[0]), _sig(xi[1] + hh[1])
            n = math.tanh(xi[2] + r * hh[2])
            new.append((1 - z) * n + z * h[u])
        h = new
        out.append(h)
    return np.array(out)


@SETTINGS
@given(
    sizes=st.tuples(st.integers(1, 3), st.integers(2, 4), st.integers(1, 3), st.integers(1, 2)),
    proj=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_lstm_matches_loop_reference(sizes, proj, bias, seed):
    """A bidirectional one-layer LSTM (projected or not) against the textbook loops, both
    directions, every sequence of the batch, with random initial states."""
    i_size, hid, steps, batch = sizes
    p = hid - 1 if proj else 0
    mt.manual_seed(seed)
    m = nn.LSTM(i_size, hid, bias=bias, bidirectional=True, proj_size=p, dtype=np.float64)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, i_size))
    h0 = rng.standard_normal((2, batch, p or hid))
    c0 = rng.standard_normal((2, batch, hid))
    out, (h_n, c_n) = m(mt.tensor(x), (mt.tensor(h0), mt.tensor(c0)))
    w = p or hid
    for n in range(batch):
        for d in range(2):
            ref, h_ref, c_ref = loop_lstm_layer(m, x[:, n], h0[d, n], c0[d, n], reverse=d == 1)
            np.testing.assert_allclose(
                out.numpy()[:, n, d * w : (d + 1) * w], ref, rtol=1e-10, atol=1e-13
            )
            np.testing.assert_allclose(h_n.numpy()[d, n], h_ref, rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(c_n.numpy()[d, n], c_ref, rtol=1e-10, atol=1e-13)


@SETTINGS
@given(
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3)),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gru_matches_loop_reference(sizes, bias, seed):
    i_size, hid, steps = sizes
    mt.manual_seed(seed)
    m = nn.GRU(i_size, hid, bias=bias, dtype=np.float64)
    rng = np.random.default_rng(seed)
    x, h0 = rng.standard_normal((steps, i_size)), rng.standard_normal((1, hid))
    out, h_n = m(mt.tensor(x), mt.tensor(h0))  # unbatched
    ref = loop_gru_layer(m, x, h0[0])
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.numpy(), ref[-1:], rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- gradcheck


@SETTINGS
@given(
    kind=st.sampled_from(["RNNCell", "LSTMCell", "GRUCell"]),
    bias=st.booleans(),
    relu=st.booleans(),
    batched=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_cell_gradcheck_float64(kind, bias, relu, batched, seed):
    """Input, states and every parameter against central differences."""
    mt.manual_seed(seed)
    opts = dict(nonlinearity="relu" if relu else "tanh") if kind == "RNNCell" else {}
    cell = getattr(nn, kind)(3, 2, bias=bias, dtype=np.float64, **opts)
    rng = np.random.default_rng(seed)
    lead = (2,) if batched else ()
    n_states = 2 if kind == "LSTMCell" else 1
    x = mt.tensor(rng.standard_normal(lead + (3,)), requires_grad=True)
    states = [mt.tensor(rng.standard_normal(lead + (2,)), requires_grad=True)
              for _ in range(n_states)]  # fmt: skip
    params = list(cell.parameters())

    def fn(x, *rest):
        s = rest[:n_states]
        return tuple(flat(cell(x, tuple(s) if kind == "LSTMCell" else s[0])))

    assert mt.gradcheck(fn, [x, *states, *params])


@pytest.mark.parametrize("kind", KINDS)
def test_stack_gradcheck_float64(kind):
    """Two bidirectional layers (LSTM projected), batch_first, given initial states: the
    gradient through time, both directions and the layer boundary."""
    mt.manual_seed(1)
    extra = dict(proj_size=1) if kind == "LSTM" else {}
    m = getattr(nn, kind)(2, 2, num_layers=2, bidirectional=True, batch_first=True,
                          dtype=np.float64, **extra)  # fmt: skip
    rng = np.random.default_rng(1)
    x = mt.tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    shapes = _state_shapes(kind, dict(hidden_size=2, num_layers=2, bidirectional=True, **extra), 2)
    states = [mt.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]

    def fn(x, *rest):
        s = rest[: len(states)]
        return tuple(flat(m(x, tuple(s) if kind == "LSTM" else s[0])))

    assert mt.gradcheck(fn, [x, *states, *m.parameters()])


# --------------------------------------------------------------------------- semantics


@pytest.mark.parametrize("kind", KINDS)
def test_layouts_agree_with_time_major(kind):
    """batch_first is the transposed time-major result, an unbatched sequence the batch of one;
    h_n holds the forward direction's last step and the backward direction's first."""
    mt.manual_seed(0)
    m = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    out, states = m(mt.tensor(x))
    h_n = states[0] if kind == "LSTM" else states
    assert out.shape == (5, 2, 8) and h_n.shape == (4, 2, 4)
    np.testing.assert_array_equal(h_n.numpy()[2], out.numpy()[-1, :, :4])
    np.testing.assert_array_equal(h_n.numpy()[3], out.numpy()[0, :, 4:])
    m.batch_first = True
    out_bf, states_bf = m(mt.tensor(x.transpose(1, 0, 2)))
    np.testing.assert_allclose(out_bf.numpy(), out.numpy().transpose(1, 0, 2), rtol=1e-13)
    for a, b in zip(flat(states_bf), flat(states)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-13)
    m.batch_first = False
    out_1, states_1 = m(mt.tensor(x[:, 1]))
    np.testing.assert_allclose(out_1.numpy(), out.numpy()[:, 1], rtol=1e-13)
    for a, b in zip(flat(states_1), flat(states)):
        assert a.shape == b.shape[:1] + b.shape[2:]
        np.testing.assert_allclose(a.numpy(), b.numpy()[:, 1], rtol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_between_layers_only_in_training(kind):
    """Training: layer 1 reads layer 0's output through dropout (the package generator's mask),
    the last layer's output is not dropped; eval: no dropout at all."""
    mt.manual_seed(0)
    m = getattr(nn, kind)(3, 4, num_layers=2, dropout=0.5, dtype=np.float64)
    first = getattr(nn, kind)(3, 4, dtype=np.float64)
    second = getattr(nn, kind)(4, 4, dtype=np.float64)
    sd = m.state_dict()
    first.load_state_dict({k: v for k, v in sd.items() if k.endswith("_l0")})
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in sd.items() if "_l1" in k})
    x = mt.tensor(np.random.default_rng(0).standard_normal((6, 3, 3)))

    mt.manual_seed(7)
    out, _ = m(x)
    mt.manual_seed(7)
    ref, _ = second(F.dropout(first(x)[0], 0.5, training=True))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-13)
    assert not np.allclose(out.numpy(), second(first(x)[0])[0].numpy())  # something was dropped

    m.eval()
    out_eval, _ = m(x)
    np.testing.assert_allclose(out_eval.numpy(), second(first(x)[0])[0].numpy(), rtol=1e-13)
    out_eval2, _ = m(x)
    np.testing.assert_array_equal(out_eval.numpy(), out_eval2.numpy())


def test_dropout_with_one_layer_warns_and_does_nothing():
    with pytest.warns(UserWarning, match="num_layers=1"):
        m = nn.LSTM(3, 4, dropout=0.5, dtype=np.float64)
    x = mt.tensor(np.random.default_rng(0).standard_normal((4, 2, 3)))
    a, _ = m(x)
    m.eval()
    b, _ = m(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.LSTM(3, 4, num_layers=2, dropout=0.5)


@pytest.mark.parametrize("kind", [*KINDS, "RNNCell", "LSTMCell", "GRUCell"])
def test_init_is_uniform_in_one_over_sqrt_hidden(kind):
    mt.manual_seed(0)
    m = getattr(nn, kind)(5, 16)
    bound = 1 / math.sqrt(16)
    values = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound  # the whole range is used
    assert abs(values.mean()) < 4 * bound / math.sqrt(3 * values.size)  # 4 standard errors
    assert all(p.dtype == np.float32 for p in m.parameters())


def test_zero_batch_and_float32_default():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    out, (h, c) = m(mt.zeros(5, 0, 3))
    assert out.shape == (5, 0, 4) and h.shape == (4, 0, 2) and c.shape == (4, 0, 4)
    out, h = nn.GRU(3, 4)(mt.randn(2, 1, 3))
    assert out.dtype == np.float32 and h.dtype == np.float32


@pytest.mark.parametrize("kind", [*KINDS, "RNNCell", "LSTMCell", "GRUCell"])
def test_empty_batch_backward_gives_zero_gradients(kind):
    """A batch of 0 sequences runs backward: x's gradient is empty, every parameter's is 0
    (it crashed in the weight-gradient GEMMs' reshape(0, -1))."""
    cell = kind.endswith("Cell")
    extra = {} if cell else dict(num_layers=2, bidirectional=True)
    if kind == "LSTM":
        extra["proj_size"] = 2
    m = getattr(nn, kind)(3, 4, **extra)
    x = mt.zeros(*((0, 3) if cell else (5, 0, 3)), requires_grad=True)
    sum(o.sum() for o in flat(m(x))).backward()
    assert x.grad.shape == x.shape
    for name, p in m.named_parameters():
        assert p.grad is not None and not p.grad.numpy().any(), name


def test_learns_to_sum_a_sequence():
    """A GRU and an LSTM (hidden 8) read 6 numbers and regress their sum from h_n: the MSE falls
    from about the sum's variance (6 / 3 = 2) to under 1 % of it in 300 Adam steps."""
    rng = np.random.default_rng(0)
    for kind in ("GRU", "LSTM"):
        mt.manual_seed(0)
        rnn, head = getattr(nn, kind)(1, 8, batch_first=True), nn.Linear(8, 1)
        params = list(rnn.parameters()) + list(head.parameters())
        opt = mt.optim.Adam(params, lr=0.02)
        for _ in range(300):
            x = rng.uniform(-1, 1, (32, 6, 1)).astype(np.float32)
            _, h = rnn(mt.tensor(x))
            h = h[0] if kind == "LSTM" else h
            loss = F.mse_loss(head(h[-1]), mt.tensor(x.sum(axis=1)))
            opt.zero_grad()
            loss.backward()
            opt.step()
        x = rng.uniform(-1, 1, (256, 6, 1)).astype(np.float32)
        with mt.no_grad():
            _, h = rnn(mt.tensor(x))
            h = h[0] if kind == "LSTM" else h
            test = F.mse_loss(head(h[-1]), mt.tensor(x.sum(axis=1))).item()
        assert test < 0.02, (kind, test)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "build, exc, match",
    [
        (lambda: nn.LSTM(3.0, 4), TypeError, r"LSTM: input_size should be of type int"),
        (lambda: nn.GRU(3, 0), ValueError, r"GRU: hidden_size must be at least 1, got 0"),
        (lambda: nn.RNN(3, 4, num_layers=0), ValueError, r"num_layers must be at least 1"),
        (lambda: nn.LSTM(3, 4, bias=1), TypeError, r"bias should be of type bool"),
        (lambda: nn.LSTM(3, 4, dropout=1.5), ValueError, r"dropout should be a number in"),
        (lambda: nn.LSTM(3, 4, dropout=True), ValueError, r"dropout should be a number in"),
        (lambda: nn.LSTM(3, 4, proj_size=-1), ValueError, r"proj_size must be at least 0"),
        (lambda: nn.LSTM(3, 4, proj_size=4), ValueError, r"proj_size \(4\) has to be smaller"),
        (lambda: nn.GRU(3, 4, proj_size=2), TypeError, r"proj_size"),
        (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError, r"unknown nonlinearity"),
        (lambda: nn.RNNCell(3, 4, nonlinearity="gelu"), ValueError, r"unknown nonlinearity"),
        (lambda: nn.LSTMCell(0, 4), ValueError, r"LSTMCell: input_size must be at least 1"),
        (lambda: nn.RNNBase("CONV", 3, 4), ValueError, r"unknown mode 'CONV'"),
        (lambda: nn.RNNBase("GRU", 3, 4, proj_size=2), ValueError, r"only supported for LSTM"),
    ],
)
def test_constructor_errors(build, exc, match):
    with pytest.raises(exc, match=match):
        build()


def test_forward_errors_name_the_layer_and_shapes():
    m = nn.LSTM(10, 20, num_layers=2)
    with pytest.raises(
        ValueError,
        match=r"LSTM\(10->20\): expected input of size 10 in its last dim, got \(5, 3, 7\)",
    ):
        m(mt.zeros(5, 3, 7))
    with pytest.raises(ValueError, match=r"LSTM\(10->20\): expected input of shape .*got \(10,\)"):
        m(mt.zeros(10))
    with pytest.raises(ValueError, match=r"got \(1, 2, 3, 10\)"):
        m(mt.zeros(1, 2, 3, 10))
    with pytest.raises(ValueError, match=r"sequence of length > 0, got input \(0, 3, 10\)"):
        m(mt.zeros(0, 3, 10))
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h_0, c_0\)"):
        m(mt.zeros(5, 3, 10), mt.zeros(2, 3, 20))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 3, 20\), got \(2, 4, 20\)"):
        m(mt.zeros(5, 3, 10), (mt.zeros(2, 4, 20), mt.zeros(2, 3, 20)))
    with pytest.raises(ValueError, match=r"expected c_0 of shape \(2, 3, 20\), got \(2, 3, 5\)"):
        m(mt.zeros(5, 3, 10), (mt.zeros(2, 3, 20), mt.zeros(2, 3, 5)))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 20\), got \(2, 1, 20\)"):
        m(mt.zeros(5, 10), (mt.zeros(2, 1, 20), mt.zeros(2, 1, 20)))
    with pytest.raises(ValueError, match=r"input dtype float64 does not match .* float32"):
        m(mt.zeros(5, 3, 10, dtype=np.float64))
    with pytest.raises(TypeError, match=r"expected a floating input"):
        m(mt.tensor(np.zeros((5, 3, 10), dtype=np.int64)))
    with pytest.raises(TypeError, match=r"GRU\(3->4\): hx must be a Tensor"):
        nn.GRU(3, 4)(mt.zeros(2, 1, 3), (mt.zeros(1, 1, 4),))
    with pytest.raises(ValueError, match=r"RNN\(3->4\): expected hx of shape \(2, 1, 4\)"):
        nn.RNN(3, 4, bidirectional=True)(mt.zeros(2, 1, 3), mt.zeros(1, 1, 4))
    with pytest.raises(ValueError, match=r"hx has dtype float64, the input float32"):
        nn.RNN(3, 4)(mt.zeros(2, 1, 3), mt.zeros(1, 1, 4, dtype=np.float64))


def test_cell_errors_name_the_cell_and_shapes():
    c = nn.LSTMCell(3, 5)
    with pytest.raises(ValueError, match=r"LSTMCell\(3->5\): expected input of size 3 .*\(2, 4\)"):
        c(mt.zeros(2, 4))
    with pytest.raises(
        ValueError, match=r"LSTMCell\(3->5\): expected input of shape .*\(1, 2, 3\)"
    ):
        c(mt.zeros(1, 2, 3))
    with pytest.raises(ValueError, match=r"expected h of shape \(2, 5\), got \(3, 5\)"):
        c(mt.zeros(2, 3), (mt.zeros(3, 5), mt.zeros(2, 5)))
    with pytest.raises(ValueError, match=r"expected c of shape \(5,\), got \(1, 5\)"):
        c(mt.zeros(3), (mt.zeros(5), mt.zeros(1, 5)))
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h, c\)"):
        c(mt.zeros(2, 3), mt.zeros(2, 5))
    with pytest.raises(ValueError, match=r"GRUCell\(3->5\): expected hx of shape \(2, 5\)"):
        nn.GRUCell(3, 5)(mt.zeros(2, 3), mt.zeros(2, 4))
    with pytest.raises(ValueError, match=r"RNNCell\(3->5\): input dtype float64"):
        nn.RNNCell(3, 5)(mt.zeros(2, 3, dtype=np.float64))


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.parametrize("kind", [*KINDS, "RNNCell", "LSTMCell", "GRUCell"])
def test_gpu_matches_cpu(kind):
    """The same module on CuPy: outputs and every gradient equal the NumPy run (float32)."""
    from minitorch_cv.backend import to_device

    mt.manual_seed(0)
    cell = kind.endswith("Cell")
    extra = {} if cell else dict(num_layers=2, bidirectional=True)
    if kind == "LSTM":
        extra["proj_size"] = 2
    cpu, gpu = getattr(nn, kind)(3, 4, **extra), getattr(nn, kind)(3, 4, **extra)
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) if cell else (5, 2, 3)).astype(np.float32)
    weights = None
    results = []
    for m, dev in ((cpu, "cpu"), (gpu, "cuda")):
        xt = mt.Tensor(to_device(x, dev), requires_grad=True)
        outs = flat(m(xt))
        if weights is None:
            weights = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
        sum((o * mt.Tensor(to_device(w, dev))).sum() for o, w in zip(outs, weights)).backward()
        arrays = [*outs, xt.grad, *(p.grad for p in m.parameters())]
        results.append([to_device(a._data, "cpu") for a in arrays])
    for i, (a, b) in enumerate(zip(*results)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"array {i}")
