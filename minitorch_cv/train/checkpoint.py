"""Checkpoints: everything a training run needs to continue, in one `.npz` file without pickle.

A checkpoint is a nested structure (model state dict, optimizer state dict, scheduler state,
epoch, history, RNG states, data-loader seeds, callback states, free-form metadata). Every array
in it is stored as its own `.npz` entry named by its path, e.g. `model/features.0.weight` or
`optimizer/state/0/exp_avg`; the rest of the structure is one JSON string (`__checkpoint__`) in
which each array is a placeholder `{"__array__": "<entry name>"}`. So a checkpoint loads with
`np.load(path, allow_pickle=False)`, and the weights can be read by hand:

    np.load("runs/x/best.npz")["model/features.0.weight"]

Files are written atomically: to a temporary file in the same folder, flushed to disk, then
renamed over the target (`os.replace`), so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from ..backend import to_device
from ..tensor import Tensor, get_rng_state, set_rng_state
from .history import History

FORMAT = "minitorch_cv.checkpoint"
VERSION = 1
_SKELETON = "__checkpoint__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt or truncated, not a checkpoint, or saved from
    another model."""


# --------------------------------------------------------------------------- encoding


def _is_array(v) -> bool:
    return isinstance(v, np.ndarray) or type(v).__module__.startswith("cupy")


def _join(path: str, key) -> str:
    return f"{path}/{key}" if path else str(key)


def _encode(obj, path: str, arrays: dict):
    """A JSON-able copy of `obj` with every array moved into `arrays` under a path-like key."""
    if isinstance(obj, Tensor):
        obj = obj._data
    if _is_array(obj):
        key = path
        while key in arrays or key == _SKELETON:
            key += "_"
        arrays[key] = np.array(to_device(obj, "cpu"), copy=True)
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Counter):
        return {"__counter__": [[_encode(k, path, arrays), n] for k, n in obj.items()]}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, _join(path, k), arrays) for k, v in obj.items()}
        # non-string keys (the optimizer's parameter indices) keep their type as pairs
        return {
            "__items__": [
                [_encode(k, path, arrays), _encode(v, _join(path, k), arrays)]
                for k, v in obj.items()
            ]
        }
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, _join(path, i), arrays) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, _join(path, i), arrays) for i, v in enumerate(obj)]
    raise TypeError(
        f"save_checkpoint: cannot store a {type(obj).__name__} at '{path}' without pickle; "
        "use arrays, numbers, strings, None, lists, tuples and dicts"
    )


def _decode(obj, arrays: dict, source: str):
    if isinstance(obj, list):
        return [_decode(v, arrays, source) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__array__" in obj:
        key = obj["__array__"]
        if key not in arrays:
            raise CheckpointError(f"checkpoint {source} is damaged: array entry '{key}' is missing")
        return arrays[key]
    if "__tuple__" in obj:
        return tuple(_decode(v, arrays, source) for v in obj["__tuple__"])
    if "__counter__" in obj:
        return Counter({_decode(k, arrays, source): n for k, n in obj["__counter__"]})
    if "__items__" in obj:
        return {_decode(k, arrays, source): _decode(v, arrays, source) for k, v in obj["__items__"]}
    return {k: _decode(v, arrays, source) for k, v in obj.items()}


# --------------------------------------------------------------------------- files


def _temp_beside(path: Path):
    """A new, empty temporary file next to `path` (same file system, so the rename is atomic),
    created with the usual permissions (umask applies, unlike mkstemp's 0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return fd, tmp


def _replace_with(path, write) -> Path:
    """Write a temporary file with `write(binary_file)`, fsync it, rename it over `path`. On any
    error the temporary file is removed and `path` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    return path


def atomic_savez(path, arrays: dict) -> Path:
    """`np.savez(path, **arrays)`, atomically: a temporary file in the same folder, fsync, then
    `os.replace` over `path`. On any error the temporary file is removed and `path` untouched."""
    return _replace_with(path, lambda f: np.savez(f, **arrays))


def atomic_copy(src, dst) -> Path:
    """Copy file `src` to `dst` atomically (a reader of `dst` sees the old or the new file)."""

    def write(f):
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f, 1 << 20)

    return _replace_with(dst, write)


