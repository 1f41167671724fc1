"""More of torchvision.transforms on batches: the perspective and elastic warps, five and ten
crops, AutoAugment and AugMix, RandomOrder, LinearTransformation, ConvertImageDtype, and the
functional forms that transforms.py lacks (`pad`, `center_crop`, `five_crop`, `ten_crop`,
`rgb_to_grayscale`, `to_grayscale`, `erase`, `normalize`, `convert_image_dtype`, `perspective`,
`elastic_transform`). transforms.py re-exports all of them: use `transforms as T; T.FiveCrop`.

The conventions of transforms.py hold (see its docstring): images (N, C, H, W) and masks
(N, H, W), every random parameter of a batch drawn at once from a NumPy Generator, the change
applied with one gather over the batch (or one call per op for the items that drew it), masks
moved with the images by nearest neighbour and `mask_fill` (255) where nothing comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum

import numpy as np

from minitorch_cv.backend import xp_of
from minitorch_cv.data.transforms import (
    IGNORE_INDEX,
    Compose,
    Transform,
    _apply_op,
    _augment_ops,
    _check_interpolation,
    _check_mode,
    _generator,
    _pad,
    _padding4,
    _to_gray,
    gaussian_blur,
    hflip,
    invert,
    vflip,
)
from minitorch_cv.data.transforms_pil import is_pil_image

__all__ = [
    "AugMix",
    "AutoAugment",
    "AutoAugmentPolicy",
    "ConvertImageDtype",
    "ElasticTransform",
    "FiveCrop",
    "LinearTransformation",
    "RandomOrder",
    "RandomPerspective",
    "TenCrop",
    "center_crop",
    "convert_image_dtype",
    "elastic_transform",
    "erase",
    "five_crop",
    "normalize",
    "pad",
    "perspective",
    "rgb_to_grayscale",
    "ten_crop",
    "to_grayscale",
]


def _size2(size, name: str) -> tuple[int, int]:
    """torchvision's crop size: an int or a 1-sequence for a square, else (h, w)."""
    if isinstance(size, (int, np.integer)):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"{name}: size must be a positive int or (h, w), got {size!r}")
    return size


# --------------------------------------------------------------------------- sampling


def _fill_values(fill, shape, dtype, xp, name: str):
    """`fill` (None: 0) as a (C,)-broadcastable array of `dtype`; rounded for integer images,
    as torchvision's cast back rounds."""
    values = np.atleast_1d(np.asarray(0.0 if fill is None else fill, dtype=np.float64))
    if values.ndim != 1 or len(values) not in (1, shape[1]):
        raise ValueError(
            f"{name}: fill must be a number or one per channel ({shape[1]}), got {fill!r} for "
            f"images of shape {tuple(shape)}"
        )
    if np.dtype(dtype).kind in "iu":
        values = np.rint(values)
    return xp.asarray(values, dtype=dtype)


def _grid_sample(x, rows, cols, interpolation: str, fill, name: str):
    """Read each item at its own real positions, as torch's `grid_sample(align_corners=False,
    padding_mode='zeros')` followed by torchvision's fill rule (its `_apply_grid_transform`).

    x: images (N, C, H, W) or masks (N, H, W) (masks: always nearest); rows, cols: (N, H', W')
    positions in pixel indices (pixel centres at integers). 'nearest' rounds half to even (as
    grid_sample) and gives `fill` (None: 0) where the rounded position is outside. 'bilinear'
    sums the four neighbours' weights times their values, neighbours outside counting 0; with a
    `fill`, the result is then m * sum + (1 - m) * fill, where m is the weight that fell inside
    (torchvision samples a channel of ones alongside the image to get m). Integer images are
    sampled in float32 and rounded back, as torchvision.

    Each tap is one flat `take` of the whole batch (index (N, C, H'W')), not a gather over
    the batch and channel axes, which NumPy runs several times slower.
    """
    xp = xp_of(x)
    is_mask = x.ndim == 3
    xs = x[:, None] if is_mask else x
    n, c, h, w = xs.shape
    out_shape = (n, c, *rows.shape[1:])
    size = int(np.prod(rows.shape[1:]))
    # positions a pixel or more outside read nothing: clamp them there (nan too), so that far
    # ones (a perspective's horizon) cast to int safely
    rows = xp.fmin(xp.fmax(rows, -2.0), h + 1.0).reshape(n, 1, size)
    cols = xp.fmin(xp.fmax(cols, -2.0), w + 1.0).reshape(n, 1, size)
    source = xp.ascontiguousarray(xs).reshape(-1)
    base = (xp.arange(n * c, dtype=xp.int64) * (h * w)).reshape(n, c, 1)

    def fill_as(dtype):  # (C, 1) or (1, 1): broadcasts over (N, C, P)
        return _fill_values(fill, xs.shape, dtype, xp, name)[:, None]

    def gather(r, col):  # clipped integer positions (N, 1, P) -> values (N, C, P)
        return source.take(base + (r * w + col))

    if interpolation == "nearest" or is_mask:
        r, col = xp.rint(rows).astype(xp.int64), xp.rint(cols).astype(xp.int64)
        inside = (r >= 0) & (r < h) & (col >= 0) & (col < w)
        vals = gather(xp.clip(r, 0, h - 1), xp.clip(col, 0, w - 1))
        out = xp.where(inside, vals, fill_as(x.dtype))
    else:
        work = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        source = source.astype(work, copy=False)  # once, not per neighbour
        r0, c0 = xp.floor(rows), xp.floor(cols)
        fr, fc = rows - r0, cols - c0
        r0, c0 = r0.astype(xp.int64), c0.astype(xp.int64)
        # per axis, the two neighbours: clipped index, and weight (0 for one outside)
        along_r = [(xp.clip(r, 0, h - 1), wt * ((r >= 0) & (r < h)))
                   for r, wt in ((r0, 1 - fr), (r0 + 1, fr))]  # fmt: skip
        along_c = [(xp.clip(col, 0, w - 1), wt * ((col >= 0) & (col < w)))
                   for col, wt in ((c0, 1 - fc), (c0 + 1, fc))]  # fmt: skip
        out = 0
        for r, wr in along_r:
            for col, wc in along_c:
                out = out + (wr * wc).astype(work) * gather(r, col)
        if fill is not None:  # blend by the weight that fell inside the input
            covered = (along_r[0][1] + along_r[1][1]) * (along_c[0][1] + along_c[1][1])
            covered = covered.astype(work)
            out = covered * out + (1 - covered) * fill_as(work)
        if x.dtype.kind != "f":
            out = xp.rint(out)
        out = out.astype(x.dtype, copy=False)
    out = out.reshape(out_shape)
    return out[:, 0] if is_mask else out


