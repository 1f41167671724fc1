"""Recurrent layers as fused ops: one Function runs one layer in one direction over a whole
sequence, and its backward is back-propagation through time in closed form.

A sequence is either padded, x (T, N, I) time-major, or packed (the layout of
nn.utils.rnn.PackedSequence): x (R, I) holding batch_sizes[t] rows for step t, those of the first
batch_sizes[t] sequences, which are sorted by decreasing length so the sizes never grow. A padded
batch is the packed layout with every batch size N, so one code path serves both: step t is the
slice of rows [start_t, start_t + size_t) and reads (and writes) the first size_t rows of the
(N, H) state, the only difference variable lengths make. A sequence that has ended keeps its
state in the rows past size_t, so after the last step the state holds each sequence's state at
its own last step; in reverse, a sequence joins when t reaches its own last step, from h0.

The input projection of every step is one GEMM, x W_ih^T over all R rows, before the loop; the
loop over time is inherent (step t needs h_{t-1}) and holds one (size_t, H) x (H, G*H) product
per step. In the backward the loop only carries the gradients of the state back through time;
the weight gradients and the input gradient are each one GEMM over all rows after it:

    dW_ih = dA^T x      dW_hh = dA^T h_prev      dx = dA W_ih      db = sum(dA)

with dA (R, G*H) the gradients of the gates' pre-activations and h_prev the state each row read
(gathered from the saved output and h0, `_previous_rows`). `reverse=True` runs the same
recursion from the last step to the first (the backward direction of a bidirectional layer);
outputs stay in input order.

A Function has one differentiable output, so the LSTM's is the sequence of both states, [h_t | c_t]
of shape (T, N, P + H) (or (R, P + H)); the layer slices h (its output) and the last c (c_n) from
it. Every state these ops return is therefore differentiable, and the backward reads the states
it needs from that saved output instead of a second copy.

GatherRows and ScatterRows, each the other's adjoint, move rows between a padded and a packed
batch (nn.utils.rnn's pack_padded_sequence, pad_packed_sequence, pad_sequence).

The layers (nn.RNN, nn.LSTM, nn.GRU and the cells, layers/rnn.py) are built on the first three.
"""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..tensor import Function
from .activation import _sigmoid

# --------------------------------------------------------------------------- layout


def _spans(x, n: int, batch_sizes, op: str) -> list:
    """(start, size) of each time step's rows in x as (R, I) rows: T steps of N rows for a
    padded x (T, N, I), batch_sizes[t] rows for a packed x (R, I); checked against x and the
    N rows of the initial state."""
    if batch_sizes is None:
        if x.ndim != 3 or x.shape[1] != n:
            raise ValueError(
                f"{op}: expected a padded input (T, {n}, I) for an initial state of {n} rows, "
                f"or packed rows (R, I) with batch_sizes, got input {tuple(x.shape)}"
            )
        sizes = [x.shape[1]] * x.shape[0]
    else:
        sizes = [int(b) for b in batch_sizes]
        if (
            x.ndim != 2
            or not sizes
            or sizes[0] != n
            or sizes[-1] < 1
            or any(a < b for a, b in zip(sizes, sizes[1:]))
            or sum(sizes) != x.shape[0]
        ):
            raise ValueError(
                f"{op}: batch_sizes {sizes} should be positive and non-increasing, start at the "
                f"{n} rows of the initial state and add up to the rows of the packed input "
                f"{tuple(x.shape)}"
            )
    starts = np.cumsum([0] + sizes[:-1]).tolist()
    return list(zip(starts, sizes))


def _rows(a, width: int):
    """(T, N, W) or (R, W) as (R, W) rows (the width given: reshape(R, -1) is ambiguous for an
    empty batch)."""
    return a.reshape(-1, width)


def _steps(spans, reverse: bool) -> list:
    """The (start, size) of the steps in the order the recursion visits them."""
    return spans[::-1] if reverse else spans


def _previous_rows(spans, reverse: bool) -> np.ndarray:
    """For each row (sequence j at step t), the row of the state it read in [outputs; h0]: j's row
    at the step visited before (t-1, or t+1 in reverse) if j was active there, else R + j (h0)."""
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    sizes = np.array([b for _, b in spans], dtype=np.int64)
    step = np.repeat(np.arange(len(spans)), sizes)
    seq = np.arange(len(step)) - starts[step]
    before = step + (1 if reverse else -1)
    clipped = np.clip(before, 0, max(len(spans) - 1, 0))
    read = (before >= 0) & (before < len(spans)) & (seq < sizes[clipped])
    return np.where(read, starts[clipped] + seq, len(step) + seq)


