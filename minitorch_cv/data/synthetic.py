"""Datasets generated in code, deterministic from a seed: they need no files and no network.

* `Shapes`: one circle, square or triangle per image on a noisy, shaded background
  (classification, 3 classes).
* `ShapesSegmentation`: up to `max_shapes` shapes per image; mask 0 = background, 1..3 = the
  class of the shape covering the pixel (segmentation, 4 classes).
* `MnistOnCifar`: an MNIST digit pasted on a CIFAR-10 image; each pixel is labelled with the
  digit's class where the digit is and 10 + the CIFAR class elsewhere (20 classes).

Generation is vectorized: every random parameter of every image is drawn first, then the images
are rendered as whole-batch array expressions in chunks, so the result does not depend on the
chunk size.
"""

from __future__ import annotations

import numpy as np

from .dataset import ArrayDataset

SHAPE_CLASSES = ("circle", "square", "triangle")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
DEFAULT_COUNTS = {"train": 4000, "val": 1000, "test": 1000}
_CHUNK = 512

# Sizes relative to a circle of radius r, chosen so the three shapes cover about the same area
# and a classifier has to look at the outline rather than count pixels.
_SQUARE_HALF = np.sqrt(np.pi) / 2  # square of half-side 0.886 r: area pi r^2
_TRIANGLE_R = np.sqrt(np.pi / (3 * np.sqrt(3) / 4))  # circumradius 1.555 r: area pi r^2


def _split_rng(split: str, seed) -> np.random.Generator:
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLIT_CODES)}")
    # different splits of one seed are independent streams, so train and test never coincide
    return np.random.default_rng([*np.atleast_1d(seed).tolist(), SPLIT_CODES[split]])


def _shape_masks(kind, cy, cx, r, angle, size: int) -> np.ndarray:
    """Boolean (B, size, size) masks of shapes of `kind` (0 circle, 1 square, 2 triangle).

    All parameters are (B,) arrays: centre (cy, cx) in pixels, radius r, rotation angle.
    """
    grid = np.arange(size, dtype=np.float64)
    dy = grid[None, :, None] - cy[:, None, None]
    dx = grid[None, None, :] - cx[:, None, None]
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = c * dx + s * dy, -s * dx + c * dy  # coordinates in the shape's own frame
    r = r[:, None, None]
    circle = dx * dx + dy * dy <= r * r
    square = np.maximum(np.abs(u), np.abs(v)) <= _SQUARE_HALF * r
    # equilateral triangle of circumradius R: inside all three edges, each at distance R/2
    # from the centre along the outward normals at -90, 30 and 150 degrees
    big_r = _TRIANGLE_R * r
    edge = np.full(u.shape, -np.inf)
    for a in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6):
        edge = np.maximum(edge, np.cos(a) * u + np.sin(a) * v)
    triangle = edge <= big_r / 2
    kind = kind[:, None, None]
    return np.where(kind == 0, circle, np.where(kind == 1, square, triangle))


def _backgrounds(rng, n: int) -> dict:
    """Random parameters of n shaded backgrounds: a base colour and a linear ramp per channel."""
    return {
        "base": rng.uniform(0.0, 1.0, (n, 3)),
        "ramp": rng.uniform(-0.25, 0.25, (n, 3, 2)),
    }


def _render_background(p: dict, sl: slice, size: int) -> np.ndarray:
    t = np.linspace(-0.5, 0.5, size)
    ramp = p["ramp"][sl]
    return (
        p["base"][sl][:, :, None, None]
        + ramp[:, :, 0, None, None] * t[None, None, :, None]
        + ramp[:, :, 1, None, None] * t[None, None, None, :]
    )


def _contrasting_colours(rng, base: np.ndarray) -> np.ndarray:
    """Shape colours at least 0.4 away (mean absolute difference) from each background colour."""
    fg = rng.uniform(0.0, 1.0, base.shape)
    weak = np.abs(fg - base).mean(axis=-1, keepdims=True) < 0.4
    return np.where(weak, np.where(base > 0.5, base - 0.5, base + 0.5), fg)


def _shape_params(rng, n: int, size: int, r_range: tuple[float, float]) -> dict:
    r = rng.uniform(r_range[0], r_range[1], n) * size
    margin = _TRIANGLE_R * r  # the largest extent of any of the shapes
    return {
        "r": r,
        "cy": margin + rng.uniform(0, 1, n) * np.maximum(size - 1 - 2 * margin, 0),
        "cx": margin + rng.uniform(0, 1, n) * np.maximum(size - 1 - 2 * margin, 0),
        "angle": rng.uniform(0, 2 * np.pi, n),
    }


