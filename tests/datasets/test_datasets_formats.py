"""Every registered file format, on small files written here in the real format, loaded via load_dataset."""
import bz2
import gzip
import io
import json
import pickle
import struct
import tarfile
import zipfile

import numpy as np
import pytest

from deepclust.datasets import load_dataset
from deepclust.errors import CorruptFileError, InvalidInputError


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path_factory):
    monkeypatch.delenv("DEEPCLUST_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def write_idx(path, arr, gz=True):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    data = bytes([0, 0, 8, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def make_mnist(folder, n_train=6, n_test=4, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        sfx = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{sfx}", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{sfx}", labels, gz)
        out[prefix] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_train_and_test_merged(tmp_path, gz):
    ref = make_mnist(tmp_path, gz=gz)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.X.shape == (10, 1, 28, 28) and ds.X.dtype == np.float32
    np.testing.assert_allclose(ds.X[:6, 0] * 255, ref["train"][0], atol=1e-3)
    np.testing.assert_allclose(ds.X[6:, 0] * 255, ref["t10k"][0], atol=1e-3)
    assert ds.y.dtype == np.int64
    assert ds.y.tolist() == ref["train"][1].tolist() + ref["t10k"][1].tolist()
    assert ds.meta["split_sizes"] == {"train": 6, "test": 4}
    assert ds.image_shape == (1, 28, 28) and ds.n_classes == 10
    json.dumps(ds.meta)  # meta is JSON-serialisable


def test_mnist_splits_and_mnist_test(tmp_path):
    ref = make_mnist(tmp_path)
    assert len(load_dataset("mnist", data_dir=tmp_path, split="train")) == 6
    test = load_dataset("mnist", data_dir=tmp_path, split="test")
    np.testing.assert_array_equal(test.y, ref["t10k"][1])
    only = load_dataset("mnist-test", data_dir=tmp_path)
    np.testing.assert_array_equal(only.X, test.X)
    with pytest.raises(InvalidInputError, match="no split 'train'"):
        load_dataset("mnist-test", data_dir=tmp_path, split="train")


def test_fashion_mnist_from_named_subfolder(tmp_path):
    (tmp_path / "fashion-mnist").mkdir()
    make_mnist(tmp_path / "fashion-mnist", seed=3)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert len(ds) == 10 and ds.meta["folder"] == str(tmp_path / "fashion-mnist")


def test_truncated_gzip_names_the_file(tmp_path):
    make_mnist(tmp_path)
    f = tmp_path / "t10k-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-200])
    with pytest.raises(CorruptFileError, match="t10k-images-idx3-ubyte.gz"):
        load_dataset("mnist-test", data_dir=tmp_path)


def test_bad_idx_magic(tmp_path):
    make_mnist(tmp_path)
    f = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(f.read_bytes()))
    raw[0] = 7
    f.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(CorruptFileError, match=r"t10k-labels-idx1-ubyte.gz: not an IDX file \(bad magic"):
        load_dataset("mnist-test", data_dir=tmp_path)


def test_idx_size_mismatch(tmp_path):
    make_mnist(tmp_path)
    f = tmp_path / "t10k-images-idx3-ubyte.gz"
    f.write_bytes(gzip.compress(gzip.decompress(f.read_bytes())[:-28]))  # valid gzip, one row short
    with pytest.raises(CorruptFileError, match="truncated"):
        load_dataset("mnist-test", data_dir=tmp_path)


def test_usps_libsvm_bz2(tmp_path):
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    ref = {}
    for name, n in (("usps.bz2", 5), ("usps.t.bz2", 3)):
        X = rng.uniform(-1, 1, (n, 256)).round(4)
        y = rng.integers(1, 11, n)
        buf = io.BytesIO()
        dump_svmlight_file(X, y, buf, zero_based=False)
        (tmp_path / name).write_bytes(bz2.compress(buf.getvalue()))
        ref[name] = (X, y)
    ds = load_dataset("usps", data_dir=tmp_path)
    assert ds.X.shape == (8, 1, 16, 16)
    X = np.concatenate([ref["usps.bz2"][0], ref["usps.t.bz2"][0]])
    np.testing.assert_allclose(ds.flat(), (X + 1) / 2, atol=1e-6)
    assert ds.y.tolist() == (np.concatenate([ref["usps.bz2"][1], ref["usps.t.bz2"][1]]) - 1).tolist()
    assert ds.meta["format"] == "usps-libsvm"