def _previous(out, first, spans, reverse: bool):
    """The state each row read, (R, H): rows of the output `out` (R, H) or of `first` (N, H)."""
    xp = xp_of(out)
    n = len(first)
    if all(b == n for _, b in spans):  # padded: the outputs shifted by one step, first at the end
        pieces = [out[n:], first] if reverse else [first, out[: len(out) - n]]
        return xp.concatenate(pieces)
    idx = xp.asarray(_previous_rows(spans, reverse))
    return xp.concatenate([out, first]).take(idx, axis=0)


def _set_first(state, new):
    """`state` (N, H) with its first len(new) rows replaced by `new`: `new` itself when it
    covers every row (a padded batch: no copy), else `state` updated in place (it must own its
    memory)."""
    if len(new) == len(state):
        return new
    state[: len(new)] = new
    return state


def _input_projection(x, w_ih, bias):
    """x W_ih^T (+ bias) for every row at once: (R, I) -> (R, G*H), one GEMM."""
    pre = x @ w_ih.T
    if bias is not None:
        pre += bias
    return pre


def _weight_grads(dpre, x, h_prev, w_ih, need):
    """dx, dW_ih, dW_hh and the bias gradient from the pre-activation gradients dpre
    (R, G*H), x (R, I), h_prev (R, H): one GEMM each over all R rows; `need` says which of the
    four to compute."""
    gx = dpre @ w_ih if need[0] else None
    gw_ih = dpre.T @ x if need[1] else None
    gw_hh = dpre.T @ h_prev if need[2] else None
    gb = dpre.sum(axis=0) if need[3] else None
    return gx, gw_ih, gw_hh, gb


def _two(gb):
    """The same bias gradient for b_ih and b_hh, as two arrays (a leaf's .grad must not share
    its array with another's)."""
    return (None, None) if gb is None else (gb, gb.copy())


def _shaped(out, x, padded: bool):
    """The rows `out` (R, W) as (T, N, W) when the input x was padded (T, N, I)."""
    return out.reshape(x.shape[:2] + out.shape[1:]) if padded else out


# --------------------------------------------------------------------------- the recurrences


class RNNSequence(Function):
    """Elman RNN over a sequence:  h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).

    Shapes: x (T, N, I) padded or (R, I) packed by batch_sizes, h0 (N, H), w_ih (H, I),
            w_hh (H, H), b_ih, b_hh (H,) or None -> h (T, N, H) or (R, H), the state after
            every step.
    Gradient: dA_t = (g_t + dh_{t+1}) * act'(h_t), with act' = 1 - h^2 (tanh) or [h > 0]
    (relu);  dh_t (carried to step t-1) = dA_t W_hh;  dh0 is the last one carried.
    """

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, *, nonlinearity, reverse, batch_sizes=None):
        xp = xp_of(x, w_ih)
        spans = _spans(x, len(h0), batch_sizes, "rnn_sequence")
        bias = None if b_ih is None else b_ih + b_hh
        pre = _input_projection(_rows(x, x.shape[-1]), w_ih, bias)
        out = xp.empty(pre.shape, dtype=x.dtype)
        h = h0.copy()
        for lo, b in _steps(spans, reverse):
            a = pre[lo : lo + b] + h[:b] @ w_hh.T
            h = _set_first(h, xp.tanh(a) if nonlinearity == "tanh" else xp.maximum(a, 0))
            out[lo : lo + b] = h[:b]
        out = _shaped(out, x, batch_sizes is None)
        ctx.save_for_backward(x, h0, w_ih, w_hh, out)
        ctx.relu, ctx.reverse, ctx.has_bias = nonlinearity == "relu", reverse, b_ih is not None
        ctx.spans = spans
        return out

    @staticmethod
    def backward(ctx, g):
        x, h0, w_ih, w_hh, out = ctx.saved_tensors
        xp = xp_of(g)
        hid = h0.shape[-1]
        out, g = _rows(out, hid), _rows(g, hid)
        dpre = xp.empty_like(out)
        dh = xp.zeros_like(h0)
        for lo, b in _steps(ctx.spans, not ctx.reverse):
            h = out[lo : lo + b]
            slope = (h > 0).astype(h.dtype) if ctx.relu else 1 - h * h
            dpre[lo : lo + b] = (g[lo : lo + b] + dh[:b]) * slope
            dh = _set_first(dh, dpre[lo : lo + b] @ w_hh)
        need = ctx.needs_input_grad  # x, h0, w_ih, w_hh, b_ih, b_hh
        h_prev = _previous(out, h0, ctx.spans, ctx.reverse)
        need_b = ctx.has_bias and (need[4] or need[5])
        gx, gw_ih, gw_hh, gb = _weight_grads(
            dpre, _rows(x, x.shape[-1]), h_prev, w_ih, (need[0], need[2], need[3], need_b)
        )
        gx = None if gx is None else gx.reshape(x.shape)
        return gx, dh, gw_ih, gw_hh, *_two(gb)


