"""Recurrent layers as fused ops: one Function runs one layer in one direction over a whole
sequence, and its backward is back-propagation through time in closed form.

Time-major shapes throughout: x (T, N, I), states (N, H). The input projection of every time
step is one GEMM, x W_ih^T over (T*N, I), before the loop; the loop over time is inherent (step
t needs h_{t-1}) and holds one (N, H) x (H, G*H) product per step. In the backward the loop only
carries the gradients of the state back through time; the weight gradients and the input
gradient are each one GEMM over all steps after it:

    dW_ih = dA^T x      dW_hh = dA^T h_prev      dx = dA W_ih      db = sum(dA)

with dA (T, N, G*H) the gradients of the gates' pre-activations and h_prev the state each step
read. `reverse=True` runs the same recursion from t = T-1 down to 0 (the backward direction of
a bidirectional layer); outputs stay in input order.

A Function has one differentiable output, so the LSTM's is the sequence of both states, [h_t | c_t]
of shape (T, N, P + H); the layer slices h (its output) and the last c (c_n) from it. Every
state these ops return is therefore differentiable, and the backward reads the states it needs
from that saved output instead of a second copy.

The layers (nn.RNN, nn.LSTM, nn.GRU and the cells, layers/rnn.py) are built on these three.
"""

from __future__ import annotations

from ..backend import xp_of
from ..tensor import Function
from .activation import _sigmoid


def _steps(n: int, reverse: bool):
    """The time steps in the order the recursion visits them."""
    return range(n - 1, -1, -1) if reverse else range(n)


def _input_projection(x, w_ih, bias):
    """x W_ih^T (+ bias) for every step at once: (T, N, I) -> (T, N, G*H), one GEMM."""
    t, n, i = x.shape
    pre = (x.reshape(t * n, i) @ w_ih.T).reshape(t, n, w_ih.shape[0])
    if bias is not None:
        pre += bias
    return pre


def _previous(seq, first, reverse: bool):
    """The state each step read: (first, seq[0], ..., seq[T-2]) in visiting order, in input
    order (T, N, H)."""
    xp = xp_of(seq)
    if reverse:
        return xp.concatenate([seq[1:], first[None]], axis=0)
    return xp.concatenate([first[None], seq[:-1]], axis=0)


def _weight_grads(dpre, x, h_prev, w_ih, need):
    """dx, dW_ih, dW_hh and the bias gradient from the pre-activation gradients dpre
    (T, N, G*H): one GEMM each over all T*N rows; `need` says which of the four to compute."""
    t, n, g = dpre.shape
    flat = dpre.reshape(t * n, g)
    gx = (flat @ w_ih).reshape(x.shape) if need[0] else None
    # explicit widths: reshape(t * n, -1) is ambiguous for an empty batch
    gw_ih = flat.T @ x.reshape(t * n, x.shape[-1]) if need[1] else None
    gw_hh = flat.T @ h_prev.reshape(t * n, h_prev.shape[-1]) if need[2] else None
    gb = flat.sum(axis=0) if need[3] else None
    return gx, gw_ih, gw_hh, gb


def _two(gb):
    """The same bias gradient for b_ih and b_hh, as two arrays (a leaf's .grad must not share
    its array with another's)."""
    return (None, None) if gb is None else (gb, gb.copy())


class RNNSequence(Function):
    """Elman RNN over a sequence:  h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).

    Shapes: x (T, N, I), h0 (N, H), w_ih (H, I), w_hh (H, H), b_ih, b_hh (H,) or None
            -> h (T, N, H), the state after every step.
    Gradient: dA_t = (g_t + dh_{t+1}) * act'(h_t), with act' = 1 - h^2 (tanh) or [h > 0]
    (relu);  dh_t (carried to step t-1) = dA_t W_hh;  dh0 is the last one carried.
    """

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, *, nonlinearity, reverse):
        xp = xp_of(x, w_ih)
        bias = None if b_ih is None else b_ih + b_hh
        pre = _input_projection(x, w_ih, bias)
        out = xp.empty(pre.shape, dtype=x.dtype)
        h = h0
        for t in _steps(len(x), reverse):
            a = pre[t] + h @ w_hh.T
            h = xp.tanh(a) if nonlinearity == "tanh" else xp.maximum(a, 0)
            out[t] = h
        ctx.save_for_backward(x, h0, w_ih, w_hh, out)
        ctx.relu, ctx.reverse, ctx.has_bias = nonlinearity == "relu", reverse, b_ih is not None
        return out

    @staticmethod
    def backward(ctx, g):
        x, h0, w_ih, w_hh, out = ctx.saved_tensors
        xp = xp_of(g)
        dpre = xp.empty_like(out)
        dh = xp.zeros_like(h0)
        for t in _steps(len(x), not ctx.reverse):
            h = out[t]
            slope = (h > 0).astype(h.dtype) if ctx.relu else 1 - h * h
            dpre[t] = (g[t] + dh) * slope
            dh = dpre[t] @ w_hh
        need = ctx.needs_input_grad  # x, h0, w_ih, w_hh, b_ih, b_hh
        h_prev = _previous(out, h0, ctx.reverse)
        need_b = ctx.has_bias and (need[4] or need[5])
        gx, gw_ih, gw_hh, gb = _weight_grads(
            dpre, x, h_prev, w_ih, (need[0], need[2], need[3], need_b)
        )
        return gx, dh, gw_ih, gw_hh, *_two(gb)


