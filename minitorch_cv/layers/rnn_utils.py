"""torch.nn.utils.rnn (reached as nn.utils.rnn): batches of sequences of different lengths.

A PackedSequence holds such a batch without padding: the sequences sorted by decreasing length,
and step by step the rows of the sequences still running,

    lengths 3, 2, 1 (a b c, d e, f)  ->  data [a d f | b e | c],  batch_sizes [3, 2, 1]

so nn.RNN, nn.LSTM and nn.GRU compute step t on the first batch_sizes[t] rows only (a slice), and
their h_n holds every sequence's state at its own last step.

    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, h_n = lstm(packed)                                  # h_n in the batch's own order
    y, lengths = pad_packed_sequence(out, batch_first=True)  # (N, T, D*H), padding zeros

Packing and padding are one gather and one scatter of rows (functional/rnn.py's GatherRows and
ScatterRows, each the other's adjoint), so gradients flow through both; the row indices are
computed on the host from the lengths, which PyTorch keeps on the CPU too (`batch_sizes` is a
CPU int64 tensor, the indices int64 on the data's device).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ..backend import xp_of
from ..functional import cat
from ..functional.rnn import GatherRows, ScatterRows
from ..tensor import Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


class _PackedSequenceFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceFields):
    """A packed batch of variable-length sequences (PyTorch's `nn.utils.rnn.PackedSequence`),
    a named tuple (data, batch_sizes, sorted_indices, unsorted_indices). Made by
    `pack_padded_sequence` and `pack_sequence`, not by hand.

    Attributes:
        data (Tensor): (sum of the lengths, *), the rows of step 0, then of step 1, ...
        batch_sizes (Tensor): int64 on the CPU, (T,): how many sequences step t holds.
        sorted_indices (Tensor or None): int64, the batch position of each packed sequence
            (None when the batch came sorted).
        unsorted_indices (Tensor or None): its inverse, which restores the batch's order.
    """

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:  # PackedSequence((data, batch_sizes), sorted_indices=...)
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise TypeError(
                    "PackedSequence: expected data and batch_sizes, or one (data, batch_sizes) "
                    f"pair, got {type(data).__name__}"
                )
            data, batch_sizes = data
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = Tensor(np.asarray(batch_sizes, dtype=np.int64))
        if batch_sizes.device.type != "cpu":
            raise ValueError(
                "PackedSequence: batch_sizes should always be on the CPU, got it on "
                f"{batch_sizes.device}; make packed sequences with pack_padded_sequence or "
                "pack_sequence"
            )
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        """`data.to(...)` (device and/or dtype), the indices to data's new device; batch_sizes
        stays on the CPU. Returns self when data does not change."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        dev = data.device
        idx = [
            None if t is None else t.to(dev) for t in (self.sorted_indices, self.unsorted_indices)
        ]
        return type(self)(data, self.batch_sizes, *idx)

    def cuda(self, index: int = 0) -> PackedSequence:
        return self.to(f"cuda:{index}")

    def cpu(self) -> PackedSequence:
        return self.to("cpu")

    def double(self) -> PackedSequence:
        return self.to(np.float64)

    def float(self) -> PackedSequence:
        return self.to(np.float32)

    def half(self) -> PackedSequence:
        return self.to(np.float16)

    def long(self) -> PackedSequence:
        return self.to(np.int64)

    def int(self) -> PackedSequence:
        return self.to(np.int32)

    @property
    def is_cuda(self) -> bool:
        """Whether data lives on a GPU."""
        return self.data.device.type == "cuda"


def invert_permutation(permutation):
    """The inverse of a 1-D int64 permutation tensor (None for None): out[permutation[i]] = i."""
    if permutation is None:
        return None
    p = permutation._data
    xp = xp_of(p)
    out = xp.empty_like(p)
    out[p] = xp.arange(len(p), dtype=p.dtype)
    return Tensor(out)


# --------------------------------------------------------------------------- host-side layout


def _host_lengths(lengths, op: str) -> np.ndarray:
    """Lengths (a list, a NumPy array or a CPU tensor) as a 1-D host int64 array."""
    if isinstance(lengths, Tensor):
        if lengths.device.type != "cpu":
            raise ValueError(
                f"{op}: 'lengths' should be a 1-D CPU int64 tensor, got one on {lengths.device}"
            )
        lengths = lengths.numpy()
    arr = np.asarray(lengths)
    if arr.ndim != 1:
        raise ValueError(f"{op}: 'lengths' should be 1-D, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iuf":
        raise TypeError(f"{op}: 'lengths' should hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _batch_sizes(sequence, op: str) -> np.ndarray:
    """A PackedSequence's batch sizes as host ints, checked against its data."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{op}: expected a PackedSequence, got {type(sequence).__name__}")
    bs = sequence.batch_sizes.numpy().astype(np.int64)
    rows = sequence.data.shape[0] if sequence.data.ndim else None
    if bs.ndim != 1 or not len(bs) or bs[-1] < 1 or np.any(np.diff(bs) > 0) or rows != bs.sum():
        raise ValueError(
            f"{op}: batch_sizes {bs.tolist()} should be positive and non-increasing and add up "
            f"to the rows of data {tuple(sequence.data.shape)}"
        )
    return bs


def _positions(batch_sizes, columns, steps: int, batch_first: bool) -> np.ndarray:
    """For each packed row (sequence j at step t, in packed order) its flat index in a padded
    (steps, B) or, batch_first, (B, steps) batch, where sequence j sits in column columns[j]."""
    starts = np.cumsum(batch_sizes) - batch_sizes
    step = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    col = np.asarray(columns)[np.arange(len(step)) - starts[step]]
    return col * steps + step if batch_first else step * len(columns) + col


def _lengths_of(batch_sizes) -> np.ndarray:
    """Each packed (sorted) sequence's length: how many steps hold it."""
    return (batch_sizes[None, :] > np.arange(batch_sizes[0])[:, None]).sum(axis=1)


def _device_ints(values, like):
    """Host ints as an int64 array on `like`'s device."""
    return xp_of(like).asarray(np.asarray(values, dtype=np.int64))


# --------------------------------------------------------------------------- pack / pad


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True) -> PackedSequence:
    """Pack a padded batch of variable-length sequences (PyTorch's `pack_padded_sequence`).

    Args:
        input (Tensor): (T, B, *), or (B, T, *) with batch_first; the steps past a sequence's
            length are ignored.
        lengths (list, array or CPU tensor of ints): each sequence's length, 1..T.
        batch_first (bool): the layout of input. Default: False.
        enforce_sorted (bool): the lengths must be sorted in decreasing order (an error
            otherwise); with False the sequences are sorted here and `sorted_indices` records
            it. The sort is stable (sequences of equal length keep their batch order);
            torch's is not for more than 16 sequences, so its sorted_indices and data may
            order tied sequences differently, while the padded results and the RNNs' h_n are
            the same. Default: True.

    Returns:
        a PackedSequence; data (sum of the lengths, *) has input's dtype and device and its
        gradient flows back to input.
    """
    op = "pack_padded_sequence"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    shape = tuple(input.shape)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input of at least 2 dims (T, B, *), got shape {shape}")
    lengths = _host_lengths(lengths, op)
    steps, batch = (shape[1], shape[0]) if batch_first else shape[:2]
    if len(lengths) != batch:
        raise ValueError(
            f"{op}: expected len(lengths) to be equal to batch_size, got {len(lengths)} "
            f"(batch_size={batch}, input {shape}, batch_first={batch_first})"
        )
    if batch == 0:
        raise ValueError(f"{op}: cannot pack an empty batch (input {shape})")
    if lengths.min() <= 0:
        raise ValueError(
            f"{op}: length of all samples has to be greater than 0, got lengths {lengths.tolist()}"
        )
    if lengths.max() > steps:
        raise ValueError(
            f"{op}: lengths {lengths.tolist()} go past the {steps} steps of input {shape} "
            f"(batch_first={batch_first})"
        )
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(
                f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` "
                f"is True, got {lengths.tolist()}. You can pass `enforce_sorted=False` to "
                "pack_padded_sequence and/or pack_sequence to sidestep this requirement."
            )
        order = np.arange(batch)
    else:
        order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    batch_sizes = (sorted_lengths[:, None] > np.arange(sorted_lengths[0])).sum(axis=0)
    rows = _positions(batch_sizes, order, steps, batch_first)
    data = GatherRows.apply(input, rows=_device_ints(rows, input._data))
    sorted_indices = None if enforce_sorted else Tensor(_device_ints(order, input._data))
    return PackedSequence(data, Tensor(batch_sizes.astype(np.int64)), sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Pad a packed batch back to one tensor (PyTorch's `pad_packed_sequence`), the inverse of
    `pack_padded_sequence`.

    Args:
        sequence (PackedSequence): the batch.
        batch_first (bool): return (B, T, *) instead of (T, B, *). Default: False.
        padding_value (float): the value of the steps past each sequence's length. Default: 0.
        total_length (int, optional): pad to this many steps (at least the longest length).

    Returns:
        (padded, lengths): padded in the batch's original order (before any sorting), its
        gradient flowing back to sequence.data; lengths an int64 CPU tensor in the same order.
    """
    op = "pad_packed_sequence"
    batch_sizes = _batch_sizes(sequence, op)
    steps = len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                f"{op}: expected total_length to be at least the length of the longest "
                f"sequence in input, but got total_length={total_length} and max sequence "
                f"length being {steps}"
            )
        steps = int(total_length)
    lengths = _lengths_of(batch_sizes)
    batch = len(lengths)
    columns = np.arange(batch)  # where each packed (sorted) sequence goes
    if sequence.unsorted_indices is not None:
        unsorted = np.asarray(sequence.unsorted_indices).astype(np.int64)
        columns[unsorted] = np.arange(batch)
        lengths = lengths[unsorted]
    data = sequence.data
    rest = tuple(data.shape[1:])
    shape = ((batch, steps) if batch_first else (steps, batch)) + rest
    rows = _positions(batch_sizes, columns, steps, batch_first)
    padded = ScatterRows.apply(
        data, rows=_device_ints(rows, data._data), shape=shape, padding_value=padding_value
    )
    return padded, Tensor(lengths.astype(np.int64))


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack variable-length sequences into one padded tensor (PyTorch's `pad_sequence`).

    Args:
        sequences (iterable of Tensors): each (L_i, *), the same * and device; the result has
            the first one's dtype.
        batch_first (bool): return (B, T, *) instead of (T, B, *), T = max L_i. Default: False.
        padding_value (float): the value of the padding. Default: 0.
        padding_side (str): 'right' (each sequence from step 0) or 'left' (each ending at step
            T - 1). Default: 'right'.

    Returns:
        the padded tensor; gradients flow back to every sequence.
    """
    op = "pad_sequence"
    if not isinstance(sequences, Iterable):
        raise TypeError(f"{op}: expected an iterable of tensors, got {type(sequences).__name__}")
    seqs = tuple(sequences)
    if padding_side not in ("left", "right"):
        raise ValueError(
            f"{op}: expected padding_side to be one of left or right, got {padding_side!r}"
        )
    if not seqs:
        raise ValueError(f"{op}: received an empty list of sequences")
    for s in seqs:
        if not isinstance(s, Tensor):
            raise TypeError(f"{op}: expected tensors, got {type(s).__name__}")
        if s.ndim == 0 or s.shape[1:] != seqs[0].shape[1:]:
            raise ValueError(
                f"{op}: expected sequences (L, *) with the same trailing dims *, got shapes "
                f"{[tuple(t.shape) for t in seqs]}"
            )
    dtype = seqs[0].dtype
    seqs = [s if s.dtype == dtype else s.to(dtype) for s in seqs]
    lengths = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    steps, batch = int(lengths.max()), len(seqs)
    which = np.repeat(np.arange(batch), lengths)  # the sequence of each row of the concatenation
    step = np.arange(len(which)) - (np.cumsum(lengths) - lengths)[which]
    if padding_side == "left":
        step += (steps - lengths)[which]
    rows = which * steps + step if batch_first else step * batch + which
    shape = ((batch, steps) if batch_first else (steps, batch)) + tuple(seqs[0].shape[1:])
    data = cat(seqs, 0) if batch > 1 else seqs[0]
    return ScatterRows.apply(
        data, rows=_device_ints(rows, data._data), shape=shape, padding_value=padding_value
    )


def unpad_sequence(padded_sequences, lengths, batch_first=False) -> list:
    """The sequences of a padded batch as a list (PyTorch's `unpad_sequence`), the inverse of
    `pad_sequence` (right padding): sequence i is padded[:lengths[i], i] ([i, :lengths[i]]
    with batch_first), its gradient flowing back to the padded tensor."""
    op = "unpad_sequence"
    if not isinstance(padded_sequences, Tensor) or padded_sequences.ndim < 2:
        raise ValueError(
            f"{op}: expected a padded tensor of at least 2 dims, got "
            f"{getattr(padded_sequences, 'shape', type(padded_sequences).__name__)}"
        )
    lengths = _host_lengths(lengths, op)
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    if len(lengths) != x.shape[0] or np.any(lengths < 0) or np.any(lengths > x.shape[1]):
        raise ValueError(
            f"{op}: expected one length in [0, {x.shape[1]}] per sequence of the padded batch "
            f"{tuple(padded_sequences.shape)} (batch_first={batch_first}), got {lengths.tolist()}"
        )
    return [x[i, : int(n)] for i, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True) -> PackedSequence:
    """Pack a list of variable-length sequences (L_i, *) (PyTorch's `pack_sequence`): the same
    as pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)."""
    seqs = list(sequences) if isinstance(sequences, Iterable) else sequences
    padded = pad_sequence(seqs)
    return pack_padded_sequence(padded, [s.shape[0] for s in seqs], enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences) -> list:
    """The sequences of a PackedSequence as a list of tensors (L_i, *) in the batch's original
    order (PyTorch's `unpack_sequence`), the inverse of `pack_sequence`."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