# --------------------------------------------------------------------------- perspective


def _corners(points, n: int, name: str, which: str):
    p = np.asarray(points, dtype=np.float64)
    if p.shape not in ((4, 2), (n, 4, 2)):
        raise ValueError(
            f"{name}: {which} must be four (x, y) corners, shape (4, 2) or one set per image "
            f"({n}, 4, 2), got shape {p.shape}"
        )
    return np.broadcast_to(p, (n, 4, 2))


def _collinear(points):
    """(N, 4, 2) corners -> (N,) bool: whether three of the four lie on one line (then no
    perspective map joins them to a proper quadrilateral)."""
    p = np.asarray(points, dtype=np.float64)
    span = max(float(np.abs(p).max(initial=0.0)), 1.0)
    out = np.zeros(len(p), dtype=bool)
    for i, j, k in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
        a, b = p[:, j] - p[:, i], p[:, k] - p[:, i]
        out |= np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]) <= 1e-12 * span**2
    return out


def _homography(startpoints, endpoints, name: str = "perspective"):
    """Per item, the 3 x 3 matrix H (N, 3, 3) of the map from an output point (x, y) to the
    input point it reads, (H p)[:2] / (H p)[2] with p = (x, y, 1), fitted to the four pairs
    endpoints[k] -> startpoints[k]: the null vector of the 8 x 9 direct linear transform
    system, on coordinates scaled to about 1. torchvision solves the same eight equations with
    H[2, 2] fixed to 1 (its coefficients are H / H[2, 2]); that system is singular when the map
    sends the origin to infinity (H[2, 2] = 0), which integer corners hit now and then."""
    if (_collinear(startpoints) | _collinear(endpoints)).any():
        raise ValueError(
            f"{name}: the corners do not define a perspective map (three of them on a line): "
            f"startpoints {startpoints.tolist()}, endpoints {endpoints.tolist()}"
        )
    s = max(float(np.abs(startpoints).max(initial=1.0)), float(np.abs(endpoints).max(initial=1.0)))
    (x, y), (u, v) = np.moveaxis(endpoints / s, -1, 0), np.moveaxis(startpoints / s, -1, 0)
    zero, one = np.zeros_like(x), np.ones_like(x)  # (N, 4) each
    row_u = np.stack([x, y, one, zero, zero, zero, -u * x, -u * y, -u], axis=-1)  # (N, 4, 9)
    row_v = np.stack([zero, zero, zero, x, y, one, -v * x, -v * y, -v], axis=-1)
    a = np.stack([row_u, row_v], axis=2).reshape(len(x), 8, 9)
    hs = np.linalg.svd(a)[2][:, -1].reshape(-1, 3, 3)  # the map on coordinates / s
    return hs * np.array([[1.0, 1.0, s], [1.0, 1.0, s], [1 / s, 1 / s, 1.0]])  # on pixels


def perspective(img, startpoints, endpoints, interpolation: str = "bilinear", fill=None):
    """Warp so that the four `startpoints` of the input land on the `endpoints` (torchvision's
    `perspective`): each output pixel centre (u + 0.5, v + 0.5) is mapped through the
    homography fitted to endpoints -> startpoints (`_homography`), and the input is read
    there, minus half a pixel, by `_grid_sample` (torchvision's grid with
    `grid_sample(align_corners=False)`).

    Args:
        img: images (N, C, H, W) or masks (N, H, W) (masks: nearest).
        startpoints, endpoints: corners [top-left, top-right, bottom-right, bottom-left] as
            (x, y) pixel coordinates, shape (4, 2) for the whole batch or (N, 4, 2) per item;
            no three of either set on one line.
        interpolation: 'bilinear' (default) or 'nearest'.
        fill: value where the map reads outside the input: a number or one per channel; None
            (default) reads zeros there without torchvision's coverage blend (see `_grid_sample`).
    """
    _check_interpolation(interpolation, "perspective")
    xp = xp_of(img)
    n, h, w = len(img), img.shape[-2], img.shape[-1]
    start = _corners(startpoints, n, "perspective", "startpoints")
    end = _corners(endpoints, n, "perspective", "endpoints")
    hm = xp.asarray(_homography(start, end))[:, :, :, None, None]  # (N, 3, 3, 1, 1)
    x = xp.arange(w, dtype=xp.float64)[None, :] + 0.5
    y = xp.arange(h, dtype=xp.float64)[:, None] + 0.5
    den = hm[:, 2, 0] * x + hm[:, 2, 1] * y + hm[:, 2, 2]  # (N, H, W)
    at_infinity, den = den == 0, xp.where(den == 0, 1.0, den)  # those read from outside
    cols = xp.where(at_infinity, -2.0, (hm[:, 0, 0] * x + hm[:, 0, 1] * y + hm[:, 0, 2]) / den)
    rows = xp.where(at_infinity, -2.0, (hm[:, 1, 0] * x + hm[:, 1, 1] * y + hm[:, 1, 2]) / den)
    return _grid_sample(img, rows - 0.5, cols - 0.5, interpolation, fill, "perspective")


