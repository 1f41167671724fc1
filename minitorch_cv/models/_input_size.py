"""Input checks for the ImageNet classifiers: the channel count, and the smallest image the
network takes, worked out from the layers that shrink it.

A model lists, in forward order, the dotted paths of the convolutions and pools on its trunk
whose output can be smaller than their input (parallel branches that keep the size, such as an
Inception block's, are left out); the first, when it is a Conv2d, is the stem. Walking an
input's height and width through them with each layer's own kernel, stride, padding, dilation
and ceil_mode (the formulas of kernels.shapes) finds the first layer that would leave nothing,
before any array is touched:

    DenseNet: input of shape (2, 3, 28, 28) is too small: layer 'features.transition3.pool'
    (AvgPool2d) would get 1x1 and give 0x0; the smallest input is 29x29

The layers are looked up at every call, so the torchvision idioms of replacing one keep
working: a new stem conv (`model.features.conv0 = Conv2d(1, 64, 7, 2, 3, bias=False)` for
grey images) sets the channel count expected, and a listed layer replaced by another kind
(`model.features.pool0 = Identity()`) ends the walk there: the sizes after it are left to the
layers' own checks.
"""

from __future__ import annotations

from ..kernels.shapes import conv_out, pair, pool_out, resolve_padding
from ..layers.conv import Conv2d
from ..layers.pool import AvgPool2d, MaxPool2d


def _listed(model, path: str):
    """The module now at `path`, or None when the model no longer has one there."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None


def _out_size(module, size: int, axis: int) -> int | None:
    """The output size along `axis` (0: H, 1: W) of a Conv2d, MaxPool2d or AvgPool2d; None for
    another kind of module (its output size is not known here)."""
    if isinstance(module, Conv2d):
        pads = resolve_padding(module.padding, module.kernel_size, module.stride, module.dilation)
        k, s, d = module.kernel_size[axis], module.stride[axis], module.dilation[axis]
        return conv_out(size, k, s, pads[axis], d)
    if isinstance(module, (MaxPool2d, AvgPool2d)):
        k, s, p = (pair(getattr(module, a))[axis] for a in ("kernel_size", "stride", "padding"))
        d = pair(module.dilation)[axis] if isinstance(module, MaxPool2d) else 1
        return pool_out(size, k, s, p, d, module.ceil_mode)
    return None


def first_empty_layer(model, height: int, width: int):
    """(path, module, (h, w) in, (h, w) out) of the first shrinking layer of `model` whose output
    would be empty for an input of height x width, or None when every layer whose size is known
    has an output."""
    h, w = height, width
    for path in model._shrinking_layers:
        module = _listed(model, path)
        oh, ow = _out_size(module, h, 0), _out_size(module, w, 1)
        if oh is None:  # removed, or replaced by another kind of layer
            return None
        if oh < 1 or ow < 1:
            return path, module, (h, w), (oh, ow)
        h, w = oh, ow
    return None


def smallest_input(model, limit: int = 4096) -> int:
    """The smallest side s for which an s x s image passes every shrinking layer of `model`
    (torchvision documents it as each weight's `min_size`)."""
    for side in range(1, limit + 1):
        if first_empty_layer(model, side, side) is None:
            return side
    raise ValueError(f"{type(model).__name__}: no input up to {limit}x{limit} fits")


def expected_channels(model, in_channels: int) -> int | None:
    """The channels the model takes now: its stem conv's in_channels (the first listed layer,
    when it is a Conv2d); `in_channels` when it lists no stem conv; None (left to the layers'
    own checks) when the stem was replaced by another kind of module."""
    layers = model._shrinking_layers
    stem = _listed(model, layers[0]) if layers else None
    if isinstance(stem, Conv2d):
        return stem.in_channels
    if not layers or isinstance(stem, (MaxPool2d, AvgPool2d)):  # no stem conv listed
        return in_channels
    return None


def check_input(model, x, in_channels: int) -> None:
    """ValueError naming the model unless `x` is (N, C, H, W), C the channels the model takes
    (expected_channels), with H and W large enough; for too small an image the message names
    the first layer that would be empty."""
    who, shape = type(model).__name__, tuple(x.shape)
    channels = expected_channels(model, in_channels)
    if len(shape) != 4 or shape[1] != (shape[1] if channels is None else channels):
        c = "C" if channels is None else channels
        raise ValueError(f"{who}: expected input (N, {c}, H, W), got shape {shape}")
    failed = first_empty_layer(model, *shape[2:])
    if failed is not None:
        path, module, (h, w), (oh, ow) = failed
        side = smallest_input(model)
        raise ValueError(
            f"{who}: input of shape {shape} is too small: layer '{path}' "
            f"({type(module).__name__}) would get {h}x{w} and give {oh}x{ow}; the smallest "
            f"input is {side}x{side}"
        )