class LSTMSequence(Function):
    """LSTM over a sequence, gates in PyTorch's order (i, f, g, o):

        i, f, o = sigmoid(.), g = tanh(.)  of  x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
        c_t = f c_{t-1} + i g          m_t = o tanh(c_t)          h_t = m_t W_hr^T  (or m_t)

    Shapes: x (T, N, I), h0 (N, P), c0 (N, H), w_ih (4H, I), w_hh (4H, P), biases (4H,) or
            None, w_hr (P, H) or None (then P = H) -> [h | c] (T, N, P + H).
    Gradient, with dh, dc the totals reaching step t (from the output and from step t+1):
        dm = dh W_hr (or dh)         dc += dm o (1 - tanh^2 c_t)
        dA_i = dc g i(1-i)   dA_f = dc c_{t-1} f(1-f)   dA_g = dc i (1-g^2)
        dA_o = dm tanh(c_t) o(1-o)
        carried to t-1:  dh = dA W_hh,  dc = dc f;      dW_hr = sum_t dh_t^T m_t
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, *, reverse):
        xp = xp_of(x, w_ih)
        hid, p = c0.shape[-1], h0.shape[-1]
        bias = None if b_ih is None else b_ih + b_hh
        pre = _input_projection(x, w_ih, bias)
        gates = xp.empty_like(pre)  # activated: i, f, g, o
        out = xp.empty(pre.shape[:2] + (p + hid,), dtype=x.dtype)
        h, c = h0, c0
        for t in _steps(len(x), reverse):
            a = pre[t] + h @ w_hh.T
            s = gates[t]
            s[...] = _sigmoid(a)
            s[:, 2 * hid : 3 * hid] = xp.tanh(a[:, 2 * hid : 3 * hid])
            i, f, gg, o = (s[:, k * hid : (k + 1) * hid] for k in range(4))
            c = f * c + i * gg
            h = o * xp.tanh(c)
            if w_hr is not None:
                h = h @ w_hr.T
            out[t, :, :p] = h
            out[t, :, p:] = c
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, w_hr, gates, out)
        ctx.reverse, ctx.has_bias = reverse, b_ih is not None
        return out

    @staticmethod
    def backward(ctx, g):
        x, h0, c0, w_ih, w_hh, w_hr, gates, out = ctx.saved_tensors
        xp = xp_of(g)
        hid, p = c0.shape[-1], h0.shape[-1]
        hs, cs = out[..., :p], out[..., p:]
        c_prev = _previous(cs, c0, ctx.reverse)
        tanh_c = xp.tanh(cs)
        dpre = xp.empty_like(gates)
        dh_all = xp.empty_like(hs) if w_hr is not None else None  # for dW_hr
        dh, dc = xp.zeros_like(h0), xp.zeros_like(c0)
        for t in _steps(len(x), not ctx.reverse):
            i, f, gg, o = (gates[t, :, k * hid : (k + 1) * hid] for k in range(4))
            dh = g[t, :, :p] + dh
            if w_hr is not None:
                dh_all[t] = dh
                dm = dh @ w_hr
            else:
                dm = dh
            tc = tanh_c[t]
            dc = g[t, :, p:] + dc + dm * o * (1 - tc * tc)
            d = dpre[t]
            d[:, :hid] = dc * gg * i * (1 - i)
            d[:, hid : 2 * hid] = dc * c_prev[t] * f * (1 - f)
            d[:, 2 * hid : 3 * hid] = dc * i * (1 - gg * gg)
            d[:, 3 * hid :] = dm * tc * o * (1 - o)
            dh = d @ w_hh
            dc = dc * f
        need = ctx.needs_input_grad  # x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr
        h_prev = _previous(hs, h0, ctx.reverse)
        need_b = ctx.has_bias and (need[5] or need[6])
        gx, gw_ih, gw_hh, gb = _weight_grads(
            dpre, x, h_prev, w_ih, (need[0], need[3], need[4], need_b)
        )
        gw_hr = None
        if w_hr is not None and need[7]:
            m = gates[..., 3 * hid :] * tanh_c  # (T, N, H): what W_hr multiplied
            n_rows = m.shape[0] * m.shape[1]
            gw_hr = dh_all.reshape(n_rows, p).T @ m.reshape(n_rows, hid)
        return gx, dh, dc, gw_ih, gw_hh, *_two(gb), gw_hr


class GRUSequence(Function):
    """GRU over a sequence, gates in PyTorch's order (r, z, n):

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)     z likewise with the z rows
        n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))    h_t = (1 - z) n + z h_{t-1}

    Shapes: x (T, N, I), h0 (N, H), w_ih (3H, I), w_hh (3H, H), biases (3H,) or None
            -> h (T, N, H).
    Gradient, with dh the total reaching step t and hn = h W_hn^T + b_hn:
        dA_n = dh (1-z)(1-n^2)    dA_z = dh (h_{t-1} - n) z(1-z)    dA_r = dA_n hn r(1-r)
        the hidden side's pre-activations get (dA_r, dA_z, dA_n r), so b_ih and b_hh differ
        carried to t-1:  dh = dh z + (dA_r, dA_z, dA_n r) W_hh
    """

    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, *, reverse):
        xp = xp_of(x, w_ih)
        hid = h0.shape[-1]
        pre = _input_projection(x, w_ih, b_ih)
        acts = xp.empty_like(pre)  # r, z, n
        hn_all = xp.empty(pre.shape[:2] + (hid,), dtype=x.dtype)
        out = xp.empty_like(hn_all)
        h = h0
        for t in _steps(len(x), reverse):
            gh = h @ w_hh.T
            if b_hh is not None:
                gh += b_hh
            s = acts[t]
            s[:, : 2 * hid] = _sigmoid(pre[t, :, : 2 * hid] + gh[:, : 2 * hid])
            r, z = s[:, :hid], s[:, hid : 2 * hid]
            hn_all[t] = gh[:, 2 * hid :]
            s[:, 2 * hid :] = xp.tanh(pre[t, :, 2 * hid :] + r * hn_all[t])
            n = s[:, 2 * hid :]
            h = n + z * (h - n)
            out[t] = h
        ctx.save_for_backward(x, h0, w_ih, w_hh, acts, hn_all, out)
        ctx.reverse, ctx.has_bias = reverse, b_ih is not None
        return out

    @staticmethod
    def backward(ctx, g):
        x, h0, w_ih, w_hh, acts, hn_all, out = ctx.saved_tensors
        xp = xp_of(g)
        hid = h0.shape[-1]
        h_prev = _previous(out, h0, ctx.reverse)
        dpre = xp.empty_like(acts)  # input side: (dA_r, dA_z, dA_n)
        dhid = xp.empty_like(acts)  # hidden side: (dA_r, dA_z, dA_n r)
        dh = xp.zeros_like(h0)
        for t in _steps(len(x), not ctx.reverse):
            r, z, n = (acts[t, :, k * hid : (k + 1) * hid] for k in range(3))
            dh = g[t] + dh
            d, e = dpre[t], dhid[t]
            d[:, 2 * hid :] = dh * (1 - z) * (1 - n * n)
            d[:, hid : 2 * hid] = dh * (h_prev[t] - n) * z * (1 - z)
            d[:, :hid] = d[:, 2 * hid :] * hn_all[t] * r * (1 - r)
            e[:, : 2 * hid] = d[:, : 2 * hid]
            e[:, 2 * hid :] = d[:, 2 * hid :] * r
            dh = dh * z + e @ w_hh
        need = ctx.needs_input_grad  # x, h0, w_ih, w_hh, b_ih, b_hh
        has_b = ctx.has_bias
        # the input side (x, W_ih, b_ih) from dpre, the hidden side (W_hh, b_hh) from dhid
        gx, gw_ih, _, gb_ih = _weight_grads(
            dpre, x, h_prev, w_ih, (need[0], need[2], False, has_b and need[4])
        )
        _, _, gw_hh, gb_hh = _weight_grads(
            dhid, x, h_prev, w_ih, (False, False, need[3], has_b and need[5])
        )
        return gx, dh, gw_ih, gw_hh, gb_ih, gb_hh


def rnn_sequence(input, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, nonlinearity="tanh",
                 reverse=False):  # fmt: skip
    """One Elman RNN layer over a time-major sequence: (T, N, I), h0 (N, H) -> (T, N, H)."""
    return RNNSequence.apply(
        input, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity, reverse=reverse
    )


def lstm_sequence(input, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, *, reverse=False):
    """One LSTM layer over a time-major sequence: (T, N, I), h0 (N, P), c0 (N, H) ->
    [h | c] (T, N, P + H), the states after every step side by side."""
    return LSTMSequence.apply(input, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse=reverse)


def gru_sequence(input, h0, w_ih, w_hh, b_ih=None, b_hh=None, *, reverse=False):
    """One GRU layer over a time-major sequence: (T, N, I), h0 (N, H) -> (T, N, H)."""
    return GRUSequence.apply(input, h0, w_ih, w_hh, b_ih, b_hh, reverse=reverse)
