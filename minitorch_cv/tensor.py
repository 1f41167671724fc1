"""Tensor, Function and the backward tape: the whole of reverse-mode autograd.

A `Tensor` wraps a raw array (NumPy or CuPy) and, when it was computed from tensors that require
gradients, a `Context` recording which `Function` made it and from which inputs. `backward()`
walks those contexts in reverse topological order, asks each Function for the gradients of its
inputs, sums gradients of broadcast inputs back to their shapes (the only place that happens) and
accumulates them into the leaves' `.grad`.

The graph is made of leaf tensors and Contexts, never of intermediate tensors: a Context keeps
its inputs' Contexts (and leaves), so an intermediate array stays alive only while a Function
saved it or the caller holds its tensor, as in PyTorch (the graph holding every activation cost
about 1.8x PyTorch's memory on a U-Net training step).

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):          # raw arrays in
            ctx.save_for_backward(a, b)
            return a * b                 # raw array out
        @staticmethod
        def backward(ctx, grad):         # d(loss)/d(out) in
            a, b = ctx.saved_tensors
            return grad * b, grad * a    # d(loss)/d(input) out, one per input
"""

from __future__ import annotations

import functools
import threading
import weakref

import numpy as np

from .backend import Device, device_of, to_device, xp_for_device, xp_of
from .backend import device as parse_device

# --------------------------------------------------------------------------- grad mode


class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


class _GradModeContext:
    """Base of the grad-mode switches: a context manager, and a decorator via `__call__`."""

    mode = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self(fn) if callable(fn) else self  # bare `@no_grad` decorates at once

    def __enter__(self):
        self.prev = _grad_mode.enabled
        _grad_mode.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _grad_mode.enabled  # saved per call, so recursion and threads are safe
            _grad_mode.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _grad_mode.enabled = prev

        return wrapper


class no_grad(_GradModeContext):
    """`with no_grad():`, `@no_grad()` or `@no_grad`: operations inside record no graph."""

    mode = False


class enable_grad(_GradModeContext):
    """`with enable_grad():` (or as a decorator): record the graph, even inside `no_grad`."""

    mode = True


class set_grad_enabled(_GradModeContext):
    """`set_grad_enabled(False)` switches recording off at once (as a plain call), or for a block
    (`with set_grad_enabled(mode):`), restoring the previous mode on exit, as in PyTorch."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = _grad_mode.enabled
        _grad_mode.enabled = self.mode

    def __enter__(self):
        return self

    def __call__(self, fn):
        _grad_mode.enabled = self.prev  # as a decorator it must not change the mode now
        return super().__call__(fn)


# --------------------------------------------------------------------------- random numbers

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the package's random generator (initialisation, dropout, randn, shuffling defaults)."""
    global _rng
    _rng = np.random.default_rng(seed)


def default_rng() -> np.random.Generator:
    """The package's random generator; draws happen on the CPU so a seed gives the same numbers
    on every device."""
    return _rng


def get_rng_state() -> dict:
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    _rng.bit_generator.state = state


# --------------------------------------------------------------------------- dtypes

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_dtype = float32


def set_default_dtype(dtype) -> None:
    """Dtype of tensors made from Python floats (float32 unless changed, as in PyTorch)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _default_dtype = dtype


def get_default_dtype():
    return _default_dtype


def _is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


# PyTorch's type promotion, where it differs from NumPy's. A float meeting an integer keeps its
# width (int64 with float32 is float32; NumPy says float64), and operands count by rank: tensors
# with dimensions decide, 0-d tensors only when they bring a higher category (bool < integer <
# float), then Python numbers the same way: float16 tensor + float32 0-d tensor is float16,
# int32 tensor + 5 is int32, int32 tensor + 2.5 the default float (NumPy: float32 and int64).
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def promote_types(type1, type2):
    """The smallest dtype both cast to safely, as torch.promote_types: a float with an integer or
    bool is that float (int64 with float16 is float16)."""
    a, b = np.dtype(type1), np.dtype(type2)
    if _CATEGORY[a.kind] != _CATEGORY[b.kind] and "f" in (a.kind, b.kind):
        return a if a.kind == "f" else b
    return np.promote_types(a, b)


def _combine_categories(higher, lower):
    """A lower-ranked operand's dtype counts only if it is of a higher category."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def result_type(*operands):
    """The dtype PyTorch computes `operands` (Tensors, arrays and Python numbers) in, as
    torch.result_type: Python ints count as int64, floats as the default float dtype, bools as
    bool, each below every tensor of its category."""
    ranks = [None, None, None]  # tensors with dimensions, 0-d tensors, Python numbers
    for x in operands:
        if isinstance(x, Tensor) or _is_array(x):
            d, rank = x.dtype, 0 if x.ndim else 1
        elif isinstance(x, (bool, np.bool_)):
            d, rank = bool_, 2
        elif isinstance(x, (int, np.integer)):
            d, rank = int64, 2
        elif isinstance(x, (float, np.floating)):
            d, rank = _default_dtype, 2
        else:
            raise TypeError(f"result_type: expected Tensors or numbers, got {type(x).__name__}")
        ranks[rank] = d if ranks[rank] is None else promote_types(ranks[rank], d)
    if all(r is None for r in ranks):
        raise TypeError("result_type: expected at least one operand")
    return _combine_categories(ranks[0], _combine_categories(ranks[1], ranks[2]))


def can_cast(from_, to) -> bool:
    """Whether PyTorch's in-place ops may write a result of dtype `from_` into a tensor of dtype
    `to` (torch.can_cast): everything but float into an integer or bool, and non-bool into bool."""
    a, b = np.dtype(from_), np.dtype(to)
    return not ((a.kind == "f" and b.kind != "f") or (a.kind != "b" and b.kind == "b"))


# --------------------------------------------------------------------------- Function / Context


