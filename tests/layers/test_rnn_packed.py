"""nn.utils.rnn and the recurrent layers on variable-length batches.

Packing and padding: equal to loops written from the definition of the packed layout, round
trips (pack -> pad, pad -> unpad, pack_sequence -> unpack_sequence) over hypothesis-drawn lengths,
sorted and unsorted; equal to torch (data, batch_sizes, indices, padded output, lengths and the
gradients); float64 gradcheck through every one. RNN / LSTM / GRU on a PackedSequence: each
sequence's output and final states equal the same module run on that sequence alone at its own
length (the loop reference), and equal torch's outputs, h_n (c_n) and the gradients of the input,
the initial states and every parameter; float64 gradcheck of a packed stack. torch's errors, by
name. The PackedSequence tuple's API.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import layers as nn
from tests.strategies_core import SETTINGS

R = nn.utils.rnn
KINDS = ("RNN", "LSTM", "GRU")

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")


def lengths_st(max_batch=4, max_len=5):
    return st.lists(st.integers(1, max_len), min_size=1, max_size=max_batch)


def padded_of(rng, lengths, batch_first, trailing=(2,), steps=None):
    """A random padded batch for `lengths` (garbage past each length, to show it is ignored)."""
    t = steps or max(lengths)
    shape = ((len(lengths), t) if batch_first else (t, len(lengths))) + tuple(trailing)
    return rng.standard_normal(shape)


def loop_pack(x, lengths, batch_first):
    """The packed layout from its definition: sequences by decreasing length (stable), then for
    each step t the row of every sequence longer than t. Returns (data, batch_sizes, order)."""
    order = sorted(range(len(lengths)), key=lambda j: -lengths[j])
    rows, sizes = [], []
    for t in range(max(lengths)):
        active = [j for j in order if lengths[j] > t]
        sizes.append(len(active))
        rows += [x[j, t] if batch_first else x[t, j] for j in active]
    return np.array(rows), sizes, order


# --------------------------------------------------------------------------- pack / pad


@SETTINGS
@given(
    lengths=lengths_st(),
    batch_first=st.booleans(),
    trailing=st.sampled_from([(), (2,), (1, 3)]),
    extra=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_pack_then_pad_matches_the_definition_and_round_trips(
    lengths, batch_first, trailing, extra, seed
):
    rng = np.random.default_rng(seed)
    x = padded_of(rng, lengths, batch_first, trailing, max(lengths) + extra)
    is_sorted = lengths == sorted(lengths, reverse=True)
    packed = R.pack_padded_sequence(
        mt.tensor(x), lengths, batch_first=batch_first, enforce_sorted=is_sorted
    )
    data, sizes, order = loop_pack(x, lengths, batch_first)
    np.testing.assert_array_equal(packed.data.numpy(), data)
    assert packed.batch_sizes.dtype == np.int64 and packed.batch_sizes.device.type == "cpu"
    assert packed.batch_sizes.tolist() == sizes
    if is_sorted:
        assert packed.sorted_indices is None and packed.unsorted_indices is None
    else:
        assert packed.sorted_indices.dtype == np.int64
        assert packed.sorted_indices.tolist() == order
        assert [order[i] for i in packed.unsorted_indices.tolist()] == list(range(len(lengths)))
    padded, lens = R.pad_packed_sequence(packed, batch_first=batch_first, padding_value=-7.0)
    assert lens.dtype == np.int64 and lens.tolist() == lengths
    want = np.full_like(x[:, : max(lengths)] if batch_first else x[: max(lengths)], -7.0)
    for j, n in enumerate(lengths):
        if batch_first:
            want[j, :n] = x[j, :n]
        else:
            want[:n, j] = x[:n, j]
    np.testing.assert_array_equal(padded.numpy(), want)
    total = max(lengths) + 2
    longer, _ = R.pad_packed_sequence(packed, batch_first, total_length=total)
    assert longer.shape[1 if batch_first else 0] == total


@SETTINGS
@given(
    lengths=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    batch_first=st.booleans(),
    left=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pad_sequence_matches_loops_and_unpad_inverts_it(lengths, batch_first, left, seed):
    rng = np.random.default_rng(seed)
    seqs = [rng.standard_normal((n, 3)) for n in lengths]
    side = "left" if left else "right"
    out = R.pad_sequence([mt.tensor(s) for s in seqs], batch_first, 0.5, side).numpy()
    t = max(lengths)
    want = np.full((t, len(seqs), 3), 0.5)
    for j, s in enumerate(seqs):
        want[t - len(s) if left else 0 : t if left else len(s), j] = s
    np.testing.assert_array_equal(out, want.transpose(1, 0, 2) if batch_first else want)
    if not left:
        back = R.unpad_sequence(mt.tensor(out), mt.tensor(np.array(lengths)), batch_first)
        assert len(back) == len(seqs)
        for a, b in zip(back, seqs):
            np.testing.assert_array_equal(a.numpy(), b)


@SETTINGS
@given(lengths=lengths_st(), seed=st.integers(0, 2**16))
def test_pack_sequence_and_unpack_sequence_round_trip(lengths, seed):
    rng = np.random.default_rng(seed)
    seqs = [rng.standard_normal((n, 2)) for n in lengths]
    packed = R.pack_sequence([mt.tensor(s) for s in seqs], enforce_sorted=False)
    padded = np.zeros((max(lengths), len(seqs), 2))
    for j, s in enumerate(seqs):
        padded[: len(s), j] = s
    data, sizes, _ = loop_pack(padded, lengths, batch_first=False)
    np.testing.assert_array_equal(packed.data.numpy(), data)
    assert packed.batch_sizes.tolist() == sizes
    back = R.unpack_sequence(packed)
    assert [b.shape for b in back] == [s.shape for s in seqs]
    for a, b in zip(back, seqs):
        np.testing.assert_array_equal(a.numpy(), b)


@SETTINGS
@given(lengths=lengths_st(), batch_first=st.booleans(), seed=st.integers(0, 2**16))
def test_packing_matches_torch_with_gradients(lengths, batch_first, seed):
    """pack_padded_sequence(enforce_sorted=False) -> pad_packed_sequence(padding 0.5) and
    pack_sequence -> unpack_sequence: the same tensors as torch, and the same input gradients
    of a weighted sum of the outputs."""
    torch = pytest.importorskip("torch")
    tr = torch.nn.utils.rnn
    rng = np.random.default_rng(seed)
    x = padded_of(rng, lengths, batch_first, (3,))
    ours, theirs = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p = R.pack_padded_sequence(ours, lengths, batch_first, enforce_sorted=False)
    pt = tr.pack_padded_sequence(theirs, lengths, batch_first, enforce_sorted=False)
    for a, b in zip(p, pt):
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    y, lens = R.pad_packed_sequence(p, batch_first, padding_value=0.5)
    yt, lens_t = tr.pad_packed_sequence(pt, batch_first, padding_value=0.5)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(lens.numpy(), lens_t.numpy())
    w = rng.standard_normal(y.shape)
    (y * mt.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    seqs = [rng.standard_normal((n, 2)) for n in lengths]
    mine = [mt.tensor(s, requires_grad=True) for s in seqs]
    ref = [torch.tensor(s, requires_grad=True) for s in seqs]
    out = R.unpack_sequence(R.pack_sequence(mine, enforce_sorted=False))
    out_t = tr.unpack_sequence(tr.pack_sequence(ref, enforce_sorted=False))
    ws = [rng.standard_normal(s.shape) for s in seqs]
    sum((o * mt.tensor(w)).sum() for o, w in zip(out, ws)).backward()
    sum((o * torch.tensor(w)).sum() for o, w in zip(out_t, ws)).backward()
    for a, b in zip(mine, ref):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    padded = R.pad_sequence(mine, True, -1.0, "left").numpy()
    np.testing.assert_array_equal(padded, tr.pad_sequence(ref, True, -1.0, "left").detach())


@SETTINGS
@given(lengths=lengths_st(3, 3), batch_first=st.booleans(), seed=st.integers(0, 2**16))
def test_pack_pad_gradcheck_float64(lengths, batch_first, seed):
    """Central differences through pack_padded_sequence (unsorted) -> pad_packed_sequence, and
    through pad_sequence (left) -> unpad_sequence of its middle."""
    rng = np.random.default_rng(seed)
    x = mt.tensor(padded_of(rng, lengths, batch_first), requires_grad=True)

    def round_trip(x):
        p = R.pack_padded_sequence(x, lengths, batch_first, enforce_sorted=False)
        return (p.data * 2, R.pad_packed_sequence(p, batch_first, padding_value=3.0)[0])

    assert mt.gradcheck(round_trip, [x])
    seqs = [mt.tensor(rng.standard_normal((n, 2)), requires_grad=True) for n in lengths]

    def pad_unpad(*seqs):
        y = R.pad_sequence(seqs, batch_first, 1.0, "left")
        return tuple(R.unpad_sequence(y, [1] * len(seqs), batch_first))

    assert mt.gradcheck(pad_unpad, seqs)


# --------------------------------------------------------------------------- recurrent layers


@st.composite
def packed_case(draw):
    kind = draw(st.sampled_from(KINDS))
    hidden = draw(st.integers(2, 3))
    opts = dict(
        input_size=draw(st.integers(1, 3)),
        hidden_size=hidden,
        num_layers=draw(st.integers(1, 2)),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
    )
    if kind == "RNN":
        opts["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "LSTM":
        opts["proj_size"] = draw(st.integers(0, hidden - 1))
    call = dict(
        lengths=draw(lengths_st()),
        sorted=draw(st.booleans()),
        with_hx=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )
    if call["sorted"]:
        call["lengths"] = sorted(call["lengths"], reverse=True)
    return kind, opts, call


def _state_shapes(kind, opts, batch):
    lead = (opts["num_layers"] * (2 if opts["bidirectional"] else 1), batch)
    h = lead + (opts.get("proj_size") or opts["hidden_size"],)
    return [h, lead + (opts["hidden_size"],)] if kind == "LSTM" else [h]


def _hx(kind, states):
    if not states:
        return None
    return tuple(states) if kind == "LSTM" else states[0]


def _inputs(kind, opts, call):
    rng = np.random.default_rng(call["seed"])
    x = padded_of(rng, call["lengths"], opts["batch_first"], (opts["input_size"],))
    states = []
    if call["with_hx"]:
        states = [rng.standard_normal(s) for s in _state_shapes(kind, opts, len(call["lengths"]))]
    return x, states


def _finals(kind, h_n):
    return list(h_n) if kind == "LSTM" else [h_n]


@SETTINGS
@given(case=packed_case())
def test_packed_stack_equals_each_sequence_alone(case):
    """The loop reference: sequence j run alone (a batch of one, its own length, its own initial
    states) gives the packed run's outputs for j and its h_n (c_n) column j."""
    kind, opts, call = case
    mt.manual_seed(call["seed"])
    m = getattr(nn, kind)(**opts, dtype=np.float64)
    x, states = _inputs(kind, opts, call)
    lengths, bf = call["lengths"], opts["batch_first"]
    packed = R.pack_padded_sequence(mt.tensor(x), lengths, bf, enforce_sorted=call["sorted"])
    out, h_n = m(packed, _hx(kind, [mt.tensor(s) for s in states]))
    assert isinstance(out, R.PackedSequence)
    assert out.batch_sizes is packed.batch_sizes
    padded, lens = R.pad_packed_sequence(out, bf)
    assert lens.tolist() == lengths
    for j, n in enumerate(lengths):
        xj = x[j : j + 1, :n] if bf else x[:n, j : j + 1]
        sj = [mt.tensor(s[:, j : j + 1]) for s in states]
        ref, ref_n = m(mt.tensor(xj), _hx(kind, sj))
        got = padded.numpy()[j : j + 1, :n] if bf else padded.numpy()[:n, j : j + 1]
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12, atol=1e-14)
        for a, b in zip(_finals(kind, h_n), _finals(kind, ref_n)):
            np.testing.assert_allclose(a.numpy()[:, j : j + 1], b.numpy(), rtol=1e-12, atol=1e-14)


