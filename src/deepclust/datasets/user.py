"""User data files: `.npy`, `.npz`, `.csv`/`.tsv`/`.txt`, `.h5`/`.hdf5`, and folders of images.

Array shapes are read as: 2-D (N, D) vectors (or images if `image_shape=(C, H, W)` is given);
3-D (N, H, W) grey images -> (N, 1, H, W); 4-D arrays are images, taken as channels-first (N, C, H, W)
when shape[1] is 1 or 3, else as channels-last (N, H, W, C) when shape[3] is 1 or 3 (transposed to NCHW).
uint8 data are divided by 255 ([0, 1]); other dtypes are cast to float32 unchanged.
With `mmap=True` (.npy only) X is a read-only `np.memmap` of the file, kept in its own dtype and range
(no float32 conversion, no /255); NaN/inf are still checked, in chunks.
Labels of any type (ints, strings) are mapped to 0..k-1 in sorted order; `meta["label_names"]` keeps them.
CSV files: a header column named label / labels / class / y / target is taken as the labels (with a
warning; `label_column=None` reads every column as a feature). Image folders: `meta["sample_files"]` lists
each sample's file (relative to the folder); an unreadable file is an error naming it, or is skipped with
`skip_unreadable=True` (`meta["skipped_files"]`).
"""
from __future__ import annotations

import csv
import io
import logging
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, DatasetNotFoundError, DeepclustError, InvalidInputError
from . import safepickle
from .dataset import Dataset
from .preprocess import value_range
from .spec import require_pillow

X_KEYS = ("X", "data", "x", "features", "images")
Y_KEYS = ("y", "labels", "label", "target", "targets")
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".webp"}
SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".txt", ".h5", ".hdf5")
GREY_MODES = {"L", "1", "LA", "I", "I;16", "F"}
LABEL_NAMES = ("label", "labels", "class", "y", "target")  # CSV header names read as labels (label_column="auto")
log = logging.getLogger("deepclust")


def is_user_path(name) -> bool:
    """True if `name` names an existing file or folder, or looks like a data file path."""
    p = Path(str(name)).expanduser()
    return p.exists() or p.suffix.lower() in SUFFIXES or "/" in str(name) or "\\" in str(name)


def _pick(keys, wanted, source, what, explicit=None):
    if explicit is not None:
        if explicit not in keys:
            raise InvalidInputError(f"{source}: no key {explicit!r}; available keys: {sorted(keys)}")
        return explicit
    for k in wanted:
        if k in keys:
            return k
    if what == "X":
        raise InvalidInputError(f"{source}: none of the keys {list(wanted)} found (available: {sorted(keys)}); "
                                "pass key='...' to choose the data array")
    return None


def _read_npy(path, key, label_key, allow_pickle, mmap):
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False), None
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise InvalidInputError(f"{path}: unreadable .npy file ({exc})") from exc
    if not allow_pickle:
        raise InvalidInputError(f"{path} holds a pickled object (e.g. a dict saved with np.save); pass "
                                "allow_pickle=True to read its 'data'/'X' and 'label'/'y' entries if you trust it")
    obj = safepickle.load_npy_object(path)
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{path}: pickled {type(obj).__name__}, expected a dict of arrays")
    xk = _pick(obj, X_KEYS, path, "X", key)
    yk = _pick(obj, Y_KEYS, path, "y", label_key)
    return np.asarray(obj[xk]), (None if yk is None else np.asarray(obj[yk]))


def _read_npz(path, key, label_key):
    with np.load(path, allow_pickle=False) as z:
        xk = _pick(z.files, X_KEYS, path, "X", key)
        yk = _pick(z.files, Y_KEYS, path, "y", label_key)
        return z[xk], (None if yk is None else z[yk])


def _read_h5(path, key, label_key):
    import h5py

    with h5py.File(path, "r") as f:
        top = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
        for k in (key, label_key):
            if k is not None and not isinstance(f.get(k), h5py.Dataset):
                raise InvalidInputError(f"{path}: no dataset {k!r}; datasets at the top level: {top}")
        xk = key or _pick(top, X_KEYS, path, "X")
        yk = label_key or _pick(top, Y_KEYS, path, "y")
        return f[xk][()], (None if yk is None else f[yk][()])


# What the readers (numpy, zipfile, csv, h5py) raise on a truncated, empty or corrupted file.
READER_ERRORS = (OSError, EOFError, ValueError, RuntimeError, KeyError, TypeError, zipfile.BadZipFile,
                 zlib.error, struct.error)
