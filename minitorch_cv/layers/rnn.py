"""Recurrent layers: nn.RNN, nn.LSTM, nn.GRU and their single-step cells, with PyTorch's
arguments, parameter names and shapes, gate order, initialisation and return values.

Each layer (and direction) of a stack is one call into functional/rnn.py, whose Functions run
the whole sequence with the input projection of all steps as one GEMM and carry gradients back
through time in closed form; a cell is the same Function over a sequence of one step. The stack
itself (layers, directions, dropout between layers, batch_first, unbatched input) is plain
composition here.

Variable-length batches come as a PackedSequence (nn.utils.rnn, rnn_utils.py): the same Functions
run on its rows, step t on the first batch_sizes[t] of them (the sequences still running, a
slice), so no step is computed on padding and h_n holds each sequence's state at its own last
step (in reverse, after reading the sequence from its own end). As in PyTorch, hx and h_n are in
the batch's own order (permuted by sorted_indices going in, by unsorted_indices coming out), the
output is a PackedSequence with the input's batch_sizes and indices, and batch_first does not
apply (the packed data is (sum of the lengths, *)).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import functional as F
from .. import init
from ..backend import xp_of
from ..functional.rnn import gru_sequence, lstm_sequence, rnn_sequence
from ..tensor import Tensor, empty
from .module import Module, Parameter
from .rnn_utils import PackedSequence, _batch_sizes, _lengths_of

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_size(owner: str, name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} should be of type int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be at least {minimum}, got {value}")
    return int(value)


def _check_bias(owner: str, bias) -> bool:
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"{owner}: bias should be of type bool, got {type(bias).__name__}")
    return bool(bias)


def _check_nonlinearity(owner: str, nonlinearity) -> str:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{owner}: unknown nonlinearity {nonlinearity!r}; select 'tanh' or 'relu'")
    return nonlinearity


def _check_input_tensor(label: str, input, ndims: tuple, what: str, weight) -> None:
    """Type, number of dims and dtype of an RNN's (or cell's) input."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{label}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim not in ndims:
        raise ValueError(f"{label}: expected input of shape {what}, got {tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"{label}: expected a floating input, got dtype {input.dtype}")
    if input.dtype != weight.dtype:
        raise ValueError(
            f"{label}: input dtype {input.dtype} does not match the weights' dtype "
            f"{weight.dtype}; convert the input (x.to({weight.dtype})) or the layer (.to(dtype))"
        )


def _check_state(label: str, name: str, state, want: tuple, dtype) -> None:
    if not isinstance(state, Tensor):
        raise TypeError(f"{label}: {name} must be a Tensor, got {type(state).__name__}")
    if tuple(state.shape) != want:
        raise ValueError(f"{label}: expected {name} of shape {want}, got {tuple(state.shape)}")
    if state.dtype != dtype:
        raise ValueError(f"{label}: {name} has dtype {state.dtype}, the input {dtype}")


# --------------------------------------------------------------------------- multi-layer


class RNNBase(Module):
    """The stack shared by RNN, LSTM and GRU (PyTorch's `nn.RNNBase`); `mode` is one of
    'RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU'. Use the subclasses.

    Parameters, per layer k and direction (suffix '' forward, '_reverse' backward), registered
    in PyTorch's order: weight_ih_l{k} (G*H, H_in of the layer), weight_hh_l{k} (G*H, H_out),
    bias_ih_l{k} and bias_hh_l{k} (G*H,) when bias, weight_hr_l{k} (proj_size, H) when
    proj_size > 0; G is 1, 4 or 3 gates, the input of layer k > 0 is D*H_out wide. Every one
    is drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"RNNBase: unknown mode {mode!r}; expected one of {list(_GATES)}")
        name = "RNN" if mode.startswith("RNN") else mode
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                f"{name}: dropout should be a number in [0, 1] (the probability of zeroing an "
                f"element), got {dropout!r}"
            )
        self.mode = mode
        self.input_size = _check_size(name, "input_size", input_size)
        self.hidden_size = _check_size(name, "hidden_size", hidden_size)
        self.num_layers = _check_size(name, "num_layers", num_layers)
        self.bias = _check_bias(name, bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = _check_size(name, "proj_size", proj_size, minimum=0)
        if self.proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size is only supported for LSTM, not RNN or GRU")
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"{name}: proj_size ({self.proj_size}) has to be smaller than hidden_size "
                f"({self.hidden_size})"
            )
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                f"{name}: dropout is applied between recurrent layers, after all but the last, "
                f"so dropout={self.dropout} with num_layers=1 has no effect",
                UserWarning,
                stacklevel=3,
            )
        gate_size = _GATES[mode] * self.hidden_size
        h_out = self.proj_size or self.hidden_size
        directions = 2 if self.bidirectional else 1
        self._all_weights = []  # parameter names per (layer, direction), in PyTorch's order
        for layer in range(self.num_layers):
            layer_in = self.input_size if layer == 0 else h_out * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {"weight_ih": (gate_size, layer_in), "weight_hh": (gate_size, h_out)}
                if self.bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                if self.proj_size:
                    shapes["weight_hr"] = (self.proj_size, self.hidden_size)
                names = []
                for base, shape in shapes.items():
                    setattr(
                        self, base + suffix, Parameter(empty(*shape, dtype=dtype, device=device))
                    )
                    names.append(base + suffix)
                self._all_weights.append(names)
        self._flat_weights_names = [n for names in self._all_weights for n in names]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as in PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """PyTorch's cuDNN weight-packing hook; nothing to pack here, so it does nothing."""

    @property
    def all_weights(self) -> list:
        """The parameters per (layer, direction): [[weight_ih_l0, weight_hh_l0, ...], ...]."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def _label(self) -> str:
        return f"{type(self).__name__}({self.input_size}->{self.hidden_size})"

    def _weights(self, layer: int, reverse: bool) -> tuple:
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of one layer and direction; absent ones are None."""
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")

        def get(base, present=True):
            return getattr(self, base + suffix) if present else None

        return (
            get("weight_ih"),
            get("weight_hh"),
            get("bias_ih", self.bias),
            get("bias_hh", self.bias),
            get("weight_hr", self.proj_size > 0),
        )

    def _initial_states(self, hx, batched: bool, n: int, x) -> list:
        """[h_0] or [h_0, c_0] as (L*D, N, size) tensors, zeros when hx is None."""
        lab, dirs = self._label(), 2 if self.bidirectional else 1
        sizes = [self.proj_size or self.hidden_size]
        names = ["hx"]
        if self.mode == "LSTM":
            sizes, names = sizes + [self.hidden_size], ["h_0", "c_0"]
        if hx is None:
            xp = xp_of(x._data)
            return [Tensor(xp.zeros((self.num_layers * dirs, n, s), dtype=x.dtype)) for s in sizes]
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(
                    f"{lab}: hx must be a tuple (h_0, c_0) of tensors, got {type(hx).__name__}"
                )
            states = list(hx)
        else:
            states = [hx]
        out = []
        for name, size, s in zip(names, sizes, states):
            want = (self.num_layers * dirs, n, size) if batched else (self.num_layers * dirs, size)
            _check_state(lab, name, s, want, x.dtype)
            out.append(s if batched else s.unsqueeze(1))
        return out

    def forward(self, input, hx=None):
        """Run the stack over `input` (a tensor or a PackedSequence); see the subclasses for
        shapes and return values."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        lab = self._label()
        w0 = self.weight_ih_l0
        what = "(L, N, H_in), (N, L, H_in) or unbatched (L, H_in)"
        _check_input_tensor(lab, input, (2, 3), what, w0)
        shape = tuple(input.shape)
        if shape[-1] != self.input_size:
            raise ValueError(
                f"{lab}: expected input of size {self.input_size} in its last dim, got {shape}"
            )
        batched = input.ndim == 3
        if not batched:
            x = input.unsqueeze(1)
        else:
            x = input.transpose(0, 1) if self.batch_first else input
        steps, n = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError(f"{lab}: expected a sequence of length > 0, got input {shape}")
        states = self._initial_states(hx, batched, n, x)

        def last(seq, rev):  # each sequence's state where the direction ends (step 0 in reverse)
            return seq[0 if rev else steps - 1]

        x, finals = self._stack(x, states, None, last)
        if not batched:
            x, finals = x.squeeze(1), [f.squeeze(1) for f in finals]
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, (tuple(finals) if self.mode == "LSTM" else finals[0])

    def _forward_packed(self, input, hx):
        """The stack over a PackedSequence: every layer and direction runs on the packed rows
        (step t on the first batch_sizes[t] of them), h_n gathers each sequence's state at its
        own last step; hx and h_n are in the batch's own order, permuted by sorted_indices on
        the way in and by unsorted_indices on the way out, as in PyTorch."""
        lab = self._label()
        x = input.data
        what = "(sum of the lengths, H_in) in a PackedSequence"
        _check_input_tensor(lab, x, (2,), what, self.weight_ih_l0)
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{lab}: expected input of size {self.input_size} in its last dim, "
                f"got PackedSequence data {tuple(x.shape)}"
            )
        batch_sizes = _batch_sizes(input, lab)
        n = int(batch_sizes[0])
        states = self._initial_states(hx, True, n, x)
        if hx is not None and input.sorted_indices is not None:
            states = [F.index_select(s, 1, input.sorted_indices) for s in states]
        starts = np.cumsum(batch_sizes) - batch_sizes
        ends = starts[_lengths_of(batch_sizes) - 1] + np.arange(n)  # each sequence's last row
        ends = xp_of(x._data).asarray(ends)

        def last(seq, rev):  # the state at each sequence's own last step (step 0 in reverse)
            return seq[:n] if rev else F.index_select(seq, 0, ends)

        out, finals = self._stack(x, states, tuple(batch_sizes.tolist()), last)
        if input.unsorted_indices is not None:
            finals = [F.index_select(f, 1, input.unsorted_indices) for f in finals]
        out = PackedSequence(out, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        return out, (tuple(finals) if self.mode == "LSTM" else finals[0])

    def _stack(self, x, states, batch_sizes, last):
        """Every layer and direction over x, time-major (T, N, H_in) or packed rows (R, H_in)
        (batch_sizes given); `last(seq, reverse)` picks each sequence's final state from a
        direction's outputs. Returns (the last layer's outputs, [h_n] or [h_n, c_n] as
        (L*D, N, size) tensors)."""
        dirs, p = (2 if self.bidirectional else 1), self.proj_size or self.hidden_size
        finals = [[] for _ in states]  # h_n (and c_n) pieces, one per (layer, direction)
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k, rev = layer * dirs + d, d == 1
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, rev)
                kw = dict(reverse=rev, batch_sizes=batch_sizes)
                if self.mode == "LSTM":
                    y = lstm_sequence(
                        x, states[0][k], states[1][k], w_ih, w_hh, b_ih, b_hh, w_hr, **kw
                    )
                    seq = y[..., :p]
                    finals[1].append(last(y, rev)[..., p:])
                elif self.mode == "GRU":
                    seq = gru_sequence(x, states[0][k], w_ih, w_hh, b_ih, b_hh, **kw)
                else:
                    act = "tanh" if self.mode == "RNN_TANH" else "relu"
                    seq = rnn_sequence(
                        x, states[0][k], w_ih, w_hh, b_ih, b_hh, nonlinearity=act, **kw
                    )
                finals[0].append(last(seq, rev))
                outs.append(seq)
            x = outs[0] if dirs == 1 else F.cat(outs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, [F.stack(f) for f in finals]  # (L*D, N, size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


_STACK_ARGS = """
    Args:
        input_size (int): H_in, the features of each step's input.
        hidden_size (int): H, the features of the hidden state.
        num_layers (int): recurrent layers stacked, each reading the previous one's output
            sequence. Default: 1.{extra}
        bias (bool): learn b_ih and b_hh. Default: True.
        batch_first (bool): input and output are (N, L, *) instead of (L, N, *); the states
            stay (D*num_layers, N, *). Default: False.
        dropout (float): dropout on the output of every layer but the last, in training mode
            only. Default: 0.
        bidirectional (bool): a second pass from the last step to the first, its outputs
            concatenated to the first's (D = 2). Default: False.{proj}
        device, dtype: where and in which float type the weights live. Default: cpu, float32.
