"""Containers: Sequential (a chain), ModuleList and ModuleDict (registered collections of
modules), ParameterList and ParameterDict (registered collections of parameters)."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from ..tensor import Tensor
from .module import Module, Parameter, _addindent, _check_name


def _index(idx, n: int, who: str) -> int:
    """A Python index into a container of length n, negative allowed, range checked."""
    idx = operator.index(idx)
    if not -n <= idx < n:
        raise IndexError(f"{who}: index {idx} is out of range for length {n}")
    return idx % n


class Sequential(Module):
    """Modules called one after the other: `Sequential(Linear(2, 16), ReLU(), Linear(16, 2))`.

    Args:
        *modules: the modules, named '0', '1', ...; or one OrderedDict / dict name -> module.

    Indexing gives a module (`seq[0]`) or, with a slice, a Sequential of the same modules.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], dict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(idx, len(self), "Sequential")]

    def __setitem__(self, idx, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        doomed = (
            keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(self), "Sequential")]]
        )
        for k in doomed:
            del self._modules[k]
        # renumber, as PyTorch does, so that names stay '0', '1', ...
        object.__setattr__(
            self, "_modules", OrderedDict((str(i), m) for i, m in enumerate(self._modules.values()))
        )

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> Sequential:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert: expected a Module, got {type(module).__name__}")
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for length {n}")
        mods = list(self._modules.values())
        mods.insert(index, module)
        object.__setattr__(self, "_modules", OrderedDict((str(i), m) for i, m in enumerate(mods)))
        return self

    def pop(self, idx: int = -1) -> Module:
        m = self[idx]
        del self[idx]
        return m


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain Python list would hide them).

    Args:
        modules (iterable, optional): initial modules, named '0', '1', ...
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx, module: Module) -> None:
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx) -> None:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[_index(idx, len(self), "ModuleList")]
        object.__setattr__(self, "_modules", OrderedDict((str(i), m) for i, m in enumerate(mods)))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other) -> ModuleList:
        return self.__class__(list(self) + list(other))

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def __repr__(self) -> str:
        # as PyTorch prints it: a run of equal consecutive entries (the layers of a
        # TransformerEncoder) folded into one "(first-last): count x module" line
        runs = []  # [first index, last index, repr]
        for i, m in enumerate(self):
            r = repr(m)
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        if not runs:
            return self._get_name() + "()"
        lines = [
            _addindent(f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}", 2)
            for a, b, r in runs
        ]
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def extend(self, modules) -> ModuleList:
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError(
                f"ModuleList.extend: expected an iterable of Modules, got {type(modules).__name__}"
            )
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, module)
        object.__setattr__(self, "_modules", OrderedDict())
        for m in mods:
            self.append(m)

    def pop(self, idx: int = -1) -> Module:
        m = self[idx]
        del self[idx]
        return m


class ModuleDict(Module):
    """A dict of modules whose parameters are registered; keeps insertion order.

    Args:
        modules (mapping or iterable of (name, module) pairs, optional)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r}; keys: {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        m = self[key]
        del self[key]
        return m

    def update(self, modules) -> None:
        pairs = modules.items() if hasattr(modules, "items") else modules
        for pair in pairs:
            if len(pair) != 2:
                raise ValueError(f"ModuleDict.update: expected (name, module) pairs, got {pair!r}")
            self[pair[0]] = pair[1]


# --------------------------------------------------------------------------- parameter containers


def _as_parameter(value):
    """A plain Tensor becomes a Parameter sharing its array (PyTorch's containers do the same);
    Parameters, modules and other objects are kept as they are."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


# torch.typename's names, which ParameterDict prints
_TYPE_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char",
               "int16": "Short", "int32": "Int", "int64": "Long", "uint8": "Byte",
               "bool": "Bool"}  # fmt: skip


def _entries_repr(pairs, typename: bool) -> str:
    """PyTorch's extra_repr of ParameterList (typename=False: 'torch.float32') and ParameterDict
    (typename=True: 'torch.FloatTensor'), one line per entry."""
    lines = []
    for key, p in pairs:
        if isinstance(p, Tensor):
            size = "x".join(str(n) for n in p.shape)
            cuda = p.device.type == "cuda"
            if typename:
                kind = _TYPE_NAMES.get(str(p.dtype), str(p.dtype))
                dtype = f"torch.{'cuda.' if cuda else ''}{kind}Tensor"
            else:
                dtype = f"torch.{p.dtype}"
            where = f" ({p.device})" if cuda else ""
            what = "Parameter" if isinstance(p, Parameter) else "Tensor"
            lines.append(f"  ({key}): {what} containing: [{dtype} of size {size}{where}]")
        else:
            lines.append(f"  ({key}): Object of type: {type(p).__name__}")
    return "\n".join(lines)