FIX_HINT = {"npy": "re-save it with np.save", "npz": "re-save it with np.savez",
            "csv": "check it is a text file of numbers (one sample per line) or re-export it",
            "hdf5": "re-save it with h5py (h5py.File(path, 'w')['X'] = X)"}


def _read(fmt, path, reader, *args):
    """Call a format reader; its low-level errors on a corrupted file become a CorruptFileError that names
    the file and format (deepclust errors and permission errors pass through unchanged)."""
    try:
        return reader(path, *args)
    except (DeepclustError, PermissionError):
        raise
    except READER_ERRORS as e:
        raise CorruptFileError(f"{path}: unreadable {fmt} file ({type(e).__name__}: {e}); it is empty, truncated "
                               f"or corrupted: {FIX_HINT[fmt]}, or check that its extension matches its "
                               "content") from e


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _read_csv(path, label_column, meta):
    with open(path, newline="") as f:
        first = f.readline()
    if not first.strip():
        raise InvalidInputError(f"{path}: empty file")
    delim = "\t" if path.suffix.lower() == ".tsv" else next((d for d in ",\t;" if d in first), None)
    tokens = next(csv.reader(io.StringIO(first), delimiter=delim)) if delim else first.split()
    tokens = [t.strip() for t in tokens]
    has_header = not all(_is_number(t) for t in tokens)
    if isinstance(label_column, str) and label_column.lower() == "auto":
        named = [t for t in tokens if t.lower() in LABEL_NAMES] if has_header else []
        if len(named) > 1:
            raise InvalidInputError(f"{path}: several columns look like labels ({', '.join(named)}); choose one with "
                                    "label_column='NAME' (--label-column NAME), or label_column=None to read them all "
                                    "as features")
        label_column = named[0] if named else None
        if named:
            meta["label_column"] = named[0]
            log.warning("%s: column %r is read as the labels (used only to score the clustering, never to fit); "
                        "pass label_column=None (--label-column none) to read it as a feature", path, named[0])
    elif label_column is not None:
        meta["label_column"] = label_column
    if isinstance(label_column, str):
        if label_column not in tokens:
            raise InvalidInputError(f"{path}: no column named {label_column!r} in header {tokens}")
        lab, header = tokens.index(label_column), True
    else:
        lab = None if label_column is None else int(label_column) % len(tokens)
        header = not all(_is_number(t) for i, t in enumerate(tokens) if i != lab)
    cols = [i for i in range(len(tokens)) if i != lab]
    kw = dict(delimiter=delim, skiprows=int(header), ndmin=2, quotechar='"')
    try:
        X = np.loadtxt(path, dtype=np.float32, usecols=cols, **kw)
        y = None if lab is None else np.loadtxt(path, dtype=str, usecols=[lab], **kw)[:, 0]
    except ValueError as exc:
        raise InvalidInputError(f"{path}: non-numeric or missing value ({exc}); every column except the label "
                                "column must be numbers (write NaN explicitly, or fix the file)") from exc
    if y is not None and all(_is_number(v) for v in y):
        y = y.astype(np.float64)
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
    return X, y


