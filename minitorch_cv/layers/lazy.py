"""Lazy modules (PyTorch's `torch.nn.modules.lazy`): layers that take in_features, in_channels or
num_features from their first input.

    model = nn.Sequential(nn.LazyConv2d(16, 3), nn.LazyBatchNorm2d(), nn.ReLU(),
                          nn.Flatten(), nn.LazyLinear(10))
    model.double()                    # dtype and device first: they reach the placeholders
    model(x[:2])                      # a dry run: each lazy layer infers its size
    opt = optim.SGD(model.parameters(), lr=0.1)   # only now: the parameters have shapes

Until that first call a lazy layer holds `UninitializedParameter`s (and `UninitializedBuffer`s):
placeholders that know their dtype, device and requires_grad but have no shape and no values;
reading either is an error that says what to do. The first call builds the regular layer with
the inferred size through its own constructor (so its own initialisation, with the same random
draws: after `manual_seed(s)`, a LazyLinear that sees 5 features equals `Linear(5, ...)` built
in its place), moves the new arrays into the placeholders in place, and turns the module into
that class (PyTorch's `cls_to_become`): its repr, state_dict keys and later behaviour are the
regular layer's.

`load_state_dict` into a still-lazy layer takes the size from the state dict's shapes first (as
PyTorch's load hook does), without random draws when the dict holds all of the layer's entries;
if the load then fails, the layer is lazy again.
"""

from __future__ import annotations

import contextlib
import itertools

import numpy as np

from .. import init
from ..backend import device_of, to_device
from ..tensor import Tensor, empty
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Linear
from .module import Module, Parameter, StateDictError
from .norm import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    _BatchNorm,
)

_HOW = (
    "run the model once on a batch of real inputs (a dry run) so that its lazy modules infer "
    "their sizes, or load a state dict into it"
)


class UninitializedTensorError(RuntimeError, ValueError):
    """Use of a placeholder's shape or values. A RuntimeError, as PyTorch's, and a ValueError
    since the caller used the module too early."""


def is_lazy(t) -> bool:
    """True for an UninitializedParameter or UninitializedBuffer (PyTorch's `is_lazy`)."""
    return isinstance(t, UninitializedTensorMixin)


class UninitializedTensorMixin:
    """A tensor without a shape or values yet: only its dtype, device and requires_grad exist.

    It keeps a 0-element array of its dtype on its device; `Module.to(dtype / device)` converts
    that, so the values materialised later have the right type and place. Every read of the
    values (ops, `.shape`, `.numel()`, `.numpy()`, ...) raises an error saying what to do.
    """

    _is_lazy = True  # layers/module.py converts the placeholder in `to()` / `double()` / ...
    cls_to_become = Tensor

    @property
    def _data(self):
        raise UninitializedTensorError(
            f"{type(self).__name__} has no values yet (its lazy module has not seen an "
            f"input): {_HOW}"
        )

    @_data.setter
    def _data(self, value) -> None:
        self.__dict__["_data"] = value  # the placeholder (a regular Tensor's attribute)

    def _no_shape(self, what: str):
        return UninitializedTensorError(
            f"Can't access the {what} of an {type(self).__name__}: it has no shape yet; {_HOW}"
        )

    @property
    def shape(self):
        raise self._no_shape("shape")

    def size(self, dim=None):
        raise self._no_shape("size")

    @property
    def ndim(self):
        raise self._no_shape("number of dimensions")

    def dim(self):
        raise self._no_shape("number of dimensions")

    def numel(self):
        raise self._no_shape("number of elements (numel)")

    def __len__(self):
        raise self._no_shape("length")

    def __iter__(self):
        raise self._no_shape("elements")

    @property
    def dtype(self):
        return self.__dict__["_data"].dtype

    @property
    def device(self):
        return device_of(self.__dict__["_data"])

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and self.dtype.kind != "f":
            raise RuntimeError(
                f"only floating point tensors can require gradients, got dtype {self.dtype}"
            )
        self._requires_grad = bool(flag)

    @property
    def data(self):
        raise self._no_shape("data")

    def detach(self):
        raise self._no_shape("values (detach)")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Become a regular tensor of `shape` (uninitialised memory) in place, on `device` with
        `dtype`, by default the placeholder's (PyTorch's `materialize`)."""
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        device = self.device if device is None else device
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        self._become(empty(*shape, dtype=dtype, device=device)._data)

    def _become(self, array) -> None:
        """Take `array` as the values and turn into `cls_to_become`; the object stays the same,
        so whatever holds it (the module, a user's reference) sees the values."""
        self.__dict__["_data"] = array
        self.__class__ = self.cls_to_become
        self._version += 1


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter whose shape is not known yet (what a lazy module holds before its first call).

    Args:
        requires_grad (bool): Default: True.
        device, dtype: of the values once materialised. Default: cpu, float32.

    Only its dtype, device and requires_grad can be read or changed (through `Module.to`,
    `requires_grad_`); `materialize(shape)` turns it into a regular Parameter.
    """

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        super().__init__(empty(0, dtype=dtype, device=device), requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet (a lazy BatchNorm's running_mean and running_var).

    Args:
        requires_grad (bool): Default: False.
        device, dtype: of the values once materialised. Default: cpu, float32.
    """

    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device=None, dtype=None):
        super().__init__(empty(0, dtype=dtype, device=device), requires_grad=requires_grad)


