"""Declarations shared by the format modules (which files a dataset needs, how to read them) and
small helpers they share (uint8 -> [0, 1], tar members, Pillow).

A `DatasetSpec` lists one or more `Layout`s (alternative ways the files can be stored: an archive, an
extracted folder, ...). A layout is a list of `Req`s; a Req is one needed file, given as alternative
relative names (e.g. with or without `.gz`) and tagged with the split it belongs to (None: both).
"""
from __future__ import annotations

import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import CorruptFileError
from .download import Resource


@dataclass(frozen=True)
class Req:
    """One needed file: `names` are alternatives, relative to the searched folder."""

    key: str
    names: tuple[str, ...]
    split: str | None = None

    def show(self) -> str:
        n = self.names
        return f"{n[1]}(.gz)" if len(n) > 1 and n[0] == n[1] + ".gz" else " or ".join(n)


@dataclass(frozen=True)
class Layout:
    """One complete way of storing a dataset; `resources` (if any) are what a download produces."""

    kind: str
    reqs: tuple[Req, ...]
    describe: str = ""
    resources: tuple[Resource, ...] = ()

    def needed(self, splits) -> tuple[Req, ...]:
        return tuple(r for r in self.reqs if r.split is None or r.split in splits)

    def description(self, splits) -> str:
        return self.describe or ", ".join(r.show() for r in self.needed(splits))


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    `n_samples` maps split -> size; a dataset without splits uses the single key "all".
    `load(kind, paths, splits, **kwargs)` returns (X, y, meta) with X float32 in its natural range
    ([0, 1] for images, N x C x H x W) and y int64 or None; `kwargs` are the loader's options.
    `root_ok=False` means the files have generic names shared with another dataset (Fashion-MNIST
    uses MNIST's), so shared roots ($DEEPCLUST_DATA, shared/data) are searched only in `<root>/<folder>`.
    """

    name: str
    folder: str
    n_samples: dict
    sample_shape: tuple
    n_classes: int | None
    layouts: tuple[Layout, ...]
    load: Callable
    aliases: tuple[str, ...] = ()
    folder_aliases: tuple[str, ...] = ()
    root_ok: bool = True
    how_to_get: str = ""
    options: tuple[str, ...] = ()
    embedded: bool = False
    description: str = ""

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.n_samples)

    @property
    def downloadable(self) -> bool:
        return any(layout.resources for layout in self.layouts)

    def total(self, splits) -> int:
        return int(sum(self.n_samples[s] for s in splits))


def u8_to_unit(a: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1] (one allocation)."""
    return np.multiply(a, np.float32(1 / 255), dtype=np.float32)


TO_UNIT_STEP = {"step": "to_float32", "divide_by": 255}


def names_with_gz(base: str) -> tuple[str, ...]:
    return (base + ".gz", base)


def paths_str(paths: dict) -> dict:
    return {k: str(Path(v)) for k, v in paths.items()}


def require_pillow():
    """The PIL.Image module, or an ImportError that says how to install it."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("reading PNG/JPEG images needs Pillow: pip install pillow "
                          "(or pip install 'deepclust[images]')") from exc
    return Image


def read_tar_members(path, wanted):
    """{basename: bytes} of the `wanted` members, in one streaming pass that stops once all are read."""
    out = {}
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted and base not in out:
                    out[base] = tar.extractfile(member).read()
                    if len(out) == len(wanted):
                        break
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise CorruptFileError(f"{path}: damaged or truncated archive ({exc}); delete it and download it "
                               "again (download=True)") from exc
    missing = [w for w in wanted if w not in out]
    if missing:
        raise CorruptFileError(f"{path}: archive ends without {', '.join(missing)} (truncated or damaged? "
                               "delete it and download it again (download=True))")
    return out