class ParameterList(Module):
    """A list of parameters that a Module registers (a plain Python list would hide them from
    parameters(), state_dict(), to() and the optimizer). PyTorch's ParameterList.

    Args:
        values (iterable, optional): initial entries, named '0', '1', ... in state_dict().

    A plain Tensor put in (constructor, append, extend, `pl[i] = t`) becomes a Parameter that
    shares its array; other objects are kept as they are, unregistered. Indexing takes negative
    ints; a slice gives a new ParameterList of the same Parameters.
    """

    def __init__(self, values=None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _key(self, idx) -> str:
        return str(_index(idx, len(self), "ParameterList"))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            out = self.__class__()
            for i in range(*idx.indices(len(self))):
                out.append(self[i])
            return out
        return getattr(self, self._key(idx))

    def __setitem__(self, idx, value) -> None:
        setattr(self, self._key(idx), _as_parameter(value))

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __iadd__(self, values) -> ParameterList:
        return self.extend(values)

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, value) -> ParameterList:
        """Add `value` at the end (a Tensor becomes a Parameter)."""
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values) -> ParameterList:
        """Append every entry of an iterable (a Tensor is one entry, not an iterable here)."""
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError(
                "ParameterList.extend should be called with an iterable, but got "
                + type(values).__name__
            )
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        return _entries_repr(enumerate(self), typename=False)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class _MissingKeyError(KeyError, AttributeError):
    """A key ParameterDict does not hold: a KeyError, as any mapping raises, and an
    AttributeError, which is what PyTorch's attribute-based lookup raises."""


class ParameterDict(Module):
    """An ordered dict of parameters that a Module registers, keyed by strings (PyTorch's
    ParameterDict); state_dict() names each parameter by its key.

    Args:
        parameters (optional): a mapping key -> value, or an iterable of (key, value) pairs.
            As in PyTorch, an OrderedDict, a ParameterDict or pairs keep their order and a plain
            dict is inserted in sorted key order.

    A plain Tensor put in becomes a Parameter that shares its array; other objects are kept
    as they are, unregistered. Keys must be non-empty strings without '.' that are not already
    attributes of the module (such as 'training' or 'keys').
    """

    def __init__(self, parameters=None) -> None:
        super().__init__()
        self._keys: dict = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _check_key(key) -> None:
        if not isinstance(key, str):
            raise TypeError(
                f"ParameterDict keys must be strings, got {key!r} of type '{type(key).__name__}'"
            )

    def __getitem__(self, key: str):
        self._check_key(key)
        if key not in self._keys:
            raise _MissingKeyError(f"ParameterDict has no key {key!r}; keys: {list(self._keys)}")
        return getattr(self, key)

    def __setitem__(self, key: str, value) -> None:
        self._check_key(key)
        _check_name(self, key, "parameter")
        if key not in self._keys and hasattr(self, key):
            raise KeyError(f"ParameterDict: key {key!r} is already an attribute of the module")
        setattr(self, key, _as_parameter(value))
        self._keys[key] = None

    def __delitem__(self, key: str) -> None:
        self._check_key(key)
        if key not in self._keys:
            raise _MissingKeyError(f"ParameterDict has no key {key!r}; keys: {list(self._keys)}")
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._keys

    def keys(self):
        return self._keys.keys()

    def items(self):
        return ((k, self[k]) for k in self._keys)

    def values(self):
        return (self[k] for k in self._keys)

    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def setdefault(self, key: str, default=None):
        """The value at `key`, after inserting `default` there if it is missing."""
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: str):
        value = self[key]
        del self[key]
        return value

    def popitem(self) -> tuple:
        """Remove and return the last inserted (key, value) pair."""
        if not self._keys:
            raise KeyError("popitem(): ParameterDict is empty")
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def clear(self) -> None:
        for k in list(self._keys):
            del self[k]

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same Parameters (shallow), in the same order."""
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def fromkeys(self, keys, default=None) -> ParameterDict:
        """A new ParameterDict with `keys`, each set to `default`."""
        return ParameterDict((k, default) for k in keys)

    def update(self, parameters) -> None:
        """Insert or overwrite entries from a mapping or an iterable of (key, value) pairs."""
        if not isinstance(parameters, Iterable):
            raise TypeError(
                "ParameterDict.update should be called with an iterable of key/value pairs, "
                f"but got {type(parameters).__name__}"
            )
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs = parameters.items()
        elif isinstance(parameters, Mapping):
            pairs = sorted(parameters.items(), key=lambda kv: kv[0])  # PyTorch sorts a dict
        else:
            pairs = parameters
        # one pair at a time, as dict.update: the pairs before a malformed one are in
        for j, p in enumerate(pairs):
            if not isinstance(p, Iterable):
                raise TypeError(
                    f"ParameterDict update sequence element #{j} should be Iterable; "
                    f"is {type(p).__name__}"
                )
            p = tuple(p)
            if len(p) != 2:
                raise ValueError(
                    f"ParameterDict update sequence element #{j} has length {len(p)}; 2 is required"
                )
            self[p[0]] = p[1]

    def __or__(self, other: ParameterDict) -> ParameterDict:
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self

    def extra_repr(self) -> str:
        return _entries_repr(self.items(), typename=True)

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called.")
