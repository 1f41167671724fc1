"""torchvision's MobileNetV3-Large segmentation models, lraspp_mobilenet_v3_large and
deeplabv3_mobilenet_v3_large: parameter counts (torchvision's published ones and by hand), the
state_dict keys and shapes of a torch.nn twin of torchvision's modules, the same outputs and
gradients as that twin with the same weights (float64, eval mode), output sizes, a training
step, weights and errors."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import models
from minitorch_cv.init import skip_init
from minitorch_cv.layers import BatchNorm2d
from minitorch_cv.models import LRASPP, DeepLabV3, LRASPPHead, mobilenet_v3_large

BUILDERS = {
    "lraspp_mobilenet_v3_large": models.lraspp_mobilenet_v3_large,
    "deeplabv3_mobilenet_v3_large": models.deeplabv3_mobilenet_v3_large,
}

# torchvision's "num_params" of the COCO_WITH_VOC_LABELS_V1 weights (deeplabv3's with its aux
# head): LRASPP_MobileNet_V3_Large_Weights in torchvision/models/segmentation/lraspp.py and
# DeepLabV3_MobileNet_V3_Large_Weights in .../segmentation/deeplabv3.py
DOCUMENTED = {"lraspp_mobilenet_v3_large": 3_221_538, "deeplabv3_mobilenet_v3_large": 11_029_328}

# torchvision's mobilenet_v3_large table (_mobilenet_v3_conf): input, kernel, expanded, out,
# SE, activation, stride; with dilated=True the last three blocks (C4) have dilation 2
LARGE = [
    (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
]  # fmt: skip
DILATED = [(*row, 2 if i >= 12 else 1) for i, row in enumerate(LARGE)]


def make_divisible(v, divisor=8):  # torchvision's _make_divisible
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def build(name, **options):
    with skip_init():  # counts and keys only
        return BUILDERS[name](**options)


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------- counts by hand


def conv(cin, cout, k, bias=True, groups=1):
    return cin // groups * cout * k * k + (cout if bias else 0)


def bn(c):
    return 2 * c


def features_by_hand():
    """mobilenet_v3_large's features: stem, the 15 blocks, the 1x1 conv to 960."""
    total = conv(3, 16, 3, False) + bn(16)
    for cin, k, exp, out, se, _, _ in LARGE:
        if exp != cin:
            total += conv(cin, exp, 1, False) + bn(exp)
        total += conv(exp, exp, k, False, groups=exp) + bn(exp)
        if se:
            sq = make_divisible(exp // 4)
            total += conv(exp, sq, 1) + conv(sq, exp, 1)
        total += conv(exp, out, 1, False) + bn(out)
    return total + conv(160, 960, 1, False) + bn(960)


def lraspp_head_by_hand(low, high, k, inter=128):
    cbr, scale = conv(high, inter, 1, False) + bn(inter), conv(high, inter, 1, False)
    return cbr + scale + conv(low, k, 1) + conv(inter, k, 1)


def deeplab_head_by_hand(cin, k):
    aspp = 2 * (conv(cin, 256, 1, False) + bn(256)) + 3 * (conv(cin, 256, 3, False) + bn(256))
    aspp += conv(5 * 256, 256, 1, False) + bn(256)
    return aspp + conv(256, 256, 3, False) + bn(256) + conv(256, k, 1)


def fcn_head_by_hand(cin, k):
    return conv(cin, cin // 4, 3, False) + bn(cin // 4) + conv(cin // 4, k, 1)


def test_parameter_counts_equal_torchvisions_and_the_hand_count():
    # torchvision's mobilenet_v3_large: 5,483,032 with its classifier 960 -> 1280 -> 1000
    classifier = 960 * 1280 + 1280 + 1280 * 1000 + 1000
    assert features_by_hand() == 5_483_032 - classifier
    lraspp = build("lraspp_mobilenet_v3_large")
    assert lraspp.backbone.num_parameters() == features_by_hand()
    head = lraspp_head_by_hand(40, 960, 21)
    assert features_by_hand() + head == DOCUMENTED["lraspp_mobilenet_v3_large"]
    assert lraspp.num_parameters() == DOCUMENTED["lraspp_mobilenet_v3_large"]
    assert lraspp.classifier.num_parameters() == head
    assert build("lraspp_mobilenet_v3_large", num_classes=3).num_parameters() == (
        features_by_hand() + lraspp_head_by_hand(40, 960, 3)
    )
    deeplab = build("deeplabv3_mobilenet_v3_large", aux_loss=True)
    by_hand = features_by_hand() + deeplab_head_by_hand(960, 21)
    assert by_hand + fcn_head_by_hand(40, 21) == DOCUMENTED["deeplabv3_mobilenet_v3_large"]
    assert deeplab.num_parameters() == DOCUMENTED["deeplabv3_mobilenet_v3_large"]
    assert build("deeplabv3_mobilenet_v3_large").num_parameters() == by_hand  # no aux head
    for name, count in DOCUMENTED.items():
        info = models.info(name.replace("_", "-"))
        assert (info.task, info.num_classes, info.input_size) == ("segmentation", 21, (3, 520, 520))
        options = {"aux_loss": True} if name.startswith("deeplab") else {}
        assert info.num_parameters(**options) == count


# --------------------------------------------------------------------------- the torch twin


def torch_twin(torch, name, num_classes=21, aux=False):
    """torchvision's modules retyped in torch.nn (Conv2dNormActivation, SqueezeExcitation,
    MobileNetV3's InvertedResidual, IntermediateLayerGetter, FCNHead, ASPP, DeepLabHead,
    LRASPPHead, LRASPP, _SimpleSegmentationModel), assembled as torchvision's
    _lraspp_mobilenetv3 / _deeplabv3_mobilenetv3 do, from its source, as the oracle."""
    nn, tf = torch.nn, torch.nn.functional

    def up(x, size):
        return tf.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def cna(cin, cout, k=1, stride=1, groups=1, dilation=1, act=None):
        pad = (k - 1) // 2 * dilation
        layers = [nn.Conv2d(cin, cout, k, stride, pad, dilation, groups, bias=False),
                  nn.BatchNorm2d(cout, eps=0.001, momentum=0.01)]  # fmt: skip
        return nn.Sequential(*layers, *([act()] if act else []))

    class SqueezeExcitation(nn.Module):
        def __init__(self, c, squeeze):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
            self.activation, self.scale_activation = nn.ReLU(), nn.Hardsigmoid()

        def forward(self, x):
            s = self.fc2(self.activation(self.fc1(self.avgpool(x))))
            return self.scale_activation(s) * x

    class InvertedResidual(nn.Module):
        def __init__(self, cin, k, exp, out, se, act, stride, dilation):
            super().__init__()
            act = nn.Hardswish if act == "HS" else nn.ReLU
            layers = [cna(cin, exp, act=act)] if exp != cin else []
            stride = 1 if dilation > 1 else stride
            layers.append(cna(exp, exp, k, stride, exp, dilation, act))
            if se:
                layers.append(SqueezeExcitation(exp, make_divisible(exp // 4)))
            layers.append(cna(exp, out))
            self.block = nn.Sequential(*layers)
            self.use_res_connect = stride == 1 and cin == out

        def forward(self, x):
            y = self.block(x)
            return y + x if self.use_res_connect else y

    class IntermediateLayerGetter(nn.ModuleDict):
        def __init__(self, seq, return_layers):
            last = max(int(k) for k in return_layers)
            super().__init__({str(i): m for i, m in enumerate(seq) if i <= last})
            self.return_layers = return_layers

        def forward(self, x):
            out = OrderedDict()
            for n, m in self.items():
                x = m(x)
                if n in self.return_layers:
                    out[self.return_layers[n]] = x
            return out

    def cbr(cin, cout, k, dilation=1):
        pad = dilation if k == 3 else 0
        return [nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU()]  # fmt: skip

    class ASPPPooling(nn.Sequential):
        def __init__(self, cin, cout):
            super().__init__(nn.AdaptiveAvgPool2d(1), *cbr(cin, cout, 1))

        def forward(self, x):
            return up(super().forward(x), x.shape[-2:])

    class ASPP(nn.Module):
        def __init__(self, cin, rates, cout=256):
            super().__init__()
            branches = [nn.Sequential(*cbr(cin, cout, 1))]
            branches += [nn.Sequential(*cbr(cin, cout, 3, r)) for r in rates]
            self.convs = nn.ModuleList([*branches, ASPPPooling(cin, cout)])
            self.project = nn.Sequential(*cbr(len(self.convs) * cout, cout, 1), nn.Dropout(0.5))

        def forward(self, x):
            return self.project(torch.cat([c(x) for c in self.convs], 1))

    def deeplab_head(cin, k):
        return nn.Sequential(ASPP(cin, (12, 24, 36)), *cbr(256, 256, 3), nn.Conv2d(256, k, 1))

    def fcn_head(cin, k):
        return nn.Sequential(*cbr(cin, cin // 4, 3), nn.Dropout(0.1), nn.Conv2d(cin // 4, k, 1))

    class DeepLabV3(nn.Module):  # torchvision's _SimpleSegmentationModel
        def __init__(self, backbone, classifier, aux_classifier=None):
            super().__init__()
            self.backbone, self.classifier = backbone, classifier
            self.aux_classifier = aux_classifier

        def forward(self, x):
            f = self.backbone(x)
            out = OrderedDict(out=up(self.classifier(f["out"]), x.shape[-2:]))
            if self.aux_classifier is not None:
                out["aux"] = up(self.aux_classifier(f["aux"]), x.shape[-2:])
            return out

    class LRASPPHead(nn.Module):
        def __init__(self, low, high, k, inter):
            super().__init__()
            self.cbr = nn.Sequential(nn.Conv2d(high, inter, 1, bias=False),
                                     nn.BatchNorm2d(inter), nn.ReLU(inplace=True))  # fmt: skip
            gate = nn.Conv2d(high, inter, 1, bias=False)
            self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), gate, nn.Sigmoid())
            self.low_classifier = nn.Conv2d(low, k, 1)
            self.high_classifier = nn.Conv2d(inter, k, 1)

        def forward(self, f):
            x = up(self.cbr(f["high"]) * self.scale(f["high"]), f["low"].shape[-2:])
            return self.low_classifier(f["low"]) + self.high_classifier(x)

    class LRASPP(nn.Module):
        def __init__(self, backbone, low, high, k, inter=128):
            super().__init__()
            self.backbone, self.classifier = backbone, LRASPPHead(low, high, k, inter)

        def forward(self, x):
            return OrderedDict(out=up(self.classifier(self.backbone(x)), x.shape[-2:]))

    hs = nn.Hardswish
    features = nn.Sequential(cna(3, 16, 3, 2, act=hs), *[InvertedResidual(*r) for r in DILATED],
                             cna(160, 960, act=hs))  # fmt: skip
    # the stages: stem, the strided blocks (features.2, 4, 7, 13), the last conv; C2 = [-4]
    assert [0, 2, 4, 7, 13, 16][-4] == 4 and features[4].block[-1][0].out_channels == 40
    if name.startswith("lraspp"):
        return LRASPP(IntermediateLayerGetter(features, {"4": "low", "16": "high"}), 40, 960,
                      num_classes)  # fmt: skip
    layers = {"16": "out", **({"4": "aux"} if aux else {})}
    return DeepLabV3(IntermediateLayerGetter(features, layers), deeplab_head(960, num_classes),
                     fcn_head(40, num_classes) if aux else None)  # fmt: skip


def randomize(model, seed):
    """Random BatchNorm statistics and affines, so that an eval-mode BN is not a no-op."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, BatchNorm2d):
            m.running_mean.data[...] = rng.normal(0, 0.2, m.running_mean.shape)
            m.running_var.data[...] = rng.uniform(0.5, 2, m.running_var.shape)
            m.weight.data[...] = rng.uniform(0.5, 1.5, m.weight.shape)
            m.bias.data[...] = rng.normal(0, 0.2, m.bias.shape)
    return model


def to_torch(torch, module):
    return OrderedDict(
        (k, torch.from_numpy(np.array(v.numpy()))) for k, v in module.state_dict().items()
    )


CASES = [("lraspp_mobilenet_v3_large", {}), ("deeplabv3_mobilenet_v3_large", {}),
         ("deeplabv3_mobilenet_v3_large", {"aux_loss": True})]  # fmt: skip


@pytest.mark.parametrize("name,options", CASES)
def test_state_dict_keys_and_shapes_are_the_torch_twins(name, options):
    torch = pytest.importorskip("torch")
    ours = build(name, num_classes=5, **options).state_dict()
    theirs = torch_twin(torch, name, 5, aux=bool(options)).state_dict()
    assert [(k, tuple(v.shape)) for k, v in ours.items()] == [
        (k, tuple(v.shape)) for k, v in theirs.items()
    ]
    assert list(ours)[:2] == ["backbone.0.0.weight", "backbone.0.1.weight"]


def close(got, want, rtol, what):
    scale = np.abs(want).max()
    assert scale > 0, f"{what}: the reference is all zeros"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.mark.parametrize("name,options", [CASES[0], CASES[2]])
def test_same_weights_give_torchs_outputs_and_gradients_float64(name, options):
    """The whole model, eval mode, float64: the outputs, and the gradients of sum(out * w) with
    respect to the input and every parameter. Gradients within 1e-6: torch's float64
    hardsigmoid backward uses 1/6 rounded to float32."""
    torch = pytest.importorskip("torch")
    mt.manual_seed(0)
    ours = randomize(BUILDERS[name](num_classes=4, **options).double().eval(), 1)
    theirs = torch_twin(torch, name, 4, aux=bool(options)).double().eval()
    theirs.load_state_dict(to_torch(torch, ours), strict=True)
    x = rand((2, 3, 35, 29), 2, np.float64)
    xo, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, want = ours(xo), theirs(xt)
    assert list(got) == list(want) == (["out", "aux"] if options else ["out"])
    loss_o, loss_t = 0, 0
    for i, key in enumerate(got):
        assert got[key].shape == (2, 4, 35, 29)
        close(got[key].numpy(), want[key].detach().numpy(), 1e-7, key)
        w = rand(got[key].shape, 3 + i, np.float64)
        loss_o = loss_o + (got[key] * mt.tensor(w)).sum()
        loss_t = loss_t + (want[key] * torch.tensor(w)).sum()
    loss_o.backward()
    loss_t.backward()
    close(xo.grad.numpy(), xt.grad.numpy(), 1e-6, "input gradient")
    params = dict(theirs.named_parameters())
    for k, p in ours.named_parameters():
        close(p.grad.numpy(), params[k].grad.numpy(), 1e-6, k)


@pytest.mark.parametrize("name,options", [CASES[0], CASES[2]])
def test_train_mode_matches_torch_outputs_and_batchnorm_statistics_float64(name, options):
    """Train mode (dropout off): batch statistics in every BatchNorm, and the running statistics
    after one forward, the backbone's BN with torchvision's momentum 0.01 and the heads' with
    torch's default 0.1 (state_dict keys and eval outputs cannot tell momentum apart)."""
    torch = pytest.importorskip("torch")
    mt.manual_seed(0)
    ours = randomize(BUILDERS[name](num_classes=4, **options).double(), 1)
    theirs = torch_twin(torch, name, 4, aux=bool(options)).double()
    theirs.load_state_dict(to_torch(torch, ours), strict=True)
    for m in ours.modules():
        if isinstance(m, mt.nn.Dropout):
            m.p = 0.0
    theirs.apply(lambda m: setattr(m, "p", 0.0) if isinstance(m, torch.nn.Dropout) else None)
    x = rand((2, 3, 40, 36), 2, np.float64)
    got, want = ours.train()(mt.tensor(x)), theirs.train()(torch.tensor(x))
    for key in want:
        close(got[key].numpy(), want[key].detach().numpy(), 1e-9, key)
    ours_state = ours.state_dict()
    for k, v in theirs.state_dict().items():
        if "running" in k:
            close(ours_state[k].numpy(), v.numpy(), 1e-9, k)


def test_a_torchvision_checkpoint_loads_with_weights(tmp_path):
    """torch.save of the twin's state_dict (torchvision's keys) loads through weights=path (read
    without torch); deeplabv3's aux_loss then defaults to True, as in torchvision."""
    torch = pytest.importorskip("torch")
    for name in BUILDERS:
        twin = torch_twin(torch, name, aux=True)
        with torch.no_grad():
            for i, v in enumerate(twin.state_dict().values()):
                if v.is_floating_point():
                    v.fill_(i % 13 / 10)
        path = tmp_path / f"{name}.pth"
        torch.save(twin.state_dict(), path)
        with skip_init():
            model = BUILDERS[name](weights=path)
        assert getattr(model, "aux_classifier", True) is not None
        got = model.state_dict()
        for k, v in twin.state_dict().items():
            np.testing.assert_array_equal(got[k].numpy(), v.numpy(), err_msg=k)


# --------------------------------------------------------------------------- sizes, training


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("hw", [(1, 1), (7, 5), (33, 21)])
def test_outputs_have_the_inputs_odd_size(name, hw):
    mt.manual_seed(0)
    m = BUILDERS[name](num_classes=3, **({"aux_loss": True} if "deeplab" in name else {}))
    seen = {}
    m.classifier.register_forward_pre_hook(lambda mod, a: seen.__setitem__("in", a[0]))
    with mt.no_grad():
        out = m.eval()(mt.tensor(rand((1, 3, *hw))))
    assert isinstance(out, OrderedDict)
    assert {k: v.shape for k, v in out.items()} == {
        k: (1, 3, *hw) for k in (["out", "aux"] if "deeplab" in name else ["out"])
    }
    # stride 8 and 16: the backbone's low / aux and high / out feature maps
    s8, s16 = ([-(-s // d) for s in hw] for d in (8, 16))
    if "deeplab" in name:
        assert seen["in"].shape == (1, 960, *s16)
    else:
        assert {k: v.shape for k, v in seen["in"].items()} == {
            "low": (1, 40, *s8), "high": (1, 960, *s16)
        }  # fmt: skip


@pytest.mark.parametrize("name", BUILDERS)
def test_one_training_step_reaches_every_parameter(name):
    mt.manual_seed(0)
    deeplab = name.startswith("deeplab")
    m = BUILDERS[name](num_classes=3, **({"aux_loss": True} if deeplab else {}))
    x = mt.tensor(rand((2, 3, 31, 27)))
    target = mt.tensor(np.random.default_rng(1).integers(0, 3, (2, 31, 27)))
    out = m.train()(x)
    loss = mt.nn.CrossEntropyLoss()(out["out"], target)
    if deeplab:  # torchvision's reference criterion: out loss + 0.5 * aux loss
        loss = loss + 0.5 * mt.nn.CrossEntropyLoss()(out["aux"], target)
    loss.backward()
    for n, p in m.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), n
    assert np.abs(m.backbone["0"][0].weight.grad.numpy()).sum() > 0
    assert m.backbone["16"][1].num_batches_tracked.numpy() == 1


# --------------------------------------------------------------------------- weights, errors


def test_weights_backbone_is_a_mobilenet_v3_large_checkpoint():
    with skip_init():
        net = mobilenet_v3_large()  # an ImageNet classifier: dilation changes no shape
    net.features[13].block[1][0].weight.data[...] = 0.25
    for name in BUILDERS:
        with skip_init():
            m = BUILDERS[name](weights_backbone=net.state_dict(), num_classes=3)
        assert (m.backbone["13"].block[1][0].weight.numpy() == 0.25).all(), name
        assert m.backbone["13"].block[1][0].dilation == (2, 2)  # still dilated
    # the way to load one later, as the refusal of a named download says
    with skip_init():
        m = models.lraspp_mobilenet_v3_large()
    m.backbone.load_state_dict(mobilenet_v3_large(dilated=True, weights=net.state_dict())
                               .features.state_dict())  # fmt: skip
    assert (m.backbone["13"].block[1][0].weight.numpy() == 0.25).all()


@pytest.mark.parametrize("name", BUILDERS)
def test_weights_backbone_skips_the_classifier_as_the_resnet_builders_skip_fc(name):
    """Only the features become the backbone: a mobilenet_v3_large fine-tuned to another class
    count, or a state dict of its `features.*` keys only, loads (it raised a shape / missing
    key error on 'classifier.*', which the built model does not even hold)."""
    with skip_init():
        net = mobilenet_v3_large(num_classes=10)
    net.features[16][0].weight.data[...] = 0.5
    state = net.state_dict()
    features_only = {k: v for k, v in state.items() if k.startswith("features.")}
    for source in (state, features_only):
        with skip_init():
            m = BUILDERS[name](weights_backbone=source, num_classes=3)
        assert (m.backbone["16"][0].weight.numpy() == 0.5).all()
    with pytest.raises(ValueError, match="MobileNetV3 expects key 'features.0.0.weight'"):
        BUILDERS[name](weights_backbone={"classifier.3.weight": state["classifier.3.weight"]})


def test_builders_refuse_downloads_and_bad_arguments():
    lr, dl = models.lraspp_mobilenet_v3_large, models.deeplabv3_mobilenet_v3_large
    with pytest.raises(ValueError, match=r"lraspp_mobilenet_v3_large: weights='COCO.* not a "
                                         r"local file.*load_weights\(model, path\)"):  # fmt: skip
        lr(weights="COCO_WITH_VOC_LABELS_V1")
    with pytest.raises(ValueError, match=r"deeplabv3_mobilenet_v3_large: weights_backbone='IMAGE"
                                         r".*model\.backbone\.load_state_dict\(.*mobilenet_v3_"
                                         r"large\(dilated=True, weights=path\)"):  # fmt: skip
        dl(weights_backbone="IMAGENET1K_V1")
    with pytest.raises(NotImplementedError, match="This model does not use auxiliary loss"):
        lr(aux_loss=True)  # torchvision's error
    with pytest.raises(TypeError, match=r"lraspp_mobilenet_v3_large: unknown option\(s\) "
                                        r"'pretrained'; valid options: weights"):  # fmt: skip
        lr(pretrained=True)
    with pytest.raises(TypeError, match="unknown option.*'aux'.*valid options:.*aux_loss"):
        models.get("deeplabv3-mobilenet-v3-large", aux=True)
    with pytest.raises(ValueError, match="lraspp_mobilenet_v3_large: num_classes must be a "):
        lr(num_classes=0)
    with pytest.raises(TypeError, match="deeplabv3_mobilenet_v3_large: aux_loss must be a bool"):
        dl(aux_loss="yes")
    with pytest.raises(TypeError):
        lr(21)  # keyword-only, as torchvision
    with pytest.raises(ValueError, match="LRASPPHead: inter_channels must be a positive int"):
        LRASPPHead(40, 960, 21, 0)


def test_bad_input_names_the_layer_and_the_shape():
    mt.manual_seed(0)
    lr = models.lraspp_mobilenet_v3_large().eval()
    dl = models.deeplabv3_mobilenet_v3_large()
    assert type(lr) is LRASPP and type(dl) is DeepLabV3
    for m in (lr, dl.eval()):
        with pytest.raises(
            ValueError, match=r"Conv2d\(3->16, k=3\): expected input with 3 channels, got "
                              r"shape \(1, 1, 16, 16\)"):  # fmt: skip
            m(mt.zeros(1, 1, 16, 16))
        who = type(m).__name__
        with pytest.raises(ValueError, match=who + r": expected input of shape \(N, C, H, W\), "
                                                   r"got \(3, 16, 16\)"):  # fmt: skip
            m(mt.zeros(3, 16, 16))
        with pytest.raises(TypeError, match=who + ": expected a Tensor, got ndarray"):
            m(np.zeros((1, 3, 16, 16)))
    with pytest.raises(ValueError, match=r"LRASPPHead: expected a dict with 'low' and 'high' "
                                         r"feature maps, got \['out'\]"):  # fmt: skip
        lr.classifier({"out": mt.zeros(1, 960, 2, 2)})
    with pytest.raises(ValueError, match="ASPPPooling: a batch of 1 in training mode"):
        dl.train()(mt.zeros(1, 3, 32, 32))
