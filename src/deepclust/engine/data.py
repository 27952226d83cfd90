"""Data on the device, batched by index.

`DataSource` keeps data that fits in memory as one tensor on the training device and gathers batches by
index (no DataLoader, no per-sample Python work). Larger inputs (NumPy memmaps, HDF5 datasets, anything
over the memory budget) stay where they are and are streamed batch by batch / chunk by chunk, so the data
never occupies more than about `max_bytes` of this process's memory.

Memory budget: `DataSource(..., max_bytes=...)`, the `max_bytes` field of every DeepClusterer, or the
module setting `deepclust.engine.data.DEFAULT_MAX_BYTES` (4 GiB; read at call time, so it can be changed
at run time). A dense array larger than the budget is streamed from the host array instead of copied to
the device. A memmap is always streamed: a read-only, C-contiguous `np.memmap` (np.load(..., mmap_mode="r"))
is read with pread() into private buffers, so file pages never enter this process's resident set (the
kernel keeps them only as reclaimable page cache); other memmaps are read through the mapping, whose pages
are released (madvise(MADV_DONTNEED)) every `max_bytes / 4` bytes. Reading random rows through a mapping
is not bounded by the bytes read: the kernel maps whole page-cache folios around each faulting page
(up to MiBs per row on recent kernels), which is why pread is preferred.
"""
from __future__ import annotations

import mmap as _mmap
import os
from typing import Callable, Iterator

import numpy as np
import torch

DEFAULT_MAX_BYTES = 4 * 2**30  # data larger than this (or memmapped) is streamed, not copied
CHUNK_BYTES = 8 * 2**20  # whole-dataset host passes (validation) read this much at a time
FAULT_AROUND = 64 * 2**10  # a page fault on a file mapping maps up to this much around it (Linux default)


def budget(max_bytes: int | None = None) -> int:
    """The memory budget in bytes: `max_bytes`, else the module setting DEFAULT_MAX_BYTES."""
    return int(DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)


def row_bytes(X) -> int:
    """Bytes of one sample of X as float32 (what a batch costs once converted)."""
    return max(1, int(np.prod(X.shape[1:])) * 4)


