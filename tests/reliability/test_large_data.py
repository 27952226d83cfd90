"""Large data: memmaps, HDF5 datasets and arrays over the memory budget are streamed: validation,
training batches and whole-dataset passes never read the whole array at once, and the results equal those
of the same data in memory."""
import h5py
import numpy as np
import pytest
import torch

from deepclust.engine import data as engine_data
from deepclust.engine.data import DataSource, LazyRows
from deepclust.engine.validation import check_X
from deepclust.errors import InvalidInputError
from deepclust.methods import get

torch.set_num_threads(1)
KW = dict(hidden=(16,), latent_dim=3, pretrain_epochs=2, n_init=1, verbose=0, batch_size=32, n_clusters=3,
          random_state=4)
DEC_KW = dict(max_iter=20, update_interval=5)


class Counting:
    """An on-disk-like array: records the largest number of rows any single read returned."""

    def __init__(self, X):
        self.X, self.shape, self.dtype, self.ndim, self.max_rows, self.reads = X, X.shape, X.dtype, X.ndim, 0, 0

    def __len__(self):
        return len(self.X)

    def __getitem__(self, key):
        out = self.X[key]
        self.max_rows, self.reads = max(self.max_rows, len(out)), self.reads + 1
        return out


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4, size=(3, 12))
    return (centers[rng.integers(0, 3, 1500)] + rng.normal(size=(1500, 12))).astype(np.float32)


@pytest.mark.parametrize("method", ["ae-kmeans", "idec"])
def test_deep_methods_stream_and_match_in_memory(data, method, monkeypatch):
    monkeypatch.setattr(engine_data, "CHUNK_BYTES", 100 * 12 * 4)  # validation reads <= 100 rows at a time
    kw = {**KW, **(DEC_KW if method != "ae-kmeans" else {})}
    ref = get(method)(**kw).fit(data)
    X = Counting(data)
    est = get(method)(**kw, max_bytes=1000).fit(X)
    assert X.reads > 0 and X.max_rows <= 1024 < len(data)  # never all rows: at most one embedding batch
    np.testing.assert_array_equal(est.labels_, ref.labels_)  # streaming changes nothing
    X.max_rows = 0
    np.testing.assert_array_equal(est.predict(X), ref.predict(data))
    assert X.max_rows <= 1024  # transform batches (embed_batch_size)


def test_dense_array_over_budget_is_streamed(data):
    assert DataSource(data, torch.device("cpu"), max_bytes=1000).streamed
    assert not DataSource(data, torch.device("cpu")).streamed
    old = engine_data.DEFAULT_MAX_BYTES
    try:
        engine_data.DEFAULT_MAX_BYTES = 1000  # the module setting is read at call time
        assert DataSource(data, torch.device("cpu")).streamed
    finally:
        engine_data.DEFAULT_MAX_BYTES = old


def test_hdf5_dataset_as_input(tmp_path, data):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["X"] = data
        f["img"] = data[:, :9].reshape(-1, 3, 3)  # (N, H, W): read as (N, 1, H, W) without loading it
    ref = get("idec")(**KW, **DEC_KW).fit(data)
    with h5py.File(tmp_path / "d.h5", "r") as f:
        est = get("idec")(**KW, **DEC_KW).fit(f["X"])
        np.testing.assert_array_equal(est.labels_, ref.labels_)
        X3 = check_X(f["img"])
        assert isinstance(X3, LazyRows) and X3.shape == (1500, 1, 3, 3)
        src = DataSource(X3, torch.device("cpu"))
        idx = torch.tensor([5, 1, 1, 1499])  # unsorted, repeated: fine for h5py too
        np.testing.assert_array_equal(src.batch(idx).numpy(), data[[5, 1, 1, 1499], :9].reshape(-1, 1, 3, 3))
        assert get("ae-kmeans")(**KW).fit(f["img"]).labels_.shape == (1500,)


def test_nan_in_hdf5_or_memmap_is_found_chunkwise(tmp_path, data, monkeypatch):
    monkeypatch.setattr(engine_data, "CHUNK_BYTES", 64 * 12 * 4)
    bad = data.copy()
    bad[517, 3] = np.nan
    np.save(tmp_path / "x.npy", bad)
    with pytest.raises(InvalidInputError, match="row 517"):
        check_X(np.load(tmp_path / "x.npy", mmap_mode="r"))
    with h5py.File(tmp_path / "d.h5", "w") as f:
        big = np.where(np.isnan(bad), 1e300, bad.astype(np.float64))  # finite, but too large for float32
        assert np.isfinite(big).all()
        f["X"] = big
    with h5py.File(tmp_path / "d.h5", "r") as f, pytest.raises(InvalidInputError, match="row 517"):
        check_X(f["X"])


def test_memmap_reads_bypass_or_release_the_mapping(tmp_path):
    """Read-only memmaps are read with pread (file pages never enter the resident set); other memmaps
    (copy-on-write) are read through the mapping, whose pages are released every max_bytes/4 bytes."""
    X = np.arange(4096 * 1024, dtype=np.float32).reshape(4096, 1024)  # 16 MiB
    np.save(tmp_path / "x.npy", X)
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    src = DataSource(ro[100:], torch.device("cpu"))  # a view: the file offset is found from the mapping
    assert src._file is not None
    idx = torch.tensor([7, 3, 3, 3995, 0])
    np.testing.assert_array_equal(src.batch(idx).numpy(), X[100:][idx.numpy()])
    np.testing.assert_array_equal(src.slice(10, 20).numpy(), X[110:120])
    cow = np.load(tmp_path / "x.npy", mmap_mode="c")
    released = []
    real = engine_data.release_pages
    engine_data.release_pages = lambda X: (released.append(1), real(X))
    try:
        src = DataSource(cow, torch.device("cpu"), max_bytes=4 * 2**20)
        assert src._file is None
        out = src.map(lambda b: b.sum(1), 256)
    finally:
        engine_data.release_pages = real
    np.testing.assert_allclose(out.numpy(), X.sum(1), rtol=1e-6)
    assert len(released) >= 15  # 16 MiB read, released every 1 MiB