@SETTINGS
@given(case=packed_case())
def test_packed_stack_matches_torch(case):
    """Packed output, h_n (c_n), and the gradients of the padded input, h_0 (c_0) and every
    parameter, torch's weights loaded, float64."""
    torch = pytest.importorskip("torch")
    kind, opts, call = case
    torch.manual_seed(call["seed"])
    theirs = getattr(torch.nn, kind)(**opts).double()
    ours = getattr(nn, kind)(**opts, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, states = _inputs(kind, opts, call)
    lengths, bf, srt = call["lengths"], opts["batch_first"], call["sorted"]
    mine = [mt.tensor(a, requires_grad=True) for a in [x, *states]]
    ref = [torch.tensor(a, requires_grad=True) for a in [x, *states]]
    out, h_n = ours(R.pack_padded_sequence(mine[0], lengths, bf, srt), _hx(kind, mine[1:]))
    tr = torch.nn.utils.rnn
    out_t, h_n_t = theirs(tr.pack_padded_sequence(ref[0], lengths, bf, srt), _hx(kind, ref[1:]))
    outs, outs_t = [out.data, *_finals(kind, h_n)], [out_t.data, *_finals(kind, h_n_t)]
    rng = np.random.default_rng(call["seed"] + 1)
    for a, b in zip(outs, outs_t):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    ws = [rng.standard_normal(a.shape) for a in outs]
    sum((a * mt.tensor(w)).sum() for a, w in zip(outs, ws)).backward()
    sum((b * torch.tensor(w)).sum() for b, w in zip(outs_t, ws)).backward()
    for i, (a, b) in enumerate(zip(mine, ref)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=f"input {i}")  # fmt: skip
    grads_t = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads_t[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("kind", KINDS)
def test_packed_stack_gradcheck_float64(kind):
    """Two bidirectional layers (LSTM projected) on an unsorted packed batch with initial states:
    the gradient through the packing, time, both directions and the layer boundary."""
    mt.manual_seed(2)
    extra = dict(proj_size=1) if kind == "LSTM" else {}
    opts = dict(hidden_size=2, num_layers=2, bidirectional=True, **extra)
    m = getattr(nn, kind)(2, **opts, dtype=np.float64)
    rng = np.random.default_rng(2)
    lengths = [2, 3, 1]
    x = mt.tensor(rng.standard_normal((3, 3, 2)), requires_grad=True)
    states = [mt.tensor(rng.standard_normal(s), requires_grad=True)
              for s in _state_shapes(kind, opts, 3)]  # fmt: skip

    def fn(x, *rest):
        p = R.pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, h_n = m(p, _hx(kind, list(rest[: len(states)])))
        return (out.data, *_finals(kind, h_n))

    assert mt.gradcheck(fn, [x, *states, *m.parameters()])


def test_dropout_between_layers_on_packed_input():
    """Training: dropout changes the output; eval: the same as without dropout."""
    mt.manual_seed(0)
    m = nn.GRU(2, 3, num_layers=2, dropout=0.5, dtype=np.float64)
    plain = nn.GRU(2, 3, num_layers=2, dtype=np.float64)
    plain.load_state_dict(m.state_dict())
    p = R.pack_sequence([mt.tensor(np.ones((n, 2))) for n in (4, 2)])
    m.eval()
    np.testing.assert_array_equal(m(p)[0].data.numpy(), plain(p)[0].data.numpy())
    m.train()
    assert not np.allclose(m(p)[0].data.numpy(), plain(p)[0].data.numpy())


# --------------------------------------------------------------------------- PackedSequence


def test_packed_sequence_is_torchs_named_tuple():
    p = R.pack_sequence([mt.tensor([1.0, 2.0]), mt.tensor([3.0])], enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert R.PackedSequence._fields == ("data", "batch_sizes", "sorted_indices",
                                        "unsorted_indices")  # fmt: skip
    assert data.tolist() == [1.0, 3.0, 2.0] and batch_sizes.tolist() == [2, 1]
    assert sorted_indices.tolist() == [0, 1] and unsorted_indices.tolist() == [0, 1]
    assert repr(p).startswith("PackedSequence(data=")
    assert not p.is_cuda
    assert p.to(np.float32) is p and p.float() is p
    d = p.double()
    assert isinstance(d, R.PackedSequence) and d.data.dtype == np.float64
    assert d.batch_sizes is p.batch_sizes and d.sorted_indices is p.sorted_indices
    assert p.cpu() is p
    q = R.PackedSequence((data, batch_sizes), sorted_indices=mt.tensor([1, 0]))
    assert q.unsorted_indices.tolist() == [1, 0]
    assert R.invert_permutation(mt.tensor([2, 0, 1])).tolist() == [1, 2, 0]
    assert R.invert_permutation(None) is None


# --------------------------------------------------------------------------- errors


def test_packing_errors_follow_torch():
    x = mt.zeros(4, 3, 2)
    with pytest.raises(ValueError, match=r"sorted in decreasing order when `enforce_sorted`"):
        R.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(ValueError, match=r"enforce_sorted"):
        R.pack_sequence([mt.zeros(1, 2), mt.zeros(2, 2)])
    with pytest.raises(ValueError, match=r"greater than 0, got lengths \[3, 0, 0\]"):
        R.pack_padded_sequence(x, [3, 0, 0])
    with pytest.raises(ValueError, match=r"greater than 0"):
        R.pack_sequence([mt.zeros(0, 3)])
    with pytest.raises(ValueError, match=r"lengths \[5, 3, 1\] go past the 4 steps"):
        R.pack_padded_sequence(x, [5, 3, 1])
    with pytest.raises(ValueError, match=r"len\(lengths\) to be equal to batch_size, got 2 "):
        R.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match=r"batch_size=4"):
        R.pack_padded_sequence(x, [3, 2, 1], batch_first=True)
    with pytest.raises(ValueError, match=r"'lengths' should be 1-D, got shape \(1, 3\)"):
        R.pack_padded_sequence(x, [[3, 2, 1]])
    with pytest.raises(ValueError, match=r"at least 2 dims .* got shape \(3,\)"):
        R.pack_padded_sequence(mt.zeros(3), [1, 1, 1])
    with pytest.raises(TypeError, match=r"pack_padded_sequence: expected a Tensor input"):
        R.pack_padded_sequence(np.zeros((2, 1)), [2])
    p = R.pack_sequence([mt.zeros(3, 2), mt.zeros(1, 2)])
    with pytest.raises(ValueError, match=r"total_length=2 and max sequence length being 3"):
        R.pad_packed_sequence(p, total_length=2)
    with pytest.raises(TypeError, match=r"pad_packed_sequence: expected a PackedSequence"):
        R.pad_packed_sequence(mt.zeros(3, 2))
    bad = R.PackedSequence(mt.zeros(5, 2), mt.tensor([2, 1, 1]))
    with pytest.raises(ValueError, match=r"batch_sizes \[2, 1, 1\] .* rows of data \(5, 2\)"):
        R.pad_packed_sequence(bad)
    with pytest.raises(ValueError, match=r"pad_sequence: received an empty list of sequences"):
        R.pad_sequence([])
    with pytest.raises(ValueError, match=r"same trailing dims .*\[\(2, 3\), \(3, 4\)\]"):
        R.pad_sequence([mt.zeros(2, 3), mt.zeros(3, 4)])
    with pytest.raises(ValueError, match=r"padding_side to be one of left or right, got 'up'"):
        R.pad_sequence([mt.zeros(2)], padding_side="up")
    with pytest.raises(ValueError, match=r"unpad_sequence: expected one length in \[0, 3\]"):
        R.unpad_sequence(mt.zeros(3, 2, 4), [3, 4])


def test_packed_rnn_errors_name_the_layer():
    m = nn.LSTM(2, 3, num_layers=2)
    p = R.pack_sequence([mt.zeros(3, 2), mt.zeros(1, 2)], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"LSTM\(2->3\): expected h_0 of shape \(2, 2, 3\), got "):
        m(p, (mt.zeros(2, 3, 3), mt.zeros(2, 2, 3)))
    with pytest.raises(ValueError, match=r"LSTM\(2->3\): expected input of size 2 .*\(4, 5\)"):
        m(R.pack_sequence([mt.zeros(3, 5), mt.zeros(1, 5)]))
    with pytest.raises(ValueError, match=r"input dtype float64 does not match"):
        m(p.double())
    with pytest.raises(ValueError, match=r"LSTM\(2->3\): batch_sizes \[1, 2\]"):
        m(R.PackedSequence(mt.zeros(3, 2), mt.tensor([1, 2])))


@pytest.mark.parametrize("kind", KINDS)
def test_sequence_ops_reject_batch_sizes_that_do_not_fit(kind):
    """functional/rnn.py's ops called directly: batch_sizes that do not add up to the packed
    rows, grow, hold a 0 or do not start at the initial state's rows (before: uninitialised
    output rows returned silently, or a NumPy broadcast error), and a 2-D input without
    batch_sizes or a padded one whose batch is not h0's: a ValueError naming the op."""
    from minitorch_cv.functional import rnn as fr

    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    w_ih, w_hh = mt.zeros(gates * 4, 2), mt.zeros(gates * 4, 4)
    op = {"RNN": "rnn_sequence", "LSTM": "lstm_sequence", "GRU": "gru_sequence"}[kind]

    def call(x, n=3, **kw):
        states = [mt.zeros(n, 4)] * (2 if kind == "LSTM" else 1)
        return getattr(fr, op)(x, *states, w_ih, w_hh, **kw)

    x = mt.zeros(5, 2)  # packed rows
    assert call(x, batch_sizes=[3, 2]).shape[0] == 5
    for bs in ([3, 1], [3, 2, 2], [2, 3], [3, 2, 0], [], [2, 2, 1]):
        with pytest.raises(ValueError, match=rf"{op}: batch_sizes \[.*\] should be positive"):
            call(x, batch_sizes=bs)
    with pytest.raises(ValueError, match=rf"{op}: expected a padded input \(T, 3, I\)"):
        call(x)
    with pytest.raises(ValueError, match=rf"{op}: .* got input \(2, 2, 2\)"):
        call(mt.zeros(2, 2, 2))


def test_unsorted_ties_sort_stably_and_pad_like_torch():
    """enforce_sorted=False sorts the lengths stably (tied sequences keep their batch order);
    torch's sort is not stable past 16 sequences, so its packed order of tied sequences can
    differ, but the padded output, h_n and the input gradient are torch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 4, 40).tolist()
    x = rng.standard_normal((3, 40, 2))
    torch.manual_seed(0)
    theirs = torch.nn.GRU(2, 3, bidirectional=True).double()
    ours = nn.GRU(2, 3, bidirectional=True, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    xs, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p = R.pack_padded_sequence(xs, lengths, enforce_sorted=False)
    assert p.sorted_indices.tolist() == np.argsort(-np.array(lengths), kind="stable").tolist()
    out, h_n = ours(p)
    out_t, h_n_t = theirs(torch.nn.utils.rnn.pack_padded_sequence(xt, lengths, False, False))
    y = R.pad_packed_sequence(out, batch_first=True, total_length=4)[0]
    yt = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=True, total_length=4)[0]
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.numpy(), h_n_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    ((y * y).sum() + h_n.sum()).backward()
    ((yt * yt).sum() + h_n_t.sum()).backward()
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.parametrize("kind", KINDS)
def test_gpu_packed_matches_cpu(kind):
    """pack (unsorted) -> a bidirectional 2-layer stack -> pad on CuPy: outputs, h_n and every
    gradient equal the NumPy run (float32)."""
    from minitorch_cv.backend import to_device

    mt.manual_seed(0)
    extra = dict(proj_size=2) if kind == "LSTM" else {}
    cpu = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, **extra)
    gpu = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, **extra)
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 3)).astype(np.float32)
    results = []
    for m, dev in ((cpu, "cpu"), (gpu, "cuda")):
        xt = mt.Tensor(to_device(x, dev), requires_grad=True)
        p = R.pack_padded_sequence(xt, [2, 5, 3], enforce_sorted=False)
        assert p.is_cuda == (dev == "cuda") and p.batch_sizes.device.type == "cpu"
        out, h_n = m(p)
        y, _ = R.pad_packed_sequence(out, padding_value=1.0)
        outs = [y, *_finals(kind, h_n)]
        sum((o * o).sum() for o in outs).backward()
        arrays = [*outs, xt.grad, *(q.grad for q in m.parameters())]
        results.append([to_device(a._data, "cpu") for a in arrays])
    for i, (a, b) in enumerate(zip(*results)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"array {i}")