def chunk_rows(X, chunk_bytes: int | None = None) -> int:
    """Rows per chunk so that one chunk of X (as float32) is about `chunk_bytes` (>= 1 row)."""
    return max(1, int(chunk_bytes or CHUNK_BYTES) // row_bytes(X))


def release_pages(X) -> None:
    """Drop the pages a NumPy memmap has read from this process's resident set (Linux/macOS; a no-op
    elsewhere and for other arrays). The data stays in the OS page cache; it is re-read on next access."""
    mm = getattr(X, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not hasattr(_mmap, "MADV_DONTNEED"):
        return
    try:
        mm.madvise(_mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # closed mapping, unsupported platform
        pass


class LazyRows:
    """A row-indexable view of an on-disk array (an h5py dataset, a memmap) with another per-sample shape,
    e.g. (N, H, W) read as (N, 1, H, W), without reading it. Supports what the engine needs: shape,
    dtype, ndim, len, X[start:stop] and X[sorted index array]."""

    def __init__(self, base, sample_shape: tuple):
        if int(np.prod(sample_shape)) != int(np.prod(base.shape[1:])):
            raise ValueError(f"cannot view samples of shape {tuple(base.shape[1:])} as {sample_shape}")
        self.base, self.sample_shape = base, tuple(int(s) for s in sample_shape)
        self.shape = (int(base.shape[0]), *self.sample_shape)
        self.dtype = np.dtype(base.dtype)
        self.ndim = len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        rows = np.asarray(self.base[key])
        return rows.reshape(rows.shape[0], *self.sample_shape) if rows.ndim else rows

    @property
    def _mmap(self):
        return getattr(self.base, "_mmap", None)


class FileRows:
    """pread()-based row reader for a read-only, C-contiguous np.memmap: rows go straight from the file
    (page cache) into a private buffer, never through the mapping. `FileRows.of(X)` is None when X is
    not such a memmap."""

    def __init__(self, X, offset: int):
        self.filename, self.offset, self.dtype = X.filename, int(offset), X.dtype
        self.row_shape = tuple(X.shape[1:])
        self.row_nbytes = int(np.prod(self.row_shape)) * X.dtype.itemsize
        self.fd = os.open(self.filename, os.O_RDONLY)

    @classmethod
    def of(cls, X):
        if not isinstance(X, np.memmap) or getattr(X, "mode", None) != "r" or not X.flags.c_contiguous \
                or not getattr(X, "filename", None) or getattr(X, "_mmap", None) is None \
                or not hasattr(os, "preadv") or X.ndim < 1:
            return None
        try:
            base = np.frombuffer(X._mmap, dtype=np.uint8)
            mm_addr = base.__array_interface__["data"][0]
            del base
            start = X.offset - X.offset % _mmap.ALLOCATIONGRANULARITY  # file offset of the mapping
            offset = start + (X.__array_interface__["data"][0] - mm_addr)
            if offset < 0 or offset + X.nbytes > os.path.getsize(X.filename):
                return None
            return cls(X, offset)
        except (OSError, ValueError, TypeError, BufferError):
            return None

    def _read_into(self, view: memoryview, pos: int) -> None:
        while len(view):
            got = os.preadv(self.fd, [view], pos)
            if got <= 0:
                raise OSError(f"{self.filename}: unexpected end of file (was it truncated while training?)")
            view, pos = view[got:], pos + got

    def rows(self, sorted_idx: np.ndarray) -> np.ndarray:
        """Rows at sorted, unique indices; consecutive runs are read with one call each."""
        out = np.empty((len(sorted_idx), *self.row_shape), dtype=self.dtype)
        if not len(sorted_idx):
            return out
        mv = memoryview(out.reshape(-1).view(np.uint8))
        breaks = np.flatnonzero(np.diff(sorted_idx) != 1) + 1
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(sorted_idx)]):
            self._read_into(mv[a * self.row_nbytes:b * self.row_nbytes],
                            self.offset + int(sorted_idx[a]) * self.row_nbytes)
        return out

    def slice(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, *self.row_shape), dtype=self.dtype)
        self._read_into(memoryview(out.reshape(-1).view(np.uint8)), self.offset + start * self.row_nbytes)
        return out

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def is_on_disk(X) -> bool:
    """True for memmaps, h5py datasets and other array-likes that are not in-memory numpy arrays."""
    return isinstance(X, (np.memmap, LazyRows)) or not isinstance(X, np.ndarray)


