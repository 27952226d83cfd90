"""Final clustering heads (engine/heads.py) and the `final_clusterer` field of every deep method."""
import numpy as np
import pytest

from deepclust.engine.heads import HEADS, auto_covariance, auto_neighbors, fit_head, make_head
from deepclust.errors import InvalidInputError, UnknownNameError
from deepclust.metrics import acc


def blobs(n_per=60, k=4, d=6, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    y = np.repeat(np.arange(k), n_per)
    return (centres[y] + spread * rng.normal(size=(len(y), d))).astype(np.float32), y


@pytest.mark.parametrize("kind", ["kmeans", "gmm", "spectral"])
def test_flat_heads_recover_planted_clusters_and_predict_new_points(kind):
    Z, y = blobs()
    head = fit_head(Z, 4, kind, random_state=0)
    assert acc(y, head.labels_) == 1.0
    Znew, ynew = blobs(n_per=10, seed=0)  # same centres, fresh noise
    Znew = Znew + np.random.default_rng(5).normal(scale=0.05, size=Znew.shape).astype(np.float32)
    assert acc(ynew, head.predict(Znew)) == 1.0


def test_gmm_restarts_are_ranked_by_likelihood_not_labels():
    # two tight clusters and one elongated one: a single bad start can merge; restarts keep the best bound
    Z, y = blobs(n_per=80, k=5, d=3, spread=0.8, seed=3)
    one = fit_head(Z, 5, "gmm", random_state=0, n_init=1)
    many = fit_head(Z, 5, "gmm", random_state=0, n_init=10)
    assert many.model_.lower_bound_ >= one.model_.lower_bound_ - 1e-9
    assert many.describe()["lower_bound"] == pytest.approx(many.model_.lower_bound_)


def test_auto_rules_depend_only_on_sizes():
    # >= 40 samples per cluster: N2D's 20 neighbours; tiny clusters: half the mean cluster size, at least 5
    assert auto_neighbors(9298, 10) == 20
    assert auto_neighbors(400, 40) == 5
    assert auto_neighbors(600, 10) == 20 and auto_neighbors(300, 10) == 15
    assert auto_neighbors(6, 2) == 5  # never more than n - 1
    assert auto_covariance(9298, 10, 10) == "full"     # 930 per cluster >= 5 * 65
    assert auto_covariance(1797, 10, 10) == "diag"     # 180 per cluster: >= 5 * 20, < 5 * 65
    assert auto_covariance(400, 40, 40) == "spherical"


def test_umap_gmm_head_separates_clusters_and_maps_new_points():
    pytest.importorskip("umap")
    Z, y = blobs(n_per=50, k=3, d=8, spread=0.5, seed=1)
    head = fit_head(Z, 3, "umap-gmm", random_state=0)
    assert acc(y, head.labels_) == 1.0
    assert head.embedding_.shape == (150, 3)  # n_components = n_clusters
    assert acc(y[:30], head.predict(Z[:30])) == 1.0
    proba = head.predict_proba(Z[:5])
    assert proba.shape == (5, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    again = fit_head(Z, 3, "umap-gmm", random_state=0)
    assert np.array_equal(again.labels_, head.labels_)  # seeded: reproducible


def test_umap_head_on_a_subsample_transforms_the_rest():
    pytest.importorskip("umap")
    Z, y = blobs(n_per=60, k=3, d=5, spread=0.4, seed=2)
    head = fit_head(Z, 3, "umap-kmeans", random_state=0, max_fit_samples=90)
    assert head.fit_subsample_ == 90 and len(head.labels_) == 180
    assert acc(y, head.labels_) == 1.0


def test_bad_head_names_and_parameters_are_refused():
    Z, _ = blobs()
    with pytest.raises(UnknownNameError, match="unknown final clusterer"):
        make_head("dbscan", 3)
    with pytest.raises(InvalidInputError, match="unknown parameter"):
        make_head("kmeans", 3, n_neighbours=5)
    with pytest.raises(InvalidInputError, match="NaN"):
        fit_head(np.full((10, 2), np.nan), 2, "kmeans")
    assert set(HEADS) == {"kmeans", "gmm", "umap-gmm", "umap-kmeans", "spectral"}


def test_final_clusterer_on_a_deep_method_keeps_the_paper_labels_and_predicts_through_the_head(tmp_path):
    from deepclust.engine.base import BaseClusterer
    from deepclust.methods import get
    Z, y = blobs(n_per=40, k=3, d=20, spread=0.5, seed=4)
    est = get("ae-kmeans")(n_clusters=3, hidden=(32,), latent_dim=4, pretrain_epochs=5, n_init=3, verbose=0,
                           final_clusterer="gmm", final_clusterer_params={"n_init": 3})
    est.fit(Z)
    assert est.paper_labels_.shape == est.labels_.shape == (120,)
    assert est.head_.kind == "gmm" and est.history_[-1]["phase"] == "final_clusterer"
    assert est.cluster_centers_.shape == (3, 4)  # mean embedding of each final cluster
    assert np.array_equal(est.predict(Z), est.labels_)
    est.save(tmp_path / "m.pt")
    assert np.array_equal(BaseClusterer.load(tmp_path / "m.pt").predict(Z), est.labels_)


def test_bad_final_clusterer_fails_before_training():
    from deepclust.methods import get
    Z, _ = blobs()
    est = get("dec")(n_clusters=4, pretrain_epochs=10_000, verbose=0, final_clusterer="umap")
    with pytest.raises(InvalidInputError, match="final_clusterer must be"):
        est.fit(Z)  # would take minutes if it trained first
    est = get("dec")(n_clusters=4, pretrain_epochs=10_000, verbose=0, final_clusterer="gmm",
                     final_clusterer_params={"neighbours": 3})
    with pytest.raises(InvalidInputError, match="unknown parameter"):
        est.fit(Z)


def test_random_affine_is_a_pure_function_of_the_step_and_keeps_shapes():
    import torch
    from deepclust.engine.augment import random_affine
    x = torch.zeros(4, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1.0
    a = random_affine(x, (1, 16, 16), seed=0, step=3)
    b = random_affine(x, (1, 16, 16), seed=0, step=3)
    c = random_affine(x, (1, 16, 16), seed=0, step=4)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.allclose(a, x)  # moved
    flat = random_affine(x.reshape(4, -1), (1, 16, 16), seed=0, step=3)
    assert torch.equal(flat, a.reshape(4, -1))
    same = random_affine(x, (1, 16, 16), rotation=0.0, shift=0.0, seed=0, step=3)
    assert torch.allclose(same, x, atol=1e-5)
    # mass is preserved up to interpolation (the square stays inside the image)
    assert torch.allclose(a.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.15)
