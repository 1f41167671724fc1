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

    reruns = True  # grad() refuses it: the rerun accumulates into .grad

    @staticmethod
    def backward(ctx, grad):
        # fresh leaves for the tensors, the other arguments as they were
        values = [
            Tensor(a, requires_grad=need) if is_tensor else a
            for a, need, is_tensor in zip(ctx.raw, ctx.needs_input_grad, ctx.is_tensor)
        ]
        args, kwargs = values[: ctx.n_args], dict(zip(ctx.keys, values[ctx.n_args :]))
        now = get_rng_state() if ctx.rng is not None else None
        try:
            if ctx.rng is not None:
                set_rng_state(ctx.rng)  # the first run's dropout masks
            with enable_grad():
                out = ctx.function(*args, **kwargs)
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
            for t, need in zip(values, ctx.needs_input_grad)
        )


# PyTorch's checkpoint options that change nothing here (no separate non-reentrant engine, no
# recomputation checks or context managers): accepted so that calls written for it run.
_TORCH_ONLY = ("use_reentrant", "determinism_check", "context_fn", "debug")


def checkpoint(function, *args, preserve_rng_state=True, **kwargs):
    """`function(*args, **kwargs)` without keeping its activations; they are recomputed in the
    backward pass (PyTorch's `torch.utils.checkpoint.checkpoint`).

    Args:
        function: a callable (a Module, a block, a lambda) returning one Tensor.
        *args, **kwargs: its arguments; the Tensors among them (positional or keyword, not
            nested in lists) are the node's inputs, saved for the rerun.
        preserve_rng_state (bool): rerun with the random state of the first run, so dropout
            masks repeat. Default: True.
        use_reentrant, determinism_check, context_fn, debug: PyTorch's options, accepted and
            ignored (parameters that are not inputs get their gradients either way).

    Returns:
        the output of `function`, attached to the graph through one node.
    """
    for key in _TORCH_ONLY:
        kwargs.pop(key, None)
    name = getattr(function, "__name__", None) or type(function).__name__
    keys = list(kwargs)
    values = [*args, *kwargs.values()]
    for v in values:
        if isinstance(v, (list, tuple)) and any(
            isinstance(t, Tensor) and t.requires_grad for t in v
        ):
            raise TypeError(
                f"checkpoint: {name} got tensors that need gradients inside a "
                f"{type(v).__name__}; pass them as separate arguments"
            )
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
    result._vc = out._vc  # a view of an input shares its version counter, as apply's outputs
    del out  # the segment's intermediate activations go with its graph
    tensors = tuple(v if isinstance(v, Tensor) else None for v in values)
    ctx = Context()
    ctx.fn, ctx.name, ctx.function, ctx.rng = Recompute, name, function, rng
    ctx.n_args, ctx.keys = len(args), keys
    ctx.needs_input_grad = tuple(t is not None and t.requires_grad for t in tensors)
    ctx.is_tensor = tuple(t is not None for t in tensors)
    ctx.raw = tuple(v._data if isinstance(v, Tensor) else v for v in values)
    ctx.inputs = tuple(_node(t) for t in tensors)
    ctx._out = result._data.shape, result._data.dtype
    ctx.versions = _saved_versions(ctx, tensors, result)  # an in-place edit of an input fails
    result._ctx = ctx
    return result


def checkpoint_sequential(functions, segments, input, use_reentrant=None,
                          preserve_rng_state=True, **torch_options):  # fmt: skip
    """Run a Sequential (or a list of modules) in `segments` checkpointed parts, as PyTorch's
    `checkpoint_sequential`: every segment but the last is checkpointed (the last one's
    activations are needed right away by the backward pass)."""
    del use_reentrant, torch_options  # PyTorch's; see _TORCH_ONLY
    modules = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if not 1 <= int(segments) <= len(modules):
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
        x = checkpoint(run(modules[start : end + 1]), x, preserve_rng_state=preserve_rng_state)
    return run(modules[end + 1 :])(x)
