"""Classical baselines on raw features: k-means, Gaussian mixture, Ward agglomerative clustering.

These reproduce the papers' "k-means" / "GMM" / "AC" rows. Images are flattened to vectors.
  k-means: S. Lloyd, "Least squares quantization in PCM", IEEE Transactions on Information Theory, 1982,
           with k-means++ seeding (D. Arthur, S. Vassilvitskii, "k-means++: the advantages of careful
           seeding", SODA 2007); scikit-learn's implementation.
  GMM:     A. P. Dempster, N. M. Laird, D. B. Rubin, "Maximum likelihood from incomplete data via the EM
           algorithm", Journal of the Royal Statistical Society B, 1977; scikit-learn's implementation.
  Ward:    J. H. Ward, "Hierarchical grouping to optimize an objective function", Journal of the American
           Statistical Association, 1963; fastcluster's O(n d)-memory vector linkage (D. Müllner,
           "fastcluster: fast hierarchical, agglomerative clustering routines for R and Python", Journal of
           Statistical Software, 2013).

`transform(X)` follows scikit-learn's KMeans: the Euclidean distance of each sample to every cluster centre
(n_samples x n_clusters), for all three (for the Gaussian mixture the centres are the component means; its
posterior probabilities are `predict_proba`). These methods learn no embedding.
"""
from __future__ import annotations

import numpy as np

from ..engine.assignment import cluster_means, nearest, ward
from ..engine.base import BaseClusterer, estimator
from ..errors import InvalidInputError


def _flat(X):
    return np.asarray(X, dtype=np.float32).reshape(X.shape[0], -1)


def _distances(X, centers) -> np.ndarray:
    """Euclidean distances (n_samples x n_clusters), as sklearn.cluster.KMeans.transform."""
    from sklearn.metrics import pairwise_distances
    return pairwise_distances(_flat(X), np.asarray(centers, dtype=np.float32)).astype(np.float32)


def _positive_ints(est, *names):
    for n in names:
        v = getattr(est, n)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidInputError(f"{type(est).__name__}: {n} must be a positive integer, got {v!r}")


@estimator
class KMeans(BaseClusterer):
    """k-means (Lloyd, k-means++ seeding, best of n_init runs) on raw features; scikit-learn's."""

    n_init: int = 10          # restarts; the best (lowest inertia) is kept
    max_iter: int = 300       # Lloyd iterations per restart
    random_state: int | None = 0

    def _check_params(self):
        _positive_ints(self, "n_init", "max_iter")

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
        return _distances(X, self.cluster_centers_)


@estimator
class GaussianMixture(BaseClusterer):
    """Gaussian mixture by EM on raw features (scikit-learn); diagonal covariances by default since
    full covariances on 784 pixels are singular."""

    covariance_type: str = "diag"  # "diag" | "full" | "tied" | "spherical"
    n_init: int = 1                # EM restarts; the best likelihood is kept
    max_iter: int = 200            # EM iterations per restart
    reg_covar: float = 1e-4        # added to the covariances' diagonal
    random_state: int | None = 0

    def _check_params(self):
        _positive_ints(self, "n_init", "max_iter")
        if self.covariance_type not in ("diag", "full", "tied", "spherical"):
            raise InvalidInputError(f"GaussianMixture: covariance_type must be 'diag', 'full', 'tied' or 'spherical', "
                                    f"got {self.covariance_type!r}")

    def _fit(self, X, y):
        from sklearn.mixture import GaussianMixture as SK
        self.model_ = SK(self.n_clusters, covariance_type=self.covariance_type, n_init=self.n_init,
                         max_iter=self.max_iter, reg_covar=self.reg_covar,
                         random_state=self.random_state).fit(_flat(X))
        self.labels_ = self.model_.predict(_flat(X)).astype(np.int64)
        self.cluster_centers_ = self.model_.means_

    def _predict(self, X):
        return self.model_.predict(_flat(X)).astype(np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component (n_samples x n_clusters)."""
        self._check_fitted()
        return self.model_.predict_proba(_flat(self._check_new(X)))

    def _transform(self, X):
        return _distances(X, self.cluster_centers_)


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
        return _distances(X, self.cluster_centers_)


__all__ = ["KMeans", "GaussianMixture", "Ward", "cluster_means"]
METHODS = {"kmeans": KMeans, "gmm": GaussianMixture, "ward": Ward}
