"""Exercise 16: attention and transformer blocks by hand. Fill in the functions, then run
`minitorch-cv exercises check 16`."""

import numpy as np  # noqa: F401  (ready for your solution)


def attention(q, k, v, causal=False):
    """Scaled dot-product attention of queries q (L, E), keys k (S, E) and values v (S, Ev):
    the (L, Ev) outputs. causal: query i sees only keys 0..i."""
    raise NotImplementedError


def mha_parameters(embed_dim, num_heads, bias=True):
    """The trainable parameters of nn.MultiheadAttention(embed_dim, num_heads, bias=bias)."""
    raise NotImplementedError


def vit_tokens(image_size, patch_size):
    """How many tokens a ViT's encoder sees for a square image cut into square patches (the
    patch embeddings plus the class token)."""
    raise NotImplementedError


def encoder_layer_parameters(d_model, dim_feedforward, bias=True):
    """The trainable parameters of nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward,
    bias=bias) (any nhead that divides d_model)."""
    raise NotImplementedError
