"""State dicts on disk without PyTorch: torch's `.pth` files read safely, and `.npz` files.

A `.pth` written by `torch.save(model.state_dict(), path)` is (since PyTorch 1.6) a zip archive:

    <name>/data.pkl          a pickle of the dict; each tensor is a call
                             torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
                             whose storage is a persistent id ('storage', torch.FloatStorage,
                             key, location, numel)
    <name>/data/<key>        the raw bytes of storage <key>
    <name>/byteorder         'little' or 'big' (absent in older files: little)

Older files (`_use_new_zipfile_serialization=False`, e.g. torchvision's resnet18-5c106cde.pth)
are a stream instead: pickles of a magic number, a protocol version and system info, the
dict's pickle (persistent ids ('storage', type, key, location, numel, view)), a pickle of the
storage keys, then per key an int64 element count and the raw bytes.

A pickle can name any Python callable and have the loader call it, so `pickle.load` on a
downloaded file runs whatever the file says. Here a restricted Unpickler resolves exactly these
names and refuses every other one before anything is called:

    torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter  -> NumPy arrays
    torch.FloatStorage, DoubleStorage, HalfStorage, BFloat16Storage, LongStorage, IntStorage,
    ShortStorage, CharStorage, ByteStorage, BoolStorage               -> dtype markers
    collections.OrderedDict                                           -> OrderedDict

The opcodes are also scanned first (pickletools), so a file naming any other global is refused
whole, with nothing executed. bfloat16 storages are widened to float32 (NumPy has no bfloat16).
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..backend import to_device
from ..tensor import Tensor

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch storage class -> NumPy dtype ('bfloat16' is widened after reading)
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype(np.float32),
    "DoubleStorage": np.dtype(np.float64),
    "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
    "ComplexFloatStorage": np.dtype(np.complex64),
    "ComplexDoubleStorage": np.dtype(np.complex128),
}


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A `.pth` file that asks for something other than tensors; nothing of it was executed."""


class WeightsFormatError(ValueError):
    """A file that is not a readable state dict (corrupt, truncated, or another format)."""


# --------------------------------------------------------------------------- the safe unpickler


class _StorageType:
    """Stands for `torch.<Name>Storage` in a pickle: only its dtype is used."""

    def __init__(self, name: str):
        self.name = name
        dt = _STORAGE_DTYPES[name]
        self.bfloat16 = dt == "bfloat16"
        self.dtype = np.dtype(np.uint16) if self.bfloat16 else dt

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _Storage:
    """A flat array read from a storage record (None while only its size is known)."""

    def __init__(self, array, bfloat16: bool, numel: int | None = None):
        self.array = array
        self.bfloat16 = bfloat16
        self.numel = array.size if array is not None else int(numel)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):  # fmt: skip
    """torch's `_rebuild_tensor_v2`, returning a NumPy array copied out of the storage."""
    return _strided_copy(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    """torch's older `_rebuild_tensor`."""
    return _strided_copy(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None):
    """torch's `_rebuild_parameter`: a saved nn.Parameter is just its tensor here."""
    if not isinstance(data, np.ndarray):
        raise UnsafePickleError("_rebuild_parameter: expected a tensor argument")
    return data


def _strided_copy(storage, offset, size, stride) -> np.ndarray:
    """storage.array viewed with (offset, size, stride) in elements, bounds-checked, copied."""
    if not isinstance(storage, _Storage):
        raise UnsafePickleError("tensor rebuild without a storage persistent id")
    try:
        offset = int(offset)
        size = tuple(int(s) for s in size)
        stride = tuple(int(s) for s in stride)
    except (TypeError, ValueError):
        raise WeightsFormatError("tensor rebuild with non-integer offset/size/stride") from None
    flat = storage.array
    if (
        len(size) != len(stride)
        or offset < 0
        or min(size, default=0) < 0
        or min(stride, default=0) < 0
    ):
        raise WeightsFormatError(
            f"bad tensor layout: offset {offset}, size {size}, stride {stride}"
        )
    if 0 in size:
        out = np.empty(size, dtype=flat.dtype if flat is not None else np.float32)
    else:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        # as_strided reads raw memory: every element it can touch must be inside the storage
        if last >= storage.numel:
            raise WeightsFormatError(
                f"tensor of size {size}, stride {stride}, offset {offset} reaches element {last} "
                f"of a storage of {storage.numel} elements"
            )
        if flat is None:  # first pass over a legacy file: sizes only
            return None
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=size, strides=[s * flat.itemsize for s in stride], writeable=False
        )
        out = np.array(view)
    if storage.bfloat16:  # bfloat16 is the top half of a float32
        out = (out.astype(np.uint32) << 16).view(np.float32)
    return out


