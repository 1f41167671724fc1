"""The model registry: names, presets, options and the errors a user meets."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import models
from minitorch_cv.layers import Module


def test_list_models_names_every_seed_network():
    names = {m.name for m in models.list_models()}
    assert {
        "unit-block-mnist", "unit-block-cifar10", "two-decoder", "deep-cnn-mnist",
        "deep-cnn-res-cifar10", "fcn-baseline", "unet", "resnet18-fcn", "e1", "e2",
        "e2-extra-conv", "three-layer", "resnet18", "small-cnn", "mlp", "small-fcn",
    } <= names  # fmt: skip
    for m in models.list_models():
        assert m.description and len(m.input_size) == 3 and m.num_classes > 1
        assert m.task in ("classification", "segmentation")


def test_get_builds_a_fresh_module_each_call():
    a, b = models.get("e1"), models.get("e1")
    assert isinstance(a, Module) and a is not b


def test_names_are_forgiving_about_case_and_underscores():
    assert type(models.get("Three_Layer")) is models.ThreeLayerCNN
    assert models.info("small_cnn") is models.info("Small-CNN")
    assert type(models.get("SMALL_FCN")) is models.SmallFCN


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'vgg17'.*e1.*three-layer.*vgg16"):
        models.get("vgg17")


def test_options_override_preset_defaults():
    m = models.get("unit-block-mnist", num_classes=5)
    assert m.classifier[-1].out_features == 5
    assert models.info("unit-block-cifar10").defaults["blocks"] == 4


def test_unknown_option_names_the_valid_options():
    with pytest.raises(TypeError, match="unknown option.*'filter'.*valid options:.*filters"):
        models.get("three-layer", filter=(1, 2, 3))


def test_register_a_custom_builder():
    from minitorch_cv.layers import Linear

    @models.register("tiny-test-mlp", "a test MLP", input_size=(1, 1, 4), num_classes=2)
    def tiny(hidden: int = 3):
        return Linear(4, hidden)

    try:
        assert models.get("tiny-test-mlp", hidden=7).out_features == 7
        assert models.info("tiny-test-mlp").num_parameters() == 4 * 3 + 3
    finally:
        from minitorch_cv.models._registry import _REGISTRY

        _REGISTRY.pop("tiny-test-mlp")


def test_registering_a_different_model_under_a_taken_name_fails():
    with pytest.raises(ValueError, match="already registered"):
        models.register("e1", "x", input_size=(3, 32, 32), num_classes=10)(lambda: None)


def test_bad_sizes_fail_at_construction_with_the_reason():
    with pytest.raises(ValueError, match="too small"):
        models.get("unit-block-cifar10", image_size=8)
    with pytest.raises(ValueError, match="3 entries"):
        models.get("three-layer", filters=(8, 8))
    with pytest.raises(ValueError, match="activation must be"):
        models.get("three-layer", activation="gelu")


@pytest.mark.parametrize(
    "name,shape,out_shape",
    [
        ("small-cnn", (2, 1, 20, 12), (2, 10)),  # global max pool: any size of 8 x 8 or more
        ("mlp", (2, 3, 32, 32), (2, 10)),
        ("small-fcn", (2, 3, 16, 24), (2, 10, 16, 24)),  # H and W multiples of 8
    ],
)
def test_simple_models_forward_and_backward(name, shape, out_shape):
    mt.manual_seed(0)
    model = models.get(name, in_channels=shape[1], image_size=shape[2])
    x = mt.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    out = model(x)
    assert out.shape == out_shape
    (out * out).mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), n
    assert models.info(name).task == ("segmentation" if len(out_shape) == 4 else "classification")


def test_simple_models_refuse_sizes_they_cannot_take():
    with pytest.raises(ValueError, match="small-cnn: image_size 4 is too small"):
        models.get("small-cnn", image_size=4)
    with pytest.raises(ValueError, match="small-fcn: image_size 20 must be a multiple of 8"):
        models.get("small-fcn", image_size=20)
