"""Linear and Bilinear layers and the shape helpers Identity, Flatten, Unflatten, ..."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import init
from ..tensor import empty
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b.

    Args:
        in_features (int): size of each input's last dim.
        out_features (int): size of each output's last dim.
        bias (bool): learn an additive bias. Default: True.
        device, dtype: where and in which float type the weights live. Default: cpu, float32.

    Shape:
        input (*, in_features) -> output (*, out_features)

    Weights: weight (out_features, in_features) and bias (out_features,), both drawn from
    U(-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {v!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(
            empty(self.out_features, self.in_features, dtype=dtype, device=device)
        )
        if bias:
            self.bias = Parameter(empty(self.out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)) for both."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if input.ndim < 1 or input.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear({self.in_features}->{self.out_features}): expected input with last dim "
                f"{self.in_features}, got shape {tuple(input.shape)}"
            )
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"


class Bilinear(Module):
    """y = x1^T A x2 + b: one bilinear form A[o] (in1 x in2) per output feature.

    Args:
        in1_features (int): size of each first input's last dim (must be > 0).
        in2_features (int): size of each second input's last dim.
        out_features (int): size of each output's last dim.
        bias (bool): learn an additive bias. Default: True.
        device, dtype: where and in which float type the weights live. Default: cpu, float32.

    Shape:
        input1 (*, in1_features), input2 (*, in2_features) with the same leading dims
        -> output (*, out_features).

    Weights: weight (out_features, in1_features, in2_features) and bias (out_features,), both
    drawn from U(-1/sqrt(in1_features), 1/sqrt(in1_features)) as in PyTorch.
    """

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        sizes = (("in1_features", in1_features), ("in2_features", in2_features),
                 ("out_features", out_features))  # fmt: skip
        for name, v in sizes:
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"Bilinear: {name} must be a non-negative int, got {v!r}")
        if in1_features == 0:  # the init bound 1/sqrt(in1_features) needs it (PyTorch too)
            raise ValueError(f"Bilinear: in1_features must be > 0, got {in1_features}")
        self.in1_features = int(in1_features)
        self.in2_features = int(in2_features)
        self.out_features = int(out_features)
        self.weight = Parameter(
            empty(
                self.out_features,
                self.in1_features,
                self.in2_features,
                dtype=dtype,
                device=device,
            )
        )
        if bias:
            self.bias = Parameter(empty(self.out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight and bias from U(+-1/sqrt(in1_features))."""
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        s1, s2 = tuple(input1.shape), tuple(input2.shape)
        if (
            not s1
            or len(s1) != len(s2)
            or s1[:-1] != s2[:-1]
            or s1[-1] != self.in1_features
            or s2[-1] != self.in2_features
        ):
            raise ValueError(
                f"Bilinear({self.in1_features}, {self.in2_features}->{self.out_features}): "
                f"expected input1 (*, {self.in1_features}) and input2 (*, {self.in2_features}) "
                f"with the same leading dims, got shapes {s1} and {s2}"
            )
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class Identity(Module):
    """Returns its input unchanged; arguments are accepted and ignored (a placeholder layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Flatten(Module):
    """Merge dims start_dim..end_dim into one.

    Args:
        start_dim (int): first dim to merge. Default: 1 (keep the batch dim).
        end_dim (int): last dim to merge. Default: -1.

    Shape:
        (N, C, H, W) -> (N, C*H*W) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        n = input.ndim
        s, e = self.start_dim, self.end_dim
        if n > 0 and (not -n <= s < n or not -n <= e < n or s % n > e % n):
            raise ValueError(
                f"Flatten(start_dim={s}, end_dim={e}): cannot flatten input of shape "
                f"{tuple(input.shape)}"
            )
        return F.flatten(input, s, e)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim `dim` into `unflattened_size` (the inverse of Flatten).

    Args:
        dim (int): the dim to split.
        unflattened_size (tuple of int): its new sizes; one may be -1.

    Shape:
        (N, C*H*W) -> (N, C, H, W) with dim=1, unflattened_size=(C, H, W).
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(int(s) for s in unflattened_size)
        if self.unflattened_size.count(-1) > 1 or any(s < -1 for s in self.unflattened_size):
            raise ValueError(f"Unflatten: invalid unflattened_size {self.unflattened_size}")

    def forward(self, input):
        shape = tuple(input.shape)
        n = len(shape)
        if not -n <= self.dim < n:
            raise ValueError(
                f"Unflatten(dim={self.dim}): input of shape {shape} has no dim {self.dim}"
            )
        d = self.dim % n
        sizes = self.unflattened_size
        known = int(np.prod([s for s in sizes if s != -1], dtype=np.int64))
        ok = known == shape[d] if -1 not in sizes else known > 0 and shape[d] % known == 0
        if not ok:
            raise ValueError(
                f"Unflatten(dim={self.dim}, unflattened_size={sizes}): dim of size {shape[d]} in "
                f"input of shape {shape} cannot be split into {sizes}"
            )
        return input.reshape(shape[:d] + sizes + shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r): sub-pixel upsampling (ESPCN).

    Args: upscale_factor (int): r.
    """

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of PixelShuffle.

    Args: downscale_factor (int): r.
    """

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave the channels of (N, C, *) across `groups` (ShuffleNet), so the next grouped
    conv mixes information between groups.

    Args: groups (int): must divide C.
    """

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class CosineSimilarity(Module):
    """Cosine of the angle between x1 and x2 along `dim` (F.cosine_similarity).

    Args: dim (int): default 1. eps (float): default 1e-8.
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """||x1 - x2 + eps||_p over the last dim (F.pairwise_distance).

    Args: p (float): default 2. eps (float): default 1e-6. keepdim (bool): default False.
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
