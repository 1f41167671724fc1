"""Module and Parameter: the bookkeeping every layer shares, with torch.nn.Module's semantics.

A Module registers what is assigned to it: a `Parameter` goes to `_parameters`, a Module to
`_modules`, a tensor passed to `register_buffer` to `_buffers`. Everything else (walking the tree,
`state_dict` names like 'features.0.weight', moving to a device, train/eval) is derived from those
three dicts.

    class MLP(Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Linear(2, 16)          # registered as a submodule
            self.scale = Parameter(ones(1))   # registered as a parameter

        def forward(self, x):
            return self.fc1(x).relu() * self.scale
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np

from ..backend import Device, device_of, to_device
from ..backend import device as parse_device
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable weight (requires_grad=True by default).

    Args:
        data: a Tensor (its array is shared, not copied), a NumPy/CuPy array or Python data.
        requires_grad (bool): default True.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        if isinstance(data, Tensor):
            data = data._data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class StateDictError(RuntimeError, ValueError):
    """A state dict that does not fit the module: missing, unexpected or mis-shaped keys.

    A RuntimeError like PyTorch's, and a ValueError since it is bad input."""


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped."""

    missing_keys: list
    unexpected_keys: list

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (
            f"IncompatibleKeys(missing_keys={self.missing_keys}, "
            f"unexpected_keys={self.unexpected_keys})"
        )


class RemovableHandle:
    """Returned by `register_forward_hook` and friends; `.remove()` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, *hook_dicts: dict):
        self.id = next(RemovableHandle._ids)
        self._dicts = hook_dicts

    def remove(self) -> None:
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _check_name(module, name, kind: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got: {name}')


def _to_array(value):
    """A state-dict value (Tensor, NumPy/CuPy array, torch tensor, number) as an array."""
    if isinstance(value, Tensor):
        return value._data
    if type(value).__module__.startswith("cupy"):
        return value
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu()  # np.asarray refuses torch tensors that require grad
    return np.asarray(value)


def _addindent(text: str, n: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class Module:
    """Base class of every layer and model (PyTorch's `torch.nn.Module`).

    Subclasses call `super().__init__()` first, assign Parameters and Modules as attributes and
    define `forward`. Call the module (`m(x)`), not `m.forward(x)`, so that hooks run.
    """

    training: bool
    # Names of this module's entries that load_state_dict drops from the dict before matching
    # keys (a torch module does it in its _load_from_state_dict): FrozenBatchNorm2d drops the
    # num_batches_tracked of the BatchNorm checkpoints it is loaded from.
    _dropped_on_load: tuple = ()

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist already
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks_with_kwargs", set())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks_with_kwargs", set())

    def forward(self, *args, **kwargs):
        """The computation of the layer; every subclass defines it."""
        raise TypeError(
            f"{type(self).__name__} has no forward(): a Module subclass must define "
            "forward(self, ...) to be called"
        )

    # ------------------------------------------------------------------ registration

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None: a declared but absent one, like `bias=False`)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name(self, name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(Parameter or None required)"
            )
        if param is not None and not param.is_leaf:
            raise ValueError(
                f"cannot assign non-leaf tensor to parameter '{name}': wrap a detached copy, "
                "Parameter(t.detach())"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add state that is not learned (e.g. BatchNorm's `running_mean`).

        Args:
            name (str): attribute name.
            tensor: a Tensor, a NumPy/CuPy array (wrapped), or None.
            persistent (bool): included in `state_dict()`. Default: True.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name(self, name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            if isinstance(tensor, np.ndarray) or type(tensor).__module__.startswith("cupy"):
                tensor = Tensor(tensor)
            else:
                raise TypeError(
                    f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                    "(Tensor or None required)"
                )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under `name` (what `self.name = module` does)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name(self, name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params, buffers, modules = d.get("_parameters"), d.get("_buffers"), d.get("_modules")

        def forget(*stores):
            for s in stores:
                if s is not None and name in s:
                    del s[name]
            d.pop(name, None)

        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            forget(buffers, modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            forget(params, buffers)
            modules[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(Module or None expected)"
                )
            modules[name] = None
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(Tensor or None expected)"
                )
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: look in the registries
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        extra = list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(set(super().__dir__()) | set(extra))

    # ------------------------------------------------------------------ walking the tree

    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ):
        """Yield (dotted name, module) for this module and every descendant, each once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = f"{prefix}.{name}" if prefix else name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """Yield (name, module) for the direct children."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mod_prefix, m in mods:
            for name, t in getattr(m, store).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ):
        """Yield (dotted name, Parameter), e.g. ('features.0.weight', ...); shared ones once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        """Yield every Parameter (what an optimizer is given)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The module at a dotted path, e.g. 'features.0'; '' is the module itself."""
        m = self
        for part in target.split(".") if target else []:
            nxt = m._modules.get(part) if isinstance(m, Module) else None
            if nxt is None:
                raise AttributeError(
                    f"{m._get_name()} has no submodule '{part}' (looking up '{target}')"
                )
            m = nxt
        return m

    def get_parameter(self, target: str) -> Parameter:
        mod_path, _, name = target.rpartition(".")
        m = self.get_submodule(mod_path)
        p = m._parameters.get(name)
        if p is None:
            raise AttributeError(
                f"{m._get_name()} has no parameter '{name}' (looking up '{target}')"
            )
        return p

    def num_parameters(self, only_trainable: bool = False) -> int:
        """Number of scalar weights (shared parameters counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not only_trainable)

    # ------------------------------------------------------------------ modes and gradients

    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout drops, BatchNorm uses batch statistics) on the whole tree."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(): mode is expected to be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """`train(False)`."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear gradients: drop them (default) or fill them with zeros."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad._data[...] = 0

    # ------------------------------------------------------------------ calling, hooks

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """`hook(module, args)` runs before forward; it may return new args (a tuple or one value).

        With `with_kwargs=True`: `hook(module, args, kwargs)` may return `(args, kwargs)`."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(handle.id)
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """`hook(module, args, output)` runs after forward; it may return a replacement output.

        With `with_kwargs=True`: `hook(module, args, kwargs, output)`."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(handle.id)
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def __call__(self, *args, **kwargs):
        for hid, hook in tuple(self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                r = hook(self, args, kwargs)
                if r is not None:
                    args, kwargs = r
            else:
                r = hook(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        try:
            out = self.forward(*args, **kwargs)
        except (ValueError, TypeError) as e:
            self._name_in_error(e)
            raise
        for hid, hook in tuple(self._forward_hooks.items()):
            if hid in self._forward_hooks_with_kwargs:
                r = hook(self, args, kwargs, out)
            else:
                r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    def _name_in_error(self, e: Exception) -> None:
        """Prefix a bad-input error (ValueError, or TypeError for a dtype) from a built-in leaf
        layer's forward with the layer (`MaxPool2d(kernel_size=3, ...): max_pool2d: ... input of
        shape ...`, `Conv2d(3->16, k=3): conv2d: ... got float64, float32`), so a user sees
        which layer of the model refused which input; type, traceback and other args stay.
        Errors that already name this layer, those of containers (their failing child named
        itself) and those of user-defined modules are left as they are."""
        if (
            self._modules
            or not type(self).__module__.startswith("minitorch_cv.")
            or not e.args
            or not isinstance(e.args[0], str)
            or e.args[0].startswith(self._get_name() + "(")
        ):
            return
        e.args = (f"{self._error_label()}: {e.args[0]}", *e.args[1:])

    def _error_label(self) -> str:
        """How this layer names itself in error messages: its repr; Conv2d has a short form."""
        return repr(self)

    # ------------------------------------------------------------------ state dict

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """This module's own entries (no children); layers with extra state override it."""
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(
        self, destination: dict | None = None, prefix: str = "", keep_vars: bool = False
    ):
        """OrderedDict of every parameter and persistent buffer under PyTorch's dotted names.

        Values are detached Tensors sharing memory with the module (copy them to snapshot)."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        return destination

    def _without_dropped_keys(self, state_dict):
        """state_dict less the entries its modules drop on load (`_dropped_on_load`), under every
        path of a shared module (torch runs each module's _load_from_state_dict once per path).
        Also used by models.load_weights, which checks the keys itself."""
        dropped = {
            f"{p}.{n}" if p else n
            for p, m in self.named_modules(remove_duplicate=False)
            for n in m._dropped_on_load
        }
        if not dropped:
            return state_dict
        return OrderedDict((k, v) for k, v in state_dict.items() if k not in dropped)

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the parameters and buffers, in place.

        Args:
            state_dict: mapping name -> Tensor / NumPy or CuPy array / torch tensor.
            strict (bool): missing or unexpected keys are an error. Default: True.
                A shape mismatch is always an error.

        Everything is checked before anything is written: on error the module is unchanged.
        Values are cast to each target's dtype and moved to its device. A still-lazy layer
        (layers/lazy.py) first takes its size from the dict's shapes. Entries a module drops on
        load (FrozenBatchNorm2d: a BatchNorm's num_batches_tracked) are ignored.
        Returns IncompatibleKeys(missing_keys, unexpected_keys).
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"expected a mapping for state_dict, got {type(state_dict).__name__}")
        from .lazy import _load_sizes  # lazy layers first take their sizes from the dict's shapes

        state_dict = self._without_dropped_keys(state_dict)
        undo_lazy = _load_sizes(self, state_dict)
        targets = self.state_dict(keep_vars=True)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        problems, arrays = [], {}
        for key, target in targets.items():
            if key not in state_dict:
                continue
            try:
                arr = _to_array(state_dict[key])
            except Exception as e:  # any conversion failure is reported with its key
                problems.append(f'could not read "{key}" as an array: {e}')
                continue
            if tuple(arr.shape) != target.shape:
                problems.append(
                    f"size mismatch for {key}: expected shape {target.shape} (the model's), "
                    f"got {tuple(arr.shape)} from the state dict"
                )
            elif arr.dtype.kind not in "biuf":
                problems.append(
                    f"dtype mismatch for {key}: cannot load dtype {arr.dtype} into {target.dtype}"
                )
            else:
                arrays[key] = arr
        if strict:
            if missing:
                problems.insert(
                    0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + "."
                )
            if unexpected:
                pos = 1 if missing else 0
                problems.insert(
                    pos,
                    "Unexpected key(s) in state_dict: "
                    + ", ".join(f'"{k}"' for k in unexpected)
                    + ".",
                )
        if problems:
            undo_lazy()
            raise StateDictError(
                f"Error(s) in loading state_dict for {self._get_name()}:\n\t"
                + "\n\t".join(problems)
            )
        for key, arr in arrays.items():
            target = targets[key]
            arr = to_device(arr, target.device)
            target._data[...] = arr.astype(target.dtype, copy=False)
            target._version += 1  # a pending backward that saved it must not use new values
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ devices, dtypes

    def _apply_to_arrays(self, convert) -> Module:
        """Replace every parameter's and buffer's array (and gradient) by convert(array), keeping
        the Tensor objects: an optimizer built before the move keeps working."""
        seen = set()
        for m in self.modules():
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is None or id(t) in seen:
                        continue
                    seen.add(id(t))
                    if getattr(t, "_is_lazy", False):  # layers/lazy.py: a placeholder array
                        t.__dict__["_data"] = convert(t.__dict__["_data"])  # (dtype, device)
                        continue
                    t._data = convert(t._data)
                    if t.grad is not None:
                        t.grad._data = convert(t.grad._data)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Move and/or cast parameters and buffers in place: `to(device)`, `to(dtype)`,
        `to(device, dtype)`, or keywords `device=`, `dtype=`. Only floating arrays are cast."""
        dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"{self._get_name()}.to(): unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Device):
                dev = a
            elif isinstance(a, str):
                try:
                    dev = parse_device(a)
                except ValueError:
                    dtype = a
            elif isinstance(a, Tensor):
                dev, dtype = a.device, a.dtype
            else:
                dtype = a
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(
                    f"{self._get_name()}.to() only accepts floating point dtypes, got {dtype}"
                )
        if dev is not None:
            dev = parse_device(dev)

        def convert(a):
            if dtype is not None and a.dtype.kind == "f" and a.dtype != dtype:
                a = a.astype(dtype)
            if dev is not None and device_of(a) != dev:
                a = to_device(a, dev)
            return a

        return self._apply_to_arrays(convert)

    def cuda(self, device: int | str | None = None) -> Module:
        if device is None:
            return self.to("cuda")
        return self.to(device if isinstance(device, str) else f"cuda:{device}")

    def cpu(self) -> Module:
        return self.to("cpu")

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def half(self) -> Module:
        return self.to(np.float16)

    def apply(self, fn) -> Module:
        """Call `fn(m)` on every submodule (children first) and on self; e.g. custom init."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ printing

    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The arguments shown inside the parentheses of repr; layers override it."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_addindent(repr(m), 2)}" for name, m in self._modules.items()]
        lines = extra_lines + child_lines
        s = self._get_name() + "("
        if len(extra_lines) == 1 and not child_lines:
            s += extra_lines[0]
        elif lines:
            s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"