"""


class RNN(RNNBase):
    """Multi-layer Elman RNN (PyTorch's `nn.RNN`):  h_t = act(x_t W_ih^T + b_ih + h_{t-1}
    W_hh^T + b_hh) with act = tanh or relu.
    """

    __doc__ += _STACK_ARGS.format(
        extra="\n        nonlinearity (str): 'tanh' or 'relu'. Default: 'tanh'.", proj=""
    )
    __doc__ += """
    Shape (L steps, N sequences, D = 2 if bidirectional else 1):
        input (L, N, H_in) [(N, L, H_in) batch_first] or unbatched (L, H_in);
        hx (D*num_layers, N, H) or unbatched (D*num_layers, H), zeros when None
        -> output (L, N, D*H) [(N, L, D*H)] or (L, D*H): the last layer's h_t at every step,
           h_n (D*num_layers, N, H) or (D*num_layers, H): every layer's final state (for the
           backward direction, the state after step 0).

    Returns (output, h_n). A PackedSequence input (nn.utils.rnn.pack_padded_sequence) gives a
    PackedSequence output, and h_n each sequence's state at its own last step.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        self.nonlinearity = _check_nonlinearity("RNN", nonlinearity)
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            device=device, dtype=dtype,
        )  # fmt: skip


class LSTM(RNNBase):
    """Multi-layer long short-term memory (PyTorch's `nn.LSTM`), gates in the order i, f, g, o:

    i, f, o = sigmoid(.), g = tanh(.)  of  x_t W_i*^T + b_i* + h_{t-1} W_h*^T + b_h*
    c_t = f c_{t-1} + i g          h_t = o tanh(c_t)   (then h_t = W_hr h_t if proj_size)
    """

    __doc__ += _STACK_ARGS.format(
        extra="",
        proj="\n        proj_size (int): if > 0, h_t is projected to proj_size features by "
        "weight_hr\n            (H_out = proj_size, else H_out = H). Default: 0.",
    )
    __doc__ += """
    Shape (L steps, N sequences, D = 2 if bidirectional else 1):
        input (L, N, H_in) [(N, L, H_in) batch_first] or unbatched (L, H_in);
        hx = (h_0 (D*num_layers, N, H_out), c_0 (D*num_layers, N, H)), unbatched without N,
        zeros when None
        -> output (L, N, D*H_out) [(N, L, D*H_out)] or (L, D*H_out),
           (h_n, c_n) of h_0's and c_0's shapes: every layer's final states.

    Returns (output, (h_n, c_n)). A PackedSequence input (nn.utils.rnn.pack_padded_sequence)
    gives a PackedSequence output, and (h_n, c_n) each sequence's states at its own last step.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ):
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, device=device, dtype=dtype,
        )  # fmt: skip


class GRU(RNNBase):
    """Multi-layer gated recurrent unit (PyTorch's `nn.GRU`), gates in the order r, z, n:

    r = sigmoid(x_t W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr),  z likewise
    n = tanh(x_t W_in^T + b_in + r (h_{t-1} W_hn^T + b_hn))
    h_t = (1 - z) n + z h_{t-1}
    """

    __doc__ += _STACK_ARGS.format(extra="", proj="")
    __doc__ += """
    Shape: as RNN's (hx and h_n (D*num_layers, N, H)). Returns (output, h_n); a PackedSequence
    input gives a PackedSequence output, and h_n each sequence's state at its own last step.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, device=device, dtype=dtype,
        )  # fmt: skip


