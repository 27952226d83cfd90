"""Where dataset files are looked for, and the message when they are not there.

Order (first complete layout wins): the `data_dir` argument; each folder in `$DEEPCLUST_DATA`
(os.pathsep-separated); the user cache `$XDG_CACHE_HOME/deepclust/<folder>` (default `~/.cache`);
`/usr/share/datasets/<folder>` and `/usr/local/share/datasets/<folder>`; and every `shared/data` folder
found by walking up from the current directory and from this package. Each base is tried as `<dir>`
and `<dir>/<folder>` (cache and system folders only as `<dir>/<folder>`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .spec import DatasetSpec, Layout

SYSTEM_DIRS = ("/usr/share/datasets", "/usr/local/share/datasets")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "deepclust"


def shared_data_dirs() -> list[Path]:
    """`shared/data` folders above the current directory and above this package (developer copies)."""
    found = []
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for anc in (start, *start.parents):
            cand = anc / "shared" / "data"
            if cand.is_dir() and cand not in found:
                found.append(cand)
    return found


def search_dirs(spec: DatasetSpec, data_dir=None) -> list[tuple[Path, str]]:
    """(folder, origin) pairs in search order, without duplicates."""
    folders = (spec.folder, *spec.folder_aliases)
    out: list[tuple[Path, str]] = []

    def add(base: Path, origin: str, root: bool):
        if root:
            out.append((base, origin))
        out.extend((base / f, origin) for f in folders)

    if data_dir is not None:
        add(Path(data_dir).expanduser(), "data_dir", True)
    for p in os.environ.get("DEEPCLUST_DATA", "").split(os.pathsep):
        if p:
            add(Path(p).expanduser(), "$DEEPCLUST_DATA", spec.root_ok)
    add(cache_root(), "user cache", False)
    for d in SYSTEM_DIRS:
        add(Path(d), "system", False)
    for d in shared_data_dirs():
        add(d, "shared/data", spec.root_ok)
    seen, unique = set(), []
    for d, origin in out:
        key = os.path.abspath(d)
        if key not in seen:
            seen.add(key)
            unique.append((d, origin))
    return unique


@dataclass
class Found:
    folder: Path
    layout: Layout
    paths: dict


def match(folder: Path, layout: Layout, splits) -> Found | None:
    """The files of `layout` for `splits` in `folder`, or None if one is missing."""
    paths = {}
    for req in layout.needed(splits):
        hit = next((folder / n for n in req.names if (folder / n).is_file()), None)
        if hit is None:
            return None
        paths[req.key] = hit
    return Found(folder, layout, paths)


def locate(spec: DatasetSpec, splits, data_dir=None, dirs=None) -> Found | None:
    for folder, _ in (dirs if dirs is not None else search_dirs(spec, data_dir)):
        if not folder.is_dir():
            continue
        for layout in spec.layouts:
            found = match(folder, layout, splits)
            if found:
                return found
    return None


def not_found_message(spec: DatasetSpec, splits, dirs) -> str:
    """Names the dataset, the expected files, every folder searched, partial finds, and the fixes."""
    which = "" if list(splits) == list(spec.splits) else f" (split {'+'.join(splits)})"
    lines = [f"Dataset {spec.name!r}{which} was not found.",
             "Expected files (any one of these layouts):"]
    lines += [f"  - {layout.description(splits)}" for layout in spec.layouts]
    lines.append("Folders searched, in order:")
    partial = []
    for folder, origin in dirs:
        exists = folder.is_dir()
        lines.append(f"  - {folder}  [{origin}{'' if exists else ', does not exist'}]")
        if exists:
            for layout in spec.layouts:
                have = [n for r in layout.reqs for n in r.names if (folder / n).is_file()]
                if have:
                    missing = [r.show() for r in layout.needed(splits)
                               if not any((folder / n).is_file() for n in r.names)]
                    partial.append(f"  - {folder} has {', '.join(have)} but lacks {', '.join(missing)}")
                    partial += [f"    (its {s!r} split is complete: pass split={s!r})" for s in splits
                                if len(splits) > 1 and match(folder, layout, [s])]
    if partial:
        lines.append("Incomplete copies found:")
        lines += partial
    lines.append("How to fix:")
    if spec.downloadable:
        lines.append("  - pass download=True (CLI: --download) to download it "
                     f"(into <data_dir>/{spec.folder} if data_dir is given, else {cache_root() / spec.folder}), or")
    elif spec.how_to_get:
        lines.append(f"  - {spec.how_to_get}")
    lines.append(f"  - put the files in one of the folders above, e.g. set DEEPCLUST_DATA=/path/to/data and "
                 f"put them in /path/to/data/{spec.folder}/, or pass data_dir= (CLI: --data-dir)")
    return "\n".join(lines)
