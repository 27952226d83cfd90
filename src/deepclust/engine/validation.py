"""Input checks shared by every estimator: clear messages instead of errors deep in PyTorch."""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidInputError


def to_numpy(X):
    """numpy view of X (numpy array, memmap, h5py dataset, torch tensor, list). Memmaps stay memmaps."""
    if isinstance(X, np.ndarray):
        return X
    try:
        import torch
        if isinstance(X, torch.Tensor):
            return X.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    if hasattr(X, "shape") and hasattr(X, "dtype") and hasattr(X, "__getitem__"):  # h5py.Dataset
        return X
    try:
        return np.asarray(X)
    except Exception as e:  # ragged lists, strings...
        raise InvalidInputError(f"X could not be read as a numeric array ({e})") from None


def check_finite_chunks(X, chunk: int = 65536):
    """Raise if X has NaN/inf; works chunk-wise so memmaps are never loaded whole."""
    n = X.shape[0]
    bad, first = 0, None
    for s in range(0, n, chunk):
        part = np.asarray(X[s:s + chunk], dtype=np.float64 if X.dtype == np.float64 else np.float32)
        mask = ~np.isfinite(part.reshape(part.shape[0], -1)).all(axis=1)
        if mask.any():
            bad += int(mask.sum())
            if first is None:
                first = s + int(np.flatnonzero(mask)[0])
    if bad:
        raise InvalidInputError(
            f"X contains NaN or infinite values in {bad} sample(s) (first at row {first}); "
            "remove or impute them before clustering")


def check_X(X, *, min_samples: int = 2, ndim: tuple = (2, 4), allow_memmap: bool = True,
            name: str = "X"):
    """Validate a data array and return it as numpy (float32 unless it is a memmap/h5 dataset).

    Accepts N x D vectors or N x C x H x W images (N x H x W is read as one channel)."""
    X = to_numpy(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise InvalidInputError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.ndim == 3:
        X = X.reshape(X.shape[0], 1, X.shape[1], X.shape[2])
    if X.ndim not in ndim and not (X.ndim == 2 or X.ndim == 4):
        raise InvalidInputError(
            f"{name} must be 2-D (n_samples, n_features) or 4-D (n, C, H, W); got shape {X.shape}")
    if X.ndim not in (2, 4):
        raise InvalidInputError(
            f"{name} must be 2-D (n_samples, n_features) or 4-D (n, C, H, W); got shape {X.shape}")
    if X.shape[0] == 0 or int(np.prod(X.shape[1:])) == 0:
        raise InvalidInputError(f"{name} is empty (shape {X.shape}); pass at least {min_samples} samples")
    if X.shape[0] < min_samples:
        raise InvalidInputError(f"{name} has {X.shape[0]} sample(s); this method needs at least {min_samples}")
    in_memory = isinstance(X, np.ndarray) and not isinstance(X, np.memmap)
    if in_memory:
        if X.dtype != np.float32:
            X = X.astype(np.float32)
        if not np.isfinite(X).all():
            rows = np.flatnonzero(~np.isfinite(X.reshape(len(X), -1)).all(axis=1))
            raise InvalidInputError(
                f"{name} contains NaN or infinite values in {rows.size} sample(s) (first at row {rows[0]}); "
                "remove or impute them before clustering")
    elif not allow_memmap:
        X = np.asarray(X, dtype=np.float32)
    else:
        check_finite_chunks(X)
    return X


def check_n_clusters(n_clusters, n_samples: int):
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)):
        raise InvalidInputError(f"n_clusters must be an integer, got {n_clusters!r}")
    if n_clusters < 2:
        raise InvalidInputError(f"n_clusters must be at least 2, got {n_clusters}")
    if n_clusters > n_samples:
        raise InvalidInputError(
            f"n_clusters={n_clusters} is larger than the number of samples ({n_samples}); "
            "lower n_clusters or pass more data")
    return int(n_clusters)


def check_y(y, n_samples: int):
    """Optional monitoring labels: same length as X, integer-like."""
    if y is None:
        return None
    y = np.asarray(to_numpy(y)).ravel()
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
