"""Datasets for deep clustering, read from their original file formats.

    >>> from deepclust.datasets import load_dataset
    >>> ds = load_dataset("mnist", resize=32)          # 70,000 x 1 x 32 x 32 float32 in [0, 1]
    >>> ds = load_dataset("usps", scale="minus1-1")     # 9,298 x 1 x 16 x 16 in [-1, 1]
    >>> ds = load_dataset("my_features.npy", labels="my_labels.npy")

`list_datasets()` names the registered datasets, `dataset_status()` says which are available where.
Files are looked for in data_dir, $DEEPCLUST_DATA, ~/.cache/deepclust, /usr/share/datasets and
shared/data (see `locate`); `download=True` fetches missing files with checksum verification.
"""
from .dataset import Dataset
from .registry import REGISTRY, dataset_status, get_spec, list_datasets, load_dataset
from .user import load_array

__all__ = ["Dataset", "load_dataset", "list_datasets", "dataset_status", "load_array", "get_spec", "REGISTRY"]
