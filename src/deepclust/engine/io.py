"""Atomic file writes: write to a temporary name in the same folder, fsync, rename, fsync the folder.
A crash (exception, SIGKILL, power loss after the rename) mid-write leaves the previous good file in
place, never a truncated one; the only trace of an interrupted write is a `.<name>.*.tmp` file, which
`remove_stale_temps` deletes. Every file deepclust writes as a result (checkpoints, run folders, models,
benchmark results, grid records and aggregates) goes through `atomic_path` or one of the writers below."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DeepclustError


class WriteError(DeepclustError, OSError):
    """A file could not be written (disk full, read-only or unwritable folder). The previous version of
    the file, if any, is intact. Also an OSError, so `except OSError` still catches it."""


@contextlib.contextmanager
def atomic_path(path, mode: str = "wb"):
    """Yield a temporary file object; on success it replaces `path` atomically. On any failure the
    temporary file is removed and `path` keeps its previous content; OS errors (disk full, permissions)
    become a WriteError saying which file could not be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        _umask = os.umask(0)
        os.umask(_umask)
        os.chmod(tmp, 0o666 & ~_umask)  # mkstemp makes 0600 files; results should read like any other file
    except OSError as e:
        raise _write_error(path, e) from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, DeepclustError) and e.errno is not None:
            raise _write_error(path, e) from e
        raise


def _write_error(path, e: OSError) -> WriteError:
    why = e.strerror or str(e)
    hint = {errno.ENOSPC: "free some disk space or write elsewhere",
            errno.EDQUOT: "free some disk space (quota) or write elsewhere",
            errno.EACCES: "fix the folder's permissions or write elsewhere",
            errno.EPERM: "fix the folder's permissions or write elsewhere",
            errno.EROFS: "the file system is read-only; write elsewhere"}.get(e.errno, "write elsewhere")
    err = WriteError(e.errno, f"could not write {path}: {why}; {hint} (any previous version of the file "
                              "is intact)")
    return err


def _fsync_dir(folder) -> None:
    """Make a rename durable (POSIX); silently skipped where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(folder, name: str | None = None) -> int:
    """Delete temporary files left by writes that were killed (`.<name>.*.tmp`); returns how many.
    Only call it where no other process is writing into `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    for p in folder.glob(f".{name or '*'}.*.tmp"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n


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


def write_text(path, text: str) -> None:
    with atomic_path(path, "w") as f:
        f.write(text)


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path, "wb") as f:
        f.write(data)


def write_npy(path, arr) -> None:
    with atomic_path(path, "wb") as f:
        np.save(f, np.asarray(arr))


def torch_save(path, obj) -> None:
    import torch
    with atomic_path(path, "wb") as f:
        torch.save(obj, f)


def ensure_writable_dir(path, need_bytes: int = 10 * 2**20, *, what: str = "output folder",
                        hint: str = "choose another with --out") -> Path:
    """Create `path` and check that it is writable with at least `need_bytes` free, before any training
    starts (raises DeepclustError naming the folder and what to do)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise DeepclustError(f"{what} {path} is not writable ({e.strerror or e}); "
                             f"{hint} or fix its permissions") from None
    free = _free_bytes(path)
    if free is not None and free < need_bytes:
        raise DeepclustError(f"{what} {path} has only {free / 2**20:.1f} MiB free; "
                             f"at least {need_bytes / 2**20:.0f} MiB are needed. Free some space or {hint}")
    return path


def _free_bytes(path):
    try:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize
    except (OSError, AttributeError):
        return None