def test_usps_h5(tmp_path):
    import h5py

    rng = np.random.default_rng(1)
    with h5py.File(tmp_path / "usps.h5", "w") as f:
        for split, n in (("train", 4), ("test", 2)):
            f[f"{split}/data"] = rng.uniform(0, 1, (n, 256)).astype(np.float32)
            f[f"{split}/target"] = rng.integers(0, 10, n)
    ds = load_dataset("usps", data_dir=tmp_path, split="test")
    assert ds.X.shape == (2, 1, 16, 16) and ds.meta["split_sizes"] == {"test": 2}


def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    return data, labels, pickle.dumps({b"batch_label": b"x", b"data": data, b"labels": labels}, protocol=2)


def test_cifar10_tar_gz(tmp_path):
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {n: cifar_batch(2, i) for i, n in enumerate(names)}
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        for n in ["batches.meta"] + names:
            payload = batches[n][2] if n in batches else pickle.dumps({b"label_names": []})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{n}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    ds = load_dataset("cifar-10", data_dir=tmp_path)
    assert ds.X.shape == (12, 3, 32, 32) and ds.meta["split_sizes"] == {"train": 10, "test": 2}
    np.testing.assert_allclose(ds.X[0] * 255, batches["data_batch_1"][0][0].reshape(3, 32, 32), atol=1e-3)
    assert ds.y[-2:].tolist() == batches["test_batch"][1]
    test = load_dataset("cifar10", data_dir=tmp_path, split="test")
    np.testing.assert_array_equal(test.X, ds.X[-2:])


def test_cifar10_folder_and_malicious_pickle_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, n in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        (folder / n).write_bytes(cifar_batch(1, i)[2])
    assert len(load_dataset("cifar-10", data_dir=tmp_path)) == 6

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(CorruptFileError, match="refusing to load builtins.print"):
        load_dataset("cifar-10", data_dir=tmp_path, split="test")


def test_svhn_mat(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    ref = {}
    for split, n in (("train", 3), ("test", 2)):
        X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = np.array([[10], [3], [1]][:n], dtype=np.uint8)
        savemat(tmp_path / f"{split}_32x32.mat", {"X": X, "y": y})
        ref[split] = (X, y)
    ds = load_dataset("svhn", data_dir=tmp_path)
    assert ds.X.shape == (5, 3, 32, 32)
    assert ds.y.tolist() == [0, 3, 1, 0, 3]  # label 10 means digit 0
    np.testing.assert_allclose(ds.X[0] * 255, ref["train"][0][..., 0].transpose(2, 0, 1), atol=1e-3)


def stl_files(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)  # C, H, W
    labels = rng.integers(1, 11, n, dtype=np.uint8)
    return images, labels, images.transpose(0, 1, 3, 2).tobytes(), labels.tobytes()  # stored column-major


@pytest.mark.parametrize("as_tar", [True, False])
def test_stl10_binary(tmp_path, as_tar):
    files = {"train": stl_files(2, 0), "test": stl_files(3, 1)}
    if as_tar:
        with tarfile.open(tmp_path / "stl10_binary.tar.gz", "w:gz") as tar:
            for split, (_, _, xb, yb) in files.items():
                for part, payload in (("X", xb), ("y", yb)):
                    info = tarfile.TarInfo(f"stl10_binary/{split}_{part}.bin")
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
    else:
        (tmp_path / "stl10_binary").mkdir()
        for split, (_, _, xb, yb) in files.items():
            (tmp_path / "stl10_binary" / f"{split}_X.bin").write_bytes(xb)
            (tmp_path / "stl10_binary" / f"{split}_y.bin").write_bytes(yb)
    ds = load_dataset("stl-10", data_dir=tmp_path)
    assert ds.X.shape == (5, 3, 96, 96)
    np.testing.assert_allclose(ds.X[2] * 255, files["test"][0][0], atol=1e-3)
    assert ds.y.tolist() == (np.concatenate([files["train"][1], files["test"][1]]).astype(int) - 1).tolist()


def test_stl10_truncated(tmp_path):
    (tmp_path / "stl10_binary").mkdir()
    _, _, xb, yb = stl_files(2, 0)
    (tmp_path / "stl10_binary" / "test_X.bin").write_bytes(xb[:-5])
    (tmp_path / "stl10_binary" / "test_y.bin").write_bytes(yb)
    with pytest.raises(CorruptFileError, match="test_X.bin"):
        load_dataset("stl-10", data_dir=tmp_path, split="test")


@pytest.mark.parametrize("name,mode,zipname,folder", [("coil-20", "L", "coil-20-proc.zip", "coil-20-proc"),
                                                      ("coil-100", "RGB", "coil-100.zip", "coil-100")])
def test_coil_png_zip(tmp_path, name, mode, zipname, folder):
    Image = pytest.importorskip("PIL.Image", reason="Pillow not installed")
    rng = np.random.default_rng(0)
    shape = (128, 128) if mode == "L" else (128, 128, 3)
    ref = {}
    with zipfile.ZipFile(tmp_path / zipname, "w") as zf:
        for obj in (2, 1):  # written out of order: the loader sorts by (object, pose)
            for pose in (10, 0, 5):
                arr = rng.integers(0, 256, shape, dtype=np.uint8)
                buf = io.BytesIO()
                Image.fromarray(arr, mode).save(buf, format="PNG")
                zf.writestr(f"{folder}/obj{obj}__{pose}.png", buf.getvalue())
                ref[obj, pose] = arr
    ds = load_dataset(name, data_dir=tmp_path)
    assert ds.X.shape == (6, 1 if mode == "L" else 3, 128, 128)
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1]
    expected = ref[2, 5] if mode == "L" else ref[2, 5].transpose(2, 0, 1)
    np.testing.assert_allclose(ds.X[4].squeeze() * 255, expected, atol=1e-3)
    assert ds.n_classes == (20 if name == "coil-20" else 100)


