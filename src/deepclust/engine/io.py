"""Atomic file writes: write to a temporary name in the same folder, fsync, rename. A crash mid-write
leaves the previous good file in place."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DeepclustError


@contextlib.contextmanager
def atomic_path(path, mode: str = "wb"):
    """Yield a temporary file object; on success it replaces `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def write_json(path, obj, indent: int = 2) -> None:
    with atomic_path(path, "w") as f:
        json.dump(obj, f, indent=indent, default=_default)
        f.write("\n")


def write_npy(path, arr) -> None:
    with atomic_path(path, "wb") as f:
        np.save(f, np.asarray(arr))


def torch_save(path, obj) -> None:
    import torch
    with atomic_path(path, "wb") as f:
        torch.save(obj, f)


def ensure_writable_dir(path, need_bytes: int = 10 * 2**20) -> Path:
    """Create `path` and check that it is writable with some free space, before any training starts."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise DeepclustError(f"output folder {path} is not writable ({e.strerror}); "
                             "choose another with --out or fix its permissions") from None
    free = _free_bytes(path)
    if free is not None and free < need_bytes:
        raise DeepclustError(f"output folder {path} has only {free / 2**20:.1f} MiB free; "
                             f"at least {need_bytes / 2**20:.0f} MiB are needed. Free some space or use --out")
    return path


def _free_bytes(path):
    try:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize
    except (OSError, AttributeError):
        return None
