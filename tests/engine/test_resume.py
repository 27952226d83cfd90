"""Checkpoint/resume: an interrupted fit resumed from its checkpoint ends with the same labels as an
uninterrupted fit with the same seed (CPU)."""
import numpy as np
import pytest

from deepclust.datasets import load_dataset
from deepclust.engine.data import DataSource
from deepclust.methods import get

PARAMS = dict(hidden=(64, 32), pretrain_epochs=4, max_iter=60, update_interval=15, n_init=2, verbose=0,
              random_state=5)


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", subset=600)
    return ds.flat(), ds.y


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("fail_at", [7, 20, 50])  # mid-pretraining, early and late in clustering
def test_resume_reproduces_uninterrupted_run(digits, tmp_path, monkeypatch, fail_at):
    X, y = digits
    ref = get("idec")(**PARAMS).fit(X)
    calls = {"n": 0}
    orig = DataSource.batch

    def flaky(self, idx):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise Boom("simulated kill")
        return orig(self, idx)

    monkeypatch.setattr(DataSource, "batch", flaky)
    ck = tmp_path / "ck"
    with pytest.raises(Boom):
        get("idec")(**PARAMS, checkpoint_dir=str(ck), checkpoint_every=2).fit(X)
    assert (ck / "latest.pt").is_file()
    monkeypatch.setattr(DataSource, "batch", orig)
    resumed = get("idec")(**PARAMS, checkpoint_dir=str(ck), checkpoint_every=2, resume=True).fit(X)
    np.testing.assert_array_equal(resumed.labels_, ref.labels_)
    np.testing.assert_allclose(resumed.cluster_centers_, ref.cluster_centers_, rtol=1e-5, atol=1e-6)


def test_resume_refuses_a_different_configuration(digits, tmp_path):
    X, _ = digits
    ck = tmp_path / "ck"
    get("dec")(**PARAMS, checkpoint_dir=str(ck)).fit(X)
    with pytest.raises(Exception, match="parameters differ"):
        get("dec")(**{**PARAMS, "max_iter": 61}, checkpoint_dir=str(ck), resume=True).fit(X)


def test_same_seed_same_labels_different_seed_differs(digits):
    X, _ = digits
    a = get("dec")(**PARAMS).fit(X).labels_
    b = get("dec")(**PARAMS).fit(X).labels_
    c = get("dec")(**{**PARAMS, "random_state": 6}).fit(X).labels_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
