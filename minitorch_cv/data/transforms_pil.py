"""PIL images in the transforms, as torchvision's transforms take them: `ToTensor`,
`PILToTensor` and the two conversions a Transform uses on a PIL image.

A Transform given a PIL image works on its values as a (1, C, H, W) array and returns a PIL
image again (torchvision's PIL in, PIL out), so a dataset's per-item pipeline reads as it does
in torchvision:

    T.Compose([T.Resize(72), T.CenterCrop(64), T.ToTensor(), T.Normalize(mean, std)])

`ToTensor` ends the PIL part: it gives a float32 (C, H, W) NumPy array in [0, 1], the item
form of every dataset of this package, which the DataLoader stacks into a Tensor batch.
Pillow is imported only when an image is built.
"""

from __future__ import annotations

import sys

import numpy as np

from minitorch_cv.backend import _is_cupy_array

# the modes whose values NumPy reads and Image.fromarray writes back as the same mode
_MODES = ("L", "LA", "RGB", "RGBA", "I", "I;16", "F")


def is_pil_image(x) -> bool:
    """Whether `x` is a PIL image (False without importing Pillow when it is not loaded)."""
    image = sys.modules.get("PIL.Image")
    return image is not None and isinstance(x, image.Image)


def image_to_array(img, owner: str) -> np.ndarray:
    """The values of a PIL image as a (C, H, W) array of its mode's dtype (uint8 for 'RGB')."""
    if img.mode not in _MODES:
        raise TypeError(
            f"{owner}: PIL images of mode {img.mode!r} are not supported (modes: "
            f"{', '.join(_MODES)}); convert it first, e.g. img.convert('RGB')"
        )
    a = np.asarray(img)
    return np.ascontiguousarray(a.transpose(2, 0, 1)) if a.ndim == 3 else a[None]


def array_to_image(a, dtype, mode: str, owner: str):
    """A (C, H, W) array back into a PIL image, when it still has the `dtype` of the image of
    mode `mode` it came from and 1 to 4 channels."""
    from PIL import Image

    if a.dtype != dtype or a.ndim != 3 or a.shape[0] not in (1, 2, 3, 4):
        raise TypeError(
            f"{owner}: on a PIL image of mode {mode!r} it gives {a.dtype} values of shape "
            f"{tuple(a.shape)}, which a PIL image cannot hold; put T.ToTensor() before it to "
            "work on a float32 (C, H, W) array"
        )
    return Image.fromarray(np.ascontiguousarray(a[0] if len(a) == 1 else a.transpose(1, 2, 0)))


def to_tensor(pic):
    """torchvision's `to_tensor`: a PIL image, or an (H, W, C) / (H, W) array (a picture, as
    torchvision reads NumPy input), to a (C, H, W) array. uint8 values become float32 in
    [0, 1] (x / 255 in float32, as torchvision: modes 'L', 'RGB', 'RGBA', 'P' (the palette
    indices), '1' (0 or 1)); other dtypes are kept unscaled ('F' stays float32, 'I' int32), as
    torchvision; one difference: 16-bit 'I;16' stays uint16, where torchvision's int16 turns
    values above 32767 negative.

    Returns a NumPy (or CuPy) array, not a Tensor: the package's per-item form, which the
    DataLoader stacks into a Tensor batch.
    """
    if is_pil_image(pic):
        a = np.asarray(pic)
        if pic.mode == "1":  # torchvision: a bilevel image is 0 / 255 before the scaling
            a = a.astype(np.uint8) * np.uint8(255)
    elif isinstance(pic, np.ndarray) or _is_cupy_array(pic):
        if pic.ndim not in (2, 3):
            raise ValueError(
                f"ToTensor: pic should be 2/3 dimensional (H, W[, C]), got {pic.ndim} "
                f"dimensions, shape {tuple(pic.shape)}"
            )
        a = pic
    else:
        raise TypeError(f"ToTensor: pic should be a PIL Image or an ndarray, got {type(pic)}")
    a = a[:, :, None] if a.ndim == 2 else a
    out = a.transpose(2, 0, 1)
    if out.dtype == np.uint8:  # float32 before the division (NumPy 1.x would pick float16),
        return out.astype(np.float32, order="C") / np.float32(255)  # C-contiguous as torch's
    return out.copy()


def pil_to_tensor(pic):
    """torchvision's `pil_to_tensor`: a PIL image to a (C, H, W) array of its own dtype (uint8
    for 'RGB' and 'L'), values unscaled."""
    if not is_pil_image(pic):
        raise TypeError(f"PILToTensor: pic should be a PIL Image, got {type(pic)}")
    a = np.asarray(pic)
    return np.ascontiguousarray((a[:, :, None] if a.ndim == 2 else a).transpose(2, 0, 1))


class ToTensor:
    """A PIL image or an (H, W, C) array to a (C, H, W) array, uint8 scaled to float32 in
    [0, 1] (torchvision's ToTensor; see `to_tensor`). It takes one image, not a batch."""

    def __call__(self, pic):
        return to_tensor(pic)

    def __repr__(self) -> str:
        return "ToTensor()"


class PILToTensor:
    """A PIL image to a (C, H, W) array of its own dtype, unscaled (torchvision's
    PILToTensor; see `pil_to_tensor`)."""

    def __call__(self, pic):
        return pil_to_tensor(pic)

    def __repr__(self) -> str:
        return "PILToTensor()"
