"""COIL-20 (processed: 1,440 grey 128 x 128) and COIL-100 (7,200 RGB 128 x 128): PNG files
`obj{object}__{pose}.png` in the zip (`coil-20-proc.zip`, `coil-100.zip`) or its extracted folder.
Images are sorted by (object, pose); the label is object - 1. Needs Pillow.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from ..errors import CorruptFileError
from .download import Resource
from .spec import TO_UNIT_STEP, DatasetSpec, Layout, Req, require_pillow, u8_to_unit

PATTERN = re.compile(r"(?:^|/)obj(\d+)__(\d+)\.png$", re.IGNORECASE)
URL = "https://www.cs.columbia.edu/CAVE/databases/SLAM_coil-20_coil-100/"


def _entries(kind, paths):
    """[(object, pose, name, png bytes)] for every obj*__*.png of the layout."""
    if kind == "zip":
        zpath = paths["archive"]
        try:
            with zipfile.ZipFile(zpath) as zf:
                return [(int(m[1]), int(m[2]), f"{zpath}:{n}", zf.read(n))
                        for n in zf.namelist() if (m := PATTERN.search(n))]
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise CorruptFileError(f"{zpath}: damaged zip file ({exc}); delete it and download it again") from exc
    folder = Path(paths["marker"]).parent
    return [(int(m[1]), int(m[2]), str(p), p.read_bytes())
            for p in folder.iterdir() if (m := PATTERN.search(p.name))]


def load_coil(kind, paths, splits, *, n_objects, mode):
    Image = require_pillow()
    entries = sorted(_entries(kind, paths))
    if not entries:
        raise CorruptFileError(f"{paths}: no obj<N>__<pose>.png images found")
    bad = sorted({e[0] for e in entries if not 1 <= e[0] <= n_objects})
    if bad:
        raise CorruptFileError(f"{entries[0][2]}: object numbers must be 1..{n_objects}, found {bad[:5]}")
    images = []
    for _, _, name, data in entries:
        try:
            with Image.open(io.BytesIO(data)) as im:
                images.append(np.asarray(im.convert(mode)))
        except (OSError, ValueError) as exc:
            raise CorruptFileError(f"{name}: unreadable PNG ({exc})") from exc
        if images[-1].shape[:2] != images[0].shape[:2]:
            raise CorruptFileError(f"{name}: size {images[-1].shape[:2]} differs from {images[0].shape[:2]}")
    X = np.stack(images)
    X = X[:, None] if X.ndim == 3 else X.transpose(0, 3, 1, 2)
    y = np.array([e[0] - 1 for e in entries], dtype=np.int64)
    meta = {"format": "coil-png-" + kind, "files": {k: str(v) for k, v in paths.items()},
            "n_images": len(entries), "preprocessing": [TO_UNIT_STEP]}
    return u8_to_unit(X), y, meta


def _spec(name, zipname, folder, n_objects, mode, checksum=None, aliases=()):
    channels = 1 if mode == "L" else 3
    url = f"{URL}{name}/{zipname}"

    def load(kind, paths, splits, **_):
        return load_coil(kind, paths, splits, n_objects=n_objects, mode=mode)

    return DatasetSpec(
        name, name, {"all": n_objects * 72}, (channels, 128, 128), n_objects,
        (Layout("zip", (Req("archive", (zipname,)),), resources=(Resource(zipname, (url,), checksum),)),
         Layout("folder", (Req("marker", (f"{folder}/obj1__0.png",)),),
                describe=f"{folder}/ (folder of obj<N>__<pose>.png)"),
         Layout("bare", (Req("marker", ("obj1__0.png",)),), describe="obj<N>__<pose>.png files")),
        load, aliases=aliases, folder_aliases=(name.replace("-", ""),),
        description=f"Columbia Object Image Library, {n_objects} objects x 72 poses")


# No checksum is published for the COIL zips and none is known to us: downloads are checked by format only.
SPECS = [
    _spec("coil-20", "coil-20-proc.zip", "coil-20-proc", 20, "L", aliases=("coil20",)),
    _spec("coil-100", "coil-100.zip", "coil-100", 100, "RGB", aliases=("coil100",)),
]
