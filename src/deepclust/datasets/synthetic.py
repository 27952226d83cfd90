"""Datasets built from others or from formulas, used by PFC (spec shared/specs/002_precise_feature.md §6).

- `eight_gaussians(n, ...)`: WGAN-GP's 8-Gaussian 2-D mixture, as in the paper: centres (+-1.414, 0),
  (0, +-1.414), (+-1, +-1), standard deviation 0.014; the blob index (uniform) is the label (k = 8).
- `artifact_mnist(...)`: MNIST (default the 10k test split) with "the first pixel" (top-left, row-major
  index 0 [ASSUMED, §9.10]) set to 0.1, 0.5 or 0.9 with probability 1/3 each; label = artifact value
  index (k = 3), the digit kept in `meta["digit_counts"]` only.
- `usps_variant(v, ...)` / `usps_variants(...)`: the five USPS variants of decreasing imbalance ending in
  USPS700 (700 images per digit). The per-class counts are the spec's reconstruction (§6 [DERIVED]; the
  paper's supplement is unavailable); which images are kept is random with a fixed seed [SUGGESTED].
  `uniformity_index(y)` is the paper's UI (Eq. 9).
All images are in [0, 1] floats (N x 1 x H x W).
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from .dataset import Dataset

# spec §6: full-USPS class totals 1553, 1269, 929, 824, 852, 716, 834, 792, 708, 821 (9,298 images)
USPS_VARIANT_COUNTS = {
    "usps-v1": (1500, 1200, 900, 800, 800, 700, 800, 700, 700, 800),
    "usps-v2": (1200, 1200, 900, 800, 800, 700, 800, 700, 700, 800),
    "usps-v3": (900, 900, 900, 800, 800, 700, 800, 700, 700, 800),
    "usps-v4": (800, 800, 800, 800, 800, 700, 800, 700, 700, 800),
    "usps700": (700,) * 10,
}
_VARIANT_ALIASES = {1: "usps-v1", 2: "usps-v2", 3: "usps-v3", 4: "usps-v4", 5: "usps700", "usps-v5": "usps700"}

EIGHT_GAUSSIAN_CENTERS = np.array([(1.414, 0.0), (-1.414, 0.0), (0.0, 1.414), (0.0, -1.414),
                                   (1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)], dtype=np.float64)


def uniformity_index(y, n_classes: int | None = None) -> float:
    """UI = (-sum_i p_i ln p_i) / ln c, the paper's Eq. 9: 1 = balanced, 0 = one class."""
    y = np.asarray(y)
    c = int(n_classes) if n_classes is not None else int(y.max()) + 1
    p = np.bincount(y, minlength=c) / len(y)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(c)) if c > 1 else 1.0


