"""Downloading dataset files: urllib, checksum (sha256 or md5) verified on a temporary file, atomic rename.

Checksums are verified only on download; files found locally are validated by their readers (format
and sizes), because a re-compressed but intact copy (e.g. shared/data's MNIST .gz) has another hash.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorruptFileError, DatasetNotFoundError

CHUNK = 1 << 20
USER_AGENT = "deepclust-dataset-downloader (python urllib)"


@dataclass(frozen=True)
class Resource:
    """A downloadable file: its local name, mirror URLs (tried in order) and "sha256:<hex>" or "md5:<hex>"."""

    filename: str
    urls: tuple[str, ...]
    checksum: str | None = None
    split: str | None = None


def file_hash(path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _parse_checksum(checksum: str) -> tuple[str, str]:
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ("sha256", "md5") or not digest:
        raise ValueError(f"checksum must be 'sha256:<hex>' or 'md5:<hex>', got {checksum!r}")
    return algorithm, digest.lower()


def _progress(total, desc):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False)


def _fetch_to(url: str, fh, algorithm: str | None, desc: str, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    hasher = hashlib.new(algorithm) if algorithm else None
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = response.headers.get("Content-Length")
        bar = _progress(int(total) if total else None, desc)
        try:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                fh.write(chunk)
                if hasher:
                    hasher.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    return hasher.hexdigest() if hasher else None


def download_file(resource: Resource, dest_dir, *, dataset: str = "", timeout: float = 60.0) -> Path:
    """Download `resource` into `dest_dir` and return its path.

    The bytes go to a temporary file in `dest_dir`; it is renamed to `resource.filename` only after the
    checksum matches. On mismatch the temporary file is deleted and CorruptFileError is raised.
    Mirrors are tried in order on network errors. A resource without a checksum is downloaded with a warning.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / resource.filename
    algorithm, expected = _parse_checksum(resource.checksum) if resource.checksum else (None, None)
    if algorithm is None:
        warnings.warn(f"{dataset or 'dataset'}: no published checksum is known for {resource.filename}; "
                      "it is checked by its format only", stacklevel=3)
    errors = []
    for url in resource.urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{resource.filename}.", suffix=".part", dir=dest_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                digest = _fetch_to(url, fh, algorithm, resource.filename, timeout)
            if algorithm and digest != expected:
                raise CorruptFileError(
                    f"{dataset}: checksum mismatch for {resource.filename} downloaded from {url}: expected "
                    f"{algorithm} {expected}, got {digest}. The download was deleted. Try again later; if it "
                    f"persists, download the file by hand, check it, and put it in {dest_dir}")
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            errors.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DatasetNotFoundError(
        f"{dataset}: could not download {resource.filename}; tried:\n  " + "\n  ".join(errors)
        + f"\nCheck the network connection, or download the file by hand and put it in {dest_dir}")
