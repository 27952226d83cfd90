"""Reuters-10k as preprocessed by DEC (Xie et al. 2016): `reutersidf10k.npy`, an `np.save`d dict with
'data' (10,000 x 2,000 tf-idf, scaled by sqrt(2000)) and 'label' (4 root categories CCAT, GCAT, MCAT, ECAT).
The pickle inside is read with a restricted unpickler (numpy arrays only). Vector data: image_shape is None.
"""
from __future__ import annotations

import numpy as np

from ..errors import CorruptFileError
from . import safepickle
from .spec import DatasetSpec, Layout, Req

HOW_TO_GET = ("it has no public download: build reutersidf10k.npy with DEC's make_reuters_data "
              "(github.com/XifengGuo/DEC-keras, datasets.py) from the RCV1-v2 token files, then")


def load_reuters(kind, paths, splits, **_):
    path = paths["npy"]
    obj = safepickle.load_npy_object(path)
    if not isinstance(obj, dict) or "data" not in obj or "label" not in obj:
        raise CorruptFileError(f"{path}: expected an np.save'd dict with keys 'data' and 'label'")
    X = np.asarray(obj["data"], dtype=np.float32)
    y = np.asarray(obj["label"]).astype(np.int64).ravel()
    X = X.reshape(len(X), -1)
    if len(y) != len(X):
        raise CorruptFileError(f"{path}: {len(y)} labels for {len(X)} samples")
    if y.size and (y.min() < 0 or y.max() > 3):
        raise CorruptFileError(f"{path}: labels must be 0..3, found {y.min()}..{y.max()}")
    meta = {"format": "dec-npy-dict", "files": {"npy": str(path)}, "preprocessing": []}
    return X, y, meta


SPECS = [
    DatasetSpec("reuters-10k", "reuters", {"all": 10000}, (2000,), 4,
                (Layout("npy", (Req("npy", ("reutersidf10k.npy",)),)),), load_reuters,
                aliases=("reuters10k", "reuters"), folder_aliases=("reuters-10k",), how_to_get=HOW_TO_GET,
                description="Reuters RCV1 10k subset, 2000-d tf-idf (DEC)"),
]
