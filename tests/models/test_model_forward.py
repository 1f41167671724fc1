"""Every seed model runs one forward and one backward pass on a tiny batch.

Sizes are the smallest each architecture takes where that keeps the file fast (the VOC nets at
32x32 or 16x16 instead of 224x224: their layers are size-agnostic, the formula allows it).
"""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import models

# name, options, input shape (N, C, H, W), expected output shape
CASES = [
    ("unit-block-mnist", {}, (2, 1, 28, 28), (2, 10)),
    ("unit-block-cifar10", {}, (2, 3, 32, 32), (2, 10)),
    ("two-decoder", {}, (2, 3, 32, 32), (2, 20, 32, 32)),
    ("deep-cnn-mnist", {}, (2, 1, 28, 28), (2, 10)),
    ("deep-cnn-res-cifar10", {}, (2, 3, 32, 32), (2, 10)),
    ("fcn-baseline", {}, (2, 3, 32, 32), (2, 21, 32, 32)),
    ("unet", {}, (2, 3, 16, 16), (2, 21, 16, 16)),
    ("resnet18-fcn", {}, (2, 3, 32, 32), (2, 21, 32, 32)),
    ("resnet18", {"num_classes": 10}, (2, 3, 32, 32), (2, 10)),
    ("e1", {}, (2, 3, 32, 32), (2, 10)),
    ("e2", {}, (2, 3, 32, 32), (2, 10)),
    ("e2-extra-conv", {}, (2, 3, 32, 32), (2, 10)),
    ("three-layer", {}, (2, 3, 32, 32), (2, 10)),
    (
        "three-layer",
        dict(
            filters=(8, 16, 32),
            kernel_sizes=(7, 5, 3),
            extra_fc=16,
            activation="leaky_relu",
            dropout=0.3,
            batch_norm=True,
        ),
        (2, 3, 32, 32),
        (2, 10),
    ),  # fmt: skip
]


@pytest.mark.parametrize("name,options,shape,out_shape", CASES, ids=[c[0] for c in CASES])
def test_forward_and_backward_on_a_tiny_batch(name, options, shape, out_shape):
    mt.manual_seed(0)
    model = models.get(name, **options)
    x = mt.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    out = model(x)
    assert out.shape == out_shape
    assert out.dtype == np.float32
    (out * out).mean().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    for n, p in trainable:
        assert p.grad is not None, f"{name}: no gradient reached {n}"
        assert p.grad.shape == p.shape
        assert np.isfinite(p.grad.numpy()).all(), n
    # the gradient reaches the first layer: the whole chain is connected
    first = trainable[0][1]
    assert np.abs(first.grad.numpy()).sum() > 0
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, f"{name}: frozen {n} got a gradient"


def test_eval_mode_is_deterministic_and_batch_independent():
    model = models.get("e2").eval()
    x = mt.tensor(np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32))
    with mt.no_grad():
        full = model(x).numpy()
        one = model(x[1:2]).numpy()
    np.testing.assert_allclose(one[0], full[1], rtol=1e-4, atol=1e-5)


def test_segmentation_nets_reject_sizes_they_cannot_take():
    x = mt.zeros(1, 3, 30, 30)
    with pytest.raises(ValueError, match=r"FCNBaseline: .*divisible by 32.*\(1, 3, 30, 30\)"):
        models.get("fcn-baseline")(x)
    with pytest.raises(ValueError, match=r"TwoDecoderSegNet: .*divisible by 16"):
        models.get("two-decoder")(x)
    with pytest.raises(ValueError, match=r"UNet: .*divisible by 16"):
        models.get("unet", widths=(4, 8, 16, 32))(x)


def test_two_decoder_output_is_type_times_class():
    model = models.get("two-decoder").eval()
    x = mt.tensor(np.random.default_rng(2).random((1, 3, 32, 32)).astype(np.float32))
    seen = {}
    model.type_decoder.register_forward_hook(lambda m, a, out: seen.__setitem__("type", out))
    model.class_decoder.register_forward_hook(lambda m, a, out: seen.__setitem__("cls", out))
    with mt.no_grad():
        out = model(x).numpy()
    kind, cls = seen["type"].numpy(), seen["cls"].numpy()
    np.testing.assert_allclose(out[:, :10], kind[:, 0:1] * cls, rtol=1e-6)
    np.testing.assert_allclose(out[:, 10:], kind[:, 1:2] * cls, rtol=1e-6)
