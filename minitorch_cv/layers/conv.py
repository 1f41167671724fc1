"""Convolution layers: Conv1d, Conv2d, Conv3d and their transposes. The math is in
functional/conv.py (functional/conv_pool_1d.py runs 1-D convs as 2-D ones; functional/conv3d.py
has the 3-D ones)."""

from __future__ import annotations

import math

from .. import functional as F
from .. import init
from ..init import _calculate_fan_in_and_fan_out
from ..kernels.shapes import conv_out, conv_transpose_out, pair
from ..tensor import empty
from .module import Module, Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


class _ConvNd(Module):
    _n = 2  # spatial dims

    def __init__(
        self,
        name,
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding,
        dilation,
        groups,
        bias,
        padding_mode,
        transposed,
        device,
        dtype,
    ):
        super().__init__()
        for arg, v in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name}: {arg} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: groups={groups} must divide in_channels={in_channels} "
                f"and out_channels={out_channels}"
            )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        n = self._n
        self.kernel_size = pair(kernel_size, "kernel_size", n)
        self.stride = pair(stride, "stride", n)
        self.dilation = pair(dilation, "dilation", n)
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding", n)
        self.padding_mode = padding_mode
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(
                f"{name}: kernel_size, stride and dilation must be >= 1, got {self.kernel_size}, "
                f"{self.stride}, {self.dilation}"
            )
        if transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)), for both."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = _calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def _error_label(self) -> str:
        k = self.kernel_size[0] if len(set(self.kernel_size)) == 1 else self.kernel_size
        return f"{type(self).__name__}({self.in_channels}->{self.out_channels}, k={k})"

    def _check_input(self, input) -> None:
        n, c, dims = self._n, self.in_channels, _SPATIAL[self._n]
        if input.ndim not in (n + 1, n + 2):
            raise ValueError(
                f"{self._error_label()}: expected {n + 2}-D input (N, {c}, {dims}) or "
                f"unbatched {n + 1}-D ({c}, {dims}), got shape {tuple(input.shape)}"
            )
        if input.shape[-n - 1] != self.in_channels:
            raise ValueError(
                f"{self._error_label()}: expected input with {self.in_channels} channels, "
                f"got shape {tuple(input.shape)}"
            )

    def _check_padding_string(self, padding) -> None:
        name = type(self).__name__
        if isinstance(self.padding, str):
            if self.padding not in ("same", "valid"):
                raise ValueError(
                    f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}"
                )
            if self.padding == "same" and self.stride != (1,) * self._n:
                raise ValueError(
                    f"{name}: padding='same' is not supported for strided convolutions"
                )

    def _conv(self, input, conv):
        """`conv` (F.conv1d / conv2d / conv3d) of the input, with padding_mode's padding first."""
        self._check_input(input)
        n = self._n
        # checked before padding_mode's pad, so the message shows the layer's input and padding
        # ('same' always fits)
        if self.padding != "same":
            pads = (0,) * n if self.padding == "valid" else self.padding
            out = [
                conv_out(*a)
                for a in zip(input.shape[-n:], self.kernel_size, (1,) * n, pads, self.dilation)
            ]
            if min(out) < 1:
                raise ValueError(
                    f"{self._error_label()}: kernel {self.kernel_size} (dilation "
                    f"{self.dilation}) is larger than the padded input: got shape "
                    f"{tuple(input.shape)}, padding {pads}"
                )
        if self.padding_mode != "zeros" and self.padding not in ("valid", (0,) * n):
            same = self.padding == "same"
            pads = []  # F.pad's order: last dim first
            for i in reversed(range(n)):
                d, k = self.dilation[i], self.kernel_size[i]
                total = d * (k - 1) if same else 2 * self.padding[i]
                pads += [total // 2, total - total // 2]
            input = F.pad(input, pads, mode=self.padding_mode)
            return conv(input, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv(
            input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        zeros, ones = (0,) * self._n, (1,) * self._n
        if self.padding != zeros:
            s += f", padding={self.padding}"  # torch prints padding=same, unquoted
        if self.dilation != ones:
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", zeros) != zeros:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _ConvForwardNd(_ConvNd):
    """Convolutions of any spatial rank: PyTorch's constructor, then one call of the functional
    op `_functional` (after padding_mode's padding); subclasses give `_n` and `_functional`."""

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        super().__init__(
            type(self).__name__,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            False,
            device,
            dtype,
        )
        self._check_padding_string(padding)

    def forward(self, input):
        return self._conv(input, self._functional)


class Conv2d(_ConvForwardNd):
    """2-D cross-correlation over NCHW input (what deep learning calls convolution).

    Args:
        in_channels (int), out_channels (int): channels of input and output.
        kernel_size (int or tuple): window size.
        stride (int or tuple): step of the window. Default: 1.
        padding (int, tuple, 'same' or 'valid'): implicit padding on both sides. Default: 0.
        dilation (int or tuple): spacing between kernel taps. Default: 1.
        groups (int): input and output channels split into this many independent groups. Default: 1.
        bias (bool): add a learnable bias. Default: True.
        padding_mode ('zeros', 'reflect', 'replicate', 'circular'). Default: 'zeros'.

    Shape:
        input (N, C_in, H, W) -> output (N, C_out, H_out, W_out) with
        H_out = floor((H + 2*padding - dilation*(kernel_size - 1) - 1) / stride + 1)
        (kernels.shapes.conv_out)

    Weights: weight (C_out, C_in/groups, KH, KW), bias (C_out,), U(+-1/sqrt(C_in/groups*KH*KW)).
    """

    _functional = staticmethod(F.conv2d)


class Conv1d(_ConvForwardNd):
    """1-D cross-correlation over (N, C, L) input (signals, sequences, rows of features).

    Args: as Conv2d, with int (or 1-tuple) kernel_size, stride, padding and dilation.

    Shape:
        (N, C_in, L) -> (N, C_out, L_out),
        L_out = floor((L + 2*padding - dilation*(kernel_size - 1) - 1) / stride + 1)

    Weights: weight (C_out, C_in/groups, K), bias (C_out,), U(+-1/sqrt(C_in/groups*K)).
    """

    _n = 1
    _functional = staticmethod(F.conv1d)


class Conv3d(_ConvForwardNd):
    """3-D cross-correlation over (N, C, D, H, W) input (volumes, video clips).

    Args: as Conv2d, with ints or triples (padding_mode 'zeros', 'reflect', 'replicate' or
    'circular').

    Shape:
        (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out),
        D_out = floor((D + 2*padding - dilation*(kernel_size - 1) - 1) / stride + 1)

    Weights: weight (C_out, C_in/groups, KD, KH, KW), bias (C_out,),
    U(+-1/sqrt(C_in/groups*KD*KH*KW)).
    """

    _n = 3
    _functional = staticmethod(F.conv3d)


class _ConvTransposeNd(_ConvNd):
    """Transposed convolutions of any spatial rank: the shared constructor, output_size and
    forward; subclasses give `_n` and the functional op `_functional`."""

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        padding_mode="zeros",
        device=None,
        dtype=None,
    ):
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(
                f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}"
            )
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple, got {padding!r}")
        super().__init__(
            name,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            True,
            device,
            dtype,
        )
        self.output_padding = pair(output_padding, "output_padding", self._n)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if not 0 <= op < max(s, d):
                raise ValueError(
                    f"{name}: output_padding {self.output_padding} must be smaller than "
                    f"stride {self.stride} or dilation {self.dilation}"
                )

    def forward(self, input, output_size=None):
        self._check_input(input)
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = self._output_padding_for(input, output_size)
        return self._functional(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )

    def _output_padding_for(self, input, output_size):
        """The output_padding that makes the output exactly `output_size` (as PyTorch's forward)."""
        size, n = tuple(output_size), self._n
        if len(size) not in (n, input.ndim):  # (OH, OW), or the full output shape
            raise ValueError(
                f"{self._error_label()}: for {input.ndim}-D input, output_size must have {n} or "
                f"{input.ndim} elements, got {size!r}"
            )
        size = size[-n:]
        pads = []
        for i, want in enumerate(size):
            k, s, p, d = self.kernel_size[i], self.stride[i], self.padding[i], self.dilation[i]
            smallest = conv_transpose_out(input.shape[-n + i], k, s, p, 0, d)
            if not smallest <= want < smallest + s:  # torch's range: less than a stride more
                raise ValueError(
                    f"{self._error_label()}: output size {tuple(size)} is not reachable from input "
                    f"{tuple(input.shape)}; valid sizes for dim {i} are "
                    f"{smallest}..{smallest + s - 1}"
                )
            pads.append(want - smallest)
        return tuple(pads)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution: the gradient of Conv2d with respect to its input (upsamples).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as Conv2d.
        output_padding (int or tuple): extra size added to one side of the output, to choose
            among the input sizes that a strided Conv2d maps to the same output size. Default: 0.

    Shape:
        input (N, C_in, H, W) -> output (N, C_out, H_out, W_out) with
        H_out = (H - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1

    Weights: weight (C_in, C_out/groups, KH, KW), bias (C_out,).
    """

    _functional = staticmethod(F.conv_transpose2d)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C, L) input (the gradient of Conv1d with respect to
    its input; upsamples by `stride`).

    Args: as ConvTranspose2d, with ints (or 1-tuples).

    Shape: (N, C_in, L) -> (N, C_out, L_out),
        L_out = (L - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1

    Weights: weight (C_in, C_out/groups, K), bias (C_out,).
    """

    _n = 1
    _functional = staticmethod(F.conv_transpose1d)


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over (N, C, D, H, W) input (the gradient of Conv3d with
    respect to its input; upsamples volumes, as in 3-D U-Nets).

    Args: as ConvTranspose2d, with ints or triples.

    Shape: (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out),
        D_out = (D - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1

    Weights: weight (C_in, C_out/groups, KD, KH, KW), bias (C_out,).
    """

    _n = 3
    _functional = staticmethod(F.conv_transpose3d)


class Unfold(Module):
    """Sliding windows as columns (im2col as a layer): (N, C, H, W) -> (N, C*KH*KW, L).

    Args: kernel_size, dilation=1, padding=0, stride=1, as Conv2d; L = OH*OW. Conv2d equals
    Unfold, then a matrix product with the weight viewed as (C_out, C*KH*KW), then a reshape.
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
            f"stride={self.stride}"
        )


class Fold(Module):
    """Columns summed back into an image (col2im as a layer), the adjoint of Unfold:
    (N, C*KH*KW, L) -> (N, C, *output_size); overlapping windows add up."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size, self.dilation = output_size, kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input):
        return F.fold(
            input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )
