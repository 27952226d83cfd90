"""The dataset registry: names -> specs, `load_dataset`, `list_datasets`, `dataset_status`."""
from __future__ import annotations

import difflib
from pathlib import Path

from ..errors import DatasetNotFoundError, InvalidInputError, UnknownNameError
from . import cifar, coil, digits, idx, preprocess, reuters, stl, svhn, usps
from .dataset import Dataset
from .download import download_file
from .locate import Found, cache_root, locate, match, not_found_message, search_dirs
from .preprocess import value_range
from .spec import DatasetSpec
from .user import is_user_path, load_array

REGISTRY: dict[str, DatasetSpec] = {
    s.name: s for m in (digits, idx, usps, coil, cifar, svhn, stl, reuters) for s in m.SPECS}

PREPROCESS_KW = ("resize_method",)
USER_KW = ("labels", "image_shape", "key", "label_key", "label_column", "allow_pickle", "mmap", "image_size",
           "name", "skip_unreadable")


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def get_spec(name: str) -> DatasetSpec:
    """The spec registered under `name` or one of its aliases (case, '_' and '-' ignored)."""
    key = _norm(name)
    for spec in REGISTRY.values():
        if key == spec.name or key in spec.aliases or key.replace("-", "") == spec.name.replace("-", ""):
            return spec
    choices = list(REGISTRY) + [a for s in REGISTRY.values() for a in s.aliases]
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.5)
    hint = f" Did you mean {get_spec(close[0]).name!r}?" if close else ""
    raise UnknownNameError(f"Unknown dataset {name!r}.{hint} Known datasets: {', '.join(list_datasets())}. "
                           "A path to a .npy/.npz/.csv/.h5 file or an image folder also works.")


def _derived() -> dict:
    """Datasets built from registered ones (PFC's synthetic sets): name -> (base, builder(base_ds, seed))."""
    from . import synthetic
    out = {"8gaussians": (None, lambda base, seed: synthetic.eight_gaussians(seed=seed)),
           "artifact-mnist": ("mnist-test", lambda base, seed: synthetic.artifact_mnist(base, seed=seed))}
    for v in synthetic.USPS_VARIANT_COUNTS:
        out[v] = ("usps", lambda base, seed, v=v: synthetic.usps_variant(v, base, seed=seed))
    return out


def list_datasets() -> list[str]:
    """Names of the registered datasets (file-backed and derived)."""
    return sorted([*REGISTRY, *_derived()])


def _splits(spec: DatasetSpec, split: str) -> list[str]:
    if split == "all":
        return list(spec.splits)
    if split not in spec.splits:
        have = [s for s in spec.splits if s != "all"]
        raise InvalidInputError(f"dataset {spec.name!r} has no split {split!r}; "
                                f"use split='all'{' or ' + repr(have) if have else ' (it has no train/test split)'}")
    return [split]


def find(spec: DatasetSpec, splits, data_dir=None, download=False) -> Found | None:
    """Locate the dataset's files; download the missing ones if `download` (None for embedded datasets)."""
    if spec.embedded:
        return None
    dirs = search_dirs(spec, data_dir)
    found = locate(spec, splits, dirs=dirs)
    if found:
        return found
    layout = next((lay for lay in spec.layouts if lay.resources), None)
    if not download or layout is None:
        msg = not_found_message(spec, splits, dirs)
        if download and layout is None:
            msg = f"download=True, but {spec.name!r} cannot be downloaded automatically.\n" + msg
        raise DatasetNotFoundError(msg)
    target = (Path(data_dir).expanduser() if data_dir is not None else cache_root()) / spec.folder
    for res in layout.resources:
        if (res.split is None or res.split in splits) and not (target / res.filename).is_file():
            download_file(res, target, dataset=spec.name)
    found = match(target, layout, splits)
    if found is None:  # the layout's requirement names differ from the resources' names
        raise DatasetNotFoundError(not_found_message(spec, splits, [(target, "download folder")]))
    return found


def load_registered(spec: DatasetSpec, split="all", data_dir=None, download=False, **options) -> Dataset:
    """The dataset as stored (no preprocessing beyond decoding to float32)."""
    splits = _splits(spec, split)
    found = find(spec, splits, data_dir, download)
    kind, paths = (None, {}) if found is None else (found.layout.kind, found.paths)
    X, y, meta = spec.load(kind, paths, splits, **options)
    meta = {"dataset": spec.name, "split": split, "splits": splits,
            "folder": None if found is None else str(found.folder), **meta}
    meta.setdefault("preprocessing", [])
    meta["value_range"] = value_range(X)
    return Dataset(X, y, spec.name, spec.n_classes, tuple(X.shape[1:]) if X.ndim == 4 else None, meta)


