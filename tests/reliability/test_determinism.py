"""Determinism: same seed, same device => same labels (CPU), for the fast methods; deterministic=True
changes nothing on CPU and restores PyTorch's global setting afterwards. (DEC: tests/engine/test_resume.py;
every registered method, including the other engineers' ones: benchmarks/kill_resume.py.)"""
import numpy as np
import pytest
import torch

from deepclust.datasets import load_dataset
from deepclust.methods import get

torch.set_num_threads(1)
TINY = dict(hidden=(32, 16), latent_dim=5, pretrain_epochs=2, n_init=2, verbose=0)
CASES = {
    "kmeans": {}, "gmm": {}, "ward": {},
    "ae-kmeans": TINY,
    "idec": {**TINY, "max_iter": 30, "update_interval": 10},
    "dcec": dict(filters=(4, 8, 8), latent_dim=5, pretrain_epochs=1, max_iter=10, update_interval=5, n_init=1,
                 verbose=0),
}


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", subset=300)
    return ds.flat()


@pytest.mark.parametrize("method", sorted(CASES))
def test_same_seed_same_labels(digits, method):
    cls = get(method)
    seed = {} if method == "ward" else {"random_state": 2}  # Ward has no randomness (and no seed)
    a = cls(n_clusters=10, **seed, **CASES[method]).fit(digits).labels_
    b = cls(n_clusters=10, **seed, **CASES[method]).fit(digits).labels_
    np.testing.assert_array_equal(a, b)
    if seed:
        c = cls(n_clusters=10, random_state=3, **CASES[method]).fit(digits).labels_
        assert not np.array_equal(a, c)


def test_deterministic_flag(digits):
    kw = dict(n_clusters=10, random_state=2, **CASES["idec"])
    before = torch.are_deterministic_algorithms_enabled()
    a = get("idec")(**kw).fit(digits).labels_
    b = get("idec")(**kw, deterministic=True).fit(digits).labels_
    np.testing.assert_array_equal(a, b)
    assert torch.are_deterministic_algorithms_enabled() == before  # restored after fit
