"""Vision Transformer (Dosovitskiy et al., 2020) as torchvision builds it, with torchvision's
module names and state_dict keys: a torchvision ViT checkpoint (`.pth` or `.npz`) loads as it is.

    image (N, 3, H, W)
      conv_proj: Conv2d(3, D, kernel p, stride p)     one D-vector per p x p patch
      -> (N, S, D), S = (H / p)^2 tokens, row by row
      cat class_token (1, 1, D) in front              -> (N, S + 1, D)
      encoder: + pos_embedding (1, S + 1, D), dropout, L x EncoderBlock, LayerNorm `ln`
      token 0 -> heads: Linear(D, classes) `head`     (or pre_logits Linear, Tanh `act`, head)

    EncoderBlock (pre-norm):  x = x + dropout(self_attention(ln_1(x)))
                              x = x + mlp(ln_2(x))
    MLPBlock:                 Linear(D, M), GELU, Dropout, Linear(M, D), Dropout   (keys 0, 3)

One block holds 4 D^2 + 4 D (attention: in_proj 3D x D + 3D, out_proj D x D + D), 2 D M + M + D
(MLP) and 4 D (two LayerNorms) parameters: 12 D^2 + 13 D with M = 4 D. ViT-B/16 (D 768, L 12,
p 16, 197 tokens) has 86,567,656 in all; the table is in the builders below.

torchvision's init: conv_proj trunc_normal(std = sqrt(1 / fan_in)), zero bias; pos_embedding
N(0, 0.02^2); MLP weights xavier_uniform, biases N(0, 1e-6^2); the head all zeros (a fresh
model predicts uniform probabilities); attention as nn.MultiheadAttention; class token 0.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import functional as F
from .. import init
from ..kernels.shapes import conv_out
from ..layers import (
    GELU,
    BatchNorm2d,
    Dropout,
    LayerNorm,
    Linear,
    Module,
    MultiheadAttention,
    Parameter,
    ReLU,
    Sequential,
    Tanh,
)
from ..layers.conv import Conv2d
from ..tensor import Tensor, empty, no_grad, zeros
from ._registry import register
from .weights import load_state_dict_file, load_weights


class ConvStemConfig(NamedTuple):
    """One conv-norm-activation layer of a convolutional stem (Xiao et al., 2021, "Early
    convolutions help transformers see better"), torchvision's ConvStemConfig."""

    out_channels: int
    kernel_size: int
    stride: int
    norm_layer: type = BatchNorm2d
    activation_layer: type = ReLU


def conv_norm_activation(cin: int, cout: int, kernel_size: int, stride: int,
                         norm_layer=BatchNorm2d, activation_layer=ReLU) -> Sequential:  # fmt: skip
    """torchvision's Conv2dNormActivation: conv (padding (k - 1) // 2, a bias only without a
    norm), then norm and activation where given (keys 0, 1, 2)."""
    layers = [Conv2d(cin, cout, kernel_size, stride, (kernel_size - 1) // 2,
                     bias=norm_layer is None)]  # fmt: skip
    if norm_layer is not None:
        layers.append(norm_layer(cout))
    if activation_layer is not None:
        layers.append(activation_layer())
    return Sequential(*layers)


class MLPBlock(Sequential):
    """The transformer's feed-forward network, torchvision's MLPBlock (a torchvision.ops.MLP):
    Linear(in_dim, mlp_dim), GELU, Dropout, Linear(mlp_dim, in_dim), Dropout, keys 0 to 4.

    Init: weights xavier_uniform_, biases N(0, 1e-6^2).
    Shape: (*, in_dim) -> (*, in_dim).
    """

    def __init__(self, in_dim: int, mlp_dim: int, dropout: float):
        super().__init__(Linear(in_dim, mlp_dim), GELU(), Dropout(dropout),
                         Linear(mlp_dim, in_dim), Dropout(dropout))  # fmt: skip
        for m in self.modules():
            if isinstance(m, Linear):
                init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    init.normal_(m.bias, std=1e-6)


# torchvision's default norm_layer: LayerNorm with eps 1e-6 (as the original JAX ViT)
_LAYER_NORM_EPS6 = partial(LayerNorm, eps=1e-6)


def _check_tokens(who: str, x) -> None:
    if x.ndim != 3:
        raise ValueError(
            f"{who}: expected input of shape (batch_size, seq_length, hidden_dim), "
            f"got {tuple(x.shape)}"
        )


class EncoderBlock(Module):
    """One pre-norm transformer block, torchvision's EncoderBlock:

        x = input + dropout(self_attention(ln_1(input)))      (batch-first, need_weights=False)
        out = x + mlp(ln_2(x))

    Args:
        num_heads (int), hidden_dim (int): H heads over D features (H divides D).
        mlp_dim (int): M, the MLP's hidden width.
        dropout (float): after the attention and inside the MLP.
        attention_dropout (float): on the attention weights.
        norm_layer: builds ln_1 and ln_2 from D. Default: LayerNorm with eps 1e-6.

    Shape: (N, S, D) -> (N, S, D).
    """

    def __init__(self, num_heads: int, hidden_dim: int, mlp_dim: int, dropout: float,
                 attention_dropout: float, norm_layer=_LAYER_NORM_EPS6):  # fmt: skip
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = norm_layer(hidden_dim)
        self.self_attention = MultiheadAttention(
            hidden_dim, num_heads, dropout=attention_dropout, batch_first=True
        )
        self.dropout = Dropout(dropout)
        self.ln_2 = norm_layer(hidden_dim)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, input):
        _check_tokens("EncoderBlock", input)
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x) + input
        return x + self.mlp(self.ln_2(x))


