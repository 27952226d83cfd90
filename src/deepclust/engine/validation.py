"""Input checks shared by every estimator: clear messages instead of errors deep in PyTorch."""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidInputError


def to_numpy(X):
    """numpy view of X (numpy array, memmap, h5py dataset, torch tensor, list). Memmaps stay memmaps and
    h5py datasets stay on disk (they are streamed, never read whole)."""
    if isinstance(X, np.ndarray):
        return X
    try:
        import torch
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu()
            if X.dtype == torch.bfloat16:  # numpy has no bfloat16
                X = X.float()
            return X.numpy()
    except ImportError:  # pragma: no cover
        pass
    if hasattr(X, "tocsr") and hasattr(X, "toarray"):  # scipy.sparse
        raise InvalidInputError("X is a sparse matrix; deepclust needs a dense array: pass X.toarray() "
                                "(or a np.memmap / HDF5 dataset if it does not fit in memory)")
    if hasattr(X, "shape") and hasattr(X, "dtype") and hasattr(X, "__getitem__"):  # h5py.Dataset, LazyRows
        return X
    try:
        return np.asarray(X)
    except Exception as e:  # ragged lists, strings...
        raise InvalidInputError(f"X could not be read as a numeric array ({e})") from None


def check_finite_chunks(X, chunk: int | None = None, name: str = "X"):
    """Raise if X has NaN/inf; works chunk-wise (about data.CHUNK_BYTES at a time) so memmaps and HDF5 datasets are
    never loaded whole, and releases the memmap's pages after each chunk."""
    from .data import FileRows, chunk_rows, release_pages
    if not np.issubdtype(np.dtype(X.dtype), np.floating):
        return  # integers and booleans are always finite
    n = X.shape[0]
    chunk = chunk or chunk_rows(X)
    reader = FileRows.of(X)  # read-only memmap: pread, so file pages never enter the resident set
    bad, first = 0, None
    for s in range(0, n, chunk):
        part = reader.slice(s, min(s + chunk, n)) if reader is not None else np.asarray(X[s:s + chunk])
        flat = part.reshape(part.shape[0], -1)
        mask = ~np.isfinite(flat).all(axis=1)
        if flat.dtype.itemsize > 4:  # float64 beyond float32's range becomes inf when batches are converted
            with np.errstate(invalid="ignore"):
                mask |= (np.abs(flat) > np.finfo(np.float32).max).any(axis=1)
        if mask.any():
            bad += int(mask.sum())
            if first is None:
                first = s + int(np.flatnonzero(mask)[0])
        del part
        release_pages(X)
    if bad:
        raise InvalidInputError(
            f"{name} contains NaN or infinite values (or values too large for float32) in {bad} sample(s) "
            f"(first at row {first}); remove, impute or rescale them before clustering")


def _check_dtype(dtype, name):
    dtype = np.dtype(dtype)
    if dtype == object or dtype.fields is not None:
        raise InvalidInputError(f"{name} must be a numeric array, got dtype {dtype} (objects/records); "
                                "convert it with np.asarray(X, dtype=np.float32) first")
    if np.issubdtype(dtype, np.complexfloating):
        raise InvalidInputError(f"{name} must be real-valued, got complex dtype {dtype}; pass X.real / abs(X)")
    if not (np.issubdtype(dtype, np.number) or dtype == bool):
        raise InvalidInputError(f"{name} must be numeric, got dtype {dtype}")


