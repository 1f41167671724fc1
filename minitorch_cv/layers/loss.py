"""Loss modules (PyTorch's names and constructor arguments); each forward is one call into
functional/loss.py. A class weight is a buffer, so `.to(device)` moves it and it shows in
`state_dict()` under the key 'weight' exactly as in PyTorch."""

from __future__ import annotations

import warnings

from ..functional.ctc import ctc_loss
from ..functional.distance import triplet_margin_with_distance_loss
from ..functional.loss import (
    _REDUCTIONS,
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
    smooth_l1_loss,
)
from ..functional.margin_loss import (
    cosine_embedding_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from ..tensor import Tensor, get_default_dtype
from ..tensor import tensor as make_tensor
from .linear import PairwiseDistance
from .module import Module


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated size_average / reduce flags, translated to a reduction string."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _as_buffer(value, name: str, owner: str):
    """A weight given as a Tensor, array or list -> a float Tensor (or None)."""
    if value is None or isinstance(value, Tensor):
        if value is not None and value.dtype.kind != "f":
            raise TypeError(f"{owner}: {name} must be a floating point tensor, got {value.dtype}")
        return value
    t = make_tensor(value)
    return t if t.dtype.kind == "f" else t.to(get_default_dtype())


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        reduction = _legacy_reduction(size_average, reduce, reduction)
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: reduction must be 'none', 'mean' or 'sum', "
                f"got {reduction!r}"
            )
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _as_buffer(weight, "weight", type(self).__name__))


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy between logits and class targets (or class probabilities).

    Args:
        weight: (C,) per-class rescaling, or None. Default None (a buffer when given).
        ignore_index (int): targets with this value count nowhere. Default -100.
        reduction (str): 'none' | 'mean' | 'sum'. Default 'mean' (divides by the summed target
            weights of the non-ignored elements).
        label_smoothing (float): in [0, 1]. Default 0.0.
        size_average, reduce: PyTorch's deprecated flags, translated to reduction.

    Shape:
        input (N, C) or (N, C, d1, ...) logits; target (N,) / (N, d1, ...) integer classes, or
        float probabilities of the input's shape; output () or (N, d1, ...) for 'none'.
    """

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ):
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing}"
            )
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (pair it with LogSoftmax).

    Args:
        weight: (C,) or None. ignore_index (int): default -100.
        reduction (str): 'none' | 'mean' (divides by the summed target weights) | 'sum'.

    Shape:
        input (N, C) or (N, C, d1, ...); target (N,) or (N, d1, ...) integer classes.
    """

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error (input - target)^2.

    Args: reduction (str): 'none' | 'mean' | 'sum'. Default 'mean'.

    Shape: input and target of the same shape; output () or that shape for 'none'.
    """

    def forward(self, input, target):
        return mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error |input - target|.

    Args: reduction (str): 'none' | 'mean' | 'sum'. Default 'mean'.
    """

    def forward(self, input, target):
        return l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below beta, linear above (PyTorch's SmoothL1Loss).

    Args: reduction (str): default 'mean'. beta (float): switch point, default 1.0.
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta must be >= 0, got {beta}")
        self.beta = beta

    def forward(self, input, target):
        return smooth_l1_loss(input, target, self.reduction, self.beta)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, computed stably on logits.

    Args:
        weight: broadcastable to the input, rescales each element. Default None (buffer).
        reduction (str): default 'mean'.
        pos_weight: weight of positive examples, broadcastable to the input (usually (C,)).
            Default None (buffer).

    Shape: input logits and target of the same shape; output () or that shape for 'none'.
    """

    def __init__(
        self,
        weight=None,
        size_average=None,
        reduce=None,
        reduction: str = "mean",
        pos_weight=None,
    ):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _as_buffer(weight, "weight", "BCEWithLogitsLoss"))
        self.register_buffer(
            "pos_weight", _as_buffer(pos_weight, "pos_weight", "BCEWithLogitsLoss")
        )

    def forward(self, input, target):
        return binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities in [0, 1] (prefer BCEWithLogitsLoss on logits).

    Args: weight: broadcastable to the input, or None (buffer). reduction (str): default 'mean'.
    """

    def forward(self, input, target):
        return binary_cross_entropy(input, target, self.weight, self.reduction)


class HuberLoss(_Loss):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target.

    Args: reduction (str): default 'mean'. delta (float): switch point, > 0, default 1.0.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be > 0, got {delta}")
        self.delta = delta

    def forward(self, input, target):
        return huber_loss(input, target, self.reduction, self.delta)


class KLDivLoss(_Loss):
    """KL(target || model) with the input as the model's log-probabilities (log_softmax output).

    Args:
        reduction (str): 'mean' (per element, PyTorch's default), 'batchmean' (per sample: the
            actual KL divergence), 'sum' or 'none'.
        log_target (bool): the target holds log-probabilities. Default False.
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False):  # fmt: skip
        batchmean = reduction == "batchmean"
        super().__init__(size_average, reduce, "mean" if batchmean else reduction)
        self.reduction = "batchmean" if batchmean else self.reduction
        self.log_target = log_target

    def forward(self, input, target):
        return kl_div(input, target, self.reduction, self.log_target)


class MultiMarginLoss(_WeightedLoss):
    """The multi-class hinge loss of a linear SVM: per sample, (1/C) sum over the rival classes
    i of w[y] max(0, margin - x[y] + x[i])^p.

    Args:
        p (int): 1 or 2. Default 1. margin (float): Default 1.0.
        weight: (C,) per-class weights, or None. reduction (str): default 'mean'.

    Shape: input (N, C) or (C,) scores; target (N,) or () integer classes.
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None,
                 reduce=None, reduction: str = "mean"):  # fmt: skip
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p = 1 and p = 2 are supported, got {p!r}")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return multi_margin_loss(input, target, self.p, self.margin, self.weight, self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """A logistic loss per class, averaged over the classes: multi-label classification with
    targets of 0/1 per class. weight: (C,) or None."""

    def forward(self, input, target):
        return multilabel_soft_margin_loss(input, target, self.weight, self.reduction)


class SoftMarginLoss(_Loss):
    """log(1 + exp(-y x)) with labels y = +-1."""

    def forward(self, input, target):
        return soft_margin_loss(input, target, self.reduction)


class MarginRankingLoss(_Loss):
    """max(0, -y (x1 - x2) + margin): y = 1 wants x1 ranked above x2, y = -1 the reverse.

    Args: margin (float): Default 0.0. reduction (str): default 'mean'.
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean"):  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return margin_ranking_loss(input1, input2, target, self.margin, self.reduction)