class Encoder(Module):
    """torchvision's ViT Encoder: add the learned position embedding, dropout, the blocks
    (`layers.encoder_layer_0`, ...), a final norm `ln`.

    Args:
        seq_length (int): tokens per image, the class token included (S + 1).
        num_layers, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout, norm_layer:
            as EncoderBlock.

    pos_embedding (1, seq_length, hidden_dim) starts as N(0, 0.02^2) (as BERT).
    Shape: (N, seq_length, D) -> (N, seq_length, D).
    """

    def __init__(self, seq_length: int, num_layers: int, num_heads: int, hidden_dim: int,
                 mlp_dim: int, dropout: float, attention_dropout: float,
                 norm_layer=_LAYER_NORM_EPS6):  # fmt: skip
        super().__init__()
        self.pos_embedding = Parameter(empty(1, seq_length, hidden_dim))
        init.normal_(self.pos_embedding, std=0.02)
        self.dropout = Dropout(dropout)
        self.layers = Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout,
                                                attention_dropout, norm_layer))
            for i in range(num_layers)
        ))  # fmt: skip
        self.ln = norm_layer(hidden_dim)

    def forward(self, input):
        _check_tokens("Encoder", input)
        if tuple(input.shape[1:]) != tuple(self.pos_embedding.shape[1:]):
            raise ValueError(
                f"Encoder: expected input of shape (N, {self.pos_embedding.shape[1]}, "
                f"{self.pos_embedding.shape[2]}) (the position embedding's), got "
                f"{tuple(input.shape)}"
            )
        return self.ln(self.layers(self.dropout(input + self.pos_embedding)))


def _positive_int(name: str, v) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
        raise ValueError(f"VisionTransformer: {name} must be a positive int, got {v!r}")
    return int(v)


