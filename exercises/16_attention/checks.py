"""Checks of exercise 16: hand attention against the engine's scaled_dot_product_attention, and
parameter / token counts against the engine's MultiheadAttention, TransformerEncoderLayer and a
patch-embedding conv."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv.exercises import Question, Task, close, exact, format_grid


def engine_attention(q, k, v, causal=False):
    t = [mt.tensor(np.asarray(a, dtype=np.float64)) for a in (q, k, v)]
    return F.scaled_dot_product_attention(*t, is_causal=causal).numpy()


def _count(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def engine_mha_parameters(embed_dim, num_heads, bias=True):
    with nn.init.skip_init():
        return _count(nn.MultiheadAttention(embed_dim, num_heads, bias=bias))


def engine_vit_tokens(image_size, patch_size):
    # the patch embedding is a conv with kernel = stride = patch: one token per output pixel
    proj = nn.Conv2d(3, 1, patch_size, stride=patch_size)
    with mt.no_grad():
        patches = proj(mt.zeros(1, 3, image_size, image_size))
    return patches.shape[2] * patches.shape[3] + 1  # + the class token


def engine_encoder_layer_parameters(d_model, dim_feedforward, bias=True):
    with nn.init.skip_init():
        return _count(nn.TransformerEncoderLayer(d_model, 1, dim_feedforward, bias=bias))


_halves = st.integers(-4, 4).map(lambda v: v / 2)


@st.composite
def _attention(draw):
    l, s, e, ev = (draw(st.integers(1, n)) for n in (3, 4, 3, 3))
    causal = draw(st.booleans())  # with L > S too: the mask is aligned at the top left

    def grid(rows, cols):
        return np.array(
            [draw(st.lists(_halves, min_size=cols, max_size=cols)) for _ in range(rows)]
        )

    return {"q": grid(l, e), "k": grid(s, e), "v": grid(s, ev), "causal": causal}


@st.composite
def _mha(draw):
    heads = draw(st.integers(1, 4))
    return {"embed_dim": heads * draw(st.integers(1, 6)), "num_heads": heads,
            "bias": draw(st.booleans())}  # fmt: skip


@st.composite
def _tokens(draw):
    patch = draw(st.integers(1, 8))
    return {"image_size": patch * draw(st.integers(1, 8)), "patch_size": patch}


@st.composite
def _encoder(draw):
    return {"d_model": draw(st.integers(1, 24)), "dim_feedforward": draw(st.integers(1, 48)),
            "bias": draw(st.booleans())}  # fmt: skip


TASKS = [
    Task(
        "attention",
        engine_attention,
        _attention(),
        close(1e-9, 1e-9),
        claim="equals the engine's scaled_dot_product_attention",
        hint="softmax over the KEYS (each row of q k^T), scores divided by sqrt(E), the key "
        "dimension, not by E; causal: query i keeps keys 0..i",
    ),
    Task(
        "mha_parameters",
        engine_mha_parameters,
        _mha(),
        exact,
        claim="equals the parameters of the engine's nn.MultiheadAttention",
        hint="four E x E projections (q, k, v, out) and four biases of E; the number of heads "
        "does not change the count",
    ),
    Task(
        "vit_tokens",
        engine_vit_tokens,
        _tokens(),
        exact,
        claim="equals the patch conv's output pixels plus one",
        hint="(image / patch)^2 patches, plus the class token",
    ),
    Task(
        "encoder_layer_parameters",
        engine_encoder_layer_parameters,
        _encoder(),
        exact,
        claim="equals the parameters of the engine's nn.TransformerEncoderLayer",
        hint="self-attention, two linears (d -> dim_feedforward -> d) and two layer norms "
        "(a weight and a bias each); bias=False drops every bias, the norms' too",
    ),
]


def generate(rng):
    q = rng.integers(-1, 2, size=(2, 2))
    k = rng.integers(-1, 2, size=(3, 2))
    v = rng.integers(0, 4, size=(3, 2))
    e, h = int(rng.choice([64, 128, 256])), int(rng.choice([2, 4, 8]))
    patch = int(rng.choice([8, 14, 16, 32]))
    image = patch * int(rng.integers(4, 17))
    d, heads = int(rng.choice([192, 384, 512])), int(rng.choice([4, 8]))
    return [
        Question(f"q\n{format_grid(q)}\nk\n{format_grid(k)}\nv\n{format_grid(v)}\nthe "
                 "attention outputs?", "attention", {"q": q, "k": k, "v": v, "causal": False}),
        Question("the same, causal?", "attention", {"q": q, "k": k, "v": v, "causal": True}),
        Question(f"parameters of MultiheadAttention({e}, {h})?", "mha_parameters",
                 {"embed_dim": e, "num_heads": h, "bias": True}),
        Question(f"tokens of a ViT with {patch}x{patch} patches on {image}x{image} images?",
                 "vit_tokens", {"image_size": image, "patch_size": patch}),
        Question(f"parameters of TransformerEncoderLayer({d}, {heads}, {4 * d})?",
                 "encoder_layer_parameters", {"d_model": d, "dim_feedforward": 4 * d,
                                              "bias": True}),
    ]  # fmt: skip
