"""Pooling, unpooling and resampling layers. The math is in functional/pool.py."""

from __future__ import annotations

from .. import functional as F
from ..kernels.shapes import pair
from .module import Module


class _MaxPoolNd(Module):
    """Max pooling's options and forward; subclasses give the functional op."""

    def __init__(
        self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False
    ):
        super().__init__()
        self.kernel_size, self.stride, self.padding = (
            kernel_size,
            stride if stride is not None else kernel_size,
            padding,
        )
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, input):
        return self._functional(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPoolNd):
    """Max over sliding windows.

    Args:
        kernel_size (int or tuple): window size.
        stride (int or tuple): window step. Default: kernel_size.
        padding (int or tuple): implicit -inf padding on both sides (at most half the kernel).
            Default: 0.
        dilation (int or tuple): spacing between window taps. Default: 1.
        return_indices (bool): also return the flat (h * W + w) argmax of each window
            (for MaxUnpool2d).
        ceil_mode (bool): round the output size up instead of down. Default: False.

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out),
        H_out = floor_or_ceil((H + 2*padding - dilation*(kernel_size - 1) - 1) / stride + 1)
    """

    _functional = staticmethod(F.max_pool2d)


class _MaxUnpoolNd(Module):
    """Unpooling's options (stored as n-tuples, as torch) and forward; subclasses give `_n` and
    the functional op."""

    _n = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", self._n)
        self.stride = pair(stride if stride is not None else kernel_size, "stride", self._n)
        self.padding = pair(padding, "padding", self._n)

    def forward(self, input, indices, output_size=None):
        return self._functional(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of MaxPool2d: values go back to where their indices point, zeros elsewhere.

    Args: kernel_size, stride (default kernel_size), padding: those of the MaxPool2d being inverted.
    forward(input, indices, output_size=None): output_size picks one of the sizes that pool to
    the input's size.
    """

    _functional = staticmethod(F.max_unpool2d)


class AvgPool2d(Module):
    """Mean over sliding windows.

    Args:
        kernel_size, stride (default kernel_size), padding, ceil_mode: as MaxPool2d (zero padding).
        count_include_pad (bool): count padded zeros in the divisor. Default: True.
        divisor_override (int or None): divide by this instead of the window size.
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=None,
    ):
        super().__init__()
        self.kernel_size, self.stride, self.padding = (
            kernel_size,
            stride if stride is not None else kernel_size,
            padding,
        )
        self.ceil_mode, self.count_include_pad, self.divisor_override = (
            ceil_mode,
            count_include_pad,
            divisor_override,
        )

    def forward(self, input):
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptiveAvgPoolNd(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return self._functional(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Mean pooling to a fixed output size.

    Bins as PyTorch: start = floor(i*H/out), end = ceil((i+1)*H/out).
    """

    _functional = staticmethod(F.adaptive_avg_pool2d)


class _AdaptiveMaxPoolNd(Module):
    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input):
        return self._functional(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed output size; optionally also returns the argmax indices."""

    _functional = staticmethod(F.adaptive_max_pool2d)


# --------------------------------------------------------------------------- 3-D (N, C, D, H, W)


class MaxPool3d(_MaxPoolNd):
    """Max over sliding 3-D windows of (N, C, D, H, W) input; options as MaxPool2d, with ints or
    triples. With return_indices, the indices are flat d*H*W + h*W + w positions."""

    _functional = staticmethod(F.max_pool3d)


class AvgPool3d(Module):
    """Mean over sliding 3-D windows of (N, C, D, H, W) input.

    Args: kernel_size, stride (default kernel_size), padding, ceil_mode, count_include_pad,
    divisor_override: as AvgPool2d, with ints or triples.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):  # fmt: skip
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Mean pooling of (N, C, D, H, W) to a fixed size (PyTorch's bins; None keeps a dim)."""

    _functional = staticmethod(F.adaptive_avg_pool3d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, D, H, W) to a fixed size (PyTorch's bins; None keeps a dim);
    optionally also the flat d*H*W + h*W + w argmax of each bin."""

    _functional = staticmethod(F.adaptive_max_pool3d)


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of MaxPool3d: values back at their flat d*H*W + h*W + w indices, zeros
    elsewhere. Args: kernel_size, stride (default kernel_size), padding of the MaxPool3d."""

    _n = 3
    _functional = staticmethod(F.max_unpool3d)


# --------------------------------------------------------------------------- 1-D (N, C, L)


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows along L of (N, C, L) input; options as MaxPool2d, with ints.
    With return_indices, the indices are positions along L (for MaxUnpool1d)."""

    _functional = staticmethod(F.max_pool1d)


class AvgPool1d(Module):
    """Mean over sliding windows along L of (N, C, L) input.

    Args: kernel_size, stride (default kernel_size), padding, ceil_mode, count_include_pad: as
    AvgPool2d, with ints.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):  # fmt: skip
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size", 1)  # 1-tuples, as torch stores them
        self.stride = pair(stride if stride is not None else kernel_size, "stride", 1)
        self.padding = pair(padding, "padding", 1)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of MaxPool1d: values back at their indices along L, zeros elsewhere."""

    _n = 1
    _functional = staticmethod(F.max_unpool1d)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Mean pooling of (N, C, L) to a fixed length (PyTorch's bins)."""

    _functional = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, L) to a fixed length; optionally also the argmax positions."""

    _functional = staticmethod(F.adaptive_max_pool1d)


# --------------------------------------------------------------------------- power-average


class _LPPoolNd(Module):
    """Power-average pooling's options and forward; subclasses give the functional op."""

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input):
        return self._functional(
            input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    """(sum of x^p over each window along L)^(1/p) of (N, C, L) input.

    Args: norm_type (p; inf gives max |x|), kernel_size, stride (default kernel_size),
    ceil_mode. No padding, as PyTorch."""

    _functional = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """(sum of x^p over each window)^(1/p) of (N, C, H, W) input: p = 1 is sum pooling, p = 2
    the windows' Euclidean norms, p = inf max pooling of |x|.

    Args: norm_type, kernel_size (int or pair), stride (default kernel_size), ceil_mode."""

    _functional = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """(sum of x^p over each 3-D window)^(1/p) of (N, C, D, H, W) input.

    Args: norm_type, kernel_size (int or triple), stride (default kernel_size), ceil_mode."""

    _functional = staticmethod(F.lp_pool3d)


class Upsample(Module):
    """Resize by `size` or `scale_factor` with F.interpolate: mode 'nearest' (default),
    'nearest-exact', 'bilinear', 'bicubic' (align_corners as PyTorch) or 'area'."""

    def __init__(
        self, size=None, scale_factor=None, mode="nearest", align_corners=None,
        recompute_scale_factor=None,
    ):  # fmt: skip
        super().__init__()
        self.recompute_scale_factor = recompute_scale_factor
        if isinstance(scale_factor, tuple):  # floats, as torch stores (and prints) them
            scale_factor = tuple(float(f) for f in scale_factor)
        else:
            scale_factor = float(scale_factor) if scale_factor else None
        self.size, self.scale_factor, self.mode, self.align_corners = (
            size,
            scale_factor,
            mode,
            align_corners,
        )

    def forward(self, input):
        return F.interpolate(
            input, self.size, self.scale_factor, self.mode, self.align_corners,
            self.recompute_scale_factor,
        )  # fmt: skip

    def extra_repr(self) -> str:
        # as torch: the scale factor when there is one, else the size
        s = (
            f"scale_factor={self.scale_factor}"
            if self.scale_factor is not None
            else f"size={self.size}"
        )
        return s + f", mode='{self.mode}'"


class UpsamplingNearest2d(Upsample):
    """Upsample with mode='nearest' (PyTorch's older name for it)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Upsample with mode='bilinear' and align_corners=True (so PyTorch defines this layer)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class _FractionalMaxPoolNd(Module):
    """Fractional max pooling's options (PyTorch's checks and attributes: kernel_size, and
    output_size or output_ratio, as n-tuples) and forward; subclasses give `_n` and the
    functional op. Given `_random_samples` are a buffer (in the state_dict, as torch's)."""

    _n = 2

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                 _random_samples=None):  # fmt: skip
        super().__init__()
        name, n = type(self).__name__, self._n
        self.kernel_size = pair(kernel_size, f"{name}: kernel_size", n)  # ints (numpy's too)
        if min(self.kernel_size) < 1:
            raise ValueError(f"{name}: kernel_size must be greater than 0, but got {kernel_size}")
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        if output_size is None and output_ratio is None:
            raise ValueError(
                f"{name} requires specifying either an output size, or a pooling ratio"
            )
        if output_size is not None and output_ratio is not None:
            raise ValueError(f"{name}: only one of output_size and output_ratio may be specified")
        self.output_size = None if output_size is None else pair(output_size, "output_size", n)
        self.output_ratio = None
        if output_ratio is not None:
            ratio = output_ratio if isinstance(output_ratio, (tuple, list)) else (output_ratio,)
            ratio = tuple(ratio) * (n if len(ratio) == 1 else 1)
            if len(ratio) != n or not all(0 < r < 1 for r in ratio):
                raise ValueError(
                    f"{name}: output_ratio must be between 0 and 1 (got {output_ratio})"
                )
            self.output_ratio = ratio

    def forward(self, input):
        return self._functional(
            input,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            _random_samples=self._random_samples,
        )


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Max over kH x kW windows at pseudo-random fractional steps (Graham, 2014), so that the
    output is any size, e.g. H / sqrt(2).

    Args:
        kernel_size (int or tuple): window size.
        output_size (int or tuple): (OH, OW), with OH + kH - 1 <= H and OW + kW - 1 <= W.
        output_ratio (float or tuple): in (0, 1): output size int(H * ratio), int(W * ratio).
            Give exactly one of output_size and output_ratio.
        return_indices (bool): also return the flat h*W + w argmax (for MaxUnpool2d).
        _random_samples: (N, C, 2) samples in [0, 1) to use for every call; None draws new
            ones on each call from minitorch_cv's generator.

    Shape: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW).
    """

    _n = 2
    _functional = staticmethod(F.fractional_max_pool2d)


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Max over kT x kH x kW windows at pseudo-random fractional steps (Graham, 2014).

    Args: as FractionalMaxPool2d, with triples; the output size needs OT + kT - 1 < T (strictly,
    as PyTorch's 3-D check), and so for H and W; _random_samples (N, C, 3) for T, H, W.

    Shape: (N, C, T, H, W) or (C, T, H, W) -> (N, C, OT, OH, OW) or (C, OT, OH, OW).
    """

    _n = 3
    _functional = staticmethod(F.fractional_max_pool3d)