class LazyModuleMixin:
    """The machinery of every Lazy* layer (PyTorch's `LazyModuleMixin`).

    A subclass lists the regular class as `cls_to_become`, the size it infers as `_size_attr`,
    and how to read that size from an input (`_ranks`, `_channel_dim`, `_expected`) and from a
    state dict (`_size_from_state`). Its constructor calls `_lazy_setup`.
    """

    cls_to_become: type = Module
    _size_attr = ""
    _ranks: tuple | None = None  # the input ranks accepted; None: any rank >= 1
    _channel_dim = 1  # where the size sits in the input's shape
    _expected = ""  # the accepted input, for error messages

    @staticmethod
    def _build(module, size, **kwargs):
        """The regular constructor, run on `module` with the size (BatchNorm's base for norms)."""
        raise TypeError(f"{type(module).__name__}: a lazy layer class must define _build")

    def _lazy_setup(self, stand_in: int, **kwargs) -> None:
        """Run the regular constructor with a stand-in size, so every other argument is checked
        now and every attribute exists (without random draws), then swap each parameter and
        each floating buffer for a placeholder of its dtype, device and requires_grad."""
        with init.skip_init():
            type(self)._build(self, stand_in, **kwargs)
        for name, p in self._parameters.items():
            if p is not None:
                self._parameters[name] = UninitializedParameter(p.requires_grad, p.device, p.dtype)
        for name, b in self._buffers.items():
            if b is not None and b.dtype.kind == "f":
                self._buffers[name] = UninitializedBuffer(False, b.device, b.dtype)
        setattr(self, self._size_attr, 0)  # as PyTorch's repr: LazyLinear(in_features=0, ...)
        self._lazy_kwargs = kwargs

    # ------------------------------------------------------------------ PyTorch's API

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer of this module (not its children) is a placeholder."""
        return any(
            is_lazy(t) for t in itertools.chain(self._parameters.values(), self._buffers.values())
        )

    def initialize_parameters(self, *args, **kwargs) -> None:
        """Infer the size from the input (the forward's first argument), build the parameters
        with the regular layer's initialisation and become the regular layer. A forward call
        does this by itself; call it to initialise without computing an output."""
        input = args[0] if args else kwargs.get("input")
        shape = getattr(input, "shape", None)
        if shape is None:
            raise TypeError(
                f"{self._error_label()}: expected a Tensor input to infer {self._size_attr} "
                f"from, got {type(input).__name__}"
            )
        shape = tuple(shape)
        if (len(shape) not in self._ranks) if self._ranks else len(shape) < 1:
            raise ValueError(
                f"{self._error_label()}: cannot infer {self._size_attr} from input of shape "
                f"{shape}: expected {self._expected}"
            )
        self._materialize(int(shape[self._channel_dim]), f"input of shape {shape}")

    def reset_parameters(self) -> None:
        """The regular layer's reset once nothing is a placeholder; a no-op before (PyTorch's)."""
        if not self.has_uninitialized_params():
            super().reset_parameters()

    # ------------------------------------------------------------------ calling

    def __call__(self, *args, **kwargs):
        # before any hook, as PyTorch's lazy pre-hook (registered first) runs before the others
        self.initialize_parameters(*args, **kwargs)
        return type(self).__call__(self, *args, **kwargs)  # now the regular class's

    def forward(self, *args, **kwargs):
        self.initialize_parameters(*args, **kwargs)
        return self.forward(*args, **kwargs)

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        # placeholders go in as they are (PyTorch's lazy state dict): there is nothing to detach
        own: dict = {}
        super()._save_to_state_dict(own, prefix, True)
        for key, t in own.items():
            destination[key] = t if keep_vars or is_lazy(t) else t.detach()

    # ------------------------------------------------------------------ materialising

    def _materialize(self, size: int, origin: str, skip_random_init: bool = False):
        """Build the regular layer of `size`, move its arrays into the placeholders, become its
        class. Nothing changes when that fails. Returns a function that undoes it all."""
        cls, attr = self.cls_to_become, self._size_attr
        lazy = [t for t in itertools.chain(self._parameters.values(), self._buffers.values())
                if is_lazy(t)]  # fmt: skip
        kwargs = dict(self._lazy_kwargs)
        if lazy:  # Module.to() since construction reached the placeholders
            kwargs.update(device=lazy[0].device, dtype=lazy[0].dtype)
        fresh = cls.__new__(cls)
        try:
            with init.skip_init() if skip_random_init else contextlib.nullcontext():
                type(self)._build(fresh, size, **kwargs)
        except (TypeError, ValueError) as e:
            raise type(e)(
                f"{self._error_label()}: {attr}={size}, inferred from {origin}, does not fit: {e}"
            ) from e
        moves = []
        for store in ("_parameters", "_buffers"):
            theirs = getattr(fresh, store)
            for name, t in getattr(self, store).items():
                new = theirs.get(name)
                if is_lazy(t):
                    a = new._data
                    a = a if a.dtype == t.dtype else a.astype(t.dtype)
                    moves.append((t, to_device(a, t.device) if device_of(a) != t.device else a))
                elif t is not None and new is not None and t.shape != new.shape:
                    raise ValueError(
                        f"{self._error_label()}: {attr}={size} from {origin} makes {name} of "
                        f"shape {new.shape}, but it already holds shape {t.shape}"
                    )
        lazy_class, lazy_kwargs = type(self), self.__dict__.pop("_lazy_kwargs")
        placeholders = [(t, type(t), t.__dict__["_data"]) for t, _ in moves]
        for t, a in moves:
            t._become(a)
        setattr(self, attr, size)
        self.__class__ = cls

        def undo():
            for t, t_class, placeholder in placeholders:
                t.__dict__["_data"] = placeholder
                t.__class__ = t_class
            setattr(self, attr, 0)
            self.__dict__["_lazy_kwargs"] = lazy_kwargs
            self.__class__ = lazy_class

        return undo

    def _size_from_state(self, state_dict, prefix: str):
        """(size, None) read from the state dict's shapes, or (None, problem)."""
        raise TypeError(f"{type(self).__name__}: a lazy layer class must define _size_from_state")

    def _lazy_load(self, state_dict, prefix: str):
        """load_state_dict's first step for this module: take the size from the dict, become the
        regular layer. Returns the undo function, None when the dict has nothing for it, or a
        problem (str) when its entries do not tell the size."""
        keys = [prefix + n for store in (self._parameters, self._buffers)
                for n, t in store.items() if is_lazy(t)]  # fmt: skip
        present = [k for k in keys if k in state_dict]
        if not present:
            return None  # stays lazy; strict loading reports the missing keys
        size, problem = self._size_from_state(state_dict, prefix)
        if problem:
            return problem
        return self._materialize(
            size, f'"{present[0]}" in the state dict', skip_random_init=len(present) == len(keys)
        )

    def _state_shape(self, state_dict, key: str, ndim: int):
        """(shape, None) of `key` in the state dict if it has `ndim` dims, else (None, problem)."""
        try:
            shape = tuple(state_dict[key].shape)
        except Exception as e:  # an unreadable value, or another lazy module's placeholder
            return None, f'could not read the shape of "{key}": {e}'
        if len(shape) != ndim:
            return None, (
                f'cannot infer {self._size_attr} of the lazy {self._error_label()} from "{key}" '
                f"of shape {shape}: expected {ndim} dims"
            )
        return shape, None