class DataSource:
    def __init__(self, X, device: torch.device, *, shape: tuple | None = None,
                 max_bytes: int | None = None, side: np.ndarray | None = None):
        """X: numpy array / memmap / h5py dataset, N x ... . `shape` is the per-sample shape the networks
        see (e.g. (1, 28, 28) for flat MNIST fed to a CNN); default: X's own. `max_bytes`: the memory
        budget (default: the module setting DEFAULT_MAX_BYTES)."""
        self.device = device
        self.n = int(X.shape[0])
        self.sample_shape = tuple(shape) if shape is not None else tuple(X.shape[1:])
        self.max_bytes = budget(max_bytes)
        nbytes = self.n * row_bytes(X)
        self.streamed = is_on_disk(X) or nbytes > self.max_bytes
        self._read = 0  # bytes read through a memmap since its pages were last released
        self._file = None
        self.batches_drawn = 0  # calls of batch(): training iterations, for Fit's checkpoint interval
        if self.streamed:
            self._host = X
            self.tensor = None
            self._file = FileRows.of(X)  # None: read through the mapping / h5py
        else:
            t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
            self.tensor = t.reshape(self.n, *self.sample_shape).to(device)

    def __len__(self):
        return self.n

    @property
    def dim(self) -> int:
        return int(np.prod(self.sample_shape))

    def _account(self, nbytes: int) -> None:
        """Release a memmap's pages every max_bytes/4 bytes mapped (bounded resident set). Random rows
        count FAULT_AROUND each at least: the kernel maps the pages around each faulting one."""
        self._read += nbytes
        if self._read >= self.max_bytes // 4:
            release_pages(self._host)
            self._read = 0

    def _rows(self, uniq: np.ndarray):
        """Host rows at sorted unique indices (pread for read-only memmaps; h5py needs increasing ones)."""
        if self._file is not None:
            return self._file.rows(uniq)
        rows = self._host[uniq]
        self._account(len(uniq) * max(row_bytes(self._host), FAULT_AROUND))
        return rows

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows `idx` (a 1-D LongTensor) on the device, shaped N x sample_shape."""
        self.batches_drawn += 1
        if self.tensor is not None:
            return self.tensor.index_select(0, idx.to(self.tensor.device))
        idx_np = idx.cpu().numpy()
        # h5py needs strictly increasing indices (no repeats); memmaps read faster in order
        uniq, inv = np.unique(idx_np, return_inverse=True)
        rows = np.asarray(self._rows(uniq), dtype=np.float32)[inv.reshape(-1)]
        return torch.from_numpy(np.ascontiguousarray(rows)).reshape(len(idx_np), *self.sample_shape).to(
            self.device, non_blocking=True)

    def slice(self, start: int, stop: int) -> torch.Tensor:
        if self.tensor is not None:
            return self.tensor[start:stop]
        if self._file is not None:
            rows = np.asarray(self._file.slice(start, stop), dtype=np.float32)
        else:
            rows = np.array(self._host[start:stop], dtype=np.float32)
            self._account((stop - start) * row_bytes(self._host) + 2 * FAULT_AROUND)
        return torch.from_numpy(rows).reshape(stop - start, *self.sample_shape).to(self.device)

    def batches(self, batch_size: int, *, shuffle: bool = False, generator: torch.Generator | None = None,
                drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (index, batch) pairs covering the data once."""
        if shuffle:
            perm = torch.randperm(self.n, generator=generator)
        else:
            perm = torch.arange(self.n)
        stop = self.n - (self.n % batch_size if drop_last and self.n > batch_size else 0)
        for s in range(0, stop, batch_size):
            idx = perm[s:s + batch_size]
            yield idx, self.batch(idx) if shuffle else self.slice(s, s + len(idx))

    @torch.no_grad()
    def map(self, fn: Callable[[torch.Tensor], torch.Tensor | tuple], batch_size: int = 1024):
        """Apply fn to the whole dataset in order, in batches, without gradients; concatenate results
        on the device. fn may return a tensor or a tuple of tensors."""
        outs = []
        for s in range(0, self.n, batch_size):
            outs.append(fn(self.slice(s, min(s + batch_size, self.n))))
        if isinstance(outs[0], tuple):
            return tuple(torch.cat(parts) for parts in zip(*outs))
        return torch.cat(outs)

    def subset(self, idx: np.ndarray) -> "DataSource":
        """A new source holding rows idx (in memory), in the order of idx."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.tensor is not None:
            sub = DataSource.__new__(DataSource)
            sub.device, sub.n, sub.sample_shape, sub.streamed, sub._host = (
                self.device, len(idx), self.sample_shape, False, None)
            sub.max_bytes, sub._read, sub._file, sub.batches_drawn = self.max_bytes, 0, None, 0
            sub.tensor = self.tensor[torch.as_tensor(idx, device=self.tensor.device)]
            return sub
        uniq, inv = np.unique(idx, return_inverse=True)
        rows = np.asarray(self._rows(uniq), dtype=np.float32)[inv.reshape(-1)]
        return DataSource(rows, self.device, shape=self.sample_shape, max_bytes=self.max_bytes)


class StepSampler:
    """Batch indices as a pure function of the step number: step -> (epoch, position) -> a slice of that
    epoch's permutation (seeded by seed, key and epoch). A run resumed at any step therefore sees exactly
    the batches an uninterrupted run would. shuffle=False walks the data in order and wraps around, with
    a short last batch (the DCEC/DEC Keras code's order). drop_last=True: floor(n / batch_size) full
    batches per epoch, the remainder of each permutation unused (Algorithm boxes that loop over floor(n/M))."""

    def __init__(self, n: int, batch_size: int, seed, key: str, shuffle: bool = True, drop_last: bool = False):
        self.n, self.batch_size, self.seed, self.key, self.shuffle = n, batch_size, seed, key, shuffle
        self.drop_last = bool(drop_last) and n >= batch_size
        self.steps_per_epoch = n // batch_size if self.drop_last else -(-n // batch_size)
        self._epoch, self._perm = -1, None

    def indices(self, step: int) -> torch.Tensor:
        epoch, j = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            from .device import generator
            self._epoch = epoch
            self._perm = (torch.randperm(self.n, generator=generator(self.seed, self.key, epoch))
                          if self.shuffle else torch.arange(self.n))
        return self._perm[j * self.batch_size:(j + 1) * self.batch_size]
