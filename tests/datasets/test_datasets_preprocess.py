"""resize / scale / flatten / subset and their record in meta["preprocessing"]."""
import json

import numpy as np
import pytest
import torch

from deepclust.datasets import load_array, load_dataset
from deepclust.datasets.preprocess import apply, resize_images, scale_features
from deepclust.errors import InvalidInputError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mnist_like():
    rng = np.random.default_rng(0)
    return load_array(rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), labels=rng.integers(0, 10, 50),
                      name="mnist-like")


def steps(ds):
    return [s["step"] for s in ds.meta["preprocessing"]]


@pytest.mark.parametrize("size,method", [(32, "bilinear"), (14, "bilinear"), (14, "area"), ((20, 24), "nearest")])
def test_resize_shapes_and_range(tmp_path, mnist_like, size, method):
    np.save(tmp_path / "m.npy", (mnist_like.X[:, 0] * 255).round().astype(np.uint8))
    ds = load_dataset(str(tmp_path / "m.npy"), resize=size, resize_method=method)
    h, w = (size, size) if isinstance(size, int) else size
    assert ds.X.shape == (50, 1, h, w) and ds.image_shape == (1, h, w) and ds.X.dtype == np.float32
    assert ds.X.min() >= -1e-6 and ds.X.max() <= 1 + 1e-6
    assert ds.meta["preprocessing"][-1] == {"step": "resize", "from": [28, 28], "to": [h, w], "method": method}


def test_area_resize_is_2x2_average():
    X = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    out = resize_images(X, 2, "area")
    np.testing.assert_allclose(out[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_resize_is_deterministic_and_constant_preserving():
    X = np.random.default_rng(1).random((5, 3, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(resize_images(X, 32), resize_images(X, 32))
    np.testing.assert_allclose(resize_images(np.full((2, 1, 28, 28), 0.3, np.float32), 14), 0.3, atol=1e-6)


def test_digits_resize_flatten_scale_combined():
    ds = load_dataset("digits", resize=16, flatten=True, scale="minus1-1", subset=100, seed=3)
    assert ds.X.shape == (100, 256) and ds.image_shape == (1, 16, 16)
    assert ds.images().shape == (100, 1, 16, 16)
    assert -1 - 1e-6 <= ds.X.min() and ds.X.max() <= 1 + 1e-6 and ds.X.min() < -0.9
    assert steps(ds) == ["to_float32", "subset", "resize", "scale", "flatten"]
    assert ds.meta["value_range"] == [float(ds.X.min()), float(ds.X.max())]
    json.dumps(ds.meta)


def test_scales():
    base = load_dataset("digits", flatten=True)
    assert base.X.min() == 0 and base.X.max() == 1
    std = load_dataset("digits", scale="standard", flatten=True).X
    varying = base.X.std(axis=0) > 0
    np.testing.assert_allclose(std.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(std.std(axis=0)[varying], 1, atol=1e-4)
    assert np.all(std[:, ~varying] == 0)  # constant pixels stay 0, no division by zero
    mm = load_dataset("digits", scale="minmax").flat()
    np.testing.assert_allclose(mm.min(axis=0)[varying], 0, atol=1e-6)
    np.testing.assert_allclose(mm.max(axis=0)[varying], 1, atol=1e-6)
    with pytest.raises(InvalidInputError, match="scale must be"):
        load_dataset("digits", scale="zscore")
    with pytest.raises(InvalidInputError, match="maps \\[0, 1\\]"):
        scale_features(np.array([[2.0, 3.0]]), "minus1-1")
    half = load_dataset("digits", scale="minus05-05").flat()  # DCEC's USPS range: half of [-1, 1]
    np.testing.assert_allclose(half, base.X - 0.5, atol=1e-7)
    np.testing.assert_allclose(2 * half, load_dataset("digits", scale="minus1-1").flat(), atol=1e-6)


def test_subset_reproducible():
    a = load_dataset("digits", subset=200, seed=7)
    b = load_dataset("digits", subset=200, seed=7)
    c = load_dataset("digits", subset=200, seed=8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    assert len(a) == 200 and a.meta["preprocessing"][-1]["seed"] == 7
    with pytest.raises(InvalidInputError, match="subset"):
        load_dataset("digits", subset=5000)


def test_resize_vector_data_refused():
    with pytest.raises(InvalidInputError, match="vector data"):
        apply(load_array(np.ones((3, 4))), resize=8)


def test_derived_pfc_datasets_are_registered():
    from deepclust.datasets import list_datasets, load_dataset
    names = list_datasets()
    for n in ("8gaussians", "artifact-mnist", "usps700", "usps-v1"):
        assert n in names
    g = load_dataset("8gaussians", subset=500)
    assert g.X.shape == (500, 2) and g.n_classes == 8
    u = load_dataset("usps700")
    assert u.X.shape == (7000, 1, 16, 16) and (np.bincount(u.y) == 700).all()
