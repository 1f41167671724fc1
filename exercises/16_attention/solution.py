"""Exercise 16, reference solution."""

import numpy as np


def attention(q, k, v, causal=False):
    q, k, v = (np.asarray(a, dtype=float) for a in (q, k, v))
    scores = q @ k.T / np.sqrt(q.shape[-1])  # (L, S): query i against key j, scaled by sqrt(E)
    if causal:  # query i may look at keys 0..i only
        scores = np.where(np.tri(*scores.shape, dtype=bool), scores, -np.inf)
    w = np.exp(scores - scores.max(axis=1, keepdims=True))  # softmax over the keys, row by row
    w /= w.sum(axis=1, keepdims=True)
    return w @ v


def mha_parameters(embed_dim, num_heads, bias=True):
    # the q, k, v projections (E x E each) and the output projection (E x E), with a bias of E
    # each; the heads split these matrices, they do not add any
    return 4 * embed_dim * embed_dim + (4 * embed_dim if bias else 0)


def vit_tokens(image_size, patch_size):
    return (image_size // patch_size) ** 2 + 1


def encoder_layer_parameters(d_model, dim_feedforward, bias=True):
    d, f = d_model, dim_feedforward
    attn = mha_parameters(d, 1, bias)
    mlp = d * f + f * d + ((f + d) if bias else 0)  # linear1 (d -> f), linear2 (f -> d)
    norms = 2 * (2 * d if bias else d)  # norm1, norm2: a weight and (with bias) a bias each
    return attn + mlp + norms