def _read_image_folder(folder: Path, image_size=None, skip_unreadable=False, meta=None):
    Image = require_pillow()
    is_img = lambda p: p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    classes = [(d.name, sorted(filter(is_img, d.iterdir()))) for d in subdirs]
    classes = [(n, fs) for n, fs in classes if fs]
    root_files = sorted(filter(is_img, folder.iterdir()))
    if classes and root_files:
        raise InvalidInputError(f"{folder}: has both images and class subfolders; put every image in a class "
                                "subfolder (labelled) or all of them directly in the folder (unlabelled)")
    files = [f for _, fs in classes for f in fs] if classes else root_files
    if not files:
        raise InvalidInputError(f"{folder}: no images ({', '.join(sorted(IMAGE_EXTS))}) found")
    arrays, kept, skipped = [], [], []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("L" if im.mode in GREY_MODES else "RGB")
                if image_size is not None:
                    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
                    im = im.resize((w, h), Image.BILINEAR)
                a = np.asarray(im)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            if not skip_unreadable:
                raise CorruptFileError(f"{f}: unreadable image ({type(e).__name__}: {e}); remove or re-save it, or "
                                       "skip unreadable files (skip_unreadable=True, --skip-unreadable)") from None
            skipped.append(f)
            continue
        arrays.append(a)
        kept.append(f)
        if arrays[-1].shape[:2] != arrays[0].shape[:2]:
            raise InvalidInputError(f"{f}: size {arrays[-1].shape[:2]} differs from {kept[0]} "
                                    f"{arrays[0].shape[:2]}; resize on load with image_size=(H, W) "
                                    "(--image-size H W)")
    if skipped:
        log.warning("%s: skipped %d unreadable image(s): %s%s", folder, len(skipped),
                    ", ".join(f.name for f in skipped[:5]), " ..." if len(skipped) > 5 else "")
        if meta is not None:
            meta["skipped_files"] = [str(f.relative_to(folder)) for f in skipped]
    if not arrays:
        raise InvalidInputError(f"{folder}: none of its {len(files)} images could be read")
    if meta is not None:
        meta["sample_files"] = [str(f.relative_to(folder)) for f in kept]
    files = kept
    if any(a.ndim == 3 for a in arrays):
        arrays = [a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2) for a in arrays]
        X = np.stack(arrays).transpose(0, 3, 1, 2)
    else:
        X = np.stack(arrays)[:, None]
    y = np.array([f.parent.name for f in kept]) if classes else None
    return np.ascontiguousarray(X), y


def _as_samples(X, image_shape, source):
    """(X reshaped to N x D or N x C x H x W, image_shape or None, note)."""
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        shape = (1, *shape) if len(shape) == 2 else shape
        if len(shape) != 3 or int(np.prod(shape)) != int(np.prod(X.shape[1:])):
            raise InvalidInputError(f"{source}: image_shape {image_shape} does not fit samples of shape "
                                    f"{tuple(X.shape[1:])}")
        if X.ndim == 4 and X.shape[1:] == (shape[1], shape[2], shape[0]) and X.shape[1:] != shape:
            return X.transpose(0, 3, 1, 2), shape, "channels-last -> NCHW"
        return X.reshape(len(X), *shape), shape, f"reshaped to {shape}"
    if X.ndim == 2:
        return X, None, None
    if X.ndim == 3:
        return X[:, None], (1, *X.shape[1:]), "(N, H, W) -> (N, 1, H, W)"
    if X.ndim == 4:
        if X.shape[1] in (1, 3):
            return X, tuple(X.shape[1:]), None
        if X.shape[3] in (1, 3):
            return X.transpose(0, 3, 1, 2), (X.shape[3], *X.shape[1:3]), "channels-last -> NCHW"
    raise InvalidInputError(f"{source}: cannot read an array of shape {tuple(X.shape)} as samples; expected "
                            "(N, D), (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3}; pass "
                            "image_shape=(C, H, W) or reshape it")


def check_finite(X, source):
    """InvalidInputError saying how many NaN/inf values there are and in which rows (chunked for memmaps)."""
    if not np.issubdtype(X.dtype, np.floating):
        return
    n_nan = n_inf = 0
    rows = []
    for i in range(0, len(X), 65536):
        block = np.asarray(X[i:i + 65536]).reshape(min(65536, len(X) - i), -1)
        nan, inf = np.isnan(block), np.isinf(block)
        n_nan, n_inf = n_nan + int(nan.sum()), n_inf + int(inf.sum())
        rows.extend((np.flatnonzero((nan | inf).any(axis=1)) + i).tolist())
    if rows:
        raise InvalidInputError(
            f"{source}: X contains {n_nan} NaN and {n_inf} inf values in {len(rows)} samples (rows "
            f"{', '.join(map(str, rows[:10]))}{' ...' if len(rows) > 10 else ''}); remove or impute them first, "
            "e.g. X = X[np.isfinite(X).reshape(len(X), -1).all(axis=1)]")


def _load_labels(labels, source):
    if isinstance(labels, (str, Path)):
        p = Path(labels).expanduser()
        if not p.is_file():
            raise DatasetNotFoundError(f"labels file {p} not found")
        if p.suffix.lower() == ".npy":
            return np.load(p, allow_pickle=False)
        return np.loadtxt(p, dtype=str, delimiter=",", ndmin=1)
    return np.asarray(labels)


