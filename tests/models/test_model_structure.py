"""Each seed model applies its layers in the order SEED_MODELS.md writes them.

Parameter counts (test_model_params.py) cannot see order: ReLU before or after BN, pooling
before or after BN, give the same count and different networks. The layer calls recorded by
`summary` can, so the expected sequences below are transcribed from SEED_MODELS.md.
"""

from __future__ import annotations

import pytest

import minitorch_cv as mt
from minitorch_cv import models
from minitorch_cv.recipes import get_recipe

CBR = ["Conv2d", "BatchNorm2d", "ReLU"]
CRB = ["Conv2d", "ReLU", "BatchNorm2d"]

F_DEFAULT = [
    "Conv2d", "ReLU", "MaxPool2d",
    "Conv2d", "ReLU", "MaxPool2d",
    "Conv2d", "MaxPool2d",  # the third conv has no activation
    "Flatten", "Linear", "ReLU", "Linear",
]  # fmt: skip
# wider, LeakyReLU, dropout between the FC layers, BN after each activation
F_BEST = [
    "Conv2d", "LeakyReLU", "BatchNorm2d", "MaxPool2d",
    "Conv2d", "LeakyReLU", "BatchNorm2d", "MaxPool2d",
    "Conv2d", "MaxPool2d",
    "Flatten", "Linear", "LeakyReLU", "BatchNorm1d", "Dropout", "Linear",
]  # fmt: skip
E1 = ["Conv2d", "ReLU", "MaxPool2d"] * 3 + ["Flatten", "Linear", "ReLU", "Linear"]
E2 = [
    "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "BatchNorm2d",
    "Conv2d", "ReLU", "MaxPool2d", "BatchNorm2d",
    "Flatten", "Linear", "ReLU", "Linear",
]  # fmt: skip
# conv3 + BN + ReLU, two more in the residual branch, one after; pool2; head 588-...-18 -> 10
A_MNIST = CBR * 4 + ["MaxPool2d", "Flatten"] + ["Linear", "BatchNorm1d", "ReLU"] * 5 + ["Linear"]
FCN_BASELINE = CRB * 5 + ["ConvTranspose2d", "ReLU", "BatchNorm2d"] * 5 + ["Conv2d"]
B_ENCODER = (CBR * 2 + ["MaxPool2d"]) * 4
B_DECODER_BLOCK = CBR + ["ConvTranspose2d", "BatchNorm2d", "ReLU"] + CBR


def layer_types(model, input_size):
    return [row.type for row in mt.summary(model, input_size).rows]


@pytest.mark.parametrize(
    "name, options, input_size, expected",
    [
        ("three-layer", {}, (3, 32, 32), F_DEFAULT),
        ("three-layer", get_recipe("f-batch-norm").model_options, (3, 32, 32), F_BEST),
        ("e1", {}, (3, 32, 32), E1),
        ("e2", {}, (3, 32, 32), E2),
        ("e2-extra-conv", {}, (3, 32, 32), E2[:8] + ["Conv2d", "ReLU"] + E2[8:]),
        ("unit-block-mnist", {}, (1, 28, 28), A_MNIST),
        ("fcn-baseline", {}, (3, 32, 32), FCN_BASELINE),
    ],
    ids=["F-default", "F-batch-norm", "E1", "E2", "E2-extra-conv", "A-MNIST", "D-baseline"],
)
def test_layers_run_in_the_order_of_the_seed_recipe(name, options, input_size, expected):
    assert layer_types(models.get(name, **options), input_size) == expected


def test_two_decoder_runs_encoder_then_both_decoders_block_by_block():
    got = layer_types(models.get("two-decoder"), (3, 32, 32))
    # the two decoder paths of equal shape run block by block; both are the same sequence
    assert got == B_ENCODER + B_DECODER_BLOCK * 8


def test_f_best_keeps_the_wider_filters_and_the_flattened_width():
    rows = mt.summary(
        models.get("three-layer", **get_recipe("f-batch-norm").model_options), (3, 32, 32)
    ).rows
    convs = [r.output_shape[1] for r in rows if r.type == "Conv2d"]
    flat = next(r.output_shape[1:] for r in rows if r.type == "Flatten")
    assert convs == [64, 128, 256] and flat == [256 * 2 * 2]
