"""Exceptions raised by deepclust. Every message says what is wrong and how to fix it."""


class DeepclustError(Exception):
    """Base class of every error deepclust raises on purpose."""


class InvalidInputError(DeepclustError, ValueError):
    """The data or a parameter is unusable (shape, NaN/inf, too few samples, bad n_clusters...)."""


class DatasetNotFoundError(DeepclustError, FileNotFoundError):
    """A dataset's files are not where deepclust looked (and were not downloaded)."""


class UnknownNameError(DeepclustError, KeyError):
    """An unknown dataset, method or preset name."""

    def __str__(self):  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class CorruptFileError(DeepclustError, ValueError):
    """A file exists but is truncated, corrupted or fails its checksum."""


class DivergenceError(DeepclustError, FloatingPointError):
    """A loss became NaN or infinite during training."""


class NotFittedError(DeepclustError, AttributeError):
    """predict/transform/save called before fit."""
