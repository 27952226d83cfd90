"""scikit-learn conventions: KMeans-like transform for the classical estimators, fit_transform, and load()
refusing another method's file."""
import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans as SKKMeans

from cli_helpers import blobs
from deepclust.errors import InvalidInputError
from deepclust.methods import IDEC, GaussianMixture, KMeans, Ward

torch.set_num_threads(1)


def test_classical_transform_is_the_distance_to_each_centre():
    X, _ = blobs()
    km = KMeans(n_clusters=3, random_state=0)
    D = km.fit_transform(X)
    ref = SKKMeans(3, n_init=10, random_state=0).fit(X)
    assert D.shape == (90, 3)
    np.testing.assert_allclose(D, ref.transform(X), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(D.argmin(1), km.labels_)
    for est in (GaussianMixture(n_clusters=3), Ward(n_clusters=3)):
        D = est.fit_transform(X)
        assert D.shape == (90, 3) and (D.argmin(1) == est.labels_).mean() > 0.95
    P = GaussianMixture(n_clusters=3).fit(X).predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1, rtol=1e-5)


def test_fit_transform_of_a_deep_method_is_its_embedding():
    X, _ = blobs()
    kw = dict(n_clusters=3, hidden=(16,), latent_dim=4, pretrain_epochs=2, max_iter=10, update_interval=5, n_init=2,
              verbose=0)
    Z = IDEC(**kw).fit_transform(X)
    est = IDEC(**kw).fit(X)
    np.testing.assert_allclose(Z, est.transform(X), rtol=1e-5)
    assert Z.shape == (90, 4) and est.fit_seconds_ > 0


def test_load_refuses_another_methods_file(tmp_path):
    from deepclust.engine.base import BaseClusterer
    from deepclust.engine.deep import DeepClusterer
    from deepclust.methods import DCEC
    X, _ = blobs()
    KMeans(n_clusters=3).fit(X).save(tmp_path / "km.pt")
    assert isinstance(KMeans.load(tmp_path / "km.pt"), KMeans)
    assert isinstance(BaseClusterer.load(tmp_path / "km.pt"), KMeans)  # the generic loader takes any method
    with pytest.raises(InvalidInputError, match="holds a KMeans model, not DCEC"):
        DCEC.load(tmp_path / "km.pt")
    with pytest.raises(InvalidInputError, match="not DeepClusterer"):
        DeepClusterer.load(tmp_path / "km.pt")  # a deep base class: only deep models
    IDEC(n_clusters=3, hidden=(8,), pretrain_epochs=1, max_iter=2, n_init=1, verbose=0).fit(X).save(tmp_path / "i.pt")
    assert isinstance(DeepClusterer.load(tmp_path / "i.pt"), IDEC)
    with pytest.raises(InvalidInputError, match="holds a IDEC model, not DCEC"):
        DCEC.load(tmp_path / "i.pt")  # DCEC subclasses IDEC, but it is another method
