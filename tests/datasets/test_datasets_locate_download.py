"""Where files are searched, the not-found / unknown-name messages, and checksum-verified downloads."""
import dataclasses
import gzip
import hashlib
import struct

import numpy as np
import pytest

from deepclust.datasets import REGISTRY, dataset_status, get_spec, list_datasets, load_dataset
from deepclust.datasets.download import Resource, download_file
from deepclust.datasets.locate import search_dirs
from deepclust.errors import CorruptFileError, DatasetNotFoundError, UnknownNameError


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path_factory):
    monkeypatch.delenv("DEEPCLUST_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


def write_mnist_test(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in (("t10k-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8)),
                      ("t10k-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)):
        header = bytes([0, 0, 8, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
        (folder / name).write_bytes(gzip.compress(header + arr.tobytes()))


def test_missing_files_message_lists_files_folders_and_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar-10", data_dir=tmp_path)
    msg = str(err.value)
    assert "'cifar-10'" in msg
    assert "cifar-10-python.tar.gz" in msg and "cifar-10-batches-py" in msg
    for folder, _ in search_dirs(get_spec("cifar-10"), tmp_path):
        assert str(folder) in msg
    assert str(tmp_path) in msg and "/usr/share/datasets/cifar-10" in msg
    assert "download=True" in msg and "DEEPCLUST_DATA" in msg


def test_incomplete_copy_is_reported(tmp_path):
    write_mnist_test(tmp_path, 3)
    with pytest.raises(DatasetNotFoundError, match=r"(?s)lacks train-images-idx3-ubyte\(.gz\).*split='test'"):
        load_dataset("mnist", data_dir=tmp_path)


def test_not_downloadable_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="(?s)cannot be downloaded automatically.*make_reuters_data"):
        load_dataset("reuters-10k", data_dir=tmp_path, download=True)


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownNameError) as err:
        load_dataset("mnsit")
    msg = str(err.value)
    assert "Did you mean 'mnist'?" in msg
    for name in list_datasets():
        assert name in msg
    assert isinstance(err.value, KeyError)


def test_aliases_resolve():
    assert get_spec("CIFAR10").name == "cifar-10"
    assert get_spec("fashion_mnist").name == "fashion-mnist"
    assert get_spec("coil20").name == "coil-20"
    assert get_spec("MNIST_test").name == "mnist-test"


def test_search_order_data_dir_env_cache(tmp_path, monkeypatch):
    env, cache = tmp_path / "env", tmp_path / "xdg"
    monkeypatch.setenv("DEEPCLUST_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    write_mnist_test(cache / "deepclust" / "mnist", 2)
    assert len(load_dataset("mnist-test")) == 2  # user cache beats shared/data
    write_mnist_test(env / "mnist", 3)
    assert len(load_dataset("mnist-test")) == 3  # $DEEPCLUST_DATA/<name> beats the cache
    write_mnist_test(tmp_path / "dd", 4)
    assert len(load_dataset("mnist-test", data_dir=tmp_path / "dd")) == 4  # data_dir first


def test_generic_idx_names_need_a_named_folder_under_shared_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLUST_DATA", str(tmp_path))
    fashion = [str(d) for d, _ in search_dirs(get_spec("fashion-mnist"))]
    assert str(tmp_path) not in fashion and str(tmp_path / "fashion-mnist") in fashion
    assert str(tmp_path) in [str(d) for d, _ in search_dirs(get_spec("mnist"))]
    assert str(tmp_path) in [str(d) for d, _ in search_dirs(get_spec("fashion-mnist"), tmp_path)]


def test_dataset_status_rows(tmp_path):
    rows = {r["name"]: r for r in dataset_status()}
    assert set(rows) == set(list_datasets())
    assert rows["digits"]["available"] and rows["digits"]["n_samples"] == 1797
    assert rows["mnist"]["n_samples"] == 70000 and rows["mnist"]["shape"] == (1, 28, 28)
    assert rows["cifar-10"]["downloadable"] and not rows["reuters-10k"]["downloadable"]
    for r in rows.values():
        assert set(r) >= {"name", "n_samples", "shape", "available", "where", "downloadable"}
        if r["name"] in {"8gaussians", "artifact-mnist"} or r["name"].startswith("usps-v") or r["name"] == "usps700":
            continue  # derived datasets (built from a registered one) have no files of their own
        assert r["available"] == (r["where"] is not None and len(r["available_splits"]) == len(get_spec(r["name"]).splits))


def _source(tmp_path, payload=b"hello dataset"):
    src = tmp_path / "src" / "file.bin"
    src.parent.mkdir()
    src.write_bytes(payload)
    return src, src.as_uri()


def test_download_checksum_mismatch_leaves_nothing(tmp_path):
    src, url = _source(tmp_path)
    dest = tmp_path / "dest"
    with pytest.raises(CorruptFileError, match="checksum mismatch for file.bin"):
        download_file(Resource("file.bin", (url,), "sha256:" + "0" * 64), dest, dataset="demo")
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("algo", ["sha256", "md5"])
def test_download_correct_checksum_installs(tmp_path, algo):
    src, url = _source(tmp_path)
    digest = hashlib.new(algo, src.read_bytes()).hexdigest()
    out = download_file(Resource("file.bin", (url,), f"{algo}:{digest}"), tmp_path / "dest")
    assert out == tmp_path / "dest" / "file.bin" and out.read_bytes() == src.read_bytes()
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["file.bin"]


def test_download_tries_next_mirror(tmp_path):
    src, url = _source(tmp_path)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    missing = (tmp_path / "nope.bin").as_uri()
    out = download_file(Resource("file.bin", (missing, url), f"sha256:{digest}"), tmp_path / "dest")
    assert out.read_bytes() == src.read_bytes()


def _patch_svhn(monkeypatch, url, checksum):
    spec = REGISTRY["svhn"]
    layout = dataclasses.replace(spec.layouts[0], resources=(Resource("test_32x32.mat", (url,), checksum, "test"),))
    monkeypatch.setitem(REGISTRY, "svhn", dataclasses.replace(spec, layouts=(layout,)))


def test_load_dataset_download_end_to_end(tmp_path, monkeypatch):
    from scipy.io import savemat

    src = tmp_path / "server" / "test_32x32.mat"
    src.parent.mkdir()
    savemat(src, {"X": np.full((32, 32, 3, 2), 255, np.uint8), "y": np.array([[10], [4]], np.uint8)})
    target = tmp_path / "data"
    _patch_svhn(monkeypatch, src.as_uri(), "md5:" + "f" * 32)
    with pytest.raises(CorruptFileError):
        load_dataset("svhn", data_dir=target, download=True, split="test")
    assert [f for f in target.rglob("*") if f.is_file()] == []  # the bad download was deleted
    _patch_svhn(monkeypatch, src.as_uri(), "md5:" + hashlib.md5(src.read_bytes()).hexdigest())
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load_dataset("svhn", data_dir=target, split="test")  # no download without download=True
    ds = load_dataset("svhn", data_dir=target, download=True, split="test")
    assert (target / "svhn" / "test_32x32.mat").is_file()
    assert ds.X.shape == (2, 3, 32, 32) and ds.y.tolist() == [0, 4] and float(ds.X.min()) == 1.0


def test_download_defaults_to_user_cache(tmp_path, monkeypatch):
    from scipy.io import savemat

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    src = tmp_path / "test_32x32.mat"
    savemat(src, {"X": np.zeros((32, 32, 3, 1), np.uint8), "y": np.array([[1]], np.uint8)})
    _patch_svhn(monkeypatch, src.as_uri(), "sha256:" + hashlib.sha256(src.read_bytes()).hexdigest())
    ds = load_dataset("svhn", download=True, split="test")
    assert ds.meta["folder"] == str(tmp_path / "xdg" / "deepclust" / "svhn")
