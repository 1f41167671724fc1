"""InstanceNorm1d/2d, PixelShuffle/Unshuffle, Softmax2d, CosineSimilarity, PairwiseDistance,
HuberLoss, KLDivLoss as modules: PyTorch's defaults, reprs, state_dict keys and outputs (the
math itself is checked in tests/functional/test_extras.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import layers as nn


def test_instance_norm_layers_normalise_each_plane_and_keep_no_state_by_default():
    m = nn.InstanceNorm2d(3)
    assert m.state_dict() == {} and list(m.parameters()) == []
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)) * 3 + 1
    y = m(mt.tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(axis=(2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(2, 3)), 1, rtol=1e-4)  # eps = 1e-5
    m.eval()  # no running stats: eval normalises with each instance's statistics too
    np.testing.assert_allclose(m(mt.tensor(x)).numpy(), y)
    unbatched = nn.InstanceNorm1d(3)(mt.tensor(x[0, :, 0])).numpy()  # (C, L)
    np.testing.assert_allclose(unbatched.mean(axis=1), 0, atol=1e-12)


INSTANCE_OPTIONS = [
    {},
    {"affine": True},
    {"track_running_stats": True},
    {"affine": True, "track_running_stats": True, "momentum": 0.3},
]


@pytest.mark.parametrize("kw", INSTANCE_OPTIONS)
def test_instance_norm2d_matches_torch_in_train_and_eval(kw):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.InstanceNorm2d(4, **kw).double(), torch.nn.InstanceNorm2d(4, **kw).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if kw.get("affine"):
        w = np.linspace(0.5, 2, 4)
        ours.weight.data = w.copy()
        theirs.weight.data = torch.tensor(w)
    x = np.random.default_rng(1).standard_normal((3, 4, 5, 6))
    for mode in ("train", "eval", "train"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        xa, xb = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ya, yb = ours(xa), theirs(xb)
        (ya * ya * ya).sum().backward()
        (yb * yb * yb).sum().backward()
        np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-9, atol=1e-11)
        for k, v in ours.state_dict().items():
            np.testing.assert_allclose(v.numpy(), theirs.state_dict()[k].numpy(), rtol=1e-12)
        if kw.get("affine"):
            np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(),
                                       rtol=1e-9)  # fmt: skip
            ours.weight.grad = theirs.weight.grad = None
            ours.bias.grad = theirs.bias.grad = None


def test_instance_norm_errors_and_warning():
    with pytest.raises(ValueError, match=r"InstanceNorm2d\(3\): expected 4-D input \(N, 3, H, W\) "
                                         r"or unbatched"):  # fmt: skip
        nn.InstanceNorm2d(3)(mt.zeros(2, 3))
    with pytest.raises(ValueError, match=r"expected input with 3 channels \(dim 1\), got shape"):
        nn.InstanceNorm2d(3, affine=True)(mt.zeros(2, 4, 3, 3))
    with pytest.warns(UserWarning, match="input has 4 channels"):
        nn.InstanceNorm2d(3)(mt.randn(2, 4, 3, 3))


def test_extra_layers_match_torch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 4, 6)).astype(np.float32)
    x2 = rng.standard_normal((2, 8, 4, 6)).astype(np.float32)
    logp = np.log(rng.dirichlet(np.ones(8), size=2)).astype(np.float32)
    p = rng.dirichlet(np.ones(8), size=2).astype(np.float32)
    cases = [
        (nn.PixelShuffle(2), tnn.PixelShuffle(2), (x,)),
        (nn.PixelUnshuffle(2), tnn.PixelUnshuffle(2), (x,)),
        (nn.Softmax2d(), tnn.Softmax2d(), (x,)),
        (nn.CosineSimilarity(), tnn.CosineSimilarity(), (x, x2)),
        (nn.CosineSimilarity(dim=-1, eps=1e-3), tnn.CosineSimilarity(dim=-1, eps=1e-3), (x, x2)),
        (nn.PairwiseDistance(), tnn.PairwiseDistance(), (x, x2)),
        (nn.PairwiseDistance(p=1.0, keepdim=True), tnn.PairwiseDistance(p=1.0, keepdim=True),
         (x, x2)),
        (nn.HuberLoss(), tnn.HuberLoss(), (x, x2)),
        (nn.HuberLoss(reduction="sum", delta=0.5), tnn.HuberLoss(reduction="sum", delta=0.5),
         (x, x2)),
        (nn.KLDivLoss(reduction="batchmean"), tnn.KLDivLoss(reduction="batchmean"), (logp, p)),
        (nn.KLDivLoss(reduction="sum", log_target=True),
         tnn.KLDivLoss(reduction="sum", log_target=True), (logp, np.log(p))),
    ]  # fmt: skip
    for ours, theirs, args in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = ours(*(mt.tensor(a) for a in args)).numpy()
            want = theirs(*(torch.from_numpy(np.array(a)) for a in args)).numpy()
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=repr(ours))
    assert repr(nn.PixelShuffle(3)) == repr(tnn.PixelShuffle(3))
    assert repr(nn.PixelUnshuffle(2)) == repr(tnn.PixelUnshuffle(2))
    assert repr(nn.Softmax2d()) == repr(tnn.Softmax2d())


def test_loss_layer_options_are_checked():
    with pytest.raises(ValueError, match="HuberLoss: delta must be > 0"):
        nn.HuberLoss(delta=-1)
    with pytest.raises(ValueError, match="KLDivLoss: reduction must be"):
        nn.KLDivLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"Softmax2d: expected \(N, C, H, W\) or \(C, H, W\)"):
        nn.Softmax2d()(mt.zeros(3, 4))