def save_state(path, state: dict) -> Path | None:
    """Write a nested structure of arrays / Tensors, numbers, strings, lists, tuples and dicts as
    a checkpoint file (atomically), or into a binary file object (e.g. io.BytesIO). `load_state`
    reads it back."""
    arrays: dict = {}
    skeleton = {"format": FORMAT, "version": VERSION, "state": _encode(state, "", arrays)}
    # allow_nan: inf / nan (e.g. a scheduler's initial best) must survive the round trip
    arrays[_SKELETON] = np.array(json.dumps(skeleton, allow_nan=True))
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return None
    return atomic_savez(path, arrays)


def load_state(path) -> dict:
    """Read what `save_state` wrote, from a path or a binary file object (CheckpointError if it
    is corrupt, truncated or not a minitorch_cv checkpoint; FileNotFoundError if it does not
    exist)."""
    if not hasattr(path, "read"):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            if _SKELETON not in z.files:
                raise CheckpointError(
                    f"{path} is not a minitorch_cv checkpoint (no '{_SKELETON}' entry; it holds "
                    f"{', '.join(z.files[:5]) or 'nothing'})"
                )
            arrays = {k: z[k] for k in z.files}  # reading every entry checks every CRC now
        skeleton = json.loads(str(arrays.pop(_SKELETON)))
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated and cannot be read "
            f"({type(e).__name__}: {e}); use another checkpoint (e.g. best.npz / last.npz) or "
            "start the run again"
        ) from e
    if not isinstance(skeleton, dict) or skeleton.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minitorch_cv checkpoint (format tag missing)")
    if skeleton.get("version", 0) > VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {skeleton['version']}, newer than this "
            f"minitorch_cv reads ({VERSION}); upgrade minitorch_cv"
        )
    return _decode(skeleton["state"], arrays, str(path))


# --------------------------------------------------------------------------- training state


def _loader_state(loader) -> dict:
    return {"seed": getattr(loader, "seed", None), "epoch": getattr(loader, "epoch", None)}


def save_checkpoint(
    path,
    model,
    optimizer=None,
    scheduler=None,
    *,
    epoch: int = 0,
    history=None,
    callbacks=(),
    loaders: dict | None = None,
    rng: bool = True,
    meta: dict | None = None,
) -> Path:
    """Save a training run's state to `path` (an `.npz`), atomically.

    Args:
        path: file to write; its folder is created.
        model: the Module (its `state_dict()`).
        optimizer, scheduler: saved with their `state_dict()` when given.
        epoch (int): the last finished epoch. Default: 0.
        history: the History (list of per-epoch dicts) so far.
        callbacks: callbacks whose `state_dict()` is saved (in order).
        loaders (dict): name -> DataLoader; each one's `seed` and `epoch` are saved.
        rng (bool): save the package generator's state (`minitorch_cv.tensor.get_rng_state`).
            Default: True.
        meta (dict): free-form JSON-able information (the run's config, the model's name, ...).

    Returns:
        the Path written.
    """
    state = {
        "epoch": int(epoch),
        "model": dict(model.state_dict()),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "history": [dict(row) for row in (history or [])],
        "rng": get_rng_state() if rng else None,
        "loaders": {k: _loader_state(v) for k, v in (loaders or {}).items()},
        "callbacks": [cb.state_dict() for cb in callbacks],
        "meta": dict(meta or {}),
    }
    return save_state(path, state)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by `save_checkpoint`.

    Returns:
        dict with 'epoch', 'model' (name -> NumPy array), 'optimizer', 'scheduler', 'history'
        (a History), 'rng', 'loaders', 'callbacks', 'meta'.
    """
    state = load_state(path)
    need = ("epoch", "model")
    if not isinstance(state, dict) or any(k not in state for k in need):
        raise CheckpointError(f"{path} is a minitorch_cv state file but not a training checkpoint")
    state["history"] = History(state.get("history") or [])
    state.setdefault("meta", {})
    state["path"] = str(path)
    return state


def load_model_state(model, checkpoint, strict: bool = True) -> None:
    """Load a checkpoint's weights into `model`, checking first that they fit.

    Args:
        model: the Module to fill.
        checkpoint: a path, a dict from `load_checkpoint`, or a plain state dict.
        strict (bool): every key must match (else only the common keys are loaded; shapes must
            still agree). Default: True.

    Raises:
        CheckpointError naming the first mismatched key and both shapes, e.g.
        "first mismatch: the model's 'features.0.weight' has shape (16, 3, 3, 3), the
        checkpoint's has shape (8, 3, 3, 3)".
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = load_checkpoint(checkpoint)
    source = checkpoint.get("path", "state dict") if isinstance(checkpoint, dict) else "state dict"
    meta = checkpoint.get("meta", {}) if "model" in checkpoint else {}
    state = checkpoint["model"] if "model" in checkpoint else checkpoint
    problem = _first_mismatch(model.state_dict(), state, strict)
    if problem:
        saved_from = f" (it was saved from model {meta['model']!r})" if meta.get("model") else ""
        raise CheckpointError(
            f"checkpoint {source} does not fit {type(model).__name__}{saved_from}: {problem}; "
            "was it saved from another model or with other options?"
        )
    model.load_state_dict(state, strict=strict)


