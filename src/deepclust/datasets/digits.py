"""UCI handwritten digits shipped inside scikit-learn (1,797 images, 8 x 8, values 0..16 -> /16 -> [0, 1]).
Always available, no file needed: the default for first runs and fast tests."""
from __future__ import annotations

import os

import numpy as np

from .spec import DatasetSpec


def sklearn_file() -> str:
    import sklearn.datasets

    return os.path.join(os.path.dirname(sklearn.datasets.__file__), "data", "digits.csv.gz")


def load_digits_dataset(kind, paths, splits, **_):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = (bunch.data.astype(np.float32) / 16).reshape(-1, 1, 8, 8)
    meta = {"format": "sklearn-embedded", "files": {"csv": sklearn_file()},
            "preprocessing": [{"step": "to_float32", "divide_by": 16}]}
    return X, bunch.target.astype(np.int64), meta


SPECS = [DatasetSpec("digits", "digits", {"all": 1797}, (1, 8, 8), 10, (), load_digits_dataset,
                     aliases=("sklearn-digits", "uci-digits"), embedded=True,
                     description="UCI handwritten digits 8x8 (shipped with scikit-learn)")]
