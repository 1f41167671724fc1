"""Normalisation layers: BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, LayerNorm, RMSNorm, GroupNorm
(PyTorch's names, defaults and state_dict keys). Each forward is one call into
functional/norm.py."""

from __future__ import annotations

import warnings

import numpy as np

from .. import init
from ..functional.norm import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
    rms_norm,
)
from ..tensor import empty, ones, tensor, zeros
from .module import Module, Parameter


class _BatchNorm(Module):
    """Shared body of BatchNorm1d/2d/3d (PyTorch's `_BatchNorm`).

    Parameters: weight (C,) = 1, bias (C,) = 0 when affine.
    Buffers: running_mean (C,) = 0, running_var (C,) = 1, num_batches_tracked () int64 = 0 when
    track_running_stats; otherwise all three are None and batch statistics are always used.
    """

    _dims: tuple = ()  # accepted input ranks
    _layout: str = ""  # how the expected input reads in error messages

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, (int, np.integer)) or isinstance(num_features, bool):
            raise TypeError(f"{name}: num_features must be an int, got {num_features!r}")
        if num_features < 1:
            raise ValueError(f"{name}: num_features must be positive, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum}")
        if eps <= 0:
            raise ValueError(f"{name}: eps must be positive, got {eps}")
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        c = self.num_features
        # bias=False keeps the learned scale but no shift (PyTorch 2.x's keyword)
        self.register_parameter(
            "weight", Parameter(empty(c, dtype=dtype, device=device)) if affine else None
        )
        self.register_parameter(
            "bias", Parameter(empty(c, dtype=dtype, device=device)) if affine and bias else None
        )
        if track_running_stats:
            self.register_buffer("running_mean", zeros(c, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(c, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, and weight = 1, bias = 0 (PyTorch's init)."""
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input(self, input) -> None:
        shape = tuple(input.shape)
        c = self.num_features
        if len(shape) not in self._dims:
            raise ValueError(
                f"{self._get_name()}({c}): expected {self._layout.format(c=c)}, got shape {shape}"
            )
        if shape[1] != c:
            raise ValueError(
                f"{self._get_name()}({c}): expected input with {c} channels (dim 1), "
                f"got shape {shape}"
            )

    def forward(self, input):
        self._check_input(input)
        # eval mode normalises with the running statistics, unless there are none to use
        use_batch_stats = self.training or self.running_mean is None
        track = self.running_mean is not None and (self.track_running_stats or not self.training)
        return batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            training=use_batch_stats,
            momentum=self.momentum,
            eps=self.eps,
            num_batches_tracked=self.num_batches_tracked if track else None,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input, statistics per channel C.

    Args:
        num_features (int): C.
        eps (float): added to the variance. Default: 1e-5.
        momentum (float or None): running-stats factor; None = cumulative average. Default: 0.1.
        affine (bool): learn weight and bias. Default: True.
        track_running_stats (bool): keep running_mean / running_var for eval mode. Default: True.
        device, dtype: where and in which float type the state lives. Default: cpu, float32.
        bias (bool, keyword): with affine, also learn the bias. Default: True.

    Shape:
        input (N, C) or (N, C, L) -> output of the same shape.
        y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias; training: batch statistics over
        N (and L), running_var updated with the unbiased variance; eval: running statistics.
    """

    _dims = (2, 3)
    _layout = "2-D input (N, {c}) or 3-D input (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, statistics per channel over N, H, W.

    Args: as BatchNorm1d (num_features, eps=1e-5, momentum=0.1, affine=True,
        track_running_stats=True, device=None, dtype=None).

    Shape:
        input (N, C, H, W) -> output (N, C, H, W).
    """

    _dims = (4,)
    _layout = "4-D input (N, {c}, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) input, statistics per channel.

    Args: as BatchNorm1d.

    Shape:
        input (N, C, D, H, W) -> output of the same shape.
    """

    _dims = (5,)
    _layout = "5-D input (N, {c}, D, H, W)"


class _InstanceNorm(_BatchNorm):
    """Shared body of InstanceNorm1d/2d/3d: statistics per sample and channel, over the spatial
    dims. PyTorch's defaults differ from batch norm's: affine=False, track_running_stats=False
    (then eval mode normalises with each instance's own statistics too)."""

    _spatial = 0  # spatial dims after (N, C)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    def forward(self, input):
        name, c, k = self._get_name(), self.num_features, self._spatial
        if input.ndim not in (k + 1, k + 2):
            raise ValueError(
                f"{name}({c}): expected {self._layout.format(c=c)} or unbatched "
                f"({c}, {'spatial, ' * k}...), got shape {tuple(input.shape)}"
            )
        if input.ndim == k + 1:  # unbatched: one instance
            return self.forward(input.unsqueeze(0)).squeeze(0)
        if input.shape[1] != c:
            if self.affine or self.track_running_stats:
                raise ValueError(
                    f"{name}({c}): expected input with {c} channels (dim 1), got shape "
                    f"{tuple(input.shape)}"
                )
            warnings.warn(
                f"{name}({c}): input has {input.shape[1]} channels (shape {tuple(input.shape)}); "
                "with affine=False and no running stats it runs anyway, as in PyTorch",
                stacklevel=2,
            )
        return instance_norm(
            input,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            use_input_stats=self.training or not self.track_running_stats,
            momentum=self.momentum if self.momentum is not None else 0.0,
            eps=self.eps,
        )


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) input: statistics per sample and channel.

    Args: num_features (C), eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
    bias=True (keyword; with affine, also learn the shift).
    """

    _spatial = 1
    _layout = "3-D input (N, {c}, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) input: each image's each channel is
    normalised over its H x W values.

    Args: num_features (C), eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
    bias=True (keyword; with affine, also learn the shift).
    """

    _spatial = 2
    _layout = "4-D input (N, {c}, H, W)"


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) input: each volume's each
    channel is normalised over its D x H x W values.

    Args: num_features (C), eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
    bias=True (keyword; with affine, also learn the shift).
    """

    _spatial = 3
    _layout = "5-D input (N, {c}, D, H, W)"


class LayerNorm(Module):
    """Normalise each sample over its trailing `normalized_shape` dims (PyTorch's LayerNorm).

    Args:
        normalized_shape (int or tuple): the trailing shape, e.g. C or (C, H, W).
        eps (float): added to the variance. Default: 1e-5.
        elementwise_affine (bool): learn weight (ones) and bias (zeros) of normalized_shape.
            Default: True.
        bias (bool): learn the bias too (with elementwise_affine). Default: True.
        device, dtype: Default: cpu, float32.

    Shape:
        input (*, *normalized_shape) -> output of the same shape.
    """

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) < 1:
            raise ValueError(
                "LayerNorm: normalized_shape must be non-empty and positive, "
                f"got {normalized_shape}"
            )
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        shape = self.normalized_shape
        if elementwise_affine:
            self.weight = Parameter(ones(*shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(zeros(*shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        k = len(self.normalized_shape)
        if input.ndim < k or tuple(input.shape[input.ndim - k :]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm({self.normalized_shape}): expected input of shape "
                f"(*, {', '.join(map(str, self.normalized_shape))}), got shape {tuple(input.shape)}"
            )
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Normalise each sample's channels in groups (PyTorch's GroupNorm); no running statistics,
    so training and eval behave the same.

    Args:
        num_groups (int): G, must divide num_channels.
        num_channels (int): C.
        eps (float): added to the variance. Default: 1e-5.
        affine (bool): learn per-channel weight (ones) and bias (zeros). Default: True.
        bias (bool, keyword): with affine, also learn the bias. Default: True.
        device, dtype: Default: cpu, float32.

    Shape:
        input (N, C, *) -> output of the same shape.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                f"({num_groups})"
            )
        self.num_groups = int(num_groups)
        self.num_channels = int(num_channels)
        self.eps = eps
        self.affine = affine
        c = num_channels
        self.register_parameter(
            "weight", Parameter(ones(c, dtype=dtype, device=device)) if affine else None
        )
        self.register_parameter(
            "bias", Parameter(zeros(c, dtype=dtype, device=device)) if affine and bias else None
        )

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        c = self.num_channels
        if input.ndim < 2 or input.shape[1] != c:
            raise ValueError(
                f"GroupNorm({self.num_groups}, {c}): expected input (N, {c}, *), "
                f"got shape {tuple(input.shape)}"
            )
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class LocalResponseNorm(Module):
    """AlexNet's local response normalisation: each value divided by
    (k + alpha / size * sum of squares over `size` neighbouring channels)^beta.

    Args:
        size (int): channels in the window. alpha (float): Default 1e-4.
        beta (float): Default 0.75. k (float): Default 1.0.
    Shape: (N, C, *) -> same.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class RMSNorm(Module):
    """Root-mean-square normalisation of each sample over its trailing `normalized_shape` dims
    (PyTorch's RMSNorm, as in LLaMA): LayerNorm without the mean and without a bias.

    Args:
        normalized_shape (int or tuple): the trailing shape, e.g. C or (C, H, W).
        eps (float or None): added to the mean square. Default None: the machine epsilon of the
            input's compute dtype (finfo(float32).eps for float32 and float16, finfo(float64).eps
            for float64), as PyTorch.
        elementwise_affine (bool): learn a weight of normalized_shape, initialised to ones.
            Default: True.
        device, dtype: Default: cpu, float32.

    Shape:
        input (*, *normalized_shape) -> output of the same shape;
        y = x / sqrt(mean(x^2) + eps) * weight, the mean over the normalized_shape dims.
    """

    def __init__(
        self,
        normalized_shape,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) < 1:
            raise ValueError(
                f"RMSNorm: normalized_shape must be non-empty and positive, got {normalized_shape}"
            )
        if eps is not None and not eps >= 0:
            raise ValueError(f"RMSNorm: eps must be non-negative or None, got {eps}")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(*self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        """weight = 1 (PyTorch's init)."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input):
        shape = self.normalized_shape
        k = len(shape)
        if input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
            raise ValueError(
                f"RMSNorm({shape}): expected input of shape (*, {', '.join(map(str, shape))}), "
                f"got shape {tuple(input.shape)}"
            )
        return rms_norm(input, shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
