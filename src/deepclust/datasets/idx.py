"""IDX files (MNIST, Fashion-MNIST), gzip-compressed or not.

Format: 2 zero bytes, a type code (0x08 = uint8, ...), the number of dimensions, then that many
big-endian uint32 sizes, then the data in C order. Compression is detected from the gzip magic, not the name.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import CorruptFileError
from .download import Resource
from .spec import TO_UNIT_STEP, DatasetSpec, Layout, Req, names_with_gz, paths_str, u8_to_unit

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FIX = "delete it and download it again (download=True)"


def read_bytes(path) -> bytes:
    """The file's bytes, gunzipped if it is gzip; CorruptFileError if the gzip stream is damaged."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise CorruptFileError(f"{path}: damaged or truncated gzip file ({exc}); {FIX}") from exc


def read_idx(path) -> np.ndarray:
    """Parse one IDX file into an array, validating magic number and size."""
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES or not 1 <= data[3] <= 4:
        raise CorruptFileError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'}; "
                               f"expected 0000 08 0N); {FIX}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptFileError(f"{path}: IDX header truncated; {FIX}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise CorruptFileError(f"{path}: IDX header says shape {shape} ({expected} bytes of data) but the "
                               f"file holds {len(data) - header} bytes (truncated or damaged); {FIX}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape)


def _read_pair(images_path, labels_path):
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise CorruptFileError(f"{images_path}: expected uint8 images N x H x W, got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise CorruptFileError(f"{labels_path}: {labels.shape} labels do not match {len(images)} images "
                               f"in {images_path}")
    if labels.size and labels.max() > 9:
        raise CorruptFileError(f"{labels_path}: labels must be 0..9, found {labels.max()}")
    return images, labels


def load_idx_dataset(kind, paths, splits, **_):
    """Read the splits' image/label IDX pairs (train first) into N x 1 x H x W float32 in [0, 1]."""
    xs, ys, sizes = [], [], {}
    for split in splits:
        images, labels = _read_pair(paths[f"{split}_images"], paths[f"{split}_labels"])
        xs.append(images)
        ys.append(labels)
        sizes[split] = len(images)
    X = np.concatenate(xs) if len(xs) > 1 else xs[0]
    y = np.concatenate(ys).astype(np.int64)
    meta = {"format": "idx", "files": paths_str(paths), "split_sizes": sizes, "preprocessing": [TO_UNIT_STEP]}
    return u8_to_unit(X)[:, None], y, meta


def _reqs():
    out = []
    for split, prefix in (("train", "train"), ("test", "t10k")):
        for part, code in (("images", "idx3"), ("labels", "idx1")):
            base = f"{prefix}-{part}-{code}-ubyte"
            out.append(Req(f"{split}_{part}", (*names_with_gz(base), f"{prefix}-{part}.{code}-ubyte"), split))
    return tuple(out)


def _resources(bases, checksums):
    files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    splits = ["train", "train", "test", "test"]
    return tuple(Resource(f, tuple(b + f for b in bases), c, s) for f, c, s in zip(files, checksums, splits))


# SHA-256 of the original MNIST .gz files (as published by mirrors and TFDS); md5 = torchvision's.
MNIST_RESOURCES = _resources(
    ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    ("sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
     "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
     "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
     "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"))
FASHION_RESOURCES = _resources(
    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ("md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d", "md5:25c81989df183df01b3e8a0aad5dffbe",
     "md5:bef4ecab320f06d8554ea6380940ec79", "md5:bb300cfdad3c16e7a12a480ee83cd310"))


def _layout(resources):
    return (Layout("idx", _reqs(), resources=resources),)


SPECS = [
    DatasetSpec("mnist", "mnist", {"train": 60000, "test": 10000}, (1, 28, 28), 10,
                _layout(MNIST_RESOURCES), load_idx_dataset, folder_aliases=("MNIST/raw",),
                description="MNIST handwritten digits, train + test"),
    DatasetSpec("mnist-test", "mnist", {"test": 10000}, (1, 28, 28), 10,
                _layout(MNIST_RESOURCES), load_idx_dataset, aliases=("mnisttest",), folder_aliases=("MNIST/raw",),
                description="MNIST test split only"),
    DatasetSpec("fashion-mnist", "fashion-mnist", {"train": 60000, "test": 10000}, (1, 28, 28), 10,
                _layout(FASHION_RESOURCES), load_idx_dataset,
                aliases=("fashion", "fmnist", "fashionmnist"),
                folder_aliases=("fashion_mnist", "FashionMNIST/raw"), root_ok=False,
                description="Zalando Fashion-MNIST, train + test"),
]
