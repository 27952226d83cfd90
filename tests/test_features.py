"""deepclust.features.extract_features, tested with a tiny fake torchvision (the real one is an optional
dependency and is not installed here) or with the real one and weights=None when it is."""
from __future__ import annotations

import sys
import types
import urllib.error

import numpy as np
import pytest
import torch
from torch import nn

from deepclust.errors import DeepclustError, InvalidInputError
from deepclust.features import MissingDependencyError, extract_features

torch.set_num_threads(1)


class TinyResNet(nn.Module):
    """ResNet-shaped stand-in: conv -> global average pool -> fc."""

    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 1000)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


@pytest.fixture
def fake_torchvision(monkeypatch):
    built = {}

    def get_model(name, weights=None):
        if name not in ("resnet18", "resnet50"):
            raise ValueError(f"Unknown model {name}")
        if weights is not None:
            raise RuntimeError("download failed", urllib.error.URLError("offline"))
        torch.manual_seed(0)
        built["net"] = TinyResNet(8 if name == "resnet18" else 16)
        return built["net"]

    tv = types.ModuleType("torchvision")
    tv.models = types.ModuleType("torchvision.models")
    tv.models.get_model = get_model
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", tv.models)
    return built


def test_features_shape_preprocessing_and_determinism(fake_torchvision):
    rng = np.random.default_rng(0)
    X = rng.random((5, 1, 16, 16), dtype=np.float32)
    F1 = extract_features(X, model="resnet18", weights=None, batch_size=2, image_size=32, device="cpu")
    assert F1.shape == (5, 8) and F1.dtype == np.float32           # pooled features, fc removed
    seen = fake_torchvision["net"].seen
    assert [s.shape for s in seen] == [(2, 3, 32, 32), (2, 3, 32, 32), (1, 3, 32, 32)]
    # grey replicated to 3 channels, ImageNet normalisation applied per channel
    assert torch.allclose(seen[0][:, 0] * 0.229 + 0.485, seen[0][:, 1] * 0.224 + 0.456, atol=1e-5)
    F2 = extract_features(X.reshape(5, 256), model="resnet18", weights=None, batch_size=4, image_size=32)
    np.testing.assert_allclose(F1, F2, atol=1e-5)                   # flat square images, other batch size
    assert extract_features(X[:, 0], model="resnet50", weights=None, image_size=None).shape == (5, 16)


def test_features_feed_a_method(fake_torchvision):
    from deepclust.methods.dcan import DCAN
    X = np.random.default_rng(1).random((40, 3, 8, 8), dtype=np.float32)
    F = extract_features(X, model="resnet50", weights=None, image_size=None)
    m = DCAN(n_clusters=2, n_iter=3, n_init=1, cluster_batch=40, verbose=0).fit(F)
    assert m.labels_.shape == (40,)


def test_missing_weights_offline_is_a_clear_error(fake_torchvision):
    with pytest.raises(MissingDependencyError, match="weights=None"):
        extract_features(np.zeros((2, 1, 8, 8), np.float32), model="resnet18", weights="DEFAULT")


def test_bad_inputs(fake_torchvision):
    with pytest.raises(InvalidInputError, match="unknown torchvision model"):
        extract_features(np.zeros((2, 3, 8, 8), np.float32), model="vgg99", weights=None)
    with pytest.raises(InvalidInputError, match="not square"):
        extract_features(np.zeros((2, 10), np.float32), weights=None)
    with pytest.raises(InvalidInputError, match="C = 1 or 3"):
        extract_features(np.zeros((2, 2, 8, 8), np.float32), weights=None)
    with pytest.raises(InvalidInputError, match="batch_size"):
        extract_features(np.zeros((2, 3, 8, 8), np.float32), weights=None, batch_size=0)


def test_missing_torchvision_says_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)   # import torchvision -> ImportError
    with pytest.raises(DeepclustError, match="pip install torchvision"):
        extract_features(np.zeros((2, 1, 8, 8), np.float32), weights=None)
    assert issubclass(MissingDependencyError, ImportError)


def test_real_torchvision_random_weights_if_installed():
    tv = pytest.importorskip("torchvision")
    if not hasattr(tv.models, "get_model"):
        pytest.skip("torchvision too old for get_model")
    F = extract_features(np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32), model="resnet18",
                         weights=None, image_size=64)
    assert F.shape == (2, 512)
