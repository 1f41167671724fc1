"""History: what `fit` returns, one dict per epoch, with CSV / JSON writers and the best epoch.

    history = fit(...)
    history[-1]        # {'epoch': 10, 'train_loss': 0.08, 'val_loss': 0.11, 'val_acc': 0.97, ...}
    history.best_epoch()                       # epoch number of the lowest val_loss
    history.to_csv("history.csv"); history.to_json("history.json")

Files are written atomically (temporary file + rename).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path


def _plain(v):
    """A value as a plain Python scalar for files: NumPy / CuPy scalars and 0-d arrays become
    floats or ints; anything else is kept."""
    if hasattr(v, "item") and getattr(v, "size", None) == 1 and hasattr(v, "dtype"):
        v = v.item()
    return v


def _json_safe(v):
    """NaN and infinities become None: strict JSON has no spelling for them."""
    v = _plain(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class History(list):
    """A list of per-epoch dicts (keys such as 'epoch', 'train_loss', 'val_loss', 'train_acc',
    'val_acc', 'val_pixel_acc', 'val_miou', 'lr', 'seconds').

    It is a plain list, so `history[-1]['val_loss']`, `len(history)` and slicing work; the extra
    methods read columns, find the best epoch and write files.
    """

    def keys(self) -> list[str]:
        """Every key that appears in any epoch, in order of first appearance."""
        return list(dict.fromkeys(k for row in self for k in row))

    def column(self, key: str) -> list:
        """The values of `key`, one per epoch (None where an epoch lacks it)."""
        return [row.get(key) for row in self]

    def best(self, key: str = "val_loss", mode: str = "min") -> dict | None:
        """The epoch dict with the lowest (mode='min') or highest ('max') finite `key`, else None.
        Ties go to the earliest epoch."""
        if mode not in ("min", "max"):
            raise ValueError(f"History.best: mode must be 'min' or 'max', got {mode!r}")
        best_row, best_val = None, None
        for row in self:
            v = _plain(row.get(key))
            if v is None or not math.isfinite(float(v)):
                continue
            v = float(v)
            if best_val is None or (v < best_val if mode == "min" else v > best_val):
                best_row, best_val = row, v
        return best_row

    def best_epoch(self, key: str = "val_loss", mode: str = "min") -> int | None:
        """The epoch number (the rows' 'epoch' value) of `best(key, mode)`, else None."""
        row = self.best(key, mode)
        return None if row is None else int(row.get("epoch", self.index(row) + 1))

    # ---------------------------------------------------------------- files

    def to_records(self) -> list[dict]:
        """The epochs as JSON-ready dicts (plain Python numbers, non-finite values as None)."""
        return [{k: _json_safe(v) for k, v in row.items()} for row in self]

    def to_json(self, path=None, indent: int | None = 1) -> str:
        """Write (when `path` is given) and return the history as a JSON list of objects."""
        text = json.dumps(self.to_records(), indent=indent)
        if path is not None:
            _write_text(path, text + "\n")
        return text

    def to_csv(self, path=None) -> str:
        """Write (when `path` is given) and return the history as CSV, one row per epoch; the
        columns are `keys()`, and a missing or None value is an empty cell."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        keys = self.keys()
        writer.writerow(keys)
        for row in self:
            cells = []
            for k in keys:
                v = _plain(row.get(k))
                cells.append("" if v is None else repr(v) if isinstance(v, float) else v)
            writer.writerow(cells)
        text = buf.getvalue()
        if path is not None:
            _write_text(path, text)
        return text

    @classmethod
    def from_json(cls, path_or_text) -> History:
        """Read a history written by `to_json` (a path, or the JSON text itself)."""
        text = str(path_or_text)
        if not text.lstrip().startswith("["):
            text = Path(path_or_text).read_text()
        rows = json.loads(text)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("History.from_json: expected a JSON list of objects (one per epoch)")
        return cls(
            {k: (math.nan if v is None and k != "epoch" else v) for k, v in r.items()} for r in rows
        )

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, keys={self.keys()})"


def _write_text(path, text: str) -> None:
    """Write a text file atomically (temp file + rename), so a reader never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
