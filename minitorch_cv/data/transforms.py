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

A PIL image is taken too, alone, as torchvision's transforms take it per item in a dataset: the
transform works on its values and returns a PIL image (`Resize` and `RandomResizedCrop` resample
it with Pillow, antialiased, as torchvision does), and `ToTensor()` turns it into a float32
(C, H, W) array (see transforms_pil.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from minitorch_cv.backend import xp_of
from minitorch_cv.data import transforms_pil as _pil

IGNORE_INDEX = 255


def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    t = tuple(int(a) for a in v)
    if len(t) != 2:
        raise ValueError(f"{name} must be an int or a pair (H, W), got {v!r}")
    return t


def _check_interpolation(interpolation, owner: str) -> None:
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(
            f"{owner}: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}"
        )


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
    *lead, h, w = x.shape
    if not (0 < height <= h and 0 < width <= w):
        raise ValueError(
            f"crop: a ({height}, {width}) window does not fit images of shape {tuple(x.shape)}"
        )
    # a view of all windows, (..., H - height + 1, W - width + 1, height, width), only read:
    # picking one per item copies whole rows, not pixel by pixel
    windows = xp.lib.stride_tricks.as_strided(
        x, shape=(*lead, h - height + 1, w - width + 1, height, width),
        strides=(*x.strides, *x.strides[-2:]),
    )  # fmt: skip
    idx = xp.arange(n)
    # advanced indices split by a slice put the batch first: (N, C, height, width)
    return windows[idx, top, left] if x.ndim == 3 else windows[idx, :, top, left]


def _channel_major(xs, border: int = 0, fill=None):
    """The source of a batch gather: images (N, C, H, W) as (C, N * (H + 2b) * (W + 2b)),
    channel by channel, each image framed by `border` = b pixels of `fill` (broadcastable to
    (1, C, 1, 1)). One linear pixel index then reads all of a pixel's channels with one
    `take(index, axis=1)`: in NumPy a much faster gather than indexing the batch and the pixel
    axes together (`xs[n, :, r, c]`), and the frame stands in for an `inside` test."""
    xp = xp_of(xs)
    n, c, h, w = xs.shape
    b = border
    src = xp.empty((c, n, h + 2 * b, w + 2 * b), dtype=xs.dtype)
    if b:
        src[...] = fill.reshape(-1, 1, 1, 1)
    src[:, :, b : b + h, b : b + w] = xs.transpose(1, 0, 2, 3)
    return src.reshape(c, -1)


def _framed_index(r, c, h: int, w: int):
    """Linear indices into `_channel_major(xs, 2, fill)` of integer positions r, c (N, H', W')
    in the N images (h, w) of xs. Positions are first clipped to [-2, h] x [-2, w]: those
    outside stay outside, in the two-pixel frame of fill, and so does the bilinear neighbour
    (r + 1, c + 1) of each; index + 1 is the pixel to the right, index + w + 4 the one below."""
    xp = xp_of(r)
    n = len(r)
    first = (xp.arange(n, dtype=xp.int64) * ((h + 4) * (w + 4))).reshape(n, 1, 1)
    return first + (xp.clip(r, -2, h) + 2) * (w + 4) + (xp.clip(c, -2, w) + 2)


def _inverse_affine(angle, translate, scale, shear, center=None):
    """Per item, the 2 x 3 map from an output pixel (x, y), as offsets from the image centre
    (x along the width), to the input position it reads: torchvision's inverse affine matrix
    (rotation by `angle` clockwise, shear, scale, all about `center`, then translation by
    (tx, ty) pixels).

    Shapes: angle, scale (N,); translate, shear, center (N, 2), in degrees for angle and shear;
    center as offsets from the image centre (default 0: the centre).
    Returns (N, 2, 3).
    """
    rot = np.deg2rad(angle)
    sx, sy = np.deg2rad(shear[:, 0]), np.deg2rad(shear[:, 1])
    a = np.cos(rot - sy) / np.cos(sy)
    b = -np.cos(rot - sy) * np.tan(sx) / np.cos(sy) - np.sin(rot)
    c = np.sin(rot - sy) / np.cos(sy)
    d = -np.sin(rot - sy) * np.tan(sx) / np.cos(sy) + np.cos(rot)
    m = np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], 1) / scale[:, None, None]
    c = np.zeros_like(translate) if center is None else center
    shift = c - np.einsum("nij,nj->ni", m, translate + c)  # input = m (out - c - t) + c
    return np.concatenate([m, shift[:, :, None]], axis=2)


def affine(x, angle=0.0, translate=(0.0, 0.0), scale=1.0, shear=(0.0, 0.0),
           interpolation: str = "nearest", fill=0.0, center=None):  # fmt: skip
    """A per-item affine change about the image centre (torchvision's `affine`): rotation by
    `angle` degrees clockwise (torchvision's affine convention; `rotate` turns the other way, as
    torchvision's), shear by `shear` = (x, y) degrees, scaling by `scale`,
    then a shift by `translate` = (tx, ty) pixels (tx to the right, ty down). Each output pixel
    reads the input at its inverse-mapped position; positions outside take `fill`.

    Args:
        x: images (N, C, H, W) or masks (N, H, W) (masks: nearest only).
        angle, scale: one per item (N,) or a scalar for all.
        translate, shear: one pair per item (N, 2) or one pair for all.
        interpolation: 'nearest' (default) or 'bilinear'.
        fill: value of pixels from outside the input: a number or one per channel (default 0).
        center: (x, y) in pixel coordinates (the top-left corner of the image is (0, 0), a
            pixel's centre is at +0.5, as torchvision) about which to rotate, shear and scale;
            default the image centre.
    """
    _check_interpolation(interpolation, "affine")
    xp = xp_of(x)
    is_mask = x.ndim == 3
    xs = x[:, None] if is_mask else x
    n, _, h, w = xs.shape

    def per_item(v, shape):
        return np.broadcast_to(np.asarray(v, dtype=np.float64), shape)

    scale, shear = per_item(scale, (n,)), per_item(shear, (n, 2))
    if np.any(scale <= 0) or np.any(np.abs(shear) >= 90):
        raise ValueError(
            f"affine: scale must be > 0 and shear angles within (-90, 90) degrees, got scale "
            f"{scale.min():g}..{scale.max():g}, shear up to {np.abs(shear).max():g}"
        )
    c = None if center is None else per_item(center, (n, 2)) - np.array([w / 2, h / 2])
    inv = _inverse_affine(per_item(angle, (n,)), per_item(translate, (n, 2)), scale, shear, c)
    m = xp.asarray(inv)[:, :, :, None, None]  # (N, 2, 3, 1, 1)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dy = xp.arange(h, dtype=xp.float64)[:, None] - cy  # output offsets from the centre
    dx = xp.arange(w, dtype=xp.float64)[None, :] - cx
    src_c = cx + m[:, 0, 0] * dx + m[:, 0, 1] * dy + m[:, 0, 2]  # (N, H, W)
    src_r = cy + m[:, 1, 0] * dx + m[:, 1, 1] * dy + m[:, 1, 2]
    src = _channel_major(xs, 2, _channel_fill(fill, xs, "affine"))  # `fill` outside

    def sample(index):  # (N, H, W) -> values (C, N, H, W)
        return src.take(index, axis=1)

    if interpolation == "nearest" or is_mask:
        rows, cols = xp.rint(src_r).astype(xp.int64), xp.rint(src_c).astype(xp.int64)
        out = sample(_framed_index(rows, cols, h, w))
    else:  # float64 weights times the neighbours: float64 sums, cast back once below
        r0, c0 = xp.floor(src_r), xp.floor(src_c)
        fr, fc = src_r - r0, src_c - c0
        i = _framed_index(r0.astype(xp.int64), c0.astype(xp.int64), h, w)  # (r0, c0)
        below = w + 4  # the next row of the framed source
        out = (
            (1 - fr) * (1 - fc) * sample(i)
            + (1 - fr) * fc * sample(i + 1)
            + fr * (1 - fc) * sample(i + below)
            + fr * fc * sample(i + (below + 1))
        )
    if is_mask:
        return out[0]
    return _cast_back(out, x).transpose(1, 0, 2, 3).copy()


def rotate(x, angles, interpolation: str = "nearest", fill=0.0):
    """Rotate each item counter-clockwise by its angle in degrees about the image centre.

    Each output pixel (i, j) reads the input at the inverse-rotated position
    (cy + cos t (i - cy) + sin t (j - cx), cx - sin t (i - cy) + cos t (j - cx)); positions outside
    the input take `fill`. A 90 degree turn of a square image equals `np.rot90(x, axes=(-2, -1))`.
    The rotation-only case of `affine`, whose angles run clockwise (as torchvision's pair).

    Args:
        x: images (N, C, H, W) or masks (N, H, W) (masks: nearest only).
        angles: (N,) angles in degrees (or a scalar for all).
        interpolation: 'nearest' or 'bilinear' (default 'nearest').
        fill: value of pixels that come from outside the input: a number or one per channel
            (default 0).
    """
    _check_interpolation(interpolation, "rotate")
    return affine(x, -np.asarray(angles, dtype=np.float64), interpolation=interpolation, fill=fill)