def _load_sizes(root: Module, state_dict):
    """The first step of `Module.load_state_dict`: every lazy module under `root` whose entries
    the state dict holds takes its size from their shapes (PyTorch's lazy load hook). Returns a
    function that undoes it all, for a load that then fails."""
    undos, problems = [], []

    def undo():
        for u in reversed(undos):
            u()

    try:
        for prefix, m in list(root.named_modules()):
            if isinstance(m, LazyModuleMixin):
                r = m._lazy_load(state_dict, prefix + "." if prefix else "")
                if isinstance(r, str):
                    problems.append(r)
                elif r is not None:
                    undos.append(r)
    except Exception:
        undo()
        raise
    if problems:
        undo()
        raise StateDictError(
            f"Error(s) in loading state_dict for {root._get_name()}:\n\t" + "\n\t".join(problems)
        )
    return undo


# ---------------------------------------------------------------------- the layers


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear whose in_features is the first input's last dim (PyTorch's LazyLinear).

    Args:
        out_features (int): size of each output's last dim.
        bias (bool): learn an additive bias. Default: True.
        device, dtype: Default: cpu, float32.

    Becomes `Linear(in_features, out_features, bias)` with Linear's initialisation,
    U(+-1/sqrt(in_features)), on the first call.
    """

    cls_to_become = Linear
    _size_attr = "in_features"
    _channel_dim = -1
    _expected = "input (*, in_features) with at least 1 dim"
    _build = staticmethod(Linear.__init__)

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        self._lazy_setup(1, out_features=out_features, bias=bias, device=device, dtype=dtype)

    def _size_from_state(self, state_dict, prefix):
        key = prefix + "weight"
        if key not in state_dict:
            return None, (
                f"cannot load into the lazy {self._error_label()} without "
                f'"{key}": its shape tells in_features'
            )
        shape, problem = self._state_shape(state_dict, key, 2)
        return (shape[1], None) if shape else (None, problem)


class _LazyConvNd(LazyModuleMixin):
    """LazyConv1d/2d/3d: PyTorch's conv arguments without in_channels."""

    _size_attr = "in_channels"
    _transposed = False

    def __init__(
        self,
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
        self._lazy_conv_setup(
            out_channels=out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            padding_mode=padding_mode,
            device=device,
            dtype=dtype,
        )

    def _lazy_conv_setup(self, **kwargs) -> None:
        groups, out = kwargs["groups"], kwargs["out_channels"]
        valid = isinstance(groups, int) and groups > 0
        if valid and isinstance(out, int) and out > 0 and out % groups:
            raise ValueError(
                f"{type(self).__name__}: groups={groups} must divide out_channels={out}"
            )
        # `groups` channels stand in for in_channels: the smallest count that groups divides
        self._lazy_setup(groups if valid else 1, **kwargs)

    @property
    def _ranks(self):
        n = self.cls_to_become._n
        return (n + 1, n + 2)

    @property
    def _channel_dim(self):
        return -self.cls_to_become._n - 1

    @property
    def _expected(self):
        n = self.cls_to_become._n
        dims = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
        return f"{n + 2}-D input (N, C_in, {dims}) or unbatched {n + 1}-D (C_in, {dims})"

    def _size_from_state(self, state_dict, prefix):
        key = prefix + "weight"
        if key not in state_dict:
            return None, (
                f"cannot load into the lazy {self._error_label()} without "
                f'"{key}": its shape tells in_channels'
            )
        shape, problem = self._state_shape(state_dict, key, self.cls_to_become._n + 2)
        if shape is None:
            return None, problem
        return (shape[0] if self._transposed else shape[1] * self.groups), None


class _LazyConvTransposeNd(_LazyConvNd):
    """LazyConvTranspose1d/2d/3d: PyTorch's transposed-conv arguments without in_channels."""

    _transposed = True

    def __init__(
        self,
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
        self._lazy_conv_setup(
            out_channels=out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            output_padding=output_padding,
            groups=groups,
            bias=bias,
            dilation=dilation,
            padding_mode=padding_mode,
            device=device,
            dtype=dtype,
        )


class LazyConv1d(_LazyConvNd, Conv1d):
    """A Conv1d whose in_channels is the first input's channel count (input.shape[-2]).
    Args: Conv1d's without in_channels. Becomes Conv1d (its initialisation) on the first call."""

    cls_to_become = Conv1d
    _build = staticmethod(Conv1d.__init__)


class LazyConv2d(_LazyConvNd, Conv2d):
    """A Conv2d whose in_channels is the first input's channel count (input.shape[-3]).

    Args: out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
        padding_mode='zeros', device=None, dtype=None (Conv2d's without in_channels).

    Becomes `Conv2d(in_channels, out_channels, ...)` with Conv2d's initialisation on the first
    call; with `groups`, the inferred in_channels must be a multiple of it.
    """

    cls_to_become = Conv2d
    _build = staticmethod(Conv2d.__init__)


class LazyConv3d(_LazyConvNd, Conv3d):
    """A Conv3d whose in_channels is the first input's channel count (input.shape[-4]).
    Args: Conv3d's without in_channels. Becomes Conv3d (its initialisation) on the first call."""

    cls_to_become = Conv3d
    _build = staticmethod(Conv3d.__init__)


class LazyConvTranspose1d(_LazyConvTransposeNd, ConvTranspose1d):
    """A ConvTranspose1d whose in_channels is the first input's channel count.
    Args: ConvTranspose1d's without in_channels. Becomes ConvTranspose1d on the first call."""

    cls_to_become = ConvTranspose1d
    _build = staticmethod(ConvTranspose1d.__init__)


class LazyConvTranspose2d(_LazyConvTransposeNd, ConvTranspose2d):
    """A ConvTranspose2d whose in_channels is the first input's channel count.

    Args: out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
        dilation=1, padding_mode='zeros', device=None, dtype=None (ConvTranspose2d's without
        in_channels). Becomes ConvTranspose2d on the first call.
    """

    cls_to_become = ConvTranspose2d
    _build = staticmethod(ConvTranspose2d.__init__)


class LazyConvTranspose3d(_LazyConvTransposeNd, ConvTranspose3d):
    """A ConvTranspose3d whose in_channels is the first input's channel count.
    Args: ConvTranspose3d's without in_channels. Becomes ConvTranspose3d on the first call."""

    cls_to_become = ConvTranspose3d
    _build = staticmethod(ConvTranspose3d.__init__)


class _LazyNormBase(LazyModuleMixin):
    """LazyBatchNorm1d/2d/3d and LazyInstanceNorm1d/2d/3d: num_features is the input's channel
    count; weight, bias, running_mean and running_var are placeholders until then
    (num_batches_tracked is a regular 0, as in PyTorch)."""

    _size_attr = "num_features"
    _build = staticmethod(_BatchNorm.__init__)  # InstanceNorm's own adds nothing but defaults

    def __init__(
        self,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        self._lazy_setup(
            1,
            eps=eps,
            momentum=momentum,
            affine=affine,
            track_running_stats=track_running_stats,
            device=device,
            dtype=dtype,
            bias=bias,
        )

    def _size_from_state(self, state_dict, prefix):
        for name in ("weight", "bias", "running_mean", "running_var"):
            if prefix + name in state_dict:
                shape, problem = self._state_shape(state_dict, prefix + name, 1)
                return (shape[0], None) if shape else (None, problem)
        return None, f"cannot infer num_features of the lazy {self._error_label()}"


class _LazyBatchNorm(_LazyNormBase):
    @property
    def _ranks(self):
        return self.cls_to_become._dims

    @property
    def _expected(self):
        return self.cls_to_become._layout.format(c="C")


class _LazyInstanceNorm(_LazyNormBase):
    @property
    def _ranks(self):
        k = self.cls_to_become._spatial
        return (k + 1, k + 2)

    @property
    def _channel_dim(self):  # (N, C, *spatial) or unbatched (C, *spatial)
        return -self.cls_to_become._spatial - 1

    @property
    def _expected(self):
        k = self.cls_to_become._spatial
        return f"{self.cls_to_become._layout.format(c='C')} or unbatched {k + 1}-D (C, ...)"


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    """A BatchNorm1d whose num_features is input.shape[1] of the first (N, C) or (N, C, L) input.

    Args: eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
        dtype=None, *, bias=True (BatchNorm1d's without num_features).
    """

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    """A BatchNorm2d whose num_features is input.shape[1] of the first (N, C, H, W) input.
    Args: as LazyBatchNorm1d."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyBatchNorm, BatchNorm3d):
    """A BatchNorm3d whose num_features is input.shape[1] of the first (N, C, D, H, W) input.
    Args: as LazyBatchNorm1d."""

    cls_to_become = BatchNorm3d


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    """An InstanceNorm1d whose num_features is the channel count of the first (N, C, L) or
    (C, L) input.

    Args: eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
        dtype=None, *, bias=True: PyTorch's lazy defaults, which (unlike InstanceNorm1d's)
        learn an affine transform and track running statistics.
    """

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    """An InstanceNorm2d whose num_features is the channel count of the first (N, C, H, W) or
    (C, H, W) input. Args: as LazyInstanceNorm1d (affine=True, track_running_stats=True)."""

    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    """An InstanceNorm3d whose num_features is the channel count of the first (N, C, D, H, W)
    or (C, D, H, W) input. Args: as LazyInstanceNorm1d (affine=True, track_running_stats=True)."""

    cls_to_become = InstanceNorm3d