_ALLOWED = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}
_ALLOWED_TEXT = (
    "torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter, "
    "torch.*Storage and collections.OrderedDict"
)


def _refuse(what: str, source: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"{source}: refusing to load: the pickle references {what}; only tensors are allowed "
        f"({_ALLOWED_TEXT}). Nothing in the file was executed."
    )


def _scan(data: bytes, source: str) -> None:
    """Refuse before unpickling if any opcode names a global outside the allow-list."""
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                module, name = arg.split(" ", 1)
                if (module, name) not in _ALLOWED:
                    raise _refuse(f"the global '{module}.{name}'", source)
            elif op.name.startswith("EXT"):
                raise _refuse(f"extension code {arg} (copyreg registry)", source)
            elif op.name == "STOP":
                return
    except UnsafePickleError:
        raise
    except Exception as e:  # genops raises ValueError and friends on garbage
        raise WeightsFormatError(f"{source}: not a valid pickle ({e})") from None


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals; storages come from `load_storage(pid)`."""

    def __init__(self, file, load_storage, source: str):
        super().__init__(file)
        self._load_storage = load_storage
        self._source = source

    def find_class(self, module, name):
        # also reached by STACK_GLOBAL, whose names the static scan cannot always see
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise _refuse(f"the global '{module}.{name}'", self._source)
        return obj

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise _refuse(f"the persistent id {pid!r}", self._source)
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType):
            raise _refuse(f"a storage of type {storage_type!r}", self._source)
        numel = int(pid[4])
        view = pid[5] if len(pid) == 6 else None
        storage = self._load_storage(str(key), storage_type, numel)
        if view is not None:  # very old files: (view_key, offset, size) into the root storage
            _, off, n = view
            off, n = int(off), int(n)
            if off < 0 or n < 0 or off + n > storage.numel:
                raise WeightsFormatError(f"{self._source}: storage view out of bounds")
            arr = None if storage.array is None else storage.array[off : off + n]
            storage = _Storage(arr, storage.bfloat16, n)
        return storage


def _unpickle(data: bytes, load_storage, source: str):
    _scan(data, source)
    try:
        return _SafeUnpickler(io.BytesIO(data), load_storage, source).load()
    except (UnsafePickleError, WeightsFormatError):
        raise
    except Exception as e:
        raise WeightsFormatError(f"{source}: could not read the pickle ({e})") from None


def _from_bytes(raw: bytes, storage_type: _StorageType, numel: int, byteorder: str, where: str):
    dtype = storage_type.dtype.newbyteorder("<" if byteorder == "little" else ">")
    need = numel * dtype.itemsize
    if len(raw) < need:
        raise WeightsFormatError(f"{where}: storage has {len(raw)} bytes, expected {need}")
    arr = np.frombuffer(raw, dtype=dtype, count=numel)
    return _Storage(arr.astype(dtype.newbyteorder("="), copy=False), storage_type.bfloat16)


# --------------------------------------------------------------------------- the two .pth layouts


def _load_zip(path: Path, source: str):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkls = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pkls) != 1:
            raise WeightsFormatError(
                f"{source}: a zip archive but not a torch.save file (expected one "
                f"'<name>/data.pkl', found {len(pkls)})"
            )
        prefix = pkls[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
            if byteorder not in ("little", "big"):
                raise WeightsFormatError(f"{source}: unknown byteorder {byteorder!r}")
        cache: dict[str, _Storage] = {}

        def load_storage(key, storage_type, numel):
            if key not in cache:
                record = f"{prefix}data/{key}"
                if record not in names:
                    raise WeightsFormatError(f"{source}: storage record {record!r} is missing")
                cache[key] = _from_bytes(zf.read(record), storage_type, numel, byteorder, record)
            return cache[key]

        return _unpickle(zf.read(pkls[0]), load_storage, source)


def _load_legacy(path: Path, source: str):
    data = path.read_bytes()
    stream = io.BytesIO(data)

    def next_pickle(what):
        start = stream.tell()
        end = None
        try:
            for op, _, pos in pickletools.genops(stream):
                if op.name == "STOP":
                    end = pos + 1
                    break
        except Exception as e:
            raise WeightsFormatError(f"{source}: not a torch .pth file ({what}: {e})") from None
        if end is None:
            raise WeightsFormatError(f"{source}: truncated ({what})")
        stream.seek(end)
        return data[start:end]

    def no_storage(*_):
        raise WeightsFormatError(f"{source}: a storage outside the tensor pickle")

    magic = _unpickle(next_pickle("magic number"), no_storage, source)
    if magic != _LEGACY_MAGIC:
        raise WeightsFormatError(
            f"{source}: not a torch .pth file (neither a zip archive nor the legacy stream)"
        )
    protocol = _unpickle(next_pickle("protocol version"), no_storage, source)
    if protocol != _LEGACY_PROTOCOL:
        raise WeightsFormatError(f"{source}: unsupported legacy protocol {protocol!r}")
    sys_info = _unpickle(next_pickle("system info"), no_storage, source)
    byteorder = (
        "little" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else "big"
    )

    main = next_pickle("state dict")
    keys = _unpickle(next_pickle("storage keys"), no_storage, source)
    if not isinstance(keys, list):
        raise WeightsFormatError(f"{source}: storage key list missing")

    # the storage bytes follow the pickles, but their dtypes are named inside the first one:
    # pass 1 learns (type, numel) per key with zero-stride dummies, pass 2 rebuilds for real
    types: dict[str, tuple] = {}

    def collect(key, storage_type, numel):
        types.setdefault(key, (storage_type, numel))
        return _Storage(None, storage_type.bfloat16, numel)

    _unpickle(main, collect, source)
    filled: dict[str, _Storage] = {}
    for key in map(str, keys):
        if key not in types:
            raise WeightsFormatError(f"{source}: storage {key!r} is not used by any tensor")
        storage_type, _ = types[key]
        head = stream.read(8)
        if len(head) != 8:
            raise WeightsFormatError(f"{source}: truncated before storage {key!r}")
        (count,) = struct.unpack("<q" if byteorder == "little" else ">q", head)
        if count < 0:
            raise WeightsFormatError(f"{source}: negative size for storage {key!r}")
        raw = stream.read(count * storage_type.dtype.itemsize)
        filled[key] = _from_bytes(raw, storage_type, count, byteorder, f"storage {key!r}")

    def lookup(key, storage_type, numel):
        if key not in filled:
            raise WeightsFormatError(f"{source}: storage {key!r} has no data")
        return filled[key]

    return _unpickle(main, lookup, source)


def load_pth(path):
    """Read a file written by `torch.save` (zip or legacy layout) without torch, safely.

    Args:
        path (str or Path): the `.pth` / `.pt` file.

    Returns:
        What was saved, with every tensor as a NumPy array (usually an OrderedDict
        name -> array).

    Raises:
        UnsafePickleError: the file names any global besides the tensor-rebuilding ones
            (nothing is executed).
        WeightsFormatError: not a torch file, corrupt or truncated.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_pth: no such file: {source}")
    if zipfile.is_zipfile(path):
        return _load_zip(path, source)
    import tarfile

    if tarfile.is_tarfile(path):
        raise WeightsFormatError(
            f"{source}: the tar layout of PyTorch < 0.4 is not supported; re-save it with a "
            "recent torch.save"
        )
    return _load_legacy(path, source)