def encode_labels(y, n, source):
    """Map labels of any type to int64 0..k-1 (sorted unique values); return (codes, names)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise InvalidInputError(f"{source}: labels must be 1-D, got shape {y.shape}")
    if len(y) != n:
        raise InvalidInputError(f"{source}: {len(y)} labels for {n} samples; pass exactly one label per sample")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise InvalidInputError(f"{source}: labels contain {int((~np.isfinite(y)).sum())} NaN/inf values")
    names, codes = np.unique(y, return_inverse=True)
    return codes.astype(np.int64), [v.item() if hasattr(v, "item") else v for v in names]


def load_array(path, labels=None, image_shape=None, *, key=None, label_key=None, label_column="auto",
               allow_pickle=False, mmap=False, image_size=None, name=None, skip_unreadable=False) -> Dataset:
    """Load user data into a Dataset (see the module docstring for the shape rules).

    path: a .npy/.npz/.csv/.tsv/.txt/.h5/.hdf5 file, a folder of images (one subfolder per class gives
    labels, a flat folder none), or an array. labels: array-like or a .npy/.txt/.csv file (one per line);
    it overrides labels found in the file. key / label_key choose arrays in .npz/.h5/pickled-dict files;
    label_column (name or index) picks the label column of a CSV (header auto-detected); "auto" (default)
    takes a header column named label/labels/class/y/target, None reads every column as a feature.
    allow_pickle: read .npy files that hold a pickled dict (numpy arrays only are rebuilt).
    mmap: open a .npy with mmap_mode='r' (X stays a memmap in the file's dtype). image_size: resize
    images of a folder to (H, W) while decoding (needed when their sizes differ). skip_unreadable: skip
    image files that cannot be decoded (listed in meta["skipped_files"]) instead of failing.
    """
    found: dict = {}
    if isinstance(path, np.ndarray):
        X, y_file, source = path, None, "array"
        meta = {"format": "array"}
    else:
        p = Path(path).expanduser()
        source = str(p)
        if not p.exists():
            raise DatasetNotFoundError(f"{p}: no such file or folder (user data: pass an existing "
                                       f".npy/.npz/.csv/.h5 file or image folder)")
        suffix = p.suffix.lower()
        if mmap and suffix != ".npy":
            raise InvalidInputError(f"{p}: mmap=True works only for .npy files")
        if p.is_dir():
            X, y_file = _read_image_folder(p, image_size, skip_unreadable, found)
            fmt = "image-folder"
        elif suffix == ".npy":
            X, y_file = _read("npy", p, _read_npy, key, label_key, allow_pickle, mmap)
            fmt = "npy"
        elif suffix == ".npz":
            X, y_file = _read("npz", p, _read_npz, key, label_key)
            fmt = "npz"
        elif suffix in (".csv", ".tsv", ".txt"):
            X, y_file = _read("csv", p, _read_csv, label_column, found)
            fmt = "csv"
        elif suffix in (".h5", ".hdf5"):
            X, y_file = _read("hdf5", p, _read_h5, key, label_key)
            fmt = "hdf5"
        else:
            raise InvalidInputError(f"{p}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)} "
                                    "or a folder of images")
        meta = {"format": fmt, "files": {"data": source}, **found}
    if X.ndim == 0 or len(X) == 0 or X.size == 0:
        raise InvalidInputError(f"{source}: no data (shape {tuple(X.shape)}); the dataset is empty")
    if X.dtype.kind not in "fiub":
        raise InvalidInputError(f"{source}: data must be numeric, got dtype {X.dtype}")
    X, shape, note = _as_samples(X, image_shape, source)
    steps = [] if note is None else [{"step": "reshape", "how": note}]
    if not mmap:
        if X.dtype == np.uint8:
            X = np.multiply(X, np.float32(1 / 255), dtype=np.float32)
            steps.append({"step": "to_float32", "divide_by": 255})
        else:
            X = np.ascontiguousarray(X, dtype=np.float32)
    check_finite(X, source)
    if labels is not None:
        y_file = _load_labels(labels, source)
        meta["files"] = {**meta.get("files", {}), "labels": str(labels) if isinstance(labels, (str, Path)) else "array"}
    y, names = (None, None) if y_file is None else encode_labels(y_file, len(X), source)
    meta.update({"preprocessing": steps, "mmap": bool(mmap), "value_range": value_range(X)})
    if names is not None:
        meta["label_names"] = names
    default_name = "array" if isinstance(path, np.ndarray) else Path(path).stem or Path(path).name
    return Dataset(X, y, name or default_name, None if y is None else len(names), shape, meta)
