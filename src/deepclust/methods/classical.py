"""Classical baselines on raw features: k-means, Gaussian mixture, Ward agglomerative clustering.

These reproduce the papers' "k-means" / "GMM" / "AC" rows. Images are flattened to vectors.
"""
from __future__ import annotations

import numpy as np

from ..engine.assignment import cluster_means, nearest, ward
from ..engine.base import BaseClusterer, estimator


def _flat(X):
    return np.asarray(X, dtype=np.float32).reshape(X.shape[0], -1)


@estimator
class KMeans(BaseClusterer):
    """k-means (Lloyd, k-means++ seeding, best of n_init runs) on raw features; scikit-learn's."""

    n_init: int = 10
    max_iter: int = 300
    random_state: int | None = 0

    def _fit(self, X, y):
        from sklearn.cluster import KMeans as SK
        self.model_ = SK(self.n_clusters, n_init=self.n_init, max_iter=self.max_iter,
                         random_state=self.random_state).fit(_flat(X))
        self.labels_ = self.model_.labels_.astype(np.int64)
        self.cluster_centers_ = self.model_.cluster_centers_
        self.inertia_ = float(self.model_.inertia_)

    def _predict(self, X):
        return self.model_.predict(_flat(X)).astype(np.int64)

    def _transform(self, X):
        return _flat(X)


@estimator
class GaussianMixture(BaseClusterer):
    """Gaussian mixture by EM on raw features (scikit-learn); diagonal covariances by default since
    full covariances on 784 pixels are singular."""

    covariance_type: str = "diag"
    n_init: int = 1
    max_iter: int = 200
    reg_covar: float = 1e-4
    random_state: int | None = 0

    def _fit(self, X, y):
        from sklearn.mixture import GaussianMixture as SK
        self.model_ = SK(self.n_clusters, covariance_type=self.covariance_type, n_init=self.n_init,
                         max_iter=self.max_iter, reg_covar=self.reg_covar,
                         random_state=self.random_state).fit(_flat(X))
        self.labels_ = self.model_.predict(_flat(X)).astype(np.int64)
        self.cluster_centers_ = self.model_.means_

    def _predict(self, X):
        return self.model_.predict(_flat(X)).astype(np.int64)

    def _transform(self, X):
        return _flat(X)


@estimator
class Ward(BaseClusterer):
    """Ward agglomerative clustering in O(n d) memory (fastcluster's vector linkage), so 70,000 points
    fit easily. `predict` assigns new points to the nearest Ward cluster mean."""

    def _fit(self, X, y):
        centers, labels = ward(_flat(X), self.n_clusters)
        self.labels_ = labels
        self.cluster_centers_ = centers

    def _predict(self, X):
        import torch
        return nearest(torch.from_numpy(_flat(X)), torch.from_numpy(self.cluster_centers_)).numpy()

    def _transform(self, X):
        return _flat(X)


__all__ = ["KMeans", "GaussianMixture", "Ward", "cluster_means"]
METHODS = {"kmeans": KMeans, "gmm": GaussianMixture, "ward": Ward}