class Context:
    """What a Function remembers between its forward and its backward."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()
        self.freed = False
        self.hooks = ()  # hooks of the tensor this context made (register_hook)
        self.retained = None  # weak reference to that tensor after retain_grad()
        self.versions = ()  # (input index or -1 for the output, counter, version, shape)

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays

    def __getstate__(self) -> dict:
        # a weak reference does not pickle: a pickled graph drops retain_grad's link
        return {**self.__dict__, "retained": None}

    def free(self) -> None:
        """Drop everything saved, so the graph's memory goes back; a second backward then fails."""
        fn = getattr(self, "fn", None)
        self.__dict__.clear()
        self.fn = fn
        self.freed = True


def _check_same_device(name: str, arrays) -> None:
    if not any(type(a).__module__.startswith("cupy") for a in arrays):
        return  # the common all-NumPy case costs one pass
    devs = [device_of(a) for a in arrays if _is_array(a)]
    if len(set(devs)) > 1:
        raise RuntimeError(
            f"{name}: expected all tensors on the same device, got {', '.join(map(str, devs))}; "
            "move them with .to(device) first"
        )


class Function:
    """A differentiable operation: `forward` on raw arrays, `backward` right under it."""

    # True for a node whose backward reruns a computation and back-propagates through it into
    # .grad (utils.checkpoint): grad(), which must leave .grad alone, refuses to go through it
    reruns = False

    # Subclasses define both as staticmethods; these say so if one is missing.
    @staticmethod
    def forward(ctx, *args, **params):
        raise TypeError("a Function subclass must define forward(ctx, *arrays, **params)")

    @staticmethod
    def backward(ctx, grad):
        raise TypeError("a Function subclass must define backward(ctx, grad)")

    @classmethod
    def apply(cls, *args, **params):
        tensors = tuple(a if isinstance(a, Tensor) else None for a in args)
        raw = tuple(a._data if isinstance(a, Tensor) else a for a in args)
        _check_same_device(cls.__name__, raw)
        ctx = Context()
        ctx.needs_input_grad = tuple(t is not None and t.requires_grad for t in tensors)
        record = _grad_mode.enabled and any(ctx.needs_input_grad)
        out = cls.forward(ctx, *raw, **params)
        aux = ()
        if isinstance(out, tuple):
            out, aux = out[0], out[1:]
        result = Tensor(out)
        base = getattr(out, "base", None)
        if base is not None:  # a view (reshape, transpose, slicing): the input's counter
            for t, a in zip(tensors, raw):
                if t is not None and (base is a or base is getattr(a, "base", None)):
                    result._vc = t._vc
                    break
        if record and result._data.dtype.kind == "f":  # integer outputs (casts) carry no gradient
            result.requires_grad = True
            ctx.fn = cls
            ctx.inputs = tuple(_node(t) for t in tensors)
            ctx._out = result._data.shape, result._data.dtype
            ctx.versions = _saved_versions(ctx, tensors, result)
            result._ctx = ctx
        if aux:
            return (result, *(Tensor(a) for a in aux))
        return result


def _saved_versions(ctx, tensors, result) -> tuple:
    """The tensors (inputs, or the output as index -1) whose arrays the backward will read, with
    their versions now: an in-place change before backward() would make the gradient silently
    wrong, so backward() checks the versions first (PyTorch's version counters)."""
    saved = set()
    for v in (*ctx.saved_tensors, *ctx.__dict__.values()):
        for a in v if isinstance(v, (tuple, list)) else (v,):
            if not _is_array(a):
                continue
            # a view of an input (x.reshape(...)) reads it too, and so does a view of a view
            # (windows through as_strided): every base up the chain
            while a is not None:
                saved.add(id(a))
                a = getattr(a, "base", None)
    if not saved:
        return ()
    pairs = [(i, t) for i, t in enumerate(tensors) if t is not None] + [(-1, result)]
    # the counter list itself, not the tensor: a temporary view (W.t()) dies, its memory and
    # counter (shared with W) live on
    return tuple((i, t._vc, t._vc[0], t.shape) for i, t in pairs if id(t._data) in saved)


def _node(t):
    """What the graph keeps of an input: nothing if it needs no gradient, a leaf itself (its
    `.grad` is filled), else the Context that made it, without its array."""
    if t is None or not t.requires_grad:
        return None
    return t if t._ctx is None else t._ctx


def _node_meta(node):
    """(shape, dtype) of the tensor a graph node stands for."""
    if isinstance(node, Tensor):
        return node._data.shape, node._data.dtype
    return node._out


