"""The one place that knows NumPy from CuPy.

Every array routine in the package asks `xp_of(*arrays)` for the module of its inputs, so the
CUDA path is the same code as the CPU path. CuPy is imported lazily, only when a CUDA device is
asked for or a CuPy array is met: importing minitorch_cv never imports CuPy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

GPU_INSTALL_HINT = "install the GPU extra: pip install 'minitorch_cv[gpu]' (needs an NVIDIA GPU)"

_cupy = None


def _is_cupy_array(a) -> bool:
    # A type check by module name, so that asking never imports CuPy.
    return type(a).__module__.startswith("cupy")


def cupy_module():
    """Return the imported `cupy` module, or raise a clear error saying what to install."""
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError as e:
            raise RuntimeError(
                f"device 'cuda' needs CuPy, which is not installed: {GPU_INSTALL_HINT}"
            ) from e
        try:
            n = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # CUDA driver missing or broken
            raise RuntimeError(
                f"device 'cuda' asked for, but CuPy sees no GPU ({e}); {GPU_INSTALL_HINT}"
            ) from e
        if n == 0:
            raise RuntimeError(
                f"device 'cuda' asked for, but no CUDA device is visible; {GPU_INSTALL_HINT}"
            )
        _cupy = cupy
    return _cupy


def gpu_available() -> bool:
    """True when CuPy is installed and sees at least one CUDA device."""
    try:
        cupy_module()
    except RuntimeError:
        return False
    return True


def xp_of(*arrays):
    """The array module (numpy or cupy) of the given arrays; non-arrays are ignored."""
    for a in arrays:
        if _is_cupy_array(a):
            return cupy_module()
    return np


@dataclass(frozen=True)
class Device:
    """A device: type 'cpu' or 'cuda', and for CUDA a device index."""

    type: str
    index: int | None = None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return (
            f"device(type='{self.type}'"
            + ("" if self.index is None else f", index={self.index}")
            + ")"
        )

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, Device):
            return NotImplemented
        # 'cuda' and 'cuda:0' name the same device when only the current one is meant
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))


_DEVICE_RE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


def device(spec) -> Device:
    """Parse 'cpu', 'cuda', 'cuda:1' (or a Device) into a Device."""
    if isinstance(spec, Device):
        return spec
    if spec is None:
        return Device("cpu")
    m = _DEVICE_RE.match(str(spec).strip())
    if not m:
        raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    kind, idx = m.group(1), m.group(2)
    if kind == "cpu":
        if idx is not None and idx != "0":
            raise ValueError(f"unknown device {spec!r}: the CPU has no index other than 0")
        return Device("cpu")
    return Device("cuda", int(idx) if idx is not None else 0)


def device_of(array) -> Device:
    """The Device an array lives on."""
    if _is_cupy_array(array):
        return Device("cuda", int(array.device.id))
    return Device("cpu")


def to_device(array, dev):
    """Copy `array` to device `dev` (a no-op when it is already there)."""
    dev = device(dev)
    if dev.type == "cpu":
        return array.get() if _is_cupy_array(array) else array
    cp = cupy_module()
    count = cp.cuda.runtime.getDeviceCount()
    if dev.index >= count:
        raise RuntimeError(f"device {dev} asked for, but only {count} CUDA device(s) exist")
    if _is_cupy_array(array) and array.device.id == dev.index:
        return array
    with cp.cuda.Device(dev.index):
        return cp.asarray(array)


def xp_for_device(dev):
    """The array module that holds arrays of device `dev`."""
    return np if device(dev).type == "cpu" else cupy_module()