class VisionTransformer(Module):
    """Vision Transformer, torchvision's VisionTransformer (same arguments, attributes, module
    names and state_dict keys).

    Args:
        image_size (int): the one input size H = W the model takes; a multiple of patch_size.
        patch_size (int): p; the image becomes (image_size / p)^2 tokens.
        num_layers (int): L encoder blocks.
        num_heads (int): H attention heads; divides hidden_dim.
        hidden_dim (int): D, the token width.
        mlp_dim (int): M, the MLP's hidden width.
        dropout (float): on the embedded tokens, after attention and in the MLP. Default: 0.0.
        attention_dropout (float): on the attention weights. Default: 0.0.
        num_classes (int): Default: 1000.
        representation_size (int or None): put a Linear(D, representation_size) `pre_logits`
            and a Tanh `act` before the head. Default: None.
        norm_layer: builds every LayerNorm from D. Default: LayerNorm with eps=1e-6.
        conv_stem_configs (list of ConvStemConfig or None): replace the patchify conv with
            conv-norm-activation layers (`conv_proj.conv_bn_relu_<i>`) and a 1x1 conv to D
            (`conv_proj.conv_last`); their strides must take image_size to image_size / p.
            Default: None.
        in_channels (int): image channels (not in torchvision, where it is 3). Default: 3.

    Shape: (N, in_channels, image_size, image_size) -> (N, num_classes). Another size is
    refused (position embeddings exist for one grid; `interpolate_embeddings` resizes them).

    A torchvision checkpoint saved before torchvision 0.14 names the MLP's Linears
    `mlp.linear_1` / `mlp.linear_2`; `load_state_dict` takes those too, as torchvision does.
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        num_classes: int = 1000,
        representation_size: int | None = None,
        norm_layer=_LAYER_NORM_EPS6,
        conv_stem_configs: list[ConvStemConfig] | None = None,
        in_channels: int = 3,
    ):
        super().__init__()
        sizes = dict(image_size=image_size, patch_size=patch_size, num_layers=num_layers,
                     num_heads=num_heads, hidden_dim=hidden_dim, mlp_dim=mlp_dim,
                     num_classes=num_classes, in_channels=in_channels)  # fmt: skip
        for name, v in sizes.items():
            _positive_int(name, v)
        if image_size % patch_size:
            raise ValueError(
                f"VisionTransformer: image_size {image_size} is not divisible by patch_size "
                f"{patch_size} (input shape indivisible by patch size)"
            )
        self.image_size = image_size
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.mlp_dim = mlp_dim
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.num_classes = num_classes
        self.representation_size = representation_size
        self.norm_layer = norm_layer
        self.in_channels = in_channels
        grid = image_size // patch_size

        if conv_stem_configs is not None:  # arXiv 2106.14881
            stem, prev, size = Sequential(), in_channels, image_size
            for i, cfg in enumerate(conv_stem_configs):
                stem.add_module(f"conv_bn_relu_{i}", conv_norm_activation(
                    prev, cfg.out_channels, cfg.kernel_size, cfg.stride, cfg.norm_layer,
                    cfg.activation_layer))  # fmt: skip
                prev = cfg.out_channels
                size = conv_out(size, cfg.kernel_size, cfg.stride, (cfg.kernel_size - 1) // 2)
            if size != grid:
                raise ValueError(
                    f"VisionTransformer: the conv stem maps image_size {image_size} to {size} "
                    f"per side, the patch grid needs {grid} (image_size / patch_size "
                    f"{patch_size}): make the strides multiply to patch_size"
                )
            stem.add_module("conv_last", Conv2d(prev, hidden_dim, 1))
            self.conv_proj = stem
        else:
            self.conv_proj = Conv2d(in_channels, hidden_dim, patch_size, stride=patch_size)

        self.seq_length = grid * grid + 1  # + the class token
        self.class_token = Parameter(zeros(1, 1, hidden_dim))
        self.encoder = Encoder(self.seq_length, num_layers, num_heads, hidden_dim, mlp_dim,
                               dropout, attention_dropout, norm_layer)  # fmt: skip
        heads = OrderedDict()
        if representation_size is None:
            heads["head"] = Linear(hidden_dim, num_classes)
        else:
            heads["pre_logits"] = Linear(hidden_dim, representation_size)
            heads["act"] = Tanh()
            heads["head"] = Linear(representation_size, num_classes)
        self.heads = Sequential(heads)

        if isinstance(self.conv_proj, Conv2d):  # the patchify stem
            kh, kw = self.conv_proj.kernel_size
            init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / (in_channels * kh * kw)))
            init.zeros_(self.conv_proj.bias)
        else:  # the last 1x1 conv of the conv stem
            last = self.conv_proj.conv_last
            init.normal_(last.weight, 0.0, math.sqrt(2.0 / last.out_channels))
            init.zeros_(last.bias)
        if representation_size is not None:
            pre = self.heads.pre_logits
            init.trunc_normal_(pre.weight, std=math.sqrt(1 / pre.in_features))
            init.zeros_(pre.bias)
        init.zeros_(self.heads.head.weight)
        init.zeros_(self.heads.head.bias)

    def _label(self) -> str:
        return (
            f"VisionTransformer(image_size={self.image_size}, patch_size={self.patch_size}, "
            f"hidden_dim={self.hidden_dim})"
        )

    def _process_input(self, x):
        """(N, C, H, W) -> (N, S, D): the patch embeddings, row by row."""
        c, s = self.in_channels, self.image_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise ValueError(
                f"{self._label()}: expected input of shape (N, {c}, {s}, {s}), got "
                f"{tuple(x.shape)}; a ViT takes the one image size it was built for "
                f"(build it with image_size=H for other square images)"
            )
        n, grid = x.shape[0], s // self.patch_size
        x = self.conv_proj(x)  # (N, D, grid, grid)
        return x.reshape(n, self.hidden_dim, grid * grid).permute(0, 2, 1)

    def forward(self, x):
        x = self._process_input(x)
        n = x.shape[0]
        x = F.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = self.encoder(x)
        return self.heads(x[:, 0])  # the class token's output

    def load_state_dict(self, state_dict, strict: bool = True):
        """Module.load_state_dict, also taking the pre-0.14 torchvision names
        `...mlp.linear_1.*` / `...mlp.linear_2.*` for `...mlp.0.*` / `...mlp.3.*`."""
        if hasattr(state_dict, "items"):
            state_dict = upgrade_legacy_keys(state_dict)
        return super().load_state_dict(state_dict, strict)


_LEGACY_MLP = re.compile(r"^(.*\bmlp\.)linear_([12])\.(weight|bias)$")


def upgrade_legacy_keys(state) -> OrderedDict:
    """A ViT state dict with torchvision's current MLP names: checkpoints saved before
    torchvision 0.14 (such as its published vit_b_16-c867db91.pth) call the MLP's Linears
    `mlp.linear_1` and `mlp.linear_2`, now `mlp.0` and `mlp.3`. Other keys and the order stay."""
    out = OrderedDict()
    for k, v in state.items():
        m = _LEGACY_MLP.match(k)
        out[f"{m[1]}{3 * (int(m[2]) - 1)}.{m[3]}" if m else k] = v
    return out


def interpolate_embeddings(image_size: int, patch_size: int, model_state,
                           interpolation_mode: str = "bicubic",
                           reset_heads: bool = False) -> OrderedDict:  # fmt: skip
    """Resize a checkpoint's position embeddings for another image size, as torchvision's
    interpolate_embeddings: the class token's embedding stays, the others are read as a
    g x g grid and resized (align_corners=True) to (image_size / patch_size)^2.

    Args:
        image_size (int), patch_size (int): of the new model.
        model_state: the checkpoint's state dict (arrays or Tensors); not modified.
        interpolation_mode (str): an F.interpolate mode. Default: 'bicubic'.
        reset_heads (bool): leave out every 'heads' entry (for a new classifier). Default:
            False. (torchvision drops them only when it resized; here always when asked.)

    Returns:
        A new OrderedDict; encoder.pos_embedding (1, S' + 1, D), a Tensor if given one, else a
        NumPy array (a torch tensor comes back as a NumPy array).
    """
    pos = model_state["encoder.pos_embedding"]
    n, seq_length, hidden_dim = pos.shape
    if n != 1:
        raise ValueError(
            f"interpolate_embeddings: unexpected position embedding shape {tuple(pos.shape)}"
        )
    grid = int(math.isqrt(seq_length - 1))
    if grid * grid != seq_length - 1:
        raise ValueError(
            f"interpolate_embeddings: {seq_length - 1} patch embeddings (the class token's "
            f"left out) are not a square grid"
        )
    new_grid = image_size // patch_size
    out = OrderedDict(
        (k, v) for k, v in model_state.items() if not (reset_heads and k.startswith("heads"))
    )
    if new_grid * new_grid + 1 != seq_length:
        t = pos if isinstance(pos, Tensor) else Tensor(pos)
        with no_grad():
            img = t[:, 1:].permute(0, 2, 1).reshape(1, hidden_dim, grid, grid)
            img = F.interpolate(img, size=new_grid, mode=interpolation_mode, align_corners=True)
            img = img.reshape(1, hidden_dim, new_grid * new_grid).permute(0, 2, 1)
            new = F.cat([t[:, :1], img], dim=1)
        out["encoder.pos_embedding"] = new if isinstance(pos, Tensor) else new._data
    return out


def _load_checkpoint(model: VisionTransformer, weights) -> VisionTransformer:
    """The builders' `weights=`: a path or a state dict, with pre-0.14 MLP names renamed,
    position embeddings resized when the checkpoint was trained at another image size, and
    the head left at its init when the checkpoint's has another shape (another class count)."""
    state = load_state_dict_file(weights) if isinstance(weights, (str, Path)) else weights
    state = upgrade_legacy_keys(state)
    pos = state.get("encoder.pos_embedding")
    if pos is not None and tuple(pos.shape)[1:2] != (model.seq_length,):
        state = interpolate_embeddings(model.image_size, model.patch_size, state)
    head = state.get("heads.head.weight")
    skip = ()
    if head is not None and tuple(head.shape) != tuple(model.heads.head.weight.shape):
        skip = ("heads.head.",)
    try:
        return load_weights(model, state, skip=skip)
    except ValueError as e:
        if isinstance(weights, (str, Path)):
            e.args = (f"{e.args[0]} (weights: {weights})", *e.args[1:])
        raise


def _vision_transformer(patch_size: int, num_layers: int, num_heads: int, hidden_dim: int,
                        mlp_dim: int, weights, **kwargs) -> VisionTransformer:  # fmt: skip
    model = VisionTransformer(patch_size=patch_size, num_layers=num_layers, num_heads=num_heads,
                              hidden_dim=hidden_dim, mlp_dim=mlp_dim, **kwargs)  # fmt: skip
    return model if weights is None else _load_checkpoint(model, weights)


# name: (patch_size, num_layers, num_heads, hidden_dim, mlp_dim, torchvision's parameter count)
VIT_CONFIGS = {
    "vit_b_16": (16, 12, 12, 768, 3072, 86_567_656),
    "vit_b_32": (32, 12, 12, 768, 3072, 88_224_232),
    "vit_l_16": (16, 24, 16, 1024, 4096, 304_326_632),
    "vit_l_32": (32, 24, 16, 1024, 4096, 306_535_400),
    "vit_h_14": (14, 32, 16, 1280, 5120, 632_045_800),
}


def _builder(name: str):
    patch, layers, heads, hidden, mlp, count = VIT_CONFIGS[name]
    title = f"ViT-{name[4].upper()}/{patch}"

    def build(*, weights=None, progress: bool = True, image_size: int = 224,
              num_classes: int = 1000, in_channels: int = 3,
              **kwargs) -> VisionTransformer:  # fmt: skip
        return _vision_transformer(patch, layers, heads, hidden, mlp, weights,
                                   image_size=image_size, num_classes=num_classes,
                                   in_channels=in_channels, **kwargs)  # fmt: skip

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"torchvision's {name}: {title}, {layers} layers, {heads} heads, hidden {hidden}, MLP "
        f"{mlp} ({count:,} parameters at 224 x 224 with 1000 classes).\n\n"
        "    Args:\n"
        "        weights: a torchvision `.pth` or an `.npz` (a path), a state dict, or None.\n"
        "            Pre-0.14 MLP names are renamed; position embeddings trained at another\n"
        "            image size are resized (interpolate_embeddings); a head of another class\n"
        "            count is left at its init.\n"
        "        progress (bool): ignored (nothing is downloaded).\n"
        "        image_size (int): Default: 224. num_classes (int): Default: 1000.\n"
        "        in_channels (int): Default: 3.\n"
        "        **kwargs: the other VisionTransformer arguments (dropout, attention_dropout,\n"
        "            representation_size, norm_layer, conv_stem_configs).\n"
    )
    register(
        name.replace("_", "-"),
        f"{title} Vision Transformer (torchvision architecture and state_dict keys), "
        "ImageNet head by default",
        input_size=(3, 224, 224),
        num_classes=1000,
    )(build)
    return build


vit_b_16 = _builder("vit_b_16")
vit_b_32 = _builder("vit_b_32")
vit_l_16 = _builder("vit_l_16")
vit_l_32 = _builder("vit_l_32")
vit_h_14 = _builder("vit_h_14")
