"""Data on the device, batched by index.

`DataSource` keeps data that fits in memory as one tensor on the training device and gathers batches by
index (no DataLoader, no per-sample Python work). Larger inputs (NumPy memmaps, HDF5 datasets) stay on
disk and are streamed chunk by chunk, so peak memory is bounded by `max_bytes` + one batch.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch

DEFAULT_MAX_BYTES = 4 * 2**30  # data larger than this (or memmapped) is streamed, not copied


class DataSource:
    def __init__(self, X, device: torch.device, *, shape: tuple | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, side: np.ndarray | None = None):
        """X: numpy array / memmap / h5py dataset, N x ... . `shape` is the per-sample shape the networks
        see (e.g. (1, 28, 28) for flat MNIST fed to a CNN); default: X's own."""
        self.device = device
        self.n = int(X.shape[0])
        self.sample_shape = tuple(shape) if shape is not None else tuple(X.shape[1:])
        nbytes = self.n * int(np.prod(X.shape[1:])) * 4
        self.streamed = isinstance(X, np.memmap) or not isinstance(X, np.ndarray) or nbytes > max_bytes
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

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows `idx` (a 1-D LongTensor) on the device, shaped N x sample_shape."""
        if self.tensor is not None:
            return self.tensor.index_select(0, idx.to(self.tensor.device))
        idx_np = idx.cpu().numpy()
        order = np.argsort(idx_np, kind="stable")  # h5py needs increasing indices; memmaps read faster
        rows = np.array(self._host[np.sort(idx_np)], dtype=np.float32)
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        rows = rows[inv]
        return torch.from_numpy(rows).reshape(len(idx_np), *self.sample_shape).to(self.device, non_blocking=True)

    def slice(self, start: int, stop: int) -> torch.Tensor:
        if self.tensor is not None:
            return self.tensor[start:stop]
        rows = np.array(self._host[start:stop], dtype=np.float32)
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
        """A new source holding rows idx (in memory)."""
        if self.tensor is not None:
            sub = DataSource.__new__(DataSource)
            sub.device, sub.n, sub.sample_shape, sub.streamed, sub._host = (
                self.device, len(idx), self.sample_shape, False, None)
            sub.tensor = self.tensor[torch.as_tensor(idx, device=self.tensor.device)]
            return sub
        return DataSource(np.asarray(self._host[np.sort(idx)]), self.device, shape=self.sample_shape)


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
