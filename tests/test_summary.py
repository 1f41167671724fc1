"""summary(): the torchsummary table, rows and totals derived by hand for F default and E1.

torchsummary's definitions (4 bytes per number, batch -1 -> sizes per sample):
    input MB = numel(input) * 4 / 2**20
    forward/backward MB = 2 * sum(numel(row output)) * 4 / 2**20
    params MB = params * 4 / 2**20, total MB = the sum of the three
"""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import models
from minitorch_cv.summary import summary

MB = 1024**2

# (name, output shape, params) of every leaf-layer call of F default on 3x32x32
F_ROWS = [
    ("Conv2d-1", [-1, 24, 28, 28], 3 * 5 * 5 * 24 + 24),  # 32 - 5 + 1 = 28
    ("ReLU-2", [-1, 24, 28, 28], 0),
    ("MaxPool2d-3", [-1, 24, 14, 14], 0),
    ("Conv2d-4", [-1, 48, 12, 12], 24 * 3 * 3 * 48 + 48),  # 14 - 3 + 1 = 12
    ("ReLU-5", [-1, 48, 12, 12], 0),
    ("MaxPool2d-6", [-1, 48, 6, 6], 0),
    ("Conv2d-7", [-1, 96, 4, 4], 48 * 3 * 3 * 96 + 96),  # 6 - 3 + 1 = 4
    ("MaxPool2d-8", [-1, 96, 2, 2], 0),
    ("Flatten-9", [-1, 384], 0),
    ("Linear-10", [-1, 512], 384 * 512 + 512),
    ("ReLU-11", [-1, 512], 0),
    ("Linear-12", [-1, 10], 512 * 10 + 10),
]
# F: outputs 2*18,816 + 4,704 + 2*6,912 + 1,728 + 1,536 + 384 + 384 + 2*512 + 10 = 61,226 numbers
F_OUTPUTS = 61_226
F_PARAMS = 256_058

E1_ROWS = [
    ("Conv2d-1", [-1, 32, 32, 32], 3 * 25 * 32 + 32),  # conv5 p2 keeps 32x32
    ("ReLU-2", [-1, 32, 32, 32], 0),
    ("MaxPool2d-3", [-1, 32, 16, 16], 0),
    ("Conv2d-4", [-1, 64, 16, 16], 32 * 25 * 64 + 64),
    ("ReLU-5", [-1, 64, 16, 16], 0),
    ("MaxPool2d-6", [-1, 64, 8, 8], 0),
    ("Conv2d-7", [-1, 128, 8, 8], 64 * 25 * 128 + 128),
    ("ReLU-8", [-1, 128, 8, 8], 0),
    ("MaxPool2d-9", [-1, 128, 4, 4], 0),
    ("Flatten-10", [-1, 2048], 0),
    ("Linear-11", [-1, 64], 2048 * 64 + 64),
    ("ReLU-12", [-1, 64], 0),
    ("Linear-13", [-1, 10], 64 * 10 + 10),
]
# E1: 2*32,768 + 8,192 + 2*16,384 + 4,096 + 2*8,192 + 2,048 + 2,048 + 2*64 + 10 = 131,210
E1_OUTPUTS = 131_210
E1_PARAMS = 390_410


def check_rows(s, rows):
    assert [(r.name, r.output_shape, r.num_params) for r in s.rows] == rows


def test_three_layer_default_rows_and_totals():
    s = summary(models.get("three-layer"), (3, 32, 32))
    check_rows(s, F_ROWS)
    assert sum(np.prod(shape[1:]) for _, shape, _ in F_ROWS) == F_OUTPUTS
    assert s.total_params == F_PARAMS == sum(p for *_, p in F_ROWS)
    assert s.trainable_params == F_PARAMS and s.non_trainable_params == 0
    assert s.input_size_mb == pytest.approx(3 * 32 * 32 * 4 / MB)  # 0.01171875
    assert s.forward_backward_mb == pytest.approx(2 * F_OUTPUTS * 4 / MB)  # 0.46711
    assert s.params_mb == pytest.approx(F_PARAMS * 4 / MB)  # 0.97678
    assert s.total_mb == pytest.approx((3072 + 2 * F_OUTPUTS + F_PARAMS) * 4 / MB)  # 1.45561


