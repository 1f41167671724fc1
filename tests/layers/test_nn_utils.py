"""nn.utils: the clipping helpers are reachable as in PyTorch, and parameters_to_vector /
vector_to_parameters round-trip in PyTorch's order."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import nn


def test_parameters_round_trip_through_one_vector():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Linear(4, 5))
    params = list(model.parameters())
    v = nn.utils.parameters_to_vector(params)
    assert v.shape == (sum(p.numel() for p in params),) and not v.requires_grad
    np.testing.assert_array_equal(v.numpy(), np.concatenate([p.numpy().ravel() for p in params]))
    nn.utils.vector_to_parameters(mt.arange(v.shape[0], dtype=mt.float32), params)
    assert params[0].numpy().ravel()[:3].tolist() == [0, 1, 2]
    assert params[-1].numpy()[-1] == v.shape[0] - 1 and params[0] is model[0].weight
    with pytest.raises(ValueError, match=f"expected a 1-D vector of {v.shape[0]} values"):
        nn.utils.vector_to_parameters(mt.zeros(3), params)


def test_clipping_lives_in_nn_utils_as_in_pytorch():
    from minitorch_cv.train import clip_grad_norm_, clip_grad_value_

    assert nn.utils.clip_grad_norm_ is clip_grad_norm_
    assert nn.utils.clip_grad_value_ is clip_grad_value_


def test_parameters_to_vector_matches_torch():
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    theirs.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in model.state_dict().items()})
    np.testing.assert_array_equal(
        nn.utils.parameters_to_vector(model.parameters()).numpy(),
        torch.nn.utils.parameters_to_vector(theirs.parameters()).detach().numpy(),
    )
