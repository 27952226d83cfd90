"""Bad input, property-tested: random shapes, dtypes, NaN/inf, constant features, duplicate points, a single
class, n_clusters at and beyond the bounds, wrong-length labels, corrupted and truncated dataset files.
Every case ends in a result or a clear deepclust error (a DeepclustError), never a hang or a crash deep in
NumPy / scikit-learn / PyTorch."""
import os
import signal
import warnings

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepclust.datasets import load_array, load_dataset
from deepclust.errors import DeepclustError, InvalidInputError
from deepclust.methods import get

torch.set_num_threads(1)
TINY = dict(hidden=(8,), latent_dim=2, pretrain_epochs=1, n_init=1, verbose=0, batch_size=16)
METHODS = {"kmeans": dict(n_init=1), "ward": {}, "gmm": {}, "ae-kmeans": TINY,
           "dec": {**TINY, "max_iter": 4, "update_interval": 2}, "idec": {**TINY, "max_iter": 4, "update_interval": 2}}
DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int8, np.uint8, bool]


@st.composite
def inputs(draw):
    n = draw(st.integers(2, 24))
    shape = draw(st.sampled_from([(n, draw(st.integers(1, 6))), (n, 3, 3), (n, 1, 2, 2)]))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(scale=draw(st.sampled_from([1e-3, 1.0, 100.0])), size=shape)
    kind = draw(st.sampled_from(["plain", "duplicates", "constant_feature", "single_point", "nan", "inf"]))
    flat = X.reshape(n, -1)
    if kind == "duplicates":
        flat[:] = flat[rng.integers(0, max(1, n // 3), n)]
    elif kind == "constant_feature":
        flat[:, 0] = 7.0
    elif kind == "single_point":
        flat[:] = flat[0]
    elif kind in ("nan", "inf") and np.dtype(dtype).kind == "f":
        flat[rng.integers(0, n), rng.integers(0, flat.shape[1])] = np.nan if kind == "nan" else -np.inf
    X = (X > 0) if dtype is bool else X.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(X * 3).astype(dtype)
    k = draw(st.sampled_from([1, 2, n, n + 1, draw(st.integers(2, n))]))
    y = draw(st.sampled_from([None, "ok", "short", "nan"]))
    if y == "ok":
        y = rng.integers(0, 3, n)
    elif y == "short":
        y = rng.integers(0, 3, max(1, n - 1))
    elif y == "nan":
        y = np.where(rng.random(n) < 0.5, np.nan, 1.0)
    return X, k, y


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang("no result after 60 s")


@pytest.mark.parametrize("method", sorted(METHODS))
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=inputs())
def test_any_input_gives_a_result_or_a_clear_error(method, case):
    X, k, y = case
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = get(method)(n_clusters=k, **METHODS[method])
            try:
                est.fit(X, y)
            except DeepclustError as e:
                assert str(e)  # a message saying what is wrong
                bad_values = np.dtype(X.dtype).kind == "f" and not np.isfinite(X.astype(np.float64)).all()
                if bad_values or not 2 <= k <= len(X) or (y is not None and (len(y) != len(X) or
                                                                             np.isnan(y.astype(float)).any())):
                    assert isinstance(e, InvalidInputError), e
                return
            assert np.isfinite(X.astype(np.float64)).all() and 2 <= k <= len(X)  # bad input was refused
            assert est.labels_.shape == (len(X),) and est.labels_.dtype == np.int64
            assert est.labels_.min() >= 0 and est.labels_.max() < k
            try:
                pred = est.predict(X)
                assert pred.shape == (len(X),)
            except (DeepclustError, NotImplementedError):
                pass
            with pytest.raises(InvalidInputError):  # new data with another number of features
                est.predict(np.zeros((2, int(np.prod(X.shape[1:])) + 1), np.float32))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("X", [np.array([["a", "b"], ["c", "d"]]), np.array([[1, None], [2, 3]], dtype=object),
                               np.ones((4, 2), dtype=complex), [[1, 2], [3]], np.zeros((3, 2, 2, 2, 2)),
                               np.zeros(5), np.zeros((0, 4)), np.zeros((4, 0))],
                         ids=["str", "object", "complex", "ragged", "5d", "1d", "no-samples", "no-features"])
def test_unusable_arrays_are_refused(X):
    for m in ("kmeans", "idec"):
        with pytest.raises(InvalidInputError):
            get(m)(n_clusters=2, **METHODS[m]).fit(X)


def test_sparse_and_tensor_inputs():
    import scipy.sparse as sp
    with pytest.raises(InvalidInputError, match="sparse"):
        get("kmeans")(n_clusters=2).fit(sp.random(10, 5, density=0.5, format="csr"))
    t = torch.rand(12, 4, dtype=torch.bfloat16)
    assert get("kmeans")(n_clusters=2).fit(t).labels_.shape == (12,)


# ---- corrupted / truncated files ---------------------------------------------------------------------
def _corrupt(raw: bytes, how: str) -> bytes:
    if how == "truncated":
        return raw[: len(raw) // 2]
    if how == "header-only":
        return raw[:10]
    if how == "empty":
        return b""
    if how == "garbage":
        return np.random.default_rng(0).integers(0, 256, len(raw), dtype=np.uint8).tobytes()
    mid = len(raw) // 3
    return raw[:mid] + bytes(b ^ 0xFF for b in raw[mid:mid + 64]) + raw[mid + 64:]  # "bitflip"


def _write(fmt, path, X):
    if fmt == "npy":
        np.save(path, X)
    elif fmt == "npz":
        np.savez(path, X=X)
    elif fmt == "csv":
        np.savetxt(path, X, delimiter=",")
    else:
        with h5py.File(path, "w") as f:
            f["X"] = X


# Reader errors on these (EOFError, BadZipFile, UnicodeDecodeError, OSError from h5py...) used to escape
# load_array; they are now wrapped in a CorruptFileError naming the file and format.
MUST_REFUSE = {("npy", "empty"), ("npz", "truncated"), ("npz", "header-only"), ("npz", "empty"),
               ("npz", "garbage"), ("npz", "bitflip"), ("csv", "garbage"), ("csv", "bitflip"),
               ("h5", "truncated"), ("h5", "header-only"), ("h5", "empty"), ("h5", "garbage")}


@pytest.mark.parametrize("how", ["truncated", "header-only", "empty", "garbage", "bitflip"])
@pytest.mark.parametrize("fmt", ["npy", "npz", "csv", "h5"])
def test_corrupted_dataset_files(tmp_path, fmt, how):
    X = np.random.default_rng(0).random((40, 5)).astype(np.float32)
    good = tmp_path / f"good.{fmt}"
    _write(fmt, good, X)
    bad = tmp_path / f"bad.{fmt}"
    bad.write_bytes(_corrupt(good.read_bytes(), how))
    for kw in ([{}, {"mmap": True}] if fmt == "npy" else [{}]):
        if (fmt, how) in MUST_REFUSE:
            with pytest.raises(DeepclustError, match="bad"):
                load_array(bad, **kw)
            continue
        try:
            ds = load_array(bad, **kw)
        except DeepclustError:
            continue
        assert len(ds.X) >= 1  # a readable remainder (a cut CSV, flipped data bits) is a valid dataset ...
        try:
            get("kmeans")(n_clusters=2).fit(ds.X)  # ... that clusters or is refused clearly
        except DeepclustError:
            pass
    with pytest.raises(DeepclustError):
        load_dataset(str(tmp_path / f"missing.{fmt}"))
