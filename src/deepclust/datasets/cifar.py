"""CIFAR-10, python version: `cifar-10-python.tar.gz` (read in one streaming pass, nothing extracted)
or its extracted folder `cifar-10-batches-py/` (data_batch_1..5, test_batch).

Each batch is a pickled dict with 'data' (n x 3072 uint8, R then G then B planes, row-major) and
'labels'; it is read with a restricted unpickler that only rebuilds numpy arrays.
"""
from __future__ import annotations

import numpy as np

from ..errors import CorruptFileError
from . import safepickle
from .download import Resource
from .spec import TO_UNIT_STEP, DatasetSpec, Layout, Req, paths_str, read_tar_members, u8_to_unit

BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
FOLDER = "cifar-10-batches-py"


def parse_batch(data: bytes, source: str):
    batch = safepickle.loads(data, source)
    if not isinstance(batch, dict):
        raise CorruptFileError(f"{source}: expected a pickled dict, got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    try:
        X = np.asarray(batch["data"], dtype=np.uint8)
        y = np.asarray(batch.get("labels", batch.get("fine_labels")), dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"{source}: batch lacks 'data'/'labels'") from exc
    if X.ndim != 2 or X.shape[1] != 3072 or y.shape != (len(X),):
        raise CorruptFileError(f"{source}: expected data n x 3072 and n labels, got {X.shape}, {y.shape}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise CorruptFileError(f"{source}: labels must be 0..9")
    return X.reshape(-1, 3, 32, 32), y


def load_cifar(kind, paths, splits, **_):
    wanted = [b for s in splits for b in BATCHES[s]]
    if kind == "tar":
        raw = read_tar_members(paths["archive"], wanted)
        sources = {b: f"{paths['archive']}:{b}" for b in wanted}
    else:
        raw = {b: paths[b].read_bytes() for b in wanted}
        sources = {b: str(paths[b]) for b in wanted}
    parts = [parse_batch(raw[b], sources[b]) for b in wanted]
    sizes = {s: sum(len(parts[wanted.index(b)][1]) for b in BATCHES[s]) for s in splits}
    X = u8_to_unit(np.concatenate([p[0] for p in parts]))
    y = np.concatenate([p[1] for p in parts])
    meta = {"format": "cifar-python-" + kind, "files": paths_str(paths), "split_sizes": sizes,
            "preprocessing": [TO_UNIT_STEP],
            "class_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                            "truck"]}
    return X, y, meta


def _batch_reqs(prefix):
    return tuple(Req(b, (prefix + b,), s) for s, bs in BATCHES.items() for b in bs)


SPECS = [
    DatasetSpec(
        "cifar-10", "cifar-10", {"train": 50000, "test": 10000}, (3, 32, 32), 10,
        (Layout("tar", (Req("archive", ("cifar-10-python.tar.gz",)),),
                resources=(Resource("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                                    "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),)),
         Layout("folder", _batch_reqs(FOLDER + "/"),
                describe=f"{FOLDER}/ (folder with data_batch_1..data_batch_5, test_batch)"),
         Layout("bare", _batch_reqs(""), describe="data_batch_1..data_batch_5, test_batch")),
        load_cifar, aliases=("cifar10", "cifar"), folder_aliases=("cifar10",),
        description="CIFAR-10 natural images, train + test"),
]
