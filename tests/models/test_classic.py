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