def _source_coords(n_in: int, n_out: int, xp):
    """Bilinear taps along one axis, as PyTorch's interpolate(align_corners=False) places them."""
    src = xp.maximum((xp.arange(n_out, dtype=xp.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = xp.minimum(xp.floor(src).astype(xp.int64), n_in - 1)
    i1 = xp.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0


def _weight_dtype(x):
    """The dtype of interpolation weights: the image's own float dtype (so float32 images stay
    float32), float64 for integer images (a uint8 fraction would be 0)."""
    return x.dtype if x.dtype.kind == "f" else np.float64


def _cast_back(out, x):
    """An interpolated result in x's dtype: integer images are rounded to the nearest value and
    clipped to the dtype's range, as torchvision rounds (a plain cast would truncate)."""
    if x.dtype.kind == "f" or out.dtype == x.dtype:  # (nearest: already x's values)
        return out.astype(x.dtype, copy=False)
    info = np.iinfo(x.dtype)
    return xp_of(out).clip(xp_of(out).rint(out), info.min, info.max).astype(x.dtype)


def _resize_size(size, max_size, owner: str):
    """torchvision's size of Resize: an int (or a 1-sequence) for the smaller edge, else (H, W)."""
    if not isinstance(size, (int, np.integer)) and len(size) == 1:
        size = size[0]
    if isinstance(size, (int, np.integer)):
        if size < 1:
            raise ValueError(f"{owner}: size must be >= 1, got {size}")
        if max_size is not None and max_size <= size:
            raise ValueError(
                f"{owner}: max_size = {max_size} must be strictly greater than the requested "
                f"size for the smaller edge, size = {size}"
            )
        return int(size)
    if max_size is not None:
        raise ValueError(
            f"{owner}: max_size should only be passed if size specifies the length of the "
            f"smaller edge (an int), got size {tuple(size)}"
        )
    return _pair(size, f"{owner}: size")


def _resized_shape(h: int, w: int, size, max_size=None) -> tuple[int, int]:
    """(H', W') of resizing an (h, w) image to `size`, torchvision's rule: (H', W') as given,
    or for an int the smaller edge becomes `size` and the other keeps the aspect ratio
    (truncated: int(size * long / short)), the longer edge then capped at `max_size`."""
    if not isinstance(size, (int, np.integer)):
        return tuple(int(v) for v in size)
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = int(size), int(size * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), int(max_size)
    return (new_long, new_short) if w <= h else (new_short, new_long)


def _antialiased(x, oh: int, ow: int):
    """Bilinear images (N, C, H, W) resized as `F.interpolate(antialias=True)`: uint8 in its
    fixed point (torch's uint8 kernel, as torchvision), other integers through float64, rounded
    and clipped (_cast_back)."""
    from minitorch_cv.functional.pool import interpolate
    from minitorch_cv.tensor import Tensor, no_grad

    a = x if x.dtype.kind == "f" or x.dtype == np.uint8 else x.astype(np.float64)
    with no_grad():
        y = interpolate(Tensor(a), size=(oh, ow), mode="bilinear", antialias=True)
    return _cast_back(y._data, x)


def resize(x, size, interpolation: str = "bilinear", max_size=None, antialias: bool = True):
    """Resize like `F.interpolate(align_corners=False)`, to torchvision's size.

    Args:
        x: images (N, C, H, W) or masks (N, H, W); masks always use nearest.
        size: (H', W'), or an int: the smaller edge becomes `size`, the aspect ratio is kept
            (torchvision's `resize`; the whole batch shares one H, W).
        interpolation: 'bilinear' (default) or 'nearest' (source index floor(i * H / H')).
        max_size: with an int size, the most the longer edge may be (default None).
        antialias: True (torchvision's default): bilinear downsampling low-pass filters as
            `F.interpolate(antialias=True)` (Pillow's triangle stretched by H / H'; uint8 in
            its fixed point, as torchvision). It changes nothing when no axis shrinks, nor for
            nearest or masks. False: the two nearest pixels only (aliasing when shrinking).
    """
    _check_interpolation(interpolation, "resize")
    xp = xp_of(x)
    h, w = x.shape[-2:]
    oh, ow = _resized_shape(h, w, _resize_size(size, max_size, "resize"), max_size)
    if antialias and interpolation == "bilinear" and x.ndim == 4 and (oh < h or ow < w):
        return _antialiased(x, oh, ow)
    if interpolation == "nearest" or x.ndim == 3:
        rows = xp.minimum(xp.floor(xp.arange(oh) * (h / oh)).astype(xp.int64), h - 1)
        cols = xp.minimum(xp.floor(xp.arange(ow) * (w / ow)).astype(xp.int64), w - 1)
        return xp.take(xp.take(x, rows, axis=-2), cols, axis=-1)  # one take per axis
    r0, r1, lr = _source_coords(h, oh, xp)
    c0, c1, lc = _source_coords(w, ow, xp)
    lr = lr.astype(_weight_dtype(x))[:, None]
    lc = lc.astype(_weight_dtype(x))
    # rows first, then columns: separable
    y = xp.take(x, r0, axis=-2) * (1 - lr) + xp.take(x, r1, axis=-2) * lr
    return _cast_back(xp.take(y, c0, axis=-1) * (1 - lc) + xp.take(y, c1, axis=-1) * lc, x)


def vflip(x):
    """Mirror top-bottom: (..., H, W) -> (..., H, W), second-last axis reversed."""
    return x[..., ::-1, :]


def _aa_crop_weights(start, extent, n_in: int, n_out: int, dtype):
    """(N, n_out, n_in) float64 weights resampling each item's window [start, start + extent)
    (start, extent: (N, 1)) of an axis of n_in pixels to n_out, as `F.interpolate(antialias=True)`
    of the cropped item (_aa_taps, one scale per item here): s = extent / n_out, output i centred
    at c = s (i + 0.5) in window coordinates, support r = max(s, 1); window pixel j with
    int(c - r + 0.5) <= j < int(c + r + 0.5) and j < extent weighs max(1 - |j + 0.5 - c| /
    max(s, 1), 0), each row divided by its sum; zero elsewhere. For float32 images s, r, 1 / s
    and c are rounded to float32 first, as torch's float32 kernel holds them."""
    xp = xp_of(start)
    rnd = (lambda v: v.astype(np.float32).astype(np.float64)) if dtype == np.float32 else (
        lambda v: v
    )  # fmt: skip
    s = rnd(extent.astype(np.float64) / n_out)  # (N, 1)
    down = s >= 1.0
    support = xp.where(down, s, 1.0)  # the triangle's half-width 1, stretched by s
    inv = xp.where(down, rnd(1.0 / s), 1.0)[:, :, None]
    center = rnd(s * (xp.arange(n_out) + 0.5))  # (N, n_out)
    lo = xp.maximum((center - support + 0.5).astype(np.int64), 0)[:, :, None]
    hi = xp.minimum((center + support + 0.5).astype(np.int64), extent)[:, :, None]
    j = (xp.arange(n_in) - start)[:, None, :]  # (N, 1, n_in): window coordinates
    wt = xp.maximum(1.0 - xp.abs((j - center[:, :, None] + 0.5) * inv), 0.0)
    wt = xp.where((j >= lo) & (j < hi), wt, 0.0)
    total = wt.sum(axis=2, keepdims=True)
    return wt / xp.where(total != 0, total, 1.0)


def _aa_uint8_pass(y, wt, axis: int):
    """One axis of torch's uint8 antialiased resize, per item: the weights (N, out, in) in
    Pillow's fixed point (pool._fixed_point, the precision p chosen per item from its largest
    weight), the integer sums (exact in float64) shifted back by p with rounding, clipped to
    uint8. y (N, C, H, W); axis 2 or 3."""
    xp = xp_of(y)
    top = wt.max(axis=(1, 2), keepdims=True)  # (N, 1, 1)
    p = sum((xp.floor(0.5 + top * 2.0 ** (q + 1)) < 1 << 15).astype(np.int64) for q in range(22))
    v = xp.ldexp(wt, p)
    wq = xp.trunc(v + xp.where(v < 0, -0.5, 0.5))[:, None]  # (N, 1, out, in): integers
    yf = y.astype(np.float64)
    acc = xp.matmul(yf, wq.transpose(0, 1, 3, 2)) if axis == 3 else xp.matmul(wq, yf)
    p = p[:, None]  # (N, 1, 1, 1)
    acc = xp.right_shift(acc.astype(np.int64) + xp.left_shift(1, p - 1), p)
    return xp.clip(acc, 0, 255).astype(np.uint8)


def resized_crop(x, top, left, height, width, size, interpolation: str = "bilinear",
                 antialias: bool = True):  # fmt: skip
    """Cut a per-item window (top[i], left[i], height[i], width[i]) and resize it to `size`, as
    cropping then `F.interpolate(align_corners=False, antialias=antialias)` would, for the whole
    batch at once (torchvision's resized_crop on tensors).

    Args:
        x: images (N, C, H, W) or masks (N, H, W) (masks: nearest).
        top, left, height, width: (N,) int arrays; windows inside the array.
        size: int or (H', W').
        interpolation: 'bilinear' (default) or 'nearest' (source index floor(i * h / H')).
        antialias: True (torchvision's default): when some window shrinks along an axis
            (height[i] > H' or width[i] > W'), bilinear is `F.interpolate(antialias=True)` of
            each window: per axis an (N, out, in) matrix of each item's triangle filter,
            stretched by its own scale height[i] / H' (_aa_crop_weights), two batched matmuls,
            the width first; uint8 in torch's fixed point, rounded after each axis (as
            `resize`), other integers in float64, rounded. An item that does not shrink gets
            the unstretched filter, plain bilinear up to rounding (uint8: up to 1); when no
            item shrinks the output is exactly the non-antialiased one. No effect on nearest
            or masks.
            False: the two nearest pixels only, in one gather (aliasing when shrinking).
    """
    _check_interpolation(interpolation, "resized_crop")
    xp = xp_of(x)
    n = len(x)
    is_mask = x.ndim == 3
    h, w = x.shape[-2:]
    oh, ow = _pair(size, "resized_crop: size")
    box = [xp.asarray(v, dtype=xp.int64).reshape(n, 1) for v in (top, left, height, width)]
    top, left, height, width = box
    smooth = interpolation == "bilinear" and not is_mask
    if antialias and smooth and bool((height > oh).any() or (width > ow).any()):
        wdtype = x.dtype if x.dtype.kind == "f" else np.float64
        rows = _aa_crop_weights(top, height, h, oh, wdtype)  # (N, H', H)
        cols = _aa_crop_weights(left, width, w, ow, wdtype)  # (N, W', W)
        if x.dtype == np.uint8:
            return _aa_uint8_pass(_aa_uint8_pass(x, cols, 3), rows, 2)
        a = x.astype(wdtype, copy=False)
        y = xp.matmul(a, cols.astype(wdtype).transpose(0, 2, 1)[:, None])  # (N, C, H, W')
        return _cast_back(xp.matmul(rows.astype(wdtype)[:, None], y), x)
    source = _channel_major(x[:, None] if is_mask else x)
    first = xp.arange(n, dtype=xp.int64)[:, None] * (h * w)  # (N, 1): each image's offset

    def taps(start, extent, n_out):  # per-item source positions along one axis: (N, n_out)
        scale = extent.astype(xp.float64) / n_out
        if interpolation == "nearest" or is_mask:
            i = xp.minimum(xp.floor(xp.arange(n_out) * scale).astype(xp.int64), extent - 1)
            return start + i, None, None
        src = xp.maximum((xp.arange(n_out) + 0.5) * scale - 0.5, 0.0)
        i0 = xp.minimum(xp.floor(src).astype(xp.int64), extent - 1)
        i1 = xp.minimum(i0 + 1, extent - 1)
        return start + i0, start + i1, (src - i0).astype(_weight_dtype(x))

    def gather(r, c):  # rows (N, H'), columns (N, W') -> values (C, N, H', W')
        return source.take((first + r * w)[:, :, None] + c[:, None, :], axis=1)

    r0, r1, fr = taps(top, height, oh)
    c0, c1, fc = taps(left, width, ow)
    if r1 is None:
        out = gather(r0, c0)
    else:
        fr, fc = fr[:, :, None], fc[:, None, :]
        out = ((1 - fr) * ((1 - fc) * gather(r0, c0) + fc * gather(r0, c1))
               + fr * ((1 - fc) * gather(r1, c0) + fc * gather(r1, c1)))  # fmt: skip
        out = _cast_back(out, x)
    return out[0] if is_mask else xp.ascontiguousarray(out.transpose(1, 0, 2, 3))


def _grayscale(x):
    """ITU-R 601-2 luma of RGB images (N, 3, H, W) -> (N, 1, H, W), torchvision's weights."""
    return 0.2989 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def _rgb_to_hsv(x):
    xp = xp_of(x)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    maxc, minc = x.max(axis=1), x.min(axis=1)
    delta = maxc - minc
    s = xp.where(maxc > 0, delta / xp.where(maxc > 0, maxc, 1), 0)
    d = xp.where(delta > 0, delta, 1)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    h = xp.where(maxc == r, bc - gc, xp.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = xp.where(delta > 0, (h / 6.0) % 1.0, 0)
    return h, s, maxc


def _hsv_to_rgb(h, s, v):
    xp = xp_of(h)
    i = xp.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(xp.int64) % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # the six sectors of the hue circle, each a permutation of (v, t, p, q)
    r = xp.choose(i, [v, q, p, p, t, v])
    g = xp.choose(i, [t, v, v, q, p, p])
    b = xp.choose(i, [p, p, t, v, v, q])
    return xp.stack([r, g, b], axis=1)


# --------------------------------------------------------------------------- transform objects


class Transform(ABC):
    """Base class: subclasses implement `apply(x, mask, rng) -> (x, mask)` on batches."""

    def __init__(self, rng=None):
        self.rng = None if rng is None else _generator(rng)

    def __call__(self, x, mask=None, *, rng=None):
        name = type(self).__name__
        if _pil.is_pil_image(x):  # torchvision's PIL image in, PIL image out
            if mask is not None:
                raise TypeError(
                    f"{name}: a PIL image is transformed alone; give images (N, C, H, W) and "
                    "masks (N, H, W) as arrays to move them together"
                )
            return self._call_pil(x, _generator(rng if rng is not None else self.rng))
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

    def _call_pil(self, img, rng: np.random.Generator):
        """A PIL image through `apply` as a batch of one, and back into a PIL image."""
        name = type(self).__name__
        x = _pil.image_to_array(img, name)
        y, _ = self.apply(x[None], None, rng)
        if isinstance(y, tuple):  # FiveCrop, TenCrop: a tuple of images
            return tuple(_pil.array_to_image(c[0], x.dtype, img.mode, name) for c in y)
        return _pil.array_to_image(y[0], x.dtype, img.mode, name)

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

    def _call_pil(self, img, rng):
        # torchvision's Compose: each transform called in turn, so that ToTensor() can turn the
        # PIL image into an array half way and the transforms after it work on that array
        for t in self.transforms:
            img = t(img, rng=rng) if isinstance(t, Transform) else t(img)
        return img

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


class _RandomFlip(Transform):
    """Mirror each item with probability p, image and mask together, by `_flip`."""

    _flip = staticmethod(hflip)

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__(rng)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, x, mask, rng):
        xp = xp_of(x)
        flip = xp.asarray(rng.random(len(x)) < self.p)
        x = xp.where(flip[:, None, None, None], self._flip(x), x)
        if mask is not None:
            mask = xp.where(flip[:, None, None], self._flip(mask), mask)
        return x, mask


class RandomHorizontalFlip(_RandomFlip):
    """Mirror each item left-right with probability p (image and mask together).

    Args:
        p: flip probability (default 0.5).
        rng: Generator or seed (default: the call's, else the package generator).
    """

    _flip = staticmethod(hflip)


class RandomCrop(Transform):
    """Pad, then cut a random `size` window per item (torchvision's arguments).

    Args:
        size: output (H', W') or an int for both.
        padding: int (all sides), (left/right, top/bottom) or (left, top, right, bottom);
            default 0.
        pad_if_needed: pad images smaller than `size` first (as torchvision: by the shortfall on
            both sides of that axis). Default False.
        fill: image value of 'constant' padding: a number or one per channel (default 0).
        padding_mode: 'constant' (default), 'edge', 'reflect' or 'symmetric'.
        mask_fill: mask value of 'constant' padding (default 255, ignored by losses and metrics).
        rng: Generator or seed.

    Shape:
        (N, C, H, W) -> (N, C, H', W'); without pad_if_needed the padded images must be at least
        H' x W'.
    """

    def __init__(
        self,
        size,
        padding=0,
        pad_if_needed: bool = False,
        fill=0.0,
        padding_mode: str = "constant",
        mask_fill: int = IGNORE_INDEX,
        rng=None,
    ):
        super().__init__(rng)
        self.size = _pair(size, "RandomCrop: size")
        self.padding = _padding4(padding, "RandomCrop")
        _check_mode(padding_mode, "RandomCrop")
        self.pad_if_needed, self.padding_mode = bool(pad_if_needed), padding_mode
        self.fill, self.mask_fill = fill, mask_fill

    def _pad_by(self, x, mask, padding):
        return _pad(x, mask, padding, self.fill, self.mask_fill, self.padding_mode, "RandomCrop")

    def apply(self, x, mask, rng):
        h, w = self.size
        if any(self.padding):
            x, mask = self._pad_by(x, mask, self.padding)
        if self.pad_if_needed and (x.shape[2] < h or x.shape[3] < w):
            dh, dw = max(h - x.shape[2], 0), max(w - x.shape[3], 0)
            x, mask = self._pad_by(x, mask, (dw, dh, dw, dh))
        hp, wp = x.shape[2:]
        if hp < h or wp < w:
            raise ValueError(
                f"RandomCrop(size={self.size}, padding={self.padding}): images "
                f"{tuple(x.shape)} (after padding) are smaller than the crop; "
                f"pad_if_needed=True pads them"
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
        fill: image value where the rotated image does not reach: a number or one per channel
            (default 0).
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
        self.degrees = _symmetric_range(degrees, "degrees", "RandomRotation")
        _check_interpolation(interpolation, "RandomRotation")
        self.interpolation = interpolation
        self.fill, self.mask_fill = fill, mask_fill

    def apply(self, x, mask, rng):
        angles = rng.uniform(self.degrees[0], self.degrees[1], len(x))
        x = rotate(x, angles, self.interpolation, self.fill)
        if mask is not None:
            mask = rotate(mask, angles, "nearest", self.mask_fill)
        return x, mask


def _symmetric_range(value, name: str, owner: str, lengths=(2,)):
    """d -> (-d, d) (d >= 0), or a (min, max) sequence of one of `lengths` items."""
    if np.isscalar(value):
        if value < 0:
            raise ValueError(f"{owner}: {name} must be >= 0, got {value}")
        return (-float(value), float(value))
    v = tuple(float(a) for a in value)
    if len(v) not in lengths or any(lo > hi for lo, hi in zip(v[::2], v[1::2])):
        raise ValueError(f"{owner}: {name} must be d or increasing (min, max) pairs, got {value!r}")
    return v


class RandomAffine(Transform):
    """A random affine change per item (torchvision's RandomAffine and its sampling): an angle
    from `degrees`, a shift of up to translate * (W, H) pixels (rounded), a scale from `scale`,
    shears from `shear`; images and masks together (masks by nearest neighbour).

    Args:
        degrees: d for [-d, d], or (min, max); 0 for no rotation.
        translate: (a, b): horizontal shift in [-a W, a W], vertical in [-b H, b H]; None: none.
        scale: (min, max) scale factor; None: 1.
        shear: s for an x-shear in [-s, s]; (min, max) for x; (xmin, xmax, ymin, ymax) for
            both; None: none. In degrees.
        interpolation: 'nearest' (default) or 'bilinear' for images.
        fill: image value where the input does not reach: a number or one per channel.
        mask_fill: mask value there (default 255).
        rng: Generator or seed.
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None,
                 interpolation: str = "nearest", fill=0.0, mask_fill: int = IGNORE_INDEX,
                 rng=None):  # fmt: skip
        super().__init__(rng)
        self.degrees = _symmetric_range(degrees, "degrees", "RandomAffine")
        if translate is not None:
            translate = tuple(float(t) for t in translate)
            if len(translate) != 2 or not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError(
                    f"RandomAffine: translate must be a pair of fractions in [0, 1], got "
                    f"{translate!r}"
                )
        if scale is not None:
            scale = tuple(float(v) for v in scale)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
                raise ValueError(
                    f"RandomAffine: scale must be an increasing pair of positive factors, got "
                    f"{scale!r}"
                )
        if shear is not None:
            shear = _symmetric_range(shear, "shear", "RandomAffine", lengths=(2, 4))
        _check_interpolation(interpolation, "RandomAffine")
        self.translate, self.scale, self.shear = translate, scale, shear
        self.interpolation, self.fill, self.mask_fill = interpolation, fill, mask_fill

    def get_params(self, n: int, size, rng):
        """(angle (N,), translate (N, 2) integer pixels, scale (N,), shear (N, 2)) for images
        of `size` = (H, W)."""
        h, w = size
        angle = rng.uniform(self.degrees[0], self.degrees[1], n)
        translate = np.zeros((n, 2))
        if self.translate is not None:
            dx, dy = self.translate[0] * w, self.translate[1] * h
            translate = np.rint(np.stack([rng.uniform(-dx, dx, n), rng.uniform(-dy, dy, n)], 1))
        scale = np.ones(n) if self.scale is None else rng.uniform(self.scale[0], self.scale[1], n)
        shear = np.zeros((n, 2))
        if self.shear is not None:
            shear[:, 0] = rng.uniform(self.shear[0], self.shear[1], n)
            if len(self.shear) == 4:
                shear[:, 1] = rng.uniform(self.shear[2], self.shear[3], n)
        return angle, translate, scale, shear

    def apply(self, x, mask, rng):
        angle, translate, scale, shear = self.get_params(len(x), x.shape[2:], rng)
        x = affine(x, angle, translate, scale, shear, self.interpolation, self.fill)
        if mask is not None:
            mask = affine(mask, angle, translate, scale, shear, "nearest", self.mask_fill)
        return x, mask


class Resize(Transform):
    """Resize every item (bilinear or nearest for images, nearest for masks), torchvision's
    sizes: `Resize((H', W'))` exactly, `Resize(256)` the smaller edge to 256 keeping the aspect
    ratio. Arrays are resampled as `F.interpolate(align_corners=False, antialias=antialias)`
    (see `resize`); a PIL image with Pillow's filter, which always antialiases, whatever
    `antialias` says (as torchvision's Resize on PIL images).

    Args:
        size: (H', W'), or an int for the smaller edge.
        interpolation: 'bilinear' (default) or 'nearest'.
        max_size: with an int size, the most the longer edge may be (default None).
        antialias: low-pass filter bilinear downsampling of arrays (default True, as
            torchvision); no change when upsampling, nor for nearest or masks.
    """

    def __init__(self, size, interpolation: str = "bilinear", max_size=None,
                 antialias: bool = True):  # fmt: skip
        super().__init__()
        self.size = _resize_size(size, max_size, "Resize")
        _check_interpolation(interpolation, "Resize")
        self.interpolation, self.max_size = interpolation, max_size
        self.antialias = bool(antialias)

    def apply(self, x, mask, rng):
        size = _resized_shape(*x.shape[2:], self.size, self.max_size)
        x = resize(x, size, self.interpolation, antialias=self.antialias)
        if mask is not None:
            mask = resize(mask, size, "nearest")
        return x, mask

    def _call_pil(self, img, rng):
        h, w = _resized_shape(img.height, img.width, self.size, self.max_size)
        return img.resize((w, h), _pil_filter(self.interpolation))


def _pil_filter(interpolation: str):
    from PIL import Image

    return Image.Resampling.BILINEAR if interpolation == "bilinear" else Image.Resampling.NEAREST


class RandomVerticalFlip(_RandomFlip):
    """Mirror each item top-bottom with probability p (image and mask together).

    Args:
        p: flip probability (default 0.5).
        rng: Generator or seed.
    """

    _flip = staticmethod(vflip)


def _padding4(padding, name: str) -> tuple[int, int, int, int]:
    """torchvision's padding: int (all sides), (left/right, top/bottom) or
    (left, top, right, bottom) -> (left, top, right, bottom)."""
    if padding is None:  # torchvision's RandomCrop default
        padding = 0
    p = (padding,) if isinstance(padding, (int, np.integer)) else tuple(padding)
    if len(p) not in (1, 2, 4) or any(int(v) != v or v < 0 for v in p):
        raise ValueError(
            f"{name}: padding must be an int >= 0 or a tuple of 2 or 4 of them, got {padding!r}"
        )
    p = tuple(int(v) for v in p)
    return p * 4 if len(p) == 1 else (p[0], p[1], p[0], p[1]) if len(p) == 2 else p


PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def _check_mode(mode, name: str) -> None:
    if mode not in PADDING_MODES:
        raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got {mode!r}")


def _channel_fill(fill, x, name: str):
    """`fill` as an array that broadcasts over (N, C, H, W) images: a number, or one value per
    channel (torchvision's tuple fill, e.g. an RGB colour)."""
    xp = xp_of(x)
    if fill is None:  # torchvision's "no fill given": zeros
        fill = 0.0
    values = np.atleast_1d(np.asarray(fill, dtype=np.float64))
    if values.ndim != 1 or len(values) not in (1, x.shape[1]):
        raise ValueError(
            f"{name}: fill must be a number or one per channel ({x.shape[1]}), got {fill!r} "
            f"for images of shape {tuple(x.shape)}"
        )
    return xp.asarray(values, dtype=x.dtype).reshape(1, -1, 1, 1)


def _pad(x, mask, padding, fill, mask_fill, mode: str, name: str):
    """Pad images (and masks alike) by (left, top, right, bottom) in one of `PADDING_MODES`."""
    xp = xp_of(x)
    left, top, right, bottom = padding
    n, c, h, w = x.shape
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise ValueError(
            f"{name}: reflect padding {padding} needs images larger than it, got shape "
            f"{tuple(x.shape)}"
        )
    spec = ((top, bottom), (left, right))
    if mode == "constant":  # one buffer, filled per channel, the images copied into its middle
        out = xp.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
        out[...] = _channel_fill(fill, x, name)
        out[:, :, top : top + h, left : left + w] = x
        x = out
    else:
        x = xp.pad(x, ((0, 0), (0, 0), *spec), mode=mode)
    if mask is not None:
        extra = {"constant_values": mask_fill} if mode == "constant" else {}
        mask = xp.pad(mask, ((0, 0), *spec), mode=mode, **extra)
    return x, mask


class Pad(Transform):
    """Pad every item (torchvision's argument order and modes).

    Args:
        padding: int (all sides), (left/right, top/bottom) or (left, top, right, bottom).
        fill: image value for 'constant': a number or one per channel (default 0).
        padding_mode: 'constant' (default), 'edge', 'reflect' or 'symmetric'.
        mask_fill: mask value for 'constant' (default 255); other modes pad masks alike.
    """

    def __init__(self, padding, fill=0.0, padding_mode: str = "constant",
                 mask_fill: int = IGNORE_INDEX):  # fmt: skip
        super().__init__()
        self.padding = _padding4(padding, "Pad")
        _check_mode(padding_mode, "Pad")
        self.fill, self.padding_mode, self.mask_fill = fill, padding_mode, mask_fill

    def apply(self, x, mask, rng):
        return _pad(x, mask, self.padding, self.fill, self.mask_fill, self.padding_mode, "Pad")


class CenterCrop(Transform):
    """Cut the central `size` window of every item (padded with `fill` first where the image is
    smaller, as torchvision). An odd surplus puts the extra row / column at the bottom / right:
    top = round((H - h) / 2) as torchvision.

    Args:
        size: int or (H', W').
        fill, mask_fill: values of any padding (default 0 and 255).
    """

    def __init__(self, size, fill: float = 0.0, mask_fill: int = IGNORE_INDEX):
        super().__init__()
        self.size = _pair(size, "CenterCrop: size")
        self.fill, self.mask_fill = fill, mask_fill

    def apply(self, x, mask, rng):
        (h, w), (ih, iw) = self.size, x.shape[2:]
        if h > ih or w > iw:  # pad up to the crop, split as torchvision's center_crop does
            ph, pw = max(h - ih, 0), max(w - iw, 0)
            pad = Pad((pw // 2, ph // 2, (pw + 1) // 2, (ph + 1) // 2), self.fill,
                      mask_fill=self.mask_fill)  # fmt: skip
            x, mask = pad.apply(x, mask, rng)
            ih, iw = x.shape[2:]
        top, left = int(round((ih - h) / 2.0)), int(round((iw - w) / 2.0))
        x = x[:, :, top : top + h, left : left + w]
        if mask is not None:
            mask = mask[:, top : top + h, left : left + w]
        return x, mask


def _uniform_range(value, name: str, center: float = 1.0, bound=(0.0, float("inf"))):
    """ColorJitter's argument: v -> [center - v, center + v] clipped to bound, or (lo, hi)."""
    if np.isscalar(value):
        if value < 0:
            raise ValueError(f"ColorJitter: {name} must be >= 0, got {value}")
        lo, hi = center - float(value), center + float(value)
        lo = max(lo, bound[0])
    else:
        lo, hi = (float(v) for v in value)
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"ColorJitter: {name} range must lie in {bound}, got ({lo}, {hi})")
    return (lo, hi)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue, each item with its own factors and its
    own order of the four (as torchvision applies them image by image). Images are float in
    [0, 1] (apply it before Normalize); results are clipped to [0, 1]; masks pass through.

    brightness: x * f.  contrast: f x + (1 - f) mean(gray(x)).  saturation: f x + (1 - f) gray(x).
    hue: shift the HSV hue by h (a turn is 1). gray = 0.2989 R + 0.587 G + 0.114 B.

    Args:
        brightness, contrast, saturation: v >= 0 draws f from [max(0, 1 - v), 1 + v], or a
            (min, max) pair. Default 0 (off).
        hue: v in [0, 0.5] draws h from [-v, v], or a pair in [-0.5, 0.5]. Default 0 (off).
        rng: Generator or seed.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, rng=None):
        super().__init__(rng)
        self.brightness = _uniform_range(brightness, "brightness")
        self.contrast = _uniform_range(contrast, "contrast")
        self.saturation = _uniform_range(saturation, "saturation")
        self.hue = _uniform_range(hue, "hue", center=0.0, bound=(-0.5, 0.5))

    def _ops(self, x):
        """(identity factor, range, fn(x, factors (N,))) of the ops that are on; saturation
        and hue leave single-channel images alone, as torchvision."""
        rgb = x.shape[1] == 3
        ops = [
            (1.0, self.brightness, adjust_brightness),
            (1.0, self.contrast, adjust_contrast),
            (1.0, self.saturation if rgb else (1.0, 1.0), adjust_saturation),
            (0.0, self.hue if rgb else (0.0, 0.0), adjust_hue),
        ]
        return [op for op in ops if op[1] != (op[0], op[0])]

    @staticmethod
    def get_params(ops, n: int, rng):
        """Per item: one factor per op that is on (a list of (n,) arrays) and the order of the
        ops (an (n, len(ops)) permutation per row)."""
        factors = [rng.uniform(lo, hi, n) for _, (lo, hi), _ in ops]
        order = np.argsort(rng.random((n, len(ops))), axis=1)
        return factors, order

    def apply(self, x, mask, rng):
        xp = xp_of(x)
        ops = self._ops(x)
        if not ops:
            return x, mask
        n = len(x)
        factors, order = self.get_params(ops, n, rng)
        for step in range(len(ops)):
            for k, (identity, _, fn) in enumerate(ops):
                chosen = order[:, step] == k
                if not chosen.any():
                    continue
                y = fn(x, np.where(chosen, factors[k], identity))
                x = xp.where(xp.asarray(chosen)[:, None, None, None], y, x)
        return x, mask


class RandomErasing(Transform):
    """Erase a random rectangle of each item with probability p (Cutout / Random Erasing,
    torchvision's sampling: area fraction from `scale`, log-uniform aspect from `ratio`, ten
    tries, none erased when all ten fail). Apply it after Normalize; masks pass through.

    Args:
        p: probability of erasing an item (default 0.5).
        scale: (min, max) fraction of the image area (default (0.02, 0.33)).
        ratio: (min, max) aspect ratio h / w (default (0.3, 3.3)).
        value: fill: a number, one per channel, or 'random' (standard normal noise). Default 0.
        rng: Generator or seed.
    """

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0, rng=None):
        super().__init__(rng)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomErasing: p must be in [0, 1], got {p}")
        if scale[0] > scale[1] or ratio[0] > ratio[1] or scale[0] < 0 or ratio[0] <= 0:
            raise ValueError(
                f"RandomErasing: scale and ratio must be increasing (min, max) pairs with "
                f"scale >= 0 and ratio > 0, got scale={scale}, ratio={ratio}"
            )
        if isinstance(value, str) and value != "random":
            raise ValueError(
                f"RandomErasing: value must be a number, a tuple or 'random', got {value!r}"
            )
        self.p, self.scale, self.ratio, self.value = float(p), tuple(scale), tuple(ratio), value

    def apply(self, x, mask, rng):
        xp = xp_of(x)
        n, c, h, w = x.shape
        tries = 10
        area = h * w * rng.uniform(self.scale[0], self.scale[1], (n, tries))
        aspect = np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1]), (n, tries)))
        eh = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        ew = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (eh < h) & (ew < w)
        pick = np.argmax(fits, axis=1)  # the first try that fits
        rows = np.arange(n)
        eh, ew = eh[rows, pick], ew[rows, pick]
        erase = (rng.random(n) < self.p) & fits.any(axis=1)
        top = np.floor(rng.random(n) * (h - eh + 1)).astype(np.int64)
        left = np.floor(rng.random(n) * (w - ew + 1)).astype(np.int64)
        eh, ew = np.where(erase, eh, 0), np.where(erase, ew, 0)
        r, cc = np.arange(h), np.arange(w)
        inside = ((r >= top[:, None]) & (r < (top + eh)[:, None]))[:, :, None] & (
            (cc >= left[:, None]) & (cc < (left + ew)[:, None]))[:, None, :]  # fmt: skip
        inside = xp.asarray(inside)[:, None]
        if isinstance(self.value, str):
            fill = xp.asarray(rng.standard_normal(x.shape).astype(x.dtype))
        else:
            fill = _channel_fill(self.value, x, "RandomErasing")
        return xp.where(inside, fill, x).astype(x.dtype, copy=False), mask