class LSTMSequence(Function):
    """LSTM over a sequence, gates in PyTorch's order (i, f, g, o):

        i, f, o = sigmoid(.), g = tanh(.)  of  x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
        c_t = f c_{t-1} + i g          m_t = o tanh(c_t)          h_t = m_t W_hr^T  (or m_t)

    Shapes: x (T, N, I) padded or (R, I) packed by batch_sizes, h0 (N, P), c0 (N, H),
            w_ih (4H, I), w_hh (4H, P), biases (4H,) or None, w_hr (P, H) or None (then P = H)
            -> [h | c] (T, N, P + H) or (R, P + H).
    Gradient, with dh, dc the totals reaching step t (from the output and from step t+1):
        dm = dh W_hr (or dh)         dc += dm o (1 - tanh^2 c_t)
        dA_i = dc g i(1-i)   dA_f = dc c_{t-1} f(1-f)   dA_g = dc i (1-g^2)
        dA_o = dm tanh(c_t) o(1-o)
        carried to t-1:  dh = dA W_hh,  dc = dc f;      dW_hr = sum_t dh_t^T m_t
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, *, reverse, batch_sizes=None):
        xp = xp_of(x, w_ih)
        spans = _spans(x, len(h0), batch_sizes, "lstm_sequence")
        hid, p = c0.shape[-1], h0.shape[-1]
        bias = None if b_ih is None else b_ih + b_hh
        pre = _input_projection(_rows(x, x.shape[-1]), w_ih, bias)
        gates = xp.empty_like(pre)  # activated: i, f, g, o
        out = xp.empty((len(pre), p + hid), dtype=x.dtype)
        h, c = h0.copy(), c0.copy()
        for lo, b in _steps(spans, reverse):
            a = pre[lo : lo + b] + h[:b] @ w_hh.T
            s = gates[lo : lo + b]
            s[...] = _sigmoid(a)
            s[:, 2 * hid : 3 * hid] = xp.tanh(a[:, 2 * hid : 3 * hid])
            i, f, gg, o = (s[:, k * hid : (k + 1) * hid] for k in range(4))
            c = _set_first(c, f * c[:b] + i * gg)
            m = o * xp.tanh(c[:b])
            h = _set_first(h, m if w_hr is None else m @ w_hr.T)
            out[lo : lo + b, :p] = h[:b]
            out[lo : lo + b, p:] = c[:b]
        out = _shaped(out, x, batch_sizes is None)
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, w_hr, gates, out)
        ctx.reverse, ctx.has_bias, ctx.spans = reverse, b_ih is not None, spans
        return out

    @staticmethod
    def backward(ctx, g):
        x, h0, c0, w_ih, w_hh, w_hr, gates, out = ctx.saved_tensors
        xp = xp_of(g)
        hid, p = c0.shape[-1], h0.shape[-1]
        out, g = _rows(out, p + hid), _rows(g, p + hid)
        hs, cs = out[:, :p], out[:, p:]
        c_prev = _previous(cs, c0, ctx.spans, ctx.reverse)
        tanh_c = xp.tanh(cs)
        dpre = xp.empty_like(gates)
        dh_all = xp.empty_like(hs) if w_hr is not None else None  # for dW_hr
        dh, dc = xp.zeros_like(h0), xp.zeros_like(c0)
        for lo, b in _steps(ctx.spans, not ctx.reverse):
            rows = slice(lo, lo + b)
            i, f, gg, o = (gates[rows, k * hid : (k + 1) * hid] for k in range(4))
            dh_t = g[rows, :p] + dh[:b]
            if w_hr is not None:
                dh_all[rows] = dh_t
                dm = dh_t @ w_hr
            else:
                dm = dh_t
            tc = tanh_c[rows]
            dc_t = g[rows, p:] + dc[:b] + dm * o * (1 - tc * tc)
            d = dpre[rows]
            d[:, :hid] = dc_t * gg * i * (1 - i)
            d[:, hid : 2 * hid] = dc_t * c_prev[rows] * f * (1 - f)
            d[:, 2 * hid : 3 * hid] = dc_t * i * (1 - gg * gg)
            d[:, 3 * hid :] = dm * tc * o * (1 - o)
            dh = _set_first(dh, d @ w_hh)
            dc = _set_first(dc, dc_t * f)
        need = ctx.needs_input_grad  # x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr
        h_prev = _previous(hs, h0, ctx.spans, ctx.reverse)
        need_b = ctx.has_bias and (need[5] or need[6])
        gx, gw_ih, gw_hh, gb = _weight_grads(
            dpre, _rows(x, x.shape[-1]), h_prev, w_ih, (need[0], need[3], need[4], need_b)
        )
        gx = None if gx is None else gx.reshape(x.shape)
        gw_hr = None
        if w_hr is not None and need[7]:
            gw_hr = dh_all.T @ (gates[:, 3 * hid :] * tanh_c)  # m, what W_hr multiplied
        return gx, dh, dc, gw_ih, gw_hh, *_two(gb), gw_hr


class GRUSequence(Function):
    """GRU over a sequence, gates in PyTorch's order (r, z, n):

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)     z likewise with the z rows
        n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))    h_t = (1 - z) n + z h_{t-1}

    Shapes: x (T, N, I) padded or (R, I) packed by batch_sizes, h0 (N, H), w_ih (3H, I),
            w_hh (3H, H), biases (3H,) or None -> h (T, N, H) or (R, H).
    Gradient, with dh the total reaching step t and hn = h W_hn^T + b_hn:
        dA_n = dh (1-z)(1-n^2)    dA_z = dh (h_{t-1} - n) z(1-z)    dA_r = dA_n hn r(1-r)
        the hidden side's pre-activations get (dA_r, dA_z, dA_n r), so b_ih and b_hh differ
        carried to t-1:  dh = dh z + (dA_r, dA_z, dA_n r) W_hh
    """

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, *, reverse, batch_sizes=None):
        xp = xp_of(x, w_ih)
        spans = _spans(x, len(h0), batch_sizes, "gru_sequence")
        hid = h0.shape[-1]
        pre = _input_projection(_rows(x, x.shape[-1]), w_ih, b_ih)
        acts = xp.empty_like(pre)  # r, z, n
        hn_all = xp.empty((len(pre), hid), dtype=x.dtype)
        out = xp.empty_like(hn_all)
        h = h0.copy()
        for lo, b in _steps(spans, reverse):
            gh = h[:b] @ w_hh.T
            if b_hh is not None:
                gh += b_hh
            s = acts[lo : lo + b]
            s[:, : 2 * hid] = _sigmoid(pre[lo : lo + b, : 2 * hid] + gh[:, : 2 * hid])
            r, z = s[:, :hid], s[:, hid : 2 * hid]
            hn_all[lo : lo + b] = gh[:, 2 * hid :]
            s[:, 2 * hid :] = xp.tanh(pre[lo : lo + b, 2 * hid :] + r * gh[:, 2 * hid :])
            n = s[:, 2 * hid :]
            h = _set_first(h, n + z * (h[:b] - n))
            out[lo : lo + b] = h[:b]
        out = _shaped(out, x, batch_sizes is None)
        ctx.save_for_backward(x, h0, w_ih, w_hh, acts, hn_all, out)
        ctx.reverse, ctx.has_bias, ctx.spans = reverse, b_ih is not None, spans
        return out

    @staticmethod
    def backward(ctx, g):
        x, h0, w_ih, w_hh, acts, hn_all, out = ctx.saved_tensors
        xp = xp_of(g)
        hid = h0.shape[-1]
        out, g = _rows(out, hid), _rows(g, hid)
        h_prev = _previous(out, h0, ctx.spans, ctx.reverse)
        dpre = xp.empty_like(acts)  # input side: (dA_r, dA_z, dA_n)
        dhid = xp.empty_like(acts)  # hidden side: (dA_r, dA_z, dA_n r)
        dh = xp.zeros_like(h0)
        for lo, b in _steps(ctx.spans, not ctx.reverse):
            rows = slice(lo, lo + b)
            r, z, n = (acts[rows, k * hid : (k + 1) * hid] for k in range(3))
            dh_t = g[rows] + dh[:b]
            d, e = dpre[rows], dhid[rows]
            d[:, 2 * hid :] = dh_t * (1 - z) * (1 - n * n)
            d[:, hid : 2 * hid] = dh_t * (h_prev[rows] - n) * z * (1 - z)
            d[:, :hid] = d[:, 2 * hid :] * hn_all[rows] * r * (1 - r)
            e[:, : 2 * hid] = d[:, : 2 * hid]
            e[:, 2 * hid :] = d[:, 2 * hid :] * r
            dh = _set_first(dh, dh_t * z + e @ w_hh)
        need = ctx.needs_input_grad  # x, h0, w_ih, w_hh, b_ih, b_hh
        has_b = ctx.has_bias
        x_rows = _rows(x, x.shape[-1])
        # the input side (x, W_ih, b_ih) from dpre, the hidden side (W_hh, b_hh) from dhid
        gx, gw_ih, _, gb_ih = _weight_grads(
            dpre, x_rows, h_prev, w_ih, (need[0], need[2], False, has_b and need[4])
        )
        _, _, gw_hh, gb_hh = _weight_grads(
            dhid, x_rows, h_prev, w_ih, (False, False, need[3], has_b and need[5])
        )
        gx = None if gx is None else gx.reshape(x.shape)
        return gx, dh, gw_ih, gw_hh, gb_ih, gb_hh


def rnn_sequence(input, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, nonlinearity="tanh",
                 reverse=False, batch_sizes=None):  # fmt: skip
    """One Elman RNN layer over a time-major sequence: (T, N, I), h0 (N, H) -> (T, N, H); or
    over packed rows (R, I) with `batch_sizes` (ints, one per step) -> (R, H)."""
    return RNNSequence.apply(
        input, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity, reverse=reverse,
        batch_sizes=batch_sizes,
    )  # fmt: skip


def lstm_sequence(input, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, reverse=False,
                  batch_sizes=None):  # fmt: skip
    """One LSTM layer over a time-major sequence: (T, N, I), h0 (N, P), c0 (N, H) ->
    [h | c] (T, N, P + H), the states after every step side by side; or over packed rows
    (R, I) with `batch_sizes` -> (R, P + H)."""
    return LSTMSequence.apply(
        input, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse=reverse, batch_sizes=batch_sizes
    )


def gru_sequence(input, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, reverse=False, batch_sizes=None):
    """One GRU layer over a time-major sequence: (T, N, I), h0 (N, H) -> (T, N, H); or over
    packed rows (R, I) with `batch_sizes` -> (R, H)."""
    return GRUSequence.apply(
        input, h0, w_ih, w_hh, b_ih, b_hh, reverse=reverse, batch_sizes=batch_sizes
    )


# --------------------------------------------------------------------------- packing


class GatherRows(Function):
    """Rows of a padded batch in the order `rows` lists them (distinct flat indices into its
    first two dims): padded (A, B, *) -> (len(rows), *), out[k] = padded[rows[k] // B,
    rows[k] % B]. Packs padded sequences. Gradient: g scattered back to those rows, zeros
    elsewhere (ScatterRows, its adjoint)."""

    @staticmethod
    def forward(ctx, padded, *, rows):
        ctx.shape, ctx.rows = padded.shape, rows
        flat = padded.reshape((padded.shape[0] * padded.shape[1],) + padded.shape[2:])
        return flat.take(rows, axis=0)

    @staticmethod
    def backward(ctx, g):
        return _scatter_rows(g, ctx.rows, ctx.shape, 0)


class ScatterRows(Function):
    """The rows of `data` (R, *) placed at the distinct flat positions `rows` of a new (A, B, *)
    array `shape` that holds `padding_value` elsewhere. Pads packed sequences. Gradient: g's
    rows at those positions (GatherRows, its adjoint)."""

    @staticmethod
    def forward(ctx, data, *, rows, shape, padding_value):
        ctx.rows = rows
        return _scatter_rows(data, rows, shape, padding_value)

    @staticmethod
    def backward(ctx, g):
        flat = g.reshape((g.shape[0] * g.shape[1],) + g.shape[2:])
        return flat.take(ctx.rows, axis=0)


def _scatter_rows(data, rows, shape, fill):
    xp = xp_of(data)
    out = xp.full((shape[0] * shape[1],) + tuple(shape[2:]), fill, dtype=data.dtype)
    out[rows] = data
    return out.reshape(shape)