class HingeEmbeddingLoss(_Loss):
    """x where y = 1, max(0, margin - x) where y = -1 (x a distance between two embeddings).

    Args: margin (float): Default 1.0. reduction (str): default 'mean'.
    """

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None,
                 reduction: str = "mean"):  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        return hinge_embedding_loss(input, target, self.margin, self.reduction)


class CosineEmbeddingLoss(_Loss):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1.

    Args: margin (float): in [-1, 1], 0 to 0.5 suggested. Default 0.0.
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean"):  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class TripletMarginLoss(_Loss):
    """max(0, d(a, p) - d(a, n) + margin), d the p-norm distance: the anchor nearer to the
    positive than to the negative by `margin`.

    Args:
        margin (float): > 0. Default 1.0. p (float): the norm's degree. Default 2.0.
        eps (float): added to the differences, as in pairwise_distance. Default 1e-6.
        swap (bool): use min(d(a, n), d(p, n)) as the negative distance. Default False.
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, size_average=None, reduce=None,
                 reduction: str = "mean"):  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                   self.swap, self.reduction)  # fmt: skip


class GaussianNLLLoss(_Loss):
    """Negative log-likelihood of the target under N(input, var), var predicted too.

    Args:
        full (bool): add 0.5 log(2 pi). Default False.
        eps (float): floor of the variance. Default 1e-6. reduction (str): default 'mean'.

    forward(input, target, var): var of the input's shape, with one dim of size 1, without
    the last dim, or a float.
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class PoissonNLLLoss(_Loss):
    """Negative log-likelihood of counts under a Poisson: exp(x) - y x (log_input) or
    x - y log(x + eps).

    Args:
        log_input (bool): the input is the log of the rate. Default True.
        full (bool): add Stirling's approximation of log(y!) where y > 1. Default False.
        eps (float): Default 1e-8. reduction (str): default 'mean'.
    """

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None,
                 eps: float = 1e-8, reduce=None, reduction: str = "mean"):  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return poisson_nll_loss(log_input, target, self.log_input, self.full, self.eps,
                                self.reduction)  # fmt: skip


class TripletMarginWithDistanceLoss(_Loss):
    """max(0, margin + d(a, p) - d(a, n)) for any distance function d: the anchor nearer to the
    positive than to the negative by `margin` (F.triplet_margin_with_distance_loss).

    Args:
        distance_function: d(x1, x2) -> distances, e.g. `lambda x, y: 1 - F.cosine_similarity(x,
            y)`; None is `PairwiseDistance()` (a submodule, as in torch). Default None.
        margin (float): > 0. Default 1.0.
        swap (bool): use min(d(a, n), d(p, n)) as the negative distance. Default False.
        reduction (str): 'none' | 'mean' | 'sum'. Default 'mean'.
    """

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean"):  # fmt: skip
        super().__init__(reduction=reduction)
        if not margin > 0:
            raise ValueError(
                f"TripletMarginWithDistanceLoss: margin must be greater than 0, got {margin}"
            )
        self.distance_function = (
            distance_function if distance_function is not None else PairwiseDistance()
        )
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction,
        )  # fmt: skip


class NLLLoss2d(NLLLoss):
    """NLLLoss under PyTorch's deprecated name (constructing it warns, as PyTorch's FutureWarning
    does); NLLLoss already takes (N, C, H, W) input with (N, H, W) targets."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):  # fmt: skip
        warnings.warn(
            "`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in "
            "replacement.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


class CTCLoss(_Loss):
    """Connectionist temporal classification loss (F.ctc_loss): the negative log-likelihood of
    each target sequence summed over all its alignments to the input frames (CRNN, speech).

    Args:
        blank (int): the blank class. Default 0.
        reduction (str): 'none' | 'mean' (each loss divided by its target length, then the
            batch mean) | 'sum'. Default 'mean'.
        zero_infinity (bool): zero infinite losses (no alignment) and their gradients.
            Default False.

    forward(log_probs, targets, input_lengths, target_lengths): log_probs (T, N, C) or (T, C);
    targets padded (N, S) or concatenated (sum(target_lengths),); lengths (N,) or (), as
    Tensors, tuples or lists -> () or (N,) for 'none'.
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                        self.reduction, self.zero_infinity)  # fmt: skip
