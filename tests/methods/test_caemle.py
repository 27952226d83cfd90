"""CAE-MLE (spec 001): Ward initialisation, option B (Ward refresh), resume, save/load, errors."""
import numpy as np
import pytest
import torch
from scipy.cluster.hierarchy import fcluster
from scipy.cluster.hierarchy import ward as scipy_ward

from deepclust.datasets import load_dataset
from deepclust.engine.assignment import cluster_means, ward
from deepclust.errors import InvalidInputError
from deepclust.methods import get
from deepclust.methods.caemle import CAEMLE, match_centers
from deepclust.metrics import acc, ari, nmi

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def small(digits):
    return load_dataset("digits", subset=500, seed=0)


def test_registry():
    assert get("cae-mle") is CAEMLE


def test_ward_init_centres_are_means_of_the_ward_partition(small):
    # max_iter=0: the encoder after fit is the one the initialisation saw
    m = CAEMLE.from_preset("smoke", max_iter=0, verbose=0).fit(small.X)
    Z = m.transform(small.X).astype(np.float64)
    _, labels = ward(Z, 10)
    np.testing.assert_array_equal(m.init_labels_, labels)
    np.testing.assert_allclose(m.init_centers_, cluster_means(Z, m.init_labels_, 10), rtol=1e-4, atol=1e-5)
    # the same partition as scipy's O(n^2) Ward (spec §2.3)
    ref = fcluster(scipy_ward(Z), t=10, criterion="maxclust")
    assert ari(ref, m.init_labels_) == pytest.approx(1.0)
    assert len(np.unique(m.init_labels_)) == 10


def test_beats_chance_on_digits(digits):
    m = CAEMLE.from_preset("smoke", pretrain_epochs=10, batch_size=64, max_iter=100, verbose=0)
    labels = m.fit_predict(digits.X)
    assert acc(digits.y, labels) > 0.5 and nmi(digits.y, labels) > 0.45  # chance: ~0.12 / ~0.01


def test_match_centers_recovers_permutation():
    rng = np.random.default_rng(0)
    prev = rng.normal(size=(6, 4)).astype(np.float32)
    perm = rng.permutation(6)
    new = prev[perm] + 0.01 * rng.normal(size=(6, 4)).astype(np.float32)
    np.testing.assert_allclose(match_centers(prev, new), prev, atol=0.05)


def test_ac_refresh_resume_equals_uninterrupted(small, tmp_path, monkeypatch):
    kw = dict(pretrain_epochs=2, max_iter=60, update_interval=20, tol=0.0, ac_refresh=True, verbose=0)
    ref = CAEMLE.from_preset("smoke", **kw).fit(small.X)

    calls = {"n": 0}
    from deepclust.engine import training as training_mod
    real = training_mod.kl_clustering_loss

    def flaky(p, q):
        calls["n"] += 1
        if calls["n"] == 50:
            raise KeyboardInterrupt("simulated kill")
        return real(p, q)

    monkeypatch.setattr(training_mod, "kl_clustering_loss", flaky)
    ck = dict(checkpoint_dir=str(tmp_path / "ck"), checkpoint_every=20)
    with pytest.raises(KeyboardInterrupt):
        CAEMLE.from_preset("smoke", **kw, **ck).fit(small.X)
    monkeypatch.setattr(training_mod, "kl_clustering_loss", real)
    resumed = CAEMLE.from_preset("smoke", **kw, **ck, resume=True).fit(small.X)
    np.testing.assert_array_equal(resumed.labels_, ref.labels_)
    np.testing.assert_allclose(resumed.cluster_centers_, ref.cluster_centers_, atol=1e-6)
    assert resumed.n_ward_refresh_ == ref.n_ward_refresh_ >= 1
    # Ward re-ran at the target updates after the first (it = 20 and 40)
    assert ref.n_ward_refresh_ == resumed.n_ward_refresh_ == 2
    assert resumed.history_[-1]["it"] == 60


def test_save_load_roundtrip(small, tmp_path):
    m = CAEMLE.from_preset("smoke", verbose=0).fit(small.X)
    path = tmp_path / "m.pt"
    m.save(path)
    m2 = CAEMLE.load(path)
    np.testing.assert_array_equal(m.predict(small.X), m2.predict(small.X))
    np.testing.assert_array_equal(m2.predict(small.X), m.labels_)


@pytest.mark.parametrize("bad", [{"gamma": -1.0}, {"tol": 2.0}, {"batch_size": 0}, {"max_iter": -5},
                                 {"ac_refresh": "yes"}, {"hierarchy": "tree"}, {"levels": (2, 4)},
                                 {"levels": (1, 1)}, {"ac_refresh": True, "hierarchy": "targets"},
                                 {"hierarchy": "merge", "merge_updates": 0},
                                 {"hierarchy": "merge", "update_interval": 0}])
def test_bad_params(bad, small):
    with pytest.raises(InvalidInputError):
        CAEMLE.from_preset("smoke", verbose=0, **bad).fit(small.X)


