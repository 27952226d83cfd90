"""SVHN cropped digits: `train_32x32.mat` (73,257) and `test_32x32.mat` (26,032), MATLAB v5 files with
X (32 x 32 x 3 x N uint8) and y (N x 1, 1..10 where 10 means digit 0).
"""
from __future__ import annotations

import numpy as np

from ..errors import CorruptFileError
from .download import Resource
from .spec import TO_UNIT_STEP, DatasetSpec, Layout, Req, paths_str, u8_to_unit

URL = "http://ufldl.stanford.edu/housenumbers/"
MD5 = {"train": "e26dedcc434d2e4c54c9b2d4a06d8373", "test": "eb5a983be6a315427106f1b5b0d9d4b2"}


def read_mat(path):
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
        X, y = mat["X"], np.asarray(mat["y"]).astype(np.int64).ravel()
    except (KeyError, ValueError, OSError, TypeError, NotImplementedError) as exc:
        raise CorruptFileError(f"{path}: unreadable SVHN .mat file ({type(exc).__name__}: {exc}); delete it and "
                               "download it again (download=True)") from exc
    if X.ndim != 4 or X.shape[2] != 3 or X.shape[3] != len(y) or X.dtype != np.uint8:
        raise CorruptFileError(f"{path}: expected X uint8 H x W x 3 x N and N labels, got {X.dtype} {X.shape}, "
                               f"{y.shape}")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise CorruptFileError(f"{path}: SVHN labels must be 1..10, found {y.min()}..{y.max()}")
    y[y == 10] = 0
    return X.transpose(3, 2, 0, 1), y


def load_svhn(kind, paths, splits, **_):
    parts = [read_mat(paths[s]) for s in splits]
    X = u8_to_unit(np.concatenate([p[0] for p in parts]))
    meta = {"format": "svhn-mat", "files": paths_str(paths),
            "split_sizes": {s: len(p[1]) for s, p in zip(splits, parts)},
            "preprocessing": [TO_UNIT_STEP, {"step": "label_10_to_0"}]}
    return X, np.concatenate([p[1] for p in parts]), meta


SPECS = [
    DatasetSpec(
        "svhn", "svhn", {"train": 73257, "test": 26032}, (3, 32, 32), 10,
        (Layout("mat", tuple(Req(s, (f"{s}_32x32.mat",), s) for s in ("train", "test")),
                resources=tuple(Resource(f"{s}_32x32.mat", (f"{URL}{s}_32x32.mat",), "md5:" + MD5[s], s)
                                for s in ("train", "test"))),),
        load_svhn, folder_aliases=("SVHN",), description="Street View House Numbers, train + test"),
]