def load_dataset(name: str, data_dir=None, download: bool = False, *, split: str = "all",
                 flatten: bool = False, resize=None, scale: str | None = None,
                 subset: int | None = None, seed: int = 0, **kwargs) -> Dataset:
    """Load a registered dataset (see `list_datasets()`) or a user data file/folder, then preprocess.

    split: "all" (train + test, the default, as in the clustering papers), "train" or "test".
    resize: int or (H, W), images only (kwarg resize_method: "bilinear" (antialiased, default), "area",
    "nearest"). scale: None (as stored, images in [0, 1]), "minus1-1", "minus05-05", "standard" or "minmax"
    (per feature). subset: n samples drawn at random with `seed`. flatten: X as N x D.
    Order: subset, resize, scale, flatten; each step is recorded in meta["preprocessing"].
    Other kwargs go to `load_array` for user files (labels, image_shape, key, label_column, mmap, ...).
    Files are searched as described in `deepclust.datasets.locate`; download=True fetches missing
    files (checksum-verified) into data_dir, or into the user cache when data_dir is None.
    """
    pre_kw = {k: kwargs.pop(k) for k in PREPROCESS_KW if k in kwargs}
    derived = _derived().get(_norm(str(name)))
    if derived is not None:
        base_name, build = derived
        base = None if base_name is None else load_dataset(base_name, data_dir, download, split=split)
        ds = build(base, kwargs.pop("build_seed", 0))
        return preprocess.apply(ds, flatten=flatten, resize=resize, scale=scale, subset=subset, seed=seed, **pre_kw)
    try:
        spec = get_spec(str(name))
    except UnknownNameError:
        if not is_user_path(name):
            raise
        spec = None
    if spec is None:
        bad = sorted(set(kwargs) - set(USER_KW))
        if bad:
            raise InvalidInputError(f"unknown option(s) {bad} for user data; accepted: {', '.join(USER_KW)}")
        ds = load_array(name, **kwargs)
    else:
        bad = sorted(set(kwargs) - set(spec.options))
        if bad:
            raise InvalidInputError(f"unknown option(s) {bad} for dataset {spec.name!r}; accepted: "
                                    f"split, flatten, resize, resize_method, scale, subset, seed"
                                    + "".join(", " + o for o in spec.options))
        ds = load_registered(spec, split, data_dir, download, **kwargs)
    return preprocess.apply(ds, flatten=flatten, resize=resize, scale=scale, subset=subset, seed=seed, **pre_kw)


def dataset_status(data_dir=None) -> list[dict]:
    """One row per registered dataset: name, n_samples, shape, available, where, downloadable,
    available_splits (the splits whose files were found), description."""
    rows = []
    for spec in REGISTRY.values():
        splits, where, available_splits = list(spec.splits), None, []
        if spec.embedded:
            where, available_splits = digits.sklearn_file(), list(splits)
        else:
            dirs = search_dirs(spec, data_dir)
            found = locate(spec, splits, dirs=dirs)
            if found:
                where, available_splits = str(found.folder), list(splits)
            else:
                for s in splits:
                    part = locate(spec, [s], dirs=dirs)
                    if part:
                        available_splits.append(s)
                        where = where or str(part.folder)
        rows.append({"name": spec.name, "n_samples": spec.total(splits), "shape": tuple(spec.sample_shape),
                     "available": len(available_splits) == len(splits), "where": where,
                     "downloadable": spec.downloadable, "available_splits": available_splits,
                     "description": spec.description})
    from . import synthetic
    pfc = ("derived dataset of the PFC paper (Gan et al., IEEE Trans. Cybernetics 2022)")
    info = {"8gaussians": (10_000, (2,), f"8 Gaussians in 2-D (WGAN-GP's toy data), k = 8; {pfc}"),
            "artifact-mnist": (None, None, "MNIST-test with the top-left pixel set to 0.1, 0.5 or 0.9; the labels are "
                                           f"that value (k = 3), not the digit; {pfc}")}
    for v, counts in synthetic.USPS_VARIANT_COUNTS.items():
        info[v] = (sum(counts), None, f"USPS subsampled to per-class counts {'-'.join(map(str, counts))} "
                                      f"({'balanced' if len(set(counts)) == 1 else 'imbalanced'}); {pfc}")
    for name, (base, _) in _derived().items():
        base_row = next((r for r in rows if r["name"] == base), None)
        n, shape, desc = info.get(name, (None, None, f"derived dataset (PFC paper), built from {base or 'nothing'}"))
        if n is None and base_row is not None:
            n = base_row["n_samples"]
        rows.append({"name": name, "n_samples": n, "shape": tuple(shape or (base_row or {}).get("shape") or ()),
                     "available": base_row is None or base_row["available"],
                     "where": f"built from {base}" if base else "generated", "downloadable": False,
                     "available_splits": [], "description": desc})
    return rows