def eight_gaussians(n: int = 10_000, *, std: float = 0.014, seed: int = 0) -> Dataset:
    """n points of the 8-Gaussian mixture (2-D vectors, labels 0..7 = blob index, sampled uniformly)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInputError(f"n must be a positive integer, got {n!r}")
    if not std >= 0:
        raise InvalidInputError(f"std must be >= 0, got {std!r}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 8, size=int(n))
    X = EIGHT_GAUSSIAN_CENTERS[y] + std * rng.standard_normal((int(n), 2))
    meta = {"source": "synthetic 8-Gaussian mixture (WGAN-GP toy data; PFC paper §IV-B)", "std": std,
            "seed": seed, "centers": EIGHT_GAUSSIAN_CENTERS.tolist(), "preprocessing": [],
            "value_range": [float(X.min()), float(X.max())]}
    return Dataset(X.astype(np.float32), y.astype(np.int64), "8gaussians", 8, None, meta)


def _base(base, default: str):
    if base is None:
        base = default
    if isinstance(base, str):
        from . import load_dataset  # the registry (datasets/__init__.py)
        return load_dataset(base)
    if isinstance(base, Dataset):
        return base
    raise InvalidInputError(f"base must be a dataset name or a Dataset, got {type(base).__name__}")


def artifact_mnist(base=None, *, values=(0.1, 0.5, 0.9), pixel: int = 0, seed: int = 0) -> Dataset:
    """MNIST images with a 3-valued artifact pixel; labels = which value (k = len(values)).

    base: a dataset name (default "mnist-test") or a Dataset of [0, 1] images."""
    ds = _base(base, "mnist-test")
    X = np.array(ds.flat(), dtype=np.float32, copy=True)
    if not 0 <= int(pixel) < X.shape[1]:
        raise InvalidInputError(f"pixel={pixel} is outside the {X.shape[1]} pixels of an image")
    vals = np.asarray(values, dtype=np.float32)
    if vals.ndim != 1 or len(vals) < 2:
        raise InvalidInputError(f"values must list at least two artifact values, got {values!r}")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(vals), size=len(X))
    X[:, int(pixel)] = vals[y]
    side = int(round(np.sqrt(X.shape[1])))
    shape = tuple(ds.image_shape) if ds.image_shape else (1, side, side)
    meta = {"source": f"artifact-MNIST built from {ds.name!r}", "base_meta": ds.meta, "pixel": int(pixel),
            "values": vals.tolist(), "seed": seed, "preprocessing": [{"step": "artifact_pixel", "pixel": int(pixel),
                                                                    "values": vals.tolist()}],
            "value_range": [float(X.min()), float(X.max())]}
    if ds.y is not None:
        meta["digit_counts"] = np.bincount(ds.y).tolist()
    return Dataset(X.reshape(len(X), *shape), y.astype(np.int64), "artifact-mnist", len(vals), shape, meta)


def usps_variant(variant="usps700", base=None, *, seed: int = 0) -> Dataset:
    """One USPS variant: 1..5, "usps-v1".."usps-v4" or "usps700" (= variant 5). base: dataset name
    (default "usps", train + test = 9,298 images) or a Dataset."""
    name = _VARIANT_ALIASES.get(variant, variant)
    if name not in USPS_VARIANT_COUNTS:
        raise InvalidInputError(f"unknown USPS variant {variant!r}; use 1..5 or one of {sorted(USPS_VARIANT_COUNTS)}")
    ds = _base(base, "usps")
    if ds.y is None:
        raise InvalidInputError("the USPS base dataset must have labels")
    counts = USPS_VARIANT_COUNTS[name]
    have = np.bincount(ds.y, minlength=10)
    if (have < np.asarray(counts)).any():
        raise InvalidInputError(f"base dataset {ds.name!r} has class counts {have.tolist()}, fewer than the "
                                f"{list(counts)} variant {name} needs; pass the full USPS (train + test)")
    rng = np.random.default_rng(seed)
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(ds.y == c), counts[c], replace=False)
                                   for c in range(10)]))
    X = np.asarray(ds.X[keep], dtype=np.float32)
    y = np.asarray(ds.y[keep], dtype=np.int64)
    meta = {"source": f"{name} built from {ds.name!r} (PFC paper §IV-E; counts reconstructed in spec §6)",
            "base_meta": ds.meta, "counts": list(counts), "uniformity_index": round(uniformity_index(y, 10), 4),
            "seed": seed, "indices_kept_from_base": int(len(keep)),
            "preprocessing": [{"step": "class_subsample", "counts": list(counts), "seed": seed}],
            "value_range": [float(X.min()), float(X.max())]}
    return Dataset(X, y, name, 10, ds.image_shape, meta)


def usps_variants(base=None, *, seed: int = 0) -> dict[str, Dataset]:
    """All five variants, from most imbalanced (usps-v1) to USPS700."""
    ds = _base(base, "usps")
    return {name: usps_variant(name, ds, seed=seed) for name in USPS_VARIANT_COUNTS}


def instance_clusters(base=None, *, n_clusters: int = 40, per_cluster: int = 10, max_rotation: float = 15.0,
                      max_shift: float = 2.0, max_scale: float = 0.1, contrast: float = 0.15, seed: int = 0) -> Dataset:
    """Few images per cluster, many clusters: `n_clusters` distinct images of `base` (default
    "fashion-mnist"), each seen `per_cluster` times under a random small rotation (+-max_rotation degrees),
    shift (+-max_shift px), scaling (1 +- max_scale) and contrast change (1 +- contrast); the label is the
    source image. Mimics small identity datasets (a few hundred photos of tens of objects or faces), on which
    a method tuned for 10 large classes must not fall below k-means on the pixels."""
    from scipy import ndimage
    for name, v in (("n_clusters", n_clusters), ("per_cluster", per_cluster)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {v!r}")
    ds = _base(base, "fashion-mnist")
    if n_clusters > len(ds.X):
        raise InvalidInputError(f"{ds.name!r} has {len(ds.X)} images, fewer than n_clusters={n_clusters}")
    side = int(round(np.sqrt(np.prod(ds.X.shape[1:]))))
    shape = tuple(ds.image_shape) if ds.image_shape else (1, side, side)
    rng = np.random.default_rng(seed)
    src = rng.choice(len(ds.X), size=int(n_clusters), replace=False)
    imgs = np.asarray(ds.X[np.sort(src)], dtype=np.float32).reshape(len(src), *shape)
    h, w = shape[1], shape[2]
    c = np.array([(h - 1) / 2, (w - 1) / 2])
    X = np.empty((n_clusters * per_cluster, *shape), dtype=np.float32)
    y = np.repeat(np.arange(n_clusters), per_cluster).astype(np.int64)
    for i in range(len(X)):
        a = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
        s = 1.0 + rng.uniform(-max_scale, max_scale)
        m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) / s
        off = c - m @ c + rng.uniform(-max_shift, max_shift, size=2)
        g = 1.0 + rng.uniform(-contrast, contrast)
        for ch in range(shape[0]):
            X[i, ch] = ndimage.affine_transform(imgs[y[i], ch], m, offset=off, order=1, mode="constant")
        X[i] = np.clip(X[i] * g, 0.0, 1.0)
    meta = {"source": f"instance clusters built from {ds.name!r}", "base_meta": ds.meta, "seed": seed,
            "source_indices": np.sort(src).tolist(),
            "preprocessing": [{"step": "instance_augment", "max_rotation": max_rotation, "max_shift": max_shift,
                               "max_scale": max_scale, "contrast": contrast}],
            "value_range": [float(X.min()), float(X.max())]}
    return Dataset(X, y, f"{ds.name}-instances{n_clusters}x{per_cluster}", int(n_clusters), shape, meta)
