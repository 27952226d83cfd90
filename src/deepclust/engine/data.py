"""Data on the device, batched by index.

`DataSource` keeps data that fits in memory as one tensor on the training device and gathers batches by
index (no DataLoader, no per-sample Python work). Larger inputs (NumPy memmaps, HDF5 datasets, anything
over the memory budget) stay where they are and are streamed batch by batch / chunk by chunk, so the data
never occupies more than about `max_bytes` of this process's memory.

Memory budget: `DataSource(..., max_bytes=...)`, the `max_bytes` field of every DeepClusterer, or the
module setting `deepclust.engine.data.DEFAULT_MAX_BYTES` (4 GiB; read at call time, so it can be changed
at run time). A dense array larger than the budget is streamed from the host array instead of copied to
the device; a memmap is always streamed, and the pages it has read are released from this process
(madvise(MADV_DONTNEED)) every `max_bytes / 4` bytes read, so a memmap larger than RAM never counts
against the resident set by more than that (the kernel keeps them only as reclaimable page cache).
"""
from __future__ import annotations

import mmap as _mmap
from typing import Callable, Iterator

import numpy as np
import torch

DEFAULT_MAX_BYTES = 4 * 2**30  # data larger than this (or memmapped) is streamed, not copied
CHUNK_BYTES = 32 * 2**20  # whole-dataset host passes (validation) read this much at a time


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
        if self.streamed:
            self._host = X
            self.tensor = None
        else:
            t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
            self.tensor = t.reshape(self.n, *self.sample_shape).to(device)

    def __len__(self):
        return self.n

    @property
    def dim(self) -> int:
        return int(np.prod(self.sample_shape))

    def _account(self, n_rows: int) -> None:
        """Release a memmap's pages every max_bytes/4 bytes read (bounded resident set)."""
        self._read += n_rows * row_bytes(self._host)
        if self._read >= self.max_bytes // 4:
            release_pages(self._host)
            self._read = 0

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows `idx` (a 1-D LongTensor) on the device, shaped N x sample_shape."""
        if self.tensor is not None:
            return self.tensor.index_select(0, idx.to(self.tensor.device))
        idx_np = idx.cpu().numpy()
        # h5py needs strictly increasing indices (no repeats); memmaps read faster in order
        uniq, inv = np.unique(idx_np, return_inverse=True)
        rows = np.asarray(self._host[uniq], dtype=np.float32)[inv.reshape(-1)]
        self._account(len(uniq))
        return torch.from_numpy(np.ascontiguousarray(rows)).reshape(len(idx_np), *self.sample_shape).to(
            self.device, non_blocking=True)

    def slice(self, start: int, stop: int) -> torch.Tensor:
        if self.tensor is not None:
            return self.tensor[start:stop]
        rows = np.array(self._host[start:stop], dtype=np.float32)
        self._account(stop - start)
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
            sub.max_bytes, sub._read = self.max_bytes, 0
            sub.tensor = self.tensor[torch.as_tensor(idx, device=self.tensor.device)]
            return sub
        uniq, inv = np.unique(idx, return_inverse=True)
        rows = np.asarray(self._host[uniq], dtype=np.float32)[inv.reshape(-1)]
        self._account(len(uniq))
        return DataSource(rows, self.device, shape=self.sample_shape, max_bytes=self.max_bytes)


class StepSampler:
    """Batch indices as a pure function of the step number: step -> (epoch, position) -> a slice of that
    epoch's permutation (seeded by seed, key and epoch). A run resumed at any step therefore sees exactly
    the batches an uninterrupted run would. shuffle=False walks the data in order and wraps around, with
    a short last batch (the DCEC/DEC Keras code's order)."""

    def __init__(self, n: int, batch_size: int, seed, key: str, shuffle: bool = True):
        self.n, self.batch_size, self.seed, self.key, self.shuffle = n, batch_size, seed, key, shuffle
        self.steps_per_epoch = -(-n // batch_size)
        self._epoch, self._perm = -1, None

    def indices(self, step: int) -> torch.Tensor:
        epoch, j = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            from .device import generator
            self._epoch = epoch
            self._perm = (torch.randperm(self.n, generator=generator(self.seed, self.key, epoch))
                          if self.shuffle else torch.arange(self.n))
        return self._perm[j * self.batch_size:(j + 1) * self.batch_size]