# ---- where the hierarchy enters training (CAEMLE.hierarchy) -------------------------------------------
def test_paper_literal_first_update_redraws_the_ward_partition_but_targets_keeps_it(small):
    # max_iter=0: no gradient step, only the final target update on the unchanged embedding
    lit = CAEMLE.from_preset("smoke", max_iter=0, verbose=0).fit(small.X)
    tgt = CAEMLE.from_preset("smoke", max_iter=0, hierarchy="targets", verbose=0).fit(small.X)
    np.testing.assert_array_equal(lit.init_labels_, tgt.init_labels_)  # same pretraining, same Ward init
    Z = lit.transform(small.X)
    nearest = np.argmin(((Z[:, None, :] - lit.init_centers_[None]) ** 2).sum(-1), 1)
    np.testing.assert_array_equal(lit.labels_, nearest)               # "init": labels = nearest Ward mean
    assert (lit.labels_ != lit.init_labels_).mean() > 0.01            # ... which is not the Ward partition
    np.testing.assert_array_equal(tgt.labels_, tgt.init_labels_)      # "targets": the Ward partition itself
    np.testing.assert_allclose(tgt.cluster_centers_, cluster_means(Z.astype(np.float64), tgt.labels_, 10),
                               rtol=1e-4, atol=1e-5)


def test_targets_reading_trains_towards_fresh_ward_partitions(small):
    m = CAEMLE.from_preset("smoke", pretrain_epochs=3, max_iter=60, update_interval=20, tol=0.0,
                           hierarchy="targets", verbose=0).fit(small.X)
    assert m.n_ward_refresh_ == 3  # it = 20, 40 and the final update (it = 0 uses the initial partition)
    Z = m.transform(small.X).astype(np.float64)
    _, fresh = ward(Z, 10)
    assert ari(fresh, m.labels_) == pytest.approx(1.0)  # final labels = Ward on the final embedding
    np.testing.assert_allclose(m.cluster_centers_, cluster_means(Z, m.labels_, 10), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("hierarchy", ["multilevel", "multilevel-targets"])
def test_multilevel_head_has_one_centre_set_per_level(small, hierarchy):
    from deepclust.nn.heads import MultiLevelHead
    m = CAEMLE.from_preset("smoke", max_iter=20, update_interval=10, hierarchy=hierarchy, levels=(1, 3),
                           verbose=0).fit(small.X)
    assert m.cluster_centers_.shape == (10, 10)
    if hierarchy == "multilevel":  # labels = nearest level-0 centre, as predict
        np.testing.assert_array_equal(m.predict(small.X), m.labels_)
    head = MultiLevelHead([np.zeros((10, 10)), np.ones((30, 10))])
    with torch.no_grad():
        q = head(torch.randn(7, 10))
    assert q.shape == (7, 40)
    for block in head.blocks(q):
        np.testing.assert_allclose(block.sum(1).numpy(), 1.0, rtol=1e-5)
    p = head.target(q)
    for block in head.blocks(p):
        np.testing.assert_allclose(block.sum(1).numpy(), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(head.labels(q).numpy(), head.blocks(q)[0].argmax(1).numpy())


def test_ward_levels_are_nested_cuts_of_one_tree(small):
    from deepclust.engine.assignment import ward_levels
    Z = np.random.default_rng(0).normal(size=(300, 5))
    (c10, l10), (c30, l30) = ward_levels(Z, [10, 30])
    np.testing.assert_array_equal(l10, ward(Z, 10)[1])
    for fine in range(30):  # every fine cluster lies inside one coarse cluster
        assert len(np.unique(l10[l30 == fine])) == 1


@pytest.mark.parametrize("hierarchy", ["init", "targets"])
def test_shared_pretrained_autoencoder_gives_the_same_fit(small, tmp_path, hierarchy):
    from deepclust.methods.dcec import DCEC
    kw = dict(pretrain_epochs=3, max_iter=40, update_interval=20, verbose=0, random_state=2)
    pre = DCEC.from_preset("smoke", **{**kw, "max_iter": 0}).fit(small.X)
    torch.save(pre.autoencoder_, tmp_path / "ae-2.pt")
    for cls, extra in ((DCEC, {}), (CAEMLE, {"hierarchy": hierarchy})):
        a = cls.from_preset("smoke", **kw, **extra).fit(small.X)
        b = cls.from_preset("smoke", **kw, **extra, pretrained_ae=str(tmp_path / "ae-{seed}.pt")).fit(small.X)
        np.testing.assert_array_equal(a.labels_, b.labels_)
        np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-6)
        assert not any(r["phase"] == "pretrain" for r in b.history_)
    with pytest.raises(InvalidInputError, match="pretrained_ae"):
        DCEC.from_preset("smoke", **kw, pretrained_ae=str(tmp_path / "missing.pt")).fit(small.X)
    with pytest.raises(InvalidInputError, match="ConvAutoencoder"):
        DCEC.from_preset("smoke", **kw, filters=(16, 32, 64), pretrained_ae=str(tmp_path / "ae-2.pt")).fit(small.X)


def test_merge_reading_goes_down_the_tree_to_s_clusters(small):
    m = CAEMLE.from_preset("smoke", max_iter=100, update_interval=10, tol=0.0, hierarchy="merge", levels=(1, 4),
                           merge_updates=4, verbose=0)
    assert [m.merge_schedule(u) for u in (0, 1, 2, 3, 4, 9, None)] == [40, 28, 20, 14, 10, 10, 10]
    m.fit(small.X)
    assert m.cluster_centers_.shape == (10, 10) and len(np.unique(m.labels_)) == 10
    assert m.n_ward_refresh_ == 11  # every update (it = 0, 10, ..., 90) and the final one
    Z = m.transform(small.X).astype(np.float64)
    assert ari(ward(Z, 10)[1], m.labels_) == pytest.approx(1.0)
    np.testing.assert_array_equal(m.predict(small.X), np.argmin(((Z[:, None] - m.cluster_centers_[None]) ** 2).sum(-1), 1))
