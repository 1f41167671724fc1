"""Activation checkpointing, `torch.utils.checkpoint`'s names: trade compute for memory.

    y = checkpoint(block, x)                       # block's activations are not kept
    y = checkpoint_sequential(model, 4, x)         # a Sequential in 4 segments

`checkpoint(function, *args)` runs `function` and keeps only its inputs and its output: the
activations inside it are freed as soon as it returns. The backward pass runs `function` again
from the saved inputs (with the random state of the first run, so dropout draws the same masks),
then back-propagates through that fresh graph: the parameters inside accumulate their `.grad`
there, and the inputs' gradients flow on. A network split into k segments then holds about one
segment's activations at a time plus the k segment boundaries, for one extra forward pass.

As in PyTorch, the recomputation runs every layer's forward a second time: a BatchNorm in
training mode updates its running statistics twice. Unlike PyTorch's `use_reentrant=False`
mode, `mt.autograd.grad` cannot go through a checkpointed segment (the recomputation
accumulates into `.grad`); use `backward()`.
"""

from __future__ import annotations

from ..tensor import (
    Context,
    Function,
    Tensor,
    _grad_mode,
    _node,
    _run_backward,
    _saved_versions,
    enable_grad,
    get_rng_state,
    is_grad_enabled,
    set_rng_state,
)


class Recompute(Function):
    """The graph node of a checkpointed call: its backward reruns the call and back-propagates
    through it (built by `checkpoint`, not by `apply`)."""

    @staticmethod
    def backward(ctx, grad):
        if _grad_mode.capturing:
            raise RuntimeError(
                f"checkpoint: mt.autograd.grad cannot go through the checkpointed "
                f"{ctx.name}; call backward() on the loss instead"
            )
        inputs = [  # fresh leaves for the tensors, the other arguments as they were
            Tensor(a, requires_grad=need) if is_tensor else a
            for a, need, is_tensor in zip(ctx.raw, ctx.needs_input_grad, ctx.is_tensor)
        ]
        now = get_rng_state() if ctx.rng is not None else None
        try:
            if ctx.rng is not None:
                set_rng_state(ctx.rng)  # the first run's dropout masks
            with enable_grad():
                out = ctx.function(*inputs, **ctx.kwargs)
        finally:
            if now is not None:
                set_rng_state(now)
        if not isinstance(out, Tensor) or tuple(out.shape) != tuple(grad.shape):
            raise RuntimeError(
                f"checkpoint: recomputing {ctx.name} gave "
                f"{getattr(out, 'shape', type(out).__name__)}, not the first run's output of "
                f"shape {tuple(grad.shape)} (does it depend on state that changed?)"
            )
        if out.requires_grad:
            _run_backward([out], [Tensor(grad)], False, "checkpoint")
        return tuple(
            t.grad._data if need and t.grad is not None else None
            for t, need in zip(inputs, ctx.needs_input_grad)
        )


def checkpoint(function, *args, use_reentrant=None, preserve_rng_state=True, **kwargs):
    """`function(*args, **kwargs)` without keeping its activations; they are recomputed in the
    backward pass (PyTorch's `torch.utils.checkpoint.checkpoint`).

    Args:
        function: a callable (a Module, a block, a lambda) returning one Tensor.
        *args: its positional arguments; the Tensors among them are saved for the rerun.
        use_reentrant: accepted for PyTorch compatibility; both behave as described in the
            module docstring (parameters that are not inputs get their gradients either way).
        preserve_rng_state (bool): rerun with the random state of the first run, so dropout
            masks repeat. Default: True.
        **kwargs: passed on to `function`.

    Returns:
        the output of `function`, attached to the graph through one node.
    """
    del use_reentrant
    name = getattr(function, "__name__", None) or type(function).__name__
    rng = get_rng_state() if preserve_rng_state else None
    out = function(*args, **kwargs)  # the graph it records is dropped right after
    if not isinstance(out, Tensor):
        raise TypeError(
            f"checkpoint: {name} must return one Tensor, got {type(out).__name__}; wrap the "
            "parts that return several in separate checkpoints"
        )
    if not (is_grad_enabled() and out.requires_grad):
        return out  # nothing to differentiate: no node, nothing kept
    result = Tensor(out._data, requires_grad=True)
    del out  # the segment's intermediate activations go with its graph
    tensors = tuple(a if isinstance(a, Tensor) else None for a in args)
    ctx = Context()
    ctx.fn, ctx.name, ctx.function, ctx.kwargs, ctx.rng = Recompute, name, function, kwargs, rng
    ctx.needs_input_grad = tuple(t is not None and t.requires_grad for t in tensors)
    ctx.is_tensor = tuple(t is not None for t in tensors)
    ctx.raw = tuple(a._data if isinstance(a, Tensor) else a for a in args)
    ctx.inputs = tuple(_node(t) for t in tensors)
    ctx._out = result._data.shape, result._data.dtype
    ctx.versions = _saved_versions(ctx, tensors, result)  # an in-place edit of an input fails
    result._ctx = ctx
    return result


def checkpoint_sequential(functions, segments, input, use_reentrant=None,
                          preserve_rng_state=True):  # fmt: skip
    """Run a Sequential (or a list of modules) in `segments` checkpointed parts, as PyTorch's
    `checkpoint_sequential`: every segment but the last is checkpointed (the last one's
    activations are needed right away by the backward pass)."""
    modules = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if not 1 <= int(segments) <= max(len(modules), 1):
        raise ValueError(
            f"checkpoint_sequential: segments must be between 1 and the {len(modules)} modules, "
            f"got {segments}"
        )
    size = len(modules) // int(segments)

    def run(block):
        def forward(x):
            for m in block:
                x = m(x)
            return x

        forward.__name__ = f"modules {type(block[0]).__name__}..{type(block[-1]).__name__}"
        return forward

    x = input
    end = -1
    for start in range(0, size * (int(segments) - 1), size):
        end = start + size - 1
        x = checkpoint(run(modules[start : end + 1]), x, use_reentrant=use_reentrant,
                       preserve_rng_state=preserve_rng_state)  # fmt: skip
    return run(modules[end + 1 :])(x)
