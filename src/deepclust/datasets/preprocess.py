"""Preprocessing applied by `load_dataset`, in this order: subset -> resize -> scale -> flatten.
Every step applied is appended to `meta["preprocessing"]`."""
from __future__ import annotations

import copy

import numpy as np

from ..errors import InvalidInputError
from .dataset import Dataset

SCALES = ("minus1-1", "minus05-05", "standard", "minmax")
RESIZE_METHODS = ("bilinear", "area", "nearest")
CHUNK = 8192


def parse_size(resize) -> tuple[int, int]:
    size = (resize, resize) if isinstance(resize, (int, np.integer)) else tuple(resize)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
        raise InvalidInputError(f"resize must be a positive int or (height, width), got {resize!r}")
    return int(size[0]), int(size[1])


def resize_images(X: np.ndarray, size, method: str = "bilinear") -> np.ndarray:
    """Resize N x C x H x W images to `size`; batched with torch.nn.functional.interpolate.

    "bilinear" uses antialias=True (a proper low-pass filter when shrinking, plain bilinear when
    enlarging; values stay within the input range); "area" averages blocks (2x2 pooling for 28 -> 14);
    "nearest" uses nearest-exact. Deterministic. Without torch, scipy.ndimage.zoom (linear) is used.
    """
    if method not in RESIZE_METHODS:
        raise InvalidInputError(f"resize_method must be one of {RESIZE_METHODS}, got {method!r}")
    h, w = parse_size(size)
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        from scipy.ndimage import zoom

        factors = (1, 1, h / X.shape[2], w / X.shape[3])
        return zoom(np.asarray(X, np.float32), factors, order=0 if method == "nearest" else 1,
                    grid_mode=True, mode="nearest").astype(np.float32)
    out = np.empty((len(X), X.shape[1], h, w), np.float32)
    kw = {"bilinear": dict(mode="bilinear", align_corners=False, antialias=True),
          "area": dict(mode="area"), "nearest": dict(mode="nearest-exact")}[method]
    with torch.no_grad():
        for i in range(0, len(X), CHUNK):
            batch = torch.from_numpy(np.ascontiguousarray(X[i:i + CHUNK], dtype=np.float32))
            out[i:i + CHUNK] = F.interpolate(batch, size=(h, w), **kw).numpy()
    return out


def scale_features(X: np.ndarray, how: str) -> np.ndarray:
    """"minus1-1": [0, 1] -> [-1, 1]; "minus05-05": [0, 1] -> [-0.5, 0.5] (x - 0.5: the USPS range of the
    DCEC/DEC reference loaders, which halve the [-1, 1] .jf files); "standard": per-feature z-score;
    "minmax": per-feature to [0, 1].

    Per feature means per column of the flattened N x D data (per pixel position for images).
    Constant features become 0. Returns a new float32 array of X's shape.
    """
    if how not in SCALES:
        raise InvalidInputError(f"scale must be None or one of {SCALES}, got {how!r}")
    flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    if how in ("minus1-1", "minus05-05"):
        lo, hi = float(flat.min()), float(flat.max())
        target = "[-1, 1]" if how == "minus1-1" else "[-0.5, 0.5]"
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise InvalidInputError(f"scale={how!r} maps [0, 1] to {target} but the data lie in [{lo:.3g}, "
                                    f"{hi:.3g}]; use scale='minmax' or 'standard' instead")
        out = flat * np.float32(2) - np.float32(1) if how == "minus1-1" else flat - np.float32(0.5)
    elif how == "standard":
        mean = flat.mean(axis=0, dtype=np.float64)
        std = flat.std(axis=0, dtype=np.float64)
        std[std == 0] = 1
        out = ((flat - mean.astype(np.float32)) / std.astype(np.float32))
    else:
        lo, hi = flat.min(axis=0), flat.max(axis=0)
        span = hi - lo
        span[span == 0] = 1
        out = (flat - lo) / span
    return out.astype(np.float32, copy=False).reshape(X.shape)


def subset_indices(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a uniform random subset: np.sort(default_rng(seed).choice(n_total, n, replace=False))."""
    if not isinstance(n, (int, np.integer)) or not 0 < n <= n_total:
        raise InvalidInputError(f"subset must be an int in 1..{n_total} (the dataset size), got {n!r}")
    return np.sort(np.random.default_rng(seed).choice(n_total, size=int(n), replace=False))


def value_range(X):
    if isinstance(X, np.memmap) or X.size == 0:
        return None
    return [float(X.min()), float(X.max())]


def apply(ds: Dataset, *, flatten=False, resize=None, scale=None, subset=None, seed=0,
          resize_method="bilinear") -> Dataset:
    """Return a new Dataset with the requested steps applied (ds is left unchanged)."""
    X, y, image_shape = ds.X, ds.y, ds.image_shape
    meta = copy.deepcopy(ds.meta)
    steps = meta.setdefault("preprocessing", [])
    if subset is not None:
        idx = subset_indices(len(X), subset, seed)
        X, y = X[idx], (None if y is None else y[idx])
        steps.append({"step": "subset", "n": int(subset), "seed": int(seed), "from": len(ds.X),
                      "indices": "np.sort(np.random.default_rng(seed).choice(from, n, replace=False))"})
    if resize is not None:
        if image_shape is None:
            raise InvalidInputError(f"resize applies to images, but {ds.name!r} is vector data")
        size = parse_size(resize)
        X = resize_images(X.reshape(len(X), *image_shape), size, resize_method)
        steps.append({"step": "resize", "from": list(image_shape[1:]), "to": list(size), "method": resize_method})
        image_shape = (image_shape[0], *size)
    if scale is not None:
        X = scale_features(X, scale)
        steps.append({"step": "scale", "how": scale})
    if flatten:
        X = X.reshape(len(X), -1)
        steps.append({"step": "flatten", "shape": list(X.shape[1:])})
    elif image_shape is not None and X.ndim == 2:
        X = X.reshape(len(X), *image_shape)
    meta["value_range"] = value_range(X)
    return Dataset(X, y, ds.name, ds.n_classes, image_shape, meta)