def check_X(X, *, min_samples: int = 2, ndim: tuple = (2, 4), allow_memmap: bool = True,
            name: str = "X"):
    """Validate a data array and return it as numpy (float32 unless it is a memmap/h5 dataset).

    Accepts N x D vectors or N x C x H x W images (N x H x W is read as one channel). Memmaps, HDF5
    datasets and other on-disk array-likes are checked chunk by chunk and returned as they are (streamed
    later by engine.data.DataSource), so an input larger than RAM is never loaded whole."""
    from .data import LazyRows
    X = to_numpy(X)
    _check_dtype(X.dtype, name)
    if X.ndim == 3:
        if isinstance(X, np.ndarray):
            X = X.reshape(X.shape[0], 1, X.shape[1], X.shape[2])
        else:
            X = LazyRows(X, (1, int(X.shape[1]), int(X.shape[2])))
    if X.ndim not in (2, 4):
        raise InvalidInputError(
            f"{name} must be 2-D (n_samples, n_features) or 4-D (n, C, H, W); got shape {tuple(X.shape)}")
    if X.shape[0] == 0 or int(np.prod(X.shape[1:])) == 0:
        raise InvalidInputError(f"{name} is empty (shape {tuple(X.shape)}); pass at least {min_samples} samples")
    if X.shape[0] < min_samples:
        raise InvalidInputError(f"{name} has {X.shape[0]} sample(s); this method needs at least {min_samples}")
    in_memory = isinstance(X, np.ndarray) and not isinstance(X, np.memmap)
    if in_memory:
        if np.issubdtype(X.dtype, np.floating) and X.dtype != np.float32:
            _raise_nonfinite(X, name)  # NaN/inf in the original values: report them as such
        if X.dtype != np.float32:
            with np.errstate(over="ignore"):
                X = X.astype(np.float32)
        _raise_nonfinite(X, name, overflow=True)
    elif not allow_memmap:
        check_finite_chunks(X, name=name)
        X = np.asarray(X[:], dtype=np.float32)
        _raise_nonfinite(X, name, overflow=True)
    else:
        check_finite_chunks(X, name=name)
    return X


def _raise_nonfinite(X, name, overflow: bool = False):
    flat = X.reshape(len(X), -1)
    if np.isfinite(flat).all():
        return
    rows = np.flatnonzero(~np.isfinite(flat).all(axis=1))
    if overflow:
        raise InvalidInputError(
            f"{name} contains NaN or infinite values, or values too large for float32 (|x| > 3.4e38), in "
            f"{rows.size} sample(s) (first at row {rows[0]}); remove, impute or rescale them before clustering")
    raise InvalidInputError(
        f"{name} contains NaN or infinite values in {rows.size} sample(s) (first at row {rows[0]}); "
        "remove or impute them before clustering")


def check_n_clusters(n_clusters, n_samples: int | None):
    """n_clusters an integer in [2, n_samples] (n_samples None: only the lower bound)."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)):
        raise InvalidInputError(f"n_clusters must be an integer, got {n_clusters!r}")
    if n_clusters < 2:
        raise InvalidInputError(f"n_clusters must be at least 2, got {n_clusters}")
    if n_samples is not None and n_clusters > n_samples:
        raise InvalidInputError(
            f"n_clusters={n_clusters} is larger than the number of samples ({n_samples}); "
            "lower n_clusters or pass more data")
    return int(n_clusters)


def check_y(y, n_samples: int):
    """Optional monitoring labels: same length as X, integer-like."""
    if y is None:
        return None
    y = to_numpy(y)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise InvalidInputError(f"y must be 1-D (one label per sample), got shape {y.shape}")
    if y.dtype == object or not (np.issubdtype(y.dtype, np.number) or y.dtype == bool
                                 or np.issubdtype(y.dtype, np.str_)):
        raise InvalidInputError(f"y must hold integer or string labels, got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        raise InvalidInputError("y contains NaN or infinite labels; y (used only to monitor ACC/NMI) must "
                                "have one valid label per sample, or pass y=None")
    if y.shape[0] != n_samples:
        raise InvalidInputError(f"y has {y.shape[0]} labels but X has {n_samples} samples; "
                                "y (used only to monitor ACC/NMI) must have one label per sample")
    return y


def image_shape_of(X, image_shape=None, *, method: str = "this method"):
    """(C, H, W) for a conv network: from 4-D X, an explicit image_shape, or a square 2-D X."""
    if X.ndim == 4:
        shape = tuple(int(s) for s in X.shape[1:])
        if image_shape is not None and tuple(image_shape) != shape:
            raise InvalidInputError(f"image_shape={tuple(image_shape)} does not match X of shape {X.shape}")
        return shape
    d = int(X.shape[1])
    if image_shape is not None:
        if int(np.prod(image_shape)) != d:
            raise InvalidInputError(
                f"image_shape={tuple(image_shape)} has {int(np.prod(image_shape))} values but X has {d} features")
        return tuple(int(s) for s in image_shape)
    side = math.isqrt(d)
    if side * side == d:
        return (1, side, side)
    raise InvalidInputError(
        f"{method} uses a convolutional network and needs images: pass X as (n, C, H, W) or set "
        f"image_shape=(C, H, W); got X of shape {X.shape} ({d} features is not a square image)")
