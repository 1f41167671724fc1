"""Embedding: a learned lookup table of vectors, indexed by integers (torch.nn.Embedding)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import init
from ..functional.embedding import _padding_row
from ..tensor import Tensor, empty, no_grad
from .module import Module, Parameter


class Embedding(Module):
    """out = weight[input]: one learned vector per index (word, class label, token id).

    Args:
        num_embeddings (int): size of the table V.
        embedding_dim (int): size of each vector D.
        padding_idx (int, optional): that row starts at zero and receives no gradient, so it
            stays a fixed "padding" vector. Negative counts from the end. Default: None.
        max_norm (float, optional): rows read by a forward whose norm exceeds it are rescaled to
            it first, in place in `weight`. Default: None.
        norm_type (float): p of the norm for max_norm. Default: 2.0.
        scale_grad_by_freq (bool): divide each row's gradient by its count in the batch.
            Default: False.
        sparse (bool): accepted, as PyTorch's; the weight's gradient is dense either way (the
            same values). Default: False.
        _weight: an initial (V, D) table (shared, not copied) instead of the random draw.
        _freeze (bool): the weight does not require grad. Default: False.
        device, dtype: where and in which float type the table lives. Default: cpu, float32.

    Shape:
        input (*) integer indices in [0, V) -> output (*, D)

    Weights: weight (V, D) drawn from N(0, 1) as in PyTorch, the padding_idx row zeroed.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight=None,
        _freeze: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        for name, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"Embedding: {name} must be a non-negative int, got {v!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = _padding_row(padding_idx, self.num_embeddings, "Embedding")
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            shape = (self.num_embeddings, self.embedding_dim)
            self.weight = Parameter(empty(*shape, dtype=dtype, device=device), not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(
                    f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                    f"({self.num_embeddings}, {self.embedding_dim})"
                )
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """PyTorch's default: N(0, 1), then the padding_idx row set to zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    def forward(self, input):
        try:
            return F.embedding(
                input,
                self.weight,
                self.padding_idx,
                self.max_norm,
                self.norm_type,
                self.scale_grad_by_freq,
            )
        except IndexError as e:  # out-of-range indices: say which layer (ValueErrors get it too)
            e.args = (f"{self._error_label()}: {e.args[0]}", *e.args[1:])
            raise

    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose table is `embeddings` (V, D) (shared, not copied; the padding row is
        left as given); `freeze=True` keeps it out of training (requires_grad=False)."""
        if not isinstance(embeddings, Tensor):
            embeddings = Tensor(embeddings)
        if embeddings.ndim != 2:
            raise ValueError(
                "Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, "
                f"embedding_dim), got shape {tuple(embeddings.shape)}"
            )
        rows, cols = embeddings.shape
        return cls(
            rows,
            cols,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
            _weight=embeddings,
            _freeze=freeze,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse:
            s += ", sparse=True"
        return s
