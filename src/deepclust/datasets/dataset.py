"""The `Dataset` container returned by every loader."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidInputError


@dataclass
class Dataset:
    """Samples, optional labels and a description of where they came from.

    X is float32 (images N x C x H x W, or flattened N x D; vectors N x D). A `load_array(..., mmap=True)`
    dataset keeps the file's dtype and X is a read-only `np.memmap`. y holds int64 labels 0..k-1, or None.
    `image_shape` is the (C, H, W) of one image even when X was flattened, and None for vector data.
    `meta` is JSON-serialisable: source files, format, split sizes, `preprocessing` (a list of steps
    applied, in order) and `value_range`.
    """

    X: np.ndarray
    y: np.ndarray | None
    name: str
    n_classes: int | None
    image_shape: tuple[int, int, int] | None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.y is not None and len(self.y) != len(self.X):
            raise InvalidInputError(
                f"dataset {self.name!r}: {len(self.y)} labels for {len(self.X)} samples; "
                "pass one label per sample")
        if self.image_shape is not None:
            self.image_shape = tuple(int(s) for s in self.image_shape)
            if int(np.prod(self.image_shape)) != int(np.prod(self.X.shape[1:])):
                raise InvalidInputError(
                    f"dataset {self.name!r}: image_shape {self.image_shape} does not match "
                    f"per-sample shape {tuple(self.X.shape[1:])}")

    def __len__(self) -> int:
        return len(self.X)

    def flat(self) -> np.ndarray:
        """X as N x D (a view when X is contiguous)."""
        return self.X.reshape(len(self.X), -1)

    def images(self) -> np.ndarray:
        """X as N x C x H x W; raises InvalidInputError for vector data."""
        if self.image_shape is None:
            raise InvalidInputError(
                f"dataset {self.name!r} is vector data (image_shape is None), not images; use .flat() "
                "or, for a user array of flattened images, load it with image_shape=(C, H, W)")
        return self.X.reshape(len(self.X), *self.image_shape)

    def __repr__(self) -> str:
        labels = "no labels" if self.y is None else f"{self.n_classes} classes"
        return (f"Dataset({self.name!r}, X={tuple(self.X.shape)} {self.X.dtype}, {labels}, "
                f"image_shape={self.image_shape})")