def test_three_layer_default_table_text_is_torchsummarys():
    text = str(summary(models.get("three-layer"), (3, 32, 32)))
    lines = text.splitlines()
    assert lines[0] == "-" * 64
    assert lines[1] == "        Layer (type)               Output Shape         Param #"
    assert lines[2] == "=" * 64
    assert lines[3] == "            Conv2d-1           [-1, 24, 28, 28]           1,824"
    assert lines[12] == "           Linear-10                  [-1, 512]         197,120"
    for line in (
        "Total params: 256,058",
        "Trainable params: 256,058",
        "Non-trainable params: 0",
        "Input size (MB): 0.01",
        "Forward/backward pass size (MB): 0.47",
        "Params size (MB): 0.98",
        "Estimated Total Size (MB): 1.46",
    ):
        assert line in lines


def test_e1_rows_and_totals():
    s = summary(models.get("e1"), (3, 32, 32))
    check_rows(s, E1_ROWS)
    assert sum(np.prod(shape[1:]) for _, shape, _ in E1_ROWS) == E1_OUTPUTS
    assert s.total_params == E1_PARAMS
    text = str(s)
    assert "Forward/backward pass size (MB): 1.00" in text  # 2 * 131,210 * 4 / 2**20 = 1.0011
    assert "Params size (MB): 1.49" in text  # 390,410 * 4 / 2**20 = 1.4893
    assert "Estimated Total Size (MB): 2.50" in text  # 0.0117 + 1.0011 + 1.4893 = 2.5021
    d = s.to_dict()
    assert d["total_params"] == E1_PARAMS and len(d["layers"]) == 13
    assert d["layers"][0]["path"] == "features.0" and d["layers"][0]["type"] == "Conv2d"
    assert d["forward_backward_mb"] == pytest.approx(2 * E1_OUTPUTS * 4 / MB)


def test_parameters_no_row_holds_are_counted_and_named():
    """A ViT keeps its class token, position embedding and attention in-projections in modules
    that get no row; torchsummary would leave them out of the totals, the totals here count
    every parameter once and the table names the ones outside the rows."""
    vit = models.VisionTransformer(8, 4, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16,
                                   num_classes=3)  # fmt: skip
    s = summary(vit, (3, 8, 8))
    assert s.total_params == sum(p.numel() for p in vit.parameters()) == 1683
    in_rows = sum(r.num_params for r in s.rows)
    assert in_rows + sum(s.outside_rows.values()) == s.total_params
    assert list(s.outside_rows)[:2] == ["class_token", "encoder.pos_embedding"]
    assert s.outside_rows["encoder.layers.encoder_layer_1.self_attention.in_proj_weight"] == 192
    assert "Params in no row above: 480 (class_token, encoder.pos_embedding, " in str(s)
    cnn = summary(models.get("three-layer"), (3, 32, 32))  # everything in a row: torchsummary's
    assert cnn.outside_rows == {} and "no row" not in str(cnn)


def test_batch_size_scales_shapes_and_sizes():
    s = summary(models.get("e1"), (3, 32, 32), batch_size=16)
    assert s.rows[0].output_shape == [16, 32, 32, 32]
    assert s.input_size_mb == pytest.approx(16 * 3072 * 4 / MB)
    assert s.forward_backward_mb == pytest.approx(16 * 2 * E1_OUTPUTS * 4 / MB)
    assert s.params_mb == pytest.approx(E1_PARAMS * 4 / MB)  # parameters do not scale