class RandomPerspective(Transform):
    """A random perspective warp per item with probability p (torchvision's RandomPerspective:
    each corner moves inwards by a random whole number of pixels, up to distortion_scale times
    half the side); masks go along by nearest neighbour. An item whose drawn corners have three
    on one line (possible on small images with a large distortion_scale), which no perspective
    map reaches, is left as it is.

    Args:
        distortion_scale (float): in [0, 1]; 0 leaves the corners in place. Default 0.5.
        p (float): probability of warping an item. Default 0.5.
        interpolation: 'bilinear' (default) or 'nearest'.
        fill: image value where the warp reads outside: a number or one per channel. Default 0.
        mask_fill (int): mask value there. Default 255.
        rng: Generator or seed.
    """

    def __init__(self, distortion_scale: float = 0.5, p: float = 0.5,
                 interpolation: str = "bilinear", fill=0.0, mask_fill: int = IGNORE_INDEX,
                 rng=None):  # fmt: skip
        super().__init__(rng)
        if not (0.0 <= distortion_scale <= 1.0 and 0.0 <= p <= 1.0):
            raise ValueError(
                f"RandomPerspective: distortion_scale and p must be in [0, 1], got "
                f"distortion_scale={distortion_scale}, p={p}"
            )
        _check_interpolation(interpolation, "RandomPerspective")
        self.distortion_scale, self.p = float(distortion_scale), float(p)
        self.interpolation, self.fill, self.mask_fill = interpolation, fill, mask_fill

    @staticmethod
    def get_params(width: int, height: int, distortion_scale: float, n: int = 1, rng=None):
        """torchvision's corners for n images: startpoints (4, 2), the image corners
        [[0, 0], [W - 1, 0], [W - 1, H - 1], [0, H - 1]], and endpoints (n, 4, 2), each corner
        moved inwards by an integer drawn uniformly from [0, int(distortion_scale * (side // 2))]
        along each axis."""
        rng = _generator(rng)
        bw = int(distortion_scale * (width // 2)) + 1
        bh = int(distortion_scale * (height // 2)) + 1
        near_x, far_x = rng.integers(0, bw, (n, 2)), rng.integers(width - bw, width, (n, 2))
        near_y, far_y = rng.integers(0, bh, (n, 2)), rng.integers(height - bh, height, (n, 2))
        end = np.stack([np.stack([near_x[:, 0], near_y[:, 0]], 1),   # top-left
                        np.stack([far_x[:, 0], near_y[:, 1]], 1),    # top-right
                        np.stack([far_x[:, 1], far_y[:, 0]], 1),     # bottom-right
                        np.stack([near_x[:, 1], far_y[:, 1]], 1)], 1)  # bottom-left  # fmt: skip
        start = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
        return start, end

    def apply(self, x, mask, rng):
        n, h, w = len(x), x.shape[2], x.shape[3]
        chosen = rng.random(n) < self.p
        start, end = self.get_params(w, h, self.distortion_scale, n, rng)
        # corners with three on a line (small images, large distortion_scale) have no
        # perspective map: those items stay as they are (torchvision's solve gives garbage)
        chosen = np.flatnonzero(chosen & ~_collinear(end) & ~_collinear(start[None])[0])
        if chosen.size == 0:
            return x, mask
        idx = xp_of(x).asarray(chosen)
        x = x.copy()
        x[idx] = perspective(x[idx], start, end[chosen], self.interpolation, self.fill)
        if mask is not None:
            mask = mask.copy()
            mask[idx] = perspective(mask[idx], start, end[chosen], "nearest", self.mask_fill)
        return x, mask


# --------------------------------------------------------------------------- elastic


def elastic_transform(img, displacement, interpolation: str = "bilinear", fill=None):
    """Read each output pixel (i, j) of the input at (i + dy * H / 2, j + dx * W / 2): the
    identity grid plus a displacement field (dx, dy) in grid_sample's normalised units, where
    the image spans [-1, 1] along each axis (torchvision's `elastic_transform`).

    Args:
        img: images (N, C, H, W) or masks (N, H, W) (masks: nearest).
        displacement: (1, H, W, 2) for the whole batch or (N, H, W, 2) per item; [..., 0] moves
            along the width (x), [..., 1] along the height (y).
        interpolation: 'bilinear' (default) or 'nearest'.
        fill: value where the field reads outside the input (None: zeros; see `_grid_sample`).
    """
    _check_interpolation(interpolation, "elastic_transform")
    xp = xp_of(img)
    n, h, w = len(img), img.shape[-2], img.shape[-1]
    d = xp.asarray(displacement, dtype=xp.float64)
    if d.ndim != 4 or d.shape[0] not in (1, n) or tuple(d.shape[1:]) != (h, w, 2):
        raise ValueError(
            f"elastic_transform: displacement must have shape (1, {h}, {w}, 2) or "
            f"({n}, {h}, {w}, 2) for images of shape {tuple(img.shape)}, got {tuple(d.shape)}"
        )
    d = xp.broadcast_to(d, (n, h, w, 2))
    rows = xp.arange(h, dtype=xp.float64)[:, None] + d[..., 1] * (h / 2)
    cols = xp.arange(w, dtype=xp.float64)[None, :] + d[..., 0] * (w / 2)
    return _grid_sample(img, rows, cols, interpolation, fill, "elastic_transform")


def _float_pair(value, name: str, owner: str) -> tuple[float, float]:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value), float(value)
    v = tuple(float(a) for a in value)
    if len(v) != 2:
        raise ValueError(f"{owner}: {name} must be a number or a pair, got {value!r}")
    return v


class ElasticTransform(Transform):
    """A random elastic warp per item (torchvision's ElasticTransform; Simard et al., 2003): a
    displacement field of uniform noise in [-1, 1), smoothed by a Gaussian blur and scaled by
    alpha, moves every pixel; masks go along by nearest neighbour.

    The field along x is scaled by alpha / W and along y by alpha / H (in normalised units,
    about alpha / 2 pixels before the blur shrinks it), as torchvision since the fix of
    pytorch/vision#9299; earlier releases swapped W and H (the same on square images).

    Args:
        alpha: strength, a number or (alpha_x, alpha_y). Default 50.0.
        sigma: smoothness, the Gaussian's standard deviation in pixels, a number or
            (sigma_x, sigma_y), both > 0 or both 0 (the noise left unblurred). The kernel is
            int(8 sigma + 1) taps, made odd, with reflect padding, so it needs images larger
            than 4 sigma a side (sigma 5: more than 20 pixels). Default 5.0.
        interpolation: 'bilinear' (default) or 'nearest'.
        fill: image value where the field reads outside. Default 0.
        mask_fill (int): mask value there. Default 255.
        rng: Generator or seed.
    """

    def __init__(self, alpha=50.0, sigma=5.0, interpolation: str = "bilinear", fill=0.0,
                 mask_fill: int = IGNORE_INDEX, rng=None):  # fmt: skip
        super().__init__(rng)
        self.alpha = _float_pair(alpha, "alpha", "ElasticTransform")
        self.sigma = _float_pair(sigma, "sigma", "ElasticTransform")
        if min(self.sigma) < 0 or (self.sigma[0] > 0) != (self.sigma[1] > 0):
            raise ValueError(
                f"ElasticTransform: sigma must be >= 0, and both 0 (no blur) or both > 0 (each "
                f"field is blurred with the pair, as torchvision's), got {sigma!r}"
            )
        _check_interpolation(interpolation, "ElasticTransform")
        self.interpolation, self.fill, self.mask_fill = interpolation, fill, mask_fill

    @staticmethod
    def get_params(alpha, sigma, size, n: int = 1, rng=None, xp=np):
        """torchvision's displacement for n images of `size` = (H, W): shape (n, H, W, 2).
        The noise is drawn on the host from `rng`; the blur runs where `xp` (numpy or cupy)
        puts it."""
        rng = _generator(rng)
        h, w = size
        taps = [int(8 * s + 1) | 1 if s > 0 else 0 for s in sigma]  # made odd
        if max(taps) // 2 >= min(h, w):  # the blur's reflect padding needs more image than that
            raise ValueError(
                f"ElasticTransform: sigma {tuple(sigma)} blurs with {max(taps)} taps, which needs "
                f"images larger than {max(taps) // 2} pixels a side, got size {tuple(size)}"
            )

        def field(s, k):  # one axis: (n, H, W)
            noise = xp.asarray(rng.uniform(-1.0, 1.0, (n, 1, h, w)))
            if k:
                noise = gaussian_blur(noise, (k, k), sigma)  # both axes' sigmas, as torchvision
            return noise[:, 0]

        dx = field(sigma[0], taps[0]) * (alpha[0] / w)
        dy = field(sigma[1], taps[1]) * (alpha[1] / h)
        return xp.stack([dx, dy], axis=-1)

    def apply(self, x, mask, rng):
        d = self.get_params(self.alpha, self.sigma, x.shape[2:], len(x), rng, xp_of(x))
        x = elastic_transform(x, d, self.interpolation, self.fill)
        if mask is not None:
            mask = elastic_transform(mask, d, "nearest", self.mask_fill)
        return x, mask


# --------------------------------------------------------------------------- crops and pads


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pad on all sides (torchvision's `pad`).

    Args:
        img: images (N, C, H, W), one image (C, H, W) or (H, W).
        padding: int (all sides), (left/right, top/bottom) or (left, top, right, bottom).
        fill: value for 'constant': a number or one per channel. Default 0.
        padding_mode: 'constant' (default), 'edge', 'reflect' or 'symmetric'.
    """
    _check_mode(padding_mode, "pad")
    lead = 4 - img.ndim
    if lead < 0 or lead > 2:
        raise ValueError(
            f"pad: expected (N, C, H, W), (C, H, W) or (H, W), got shape {tuple(img.shape)}"
        )
    x = img[(None,) * lead]
    out, _ = _pad(x, None, _padding4(padding, "pad"), fill, None, padding_mode, "pad")
    return out[(0,) * lead]


def center_crop(img, output_size):
    """The central (h, w) window of (..., H, W) (torchvision's `center_crop`): top =
    round((H - h) / 2), left likewise; where the image is smaller, it is first padded with
    zeros, the odd pixel going to the bottom / right."""
    ch, cw = _size2(output_size, "center_crop")
    h, w = img.shape[-2:]
    if ch > h or cw > w:
        ph, pw = max(ch - h, 0), max(cw - w, 0)
        spec = [(0, 0)] * (img.ndim - 2) + [(ph // 2, (ph + 1) // 2), (pw // 2, (pw + 1) // 2)]
        img = xp_of(img).pad(img, spec)
        h, w = img.shape[-2:]
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return img[..., top : top + ch, left : left + cw]


def five_crop(img, size):
    """The four corner crops and the central crop of (..., H, W), in torchvision's order:
    (top-left, top-right, bottom-left, bottom-right, center)."""
    ch, cw = _size2(size, "five_crop")
    h, w = img.shape[-2:]
    if ch > h or cw > w:
        raise ValueError(
            f"five_crop: requested crop size {(ch, cw)} is bigger than the input size {(h, w)} "
            f"(shape {tuple(img.shape)})"
        )
    return (img[..., :ch, :cw], img[..., :ch, w - cw :], img[..., h - ch :, :cw],
            img[..., h - ch :, w - cw :], center_crop(img, (ch, cw)))  # fmt: skip


def ten_crop(img, size, vertical_flip: bool = False):
    """`five_crop` of the image, then of its mirror image (left-right, or top-bottom with
    `vertical_flip`): ten crops, torchvision's order."""
    return five_crop(img, size) + five_crop(vflip(img) if vertical_flip else hflip(img), size)


class FiveCrop(Transform):
    """The four corners and the centre of every item (torchvision's FiveCrop): `t(x)` returns a
    tuple of five batches; `t(x, mask)` returns (five image batches, five mask batches).

    Args:
        size: int (square) or (h, w).
    """

    def __init__(self, size):
        super().__init__()
        self.size = _size2(size, type(self).__name__)

    def _crops(self, x):
        return five_crop(x, self.size)

    def apply(self, x, mask, rng):
        return self._crops(x), None if mask is None else self._crops(mask)

    def __call__(self, x, mask=None, *, rng=None):
        if is_pil_image(x) or x.ndim != 3:  # a batch, or a PIL image (a tuple of five back)
            return super().__call__(x, mask, rng=rng)
        out = super().__call__(x[None], None if mask is None else mask[None], rng=rng)
        strip = lambda crops: tuple(c[0] for c in crops)  # noqa: E731
        return strip(out) if mask is None else (strip(out[0]), strip(out[1]))


class TenCrop(FiveCrop):
    """The five crops of every item and of its mirror image (torchvision's TenCrop): a tuple
    of ten batches (with a mask: ten image batches, ten mask batches).

    Args:
        size: int (square) or (h, w).
        vertical_flip (bool): mirror top-bottom instead of left-right. Default False.
    """

    def __init__(self, size, vertical_flip: bool = False):
        super().__init__(size)
        self.vertical_flip = bool(vertical_flip)

    def _crops(self, x):
        return ten_crop(x, self.size, self.vertical_flip)


# --------------------------------------------------------------------------- pixel values


def rgb_to_grayscale(img, num_output_channels: int = 1):
    """Luma 0.2989 R + 0.587 G + 0.114 B of (N, 3, H, W) or (3, H, W) images, in their dtype
    (integers truncated, as torchvision), repeated to 3 channels if asked; 1-channel images
    count as grey already (returned as they are, or repeated to 3 channels as torchvision v2
    does)."""
    if num_output_channels not in (1, 3):
        raise ValueError(
            f"rgb_to_grayscale: num_output_channels must be 1 or 3, got {num_output_channels}"
        )
    if img.ndim not in (3, 4):
        raise ValueError(f"rgb_to_grayscale: expected (N, C, H, W) or (C, H, W), got {img.shape}")
    single = img.ndim == 3
    out = _to_gray(img[None] if single else img, num_output_channels, "rgb_to_grayscale")
    return out[0] if single else out


def to_grayscale(img, num_output_channels: int = 1):
    """torchvision's name of `rgb_to_grayscale` for images (its v2 alias)."""
    return rgb_to_grayscale(img, num_output_channels)


def erase(img, i, j, h, w, v, inplace: bool = False):
    """Set the window rows i..i+h-1, columns j..j+w-1 of (..., H, W) to `v` (torchvision's
    `erase`). i, j, h, w are ints, or (N,) arrays for one window per item of an (N, ...) batch;
    `v` broadcasts against the window (ints) or against the whole image (per-item windows),
    e.g. a number or one value per channel shaped (C, 1, 1).

    Args:
        inplace (bool): write into `img` instead of a copy. Default False.
    """
    xp = xp_of(img)
    out = img if inplace else img.copy()
    if all(np.ndim(a) == 0 for a in (i, j, h, w)):
        out[..., i : i + h, j : j + w] = v
        return out
    n, rows, cols = len(img), xp.arange(img.shape[-2]), xp.arange(img.shape[-1])
    i, j, h, w = (xp.broadcast_to(xp.asarray(a), (n,))[:, None] for a in (i, j, h, w))
    inside = ((rows >= i) & (rows < i + h))[:, :, None] & ((cols >= j) & (cols < j + w))[:, None]
    inside = inside.reshape(n, *(1,) * (img.ndim - 3), *inside.shape[1:])  # (N, 1.., H, W)
    out[...] = xp.where(inside, xp.asarray(v, dtype=img.dtype), out)
    return out


def normalize(tensor, mean, std, inplace: bool = False):
    """(x - mean[c]) / std[c] over the channels of float images (..., C, H, W) (torchvision's
    `normalize`; the `Normalize` transform does the same on batches)."""
    if tensor.dtype.kind != "f":
        raise TypeError(f"normalize: expected float images, got {tensor.dtype}")
    if tensor.ndim < 3:
        raise ValueError(f"normalize: expected images (..., C, H, W), got shape {tensor.shape}")
    xp = xp_of(tensor)
    mean = np.atleast_1d(np.asarray(mean, dtype=tensor.dtype))
    std = np.atleast_1d(np.asarray(std, dtype=tensor.dtype))
    if (std == 0).any():
        raise ValueError(f"normalize: std {std.tolist()} has a zero in {tensor.dtype}")
    if {len(mean), len(std)} - {1, tensor.shape[-3]}:
        raise ValueError(
            f"normalize: mean {mean.tolist()} and std {std.tolist()} need one value or one per "
            f"channel for images of shape {tuple(tensor.shape)}"
        )
    mean, std = xp.asarray(mean).reshape(-1, 1, 1), xp.asarray(std).reshape(-1, 1, 1)
    if not inplace:
        return (tensor - mean) / std
    tensor -= mean
    tensor /= std
    return tensor


def _max_value(dtype) -> int | float:
    return np.iinfo(dtype).max if dtype.kind in "iu" else 1.0


def convert_image_dtype(image, dtype=np.float32):
    """Change the dtype and rescale the values (torchvision's `convert_image_dtype`): integers
    span [0, iinfo.max], floats [0, 1].

    int -> float: x / max_in.  float -> int: trunc(x * (max_out + 1 - 0.001)) (refused for
    float32 -> int32 / int64 and float64 -> int64, which cannot be done safely).
    int -> wider int: x * ((max_out + 1) // (max_in + 1)); narrower: x // ((max_in + 1) //
    (max_out + 1)). float -> float: a cast.
    """
    src, dst = np.dtype(image.dtype), np.dtype(dtype)
    if src.kind not in "fiu" or dst.kind not in "fiu":
        raise TypeError(f"convert_image_dtype: cannot convert {src} images to {dst}")
    if src == dst:
        return image
    if src.kind == "f" and dst.kind == "f":
        return image.astype(dst)
    if src.kind == "f":
        if (src == np.float32 and dst in (np.int32, np.int64)) or (
            src == np.float64 and dst == np.int64
        ):
            raise RuntimeError(
                f"convert_image_dtype: the cast from {src} to {dst} cannot be performed safely"
            )
        return (image * (_max_value(dst) + 1.0 - 1e-3)).astype(dst)
    if dst.kind == "f":
        return image.astype(dst) / _max_value(src)
    in_max, out_max = _max_value(src), _max_value(dst)
    if in_max > out_max:
        return (image // ((in_max + 1) // (out_max + 1))).astype(dst)
    return image.astype(dst) * ((out_max + 1) // (in_max + 1))


class ConvertImageDtype(Transform):
    """Convert the images' dtype, rescaling the values (torchvision's ConvertImageDtype; see
    `convert_image_dtype`); masks pass through.

    Args:
        dtype: the target dtype, e.g. np.float32 or np.uint8.
    """

    def __init__(self, dtype):
        super().__init__()
        self.dtype = np.dtype(dtype)

    def apply(self, x, mask, rng):
        return convert_image_dtype(x, self.dtype), mask


class LinearTransformation(Transform):
    """Flatten each item to C*H*W values, subtract `mean_vector` and multiply by the square
    `transformation_matrix` from the right: y = (x - mean) @ M (torchvision's
    LinearTransformation; with M the ZCA matrix of the data it whitens them). Masks pass
    through; integer images come out float32.

    Args:
        transformation_matrix: (D, D), D = C * H * W.
        mean_vector: (D,).
    """

    def __init__(self, transformation_matrix, mean_vector):
        super().__init__()
        m, v = transformation_matrix, mean_vector
        if not hasattr(m, "shape"):
            m = np.asarray(m, dtype=np.float64)
        if not hasattr(v, "shape"):
            v = np.asarray(v, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise ValueError(
                f"LinearTransformation: transformation_matrix should be square, got shape "
                f"{tuple(m.shape)}"
            )
        if tuple(v.shape) != (m.shape[0],):
            raise ValueError(
                f"LinearTransformation: mean_vector should have shape ({m.shape[0]},) to match "
                f"the transformation_matrix {tuple(m.shape)}, got {tuple(v.shape)}"
            )
        self.transformation_matrix, self.mean_vector = m, v

    def apply(self, x, mask, rng):
        xp = xp_of(x)
        d = self.transformation_matrix.shape[0]
        per_item = int(np.prod(x.shape[1:]))
        if per_item != d:
            raise ValueError(
                f"LinearTransformation({d}x{d}): images {tuple(x.shape)} have "
                f"C*H*W = {per_item} values, expected {d}"
            )
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        flat = x.reshape(len(x), d).astype(dtype, copy=False)
        flat = flat - xp.asarray(self.mean_vector, dtype=dtype)
        return (flat @ xp.asarray(self.transformation_matrix, dtype=dtype)).reshape(x.shape), mask


# --------------------------------------------------------------------------- combinators


class RandomOrder(Transform):
    """Apply the transforms in a random order, drawn per item (torchvision's RandomOrder draws
    one per image). The batch is split by order: one pass of the transforms per distinct order
    present (at most k! for k transforms). The orders must all lead to the same output shape
    (on one PIL image they need not).

    Args:
        transforms: Transform objects, or callables `f(x)` / `f(x, mask) -> (x, mask)`.
        rng: Generator or seed.
    """

    def __init__(self, transforms: Sequence[Callable], rng=None):
        super().__init__(rng)
        self.transforms = list(transforms)

    def apply(self, x, mask, rng):
        n, k = len(x), len(self.transforms)
        if k == 0:
            return x, mask
        orders = np.argsort(rng.random((n, k)), axis=1)  # a uniform permutation per item
        perms, group = np.unique(orders, axis=0, return_inverse=True)
        group = group.reshape(-1)
        if len(perms) <= 1:  # one order for all (or an empty batch: the given order)
            order = perms[0] if len(perms) else range(k)
            return Compose([self.transforms[t] for t in order]).apply(x, mask, rng)
        xp = xp_of(x)
        parts = []
        for g, perm in enumerate(perms):
            idx = xp.asarray(np.flatnonzero(group == g))
            chain = Compose([self.transforms[t] for t in perm])
            parts.append((idx, *chain.apply(x[idx], None if mask is None else mask[idx], rng)))
        shapes = {(tuple(y.shape[1:]), None if m is None else tuple(m.shape[1:]))
                  for _, y, m in parts}  # fmt: skip
        if len(shapes) != 1:
            raise ValueError(
                f"RandomOrder: its transforms give different shapes in different orders "
                f"{sorted(shapes, key=str)} for images {tuple(x.shape)}; they must agree"
            )
        y0, m0 = parts[0][1:]
        out_x = xp.empty((n, *y0.shape[1:]), dtype=y0.dtype)
        out_m = None if m0 is None else xp.empty((n, *m0.shape[1:]), dtype=m0.dtype)
        for idx, y, m in parts:
            out_x[idx] = y
            if m is not None:
                out_m[idx] = m
        return out_x, out_m

    def _call_pil(self, img, rng):  # one image: each transform in turn, on the PIL image
        for i in rng.permutation(len(self.transforms)):
            t = self.transforms[int(i)]
            img = t(img, rng=rng) if isinstance(t, Transform) else t(img)
        return img


# --------------------------------------------------------------------------- AutoAugment


class AutoAugmentPolicy(Enum):
    """The AutoAugment policies learnt on ImageNet, CIFAR-10 and SVHN (torchvision's)."""

    IMAGENET = "imagenet"
    CIFAR10 = "cifar10"
    SVHN = "svhn"


# The 25 sub-policies of each, transcribed from torchvision's
# torchvision/transforms/autoaugment.py (AutoAugment._get_policies), which takes them from
# Cubuk et al., "AutoAugment: Learning Augmentation Strategies from Data" (CVPR 2019),
# appendix tables. Each sub-policy is two (op, probability, magnitude bin of 0..9 or None).
_POLICIES = {
    AutoAugmentPolicy.IMAGENET: (
        (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
        (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
        (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
        (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
        (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
        (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
        (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
        (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
        (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
        (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
        (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
        (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
        (("Color", 0.4, 0), ("Equalize", 0.6, None)),
        (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
        (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
        (("Invert", 0.6, None), ("Equalize", 1.0, None)),
        (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
        (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    ),
    AutoAugmentPolicy.CIFAR10: (
        (("Invert", 0.1, None), ("Contrast", 0.2, 6)),
        (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
        (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
        (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)),
        (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
        (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
        (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
        (("Equalize", 0.6, None), ("Equalize", 0.5, None)),
        (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
        (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
        (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
        (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
        (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
        (("Solarize", 0.5, 2), ("Invert", 0.0, None)),
        (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
        (("Equalize", 0.2, None), ("Equalize", 0.6, None)),
        (("Color", 0.9, 9), ("Equalize", 0.6, None)),
        (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)),
        (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
        (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)),
        (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
        (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)),
        (("Equalize", 0.8, None), ("Invert", 0.1, None)),
        (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
    ),
    AutoAugmentPolicy.SVHN: (
        (("ShearX", 0.9, 4), ("Invert", 0.2, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.6, None), ("Solarize", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
        (("ShearY", 0.9, 8), ("Invert", 0.4, None)),
        (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
        (("Invert", 0.9, None), ("AutoContrast", 0.8, None)),
        (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
        (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)),
        (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
        (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)),
        (("Invert", 0.9, None), ("Equalize", 0.6, None)),
        (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)),
        (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
        (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)),
        (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
        (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)),
        (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
        (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)),
        (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
        (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)),
        (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
        (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
    ),
}


def _run_op(name, x, mask, m, sel, interpolation, fill, mask_fill):
    """Apply op `name` with magnitudes m (len(sel),) to the items `sel` (host indices) of x and
    mask, in place: one call for all the items that drew it. The ops are transforms.py's
    (RandAugment's), plus Invert."""
    if sel.size == 0:
        return
    idx = xp_of(x).asarray(sel)
    sub_mask = None if mask is None else mask[idx]
    if name == "Invert":
        y, ym = invert(x[idx]), sub_mask
    else:
        y, ym = _apply_op(name, x[idx], sub_mask, m, interpolation, fill, mask_fill)
    x[idx] = y
    if mask is not None:
        mask[idx] = ym


class AutoAugment(Transform):
    """AutoAugment (Cubuk et al., 2019) with torchvision's policies and op space: per item, one
    of the policy's 25 sub-policies at random, whose two ops each apply with their probability,
    at their magnitude bin of 10 (signed ops get a random sign); geometric ops move masks too.

    Args:
        policy (AutoAugmentPolicy): IMAGENET (default), CIFAR10 or SVHN.
        interpolation: 'nearest' (default) or 'bilinear'. fill: for geometric ops. Default None
            (zeros).
        mask_fill (int): Default 255. rng: Generator or seed.
    """

    def __init__(self, policy: AutoAugmentPolicy = AutoAugmentPolicy.IMAGENET,
                 interpolation: str = "nearest", fill=None, mask_fill: int = IGNORE_INDEX,
                 rng=None):  # fmt: skip
        super().__init__(rng)
        try:
            self.policy = AutoAugmentPolicy(policy)
        except ValueError:
            raise ValueError(
                f"AutoAugment: policy must be one of {[p.value for p in AutoAugmentPolicy]}, "
                f"got {policy!r}"
            ) from None
        _check_interpolation(interpolation, "AutoAugment")
        self.interpolation, self.fill, self.mask_fill = interpolation, fill, mask_fill

    @property
    def policies(self):
        """The policy's 25 sub-policies: pairs of (op, probability, magnitude bin or None)."""
        return _POLICIES[self.policy]

    @staticmethod
    def _augmentation_space(size):
        """torchvision's AutoAugment space, 10 bins: RandAugment's ops and ranges, with Invert
        and without Identity."""
        space = _augment_ops(10, size, wide=False)
        del space["Identity"]
        space["Invert"] = (np.zeros(1), False)
        return space

    def apply(self, x, mask, rng):
        space = self._augmentation_space(x.shape[2:])
        names = list(space)
        n = len(x)
        table = self.policies
        op_of = np.array([[names.index(op[0]) for op in sub] for sub in table])  # (25, 2)
        p_of = np.array([[op[1] for op in sub] for sub in table])
        bin_of = np.array([[-1 if op[2] is None else op[2] for op in sub] for sub in table])
        tid = rng.integers(len(table), size=n)
        probs, signs = rng.random((n, 2)), rng.integers(2, size=(n, 2))
        x = x.copy()
        mask = None if mask is None else mask.copy()
        for slot in (0, 1):
            applies = probs[:, slot] <= p_of[tid, slot]
            for k, name in enumerate(names):
                sel = np.flatnonzero(applies & (op_of[tid, slot] == k))
                mags, signed = space[name]  # ops without a magnitude (bin None) have [0.0]
                m = mags[np.clip(bin_of[tid[sel], slot], 0, len(mags) - 1)]
                if signed:
                    m = np.where(signs[sel, slot] == 0, -m, m)
                _run_op(name, x, mask, m, sel, self.interpolation, self.fill, self.mask_fill)
        return x, mask


class AugMix(Transform):
    """AugMix (Hendrycks et al., 2020) as torchvision has it: per item, `mixture_width` chains
    of 1-3 random ops (or `chain_depth`), each op at a random magnitude bin below `severity`
    (of 10) with a random sign; the result is m0 x + m1 sum_i w_i chain_i(x) with
    (m0, m1) ~ Dirichlet(alpha, alpha) and w ~ Dirichlet(alpha, ..., alpha). Integer images are
    mixed in float32 and truncated back.

    Masks are refused: a blend of differently warped copies has no single mask
    (torchvision passes masks through unchanged, which would leave them out of register).

    Args:
        severity (int): 1..10. Default 3.
        mixture_width (int): chains per item. Default 3.
        chain_depth (int): ops per chain; -1 (default) draws 1, 2 or 3 per chain.
        alpha (float): of the Dirichlet and Beta weights. Default 1.0.
        all_ops (bool): include Brightness, Color, Contrast and Sharpness. Default True.
        interpolation: 'bilinear' (default, as torchvision) or 'nearest'. fill: for geometric
            ops. Default None (zeros).
        rng: Generator or seed.
    """

    _PARAMETER_MAX = 10

    def __init__(self, severity: int = 3, mixture_width: int = 3, chain_depth: int = -1,
                 alpha: float = 1.0, all_ops: bool = True, interpolation: str = "bilinear",
                 fill=None, rng=None):  # fmt: skip
        super().__init__(rng)
        if not 1 <= severity <= self._PARAMETER_MAX:
            raise ValueError(
                f"AugMix: severity must be in [1, {self._PARAMETER_MAX}], got {severity}"
            )
        if int(mixture_width) < 1 or not alpha > 0:
            raise ValueError(
                f"AugMix: mixture_width must be >= 1 and alpha > 0, got mixture_width="
                f"{mixture_width}, alpha={alpha}"
            )
        _check_interpolation(interpolation, "AugMix")
        self.severity, self.mixture_width = int(severity), int(mixture_width)
        self.chain_depth, self.alpha, self.all_ops = int(chain_depth), float(alpha), bool(all_ops)
        self.interpolation, self.fill = interpolation, fill

    def _augmentation_space(self, size):
        """torchvision's AugMix space, 10 bins: RandAugment's ranges, except translations up to
        a third of the side and posterize to 4..0 bits; the four colour ops only with
        all_ops."""
        h, w = size
        bins = self._PARAMETER_MAX
        base = _augment_ops(bins, size, wide=False)
        space = {k: base[k] for k in ("ShearX", "ShearY", "Rotate", "Solarize", "AutoContrast",
                                      "Equalize")}  # fmt: skip
        space["TranslateX"] = (np.linspace(0.0, w / 3.0, bins), True)
        space["TranslateY"] = (np.linspace(0.0, h / 3.0, bins), True)
        space["Posterize"] = (4 - np.round(np.arange(bins) / ((bins - 1) / 4)), False)
        if self.all_ops:
            space.update({k: base[k] for k in ("Brightness", "Color", "Contrast", "Sharpness")})
        return space

    def get_params(self, n: int, size, rng):
        """Per item: (m (n, 2) original / mix weights, w (n, width) chain weights, depth
        (n, width), op (n, width, max_depth) indices into the space, magnitude (n, width,
        max_depth) with its sign)."""
        space = self._augmentation_space(size)
        names = list(space)
        width = self.mixture_width
        max_depth = self.chain_depth if self.chain_depth > 0 else 3
        m = rng.dirichlet([self.alpha] * 2, size=n)
        w = rng.dirichlet([self.alpha] * width, size=n)
        if self.chain_depth > 0:
            depth = np.full((n, width), self.chain_depth)
        else:
            depth = rng.integers(1, 4, size=(n, width))
        op = rng.integers(len(names), size=(n, width, max_depth))
        bins = rng.integers(self.severity, size=(n, width, max_depth))
        flip = rng.random((n, width, max_depth)) <= 0.5
        mag = np.zeros((n, width, max_depth))
        for k, name in enumerate(names):
            mags, signed = space[name]
            here = op == k
            mag[here] = mags[np.minimum(bins[here], len(mags) - 1)]
            if signed:
                mag[here & flip] *= -1
        return m, w, depth, op, mag

    def apply(self, x, mask, rng):
        if mask is not None:
            raise ValueError(
                f"AugMix: blends differently warped copies of each image, which no single mask "
                f"follows; got a mask {tuple(mask.shape)} with images {tuple(x.shape)}"
            )
        xp = xp_of(x)
        names = list(self._augmentation_space(x.shape[2:]))
        m, w, depth, op, mag = self.get_params(len(x), x.shape[2:], rng)
        work = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)

        def per_item(v):
            return xp.asarray(v, dtype=work)[:, None, None, None]

        mix = per_item(m[:, 0]) * x
        for i in range(self.mixture_width):
            aug = x.copy()
            for s in range(op.shape[2]):
                for k, name in enumerate(names):
                    sel = np.flatnonzero((op[:, i, s] == k) & (s < depth[:, i]))
                    _run_op(name, aug, None, mag[sel, i, s], sel, self.interpolation, self.fill,
                            IGNORE_INDEX)  # fmt: skip
            mix = mix + per_item(m[:, 1] * w[:, i]) * aug
        return mix.astype(x.dtype), mask