def _shape(v) -> tuple:
    return tuple(v.shape) if hasattr(v, "shape") else tuple(np.shape(v))


def _first_mismatch(targets: dict, state: dict, strict: bool) -> str | None:
    """A sentence naming the first key (in the model's order) where the state does not fit."""
    t_keys, s_keys = list(targets), list(state)
    differ = sum(k not in state or _shape(state[k]) != _shape(targets[k]) for k in t_keys)
    differ += sum(k not in targets for k in s_keys)
    total = f" ({differ} of {len(set(t_keys) | set(s_keys))} keys differ)"
    for i, key in enumerate(t_keys):
        shape = _shape(targets[key])
        if key in state:
            if _shape(state[key]) != shape:
                return (
                    f"first mismatch: the model's '{key}' has shape {shape}, the checkpoint's has "
                    f"shape {_shape(state[key])}" + total
                )
            continue
        if not strict:
            continue
        if i < len(s_keys) and s_keys[i] not in targets:
            other = s_keys[i]
            return (
                f"first mismatch: the model's '{key}' (shape {shape}) is not in the checkpoint, "
                f"which has '{other}' (shape {_shape(state[other])}) in its place" + total
            )
        return (
            f"first mismatch: the model's '{key}' (shape {shape}) is not in the checkpoint" + total
        )
    if strict:
        for key in s_keys:
            if key not in targets:
                return (
                    f"first mismatch: the checkpoint's '{key}' (shape {_shape(state[key])}) is not "
                    "in the model" + total
                )
    return None


def restore_checkpoint(
    checkpoint,
    model,
    optimizer=None,
    scheduler=None,
    *,
    callbacks=(),
    loaders: dict | None = None,
    rng: bool = True,
) -> dict:
    """Put a training run back in the state a checkpoint recorded.

    Loads the model weights (checked, see `load_model_state`), the optimizer and scheduler
    states, the callbacks' states, each named loader's `seed` and `epoch`, and the package
    generator's state. Move the model to its device before calling this: optimizer state is
    placed on the device of the parameters.

    Args:
        checkpoint: a path or a dict from `load_checkpoint`.
        model, optimizer, scheduler: the objects to restore (optimizer / scheduler optional).
        callbacks: the run's callbacks, in the order they were saved.
        loaders (dict): name -> DataLoader.
        rng (bool): restore the package generator. Default: True.

    Returns:
        the checkpoint dict.
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        checkpoint = load_checkpoint(checkpoint)
    source = checkpoint.get("path", "checkpoint")
    load_model_state(model, checkpoint)
    if optimizer is not None:
        if checkpoint.get("optimizer") is None:
            raise CheckpointError(f"checkpoint {source} holds no optimizer state to restore")
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        if checkpoint.get("scheduler") is None:
            raise CheckpointError(f"checkpoint {source} holds no scheduler state to restore")
        scheduler.load_state_dict(checkpoint["scheduler"])
    saved_cbs = checkpoint.get("callbacks") or []
    callbacks = list(callbacks)
    if len(saved_cbs) != len(callbacks):
        raise CheckpointError(
            f"checkpoint {source} holds the state of {len(saved_cbs)} callback(s), the run has "
            f"{len(callbacks)}; resume with the same callbacks"
        )
    for cb, st in zip(callbacks, saved_cbs):
        cb.load_state_dict(st)
    for name, loader in (loaders or {}).items():
        st = (checkpoint.get("loaders") or {}).get(name)
        if st is None:
            continue
        if st.get("seed") is not None and hasattr(loader, "seed"):
            loader.seed = st["seed"]
        if st.get("epoch") is not None and hasattr(loader, "set_epoch"):
            loader.set_epoch(st["epoch"])
    if rng and checkpoint.get("rng") is not None:
        set_rng_state(checkpoint["rng"])
    return checkpoint
