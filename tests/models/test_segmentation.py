"""torchvision's FCN and DeepLabV3 (ResNet-50 / 101): parameter counts, state_dict keys, output
stride 8, the heads against torch, gradients, the batch-1 pooling rule and the errors."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import models
from minitorch_cv.init import skip_init
from minitorch_cv.layers import BatchNorm2d, Conv2d, Sequential
from minitorch_cv.models.segmentation import (
    ASPP,
    FCN,
    ASPPConv,
    ASPPPooling,
    DeepLabHead,
    DeepLabV3,
    FCNHead,
    IntermediateLayerGetter,
)
from tests.strategies_core import OURS, SETTINGS, check_grad, check_parity

BUILDERS = {
    "fcn_resnet50": models.fcn_resnet50,
    "fcn_resnet101": models.fcn_resnet101,
    "deeplabv3_resnet50": models.deeplabv3_resnet50,
    "deeplabv3_resnet101": models.deeplabv3_resnet101,
}

# torchvision's "num_params" of the COCO_WITH_VOC_LABELS_V1 weights (aux_classifier included):
# the meta of FCN_ResNet50_Weights / FCN_ResNet101_Weights in torchvision/models/segmentation/fcn.py
# and DeepLabV3_ResNet50_Weights / DeepLabV3_ResNet101_Weights in .../segmentation/deeplabv3.py,
# shown on pytorch.org/vision/stable/models/generated/torchvision.models.segmentation.*.html
DOCUMENTED = {
    "fcn_resnet50": 35_322_218,
    "fcn_resnet101": 54_314_346,
    "deeplabv3_resnet50": 42_004_074,
    "deeplabv3_resnet101": 60_996_202,
}
BLOCKS = {"50": (3, 4, 6, 3), "101": (3, 4, 23, 3)}


def build(name, **options):
    with skip_init():  # counts and keys only: no random draws for 60M weights
        return BUILDERS[name](**options)


def rand(shape, seed=0, dtype=np.float32):
    return mt.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


# --------------------------------------------------------------------------- counts by hand


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def bn(c):
    return 2 * c  # weight + bias (running statistics are buffers)


def dilated_resnet_by_hand(blocks):
    """conv1 + bn1, then Bottlenecks (1x1, 3x3, 1x1 with 4x expansion; a projection on every
    stage's first block); no fc. Dilation changes no shape."""
    total, cin = conv(3, 64, 7, bias=False) + bn(64), 64
    for planes, n in zip((64, 128, 256, 512), blocks):
        for i in range(n):
            total += conv(cin, planes, 1, False) + bn(planes) + conv(planes, planes, 3, False)
            total += bn(planes) + conv(planes, 4 * planes, 1, False) + bn(4 * planes)
            if i == 0:
                total += conv(cin, 4 * planes, 1, False) + bn(4 * planes)
            cin = 4 * planes
    return total


def fcn_head_by_hand(cin, k):
    return conv(cin, cin // 4, 3, bias=False) + bn(cin // 4) + conv(cin // 4, k, 1)


def deeplab_head_by_hand(cin, k, rates=3):
    branch1x1 = conv(cin, 256, 1, bias=False) + bn(256)
    aspp = 2 * branch1x1 + rates * (conv(cin, 256, 3, bias=False) + bn(256))  # + pooling branch
    aspp += conv((rates + 2) * 256, 256, 1, bias=False) + bn(256)  # project
    return aspp + conv(256, 256, 3, bias=False) + bn(256) + conv(256, k, 1)


def test_backbone_count_is_resnet_minus_its_fc():
    # torchvision's ResNet50 / 101 model cards: 25,557,032 and 44,549,160, fc Linear(2048, 1000)
    fc = 2048 * 1000 + 1000
    assert dilated_resnet_by_hand(BLOCKS["50"]) == 25_557_032 - fc
    assert dilated_resnet_by_hand(BLOCKS["101"]) == 44_549_160 - fc
    assert build("fcn_resnet50").backbone.num_parameters() == 25_557_032 - fc


@pytest.mark.parametrize("name", DOCUMENTED)
def test_parameter_counts_equal_torchvisions_and_the_hand_count(name):
    depth, deeplab = name.rsplit("resnet", 1)[1], name.startswith("deeplab")
    head = deeplab_head_by_hand if deeplab else fcn_head_by_hand

    def by_hand(k, aux):
        return (dilated_resnet_by_hand(BLOCKS[depth]) + head(2048, k)
                + (fcn_head_by_hand(1024, k) if aux else 0))  # fmt: skip

    assert by_hand(21, True) == DOCUMENTED[name]
    m = build(name, aux_loss=True)
    assert m.num_parameters() == DOCUMENTED[name]
    assert m.classifier.num_parameters() == head(2048, 21)
    assert m.aux_classifier.num_parameters() == fcn_head_by_hand(1024, 21) == 2_365_205
    assert build(name).num_parameters() == by_hand(21, False)  # aux_loss=None: no aux head
    assert build(name, num_classes=5).num_parameters() == by_hand(5, False)
    info = models.info(name.replace("_", "-"))
    assert info.num_parameters(aux_loss=True) == DOCUMENTED[name]
    assert (info.task, info.num_classes, info.input_size) == ("segmentation", 21, (3, 520, 520))


# --------------------------------------------------------------------------- torchvision's keys


def bn_keys(p):
    return [p + s for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]


def torchvision_keys(name, aux):
    """The key order of torchvision's `<name>(aux_loss=aux).state_dict()`, from its modules:
    backbone (IntermediateLayerGetter over the ResNet: no fc), classifier, aux_classifier."""
    keys = ["backbone.conv1.weight", *bn_keys("backbone.bn1.")]
    for stage, n in enumerate(BLOCKS[name.rsplit("resnet", 1)[1]], 1):
        for block in range(n):
            p = f"backbone.layer{stage}.{block}."
            for i in (1, 2, 3):
                keys += [f"{p}conv{i}.weight", *bn_keys(f"{p}bn{i}.")]
            if block == 0:
                keys += [p + "downsample.0.weight", *bn_keys(p + "downsample.1.")]

    def fcn_head(p):
        return [p + "0.weight", *bn_keys(p + "1."), p + "4.weight", p + "4.bias"]

    if name.startswith("fcn"):
        keys += fcn_head("classifier.")
    else:
        aspp = "classifier.0."
        for i in range(4):  # the 1x1 branch and the three ASPPConvs: conv .0, BN .1
            keys += [f"{aspp}convs.{i}.0.weight", *bn_keys(f"{aspp}convs.{i}.1.")]
        keys += [f"{aspp}convs.4.1.weight", *bn_keys(f"{aspp}convs.4.2.")]  # ASPPPooling
        keys += [f"{aspp}project.0.weight", *bn_keys(f"{aspp}project.1.")]
        keys += ["classifier.1.weight", *bn_keys("classifier.2."), "classifier.4.weight"]
        keys += ["classifier.4.bias"]
    return keys + (fcn_head("aux_classifier.") if aux else [])


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet101"])
@pytest.mark.parametrize("aux", [False, True])
def test_state_dict_keys_are_torchvisions(name, aux):
    assert list(build(name, aux_loss=aux).state_dict()) == torchvision_keys(name, aux)


def test_key_shapes_and_module_types():
    sd = build("deeplabv3_resnet50", aux_loss=True).state_dict()
    assert sd["classifier.0.convs.0.0.weight"].shape == (256, 2048, 1, 1)
    assert sd["classifier.0.convs.3.0.weight"].shape == (256, 2048, 3, 3)
    assert sd["classifier.0.convs.4.1.weight"].shape == (256, 2048, 1, 1)
    assert sd["classifier.0.project.0.weight"].shape == (256, 1280, 1, 1)
    assert sd["classifier.4.weight"].shape == (21, 256, 1, 1)
    assert sd["aux_classifier.0.weight"].shape == (256, 1024, 3, 3)
    assert sd["aux_classifier.4.bias"].shape == (21,)
    m = build("deeplabv3_resnet50")
    assert type(m) is DeepLabV3 and m.aux_classifier is None
    assert isinstance(m.backbone, IntermediateLayerGetter)
    assert list(m.backbone.keys())[-2:] == ["layer3", "layer4"]  # avgpool and fc dropped
    aspp = m.classifier[0]
    assert [type(c).__name__ for c in aspp.convs] == [
        "Sequential", "ASPPConv", "ASPPConv", "ASPPConv", "ASPPPooling"
    ]  # fmt: skip
    assert [c[0].dilation for c in aspp.convs[1:4]] == [(12, 12), (24, 24), (36, 36)]
    assert [c[0].padding for c in aspp.convs[1:4]] == [(12, 12), (24, 24), (36, 36)]
    assert aspp.project[3].p == 0.5 and build("fcn_resnet50").classifier[3].p == 0.1
    assert type(build("fcn_resnet101")) is FCN
    assert repr(FCNHead(8, 2)).startswith("FCNHead(\n  (0): Conv2d(8, 2, kernel_size=(3, 3)")


# --------------------------------------------------------------------------- forward, backward


def test_output_stride_is_8_and_outputs_are_upsampled_to_the_input():
    mt.manual_seed(0)
    m = models.fcn_resnet50(aux_loss=True).eval()
    seen = {}
    m.classifier.register_forward_pre_hook(lambda mod, a: seen.__setitem__("out", a[0].shape))
    m.aux_classifier.register_forward_pre_hook(lambda mod, a: seen.__setitem__("aux", a[0].shape))
    with mt.no_grad():
        out = m(rand((1, 3, 50, 70)))
    assert list(out) == ["out", "aux"] and isinstance(out, OrderedDict)
    # 50 -> 25 (conv1) -> 13 (maxpool) -> 7 (layer2); layer3 / layer4 keep 7 (dilated)
    assert seen == {"out": (1, 2048, 7, 9), "aux": (1, 1024, 7, 9)}
    assert out["out"].shape == out["aux"].shape == (1, 21, 50, 70)
    l4 = m.backbone.layer4
    assert (l4[0].conv2.stride, l4[0].conv2.dilation, l4[1].conv2.dilation) == ((1, 1), (2, 2),
                                                                                (4, 4))  # fmt: skip
    with mt.no_grad():
        assert m.backbone(mt.zeros(1, 3, 64, 64))["out"].shape == (1, 2048, 8, 8)


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet50"])
def test_one_training_step_reaches_every_parameter(name):
    mt.manual_seed(0)
    m = BUILDERS[name](aux_loss=True)
    x = rand((2, 3, 32, 32))
    target = mt.tensor(np.random.default_rng(1).integers(0, 21, (2, 32, 32)))
    out = m(x)
    assert {k: v.shape for k, v in out.items()} == {"out": (2, 21, 32, 32), "aux": (2, 21, 32, 32)}
    # torchvision's reference criterion: out loss + 0.5 * aux loss
    loss = mt.nn.CrossEntropyLoss()(out["out"], target)
    (loss + 0.5 * mt.nn.CrossEntropyLoss()(out["aux"], target)).backward()
    for n, p in m.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), n
    assert np.abs(m.backbone.conv1.weight.grad.numpy()).sum() > 0
    assert m.backbone.bn1.num_batches_tracked.numpy() == 1


def test_forward_matches_torch_heads_on_our_backbone_features():
    torch = pytest.importorskip("torch")
    mt.manual_seed(0)
    m = models.deeplabv3_resnet50(num_classes=3, aux_loss=True).eval()
    randomize_bn_statistics(m, 5)
    x = rand((2, 3, 40, 24))
    with mt.no_grad():
        got = m(x)
        feats = m.backbone(x)
    heads = {"out": (m.classifier, torch_heads(torch)["DeepLabHead"](2048, 3)),
             "aux": (m.aux_classifier, torch_heads(torch)["FCNHead"](1024, 3))}  # fmt: skip
    for key, (ours, theirs) in heads.items():
        theirs.load_state_dict(to_torch(torch, ours))
        with torch.no_grad():
            y = theirs.eval()(torch.from_numpy(feats[key].numpy()))
            want = torch.nn.functional.interpolate(
                y, size=(40, 24), mode="bilinear", align_corners=False
            )
        np.testing.assert_allclose(got[key].numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- the heads vs torch


def torch_heads(torch):
    """torchvision's FCNHead, ASPPConv, ASPPPooling, ASPP and DeepLabHead, written out in torch.nn
    from their documented structure, as the oracle."""
    nn = torch.nn

    def cbr(cin, cout, k, dilation=1):
        pad = dilation if k == 3 else 0
        return [nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU()]  # fmt: skip

    class TFCNHead(nn.Sequential):
        def __init__(self, cin, k):
            super().__init__(*cbr(cin, cin // 4, 3), nn.Dropout(0.1), nn.Conv2d(cin // 4, k, 1))

    class TPooling(nn.Sequential):
        def __init__(self, cin, cout):
            super().__init__(nn.AdaptiveAvgPool2d(1), *cbr(cin, cout, 1))

        def forward(self, x):
            y = super().forward(x)
            return nn.functional.interpolate(y, x.shape[-2:], mode="bilinear", align_corners=False)

    class TASPP(nn.Module):
        def __init__(self, cin, rates, cout=256):
            super().__init__()
            branches = [nn.Sequential(*cbr(cin, cout, 1))]
            branches += [nn.Sequential(*cbr(cin, cout, 3, r)) for r in rates]
            self.convs = nn.ModuleList([*branches, TPooling(cin, cout)])
            self.project = nn.Sequential(*cbr(len(self.convs) * cout, cout, 1), nn.Dropout(0.5))

        def forward(self, x):
            return self.project(torch.cat([c(x) for c in self.convs], 1))

    class TDeepLabHead(nn.Sequential):
        def __init__(self, cin, k, rates=(12, 24, 36)):
            super().__init__(TASPP(cin, rates), *cbr(256, 256, 3), nn.Conv2d(256, k, 1))

    return {"FCNHead": TFCNHead, "ASPP": TASPP, "DeepLabHead": TDeepLabHead}


def randomize_bn_statistics(module, seed):
    """Random running statistics and affine parameters, so that eval-mode BN is not a no-op."""
    rng = np.random.default_rng(seed)
    for m in module.modules():
        if isinstance(m, BatchNorm2d):
            m.running_mean.data[...] = rng.normal(0, 0.2, m.running_mean.shape)
            m.running_var.data[...] = rng.uniform(0.5, 2, m.running_var.shape)
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.weight.shape)
            m.bias.data[...] = rng.normal(0, 0.2, m.bias.shape)


def to_torch(torch, module):
    return {k: torch.from_numpy(np.array(v.numpy())) for k, v in module.state_dict().items()}


@pytest.mark.parametrize(
    "kind,args,shape",
    [
        ("FCNHead", (16, 3), (2, 16, 5, 6)),
        ("ASPP", (6, (1, 2, 3), 4), (2, 6, 5, 7)),
        ("DeepLabHead", (8, 3, (1, 2)), (1, 8, 4, 3)),
    ],
)
def test_heads_match_torch_in_float64(kind, args, shape):
    torch = pytest.importorskip("torch")
    mt.manual_seed(1)
    ours = {"FCNHead": FCNHead, "ASPP": ASPP, "DeepLabHead": DeepLabHead}[kind](*args)
    ours = ours.double().eval()
    randomize_bn_statistics(ours, 2)
    theirs = torch_heads(torch)[kind](*args).double().eval()
    theirs.load_state_dict(to_torch(torch, ours))  # also proves the same module names

    def fn(lib, x):
        return (ours if lib is OURS else theirs)(x)

    check_parity(torch, fn, [np.random.default_rng(3).standard_normal(shape)])


# --------------------------------------------------------------------------- gradients


def tiny_segmenter(kind, aux):
    """An FCN / DeepLabV3 on a two-conv backbone: the model wrapper, IntermediateLayerGetter and
    the upsampling at a size where a float64 gradcheck is cheap."""
    trunk = Sequential(OrderedDict(a=Conv2d(2, 4, 3, stride=2, padding=1),
                                   b=Conv2d(4, 8, 3, stride=2, padding=1)))  # fmt: skip
    backbone = IntermediateLayerGetter(trunk, {"b": "out", **({"a": "aux"} if aux else {})})
    head = FCNHead(8, 3) if kind == "fcn" else DeepLabHead(8, 3, (1, 2))
    model_cls = FCN if kind == "fcn" else DeepLabV3
    return model_cls(backbone, head, FCNHead(4, 3) if aux else None)


@SETTINGS
@given(
    kind=st.sampled_from(["fcn", "deeplab"]),
    aux=st.booleans(),
    train=st.booleans(),
    h=st.integers(3, 7),
    w=st.integers(3, 7),
    seed=st.integers(0, 2**16),
)
def test_segmentation_model_gradcheck_float64(kind, aux, train, h, w, seed):
    mt.manual_seed(seed)
    model = tiny_segmenter(kind, aux).double().train(train)
    if not train:
        randomize_bn_statistics(model, seed)

    def fn(lib, x):
        mt.manual_seed(seed)  # the same dropout masks at every evaluation
        return tuple(model(x).values())

    # continuous inputs: no ReLU input lands exactly on its kink after batch normalisation
    check_grad(fn, [np.random.default_rng(seed).standard_normal((2, 2, h, w))])


@SETTINGS
@given(
    cin=st.integers(1, 3),
    cout=st.integers(1, 3),
    rates=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    n=st.integers(2, 3),
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    train=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_aspp_gradcheck_float64(cin, cout, rates, n, h, w, train, seed):
    mt.manual_seed(seed)
    aspp = ASPP(cin, rates, cout).double().train(train)
    if not train:
        randomize_bn_statistics(aspp, seed)

    def fn(lib, x):
        mt.manual_seed(seed)
        return aspp(x)

    check_grad(fn, [np.random.default_rng(seed).standard_normal((n, cin, h, w))])


# --------------------------------------------------------------------------- batch 1, errors


def test_aspp_pooling_needs_two_samples_in_training_like_torch():
    mt.manual_seed(0)
    pool = ASPPPooling(4, 3)
    x = rand((1, 4, 5, 6))
    with pytest.raises(
        ValueError, match=r"ASPPPooling: a batch of 1 in training mode.*\(1, 4, 5, 6\)"
    ):
        pool(x)
    pool.eval()
    randomize_bn_statistics(pool, 0)
    with mt.no_grad():
        y = pool(x).numpy()
    assert y.shape == (1, 3, 5, 6)
    np.testing.assert_allclose(y, np.broadcast_to(y[:, :, :1, :1], y.shape), rtol=1e-6)  # constant
    m = models.deeplabv3_resnet50().eval()  # the whole model on one image, in eval mode
    with mt.no_grad():
        assert m(rand((1, 3, 24, 24)))["out"].shape == (1, 21, 24, 24)
    with pytest.raises(ValueError, match="ASPPPooling: a batch of 1"):
        m.train()(rand((1, 3, 24, 24)))
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch_heads(torch)["ASPP"](4, (1,))(torch.zeros(1, 4, 5, 6))


def test_builders_refuse_downloads_and_bad_arguments():
    with pytest.raises(ValueError, match=r"fcn_resnet50: weights='COCO.* not a local file.*"
                                         r"load_weights\(model, path\)"):  # fmt: skip
        models.fcn_resnet50(weights="COCO_WITH_VOC_LABELS_V1")
    with pytest.raises(
        ValueError, match=r"deeplabv3_resnet101: weights_backbone='IMAGENET1K_V1'.*model\.backbone"
    ):
        models.deeplabv3_resnet101(weights_backbone="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="fcn_resnet101: num_classes must be a positive int"):
        models.fcn_resnet101(num_classes=0)
    with pytest.raises(TypeError, match="deeplabv3_resnet50: aux_loss must be a bool or None"):
        models.deeplabv3_resnet50(aux_loss="yes")
    with pytest.raises(TypeError):
        models.fcn_resnet50(21)  # keyword-only, as torchvision
    with pytest.raises(TypeError, match="unknown option.*'aux'.*valid options:.*aux_loss"):
        models.get("fcn-resnet50", aux="yes")
    with pytest.raises(ValueError, match="ASPP: every atrous rate must be a positive int, got 0"):
        ASPP(8, (6, 0))
    with pytest.raises(ValueError, match="ASPPConv: dilation must be a positive int"):
        ASPPConv(8, 4, -1)
    with pytest.raises(ValueError, match="FCNHead: in_channels must be at least 4"):
        FCNHead(3, 2)
    with pytest.raises(ValueError, match=r"IntermediateLayerGetter: return_layers \['layer5'\].*"
                                         r"conv1, bn1, relu, maxpool, layer1"):  # fmt: skip
        IntermediateLayerGetter(models.ResNet(include_top=False), {"layer5": "out"})
    with pytest.raises(TypeError, match="IntermediateLayerGetter: return_layers must be a dict"):
        IntermediateLayerGetter(models.ResNet(include_top=False), ["layer4"])  # was AttributeError


def test_models_refuse_bad_input_naming_the_shape():
    mt.manual_seed(0)
    m = tiny_segmenter("fcn", aux=False)
    with pytest.raises(
        ValueError, match=r"FCN: expected input of shape \(N, C, H, W\), got \(2, 5, 5\)"
    ):
        m(mt.zeros(2, 5, 5))
    with pytest.raises(TypeError, match="FCN: expected a Tensor, got ndarray"):
        m(np.zeros((1, 2, 5, 5)))
    with pytest.raises(ValueError, match=r"\(1, 3, 5, 5\)"):  # Conv2d names the channel mismatch
        m(mt.zeros(1, 3, 5, 5))
    # an aux head on a backbone that returns no 'aux' (was a bare KeyError: 'aux')
    no_aux = FCN(m.backbone, m.classifier, FCNHead(4, 3))
    with pytest.raises(ValueError, match=r"FCN: the backbone returned \['out'\]; the "
                                         r"aux_classifier reads its 'aux' entry"):  # fmt: skip
        no_aux(mt.zeros(2, 2, 5, 5))


# --------------------------------------------------------------------------- checkpoints


def test_a_torchvision_checkpoint_loads_by_key(tmp_path):
    """A `.pth` with torchvision's keys (written by torch.save, read back by load_pth without
    torch) fills the model; the same file is refused by a model without aux_classifier."""
    torch = pytest.importorskip("torch")
    with skip_init():
        model = models.fcn_resnet50(aux_loss=True)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    keys = torchvision_keys("fcn_resnet50", aux=True)
    state = OrderedDict(
        (k, torch.zeros(shapes[k], dtype=torch.int64) if k.endswith("tracked")
         else torch.full(shapes[k], float(i % 97)))
        for i, k in enumerate(keys)
    )  # fmt: skip
    path = tmp_path / "fcn_resnet50_coco.pth"
    torch.save(state, path)
    models.load_weights(model, path)
    sd = model.state_dict()
    for i, k in enumerate(keys):
        if not k.endswith("tracked"):
            assert sd[k].numpy().flat[0] == i % 97, k
    with skip_init():
        no_aux = models.fcn_resnet50()
    with pytest.raises(ValueError, match="has key 'aux_classifier.0.weight'"):
        models.load_weights(no_aux, path)
    # weights= takes the local file, as resnet50(weights=path) does (it was refused as a
    # download); aux_loss then defaults to True, as torchvision's builders set it with weights
    with skip_init():
        built = models.fcn_resnet50(weights=path)
        from_dict = models.get("fcn-resnet50", weights=model.state_dict())
    assert built.aux_classifier is not None
    for m in (built, from_dict):
        got = m.state_dict()
        assert all((got[k].numpy() == v.numpy()).all() for k, v in sd.items()), type(m)
    with skip_init(), pytest.raises(ValueError, match="has key 'aux_classifier.0.weight'"):
        models.fcn_resnet50(weights=path, aux_loss=False)
    with skip_init(), pytest.raises(ValueError, match="classifier.4.weight"):
        models.fcn_resnet50(weights=path, num_classes=5)  # the file's head has 21 classes


def test_imagenet_resnet_weights_load_into_the_backbone():
    # torchvision's weights_backbone, offline: a resnet50 state dict, its fc skipped
    with skip_init():
        model, resnet = models.deeplabv3_resnet50(), models.resnet50()
    resnet.layer4[2].conv3.weight.data[...] = 0.25
    models.load_weights(model.backbone, resnet.state_dict(), skip=("fc.",))
    assert (model.backbone.layer4[2].conv3.weight.numpy() == 0.25).all()
    with skip_init():  # the builder's weights_backbone= does the same
        built = models.deeplabv3_resnet50(weights_backbone=resnet.state_dict(), num_classes=3)
    assert (built.backbone.layer4[2].conv3.weight.numpy() == 0.25).all()
    assert built.aux_classifier is None and built.classifier[4].out_channels == 3
