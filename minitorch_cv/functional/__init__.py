"""Every differentiable op, PyTorch's `torch` and `torch.nn.functional` names in one namespace.

Each op is a `Function` (forward + backward side by side) in the module named for its kind; the
lowercase function here checks its arguments and calls `Function.apply`.
"""

from .activation import (
    celu,
    elu,
    gelu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    mish,
    prelu,
    relu,
    relu6,
    rrelu,
    selu,
    sigmoid,
    silu,
    softmax,
    softmin,
    softplus,
    softshrink,
    softsign,
    tanh,
    tanhshrink,
    threshold,
)
from .attention import scaled_dot_product_attention
from .conv import conv2d, conv_transpose2d, fold, unfold
from .conv3d import (
    adaptive_avg_pool3d,
    adaptive_max_pool3d,
    avg_pool3d,
    conv3d,
    conv_transpose3d,
    max_pool3d,
    max_unpool3d,
)
from .conv_pool_1d import (
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    avg_pool1d,
    conv1d,
    conv_transpose1d,
    max_pool1d,
    max_unpool1d,
)
from .distance import cosine_similarity, normalize, pairwise_distance
from .dropout import (
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
)
from .elementwise import (
    abs,
    add,
    atan,
    cast,
    ceil,
    clamp,
    clip,
    clone,
    cos,
    div,
    exp,
    expm1,
    floor,
    isfinite,
    isnan,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    round,
    rsqrt,
    sign,
    sin,
    sqrt,
    square,
    sub,
    to_device,
    trunc,
    where,
)
from .embedding import embedding
from .indexing import (
    argsort,
    bincount,
    cumsum,
    diag,
    flip,
    gather,
    index_add,
    index_select,
    masked_fill,
    meshgrid,
    narrow,
    nonzero,
    roll,
    scatter,
    scatter_add,
    sort,
    topk,
    tril,
    triu,
    unbind,
    unique,
)
from .loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    gaussian_nll_loss,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    poisson_nll_loss,
    sigmoid_focal_loss,
    smooth_l1_loss,
)
from .lp_pool import lp_pool1d, lp_pool2d, lp_pool3d
from .margin_loss import (
    cosine_embedding_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from .matmul import bmm, einsum, linear, matmul, mm, outer
from .norm import batch_norm, group_norm, instance_norm, layer_norm, local_response_norm
from .pool import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    interpolate,
    max_pool2d,
    max_unpool2d,
)

# Importing the submodule functional/norm.py sets the package attribute `norm` to that module;
# this import, after it, binds `norm` to the reduction (torch.norm, Tensor.norm) again.
from .reduce import (
    amax,
    amin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from .sampling import affine_grid, grid_sample
from .shape import (
    cat,
    channel_shuffle,
    chunk,
    concatenate,
    expand,
    expand_as,
    flatten,
    index,
    one_hot,
    pad,
    permute,
    pixel_shuffle,
    pixel_unshuffle,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
    view,
)
