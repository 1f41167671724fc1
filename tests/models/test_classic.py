"""AlexNet and VGG: torchvision's state_dict keys and shapes, torchvision's init, a forward equal
to PyTorch's with the same weights, and new heads for other class counts."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import models


def test_vgg_keys_shapes_and_init():
    with mt.init.skip_init():  # shapes only: no seconds of random draws for 138M weights
        sd = models.vgg16_bn().state_dict()
    convs = [k for k in sd if k.startswith("features.") and k.endswith(".weight")
             and sd[k].ndim == 4]  # fmt: skip
    assert len(convs) == 13 and convs[0] == "features.0.weight" and "features.1.running_var" in sd
    assert sd["features.0.weight"].shape == (64, 3, 3, 3)
    assert [k for k in sd if k.startswith("classifier.")] == [
        "classifier.0.weight", "classifier.0.bias", "classifier.3.weight", "classifier.3.bias",
        "classifier.6.weight", "classifier.6.bias",
    ]  # fmt: skip
    assert sd["classifier.0.weight"].shape == (4096, 512 * 7 * 7)
    with mt.init.skip_init():
        plain = models.vgg11().state_dict()
    # without batch norm the ReLU follows the conv directly: conv, relu, pool, conv, ...
    assert "features.3.weight" in plain and "features.1.weight" not in plain
    mt.manual_seed(0)
    net = models.VGG(models.vgg_features((16, "M", 512, "M")), num_classes=3)
    w = net.features[0].weight.numpy()
    assert abs(w.std() - np.sqrt(2 / (16 * 9))) < 0.1 * np.sqrt(2 / (16 * 9))  # fan_out
    assert (net.features[0].bias.numpy() == 0).all()
    assert abs(net.classifier[3].weight.numpy().std() - 0.01) < 5e-4
    assert net.classifier[6].weight.shape == (3, 4096)


def test_vgg_runs_on_small_images():
    mt.manual_seed(1)
    with mt.init.skip_init():
        net = models.VGG(models.vgg_features((8, "M", 512, "M"), batch_norm=True), 4)
    for p in net.parameters():
        p.data[...] = 0.01
    x = mt.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    y = net.train()(x)
    assert y.shape == (2, 4) and np.isfinite(y.numpy()).all()
    y.sum().backward()
    assert net.features[0].weight.grad is not None


def test_alexnet_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    ref = nn.Module()  # torchvision's AlexNet, written out for the oracle
    ref.features = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
    )  # fmt: skip
    ref.avgpool = nn.AdaptiveAvgPool2d((6, 6))
    ref.classifier = nn.Sequential(
        nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096),
        nn.ReLU(), nn.Linear(4096, 10),
    )  # fmt: skip
    mt.manual_seed(2)
    ours = models.alexnet(num_classes=10).eval()
    assert list(ref.state_dict()) == list(ours.state_dict())
    ref.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                         for k, v in ours.state_dict().items()})  # fmt: skip
    x = np.random.default_rng(5).standard_normal((2, 3, 100, 100)).astype(np.float32)
    with mt.no_grad():
        got = ours(mt.tensor(x)).numpy()
    with torch.no_grad():
        t = ref.features(torch.from_numpy(x))
        want = ref.classifier.eval()(torch.flatten(ref.avgpool(t), 1)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_new_heads_skip_the_checkpoints_classifier(tmp_path):
    mt.manual_seed(3)
    src = models.alexnet()
    path = tmp_path / "alexnet.npz"
    models.save_npz(src, path)
    mt.manual_seed(4)
    dst = models.alexnet(num_classes=7, weights=path)
    np.testing.assert_array_equal(dst.features[0].weight.numpy(), src.features[0].weight.numpy())
    assert dst.classifier[6].weight.shape == (7, 4096)
    same = models.alexnet(weights=path)
    np.testing.assert_array_equal(same.classifier[6].bias.numpy(), src.classifier[6].bias.numpy())


# --------------------------------------------------------------------------- MobileNetV2


def test_mobilenet_v2_structure_and_width_multiplier():
    with mt.init.skip_init():
        m = models.mobilenet_v2()
    sd = m.state_dict()
    assert list(sd)[:2] == ["features.0.0.weight", "features.0.1.weight"]
    assert sd["features.1.conv.0.0.weight"].shape == (32, 1, 3, 3)  # t = 1: depthwise first
    assert sd["features.2.conv.0.0.weight"].shape == (96, 16, 1, 1)  # 1x1 expansion 16 -> 96
    assert sd["features.2.conv.1.0.weight"].shape == (96, 1, 3, 3)  # depthwise, groups 96
    assert sd["features.2.conv.2.weight"].shape == (24, 96, 1, 1)  # linear projection
    assert sd["features.18.0.weight"].shape == (1280, 320, 1, 1)
    assert sd["classifier.1.weight"].shape == (1000, 1280)
    skips = [i for i, b in enumerate(m.features) if getattr(b, "use_res_connect", False)]
    assert skips == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]  # stride 1 and same channels
    assert models.mobilenet.make_divisible(32 * 0.35) == 16  # rounds up past a 10 % loss
    with mt.init.skip_init():
        slim = models.mobilenet_v2(width_mult=0.5)
    assert slim.features[0][0].weight.shape == (16, 3, 3, 3) and slim.last_channel == 1280
    with pytest.raises(ValueError, match="stride should be 1 or 2"):
        models.InvertedResidual(8, 8, 3, 6)


def test_mobilenet_v2_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    def cbr(a, b, k=3, s=1, g=1):
        return nn.Sequential(nn.Conv2d(a, b, k, s, (k - 1) // 2, groups=g, bias=False),
                             nn.BatchNorm2d(b), nn.ReLU6())  # fmt: skip

    class TBlock(nn.Module):  # torchvision's InvertedResidual, written out for the oracle
        def __init__(self, a, b, s, t):
            super().__init__()
            h = a * t
            layers = [cbr(a, h, 1)] if t != 1 else []
            layers += [cbr(h, h, 3, s, h), nn.Conv2d(h, b, 1, bias=False), nn.BatchNorm2d(b)]
            self.conv = nn.Sequential(*layers)
            self.res = s == 1 and a == b

        def forward(self, x):
            return x + self.conv(x) if self.res else self.conv(x)

    feats, c = [cbr(3, 32, 3, 2)], 32
    for t, out, n, s in models.mobilenet.MOBILENET_V2_SETTING:
        for i in range(n):
            feats.append(TBlock(c, out, s if i == 0 else 1, t))
            c = out
    feats.append(cbr(320, 1280, 1))
    ref = nn.Module()
    ref.features = nn.Sequential(*feats)
    ref.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 6))
    mt.manual_seed(6)
    ours = models.mobilenet_v2(num_classes=6).eval()
    rng = np.random.default_rng(7)
    for k, v in ours.state_dict().items():  # eval-mode BN that is not the identity
        if k.endswith("running_var"):
            v.data[...] = rng.uniform(0.5, 2, v.shape)
        elif k.endswith("running_mean"):
            v.data[...] = rng.normal(0, 0.1, v.shape)
    assert list(ref.state_dict()) == list(ours.state_dict())
    ref.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                         for k, v in ours.state_dict().items()})  # fmt: skip
    ref.eval()
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    with mt.no_grad():
        got = ours(mt.tensor(x)).numpy()
    with torch.no_grad():
        pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(ref.features(torch.from_numpy(x)),
                                                                 1), 1)  # fmt: skip
        want = ref.classifier(pooled).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