def test_reuters_dec_npy(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.random((7, 2000)), rng.integers(0, 4, 7)
    (tmp_path / "reuters").mkdir()
    np.save(tmp_path / "reuters" / "reutersidf10k.npy", {"data": X, "label": y})
    ds = load_dataset("reuters-10k", data_dir=tmp_path)
    assert ds.X.shape == (7, 2000) and ds.X.dtype == np.float32 and ds.image_shape is None
    np.testing.assert_allclose(ds.X, X, rtol=1e-6)
    assert ds.y.tolist() == y.tolist() and ds.n_classes == 4
    with pytest.raises(InvalidInputError, match="vector data"):
        ds.images()


def test_cifar10_truncated_archive(tmp_path):
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        for i, n in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
            payload = cifar_batch(50, i)[2]
            info = tarfile.TarInfo(f"cifar-10-batches-py/{n}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    f = tmp_path / "cifar-10-python.tar.gz"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CorruptFileError, match="cifar-10-python.tar.gz: .*truncated"):
        load_dataset("cifar-10", data_dir=tmp_path)


def test_dataset_container_views():
    from deepclust.datasets import Dataset

    X = np.zeros((4, 1, 2, 3), np.float32)
    ds = Dataset(X, np.arange(4), "toy", 4, (1, 2, 3), {})
    assert len(ds) == 4 and ds.flat().shape == (4, 6) and np.shares_memory(ds.flat(), X)
    assert "toy" in repr(ds) and "(4, 1, 2, 3)" in repr(ds)
    with pytest.raises(InvalidInputError, match="2 labels for 4 samples"):
        Dataset(X, np.arange(2), "toy", 2, (1, 2, 3), {})


def test_read_idx_roundtrip_any_shape_and_dtype(tmp_path_factory):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from deepclust.datasets.idx import read_idx

    folder = tmp_path_factory.mktemp("idx")
    codes = {0x08: np.uint8, 0x0B: ">i2", 0x0D: ">f4"}

    @settings(max_examples=15, deadline=None)
    @given(st.lists(st.integers(0, 5), min_size=1, max_size=4), st.sampled_from(sorted(codes)), st.booleans())
    def check(shape, code, gz):
        arr = (np.arange(int(np.prod(shape))) % 200).astype(codes[code]).reshape(shape)
        data = bytes([0, 0, code, len(shape)]) + struct.pack(">" + "I" * len(shape), *shape) + arr.tobytes()
        path = folder / "a.idx"
        path.write_bytes(gzip.compress(data) if gz else data)
        out = read_idx(path)
        assert out.shape == tuple(shape)
        np.testing.assert_array_equal(out, arr)

    check()
