"""torchvision.ops.misc's building blocks: FrozenBatchNorm2d, Conv2d/Conv3dNormActivation,
SqueezeExcitation, MLP and Permute, with torchvision's arguments, defaults and submodule names
(so torchvision's state_dict keys load unchanged). Each is a composition of existing layers and
differentiable ops; none has a gradient of its own.

    block = Conv2dNormActivation(3, 16, stride=2)          # conv (bias=False) + BN + ReLU
    block.state_dict().keys()  # '0.weight', '1.weight', '1.bias', '1.running_mean', ...
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from ..layers.activation import ReLU, Sigmoid
from ..layers.container import Sequential
from ..layers.conv import Conv2d, Conv3d
from ..layers.dropout import Dropout
from ..layers.linear import Linear
from ..layers.module import Module
from ..layers.norm import BatchNorm2d, BatchNorm3d
from ..layers.pool import AdaptiveAvgPool2d
from ..tensor import ones, zeros

_INTS = (int, np.integer)


class FrozenBatchNorm2d(Module):
    """BatchNorm2d with fixed statistics and affine parameters (detection backbones).

    Args:
        num_features (int): C.
        eps (float): added to the variance. Default: 1e-5.

    Buffers (not parameters, so not trained): weight = 1, bias = 0, running_mean = 0,
    running_var = 1, all (C,). A BatchNorm's num_batches_tracked in a loaded state dict is
    dropped, as torchvision does, so BatchNorm checkpoints load into a frozen copy.

    Shape: (N, C, H, W) -> same, y = x * scale + shift with scale = weight / sqrt(running_var +
    eps) and shift = bias - running_mean * scale (torchvision's formula: BatchNorm2d in eval mode).
    """

    _dropped_on_load = ("num_batches_tracked",)

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        if not isinstance(num_features, _INTS) or isinstance(num_features, bool):
            raise TypeError(f"FrozenBatchNorm2d: num_features must be an int, got {num_features!r}")
        if num_features < 1:
            raise ValueError(
                f"FrozenBatchNorm2d: num_features must be positive, got {num_features}"
            )
        self.eps = eps
        self.register_buffer("weight", ones(num_features))
        self.register_buffer("bias", zeros(num_features))
        self.register_buffer("running_mean", zeros(num_features))
        self.register_buffer("running_var", ones(num_features))

    def forward(self, x):
        c = self.weight.shape[0]
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(
                f"FrozenBatchNorm2d({c}): expected (N, {c}, H, W) input, got shape {tuple(x.shape)}"
            )
        w, b, mean, var = (
            t.reshape(1, -1, 1, 1)
            for t in (self.weight, self.bias, self.running_mean, self.running_var)
        )
        scale = w * (var + self.eps).rsqrt()
        shift = b - mean * scale
        return x * scale + shift

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


def _ntuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, Sequence) else (v,) * n


class ConvNormActivation(Sequential):
    """conv -> norm -> activation as a Sequential with children '0', '1', '2' (those present).

    The shared body of Conv2dNormActivation and Conv3dNormActivation (use those; built directly
    it warns, as torchvision's does); `conv_layer` picks the convolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size=3,
        stride=1,
        padding=None,
        groups: int = 1,
        norm_layer=BatchNorm2d,
        activation_layer=ReLU,
        dilation=1,
        inplace: bool | None = True,
        bias: bool | None = None,
        conv_layer=Conv2d,
    ):
        if padding is None:  # 'same' size for odd kernels at stride 1
            if isinstance(kernel_size, _INTS) and isinstance(dilation, _INTS):
                padding = (kernel_size - 1) // 2 * dilation
            else:
                n = len(kernel_size) if isinstance(kernel_size, Sequence) else len(dilation)
                kernel_size, dilation = _ntuple(kernel_size, n), _ntuple(dilation, n)
                padding = tuple((k - 1) // 2 * d for k, d in zip(kernel_size, dilation))
        if bias is None:  # a norm layer's shift makes the conv's bias redundant
            bias = norm_layer is None
        layers = [
            conv_layer(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=groups,
                bias=bias,
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer(**({} if inplace is None else {"inplace": inplace})))
        super().__init__(*layers)
        self.out_channels = out_channels
        if type(self) is ConvNormActivation:
            warnings.warn(
                "Don't use ConvNormActivation directly, please use Conv2dNormActivation and "
                "Conv3dNormActivation instead.",
                FutureWarning,
                stacklevel=2,
            )


class Conv2dNormActivation(ConvNormActivation):
    """Conv2d -> norm -> activation, torchvision's block of MobileNet, EfficientNet, ConvNeXt's
    stems, ...: a Sequential with children '0' (Conv2d), '1' (norm), '2' (activation).

    Args:
        in_channels (int), out_channels (int): channels of input and output.
        kernel_size (int or tuple): Default: 3.
        stride (int or tuple): Default: 1.
        padding (int, tuple or None): None gives (kernel_size - 1) // 2 * dilation per dim (the
            input's size at stride 1, for odd kernels). Default: None.
        groups (int): Default: 1.
        norm_layer (callable or None): called with out_channels; None for no norm layer (the
            children are then renumbered). Default: BatchNorm2d.
        activation_layer (callable or None): called with inplace=inplace (with no argument when
            inplace is None); None for no activation. Default: ReLU.
        dilation (int or tuple): Default: 1.
        inplace (bool or None): Default: True.
        bias (bool or None): None gives a bias only when there is no norm layer. Default: None.

    Attribute: out_channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size=3,
        stride=1,
        padding=None,
        groups: int = 1,
        norm_layer=BatchNorm2d,
        activation_layer=ReLU,
        dilation=1,
        inplace: bool | None = True,
        bias: bool | None = None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            groups,
            norm_layer,
            activation_layer,
            dilation,
            inplace,
            bias,
            Conv2d,
        )


class Conv3dNormActivation(ConvNormActivation):
    """Conv3d -> norm -> activation (video models' block); arguments as Conv2dNormActivation,
    with norm_layer=BatchNorm3d by default and ints or triples for the sizes."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size=3,
        stride=1,
        padding=None,
        groups: int = 1,
        norm_layer=BatchNorm3d,
        activation_layer=ReLU,
        dilation=1,
        inplace: bool | None = True,
        bias: bool | None = None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            groups,
            norm_layer,
            activation_layer,
            dilation,
            inplace,
            bias,
            Conv3d,
        )


class SqueezeExcitation(Module):
    """Squeeze-and-Excitation (Hu et al., 2018; torchvision's, eq. 3 of the paper): each channel
    of the input scaled by a gate computed from the input's global average.

        scale = scale_activation(fc2(activation(fc1(avgpool(x)))))    (N, C, 1, 1)
        y = scale * x

    Args:
        input_channels (int): C.
        squeeze_channels (int): width of the bottleneck.
        activation (callable): builds the activation after fc1. Default: ReLU.
        scale_activation (callable): builds the gate's activation. Default: Sigmoid.

    Submodules: avgpool (AdaptiveAvgPool2d(1)), fc1 and fc2 (1x1 Conv2d with bias), activation,
    scale_activation. Shape: (N, C, H, W) -> same.
    """

    def __init__(
        self, input_channels: int, squeeze_channels: int, activation=ReLU, scale_activation=Sigmoid
    ):
        super().__init__()
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc1 = Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def _scale(self, input):
        scale = self.fc1(self.avgpool(input))
        return self.scale_activation(self.fc2(self.activation(scale)))

    def forward(self, input):
        return self._scale(input) * input


class MLP(Sequential):
    """Multi-layer perceptron as torchvision's: for each hidden width but the last, Linear ->
    norm (if any) -> activation (if any) -> Dropout; then Linear -> Dropout to the last width.

    Args:
        in_channels (int): input features.
        hidden_channels (list of int): widths of the successive Linear layers; the last is the
            output's.
        norm_layer (callable or None): built with each hidden width. Default: None.
        activation_layer (callable or None): Default: ReLU.
        inplace (bool or None): passed to the activation and Dropout layers when not None.
            Default: None.
        bias (bool): Linear layers with bias. Default: True.
        dropout (float): probability of every Dropout layer. Default: 0.0.

    Children are numbered in that order: with no norm layer, '0' Linear, '1' ReLU, '2' Dropout,
    '3' Linear, ... Shape: (*, in_channels) -> (*, hidden_channels[-1]).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels,
        norm_layer=None,
        activation_layer=ReLU,
        inplace: bool | None = None,
        bias: bool = True,
        dropout: float = 0.0,
    ):
        if (
            not isinstance(hidden_channels, Sequence)
            or not hidden_channels
            or not all(isinstance(h, _INTS) and h > 0 for h in hidden_channels)
        ):
            raise ValueError(
                f"MLP: hidden_channels must be a non-empty list of positive ints, got "
                f"{hidden_channels!r}"
            )
        params = {} if inplace is None else {"inplace": inplace}
        layers, in_dim = [], in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers.append(Linear(in_dim, hidden_dim, bias=bias))
            if norm_layer is not None:
                layers.append(norm_layer(hidden_dim))
            if activation_layer is not None:
                layers.append(activation_layer(**params))
            layers.append(Dropout(dropout, **params))
            in_dim = hidden_dim
        layers.append(Linear(in_dim, hidden_channels[-1], bias=bias))
        layers.append(Dropout(dropout, **params))
        super().__init__(*layers)


class Permute(Module):
    """Permute the input's dims (`input.permute(dims)`), e.g. NCHW -> NHWC in ConvNeXt and Swin.

    Args:
        dims (list of int): the new order of the dims.
    """

    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)
