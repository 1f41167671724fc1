"""A torchsummary-style layer table: `summary(model, (3, 32, 32))`.

    ----------------------------------------------------------------
            Layer (type)               Output Shape         Param #
    ================================================================
                Conv2d-1           [-1, 24, 28, 28]           1,824
                  ReLU-2           [-1, 24, 28, 28]               0
    ...
    ================================================================
    Total params: 256,058
    ...

Forward hooks record every layer call during one forward pass of a random batch of 2 (BatchNorm
needs more than one sample in training; the pass runs in eval mode under no_grad, so running
statistics are left untouched, and the modes are restored afterwards). One row per call of a
leaf layer (a module without children), named `<Class>-<row number>`; a layer called twice
gets two rows, as in torchsummary.

The memory estimates use torchsummary's definitions, 4 bytes per number whatever the dtype:
    Input size (MB)                  = |batch_size| * numel(input) * 4 / 1024**2
    Forward/backward pass size (MB)  = 2 * sum_rows |batch_size| * numel(output) * 4 / 1024**2
                                       (x2: each output also has a gradient)
    Params size (MB)                 = total params * 4 / 1024**2
    Estimated Total Size (MB)        = the sum of the three
With the default batch_size=-1 these are the sizes for one sample.

Differences from torchsummary 1.5.1, none of which changes its numbers for a network made of
leaf layers each called once with one input: `leaf_only=False` gives its exact row set (every
module but Sequential, ModuleList and the model itself, so composite blocks like ResNet's
BasicBlock get rows of 0 parameters that add to the pass size); a parameter shared by several
rows is counted once in the totals (torchsummary adds it again per call); with several inputs
the input size is the sum of their sizes (torchsummary multiplies all dimensions together).
A module that returns a dict (torchvision's segmentation models and their
IntermediateLayerGetter) shows `{key: shape}` (torchsummary fails on it); for a model that
returns a dict, no row holds its outputs (the heads' upsampling is no layer), so the table
adds a "Model output" line with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from .backend import device as parse_device
from .backend import to_device
from .layers import Module, ModuleList, Sequential
from .layers.lazy import LazyModuleMixin
from .tensor import Tensor, no_grad

_MB = 1024.0**2
_BYTES = 4.0  # torchsummary assumes float32 everywhere


@dataclass
class LayerRow:
    """One layer call: `name` as in the table ('Conv2d-1'), `path` its dotted module name."""

    name: str
    type: str
    path: str
    input_shape: list
    output_shape: list
    num_params: int
    trainable_params: int


@dataclass
class Summary:
    """The result of `summary`: `str(s)` is the table, `s.to_dict()` the numbers."""

    input_size: list
    batch_size: int
    rows: list = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    input_size_mb: float = 0.0
    forward_backward_mb: float = 0.0
    params_mb: float = 0.0
    # parameters no row lists: held directly by a module that has no row (a ViT's class token
    # and position embedding, attention's in_proj_weight); counted in the totals, which
    # torchsummary would leave them out of
    outside_rows: dict = field(default_factory=dict)
    # the model's own output: a shape, a list of them, or {key: shape} for a dict
    output_shape: list | dict = field(default_factory=list)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_mb(self) -> float:
        return self.input_size_mb + self.forward_backward_mb + self.params_mb

    def to_dict(self) -> dict:
        return {
            "input_size": [list(s) for s in self.input_size],
            "batch_size": self.batch_size,
            "layers": [asdict(r) for r in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "input_size_mb": self.input_size_mb,
            "forward_backward_mb": self.forward_backward_mb,
            "params_mb": self.params_mb,
            "total_mb": self.total_mb,
            "outside_rows": dict(self.outside_rows),
            "output_shape": self.output_shape,
        }

    def __str__(self) -> str:
        rule, double = "-" * 64, "=" * 64
        lines = [rule, "{:>20}  {:>25} {:>15}".format("Layer (type)", "Output Shape", "Param #")]
        lines.append(double)
        for r in self.rows:
            lines.append(f"{r.name:>20}  {str(r.output_shape):>25} {r.num_params:>15,}")
        lines += [
            double,
        ]
        if isinstance(self.output_shape, dict):  # no row shows a dict model's outputs
            shown = ", ".join(f"{k} {v}" for k, v in self.output_shape.items())
            lines.append(f"Model output: {shown}")
        if self.outside_rows:
            held = sum(self.outside_rows.values())
            names = ", ".join(self.outside_rows)
            lines.append(f"Params in no row above: {held:,} ({names})")
        lines += [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            rule,
            f"Input size (MB): {self.input_size_mb:0.2f}",
            f"Forward/backward pass size (MB): {self.forward_backward_mb:0.2f}",
            f"Params size (MB): {self.params_mb:0.2f}",
            f"Estimated Total Size (MB): {self.total_mb:0.2f}",
            rule,
        ]
        return "\n".join(lines) + "\n"

    __repr__ = __str__


def _shapes_of(value, batch_size: int):
    """[batch_size, *shape[1:]] of a Tensor; a list of those for a tuple / list of Tensors;
    {key: those} for a dict (torchvision's segmentation models return one)."""
    if isinstance(value, Tensor):
        return [batch_size, *value.shape[1:]]
    if isinstance(value, Mapping):
        return {str(k): _shapes_of(v, batch_size) for k, v in value.items()
                if isinstance(v, (Tensor, tuple, list, Mapping))}  # fmt: skip
    if isinstance(value, (tuple, list)):
        return [_shapes_of(v, batch_size) for v in value
                if isinstance(v, (Tensor, tuple, list, Mapping))]  # fmt: skip
    return []


def _numel(shape) -> int:
    """Elements of a recorded output shape (summed over nested shapes), batch entry included."""
    if isinstance(shape, dict):
        return sum(_numel(s) for s in shape.values())
    if shape and isinstance(shape[0], list):
        return sum(_numel(s) for s in shape)
    return int(np.prod(shape, dtype=np.int64)) if shape else 0


def _is_row(module: Module, root: Module, leaf_only: bool) -> bool:
    if leaf_only:
        return not any(m is not None for m in module._modules.values())
    return module is not root and not isinstance(module, (Sequential, ModuleList))


def summary(model: Module, input_size, batch_size: int = -1, device=None, dtypes=None,
            leaf_only: bool = True) -> Summary:  # fmt: skip
    """Run one forward pass and tabulate every layer's output shape and parameter count.

    Args:
        model (Module): the network (on `device`).
        input_size (tuple or list of tuples): one input's shape without the batch, e.g.
            (3, 32, 32); a list of such tuples for a model taking several inputs.
        batch_size (int): the batch entry shown in shapes and used in the MB figures.
            Default: -1 (shapes show -1, sizes are per sample), as torchsummary.
        device (str or Device, optional): where the random input is made. Default: 'cpu'.
        dtypes (list, optional): one NumPy dtype per input. Default: float32 for each.
        leaf_only (bool): rows for leaf layers only (default); False gives torchsummary's rows,
            which also list composite modules (not Sequential / ModuleList / the model).

    Returns:
        Summary: `str()` is the table; `.to_dict()`, `.rows`, `.total_params`, ... the numbers.
        The totals count every parameter of the model once. Where some are held by modules
        that get no row (a ViT's class token and position embedding, attention's
        in_proj_weight), torchsummary's totals leave them out; here they are counted and named
        in a "Params in no row above" line (`.outside_rows`).

    Raises:
        ValueError: the network cannot take this input size; the message names the first layer
            that failed (its row name and module path) and the input shape it got; or the
            model has lazy modules that have not seen an input (run it once first).
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: expected a Module, got {type(model).__name__}")
    lazy = [f"'{p}' ({type(m).__name__})" if p else type(m).__name__
            for p, m in model.named_modules() if isinstance(m, LazyModuleMixin)]  # fmt: skip
    if lazy:  # its forward would initialise them, from the package RNG, as a side effect
        raise ValueError(
            f"summary: lazy modules {', '.join(lazy)} have not seen an input yet: run the model "
            "once on a batch of real inputs (a dry run) first, so that they infer their sizes"
        )
    sizes = [tuple(input_size)] if isinstance(input_size, tuple) else [tuple(s) for s in input_size]
    if not sizes or not all(sizes) or any(not isinstance(d, (int, np.integer)) or d < 1
                                          for s in sizes for d in s):  # fmt: skip
        raise ValueError(f"summary: input_size must be positive int tuples, got {input_size!r}")
    dtypes = [np.float32] * len(sizes) if dtypes is None else list(dtypes)
    if len(dtypes) != len(sizes):
        raise ValueError(f"summary: {len(sizes)} input sizes but {len(dtypes)} dtypes")
    dev = parse_device(device if device is not None else "cpu")
    rng = np.random.default_rng(0)  # a private generator: the package RNG stream is untouched
    inputs = [
        Tensor(to_device(rng.random((2, *s)).astype(dt), dev)) for s, dt in zip(sizes, dtypes)
    ]

    result = Summary(input_size=[list(s) for s in sizes], batch_size=batch_size)
    paths = {id(m): p for p, m in model.named_modules()}
    active: list = []  # (module, row name, input shapes) of the calls in progress, outermost first
    handles = []

    def pre_hook(module, args):
        row_name = None
        if _is_row(module, model, leaf_only):
            row_name = f"{type(module).__name__}-{len(result.rows) + 1}"
        shapes = [tuple(a.shape) for a in args if isinstance(a, Tensor)]
        active.append((module, row_name, shapes))

    def hook(module, args, output):
        _, row_name, _ = active.pop()
        if row_name is None:
            return
        params = [p for p in module._parameters.values() if p is not None]
        result.rows.append(
            LayerRow(
                name=f"{type(module).__name__}-{len(result.rows) + 1}",
                type=type(module).__name__,
                path=paths.get(id(module), ""),
                input_shape=_shapes_of(args[0], batch_size) if args else [],
                output_shape=_shapes_of(output, batch_size),
                num_params=sum(p.numel() for p in params),
                trainable_params=sum(p.numel() for p in params if p.requires_grad),
            )
        )
        for p in params:
            seen.setdefault(id(p), p)

    seen: dict = {}
    modes = [(m, m.training) for m in model.modules()]
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(hook))
        model.eval()
        with no_grad():
            output = model(*inputs)
    except Exception as e:
        if not active:
            raise
        module, row_name, shapes = active[-1]
        path = paths.get(id(module), "")
        label = row_name or type(module).__name__
        where = f"'{path}'" if path else "(the model itself)"
        got = shapes[0] if len(shapes) == 1 else shapes
        raise ValueError(
            f"summary: input size {sizes[0] if len(sizes) == 1 else sizes} does not fit the "
            f"network: layer {label} {where} failed on input of shape {got}: {e}"
        ) from e
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    result.output_shape = _shapes_of(output, batch_size)
    every = {}  # the model's parameters, each once, with its name
    for name, p in model.named_parameters():
        every.setdefault(id(p), (name, p))
    result.outside_rows = {name: p.numel() for k, (name, p) in every.items() if k not in seen}
    result.total_params = sum(p.numel() for _, p in every.values())
    result.trainable_params = sum(p.numel() for _, p in every.values() if p.requires_grad)
    total_output = sum(_numel(r.output_shape) for r in result.rows)
    in_elems = sum(int(np.prod(s, dtype=np.int64)) for s in sizes)
    result.input_size_mb = abs(in_elems * batch_size * _BYTES / _MB)
    result.forward_backward_mb = abs(2.0 * total_output * _BYTES / _MB)
    result.params_mb = abs(result.total_params * _BYTES / _MB)
    return result
