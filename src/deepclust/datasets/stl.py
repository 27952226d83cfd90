"""STL-10 labelled images (5,000 train + 8,000 test, 96 x 96 x 3), binary version.

Files `train_X.bin`, `train_y.bin`, `test_X.bin`, `test_y.bin` in `stl10_binary.tar.gz` (read in one
streaming pass; the unlabelled 100k images are skipped, but a .tar.gz must still be decompressed up to
the last needed member, so extracting `stl10_binary/` once makes later loads faster) or in the folder.
X is uint8, each image stored column-major: read as N x 3 x 96 x 96 and swap the last two axes.
Labels are 1..10, mapped to 0..9.
"""
from __future__ import annotations

import numpy as np

from ..errors import CorruptFileError
from .download import Resource
from .spec import TO_UNIT_STEP, DatasetSpec, Layout, Req, paths_str, read_tar_members, u8_to_unit

FOLDER = "stl10_binary"
IMAGE_BYTES = 3 * 96 * 96
CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def parse(x_bytes: bytes, y_bytes: bytes, source: str):
    if len(x_bytes) % IMAGE_BYTES:
        raise CorruptFileError(f"{source}_X.bin: {len(x_bytes)} bytes is not a whole number of 96x96x3 images "
                               "(truncated?); delete it and download it again (download=True)")
    X = np.frombuffer(x_bytes, np.uint8).reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)
    y = np.frombuffer(y_bytes, np.uint8).astype(np.int64) - 1
    if len(y) != len(X):
        raise CorruptFileError(f"{source}_y.bin: {len(y)} labels for {len(X)} images in {source}_X.bin")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise CorruptFileError(f"{source}_y.bin: labels must be 1..10")
    return X, y


def load_stl(kind, paths, splits, **_):
    names = [f"{s}_{p}.bin" for s in splits for p in ("X", "y")]
    if kind == "tar":
        raw = read_tar_members(paths["archive"], names)
        prefix = f"{paths['archive']}:{FOLDER}/"
    else:
        raw = {n: paths[n[:-4]].read_bytes() for n in names}
        prefix = str(paths[f"{splits[0]}_X"].parent) + "/"
    parts = [parse(raw[f"{s}_X.bin"], raw[f"{s}_y.bin"], prefix + s) for s in splits]
    X = u8_to_unit(np.concatenate([p[0] for p in parts]))
    meta = {"format": "stl10-binary-" + kind, "files": paths_str(paths),
            "split_sizes": {s: len(p[1]) for s, p in zip(splits, parts)},
            "preprocessing": [TO_UNIT_STEP], "class_names": CLASSES}
    return X, np.concatenate([p[1] for p in parts]), meta


def _reqs(prefix):
    return tuple(Req(f"{s}_{p}", (f"{prefix}{s}_{p}.bin",), s) for s in ("train", "test") for p in ("X", "y"))


SPECS = [
    DatasetSpec(
        "stl-10", "stl-10", {"train": 5000, "test": 8000}, (3, 96, 96), 10,
        (Layout("tar", (Req("archive", ("stl10_binary.tar.gz",)),),
                resources=(Resource("stl10_binary.tar.gz", ("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",),
                                    "md5:91f7769df0f17e558f3565bffb0c7dfb"),)),
         Layout("folder", _reqs(FOLDER + "/")),
         Layout("bare", _reqs(""))),
        load_stl, aliases=("stl10", "stl"), folder_aliases=("stl10",),
        description="STL-10 labelled images, train + test"),
]