def test_frozen_layers_are_non_trainable():
    m = models.get("e1")
    models.freeze(m, "features")
    s = summary(m, (3, 32, 32))
    frozen = (3 * 25 + 1) * 32 + (32 * 25 + 1) * 64 + (64 * 25 + 1) * 128
    assert s.non_trainable_params == frozen
    assert s.trainable_params == E1_PARAMS - frozen
    assert s.rows[0].trainable_params == 0 and s.rows[-1].trainable_params == 650


def test_a_layer_called_twice_gets_two_rows_and_its_weights_count_once():
    from minitorch_cv.layers import Linear, Module, ReLU

    class Twice(Module):
        def __init__(self):
            super().__init__()
            self.fc = Linear(4, 4)
            self.act = ReLU()

        def forward(self, x):
            return self.act(self.fc(self.act(self.fc(x))))

    s = summary(Twice(), (4,))
    assert [r.name for r in s.rows] == ["Linear-1", "ReLU-2", "Linear-3", "ReLU-4"]
    assert s.rows[2].num_params == 20 and s.total_params == 20


def test_resnet18_torchsummary_rows_match_its_published_table():
    # torchsummary(resnet18, (3, 224, 224)): 11,689,512 params, input 0.57, forward/backward
    # 62.79, params 44.59, total 107.96 MB. Its rows include each BasicBlock (leaf_only=False).
    # Outputs by hand: stem 3 x 64*112*112 + 64*56*56; per block 7 rows (9 with a downsample)
    # of its output size, BasicBlock row included; avgpool 512; fc 1000.
    stem = 3 * 64 * 112 * 112 + 64 * 56 * 56
    blocks = 14 * 64 * 56 * 56 + 16 * 128 * 28 * 28 + 16 * 256 * 14 * 14 + 16 * 512 * 7 * 7
    outputs = stem + blocks + 512 + 1000
    s = summary(models.resnet18(), (3, 224, 224), leaf_only=False)
    assert len(s.rows) == 4 + 14 + 3 * 16 + 2
    assert sum(np.prod(r.output_shape[1:]) for r in s.rows) == outputs
    assert s.rows[10].name == "BasicBlock-11" and s.rows[-1].name == "Linear-68"
    text = str(s)
    for line in (
        "Total params: 11,689,512",
        "Input size (MB): 0.57",
        "Forward/backward pass size (MB): 62.79",
        "Params size (MB): 44.59",
        "Estimated Total Size (MB): 107.96",
    ):
        assert line in text
    leaf = summary(models.resnet18(), (3, 224, 224))
    assert len(leaf.rows) == 68 - 8 and "BasicBlock" not in str(leaf)


def test_summary_leaves_the_model_as_it_was():
    m = models.get("e2")
    m.train()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    mt.manual_seed(5)
    summary(m, (3, 32, 32))
    after_summary = mt.rand(3).numpy()
    assert m.training and all(x.training for x in m.modules())
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])  # BN running stats untouched
    mt.manual_seed(5)
    np.testing.assert_array_equal(after_summary, mt.rand(3).numpy())  # package RNG untouched
    m.eval()
    summary(m, (3, 32, 32))
    assert not m.training
    assert all(not h for x in m.modules() for h in (x._forward_hooks, x._forward_pre_hooks))


@pytest.mark.parametrize(
    "name,size,match",
    [
        # 16 -conv5-> 12 -pool-> 6 -conv3-> 4 -pool-> 2: the third conv (k3) cannot fit
        (
            "three-layer",
            (3, 16, 16),
            r"Conv2d-7 'features.6' failed on input of shape \(2, 48, 2, 2\)",
        ),
        ("e1", (1, 32, 32), r"Conv2d-1 'features.0' failed on input of shape \(2, 1, 32, 32\)"),
        # 28 -> 14 -> 7 -> 3: 128 * 3 * 3 = 1152 features reach Linear(2048, 64)
        ("e1", (3, 28, 28), r"Linear-11 'classifier.1' failed on input of shape \(2, 1152\)"),
    ],
)
def test_an_input_size_the_network_cannot_take_names_the_failing_layer(name, size, match):
    m = models.get(name)
    with pytest.raises(ValueError, match=match):
        summary(m, size)
    assert all(not x._forward_hooks for x in m.modules())  # hooks removed after the failure