# --------------------------------------------------------------------------- npz and dispatch


def _host_array(value) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value._data
    return np.asarray(to_device(value, "cpu")) if not isinstance(value, np.ndarray) else value


def save_npz(state, path) -> Path:
    """Write a state dict (or a Module's) to an uncompressed `.npz`, one array per key.

    Args:
        state: a Module or a mapping name -> Tensor / array.
        path (str or Path): destination; '.npz' is appended by NumPy when missing.
    """
    if hasattr(state, "state_dict") and callable(state.state_dict):
        state = state.state_dict()
    arrays = OrderedDict((str(k), _host_array(v)) for k, v in state.items())
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def load_npz(path) -> OrderedDict:
    """Read a `.npz` state dict (no pickles allowed) as an OrderedDict name -> array."""
    with np.load(Path(path), allow_pickle=False) as z:
        return OrderedDict((k, z[k]) for k in z.files)


def _is_state_dict(obj) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items())
    )


def load_state_dict_file(path) -> OrderedDict:
    """A state dict from `.npz` or a torch `.pth`/`.pt` (safely), as name -> NumPy array.

    A checkpoint dict holding the weights under 'state_dict', 'model_state_dict' or 'model'
    is unwrapped; a 'module.' prefix on every key (nn.DataParallel) is removed.
    """
    path = Path(path)
    if path.suffix == ".npz":
        return load_npz(path)
    obj = load_pth(path)
    if not _is_state_dict(obj) and isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if _is_state_dict(obj.get(key)):
                obj = obj[key]
                break
    if not _is_state_dict(obj):
        raise WeightsFormatError(
            f"{path}: holds a {type(obj).__name__}, not a state dict of name -> tensor"
        )
    if all(k.startswith("module.") for k in obj):
        obj = OrderedDict((k[len("module.") :], v) for k, v in obj.items())
    return OrderedDict(obj)