def make_shapes(
    n: int, image_size: int = 32, seed=0, noise: float = 0.08, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the `Shapes` classification data.

    Returns:
        images float32 (n, 3, S, S) in [0, 1], labels int64 (n,) in {0, 1, 2}, balanced.
    """
    rng = _split_rng(split, seed)
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES)).astype(np.int64)
    bg = _backgrounds(rng, n)
    fg = _contrasting_colours(rng, bg["base"])
    shape = _shape_params(rng, n, image_size, (0.15, 0.28))
    images = np.empty((n, 3, image_size, image_size), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        m = _shape_masks(
            labels[sl],
            shape["cy"][sl],
            shape["cx"][sl],
            shape["r"][sl],
            shape["angle"][sl],
            image_size,
        )[:, None]
        img = np.where(m, fg[sl][:, :, None, None], _render_background(bg, sl, image_size))
        images[sl] = img
    images += rng.normal(0.0, noise, images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    return images, labels


def make_shapes_segmentation(
    n: int,
    image_size: int = 32,
    seed=0,
    noise: float = 0.08,
    max_shapes: int = 3,
    split: str = "train",
):
    """Generate the `ShapesSegmentation` data: 1..max_shapes shapes per image, later ones on top.

    Returns:
        images float32 (n, 3, S, S) in [0, 1], masks int64 (n, S, S): 0 background,
        1 circle, 2 square, 3 triangle.
    """
    if max_shapes < 1:
        raise ValueError(f"make_shapes_segmentation: max_shapes must be >= 1, got {max_shapes}")
    rng = _split_rng(split, seed)
    bg = _backgrounds(rng, n)
    count = rng.integers(1, max_shapes + 1, n)
    layers = []
    for j in range(max_shapes):
        layer = _shape_params(rng, n, image_size, (0.1, 0.2))
        layer["kind"] = rng.integers(0, len(SHAPE_CLASSES), n)
        layer["colour"] = _contrasting_colours(rng, bg["base"])
        layer["present"] = j < count
        layers.append(layer)
    images = np.empty((n, 3, image_size, image_size), dtype=np.float32)
    masks = np.zeros((n, image_size, image_size), dtype=np.int64)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        img = _render_background(bg, sl, image_size)
        mask = masks[sl]
        for layer in layers:
            m = _shape_masks(
                layer["kind"][sl],
                layer["cy"][sl],
                layer["cx"][sl],
                layer["r"][sl],
                layer["angle"][sl],
                image_size,
            )
            m &= layer["present"][sl][:, None, None]
            img = np.where(m[:, None], layer["colour"][sl][:, :, None, None], img)
            mask[...] = np.where(m, layer["kind"][sl][:, None, None] + 1, mask)
        images[sl] = img
    images += rng.normal(0.0, noise, images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    return images, masks


def _count(n, split: str) -> int:
    n = DEFAULT_COUNTS.get(split, 1000) if n is None else int(n)
    if n < 1:
        raise ValueError(f"the number of samples must be >= 1, got {n}")
    return n


class Shapes(ArrayDataset):
    """Circles, squares and triangles on noisy shaded backgrounds: 3-class classification.

    Args:
        split: 'train', 'val' or 'test'; each split of one seed is a different draw.
        n: number of images (default 4000 for train, 1000 otherwise).
        image_size: side S of the square images (default 32).
        seed: int (or sequence of ints) fixing every draw (default 0).
        noise: standard deviation of the per-pixel Gaussian noise (default 0.08).

    Shape:
        images (n, 3, S, S) float32 in [0, 1]; targets (n,) int64 in {0, 1, 2}, balanced.
    """

    def __init__(
        self,
        split: str = "train",
        n: int | None = None,
        image_size: int = 32,
        seed=0,
        noise: float = 0.08,
    ):
        if image_size < 8:
            raise ValueError(f"Shapes: image_size must be >= 8, got {image_size}")
        images, labels = make_shapes(_count(n, split), image_size, seed, noise, split)
        super().__init__(images, labels, SHAPE_CLASSES, name="Shapes", split=split)


class ShapesSegmentation(ArrayDataset):
    """Images with 1..max_shapes shapes and per-pixel masks: 4-class segmentation.

    Args:
        split: 'train', 'val' or 'test'.
        n: number of images (default 4000 for train, 1000 otherwise).
        image_size: side S (default 32).
        seed: int or sequence of ints (default 0).
        noise: per-pixel noise standard deviation (default 0.08).
        max_shapes: most shapes per image (default 3).

    Shape:
        images (n, 3, S, S) float32 in [0, 1]; targets (n, S, S) int64: 0 background,
        1 circle, 2 square, 3 triangle.
    """

    def __init__(
        self,
        split: str = "train",
        n: int | None = None,
        image_size: int = 32,
        seed=0,
        noise: float = 0.08,
        max_shapes: int = 3,
    ):
        if image_size < 8:
            raise ValueError(f"ShapesSegmentation: image_size must be >= 8, got {image_size}")
        images, masks = make_shapes_segmentation(
            _count(n, split), image_size, seed, noise, max_shapes, split
        )
        super().__init__(
            images, masks, ("background", *SHAPE_CLASSES), name="ShapesSegmentation", split=split
        )


class MnistOnCifar(ArrayDataset):
    """MNIST digits pasted on CIFAR-10 images, 20-class segmentation (SEED_MODELS section B).

    Image i is CIFAR image i (cycling when n exceeds the CIFAR set) with a randomly chosen digit
    padded into the canvas at a random offset (0..4 each way for 28 on 32). Digit pixels are those
    with intensity > `threshold`; they overwrite the CIFAR pixel with the digit's intensity in all
    three channels and are labelled with the digit's class; all other pixels get 10 + the CIFAR
    class.

    Args:
        mnist: a dataset of (1, h, w) digit images and (N,) labels 0..9 (MNIST, or a Subset).
        cifar: a dataset of (3, H, W) images (H >= h, W >= w) and (N,) labels (CIFAR10).
        n: images to build (default len(cifar)).
        seed: int or sequence of ints fixing digit choice and offsets (default 0).
        threshold: intensity above which a digit pixel counts as digit (default 0.5).
        split: recorded for reprs (default None).

    Shape:
        images (n, 3, H, W) float32 in [0, 1]; targets (n, H, W) int64 in 0..19.
    """

    def __init__(
        self,
        mnist,
        cifar,
        n: int | None = None,
        seed=0,
        threshold: float = 0.5,
        split: str | None = None,
    ):
        n = len(cifar) if n is None else int(n)
        if n < 1 or len(mnist) == 0 or len(cifar) == 0:
            raise ValueError(
                f"MnistOnCifar: need n >= 1 and non-empty sources, got n={n}, "
                f"{len(mnist)} digits, {len(cifar)} backgrounds"
            )
        d_shape, b_shape = tuple(mnist[0][0].shape), tuple(cifar[0][0].shape)
        if len(d_shape) != 3 or d_shape[0] != 1 or len(b_shape) != 3 or b_shape[0] != 3:
            raise ValueError(
                f"MnistOnCifar: expected digits (1, h, w) and backgrounds (3, H, W), "
                f"got {d_shape} and {b_shape}"
            )
        (_, h, w), (_, hh, ww) = d_shape, b_shape
        if h > hh or w > ww:
            raise ValueError(f"MnistOnCifar: digits {d_shape} do not fit on backgrounds {b_shape}")
        rng = np.random.default_rng(seed)
        positions = np.arange(n)
        self.cifar_indices = positions % len(cifar)
        self.digit_indices = rng.permutation(len(mnist))[positions % len(mnist)]
        self.offsets = np.stack([rng.integers(0, hh - h + 1, n), rng.integers(0, ww - w + 1, n)], 1)
        n_digit = len(mnist.classes)

        images = np.empty((n, 3, hh, ww), dtype=np.float32)
        masks = np.empty((n, hh, ww), dtype=np.int64)
        rows_base, cols_base = np.arange(h), np.arange(w)
        for start in range(0, n, _CHUNK):
            sl = slice(start, start + _CHUNK)
            digits, digit_lbl = mnist[self.digit_indices[sl]]
            backs, back_lbl = cifar[self.cifar_indices[sl]]
            b = len(digits)
            canvas = np.zeros((b, hh, ww), dtype=np.float32)
            rows = self.offsets[sl, 0, None] + rows_base  # (b, h)
            cols = self.offsets[sl, 1, None] + cols_base  # (b, w)
            canvas[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]] = digits[:, 0]
            on = canvas > threshold
            images[sl] = np.where(on[:, None], canvas[:, None], backs)
            masks[sl] = np.where(
                on,
                np.asarray(digit_lbl)[:, None, None],
                n_digit + np.asarray(back_lbl)[:, None, None],
            )
        classes = [f"digit {c}" for c in mnist.classes] + [
            f"{c} (background)" for c in cifar.classes
        ]
        super().__init__(images, masks, classes, name="MnistOnCifar", split=split)