# --------------------------------------------------------------------------- cells


class RNNCellBase(Module):
    """One step of a recurrent layer (PyTorch's `nn.RNNCellBase`); use the subclasses.

    Parameters: weight_ih (G*H, H_in), weight_hh (G*H, H), bias_ih and bias_hh (G*H,) (None
    when bias=False), all from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None,
        dtype=None,
    ):  # fmt: skip
        super().__init__()
        name = type(self).__name__
        self.input_size = _check_size(name, "input_size", input_size)
        self.hidden_size = _check_size(name, "hidden_size", hidden_size)
        self.bias = _check_bias(name, bias)
        g, kw = num_chunks * self.hidden_size, dict(dtype=dtype, device=device)
        self.weight_ih = Parameter(empty(g, self.input_size, **kw))
        self.weight_hh = Parameter(empty(g, self.hidden_size, **kw))
        if self.bias:
            self.bias_ih = Parameter(empty(g, **kw))
            self.bias_hh = Parameter(empty(g, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as in PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _label(self) -> str:
        return f"{type(self).__name__}({self.input_size}->{self.hidden_size})"

    def _prepare(self, input, states: list, names: list) -> tuple:
        """The input as a one-step sequence (1, N, H_in) and each state as (N, H) (zeros for
        None), checked; plus whether the input was batched."""
        lab = self._label()
        _check_input_tensor(lab, input, (1, 2), "(N, H_in) or (H_in,)", self.weight_ih)
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{lab}: expected input of size {self.input_size} in its last dim, "
                f"got {tuple(input.shape)}"
            )
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        n, h = x.shape[0], self.hidden_size
        out = []
        for name, s in zip(names, states):
            if s is None:
                s = Tensor(xp_of(x._data).zeros((n, h), dtype=x.dtype))
            else:
                _check_state(lab, name, s, (n, h) if batched else (h,), x.dtype)
                s = s if batched else s.unsqueeze(0)
            out.append(s)
        return x.unsqueeze(0), out, batched

    def _params(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """One Elman RNN step (PyTorch's `nn.RNNCell`): h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Args:
        input_size (int), hidden_size (int), bias (bool): default True,
        nonlinearity (str): 'tanh' or 'relu'. Default: 'tanh'. device, dtype.

    Shape: input (N, H_in) or (H_in,); hx (N, H) or (H,), zeros when None -> h' like hx.
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
        device=None, dtype=None,
    ):  # fmt: skip
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx], ["hx"])
        y = rnn_sequence(x, h, *self._params(), nonlinearity=self.nonlinearity)[0]
        return y if batched else y[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (PyTorch's `nn.LSTMCell`), gates i, f, g, o as in LSTM:
    c' = f c + i g, h' = o tanh(c').

    Args: input_size (int), hidden_size (int), bias (bool): default True, device, dtype.

    Shape: input (N, H_in) or (H_in,); hx = (h, c), each (N, H) or (H,), zeros when None
    -> (h', c') of the same shapes.
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(
                f"{self._label()}: hx must be a tuple (h, c) of tensors, got {type(hx).__name__}"
            )
        x, (h, c), batched = self._prepare(input, list(hx), ["h", "c"])
        y = lstm_sequence(x, h, c, *self._params())[0]  # (N, 2H): [h' | c']
        hid = self.hidden_size
        if not batched:
            return y[0, :hid], y[0, hid:]
        return y[:, :hid], y[:, hid:]


class GRUCell(RNNCellBase):
    """One GRU step (PyTorch's `nn.GRUCell`), gates r, z, n as in GRU:
    h' = (1 - z) n + z h.

    Args: input_size (int), hidden_size (int), bias (bool): default True, device, dtype.

    Shape: input (N, H_in) or (H_in,); hx (N, H) or (H,), zeros when None -> h' like hx.
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [hx], ["hx"])
        y = gru_sequence(x, h, *self._params())[0]
        return y if batched else y[0]
