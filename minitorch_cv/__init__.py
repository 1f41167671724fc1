"""minitorch_cv: a from-scratch deep-learning engine for computer vision on NumPy and CuPy.

import minitorch_cv as mt
from minitorch_cv import nn, optim, functional as F
"""

from . import autograd, functional, init, layers, models, optim
from . import functional as F
from . import layers as nn
from .backend import Device, gpu_available
from .backend import device as device
from .gradcheck import gradcheck
from .kernels.im2col_numpy import get_num_threads, set_num_threads
from .summary import summary
from .tensor import (
    Function,
    Tensor,
    arange,
    as_tensor,
    bool_,
    can_cast,
    empty,
    empty_like,
    enable_grad,
    eye,
    float16,
    float32,
    float64,
    from_numpy,
    full,
    full_like,
    get_default_dtype,
    get_rng_state,
    int32,
    int64,
    is_grad_enabled,
    linspace,
    manual_seed,
    no_grad,
    ones,
    ones_like,
    promote_types,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    result_type,
    set_default_dtype,
    set_grad_enabled,
    set_rng_state,
    tensor,
    uint8,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

inference_mode = no_grad  # torch.inference_mode: here the same as no_grad (no graph is built)

float = float32  # noqa: A001  (torch.float)
double = float64
long = int64

# torch-style top-level ops: mt.cat, mt.stack, mt.where, mt.exp, ...
from .functional import (  # noqa: E402
    abs,
    acos,
    acosh,
    addbmm,
    addcdiv,
    addcmul,
    addmm,
    addmv,
    addr,
    amax,
    amin,
    aminmax,
    arctan2,
    argsort,
    argwhere,
    asin,
    asinh,
    atan2,
    atanh,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    baddbmm,
    bincount,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    block_diag,
    bmm,
    broadcast_to,
    bucketize,
    cartesian_prod,
    cat,
    cdist,
    ceil,
    chunk,
    clamp,
    column_stack,
    combinations,
    copysign,
    cosh,
    count_nonzero,
    cross,
    cummax,
    cummin,
    cumprod,
    cumsum,
    diag,
    diag_embed,
    diagflat,
    diagonal,
    diff,
    dot,
    dsplit,
    dstack,
    einsum,
    erf,
    erfc,
    erfinv,
    exp,
    exp2,
    expm1,
    flatten,
    flip,
    fliplr,
    flipud,
    floor,
    fmax,
    fmin,
    fmod,
    frac,
    gather,
    heaviside,
    histc,
    hsplit,
    hstack,
    hypot,
    index_add,
    index_copy,
    index_fill,
    index_select,
    inner,
    isclose,
    isfinite,
    isinf,
    isnan,
    isneginf,
    isposinf,
    kron,
    kthvalue,
    lerp,
    log,
    log1p,
    log2,
    log10,
    log_softmax,
    logaddexp,
    logaddexp2,
    logcumsumexp,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logit,
    logsumexp,
    masked_fill,
    masked_scatter,
    masked_select,
    matmul,
    max,
    maximum,
    mean,
    median,
    meshgrid,
    min,
    minimum,
    mm,
    mode,
    moveaxis,
    movedim,
    mv,
    nan_to_num,
    nanmean,
    nanmedian,
    nanquantile,
    nansum,
    narrow,
    nonzero,
    norm,
    outer,
    pdist,
    permute,
    pow,
    prod,
    quantile,
    reciprocal,
    relu,
    remainder,
    repeat_interleave,
    reshape,
    roll,
    rot90,
    round,
    row_stack,
    scatter,
    scatter_add,
    searchsorted,
    select,
    sgn,
    sigmoid,
    sign,
    signbit,
    sinc,
    sinh,
    softmax,
    sort,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    std_mean,
    sum,
    swapaxes,
    swapdims,
    take,
    take_along_dim,
    tan,
    tanh,
    tensor_split,
    tensordot,
    tile,
    topk,
    trace,
    transpose,
    tril,
    triu,
    trunc,
    unbind,
    unflatten,
    unique,
    unsqueeze,
    var,
    var_mean,
    vdot,
    vsplit,
    vstack,
    where,
    xlogy,
)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(input) -> int:
    return input.numel()


def eq(input, other):
    return input == other


def ne(input, other):
    return input != other


def gt(input, other):
    return input > other


def lt(input, other):
    return input < other


def ge(input, other):
    return input >= other


def le(input, other):
    return input <= other


def all(input, dim=None, keepdim=False):  # noqa: A001
    return input.all(dim, keepdim)


def any(input, dim=None, keepdim=False):  # noqa: A001
    return input.any(dim, keepdim)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """|input - other| <= atol + rtol * |other| everywhere (torch.allclose), as a Python bool."""
    import numpy as np

    return bool(np.allclose(np.asarray(input), np.asarray(other), rtol, atol, equal_nan))


def equal(input, other) -> bool:
    """Same shape and the same values (torch.equal), as a Python bool."""
    import numpy as np

    return tuple(input.shape) == tuple(other.shape) and bool(
        np.array_equal(np.asarray(input), np.asarray(other))
    )


def argmax(input, dim=None, keepdim=False):
    """Index of the largest value over `dim` (of the flattened tensor for None), int64."""
    return input.argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False):
    """Index of the smallest value over `dim` (of the flattened tensor for None), int64."""
    return input.argmin(dim, keepdim)


def save(obj, f) -> None:
    """Write a state dict (or any nesting of dicts, lists, tuples, Tensors, arrays, numbers and
    strings) to `f`, a path (written atomically) or a binary file object, as `torch.save` does,
    in a `.npz` without pickle:

        mt.save(model.state_dict(), "model.npz")
        model.load_state_dict(mt.load("model.npz"))
    """
    from .train.checkpoint import save_state

    save_state(f, obj)


def load(f, map_location=None):
    """Read what `save` wrote; arrays come back as Tensors, on `map_location` ('cpu',
    'cuda', ... ; default: the CPU). Nothing in the file is executed (no pickle)."""
    from .train.checkpoint import load_state

    def wrap(v):
        if isinstance(v, dict):
            return type(v)({k: wrap(x) for k, x in v.items()})
        if isinstance(v, (list, tuple)):
            return type(v)(wrap(x) for x in v)
        return Tensor(v, device=map_location) if hasattr(v, "dtype") else v

    return wrap(load_state(f))


# Subpackages imported on first use, so `import minitorch_cv as mt; mt.train.fit(...)` works as
# the README shows without every `import minitorch_cv` paying for the training and data code.
_LAZY_SUBMODULES = ("data", "train", "recipes", "exercises", "reference", "utils", "ops")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
