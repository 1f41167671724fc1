"""Weight initialisation, PyTorch's `torch.nn.init` formulas.

Every function fills a Tensor in place and returns it. Random values are drawn on the CPU from
the package generator (`minitorch_cv.manual_seed` seeds it, or pass `generator=`), then copied
to the tensor's device: one seed gives the same weights on every device.

Fans follow PyTorch: for a weight of shape (out, in, *kernel),
    fan_in  = in  * prod(kernel)      (for a conv weight: C_in / groups * KH * KW)
    fan_out = out * prod(kernel)
"""

from __future__ import annotations

import functools
import math
import numbers
from contextlib import contextmanager

import numpy as np

from .backend import to_device
from .tensor import Tensor, default_rng

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


_SKIP = [False]  # inside `skip_init()`


@contextmanager
def skip_init():
    """Build modules without filling their weights: inside this block every init function
    returns its tensor untouched (uninitialised memory), so even a VGG-16 is built in the time
    its memory takes to allocate instead of seconds of random draws. For counting parameters
    or reading shapes, or before loading every weight from a checkpoint (the use PyTorch's
    meta-device construction serves). The weights are garbage until something fills them.

        with init.skip_init():
            n = models.vgg16().num_parameters()
    """
    previous, _SKIP[0] = _SKIP[0], True
    try:
        yield
    finally:
        _SKIP[0] = previous


def _fills(fn):
    """The init function, or a no-op inside `skip_init()` (every other init function fills
    through one of these)."""

    @functools.wraps(fn)
    def fill(tensor, *args, **kwargs):
        return tensor if _SKIP[0] else fn(tensor, *args, **kwargs)

    return fill


def _check(tensor, fn: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{fn}: expected a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"init.{fn}: expected a floating tensor, got dtype {tensor.dtype}")


def _write(tensor: Tensor, values) -> Tensor:
    """Copy CPU `values` into the tensor's array in place (same object, same device, same dtype)."""
    values = np.asarray(values).astype(tensor.dtype, copy=False)
    tensor._data[...] = to_device(values, tensor.device)
    tensor._version += 1
    return tensor


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity.

    linear / conv* / sigmoid: 1;  tanh: 5/3;  relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + slope^2)) with slope = param (default 0.01);  selu: 3/4.
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(
            f"init: fan in and fan out can not be computed for a tensor with fewer than 2 dims, "
            f"got shape {shape}"
        )
    receptive = int(np.prod(shape[2:], dtype=np.int64))
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode {mode!r} not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


@_fills
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with U(a, b)."""
    _check(tensor, "uniform_")
    rng = generator or default_rng()
    return _write(tensor, rng.uniform(a, b, tensor.shape))


@_fills
def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with N(mean, std^2)."""
    _check(tensor, "normal_")
    rng = generator or default_rng()
    return _write(tensor, rng.normal(mean, std, tensor.shape))


@_fills
def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with `val`."""
    _check(tensor, "constant_")
    tensor._data[...] = val
    tensor._version += 1
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std  # U(-b, b) has std b / sqrt(3)
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator=None,
) -> Tensor:
    """He: U(-b, b) with b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    Args:
        a (float): negative slope of the leaky_relu that follows. Default: 0.
        mode (str): 'fan_in' (keeps forward variance) or 'fan_out' (backward). Default: 'fan_in'.
        nonlinearity (str): 'relu' or 'leaky_relu' (default), see calculate_gain.

    PyTorch's default init of Linear and Conv2d weights is kaiming_uniform_(w, a=sqrt(5)),
    which works out to U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    if 0 in tuple(tensor.shape):
        return tensor  # nothing to fill, and a fan of 0 would divide by zero
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator=None,
) -> Tensor:
    """He: N(0, std^2) with std = gain / sqrt(fan); arguments as kaiming_uniform_."""
    if 0 in tuple(tensor.shape):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


@_fills
def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator=None,
) -> Tensor:
    """Fill with N(mean, std^2) restricted to [a, b] (absolute bounds, as PyTorch), drawn by
    rejection: out-of-range draws are redrawn until none is left."""
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"init.trunc_normal_: needs a < b, got a={a}, b={b}")
    z = [(v - mean) / (std * math.sqrt(2)) for v in (a, b)]
    mass = 0.5 * (math.erf(z[1]) - math.erf(z[0]))  # the share of draws that land inside
    if mass < 1e-4:
        raise ValueError(
            f"init.trunc_normal_: [{a}, {b}] holds only {mass:.1e} of N({mean}, {std}^2); "
            "rejection sampling would not end"
        )
    rng = generator or default_rng()
    values = rng.normal(mean, std, tensor.shape)
    bad = (values < a) | (values > b)
    while bad.any():
        values[bad] = rng.normal(mean, std, int(bad.sum()))
        bad = (values < a) | (values > b)
    return _write(tensor, values)


@_fills
def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix times `gain` (Saxe et al.): the tensor read as
    (shape[0], rest) has orthonormal rows or columns, from the QR decomposition of a Gaussian
    matrix with R's diagonal made positive (so the draw is uniform over orthogonal matrices)."""
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(
            f"init.orthogonal_: needs at least 2 dimensions, got shape {tuple(tensor.shape)}"
        )
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    rng = generator or default_rng()
    flat = rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # column signs from R: uniform (Haar) over orthogonal matrices
    if rows < cols:
        q = q.T
    return _write(tensor, gain * q.reshape(tensor.shape))


@_fills
def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the diagonal of a non-square one)."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(f"init.eye_: needs a 2-D tensor, got shape {tuple(tensor.shape)}")
    return _write(tensor, np.eye(*tensor.shape))


@_fills
def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a conv weight (out, in, *kernel) so the conv passes its input through: a 1 at the
    kernel centre linking output channel g * out/groups + d to input channel d (d < in), zero
    elsewhere; output channels beyond the input's stay zero."""
    _check(tensor, "dirac_")
    if tensor.ndim not in (3, 4, 5) or tensor.shape[0] % groups:
        raise ValueError(
            f"init.dirac_: needs a conv weight of 3 to 5 dims whose out channels divide by "
            f"groups={groups}, got shape {tuple(tensor.shape)}"
        )
    out_per = tensor.shape[0] // groups
    values = np.zeros(tensor.shape)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(out_per, tensor.shape[1])):
            values[(g * out_per + d, d) + centre] = 1.0
    return _write(tensor, values)
