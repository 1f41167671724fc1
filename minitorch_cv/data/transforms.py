"""Batch transforms: whole-batch array code on (N, C, H, W) images and, jointly, (N, H, W) masks.

Each random transform draws all of a batch's parameters at once from a NumPy Generator (so a
seeded run is reproducible and the draws do not depend on the device), then applies them with
one gather over the batch: no Python loop over images or pixels. Images and masks go through
the same geometric change; masks are always resampled by nearest neighbour, and pixels that
come from outside a mask are set to `mask_fill` (255, the ignore index of losses and metrics).

Call convention, like torchvision's: `t(x)` returns the transformed images, `t(x, mask)` returns
`(images, mask)`. A single image (C, H, W) with an optional (H, W) mask works too. The random
source is the `rng=` given to the call, else the one given to the constructor (a Generator or an
int seed), else the package generator `minitorch_cv.tensor.default_rng()` (see `manual_seed`).
Arrays may be NumPy or CuPy; the result stays on the input's device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from minitorch_cv.backend import xp_of

IGNORE_INDEX = 255


def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    t = tuple(int(a) for a in v)
    if len(t) != 2:
        raise ValueError(f"{name} must be an int or a pair (H, W), got {v!r}")
    return t


def _generator(rng) -> np.random.Generator:
    if rng is None:
        from minitorch_cv.tensor import default_rng

        return default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


# --------------------------------------------------------------------------- functional forms


def hflip(x):
    """Mirror left-right: (..., H, W) -> (..., H, W), last axis reversed."""
    return x[..., ::-1]


def crop(x, top, left, height: int, width: int):
    """Cut a (height, width) window per item at per-item corners (top[i], left[i]).

    Args:
        x: images (N, C, H, W) or masks (N, H, W).
        top, left: (N,) int arrays; windows must lie inside the array.

    Shape:
        (N, C, height, width) or (N, height, width).
    """
    xp = xp_of(x)
    n = len(x)
    top = xp.asarray(top, dtype=xp.int64).reshape(n)
    left = xp.asarray(left, dtype=xp.int64).reshape(n)
    rows = (top[:, None] + xp.arange(height))[:, :, None]  # (N, h, 1)
    cols = (left[:, None] + xp.arange(width))[:, None, :]  # (N, 1, w)
    idx = xp.arange(n)[:, None, None]
    if x.ndim == 3:
        return x[idx, rows, cols]
    # advanced indices split by a slice put the broadcast dims first: (N, h, w, C)
    return xp.ascontiguousarray(x[idx, :, rows, cols].transpose(0, 3, 1, 2))


def rotate(x, angles, interpolation: str = "nearest", fill=0.0):
    """Rotate each item counter-clockwise by its angle in degrees about the image centre.

    Each output pixel (i, j) reads the input at the inverse-rotated position
    (cy + cos t (i - cy) + sin t (j - cx), cx - sin t (i - cy) + cos t (j - cx)); positions outside
    the input take `fill`. A 90 degree turn of a square image equals `np.rot90(x, axes=(-2, -1))`.

    Args:
        x: images (N, C, H, W) or masks (N, H, W) (masks: nearest only).
        angles: (N,) angles in degrees (or a scalar for all).
        interpolation: 'nearest' or 'bilinear' (default 'nearest').
        fill: value of pixels that come from outside the input (default 0).
    """
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(
            f"rotate: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}"
        )
    xp = xp_of(x)
    is_mask = x.ndim == 3
    xs = x[:, None] if is_mask else x
    n, _, h, w = xs.shape
    theta = np.deg2rad(np.broadcast_to(np.asarray(angles, dtype=np.float64), (n,)))
    cos = xp.asarray(np.cos(theta))[:, None, None]
    sin = xp.asarray(np.sin(theta))[:, None, None]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    di = xp.arange(h, dtype=xp.float64)[:, None] - cy
    dj = xp.arange(w, dtype=xp.float64)[None, :] - cx
    src_r = cy + cos * di + sin * dj  # (N, H, W)
    src_c = cx - sin * di + cos * dj
    idx = xp.arange(n)[:, None, None]

    def sample(r, c):  # gather (N, H, W, C) at integer positions, `fill` outside
        inside = ((r >= 0) & (r < h) & (c >= 0) & (c < w))[..., None]
        vals = xs[idx, :, xp.clip(r, 0, h - 1), xp.clip(c, 0, w - 1)]
        return xp.where(inside, vals, xp.asarray(fill, dtype=xs.dtype))

    if interpolation == "nearest" or is_mask:
        out = sample(xp.rint(src_r).astype(xp.int64), xp.rint(src_c).astype(xp.int64))
    else:
        r0, c0 = xp.floor(src_r), xp.floor(src_c)
        fr, fc = (src_r - r0)[..., None], (src_c - c0)[..., None]
        r0, c0 = r0.astype(xp.int64), c0.astype(xp.int64)
        out = (
            (1 - fr) * (1 - fc) * sample(r0, c0)
            + (1 - fr) * fc * sample(r0, c0 + 1)
            + fr * (1 - fc) * sample(r0 + 1, c0)
            + fr * fc * sample(r0 + 1, c0 + 1)
        )
        out = out.astype(x.dtype)
    out = xp.ascontiguousarray(out.transpose(0, 3, 1, 2))
    return out[:, 0] if is_mask else out


def _source_coords(n_in: int, n_out: int, xp):
    """Bilinear taps along one axis, as PyTorch's interpolate(align_corners=False) places them."""
    src = xp.maximum((xp.arange(n_out, dtype=xp.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = xp.minimum(xp.floor(src).astype(xp.int64), n_in - 1)
    i1 = xp.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def resize(x, size, interpolation: str = "bilinear"):
    """Resize to `size` = (H', W') (or an int for both), like `F.interpolate(align_corners=False)`.

    Args:
        x: images (N, C, H, W) or masks (N, H, W); masks always use nearest.
        size: int or (H', W').
        interpolation: 'bilinear' (default) or 'nearest' (source index floor(i * H / H')).
    """
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(
            f"resize: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}"
        )
    xp = xp_of(x)
    oh, ow = _pair(size, "resize: size")
    h, w = x.shape[-2:]
    if interpolation == "nearest" or x.ndim == 3:
        rows = xp.minimum(xp.floor(xp.arange(oh) * (h / oh)).astype(xp.int64), h - 1)
        cols = xp.minimum(xp.floor(xp.arange(ow) * (w / ow)).astype(xp.int64), w - 1)
        return xp.ascontiguousarray(x[..., rows[:, None], cols[None, :]])
    r0, r1, lr = _source_coords(h, oh, xp)
    c0, c1, lc = _source_coords(w, ow, xp)
    lr = lr.astype(x.dtype)[:, None]
    lc = lc.astype(x.dtype)
    y = x[..., r0, :] * (1 - lr) + x[..., r1, :] * lr  # rows first, then columns: separable
    return xp.ascontiguousarray(y[..., c0] * (1 - lc) + y[..., c1] * lc)


# --------------------------------------------------------------------------- transform objects


class Transform(ABC):
    """Base class: subclasses implement `apply(x, mask, rng) -> (x, mask)` on batches."""

    def __init__(self, rng=None):
        self.rng = None if rng is None else _generator(rng)

    def __call__(self, x, mask=None, *, rng=None):
        name = type(self).__name__
        single = x.ndim == 3
        if single:
            x = x[None]
            mask = None if mask is None else mask[None]
        if x.ndim != 4:
            raise ValueError(
                f"{name}: expected images (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}"
            )
        if mask is not None and (mask.ndim != 3 or tuple(mask.shape) != (x.shape[0], *x.shape[2:])):
            raise ValueError(
                f"{name}: mask of shape {tuple(mask.shape)} does not match images "
                f"{tuple(x.shape)}; expected (N, H, W)"
            )
        x, mask = self.apply(x, mask, _generator(rng if rng is not None else self.rng))
        if single:
            x = x[0]
            mask = None if mask is None else mask[0]
        return x if mask is None else (x, mask)

    @abstractmethod
    def apply(self, x, mask, rng: np.random.Generator):
        """Transform a batch: x (N, C, H, W), mask (N, H, W) or None -> (x, mask)."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "rng")
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms in order, all drawing from the one random source of the call.

    Args:
        transforms: Transform objects, or callables `f(x)` / `f(x, mask) -> (x, mask)`.
        rng: Generator or seed used when the call gives none (default: the package generator).
    """

    def __init__(self, transforms: Sequence[Callable], rng=None):
        super().__init__(rng)
        self.transforms = list(transforms)

    def apply(self, x, mask, rng):
        for t in self.transforms:
            if isinstance(t, Transform):
                x, mask = t.apply(x, mask, rng)
            elif mask is None:
                x = t(x)
            else:
                x, mask = t(x, mask)
        return x, mask

    def __repr__(self) -> str:
        inner = ",\n    ".join(repr(t) for t in self.transforms)
        return f"Compose([\n    {inner}\n])"


class Normalize(Transform):
    """Per-channel standardisation: (x - mean[c]) / std[c]; masks pass through.

    Args:
        mean, std: one value per channel (or one value for all).
    """

    def __init__(self, mean, std):
        super().__init__()
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if len(self.mean) != len(self.std) or min(abs(s) for s in self.std) == 0:
            raise ValueError(
                f"Normalize: mean {self.mean} and std {self.std} must have the same "
                "length and std must be non-zero"
            )

    def apply(self, x, mask, rng):
        xp = xp_of(x)
        c = x.shape[1]
        if len(self.mean) not in (1, c):
            raise ValueError(
                f"Normalize({len(self.mean)} channels): got images with {c} "
                f"channels, shape {tuple(x.shape)}"
            )
        dtype = x.dtype if x.dtype.kind == "f" else np.float32
        mean = xp.asarray(self.mean, dtype=dtype).reshape(1, -1, 1, 1)
        std = xp.asarray(self.std, dtype=dtype).reshape(1, -1, 1, 1)
        return (x - mean) / std, mask


class RandomHorizontalFlip(Transform):
    """Mirror each item left-right with probability p (image and mask together).

    Args:
        p: flip probability (default 0.5).
        rng: Generator or seed (default: the call's, else the package generator).
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__(rng)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, x, mask, rng):
        xp = xp_of(x)
        flip = xp.asarray(rng.random(len(x)) < self.p)
        x = xp.where(flip[:, None, None, None], hflip(x), x)
        if mask is not None:
            mask = xp.where(flip[:, None, None], hflip(mask), mask)
        return x, mask


class RandomCrop(Transform):
    """Pad by `padding` on every side, then cut a random `size` window per item.

    Args:
        size: output (H', W') or an int for both.
        padding: int or (pad_h, pad_w) added on both sides of each axis (default 0).
        fill: image value in the padding (default 0).
        mask_fill: mask value in the padding (default 255, ignored by losses and metrics).
        rng: Generator or seed.

    Shape:
        (N, C, H, W) -> (N, C, H', W'); needs H + 2 pad_h >= H' and W + 2 pad_w >= W'.
    """

    def __init__(self, size, padding=0, fill: float = 0.0, mask_fill: int = IGNORE_INDEX, rng=None):
        super().__init__(rng)
        self.size = _pair(size, "RandomCrop: size")
        self.padding = _pair(padding, "RandomCrop: padding")
        self.fill, self.mask_fill = fill, mask_fill

    def apply(self, x, mask, rng):
        xp = xp_of(x)
        (h, w), (ph, pw) = self.size, self.padding
        if ph or pw:
            x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=self.fill)
            if mask is not None:
                mask = xp.pad(mask, ((0, 0), (ph, ph), (pw, pw)), constant_values=self.mask_fill)
        hp, wp = x.shape[2:]
        if hp < h or wp < w:
            raise ValueError(
                f"RandomCrop(size={self.size}, padding={self.padding}): images "
                f"{tuple(x.shape)} (after padding) are smaller than the crop"
            )
        top = rng.integers(0, hp - h + 1, len(x))
        left = rng.integers(0, wp - w + 1, len(x))
        x = crop(x, top, left, h, w)
        if mask is not None:
            mask = crop(mask, top, left, h, w)
        return x, mask


class RandomRotation(Transform):
    """Rotate each item by an angle drawn uniformly from `degrees` (counter-clockwise positive).

    Args:
        degrees: d for [-d, d], or (min, max).
        interpolation: 'nearest' (default) or 'bilinear' for images; masks always nearest.
        fill: image value where the rotated image does not reach (default 0).
        mask_fill: mask value there (default 255).
        rng: Generator or seed.
    """

    def __init__(
        self,
        degrees,
        interpolation: str = "nearest",
        fill: float = 0.0,
        mask_fill: int = IGNORE_INDEX,
        rng=None,
    ):
        super().__init__(rng)
        if np.isscalar(degrees):
            if degrees < 0:
                raise ValueError(f"RandomRotation: degrees must be >= 0, got {degrees}")
            degrees = (-float(degrees), float(degrees))
        self.degrees = tuple(float(d) for d in degrees)
        if len(self.degrees) != 2 or self.degrees[0] > self.degrees[1]:
            raise ValueError(f"RandomRotation: degrees must be d or (min, max), got {degrees!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"RandomRotation: interpolation must be 'nearest' or 'bilinear', "
                f"got {interpolation!r}"
            )
        self.interpolation = interpolation
        self.fill, self.mask_fill = fill, mask_fill

    def apply(self, x, mask, rng):
        angles = rng.uniform(self.degrees[0], self.degrees[1], len(x))
        x = rotate(x, angles, self.interpolation, self.fill)
        if mask is not None:
            mask = rotate(mask, angles, "nearest", self.mask_fill)
        return x, mask


class Resize(Transform):
    """Resize every item to `size` (bilinear or nearest for images, nearest for masks).

    Args:
        size: int or (H', W').
        interpolation: 'bilinear' (default) or 'nearest'.
    """

    def __init__(self, size, interpolation: str = "bilinear"):
        super().__init__()
        self.size = _pair(size, "Resize: size")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"Resize: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}"
            )
        self.interpolation = interpolation

    def apply(self, x, mask, rng):
        x = resize(x, self.size, self.interpolation)
        if mask is not None:
            mask = resize(mask, self.size, "nearest")
        return x, mask
