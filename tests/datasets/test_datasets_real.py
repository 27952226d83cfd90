"""The real files available on every developer/CI machine: digits (sklearn), MNIST-test and USPS
(shared/data), Fashion-MNIST (Debian package dataset-fashion-mnist)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from deepclust.datasets import load_dataset
from deepclust.datasets.locate import shared_data_dirs

torch.set_num_threads(1)

SHARED = next((d for d in shared_data_dirs() if (d / "t10k-images-idx3-ubyte.gz").is_file()), None)
FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_shared = pytest.mark.skipif(SHARED is None, reason="no shared/data with the MNIST test files above this checkout")


@pytest.fixture(autouse=True)
def no_user_overrides(monkeypatch, tmp_path_factory):
    monkeypatch.delenv("DEEPCLUST_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def test_digits():
    ds = load_dataset("digits")
    assert ds.X.shape == (1797, 1, 8, 8) and ds.X.dtype == np.float32
    assert ds.n_classes == 10 and sorted(set(ds.y.tolist())) == list(range(10))
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0


@pytest.fixture(scope="module")
def mnist_test():
    if SHARED is None:
        pytest.skip("no shared/data with the MNIST test files")
    return load_dataset("mnist-test")


@needs_shared
def test_mnist_test_from_shared_data(mnist_test):
    ds = mnist_test
    assert ds.X.shape == (10000, 1, 28, 28) and ds.X.dtype == np.float32
    assert np.bincount(ds.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0
    assert ds.meta["folder"] == str(SHARED)


@needs_shared
def test_mnist_test_resized_like_dcfae_and_dcan():
    assert load_dataset("mnist-test", resize=32, subset=500).X.shape == (500, 1, 32, 32)
    small = load_dataset("mnist-test", resize=14, flatten=True, subset=500)
    assert small.X.shape == (500, 196) and small.image_shape == (1, 14, 14)


@needs_shared
def test_usps_h5_from_shared_data():
    ds = load_dataset("usps")
    assert ds.X.shape == (9298, 1, 16, 16) and ds.n_classes == 10
    assert ds.meta["split_sizes"] == {"train": 7291, "test": 2007}
    assert sorted(set(ds.y.tolist())) == list(range(10))
    assert 0.0 <= ds.X.min() and ds.X.max() <= 1.0
    m11 = load_dataset("usps", scale="minus1-1")
    assert m11.X.min() == -1.0 and m11.X.max() == 1.0


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
def test_fashion_mnist_from_system_location():
    ds = load_dataset("fashion-mnist")
    assert ds.X.shape == (70000, 1, 28, 28) and ds.meta["folder"] == str(FASHION)
    assert np.bincount(ds.y).tolist() == [7000] * 10
    assert ds.meta["split_sizes"] == {"train": 60000, "test": 10000}
