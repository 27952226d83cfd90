"""User data files through load_array and load_dataset(path)."""
import numpy as np
import pytest

from deepclust.datasets import load_array, load_dataset
from deepclust.errors import DatasetNotFoundError, InvalidInputError


def test_npy_vectors_with_labels_file(tmp_path):
    X = np.random.default_rng(0).normal(size=(20, 5))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", np.repeat([3, 7], 10))
    ds = load_dataset(str(tmp_path / "x.npy"), labels=tmp_path / "y.npy")
    assert ds.X.shape == (20, 5) and ds.X.dtype == np.float32 and ds.image_shape is None
    assert ds.y.tolist() == [0] * 10 + [1] * 10 and ds.n_classes == 2
    assert ds.meta["label_names"] == [3, 7] and ds.name == "x"


def test_npy_images_layouts(tmp_path):
    rng = np.random.default_rng(0)
    nhw = rng.integers(0, 256, (4, 6, 5), dtype=np.uint8)
    ds = load_array(nhw)
    assert ds.X.shape == (4, 1, 6, 5) and ds.image_shape == (1, 6, 5)
    np.testing.assert_allclose(ds.X[:, 0] * 255, nhw, atol=1e-3)  # uint8 -> [0, 1]
    nhwc = rng.random((4, 6, 5, 3)).astype(np.float32)
    ds = load_array(nhwc)
    assert ds.X.shape == (4, 3, 6, 5)
    np.testing.assert_array_equal(ds.X, nhwc.transpose(0, 3, 1, 2))
    assert load_array(rng.random((4, 3, 6, 5))).X.shape == (4, 3, 6, 5)
    flat = load_array(rng.random((4, 30)), image_shape=(1, 6, 5))
    assert flat.X.shape == (4, 1, 6, 5) and flat.flat().shape == (4, 30)


def test_npy_pickled_dict_needs_allow_pickle(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, {"X": np.ones((3, 2)), "labels": ["a", "b", "a"]})
    with pytest.raises(InvalidInputError, match="allow_pickle=True"):
        load_array(p)
    ds = load_array(p, allow_pickle=True)
    assert ds.X.shape == (3, 2) and ds.y.tolist() == [0, 1, 0] and ds.meta["label_names"] == ["a", "b"]


def test_npy_mmap(tmp_path):
    p = tmp_path / "big.npy"
    np.save(p, np.arange(60, dtype=np.uint8).reshape(5, 12))
    ds = load_array(p, mmap=True)
    assert isinstance(ds.X, np.memmap) and ds.X.dtype == np.uint8 and ds.meta["mmap"]
    assert int(ds.X[4, 11]) == 59
    with pytest.raises(InvalidInputError, match="only for .npy"):
        load_array(_csv(tmp_path), mmap=True)


def _csv(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n")
    return p


def test_npz_and_h5(tmp_path):
    import h5py

    X, y = np.arange(12.0).reshape(4, 3), np.array([1, 1, 2, 2])
    np.savez(tmp_path / "d.npz", data=X, target=y)
    ds = load_dataset(str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(ds.X, X)
    assert ds.y.tolist() == [0, 0, 1, 1]
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["features"], f["lab"] = X, y
    ds = load_array(tmp_path / "d.h5", label_key="lab")
    assert ds.X.shape == (4, 3) and ds.y.tolist() == [0, 0, 1, 1]
    with pytest.raises(InvalidInputError, match="no dataset 'nope'"):
        load_array(tmp_path / "d.h5", key="nope")


def test_csv_header_and_label_column(tmp_path):
    p = _csv(tmp_path)
    ds = load_array(p, label_column="label")
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4], [5, 6]])
    assert ds.y.tolist() == [0, 1, 0] and ds.meta["label_names"] == ["cat", "dog"]
    q = tmp_path / "nohdr.csv"
    q.write_text("0,1.5,2\n1,2.5,3\n")
    ds = load_array(q, label_column=0)
    np.testing.assert_array_equal(ds.X, [[1.5, 2], [2.5, 3]])
    assert ds.y.tolist() == [0, 1]
    assert load_array(q).X.shape == (2, 3)


def test_image_folder_with_classes_and_flat(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="Pillow not installed")
    rng = np.random.default_rng(0)
    for cls, n in (("cats", 2), ("dogs", 3)):
        (tmp_path / "lab" / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)).save(tmp_path / "lab" / cls / f"{i}.png")
    ds = load_dataset(str(tmp_path / "lab"))
    assert ds.X.shape == (5, 3, 8, 6) and ds.y.tolist() == [0, 0, 1, 1, 1]
    assert ds.meta["label_names"] == ["cats", "dogs"]
    (tmp_path / "flat").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (8, 6), dtype=np.uint8)).save(tmp_path / "flat" / f"{i}.png")
    flat = load_array(tmp_path / "flat")
    assert flat.X.shape == (2, 1, 8, 6) and flat.y is None and flat.n_classes is None
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "flat" / "odd.png")
    with pytest.raises(InvalidInputError, match="image_size"):
        load_array(tmp_path / "flat")
    assert load_array(tmp_path / "flat", image_size=(4, 4)).X.shape == (3, 1, 4, 4)


def test_nan_and_inf_reported(tmp_path):
    X = np.ones((6, 3))
    X[1, 2] = np.nan
    X[4, 0] = np.inf
    np.save(tmp_path / "bad.npy", X)
    with pytest.raises(InvalidInputError, match=r"1 NaN and 1 inf values in 2 samples \(rows 1, 4\)"):
        load_dataset(str(tmp_path / "bad.npy"))
    with pytest.raises(InvalidInputError, match="NaN"):
        load_array(tmp_path / "bad.npy", mmap=True)  # chunked check on the memmap too


def test_label_length_mismatch_and_empty(tmp_path):
    with pytest.raises(InvalidInputError, match="3 labels for 4 samples"):
        load_array(np.ones((4, 2)), labels=[0, 1, 0])
    with pytest.raises(InvalidInputError, match="empty"):
        load_array(np.ones((0, 2)))
    with pytest.raises(InvalidInputError, match="cannot read an array of shape"):
        load_array(np.ones(5))


def test_missing_user_file_and_bad_option(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no such file"):
        load_dataset(str(tmp_path / "missing.npy"))
    np.save(tmp_path / "x.npy", np.ones((2, 2)))
    with pytest.raises(InvalidInputError, match="unknown option"):
        load_dataset(str(tmp_path / "x.npy"), bogus=1)