class RandomResizedCrop(Transform):
    """A random window of each item (area fraction from `scale`, log-uniform aspect ratio w / h
    from `ratio`, torchvision's ten tries then a central fallback) resized to `size`: the
    ImageNet-style augmentation. Arrays are resampled as `resized_crop`: bilinear antialiased
    by default (torchvision's antialias=True: each window as `F.interpolate(antialias=True)`),
    nearest for masks; PIL images with Pillow's filter, which always antialiases.

    Args:
        size: int or (H', W').
        scale: (min, max) fraction of the area (default (0.08, 1.0)).
        ratio: (min, max) aspect ratio w / h (default (3/4, 4/3)).
        interpolation: 'bilinear' (default) or 'nearest'.
        antialias: low-pass filter bilinear shrinking of arrays (default True, as
            torchvision); it does not change the boxes drawn.
        rng: Generator or seed.
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear",
                 antialias: bool = True, rng=None):  # fmt: skip
        super().__init__(rng)
        self.size = _pair(size, "RandomResizedCrop: size")
        if scale[0] > scale[1] or ratio[0] > ratio[1] or scale[0] <= 0 or ratio[0] <= 0:
            raise ValueError(
                f"RandomResizedCrop: scale and ratio must be increasing positive (min, max) "
                f"pairs, got scale={scale}, ratio={ratio}"
            )
        _check_interpolation(interpolation, "RandomResizedCrop")
        self.scale, self.ratio, self.interpolation = tuple(scale), tuple(ratio), interpolation
        self.antialias = bool(antialias)

    def boxes(self, n: int, h: int, w: int, rng):
        """(top, left, height, width), each (n,): torchvision's get_params for n images."""
        tries = 10
        area = h * w * rng.uniform(self.scale[0], self.scale[1], (n, tries))
        aspect = np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1]), (n, tries)))
        bw = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        bh = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (bw > 0) & (bw <= w) & (bh > 0) & (bh <= h)
        pick = np.argmax(fits, axis=1)
        rows = np.arange(n)
        bh, bw = bh[rows, pick], bw[rows, pick]
        # fallback: the whole image, cut to the nearest allowed aspect ratio, centred
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            fw, fh = w, int(round(w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fh, fw = h, int(round(h * self.ratio[1]))
        else:
            fh, fw = h, w
        ok = fits.any(axis=1)
        bh, bw = np.where(ok, bh, fh), np.where(ok, bw, fw)
        top = np.where(ok, np.floor(rng.random(n) * (h - bh + 1)), (h - fh) // 2).astype(np.int64)
        left = np.where(ok, np.floor(rng.random(n) * (w - bw + 1)), (w - fw) // 2).astype(np.int64)
        return top, left, bh, bw

    def apply(self, x, mask, rng):
        box = self.boxes(len(x), x.shape[2], x.shape[3], rng)
        x = resized_crop(x, *box, self.size, self.interpolation, antialias=self.antialias)
        if mask is not None:
            mask = resized_crop(mask, *box, self.size, "nearest")
        return x, mask

    def _call_pil(self, img, rng):  # torchvision's resized_crop on PIL: crop, then resize
        top, left, h, w = (int(v[0]) for v in self.boxes(1, img.height, img.width, rng))
        window = img.crop((left, top, left + w, top + h))
        return window.resize(self.size[::-1], _pil_filter(self.interpolation))


# --------------------------------------------------------------------------- colour and blur


def _to_gray(x, channels: int, name: str):
    """Luma of RGB (or a 1-channel image as is), repeated to `channels` channels."""
    if x.shape[1] not in (1, 3):
        raise ValueError(f"{name}: expected 1- or 3-channel images, got shape {tuple(x.shape)}")
    gray = _grayscale(x).astype(x.dtype, copy=False) if x.shape[1] == 3 else x
    return xp_of(x).repeat(gray, channels, axis=1) if channels > 1 else gray


class Grayscale(Transform):
    """RGB to grey (torchvision's luma 0.2989 R + 0.587 G + 0.114 B); masks pass through.

    Args:
        num_output_channels (int): 1, or 3 (the grey value repeated: the shape a colour network
            expects). Default 1.
    """

    def __init__(self, num_output_channels: int = 1):
        super().__init__()
        if num_output_channels not in (1, 3):
            raise ValueError(
                f"Grayscale: num_output_channels must be 1 or 3, got {num_output_channels}"
            )
        self.num_output_channels = num_output_channels

    def apply(self, x, mask, rng):
        return _to_gray(x, self.num_output_channels, "Grayscale"), mask

    def _call_pil(self, img, rng):
        return _pil_gray(img, self.num_output_channels)


def _pil_gray(img, channels: int):
    """torchvision's to_grayscale of a PIL image: Pillow's own 'L' (its integer luma), that
    repeated as 'RGB' for 3 channels."""
    grey = img.convert("L")
    return grey if channels == 1 else grey.convert("RGB")


class RandomGrayscale(Transform):
    """Turn each item grey with probability p, keeping its channel count (torchvision's).

    Args: p (float): Default 0.1. rng: Generator or seed.
    """

    def __init__(self, p: float = 0.1, rng=None):
        super().__init__(rng)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomGrayscale: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, x, mask, rng):
        xp = xp_of(x)
        pick = xp.asarray(rng.random(len(x)) < self.p)[:, None, None, None]
        return xp.where(pick, _to_gray(x, x.shape[1], "RandomGrayscale"), x), mask

    def _call_pil(self, img, rng):
        channels = len(img.getbands())
        if channels not in (1, 3):  # as the arrays: an error naming the shape
            return super()._call_pil(img, rng)
        return _pil_gray(img, channels) if rng.random() < self.p else img


def gaussian_kernel1d(size: int, sigma):
    """Normalised Gaussian taps at -size//2 .. size//2 (torchvision's), one row per sigma:
    sigma (N,) -> (N, size)."""
    half = (size - 1) * 0.5
    t = np.linspace(-half, half, size)
    pdf = np.exp(-0.5 * (t[None, :] / np.asarray(sigma, dtype=np.float64).reshape(-1, 1)) ** 2)
    return pdf / pdf.sum(axis=1, keepdims=True)


def _blur_kernel_size(kernel_size, owner: str) -> tuple[int, int]:
    """(kx, ky): torchvision's order, the width's size first; both odd and positive."""
    kx, ky = _pair(kernel_size, f"{owner}: kernel_size")
    if kx <= 0 or ky <= 0 or kx % 2 == 0 or ky % 2 == 0:
        raise ValueError(f"{owner}: kernel_size must be odd and positive, got {kernel_size!r}")
    return kx, ky


def gaussian_blur(x, kernel_size, sigma=None):
    """Blur each item with its own Gaussian (torchvision's `gaussian_blur`: a separable kernel
    from `gaussian_kernel1d`, reflect padding, the size kept; integer images rounded back).

    Args:
        x: images (N, C, H, W).
        kernel_size: (kx, ky) odd sizes along the width and the height, as torchvision orders
            them (or one int for both); each at most about twice the image side.
        sigma: a float, a (sigma_x, sigma_y) pair, or (N, 2): one pair per item. Default: from
            the kernel size, 0.3 * ((k - 1) / 2 - 1) + 0.8, as torchvision.
    """
    xp = xp_of(x)
    kx, ky = _blur_kernel_size(kernel_size, "gaussian_blur")
    n, _, h, w = x.shape
    if sigma is None:
        sigma = [0.3 * ((k - 1) * 0.5 - 1) + 0.8 for k in (kx, ky)]
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (n, 2))  # (sigma_x, sigma_y)
    if not (sig > 0).all():
        raise ValueError(f"gaussian_blur: sigma must be > 0, got {sigma!r}")
    if ky // 2 >= h or kx // 2 >= w:  # reflect padding needs more than half a kernel of image
        raise ValueError(
            f"gaussian_blur: kernel (kx, ky) = {(kx, ky)} is too large for images of shape "
            f"{tuple(x.shape)}"
        )
    work = x if x.dtype.kind == "f" else x.astype(np.float32)
    padded = xp.pad(work, ((0, 0), (0, 0), (ky // 2, ky // 2), (kx // 2, kx // 2)), mode="reflect")
    taps_y = xp.asarray(gaussian_kernel1d(ky, sig[:, 1]).astype(work.dtype))  # (N, ky)
    taps_x = xp.asarray(gaussian_kernel1d(kx, sig[:, 0]).astype(work.dtype))  # (N, kx)
    # rows, then columns: one shifted multiply-add per tap, vectorised over the batch
    rows = sum(taps_y[:, i, None, None, None] * padded[:, :, i : i + h, :] for i in range(ky))
    out = sum(taps_x[:, j, None, None, None] * rows[:, :, :, j : j + w] for j in range(kx))
    if x.dtype.kind in "iu":  # back to integers by rounding, as torchvision
        out = xp.rint(out)
    return out.astype(x.dtype, copy=False)


class GaussianBlur(Transform):
    """Blur each item with a Gaussian of random width (torchvision's GaussianBlur: one sigma
    per item from U(sigma_min, sigma_max), used along both axes); masks pass through.

    Args:
        kernel_size: odd int, or (kx, ky) odd sizes along the width and the height
            (torchvision's order).
        sigma: a fixed float > 0 or a (min, max) range. Default (0.1, 2.0).
        rng: Generator or seed.
    """

    def __init__(self, kernel_size, sigma=(0.1, 2.0), rng=None):
        super().__init__(rng)
        self.kernel_size = _blur_kernel_size(kernel_size, "GaussianBlur")
        lo, hi = (sigma, sigma) if np.isscalar(sigma) else (float(s) for s in sigma)
        if not 0 < lo <= hi:
            raise ValueError(f"GaussianBlur: sigma must be > 0 and min <= max, got {sigma!r}")
        self.sigma = (float(lo), float(hi))

    def apply(self, x, mask, rng):
        s = rng.uniform(self.sigma[0], self.sigma[1], len(x))
        return gaussian_blur(x, self.kernel_size, np.stack([s, s], axis=1)), mask


# --------------------------------------------------------------------------- combinators


def _select(name, chosen, outputs, x, mask):
    """Per item, the output of the transform `chosen[i]` (-1: the input itself)."""
    xp = xp_of(x)
    for y, m in outputs:
        if tuple(y.shape) != tuple(x.shape) or (m is not None and m.shape != mask.shape):
            raise ValueError(
                f"{name}: its transforms must keep the shape to be applied to some items only, "
                f"got {tuple(y.shape)} from {tuple(x.shape)}"
            )
    out_x, out_m = x, mask
    for k, (y, m) in enumerate(outputs):
        pick = xp.asarray(chosen == k)
        out_x = xp.where(pick[:, None, None, None], y, out_x)
        if mask is not None:
            out_m = xp.where(pick[:, None, None], m, out_m)
    return out_x, out_m


class RandomApply(Transform):
    """Apply a list of transforms (in order) to each item with probability p (torchvision's
    RandomApply, for example of a ColorJitter). On a batch the transforms must keep the image
    shape; on one PIL image they may change it.

    Args:
        transforms: Transform objects or callables. p (float): Default 0.5. rng: Generator or
            seed.
    """

    def __init__(self, transforms, p: float = 0.5, rng=None):
        super().__init__(rng)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomApply: p must be in [0, 1], got {p}")
        self.transforms, self.p = Compose(list(transforms)), float(p)

    def apply(self, x, mask, rng):
        chosen = np.where(rng.random(len(x)) < self.p, 0, -1)
        return _select("RandomApply", chosen, [self.transforms.apply(x, mask, rng)], x, mask)

    def _call_pil(self, img, rng):  # one image: its transforms may change the size
        return self.transforms(img, rng=rng) if rng.random() < self.p else img


class RandomChoice(Transform):
    """Apply one of the transforms to each item, picked at random (with probabilities `p`,
    uniform by default), as torchvision's RandomChoice. On a batch they must keep the image
    shape; on one PIL image they may change it.

    Args:
        transforms: Transform objects or callables. p: weights, one per transform (normalised).
        rng: Generator or seed.
    """

    def __init__(self, transforms, p=None, rng=None):
        super().__init__(rng)
        self.transforms = list(transforms)
        if not self.transforms:
            raise ValueError("RandomChoice: needs at least one transform")
        weights = np.ones(len(self.transforms)) if p is None else np.asarray(p, dtype=np.float64)
        if weights.shape != (len(self.transforms),) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(
                f"RandomChoice: p must give one non-negative weight per transform, got {p!r}"
            )
        self.p = tuple(weights / weights.sum())

    def apply(self, x, mask, rng):
        chosen = rng.choice(len(self.transforms), size=len(x), p=self.p)
        outputs = [Compose([t]).apply(x, mask, rng) for t in self.transforms]
        return _select("RandomChoice", chosen, outputs, x, mask)

    def _call_pil(self, img, rng):  # one image: the transforms may give different sizes
        t = self.transforms[int(rng.choice(len(self.transforms), p=self.p))]
        return t(img, rng=rng) if isinstance(t, Transform) else t(img)


class Lambda(Transform):
    """A user function of the images, `lambd(x) -> x` on (N, C, H, W) batches (torchvision's
    Lambda); masks pass through. A PIL image, or anything else that is not an array (FiveCrop's
    tuple of PIL images), goes to `lambd` as it is."""

    def __init__(self, lambd: Callable):
        super().__init__()
        if not callable(lambd):
            raise TypeError(f"Lambda: expected a callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, x, mask=None, *, rng=None):
        if mask is None and not hasattr(x, "ndim"):  # FiveCrop's tuple of PIL images, ...
            return self.lambd(x)  # as torchvision's Lambda: whatever it is given
        return super().__call__(x, mask, rng=rng)

    def apply(self, x, mask, rng):
        return self.lambd(x), mask

    def _call_pil(self, img, rng):  # torchvision's Lambda gets the PIL image itself
        return self.lambd(img)


# --------------------------------------------------------------------------- MixUp and CutMix


class _BatchMix:
    """Base of MixUp and CutMix: `mix(images, labels, rng=None) -> (images, soft labels)` on a
    classification batch, each item blended with its neighbour in the batch (the batch rolled
    by one, as torchvision). Labels are class indices (N,) or already soft (N, num_classes);
    the result is (N, num_classes) probabilities in the images' float dtype (float32 for
    integer images, which CutMix keeps and MixUp refuses), the target that `cross_entropy`
    takes. Give one to `DataLoader(mix=...)` to mix every training batch."""

    mixes_labels = True

    def __init__(self, alpha: float = 1.0, num_classes: int | None = None, rng=None):
        if not alpha > 0:
            raise ValueError(f"{type(self).__name__}: alpha must be > 0, got {alpha}")
        if num_classes is None or int(num_classes) < 1:
            raise ValueError(
                f"{type(self).__name__}: num_classes must be a positive int, got {num_classes!r}"
            )
        self.alpha, self.num_classes = float(alpha), int(num_classes)
        self.rng = None if rng is None else _generator(rng)

    def _soft(self, labels, dtype):
        xp = xp_of(labels)
        if labels.ndim == 2 and labels.shape[1] == self.num_classes:
            return labels.astype(dtype, copy=False)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ValueError(
                f"{type(self).__name__}: expected class labels (N,) or soft labels (N, "
                f"{self.num_classes}), got shape {tuple(labels.shape)} and dtype {labels.dtype}"
            )
        # checked on the host only: on the GPU it would read a value back every batch
        if xp is np and labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f"{type(self).__name__}: labels must lie in [0, {self.num_classes - 1}], got "
                f"{int(labels.min())}..{int(labels.max())}"
            )
        return (labels[:, None] == xp.arange(self.num_classes)).astype(dtype)

    def __call__(self, images, labels, *, rng=None):
        name = type(self).__name__
        if images.ndim != 4 or len(labels) != len(images):
            raise ValueError(
                f"{name}: expected images (N, C, H, W) and N labels, got {tuple(images.shape)} "
                f"and {tuple(labels.shape)}"
            )
        soft = self._soft(labels, images.dtype if images.dtype.kind == "f" else np.float32)
        g = _generator(rng if rng is not None else self.rng)
        lam = float(g.beta(self.alpha, self.alpha))
        return self._mix(images, soft, lam, g)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha}, num_classes={self.num_classes})"


class MixUp(_BatchMix):
    """MixUp (Zhang et al., 2018; torchvision's v2.MixUp): lam ~ Beta(alpha, alpha) per batch,
    images lam x + (1 - lam) x_rolled, labels lam y + (1 - lam) y_rolled.

    Args: alpha (float): Default 1.0. num_classes (int). rng: Generator or seed.
    """

    def _mix(self, x, y, lam, rng):
        if x.dtype.kind != "f":
            raise TypeError(
                f"MixUp: blending needs float images, got {x.dtype}; convert them first (as "
                "torchvision's ToDtype(float32, scale=True))"
            )
        xp = xp_of(x)
        images = (lam * x + (1 - lam) * xp.roll(x, 1, axis=0)).astype(x.dtype, copy=False)
        return images, lam * y + (1 - lam) * xp.roll(y, 1, 0)


class CutMix(_BatchMix):
    """CutMix (Yun et al., 2019; torchvision's v2.CutMix): a box of about (1 - lam) of the area,
    lam ~ Beta(alpha, alpha), centred at a uniform random pixel and clipped to the image, is
    pasted from the neighbouring item (the same box for the whole batch); the labels mix by the
    area actually pasted.

    Args: alpha (float): Default 1.0. num_classes (int). rng: Generator or seed.
    """

    def _mix(self, x, y, lam, rng):
        xp = xp_of(x)
        h, w = x.shape[2:]
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        r = 0.5 * np.sqrt(1.0 - lam)
        rh, rw = int(r * h), int(r * w)
        y1, y2, x1, x2 = max(cy - rh, 0), min(cy + rh, h), max(cx - rw, 0), min(cx + rw, w)
        out = x.copy()
        out[:, :, y1:y2, x1:x2] = xp.roll(x, 1, axis=0)[:, :, y1:y2, x1:x2]
        kept = 1.0 - (y2 - y1) * (x2 - x1) / (h * w)
        return out, kept * y + (1 - kept) * xp.roll(y, 1, 0)


# --------------------------------------------------------------------------- photometric ops
#
# torchvision's functional image ops on batches, each with one parameter per item (a scalar
# serves all). Images are float in [0, 1] or integers in [0, 255] (uint8); results are clipped
# to that range and keep the dtype (integers truncated, as torchvision's `.to(dtype)`).


def _bound(x) -> float:
    return 1.0 if x.dtype.kind == "f" else 255.0


def _per_item(v, x):
    """A scalar or one value per item, shaped (N, 1, 1, 1) to broadcast over the images."""
    return xp_of(x).asarray(np.broadcast_to(np.asarray(v, dtype=np.float64), (len(x),)))[
        :, None, None, None
    ]


def _to_dtype_of(out, x):
    return xp_of(out).clip(out, 0, _bound(x)).astype(x.dtype, copy=False)


def _blend(x, other, factor):
    """factor * x + (1 - factor) * other, clipped (torchvision's _blend)."""
    f = _per_item(factor, x)
    return _to_dtype_of(f * x + (1 - f) * other, x)


def adjust_brightness(x, factor):
    """x * factor (0 gives black, 1 the image), clipped."""
    return _blend(x, 0.0, factor)


def _gray_of(x):
    """The luma in float64, truncated to whole grey levels for integer images (torchvision's
    rgb_to_grayscale keeps the image's dtype); 1-channel images as they are."""
    if x.shape[1] != 3:
        return x.astype(np.float64)
    gray = _grayscale(x.astype(np.float64))
    return gray if x.dtype.kind == "f" else xp_of(x).floor(gray)


def adjust_contrast(x, factor):
    """Blend with the mean grey level of each image (0 gives flat grey, 1 the image)."""
    return _blend(x, _gray_of(x).mean(axis=(1, 2, 3), keepdims=True), factor)


def adjust_saturation(x, factor):
    """Blend with the grey version (0 gives grey, 1 the image); 1-channel images unchanged."""
    return x if x.shape[1] != 3 else _blend(x, _gray_of(x), factor)


def adjust_sharpness(x, factor):
    """Blend with a smoothed copy (torchvision's: 3x3 kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]]
    / 13 inside, the border pixels kept): 0 blurs, 1 is the image, 2 sharpens."""
    h, w = x.shape[2:]
    if h <= 2 or w <= 2:
        return x
    xf = x.astype(np.float64)
    inner = sum(xf[:, :, i : i + h - 2, j : j + w - 2] for i in range(3) for j in range(3))
    inner = (inner + 4 * xf[:, :, 1:-1, 1:-1]) / 13  # the centre weighs 5 = 1 + 4
    smooth = xf.copy()
    smooth[:, :, 1:-1, 1:-1] = inner if x.dtype.kind == "f" else xp_of(x).rint(inner)
    return _blend(x, smooth, factor)


def adjust_hue(x, factor):
    """Turn each image's hues by `factor` (in [-0.5, 0.5]; a full turn is 1) in HSV space;
    1-channel images unchanged."""
    if x.shape[1] != 3:
        return x
    xf = x if x.dtype.kind == "f" else x / 255.0
    h, s, v = _rgb_to_hsv(xf)
    out = _hsv_to_rgb((h + _per_item(factor, x)[:, 0]) % 1.0, s, v)
    return _to_dtype_of(out if x.dtype.kind == "f" else out * 255.0, x)


def posterize(x, bits):
    """Keep `bits` (1..8) bits per channel value: 2^bits grey levels."""
    levels = 2.0 ** _per_item(bits, x)
    if x.dtype.kind == "f":  # torchvision v2's float rule: floor(x * levels) / levels
        return (xp_of(x).clip(xp_of(x).floor(x * levels), 0, levels - 1) / levels).astype(x.dtype)
    step = 256.0 / levels  # drop the low bits: a multiple of 2^(8 - bits)
    return (xp_of(x).floor(x / step) * step).astype(x.dtype)


def solarize(x, threshold):
    """Invert the values at or above `threshold` (in the image's range: [0, 1] or [0, 255];
    compared as a real number, so 178.5 leaves 178 alone)."""
    if np.any(np.asarray(threshold, dtype=np.float64) > _bound(x)):
        raise ValueError(
            f"solarize: threshold {threshold!r} is above the image's largest value {_bound(x):g}"
        )
    inverted = (_bound(x) - x).astype(x.dtype, copy=False)
    return xp_of(x).where(x >= _per_item(threshold, x), inverted, x)


def invert(x):
    """bound - x: the negative image."""
    return (_bound(x) - x).astype(x.dtype, copy=False)


def autocontrast(x):
    """Stretch each channel of each image to the full range (flat channels unchanged)."""
    lo = x.min(axis=(2, 3), keepdims=True).astype(np.float64)
    hi = x.max(axis=(2, 3), keepdims=True).astype(np.float64)
    xp = xp_of(x)
    flat = hi == lo
    scale = xp.where(flat, 1.0, _bound(x) / xp.where(flat, 1.0, hi - lo))
    return _to_dtype_of((x - xp.where(flat, 0.0, lo)) * scale, x)


def equalize(x):
    """Histogram equalisation of each channel of each image (PIL's and torchvision's rule);
    float images go through 256 levels and back."""
    xp = xp_of(x)
    v = x if x.dtype == np.uint8 else (xp.clip(x, 0, 1) * 255.999).astype(np.uint8)
    n, c = v.shape[:2]
    rows = xp.arange(n * c).reshape(n, c, 1, 1) * 256
    hist = xp.bincount((rows + v).reshape(-1), minlength=n * c * 256).reshape(n * c, 256)
    last = 255 - xp.argmax(hist[:, ::-1] > 0, axis=1)  # the highest value present
    step = (hist.sum(axis=1) - hist[xp.arange(n * c), last]) // 255
    safe = xp.maximum(step, 1)[:, None]
    lut = (xp.cumsum(hist, axis=1) + safe // 2) // safe
    lut = xp.clip(xp.concatenate([xp.zeros((n * c, 1), lut.dtype), lut[:, :-1]], axis=1), 0, 255)
    lut = xp.where((step == 0)[:, None], xp.arange(256), lut)  # one value only: unchanged
    out = lut.reshape(-1).take(rows + v).astype(np.uint8)  # row n*c + the value, flat
    return out if x.dtype == np.uint8 else (out / 255.0).astype(x.dtype)


class _RandomOp(Transform):
    """Apply one photometric op to each item with probability p; masks pass through."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__(rng)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, x, mask, rng):
        pick = xp_of(x).asarray(rng.random(len(x)) < self.p)[:, None, None, None]
        return xp_of(x).where(pick, self._op(x), x), mask


class RandomInvert(_RandomOp):
    """Invert each item with probability p (default 0.5)."""

    def _op(self, x):
        return invert(x)


class RandomAutocontrast(_RandomOp):
    """Autocontrast each item with probability p (default 0.5)."""

    def _op(self, x):
        return autocontrast(x)


class RandomEqualize(_RandomOp):
    """Equalize the histogram of each item with probability p (default 0.5)."""

    def _op(self, x):
        return equalize(x)


class RandomPosterize(_RandomOp):
    """Posterize each item to `bits` bits with probability p (default 0.5)."""

    def __init__(self, bits: int, p: float = 0.5, rng=None):
        super().__init__(p, rng)
        if not 0 <= int(bits) <= 8:
            raise ValueError(f"RandomPosterize: bits must be in 0..8, got {bits}")
        self.bits = int(bits)

    def _op(self, x):
        return posterize(x, self.bits)


class RandomSolarize(_RandomOp):
    """Solarize each item above `threshold` (in the image's range) with probability p."""

    def __init__(self, threshold: float, p: float = 0.5, rng=None):
        super().__init__(p, rng)
        if threshold < 0:
            raise ValueError(f"RandomSolarize: threshold must be >= 0, got {threshold}")
        self.threshold = float(threshold)

    def _op(self, x):
        return solarize(x, self.threshold)


class RandomAdjustSharpness(_RandomOp):
    """Adjust each item's sharpness by `sharpness_factor` with probability p (default 0.5)."""

    def __init__(self, sharpness_factor: float, p: float = 0.5, rng=None):
        super().__init__(p, rng)
        if sharpness_factor < 0:
            raise ValueError(f"RandomAdjustSharpness: factor must be >= 0, got {sharpness_factor}")
        self.sharpness_factor = float(sharpness_factor)

    def _op(self, x):
        return adjust_sharpness(x, self.sharpness_factor)


# --------------------------------------------------------------------------- RandAugment


def _augment_ops(num_bins: int, size, wide: bool):
    """torchvision's augmentation spaces: name -> (magnitudes (num_bins,), signed). RandAugment's
    (`wide=False`) and TrivialAugmentWide's (`wide=True`, larger ranges). Solarize thresholds
    are fractions of the range, scaled to the image's bound when applied."""
    h, w = size
    lin = lambda hi: np.linspace(0.0, hi, num_bins)  # noqa: E731
    bits = 6 if wide else 4
    return {
        "Identity": (np.zeros(1), False),
        "ShearX": (lin(0.99 if wide else 0.3), True),
        "ShearY": (lin(0.99 if wide else 0.3), True),
        "TranslateX": (lin(32.0 if wide else 150.0 / 331.0 * w), True),
        "TranslateY": (lin(32.0 if wide else 150.0 / 331.0 * h), True),
        "Rotate": (lin(135.0 if wide else 30.0), True),
        "Brightness": (lin(0.99 if wide else 0.9), True),
        "Color": (lin(0.99 if wide else 0.9), True),
        "Contrast": (lin(0.99 if wide else 0.9), True),
        "Sharpness": (lin(0.99 if wide else 0.9), True),
        "Posterize": (8 - np.round(np.arange(num_bins) / ((num_bins - 1) / bits)), False),
        "Solarize": (np.linspace(1.0, 0.0, num_bins), False),
        "AutoContrast": (np.zeros(1), False),
        "Equalize": (np.zeros(1), False),
    }


def _apply_op(name, x, mask, m, interpolation, fill, mask_fill):
    """One named op of the augmentation space on a sub-batch, magnitudes m (n,)."""
    zeros = np.zeros_like(m)
    if name in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"):
        kw = {"center": (0.0, 0.0)} if name.startswith("Shear") else {}  # torchvision's pivot
        if name == "Rotate":  # torchvision's F.rotate: counter-clockwise
            args = (-m, 0.0, 1.0, 0.0)
        elif name.startswith("Shear"):  # magnitudes are shear factors: their angle in degrees
            deg = np.degrees(np.arctan(m))
            shear = np.stack([deg, zeros] if name == "ShearX" else [zeros, deg], axis=1)
            args = (0.0, 0.0, 1.0, shear)
        else:  # whole pixels, as torchvision's int(magnitude)
            t = np.trunc(m)
            args = (0.0, np.stack([t, zeros] if name == "TranslateX" else [zeros, t], 1), 1.0, 0.0)
        x = affine(x, *args, interpolation=interpolation, fill=fill, **kw)
        if mask is not None:
            mask = affine(mask, *args, interpolation="nearest", fill=mask_fill, **kw)
        return x, mask
    ops = {
        "Brightness": lambda: adjust_brightness(x, 1.0 + m),
        "Color": lambda: adjust_saturation(x, 1.0 + m),
        "Contrast": lambda: adjust_contrast(x, 1.0 + m),
        "Sharpness": lambda: adjust_sharpness(x, 1.0 + m),
        "Posterize": lambda: posterize(x, m.astype(np.int64)),
        "Solarize": lambda: solarize(x, m * _bound(x)),
        "AutoContrast": lambda: autocontrast(x),
        "Equalize": lambda: equalize(x),
        "Identity": lambda: x,
    }
    return ops[name](), mask


class _Augment(Transform):
    """Shared by RandAugment and TrivialAugmentWide: per item, `num_ops` ops drawn uniformly
    from the space, each with its magnitude (a random sign for the signed ones); the batch is
    split by op, so the work is one call per op and slot, not per item."""

    def __init__(self, num_ops, num_magnitude_bins, interpolation, fill, mask_fill, rng):
        super().__init__(rng)
        _check_interpolation(interpolation, type(self).__name__)
        if num_magnitude_bins < 2:
            raise ValueError(f"{type(self).__name__}: num_magnitude_bins must be >= 2")
        self.num_ops, self.num_magnitude_bins = int(num_ops), int(num_magnitude_bins)
        self.interpolation, self.fill, self.mask_fill = interpolation, fill, mask_fill

    def apply(self, x, mask, rng):
        xp = xp_of(x)
        space = _augment_ops(self.num_magnitude_bins, x.shape[2:], self._wide)
        names = list(space)
        n = len(x)
        x = x.copy()  # written item group by item group below
        mask = None if mask is None else mask.copy()
        for _ in range(self.num_ops):
            op = rng.integers(len(names), size=n)
            bins = self._bins(n, rng)
            sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
            for k, name in enumerate(names):
                sel = np.flatnonzero(op == k)
                if sel.size == 0 or name == "Identity":
                    continue
                mags, signed = space[name]
                m = mags[np.minimum(bins[sel], len(mags) - 1)]
                m = m * sign[sel] if signed else m
                idx = xp.asarray(sel)
                sub_mask = None if mask is None else mask[idx]
                y, ym = _apply_op(name, x[idx], sub_mask, m, self.interpolation, self.fill,
                                  self.mask_fill)  # fmt: skip
                x[idx] = y
                if mask is not None:
                    mask[idx] = ym
        return x, mask


class RandAugment(_Augment):
    """RandAugment (Cubuk et al., 2020; torchvision's op space): `num_ops` random ops per item
    at one fixed `magnitude` (of `num_magnitude_bins`); geometric ops move masks too.

    Args:
        num_ops (int): ops per item. Default 2.
        magnitude (int): the bin of every op's magnitude. Default 9.
        num_magnitude_bins (int): Default 31.
        interpolation: 'nearest' (default) or 'bilinear'. fill: for geometric ops. Default 0.
        mask_fill (int): Default 255. rng: Generator or seed.
    """

    _wide = False

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 interpolation: str = "nearest", fill=0.0, mask_fill: int = IGNORE_INDEX,
                 rng=None):  # fmt: skip
        super().__init__(num_ops, num_magnitude_bins, interpolation, fill, mask_fill, rng)
        if not 0 <= magnitude < num_magnitude_bins:
            raise ValueError(
                f"RandAugment: magnitude must be in [0, {num_magnitude_bins}), got {magnitude}"
            )
        self.magnitude = int(magnitude)

    def _bins(self, n, rng):
        return np.full(n, self.magnitude)


class TrivialAugmentWide(_Augment):
    """TrivialAugment (Müller & Hutter, 2021; torchvision's wide op space): one random op per
    item at a random magnitude bin; geometric ops move masks too.

    Args:
        num_magnitude_bins (int): Default 31.
        interpolation: 'nearest' (default) or 'bilinear'. fill: Default 0.
        mask_fill (int): Default 255. rng: Generator or seed.
    """

    _wide = True

    def __init__(self, num_magnitude_bins: int = 31, interpolation: str = "nearest", fill=0.0,
                 mask_fill: int = IGNORE_INDEX, rng=None):  # fmt: skip
        super().__init__(1, num_magnitude_bins, interpolation, fill, mask_fill, rng)

    def _bins(self, n, rng):
        return rng.integers(self.num_magnitude_bins, size=n)


# the rest of torchvision.transforms: perspective, elastic, five/ten crops, AutoAugment, AugMix...
from minitorch_cv.data.transforms_more import *  # noqa: E402, F403

# PIL images to arrays, for the per-item transforms of ImageFolder and other datasets of files
from minitorch_cv.data.transforms_pil import (  # noqa: E402, F401
    PILToTensor,
    ToTensor,
    pil_to_tensor,
    to_tensor,
)
