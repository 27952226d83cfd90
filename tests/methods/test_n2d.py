"""N2D: autoencoder + UMAP + GMM (methods/n2d.py)."""
import numpy as np
import pytest

from deepclust.errors import InvalidInputError
from deepclust.methods import get
from deepclust.metrics import acc

umap = pytest.importorskip("umap")


def test_budget_in_steps_gives_the_same_training_on_small_and_large_data():
    N2D = get("n2d")
    est = N2D(pretrain_steps=3000, batch_size=256)
    assert est._pretrain_epochs(400) == 1500     # 2 steps per epoch
    assert est._pretrain_epochs(9298) == 82      # 37 steps per epoch
    assert est._pretrain_epochs(70000) == 11     # 274 steps per epoch
    assert N2D()._pretrain_epochs(400) == 1000   # paper: epochs
    assert N2D.from_preset("paper").pretrain_steps is None


def test_n2d_clusters_digits_well_above_kmeans_in_a_smoke_budget():
    from deepclust.datasets import load_dataset
    ds = load_dataset("digits")
    est = get("n2d")(n_clusters=10, pretrain_steps=300, pretrain_lr=2e-3, verbose=0,
                     final_clusterer_params={"n_runs": 2})  # 2 UMAP runs keep the ensemble path, in half the time
    est.fit(ds.X, ds.y)
    assert est.head_.kind == "umap-gmm" and est.paper_head == "umap-gmm"
    assert est.transform(ds.X[:5]).shape == (5, 10)  # embedding dimension = n_clusters
    # k-means on these pixels scores ~0.67-0.79; the manifold head on a briefly trained AE clears it
    assert acc(ds.y, est.labels_) > 0.8
    row = est.history_[-1]
    assert row["phase"] == "final_clusterer" and row["n_neighbors"] == 20 and row["inner"]["covariance_type"] == "diag"


def test_n2d_parameters_are_checked():
    X = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    for bad in ({"autoencoder": "cnn"}, {"pretrain_steps": 0}, {"latent_dim": -1}, {"pretrain_lr": 0}):
        with pytest.raises(InvalidInputError):
            get("n2d")(n_clusters=3, verbose=0, **bad).fit(X)


def test_stability_fallback_scores_both_partitions_and_predicts_from_the_chosen_input():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(3, 12))
    y = np.repeat(np.arange(3), 40)
    X = (centres[y] + rng.normal(size=(120, 12))).astype(np.float32)
    est = get("n2d")(n_clusters=3, hidden=(32,), pretrain_steps=40, verbose=0, fallback="stability",
                     final_clusterer_params={"n_runs": 1, "n_init": 2})
    est.fit(X)
    row = [r for r in est.history_ if r["phase"] == "fallback"][0]
    assert 0.0 <= row["stability_head"] <= 1.0 and 0.0 <= row["stability_raw_kmeans"] <= 1.0
    assert row["chosen"] in ("umap-gmm", "umap-kmeans", "raw k-means")
    assert acc(y, est.labels_) == 1.0  # blobs this far apart: either partition is right
    assert np.array_equal(est.predict(X), est.labels_)
    # the raw-feature head is used by predict when the fallback chose it
    from deepclust.engine.heads import fit_head
    est.head_, est.head_input_ = fit_head(X, 3, "kmeans", random_state=0), "raw"
    assert np.array_equal(est.predict(X), est.head_.labels_)
    # above fallback_max_samples the check does not run
    est2 = get("n2d")(n_clusters=3, hidden=(32,), pretrain_steps=40, verbose=0, fallback="stability",
                      fallback_max_samples=100, final_clusterer_params={"n_runs": 1, "n_init": 2}).fit(X)
    assert not [r for r in est2.history_ if r["phase"] == "fallback"]


def test_a_killed_autoencoder_phase_resumes_to_the_same_result(tmp_path, monkeypatch):
    from deepclust.datasets import load_dataset
    from deepclust.engine.data import DataSource
    ds = load_dataset("digits", subset=400)
    kw = dict(n_clusters=10, hidden=(64, 32), pretrain_steps=30, verbose=0, random_state=3, augment="affine",
              final_clusterer_params={"n_runs": 1, "n_init": 2})
    ref = get("n2d")(**kw).fit(ds.X)
    calls, orig = {"n": 0}, DataSource.batch

    def flaky(self, idx):
        calls["n"] += 1
        if calls["n"] == 17:
            raise KeyboardInterrupt
        return orig(self, idx)

    monkeypatch.setattr(DataSource, "batch", flaky)
    ck = tmp_path / "ck"
    with pytest.raises(KeyboardInterrupt):
        get("n2d")(**kw, checkpoint_dir=str(ck), checkpoint_every=2).fit(ds.X)
    monkeypatch.setattr(DataSource, "batch", orig)
    resumed = get("n2d")(**kw, checkpoint_dir=str(ck), checkpoint_every=2, resume=True).fit(ds.X)
    # the autoencoder phase resumes where it stopped and ends where the uninterrupted run ended (to float
    # rounding, ~3e-7 here); the head is then fitted on that embedding (seeded: test_heads checks determinism)
    np.testing.assert_allclose(resumed.transform(ds.X), ref.transform(ds.X), rtol=1e-5, atol=1e-5)
    pre = [r for r in resumed.history_ if r.get("phase") == "pretrain"]
    assert pre[-1]["epoch"] == resumed._pretrain_epochs(400) and len(resumed.labels_) == 400