def test_bad_arguments():
    with pytest.raises(ValueError, match="input_size"):
        summary(models.get("e1"), (3, 0, 32))
    with pytest.raises(TypeError, match="expected a Module"):
        summary(lambda x: x, (3, 32, 32))


def test_rows_match_torch_layer_by_layer():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    ref = nn.Sequential(
        nn.Conv2d(3, 24, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(24, 48, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(48, 96, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(384, 512),
        nn.ReLU(), nn.Linear(512, 10),
    )  # fmt: skip
    rows = []
    for i, layer in enumerate(ref, 1):
        layer.register_forward_hook(
            lambda m, a, out, i=i: rows.append(
                (
                    f"{type(m).__name__}-{i}",
                    [-1, *out.shape[1:]],
                    sum(p.numel() for p in m.parameters()),
                )
            )
        )
    ref(torch.zeros(2, 3, 32, 32))
    assert rows == F_ROWS


def test_several_inputs_add_their_sizes():
    from minitorch_cv.layers import Linear, Module

    class TwoInputs(Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = Linear(3, 4), Linear(5, 4)

        def forward(self, x, y):
            return self.a(x) + self.b(y)

    s = summary(TwoInputs(), [(3,), (5,)])
    assert [r.name for r in s.rows] == ["Linear-1", "Linear-2"]
    assert s.total_params == (3 * 4 + 4) + (5 * 4 + 4)
    assert s.input_size_mb == pytest.approx((3 + 5) * 4 / MB)


def test_a_model_returning_a_dict_shows_its_entries():
    """torchvision's segmentation models return OrderedDict(out=..., aux=...): their
    IntermediateLayerGetter row shows {key: shape} (it showed []), and the table adds the
    model's own outputs, upsampled to the input by no layer, in a "Model output" line."""
    from collections import OrderedDict

    from minitorch_cv.layers import Conv2d, Sequential
    from minitorch_cv.models.segmentation import FCN, FCNHead, IntermediateLayerGetter

    mt.manual_seed(0)
    trunk = Sequential(OrderedDict(a=Conv2d(2, 4, 3, stride=2, padding=1),
                                   b=Conv2d(4, 8, 3, stride=2, padding=1)))  # fmt: skip
    model = FCN(IntermediateLayerGetter(trunk, {"b": "out", "a": "aux"}), FCNHead(8, 3),
                FCNHead(4, 3))  # fmt: skip
    s = summary(model, (2, 16, 12), leaf_only=False)
    getter = [r for r in s.rows if r.type == "IntermediateLayerGetter"]
    assert getter[0].output_shape == {"aux": [-1, 4, 8, 6], "out": [-1, 8, 4, 3]}
    assert s.output_shape == {"out": [-1, 3, 16, 12], "aux": [-1, 3, 16, 12]}
    assert "Model output: out [-1, 3, 16, 12], aux [-1, 3, 16, 12]" in str(s)
    # the getter's row adds its two outputs to the pass size, as a tuple output would
    outputs = sum(np.prod(r.output_shape[1:]) for r in s.rows if r is not getter[0])
    outputs += 4 * 8 * 6 + 8 * 4 * 3
    assert s.forward_backward_mb == pytest.approx(2 * outputs * 4 / MB)
    leaf = summary(model, (2, 16, 12), batch_size=5)
    assert "IntermediateLayerGetter" not in str(leaf)
    assert leaf.to_dict()["output_shape"] == {"out": [5, 3, 16, 12], "aux": [5, 3, 16, 12]}
    plain = summary(models.get("e1"), (3, 32, 32))  # a Tensor output: no extra line
    assert plain.output_shape == [-1, 10] and "Model output" not in str(plain)