def _unbroadcast(grad, shape):
    """Sum `grad` down to `shape`: the adjoint of NumPy broadcasting."""
    if grad.shape == tuple(shape):
        return grad
    xp = xp_of(grad)
    extra = grad.ndim - len(shape)
    if extra < 0:
        return xp.broadcast_to(grad, shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _check_version(ctx, i, counter, version, shape) -> None:
    if counter[0] == version:
        return
    which = "its output" if i < 0 else f"its input {i}"
    raise RuntimeError(
        f"{ctx.fn.__name__}.backward: {which} (a tensor of shape {shape}) was modified by an "
        f"in-place operation after the forward pass saved it (version {version}, now "
        f"{counter[0]}), so its gradient would be wrong; modify a copy (y = x.clone()) or "
        "modify it after backward()"
    )


# --------------------------------------------------------------------------- Tensor


_functional = None


def _ops():
    """The functional package, imported on first use (it imports this module)."""
    global _functional
    if _functional is None:
        from . import functional

        _functional = functional
    return _functional


def _run_hook(hook, g):
    r = hook(Tensor(g))
    if r is None:
        return g
    return r._data if isinstance(r, Tensor) else r


def _topological_order(roots) -> list:
    """Nodes (leaves and Contexts) of the graph below `roots`, every node after all nodes it was
    computed from (a Context freed by an earlier backward ends its branch: its inputs are gone)."""
    order, seen = [], set()
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if isinstance(node, Tensor) or node.freed:
            continue
        for inp in node.inputs:
            if inp is not None and id(inp) not in seen:
                stack.append((inp, False))
    return order


def _seed(t, gradient, op):
    """The gradient that starts a backward pass at `t`: ones for a one-element t, else given."""
    if not isinstance(t, Tensor) or not t.requires_grad:
        raise RuntimeError(
            f"{op}: this tensor does not require grad and has no grad_fn "
            "(did you compute it under no_grad, or from tensors without requires_grad=True?)"
        )
    xp = xp_of(t._data)
    if gradient is None:
        if t._data.size != 1:
            raise RuntimeError(
                f"{op}: grad can be implicitly created only for scalar outputs, got shape "
                f"{t.shape}; pass the output's gradient with that shape"
            )
        return xp.ones_like(t._data)
    g = gradient._data if isinstance(gradient, Tensor) else xp.asarray(gradient, dtype=t.dtype)
    if tuple(g.shape) != t.shape:
        raise RuntimeError(f"{op}: gradient has shape {tuple(g.shape)}, expected {t.shape}")
    return g


def _run_backward(outputs, gradients, retain_graph, op, capture=None) -> None:
    """Reverse-mode sweep from `outputs` (seeded with `gradients`) through the graph, every
    Context's backward once, in reverse topological order. Without `capture`, leaves accumulate
    their `.grad` (and retain_grad tensors theirs); with it (a dict {id(node): None}), only the
    part of the graph that leads to those nodes runs, and the gradients reaching them are stored
    in it instead of in any leaf's `.grad`."""
    grads = {}
    for t, gradient in zip(outputs, gradients):
        g, k = _seed(t, gradient, op), id(_node(t))
        grads[k] = grads[k] + g if k in grads else g
    order = _topological_order([_node(t) for t in outputs])
    needed = None if capture is None else _leading_to(order, capture)
    for node in order:  # fail before any gradient is touched
        if getattr(node, "freed", False) and (
            needed is None or (id(node) in needed and id(node) not in capture)
        ):
            raise RuntimeError(
                f"{op}: trying to backward through the graph a second time "
                f"(at {node.fn.__name__}); its saved values were freed after the first "
                "backward. Pass retain_graph=True to the first call if you need to backward "
                "twice."
            )
        if capture is not None and getattr(getattr(node, "fn", None), "reruns", False):
            raise RuntimeError(
                f"{op}: cannot go through the checkpointed {node.name} (its recomputation fills "
                "the parameters' .grad instead of returning gradients); call backward() instead"
            )
    for i in range(len(order) - 1, -1, -1):
        node = order[i]
        order[i] = None  # let contexts go as soon as they are done
        g = grads.pop(id(node), None)
        if g is None or (needed is not None and id(node) not in needed):
            continue
        hooks = node._hooks or () if isinstance(node, Tensor) else node.hooks
        for hook in hooks:
            g = _run_hook(hook, g)
        if capture is not None and id(node) in capture:
            capture[id(node)] = g
        if isinstance(node, Tensor):  # a leaf
            if capture is None:
                node._accumulate(g)
            continue
        ctx = node
        kept = ctx.retained() if ctx.retained is not None else None  # (grad() fills it too)
        if kept is not None:
            kept._accumulate(g)
        if needed is not None and not any(id(inp) in needed for inp in ctx.inputs):
            continue  # a captured tensor with nothing wanted below it: its graph stays intact
        for j, counter, version, shape in ctx.versions:
            _check_version(ctx, j, counter, version, shape)
        with no_grad():
            in_grads = ctx.fn.backward(ctx, g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if len(in_grads) != len(ctx.inputs):
            raise RuntimeError(
                f"{ctx.fn.__name__}.backward returned {len(in_grads)} gradients "
                f"for {len(ctx.inputs)} inputs"
            )
        for inp, ig in zip(ctx.inputs, in_grads):
            if inp is None or ig is None:
                continue
            shape, dtype = _node_meta(inp)
            ig = _unbroadcast(ig, shape)
            if ig.dtype != dtype:
                ig = ig.astype(dtype)
            k = id(inp)
            grads[k] = grads[k] + ig if k in grads else ig
        if not retain_graph:
            ctx.free()


def _backward(tensors, gradients, retain_graph, create_graph, inputs, op) -> None:
    """Tensor.backward and autograd.backward: into every leaf's .grad, or only `inputs`'."""
    _refuse_create_graph(op, create_graph)
    if inputs is None:
        _run_backward(tensors, gradients, bool(retain_graph), f"{op}()")
        return
    inputs = _as_list(inputs)
    if not inputs:
        raise RuntimeError(f"{op}: inputs=, when given, must not be empty")
    for t, g in zip(inputs, _captured_grads(tensors, gradients, inputs, bool(retain_graph), op)):
        if g is not None:
            t._accumulate(g)


def _leading_to(order, capture) -> set:
    """ids of the captured nodes and of those whose backward reaches one: grad() visits only
    these, and runs a Context's backward only when one of its inputs is among them, so the rest
    of the graph is neither walked nor freed. A freed Context counts as one (its inputs are
    gone), so needing it fails as in backward()."""
    needed = set()
    for node in order:  # every node after the nodes it was computed from
        if (
            id(node) in capture
            or getattr(node, "freed", False)
            or (not isinstance(node, Tensor)
                and any(inp is not None and id(inp) in needed for inp in node.inputs))
        ):  # fmt: skip
            needed.add(id(node))
    return needed


def _refuse_create_graph(op: str, create_graph) -> None:
    if create_graph:
        raise NotImplementedError(
            f"{op}: create_graph=True (higher-order gradients) is not supported: minitorch_cv's "
            "backward passes compute on raw arrays, so the gradients they return are not part "
            "of a graph. For a second derivative, take central differences of grad() "
            "(see minitorch_cv.gradcheck)"
        )


def _as_list(tensors) -> list:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _captured_grads(outputs, gradients, inputs, retain_graph, op) -> list:
    """The gradients (raw arrays, or None where unused) reaching each of `inputs`."""
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"{op}: input {i} is not a Tensor that requires grad")
    capture = {id(_node(t)): None for t in inputs}
    _run_backward(outputs, gradients, retain_graph, f"{op}()", capture)
    return [capture[id(_node(t))] for t in inputs]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):  # fmt: skip
    """d(outputs)/d(inputs) as a tuple of Tensors (PyTorch's `torch.autograd.grad`), without
    touching any `.grad`: the gradient of sum(output * grad_output) over the outputs with
    respect to each input (leaf or intermediate).

    Args:
        outputs: a Tensor or a sequence of them; one-element ones need no grad_output.
        inputs: a Tensor or a sequence of them that the outputs were computed from.
        grad_outputs: a Tensor (or None) per output: the vector of the vector-Jacobian product.
        retain_graph: keep the graph for another backward (default: False).
        create_graph: must be False (higher-order gradients are not supported: a clear error).
        allow_unused: return None for an input the outputs do not depend on, instead of
            failing (default: False, or True with materialize_grads).
        is_grads_batched: each grad_output has a leading batch dimension; the result is the
            vector-Jacobian product of each of its rows, stacked (a Jacobian, row by row).
        materialize_grads: zeros instead of None for an unused input.
    """
    _refuse_create_graph("grad", create_graph)
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("grad: materialize_grads=True needs allow_unused to be True or None")
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    if is_grads_batched:
        rows = _batched_rows(outputs, grad_outputs)
        last = len(rows) - 1  # every row but the last keeps the graph for the next
        per_row = [
            _captured_grads(outputs, row, inputs, k < last or bool(retain_graph), "grad")
            for k, row in enumerate(rows)
        ]
        captured = [
            None if per_row[0][i] is None else xp_of(per_row[0][i]).stack([r[i] for r in per_row])
            for i in range(len(inputs))
        ]
    else:
        captured = _captured_grads(outputs, grad_outputs, inputs, bool(retain_graph), "grad")
    result = []
    for i, (t, g) in enumerate(zip(inputs, captured)):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        if g is None and materialize_grads:
            lead = (len(rows),) if is_grads_batched else ()
            g = xp_of(t._data).zeros(lead + t.shape, t._data.dtype)
        result.append(None if g is None else Tensor(g.copy()))
    return tuple(result)


