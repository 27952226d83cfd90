"""USPS digits (7,291 train + 2,007 test, 16 x 16), from either of its two common files:

- `usps.h5` (the Kaggle layout): groups train/{data,target} and test/{data,target}, data (n, 256) in [0, 1];
- the libsvm files `usps.bz2` / `usps.t.bz2` (or uncompressed `usps` / `usps.t`): labels 1..10 (digit + 1),
  features in [-1, 1], mapped here to [0, 1] by (x + 1) / 2.
"""
from __future__ import annotations

import numpy as np

from ..errors import CorruptFileError
from .download import Resource
from .spec import DatasetSpec, Layout, Req, paths_str

FIX = "delete it and download it again (download=True)"
LIBSVM_URL = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"


def _check(path, X, y):
    if X.ndim != 2 or X.shape[1] != 256 or len(y) != len(X):
        raise CorruptFileError(f"{path}: expected n x 256 features with n labels, got {X.shape} and {y.shape}")
    if X.size and (X.min() < -1e-6 or X.max() > 1 + 1e-6):
        raise CorruptFileError(f"{path}: USPS values should lie in [0, 1] after decoding, found "
                               f"[{X.min():.3g}, {X.max():.3g}]")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise CorruptFileError(f"{path}: USPS digit labels must be 0..9, found {y.min()}..{y.max()}")


def read_h5(path, split):
    import h5py

    try:
        with h5py.File(path, "r") as f:
            X = np.asarray(f[f"{split}/data"][:], dtype=np.float32)
            y = np.asarray(f[f"{split}/target"][:]).astype(np.int64).ravel()
    except KeyError as exc:
        raise CorruptFileError(f"{path}: no dataset {split}/data or {split}/target (expected groups "
                               "train/{data,target} and test/{data,target})") from exc
    except OSError as exc:
        raise CorruptFileError(f"{path}: unreadable HDF5 file ({exc}); {FIX}") from exc
    X = X.reshape(len(X), -1)
    _check(path, X, y)
    return X, y


def read_libsvm(path):
    from sklearn.datasets import load_svmlight_file

    try:
        X, y = load_svmlight_file(str(path), n_features=256, dtype=np.float32)
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptFileError(f"{path}: unreadable libsvm file ({exc}); {FIX}") from exc
    X = (X.toarray() + 1) / 2
    y = y.astype(np.int64) - 1
    _check(path, X, y)
    return X.astype(np.float32), y


def load_usps(kind, paths, splits, **_):
    xs, ys, sizes = [], [], {}
    for split in splits:
        X, y = read_h5(paths["h5"], split) if kind == "h5" else read_libsvm(paths[split])
        xs.append(X)
        ys.append(y)
        sizes[split] = len(X)
    X = np.concatenate(xs).reshape(-1, 1, 16, 16)
    steps = [] if kind == "h5" else [{"step": "libsvm_to_unit", "map": "(x + 1) / 2", "labels": "1..10 -> 0..9"}]
    meta = {"format": "usps-" + kind, "files": paths_str(paths), "split_sizes": sizes, "preprocessing": steps}
    return X, np.concatenate(ys), meta


SPECS = [
    DatasetSpec(
        "usps", "usps", {"train": 7291, "test": 2007}, (1, 16, 16), 10,
        (Layout("h5", (Req("h5", ("usps.h5",)),)),
         Layout("libsvm", (Req("train", ("usps.bz2", "usps"), "train"), Req("test", ("usps.t.bz2", "usps.t"), "test")),
                resources=(Resource("usps.bz2", (LIBSVM_URL + "usps.bz2",),
                                    "md5:ec16c51db3855ca6c91edd34d0e9b197", "train"),
                           Resource("usps.t.bz2", (LIBSVM_URL + "usps.t.bz2",),
                                    "md5:8ea070ee2aca1ac39742fdd1ef5ed118", "test")))),
        load_usps, description="USPS handwritten digits, train + test"),
]