def load_weights(model, source, strict: bool = True, skip=()):
    """Load a state dict from a file or a mapping into `model`, naming the first mismatch.

    Args:
        model (Module): the model to fill in place.
        source: a path (`.pth`, `.pt`, `.npz`) or a mapping name -> Tensor / array.
        strict (bool): every key of the model (except skipped ones) must be in the source and
            every key of the source in the model. Default: True.
        skip (tuple of str): key prefixes ignored on both sides, e.g. ('fc.',) to keep a new head.

    BatchNorm's `num_batches_tracked`, absent from old torchvision files, is set to 0 when the
    source lacks it; a ViT's pre-0.14 MLP names (`mlp.linear_1`) are read as the current ones.
    Raises ValueError naming the first mismatched key (missing, unexpected or
    of the wrong shape) before anything is written.
    """
    state = load_state_dict_file(source) if isinstance(source, (str, Path)) else source
    if not hasattr(state, "items"):
        raise TypeError(f"load_weights: expected a path or a mapping, got {type(source).__name__}")
    from .vit import MLPBlock, upgrade_legacy_keys  # (vit imports this module)

    if any(isinstance(m, MLPBlock) for m in model.modules()):  # a ViT, maybe inside a wrapper:
        state = upgrade_legacy_keys(state)  # torchvision's pre-0.14 MLP names too
    state = model._without_dropped_keys(state)  # FrozenBatchNorm2d's num_batches_tracked
    skip = tuple(skip)
    state = OrderedDict((k, v) for k, v in state.items() if not k.startswith(skip))
    own = OrderedDict((k, v) for k, v in model.state_dict().items() if not k.startswith(skip))
    for k, v in own.items():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = np.zeros(v.shape, dtype=np.int64)
    name, where = (
        type(model).__name__,
        f" (from {source})" if isinstance(source, (str, Path)) else "",
    )
    for k, v in own.items():
        if k not in state:
            if strict:
                raise ValueError(
                    f"load_weights: {name} expects key {k!r}, missing from the state dict{where}; "
                    f"is it the same architecture?"
                )
            continue
        got = tuple(np.shape(state[k]) if not isinstance(state[k], Tensor) else state[k].shape)
        if got != tuple(v.shape):
            raise ValueError(
                f"load_weights: {name} key {k!r} has shape {tuple(v.shape)} in the model but "
                f"{got} in the state dict{where}"
            )
    extra = [k for k in state if k not in own]
    if extra and strict:
        raise ValueError(
            f"load_weights: the state dict{where} has key {extra[0]!r} that {name} does not "
            f"({len(extra)} unexpected in all); is it the same architecture?"
        )
    model.load_state_dict(OrderedDict((k, v) for k, v in state.items() if k in own), strict=False)
    return model


def with_weights(model, weights=None, new_head: str | None = None):
    """The builders' `weights=` argument: load the state dict file `weights` into `model` when
    one is given. `new_head`: the key prefix of a classifier built for another class count
    (e.g. 'fc.'), skipped on both sides so it keeps its fresh init. Returns the model."""
    if weights is not None:
        load_weights(model, weights, skip=(new_head,) if new_head else ())
    return model