def _batched_rows(outputs, grad_outputs) -> list:
    """is_grads_batched: split each grad_output along its leading (batch) dimension."""
    sizes = set()
    for i, (t, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            raise ValueError("grad: is_grads_batched=True needs a grad_output for every output")
        shape = tuple(g.shape)
        if len(shape) == 0 or shape[1:] != t.shape:
            raise RuntimeError(
                f"grad: with is_grads_batched=True, grad_outputs[{i}] must have shape (B, "
                f"*{t.shape}) for output {i} of shape {t.shape}, got {shape}"
            )
        sizes.add(shape[0])
    if len(sizes) != 1:
        raise RuntimeError(f"grad: grad_outputs have different batch sizes {sorted(sizes)}")
    (b,) = sizes
    if b == 0:
        raise RuntimeError("grad: with is_grads_batched=True, the batch of grad_outputs is empty")
    arrays = [g._data if isinstance(g, Tensor) else xp_of(g).asarray(g) for g in grad_outputs]
    return [[a[k] for a in arrays] for k in range(b)]


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    `Tensor(array)` wraps a NumPy or CuPy array without copying; use `minitorch_cv.tensor(data)` to
    build one from Python data with PyTorch's dtype rules.
    """

    __array_priority__ = 1000  # numpy_array + tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data._data
        if not _is_array(data):
            data = _as_array(data, dtype)
        elif dtype is not None and data.dtype != np.dtype(dtype):
            data = data.astype(dtype)
        if device is not None:
            data = to_device(data, device)
        self._data = data
        self.grad: Tensor | None = None
        self._ctx: Context | None = None
        self._hooks = None  # a leaf's hooks (a non-leaf's live in its Context)
        # bumped by every in-place change (checked by backward()); one list shared by a tensor,
        # its detach() and the views ops make of it, since they change the same memory
        self._vc = [0]
        self.requires_grad = requires_grad

    # --- attributes
    @property
    def _version(self) -> int:
        return self._vc[0]

    @_version.setter
    def _version(self, value: int) -> None:
        self._vc[0] = value

    @property
    def data(self) -> Tensor:
        """The values as a Tensor outside autograd, sharing this one's array (PyTorch's `.data`):
        `m.weight.data.normal_(0, 0.02)`, `p.data.clamp_(-c, c)`. Autograd does not see changes
        made through it (as in PyTorch; `with no_grad():` on the tensor itself is the checked
        way). The raw NumPy array: `t.numpy()` or `np.asarray(t)`."""
        view = Tensor.__new__(Tensor)
        view._data, view.grad, view._ctx, view._hooks = self._data, None, None, None
        view._vc, view._requires_grad = [0], False  # not shared: autograd does not see .data
        return view

    @data.setter
    def data(self, value) -> None:
        # `param.data = other_tensor` (PyTorch's way to swap a parameter's values) stores the
        # other tensor's array; optimizers keep the parameter object, so they follow the swap.
        if isinstance(value, Tensor):
            value = value._data
        elif not _is_array(value):
            value = _as_array(value)
        self._data = value

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and not _is_float(self._data.dtype):
            raise RuntimeError(
                f"only floating point tensors can require gradients, got dtype {self._data.dtype} "
                f"with shape {tuple(self._data.shape)}"
            )
        self._requires_grad = bool(flag)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        self.requires_grad = flag
        return self

    @property
    def shape(self) -> tuple:
        return tuple(self._data.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self) -> Device:
        return device_of(self._data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return None if self._ctx is None else self._ctx.fn

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:  # noqa: N802  (PyTorch's name)
        """The last two dims swapped (a batch of matrices transposed)."""
        if self.ndim < 2:
            raise RuntimeError(f"mT: needs at least 2 dimensions, got shape {self.shape}")
        return self.transpose(-2, -1)

    def t(self) -> Tensor:
        """Transpose of a tensor of at most 2 dimensions (PyTorch's `t`)."""
        if self.ndim > 2:
            raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, got shape {self.shape}")
        return self.T

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # --- conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory on the CPU)."""
        if device_of(self._data).type != "cpu":
            raise TypeError(f"can't convert {self.device} tensor to numpy: use .cpu() first")
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = to_device(self._data, "cpu")
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self):
        if self._data.size != 1:
            raise ValueError(
                f"item(): only one-element tensors can be converted, got shape {self.shape}"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        return to_device(self._data, "cpu").tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def detach(self) -> Tensor:
        """The same data, cut from the graph (in-place changes through it are still seen by the
        version check, as in PyTorch)."""
        out = Tensor(self._data)
        out._vc = self._vc
        return out

    def to(self, *args, **kwargs) -> Tensor:
        """`to(device)`, `to(dtype)` or `to(device, dtype)`; differentiable, like PyTorch."""
        dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"to(): unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Device) or (isinstance(a, str) and a.startswith(("cpu", "cuda"))):
                dev = a
            else:
                dtype = a
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = _ops().cast(out, np.dtype(dtype))
        if dev is not None and parse_device(dev) != self.device:
            out = _ops().to_device(out, parse_device(dev))
        return out

    def type(self, dtype=None):
        """The dtype's name without an argument; with one, `to(dtype)` (PyTorch's `type`)."""
        return str(self.dtype) if dtype is None else self.to(dtype)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Tensor:
        return self.to(f"cuda:{index}")

    def float(self) -> Tensor:
        return self.to(float32)

    def half(self) -> Tensor:
        return self.to(float16)

    def double(self) -> Tensor:
        return self.to(float64)

    def long(self) -> Tensor:
        return self.to(int64)

    def int(self) -> Tensor:
        return self.to(int32)

    def bool(self) -> Tensor:
        return self.to(bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    # --- autograd
    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep theirs)."""
        if self._ctx is not None:
            self._ctx.retained = weakref.ref(self)

    def register_hook(self, hook) -> None:
        """`hook(grad) -> Tensor or None` runs on this tensor's gradient during backward (on a
        non-leaf tensor the hook lives in the graph, so it runs even if the tensor is gone)."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._ctx is not None:
            self._ctx.hooks = (*self._ctx.hooks, hook)
        else:
            self._hooks = (self._hooks or []) + [hook]

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` that requires grad, or only
        into the `.grad` of `inputs` (tensors, leaves or not) when given. `create_graph` must
        be False (no higher-order gradients: a clear error)."""
        _backward([self], [gradient], retain_graph, create_graph, inputs, "backward")

    def _accumulate(self, g) -> None:
        if self.grad is None:
            # a copy: one array may reach several inputs, and optimizers edit grads in place
            self.grad = Tensor(g.copy())
        else:
            self.grad = Tensor(self.grad._data + g)

    # --- in-place helpers (no graph; for optimizers, init and data)
    def _check_inplace(self, name):
        if self.requires_grad and self.is_leaf and _grad_mode.enabled:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad is used in an in-place operation; "
                "wrap it in no_grad()"
            )

    def zero_(self) -> Tensor:
        self._check_inplace("zero_")
        self._version += 1
        self._data[...] = 0
        return self

    def fill_(self, value) -> Tensor:
        self._check_inplace("fill_")
        self._version += 1
        self._data[...] = value
        return self

    def copy_(self, src) -> Tensor:
        self._check_inplace("copy_")
        src = src._data if isinstance(src, Tensor) else src
        src = to_device(xp_of(src).asarray(src), self.device)
        if (
            tuple(src.shape) != self.shape
            and np.broadcast_shapes(tuple(src.shape), self.shape) != self.shape
        ):
            raise RuntimeError(
                f"copy_: source of shape {tuple(src.shape)} does not fit tensor of shape "
                f"{self.shape}"
            )
        self._data[...] = src
        self._version += 1
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        return self.copy_(_rng.uniform(a, b, self.shape).astype(self.dtype))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        return self.copy_(_rng.normal(mean, std, self.shape).astype(self.dtype))

    def __setitem__(self, key, value) -> None:
        self._check_inplace("__setitem__")
        if self._ctx is not None and _grad_mode.enabled:
            raise RuntimeError(
                "__setitem__ on a tensor that is part of a graph is not supported; use where() "
                "or build a new tensor"
            )
        key = _raw_key(key)
        self._data[key] = value._data if isinstance(value, Tensor) else value
        self._version += 1

    # In-place arithmetic, as PyTorch's `p -= lr * p.grad` (under no_grad) and `x.add_(y)`. A
    # tensor with autograd history (or an operand that needs a gradient) under grad mode is never
    # mutated: `total += loss` then rebinds to total + loss, which autograd follows, and the
    # explicit `add_` family refuses. Every in-place change bumps `_version`, so a tensor that a
    # backward pass still needs, changed under no_grad, fails backward() instead of corrupting it.
    def _mutable(self, name, o) -> bool:
        self._check_inplace(name)
        tracked = self._ctx is not None or (isinstance(o, Tensor) and o.requires_grad)
        return not (tracked and _grad_mode.enabled)

    def _inplace(self, name, fn, o):
        if not self._mutable(name, o):
            raise RuntimeError(
                f"{name} on a tensor that is part of a graph is not supported; "
                "write x = x + y (or work under no_grad())"
            )
        o = _int_operand(o._data if isinstance(o, Tensor) else o, self._data.dtype)
        try:
            fn(self._data, o)
        except TypeError as e:  # numpy's casting error, e.g. an int tensor += a float
            msg = f"{name}: cannot update a tensor of dtype {self.dtype} in place: {e}"
            raise TypeError(msg) from None
        self._version += 1
        return self

    def add_(self, other, alpha=1) -> Tensor:
        return self._inplace("add_", lambda d, o: d.__iadd__(o if alpha == 1 else o * alpha), other)

    def sub_(self, other, alpha=1) -> Tensor:
        return self._inplace("sub_", lambda d, o: d.__isub__(o if alpha == 1 else o * alpha), other)

    def mul_(self, other) -> Tensor:
        return self._inplace("mul_", lambda d, o: d.__imul__(o), other)

    def div_(self, other) -> Tensor:
        return self._inplace("div_", lambda d, o: d.__itruediv__(o), other)

    def clamp_(self, min=None, max=None) -> Tensor:
        return self._inplace("clamp_", lambda d, _: xp_of(d).clip(d, min, max, out=d), None)

    def _inplace_op(self, name, op, *operands, **params) -> Tensor:
        """op(self, *operands) written into this tensor (lerp_, addcmul_, ...), refused where
        `_inplace` refuses (an operand that requires grad counts); the result must keep this
        tensor's shape and cast to its dtype (`can_cast`: float into int is a TypeError)."""
        with no_grad():
            out = op(self, *operands, **params)._data
        if tuple(out.shape) != self.shape:
            raise RuntimeError(
                f"{name}: the result has shape {tuple(out.shape)} (the operands broadcast), "
                f"not this tensor's shape {self.shape}"
            )
        tracked = next((o for o in operands if isinstance(o, Tensor) and o.requires_grad), None)

        def write(d, _):
            if not can_cast(out.dtype, d.dtype):
                raise TypeError(f"the result's dtype {out.dtype} does not cast to {d.dtype}")
            xp_of(d).copyto(d, out, casting="unsafe")

        return self._inplace(name, write, tracked)

    def lerp_(self, end, weight) -> Tensor:
        """self + weight * (end - self), in place: an EMA of weights is
        `with no_grad(): ema.lerp_(p, 1 - decay)`."""
        return self._inplace_op("lerp_", _ops().lerp, end, weight)

    def addcmul_(self, tensor1, tensor2, *, value=1) -> Tensor:
        return self._inplace_op("addcmul_", _ops().addcmul, tensor1, tensor2, value=value)

    def addcdiv_(self, tensor1, tensor2, *, value=1) -> Tensor:
        return self._inplace_op("addcdiv_", _ops().addcdiv, tensor1, tensor2, value=value)

    def reciprocal_(self) -> Tensor:
        return self._inplace_op("reciprocal_", _ops().reciprocal)

    def masked_fill_(self, mask, value) -> Tensor:
        """`value` where mask (broadcast to this tensor) is True, in place."""
        mask = mask._data if isinstance(mask, Tensor) else xp_of(self._data).asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"masked_fill_: the mask must be a bool tensor, got {mask.dtype}")
        try:
            fits = np.broadcast_shapes(tuple(mask.shape), self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(
                f"masked_fill_: mask of shape {tuple(mask.shape)} does not broadcast to the "
                f"tensor's shape {self.shape}"
            )
        return self._inplace(
            "masked_fill_", lambda d, v: xp_of(d).copyto(d, v, where=mask, casting="unsafe"), value
        )

    def index_fill_(self, dim, index, value) -> Tensor:
        """The slices `index` along dim set to `value`, in place (see F.index_fill)."""
        from .functional import indexing

        return indexing.index_fill_(self, dim, index, value)

    def index_copy_(self, dim, index, source) -> Tensor:
        """The slices `index` along dim replaced by source's, in place (see F.index_copy)."""
        from .functional import indexing

        return indexing.index_copy_(self, dim, index, source)

    def masked_scatter_(self, mask, source) -> Tensor:
        """source's entries written in order where mask is True, in place (F.masked_scatter)."""
        from .functional import indexing

        return indexing.masked_scatter_(self, mask, source)

    def unfold(self, dimension, size, step) -> Tensor:
        """Windows of `size` entries every `step` along `dimension`, as a new last dim
        (torch.Tensor.unfold; F.unfold is im2col, another op)."""
        from .functional.shape import unfold_windows

        return unfold_windows(self, dimension, size, step)

    def __iadd__(self, o):
        return self.add_(o) if self._mutable("+=", o) else self + o

    def __isub__(self, o):
        return self.sub_(o) if self._mutable("-=", o) else self - o

    def __imul__(self, o):
        return self.mul_(o) if self._mutable("*=", o) else self * o

    def __itruediv__(self, o):
        return self.div_(o) if self._mutable("/=", o) else self / o

    def clone(self) -> Tensor:
        return _ops().clone(self)

    def contiguous(self) -> Tensor:
        return self

    # --- printing
    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self), separator=", ", precision=4, prefix="tensor(")
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (float32, int64, bool_):
            extras.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.fn.__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # --- operators and methods: thin calls into functional
    def __add__(self, o):
        return _ops().add(self, o)

    def __radd__(self, o):
        return _ops().add(o, self)

    def __sub__(self, o):
        return _ops().sub(self, o)

    def __rsub__(self, o):
        return _ops().sub(o, self)

    def __mul__(self, o):
        return _ops().mul(self, o)

    def __rmul__(self, o):
        return _ops().mul(o, self)

    def __truediv__(self, o):
        return _ops().div(self, o)

    def __rtruediv__(self, o):
        return _ops().div(o, self)

    def __pow__(self, o):
        return _ops().pow(self, o)

    def __rpow__(self, o):
        return _ops().pow(o, self)

    def __neg__(self):
        return _ops().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops().abs(self)

    def __matmul__(self, o):
        return _ops().matmul(self, o)

    def __rmatmul__(self, o):
        return _ops().matmul(o, self)

    def __getitem__(self, key):
        return _ops().index(self, key)

    # comparisons give boolean tensors, outside the graph
    def _cmp(self, o, op):
        o = o._data if isinstance(o, Tensor) else o
        return Tensor(op(self._data, o))

    def __eq__(self, o):  # noqa: D105
        return self._cmp(o, lambda a, b: a == b)

    def __ne__(self, o):
        return self._cmp(o, lambda a, b: a != b)

    def __lt__(self, o):
        return self._cmp(o, lambda a, b: a < b)

    def __le__(self, o):
        return self._cmp(o, lambda a, b: a <= b)

    def __gt__(self, o):
        return self._cmp(o, lambda a, b: a > b)

    def __ge__(self, o):
        return self._cmp(o, lambda a, b: a >= b)

    __hash__ = object.__hash__

    def eq(self, o):
        return self == o

    def ne(self, o):
        return self != o

    def lt(self, o):
        return self < o

    def le(self, o):
        return self <= o

    def gt(self, o):
        return self > o

    def ge(self, o):
        return self >= o

    # new tensors on this one's device, of its dtype unless given (PyTorch's new_* family)
    def new_zeros(self, *size, dtype=None) -> Tensor:
        return self.new_full(_size_args(size), 0, dtype=dtype)

    def new_ones(self, *size, dtype=None) -> Tensor:
        return self.new_full(_size_args(size), 1, dtype=dtype)

    def new_full(self, size, fill_value, dtype=None) -> Tensor:
        xp = xp_of(self._data)
        return Tensor(xp.full(tuple(size), fill_value, dtype=dtype or self.dtype))

    def new_tensor(self, data, dtype=None) -> Tensor:
        return Tensor(_as_array(data, dtype or self.dtype), device=self.device)

    # ~, &, | and ^ are torch's bitwise ops (integer and bool tensors, promoted as torch does)
    def __invert__(self):
        return _ops().bitwise_not(self)

    def __and__(self, o):
        return _ops().bitwise_and(self, o)

    __rand__ = __and__

    def __or__(self, o):
        return _ops().bitwise_or(self, o)

    __ror__ = __or__

    def __xor__(self, o):
        return _ops().bitwise_xor(self, o)

    __rxor__ = __xor__

    def __floordiv__(self, o):
        return _ops().div(self, o, rounding_mode="floor")

    def __rfloordiv__(self, o):
        return _ops().div(o, self, rounding_mode="floor")

    def __mod__(self, o):
        return _ops().remainder(self, o)

    def __rmod__(self, o):
        return _ops().remainder(o, self)

    def all(self, dim=None, keepdim=False):
        """True where every entry over `dim` (all of them for None) is nonzero; bool."""
        return Tensor(_bool_reduce(self._data, dim, keepdim, "all"))

    def any(self, dim=None, keepdim=False):
        """True where some entry over `dim` (any of them for None) is nonzero; bool."""
        return Tensor(_bool_reduce(self._data, dim, keepdim, "any"))

    def argmax(self, dim=None, keepdim=False):
        return Tensor(_arg_reduce(self._data, dim, keepdim, "argmax"))

    def argmin(self, dim=None, keepdim=False):
        return Tensor(_arg_reduce(self._data, dim, keepdim, "argmin"))


def _size_args(size) -> tuple:
    """(2, 3) from new_zeros(2, 3) or new_zeros((2, 3))."""
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


def _wrapped_int(x, dtype):
    """A Python int that the integer `dtype` cannot hold, wrapped around into it as PyTorch does
    (uint8 + 300 adds 44, where NumPy refuses the int), as a NumPy scalar (CuPy takes it too);
    anything else unchanged."""
    if dtype.kind in "iu" and isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        info = np.iinfo(dtype)
        if not info.min <= x <= info.max:
            return np.array(x).astype(dtype)[()]
    return x


def _int_operand(o, dtype):
    """An integer operand of an in-place op on an integer tensor, in that tensor's dtype: NumPy
    refuses uint8 += int64 (and a Python int beyond uint8), PyTorch computes it and wraps around,
    which for +, - and * is the same as wrapping the operand first."""
    if dtype.kind in "iu" and _is_array(o) and o.dtype.kind in "iu" and o.dtype != dtype:
        return o.astype(dtype)
    return _wrapped_int(o, dtype)


def _bool_reduce(a, dim, keepdim, name):
    if dim is None:
        return getattr(a, name)()
    if not -max(a.ndim, 1) <= dim < max(a.ndim, 1):
        raise IndexError(f"{name}: dim {dim} out of range for a tensor of shape {tuple(a.shape)}")
    return getattr(a, name)(axis=dim % max(a.ndim, 1) if a.ndim else None, keepdims=keepdim)


def _arg_reduce(a, dim, keepdim, name):
    if dim is None:
        return getattr(a.reshape(-1), name)()
    r = getattr(a, name)(axis=dim)
    return xp_of(a).expand_dims(r, dim) if keepdim else r


def _raw_key(key):
    if isinstance(key, Tensor):
        return key._data
    if isinstance(key, tuple):
        return tuple(k._data if isinstance(k, Tensor) else k for k in key)
    if isinstance(key, list):
        return np.asarray(key)
    return key


def _add_methods():
    """Tensor methods that simply forward to the functional op of the same name."""
    names = [
        "sum", "mean", "max", "min", "amax", "amin", "var", "std", "exp", "log", "sqrt", "abs",
        "clamp", "tanh", "sigmoid", "relu", "softmax", "log_softmax", "reshape", "view", "flatten",
        "permute", "transpose", "squeeze", "unsqueeze", "expand", "expand_as", "matmul", "maximum",
        "minimum", "pow", "neg", "add", "sub", "mul", "div", "prod", "logsumexp", "sin", "cos",
        "atan", "square", "split", "chunk", "repeat", "norm", "rsqrt", "log1p", "expm1", "floor",
        "ceil", "round", "trunc", "sign", "isnan", "isfinite", "gather", "index_select",
        "masked_fill", "scatter", "scatter_add", "index_add", "diag", "nonzero", "unique",
        "bincount", "outer", "flip", "roll", "narrow", "unbind", "argsort", "sort", "topk",
        "cumsum", "tril", "triu", "mv", "dot", "vdot", "inner", "addmm", "addmv", "addbmm",
        "baddbmm", "addr", "kron", "cross",
        "median", "nanmedian", "kthvalue", "mode", "quantile", "nanquantile", "nansum", "nanmean",
        "count_nonzero", "aminmax", "cumprod", "cummax", "cummin", "logcumsumexp", "diff", "trace",
        "histc",
        "movedim", "moveaxis", "swapaxes", "swapdims", "tile", "repeat_interleave", "rot90",
        "fliplr", "flipud", "unflatten", "broadcast_to", "tensor_split", "hsplit", "vsplit",
        "dsplit", "select", "take", "take_along_dim", "masked_select", "argwhere", "index_copy",
        "index_fill", "masked_scatter", "diagonal", "diag_embed", "diagflat",
        "erf", "erfc", "erfinv", "reciprocal", "tan", "sinh", "cosh", "asin", "acos", "asinh",
        "acosh", "atanh", "log2", "log10", "exp2", "frac", "sgn", "xlogy", "logit", "sinc",
        "atan2", "arctan2", "hypot", "logaddexp", "logaddexp2", "remainder", "fmod", "fmax",
        "fmin", "copysign", "lerp", "addcmul", "addcdiv", "signbit", "heaviside", "nan_to_num",
        "isinf", "isposinf", "isneginf", "isclose", "logical_and", "logical_or", "logical_xor",
        "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    ]  # fmt: skip

    def make(name):
        def method(self, *args, **kwargs):
            return getattr(_ops(), name)(self, *args, **kwargs)

        method.__name__ = name
        method.__doc__ = f"Same as `minitorch_cv.functional.{name}(self, ...)`."
        return method

    for n in names:
        setattr(Tensor, n, make(n))
    Tensor.clip = Tensor.clamp
    Tensor.clamp_min = lambda self, min: self.clamp(min=min)  # noqa: A006
    Tensor.clamp_max = lambda self, max: self.clamp(max=max)  # noqa: A006
    Tensor.mm = Tensor.matmul
    Tensor.bmm = Tensor.matmul
    Tensor.nelement = Tensor.numel
    Tensor.view_as = lambda self, other: self.reshape(other.shape)
    Tensor.reshape_as = Tensor.view_as
    Tensor.where = lambda self, condition, other: _ops().where(condition, self, other)
    Tensor.multiply = Tensor.mul
    Tensor.divide = Tensor.div


_add_methods()


# --------------------------------------------------------------------------- factories


def _is_array(a) -> bool:
    return isinstance(a, np.ndarray) or type(a).__module__.startswith("cupy")


def _as_array(data, dtype=None):
    """Python data or an array-like -> a NumPy array with PyTorch's default dtypes."""
    if isinstance(data, Tensor):
        data = data._data
    if _is_array(data):
        return data if dtype is None else data.astype(dtype)
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        data = [np.asarray(d) if isinstance(d, Tensor) else d for d in data]
    a = np.asarray(data)
    if dtype is not None:
        return a.astype(dtype)
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        return a
    if a.dtype.kind == "f":
        return a.astype(_default_dtype)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "b":
        return a
    raise TypeError(
        f"tensor(): cannot build a tensor from data of type {type(data).__name__} (dtype {a.dtype})"
    )


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Build a tensor from data (copies): Python floats -> float32, ints -> int64, bools -> bool;
    a NumPy array keeps its dtype (as `torch.tensor` does)."""
    a = _as_array(data, dtype)
    if a is data or (isinstance(data, Tensor) and a is data._data):
        a = a.copy()
    return Tensor(a, requires_grad=requires_grad, device=device)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like `tensor` but shares memory with a NumPy/CuPy array when it can."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return Tensor(_as_array(data, dtype), device=device)


def from_numpy(a: np.ndarray) -> Tensor:
    return Tensor(a)


def _shape_args(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _make(fill, size, dtype, device, requires_grad):
    dtype = np.dtype(dtype) if dtype is not None else _default_dtype
    xp = xp_for_device(device)
    with_dev = fill(xp, _shape_args(size), dtype)
    if device is not None and parse_device(device).type == "cuda":
        with_dev = to_device(with_dev, device)
    return Tensor(with_dev, requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(lambda xp, s, d: xp.zeros(s, d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(lambda xp, s, d: xp.ones(s, d), size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None and isinstance(fill_value, (bool, np.bool_)):
        dtype = bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = int64
    return _make(
        lambda xp, s, d: xp.full(s, fill_value, d), (tuple(size),), dtype, device, requires_grad
    )


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(lambda xp, s, d: xp.empty(s, d), size, dtype, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the package generator (seed it with `manual_seed`)."""
    return _make(
        lambda xp, s, d: xp.asarray(_rng.standard_normal(s).astype(d)),
        size,
        dtype,
        device,
        requires_grad,
    )


def rand(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples from the package generator."""
    return _make(
        lambda xp, s, d: xp.asarray(_rng.random(s).astype(d)), size, dtype, device, requires_grad
    )


def randint(low, high=None, size=(), dtype=None, device=None) -> Tensor:
    if high is None:
        low, high = 0, low
    a = _rng.integers(low, high, size=tuple(size)).astype(dtype or int64)
    return Tensor(a, device=device)


def randperm(n, device=None) -> Tensor:
    return Tensor(_rng.permutation(n).astype(np.int64), device=device)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = int64 if is_int else _default_dtype
    a = np.arange(start, end, step).astype(dtype)
    return Tensor(a, requires_grad=requires_grad, device=device)


def linspace(start, end, steps, dtype=None, device=None) -> Tensor:
    return Tensor(np.linspace(start, end, steps).astype(dtype or _default_dtype), device=device)


def eye(n, m=None, dtype=None, device=None) -> Tensor:
    return Tensor(np.eye(n, m, dtype=dtype or _default_dtype), device=device)


def _like(fn):
    def like(t, dtype=None, device=None, requires_grad=False, **kw):
        return fn(
            *t.shape,
            dtype=dtype or t.dtype,
            device=device or t.device,
            requires_grad=requires_grad,
            **kw,
        )

    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"`{fn.__name__}` with the shape, dtype and device of `t`."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
randn_like = _like(randn)
rand_like = _like(rand)
empty_like = _like(empty)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(
        t.shape,
        fill_value,
        dtype=dtype or t.dtype,
        device=device or t.device,
        requires_grad=requires_grad,
    )
