"""Final clustering heads: the step that turns a learned embedding into labels.

Every deep method ends with some assignment of its embedding (DEC's Student-t, DCFAE's k-means on c, ...).
`fit_head(Z, n_clusters, kind)` offers the same choices to all of them, so any method's embedding can be
clustered through any head (`DeepClusterer.final_clusterer`):

  "kmeans"       k-means, 20 restarts, the lowest inertia wins
  "gmm"          Gaussian mixture, full covariances, k-means initialisation, `n_init` restarts, the highest
                 likelihood (EM lower bound) wins
  "umap-gmm"     UMAP to `n_clusters` dimensions (n_neighbors 20, min_dist 0, as in N2D: McConville et al.,
                 ICPR 2020), then "gmm" on the manifold embedding (covariance chosen by the data-size rule);
                 5 seeded runs, the partition that agrees best with the others is kept (`n_runs`)
  "umap-kmeans"  UMAP as above, then "kmeans"
  "spectral"     spectral clustering of the k-nearest-neighbour graph (n_neighbors 10, as in scikit-learn
                 and the DCFAE authors' code); new points get the label of their nearest fitted neighbours

Data-size rules ("auto" defaults; they use only n, k and dimensions, never labels):
- UMAP's n_neighbors = min(20, max(5, n // (2k))): a neighbourhood larger than a typical cluster joins
  clusters in UMAP's graph. With >= 40 samples per cluster this is N2D's 20.
- the GMM's covariance_type = "full" when the mean cluster holds >= 5 samples per parameter of a full
  covariance component (d + d(d+1)/2), else "diag" when it holds >= 5 per diagonal parameter (2d), else
  "spherical"; the UMAP heads then use k-means instead of a spherical GMM (the same model, fitted more robustly).

Choices inside a head are never made with labels: restarts are ranked by the head's own objective
(inertia, likelihood). Large data: UMAP and spectral clustering are fitted on a random subsample of at most
`max_fit_samples` rows (default 100,000) and the remaining rows are mapped with the fitted model (UMAP's
`transform`; nearest fitted neighbours for spectral), so memory stays bounded (benchmarks/n2d_scaling.py).

A fitted head is a plain picklable object with `labels_`, `predict(Z)` and, where the head has soft
assignments, `predict_proba(Z)`; it is saved with the estimator.
"""
from __future__ import annotations

import logging
import time
import warnings

import numpy as np

from ..errors import InvalidInputError, UnknownNameError

HEADS = ("kmeans", "gmm", "umap-gmm", "umap-kmeans", "spectral")
log = logging.getLogger("deepclust")


def _seed(random_state) -> int | None:
    return None if random_state is None else int(random_state) % (2**31)


def _as_array(Z) -> np.ndarray:
    try:
        import torch
        if isinstance(Z, torch.Tensor):
            Z = Z.detach().float().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    Z = np.asarray(Z, dtype=np.float32)
    if Z.ndim != 2:
        Z = Z.reshape(len(Z), -1)
    return Z


class Head:
    """Base of the fitted heads: `fit(Z)` sets `labels_`; `predict(Z)` assigns new rows."""

    kind = "?"

    def fit(self, Z):  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, Z) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_proba(self, Z):
        raise NotImplementedError(f"the {self.kind!r} head has no soft assignment")

    def describe(self) -> dict:
        return {"kind": self.kind}


class KMeansHead(Head):
    kind = "kmeans"

    def __init__(self, n_clusters: int, random_state=0, n_init: int = 20):
        self.n_clusters, self.random_state, self.n_init = n_clusters, random_state, n_init

    def fit(self, Z):
        from sklearn.cluster import KMeans
        Z = _as_array(Z)
        self.model_ = KMeans(self.n_clusters, n_init=self.n_init, random_state=_seed(self.random_state)).fit(Z)
        self.labels_ = self.model_.labels_.astype(np.int64)
        self.cluster_centers_ = self.model_.cluster_centers_.astype(np.float32)
        return self

    def predict(self, Z):
        return self.model_.predict(_as_array(Z)).astype(np.int64)

    def describe(self):
        return {"kind": self.kind, "n_init": self.n_init, "inertia": float(self.model_.inertia_)}


class GMMHead(Head):
    """Full-covariance Gaussian mixture. Each of `n_init` restarts starts from a k-means partition with its
    own seed; scikit-learn keeps the restart with the highest EM lower bound (likelihood), never labels."""

    kind = "gmm"

    def __init__(self, n_clusters: int, random_state=0, n_init: int = 10, covariance_type: str = "auto",
                 reg_covar: float = 1e-6):
        self.n_clusters, self.random_state, self.n_init = n_clusters, random_state, n_init
        self.covariance_type, self.reg_covar = covariance_type, reg_covar

    def fit(self, Z):
        from sklearn.mixture import GaussianMixture
        Z = _as_array(Z).astype(np.float64)
        self.covariance_type_ = (auto_covariance(len(Z), self.n_clusters, Z.shape[1])
                                 if self.covariance_type == "auto" else self.covariance_type)
        self.model_ = GaussianMixture(self.n_clusters, covariance_type=self.covariance_type_, n_init=self.n_init,
                                      init_params="kmeans", reg_covar=self.reg_covar, max_iter=300,
                                      random_state=_seed(self.random_state))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on a restart is not an error
            self.model_.fit(Z)
        self.labels_ = self.model_.predict(Z).astype(np.int64)
        self.cluster_centers_ = self.model_.means_.astype(np.float32)
        return self

    def predict(self, Z):
        return self.model_.predict(_as_array(Z).astype(np.float64)).astype(np.int64)

    def predict_proba(self, Z):
        return self.model_.predict_proba(_as_array(Z).astype(np.float64)).astype(np.float32)

    def describe(self):
        return {"kind": self.kind, "n_init": self.n_init, "covariance_type": self.covariance_type_,
                "lower_bound": float(self.model_.lower_bound_), "converged": bool(self.model_.converged_)}


def auto_covariance(n: int, k: int, d: int, per_parameter: int = 5) -> str:
    """The richest GMM covariance the mean cluster (n / k samples) supports with >= `per_parameter` samples
    per parameter of one component: "full" (d + d(d+1)/2), "diag" (2d), else "spherical"."""
    m = n / max(k, 1)
    if m >= per_parameter * (d + d * (d + 1) / 2):
        return "full"
    if m >= per_parameter * 2 * d:
        return "diag"
    return "spherical"


def auto_neighbors(n: int, k: int, cap: int = 20, floor: int = 5) -> int:
    """UMAP's n_neighbors for n samples in k clusters: N2D's 20, capped at half the mean cluster size."""
    return int(max(min(floor, n - 1), min(cap, n // (2 * max(k, 1)), n - 1)))


def _subsample(n: int, max_fit_samples: int | None, random_state) -> np.ndarray | None:
    if max_fit_samples is None or n <= max_fit_samples:
        return None
    rng = np.random.default_rng(_seed(random_state))
    return np.sort(rng.choice(n, size=int(max_fit_samples), replace=False))


class UMAPHead(Head):
    """UMAP to a low-dimensional manifold embedding, then a k-means or GMM head on it (N2D's recipe).

    `random_state` makes UMAP deterministic (umap-learn then runs its optimiser on one thread).
    `n_runs` > 1: UMAP + the inner head are run with `n_runs` seeds and the partition that agrees best with
    the others (highest mean adjusted Rand index: the medoid of the ensemble) is kept. One UMAP run in a few
    can join two clusters and split a third (USPS: ACC 0.82 in 1 of 5 seeds, 0.94-0.96 in the others, the
    joined run agreeing at ARI 0.87 with each other run and the others at 0.96-0.99 among themselves,
    benchmarks/results/n2d/); agreement with the ensemble, not labels, picks the kept run.
    Above `max_fit_samples` rows UMAP is fitted on a random subsample (the same for every run; the choice
    is made on it) and the kept run's `transform` maps the rest."""

    def __init__(self, n_clusters: int, inner: str = "gmm", random_state=0, n_neighbors: int | str = "auto",
                 min_dist: float = 0.0, metric: str = "euclidean", n_components: int | None = None,
                 max_fit_samples: int | None = 100_000, n_init: int | None = None, covariance_type: str = "auto",
                 n_runs: int = 5, verbose: int = 0):
        self.n_clusters, self.inner, self.random_state = n_clusters, inner, random_state
        self.n_neighbors, self.min_dist, self.metric = n_neighbors, min_dist, metric
        self.n_components, self.max_fit_samples, self.n_init, self.verbose = n_components, max_fit_samples, n_init, verbose
        self.covariance_type, self.n_runs = covariance_type, n_runs
        self.kind = f"umap-{inner}"

    def _umap(self, n: int, seed):
        try:
            import umap
        except ImportError:
            from ..features import MissingDependencyError
            raise MissingDependencyError("the UMAP heads need umap-learn: `pip install umap-learn` "
                                         "(installed by `make` and `pip install deepclust`)") from None
        k = auto_neighbors(n, self.n_clusters) if self.n_neighbors == "auto" else self.n_neighbors
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise InvalidInputError(f"UMAP needs n_neighbors >= 2 (or 'auto'), got {self.n_neighbors!r}")
        self.n_neighbors_ = k = int(min(k, n - 1))
        n_comp = int(self.n_components or self.n_clusters)
        init = "spectral" if n >= n_comp + 2 else "random"  # spectral init needs more points than dimensions
        return umap.UMAP(n_components=n_comp, n_neighbors=k, min_dist=float(self.min_dist),
                         metric=self.metric, random_state=seed, init=init,
                         transform_seed=seed if seed is not None else 42, verbose=bool(self.verbose > 1))

    def _inner_head(self, n: int, dim: int, seed) -> Head:
        inner = self.inner
        if (inner == "gmm" and self.covariance_type == "auto"
                and auto_covariance(n, self.n_clusters, dim) == "spherical"):
            inner = "kmeans"  # too few samples per cluster for a richer GMM (module docstring)
        return _flat_head(inner, self.n_clusters, seed, self.n_init, self.covariance_type)

    def fit(self, Z):
        from sklearn.metrics import adjusted_rand_score
        Z = _as_array(Z)
        n = len(Z)
        if n < 4:
            raise InvalidInputError(f"the {self.kind} head needs at least 4 samples, got {n}")
        runs = int(self.n_runs)
        if runs < 1:
            raise InvalidInputError(f"n_runs must be >= 1, got {self.n_runs!r}")
        idx = _subsample(n, self.max_fit_samples, self.random_state)
        Zf = Z if idx is None else Z[idx]
        base = _seed(self.random_state)
        t = time.time()
        fitted = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "n_jobs overridden by setting random_state" etc.
            for r in range(runs):
                seed = None if base is None else (base + r) % (2**31)
                model = self._umap(len(Zf), seed)
                U = np.asarray(model.fit_transform(Zf), dtype=np.float32)
                head = self._inner_head(len(Zf), U.shape[1], seed).fit(U)
                fitted.append((model, U, head))
        if runs > 1:
            labs = [h.labels_ for _, _, h in fitted]
            agree = np.array([[1.0 if i == j else adjusted_rand_score(a, b) for j, b in enumerate(labs)]
                              for i, a in enumerate(labs)])
            self.run_agreement_ = agree.round(4).tolist()
            best = int(np.argmax((agree.sum(1) - 1) / (runs - 1)))
        else:
            best = 0
        self.chosen_run_ = best
        self.umap_, U_fit, self.inner_ = fitted[best]
        del fitted
        if idx is None:
            U = U_fit
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                U = np.empty((n, U_fit.shape[1]), dtype=np.float32)
                U[idx] = U_fit
                rest = np.setdiff1d(np.arange(n), idx, assume_unique=True)
                for s in range(0, len(rest), 200_000):  # bounded memory for the transform
                    part = rest[s:s + 200_000]
                    U[part] = self.umap_.transform(Z[part])
        self.umap_seconds_ = time.time() - t
        self.fit_subsample_ = None if idx is None else int(len(idx))
        self.embedding_ = U
        self.labels_ = self.inner_.labels_ if idx is None else self.inner_.predict(U)
        return self

    def manifold(self, Z) -> np.ndarray:
        """The UMAP coordinates of new rows."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(self.umap_.transform(_as_array(Z)), dtype=np.float32)

    def predict(self, Z):
        return self.inner_.predict(self.manifold(Z))

    def predict_proba(self, Z):
        return self.inner_.predict_proba(self.manifold(Z))

    def describe(self):
        out = {"kind": self.kind, "n_neighbors": self.n_neighbors_, "min_dist": self.min_dist,
               "n_components": int(self.n_components or self.n_clusters), "fit_subsample": self.fit_subsample_,
               "n_runs": int(self.n_runs), "chosen_run": self.chosen_run_,
               "umap_seconds": round(self.umap_seconds_, 2), "inner": self.inner_.describe()}
        if getattr(self, "run_agreement_", None) is not None:
            out["run_agreement_ari"] = self.run_agreement_
        return out


class SpectralHead(Head):
    """Spectral clustering of the symmetrised k-NN graph (scikit-learn, affinity "nearest_neighbors").
    Out-of-sample rows take the majority label of their `n_neighbors` nearest fitted rows."""

    kind = "spectral"

    def __init__(self, n_clusters: int, random_state=0, n_neighbors: int = 10, max_fit_samples: int | None = 20_000):
        self.n_clusters, self.random_state = n_clusters, random_state
        self.n_neighbors, self.max_fit_samples = n_neighbors, max_fit_samples

    def fit(self, Z):
        from sklearn.cluster import SpectralClustering
        from sklearn.neighbors import KNeighborsClassifier
        Z = _as_array(Z)
        idx = _subsample(len(Z), self.max_fit_samples, self.random_state)
        Zf = Z if idx is None else Z[idx]
        k = min(int(self.n_neighbors), len(Zf) - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "graph is not fully connected"
            sc = SpectralClustering(self.n_clusters, affinity="nearest_neighbors", n_neighbors=k,
                                    assign_labels="kmeans", random_state=_seed(self.random_state)).fit(Zf)
        self.knn_ = KNeighborsClassifier(n_neighbors=k).fit(Zf, sc.labels_)
        self.labels_ = (sc.labels_ if idx is None else self.knn_.predict(Z)).astype(np.int64)
        if idx is not None:
            self.labels_[idx] = sc.labels_
        return self

    def predict(self, Z):
        return self.knn_.predict(_as_array(Z)).astype(np.int64)

    def predict_proba(self, Z):
        return self.knn_.predict_proba(_as_array(Z)).astype(np.float32)

    def describe(self):
        return {"kind": self.kind, "n_neighbors": self.n_neighbors, "max_fit_samples": self.max_fit_samples}


def _flat_head(kind: str, n_clusters: int, random_state, n_init: int | None, covariance_type: str = "auto") -> Head:
    if kind == "kmeans":
        return KMeansHead(n_clusters, random_state, n_init=n_init or 20)
    if kind == "gmm":
        return GMMHead(n_clusters, random_state, n_init=n_init or 10, covariance_type=covariance_type)
    raise UnknownNameError(f"unknown clustering head {kind!r}")


def make_head(kind: str, n_clusters: int, *, random_state=0, **params) -> Head:
    """An unfitted head of `kind` (one of HEADS). `params` go to the head (e.g. n_neighbors, n_init,
    max_fit_samples); unknown ones raise InvalidInputError."""
    import inspect
    if kind in ("kmeans", "gmm"):
        cls = KMeansHead if kind == "kmeans" else GMMHead
    elif kind in ("umap-gmm", "umap-kmeans"):
        cls = UMAPHead
        params = {"inner": kind.split("-", 1)[1], **params}
    elif kind == "spectral":
        cls = SpectralHead
    else:
        raise UnknownNameError(f"unknown final clusterer {kind!r}; use one of {', '.join(HEADS)} "
                               "(or 'paper' for the method's own assignment)")
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "n_clusters", "random_state"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidInputError(f"unknown parameter(s) {unknown} for the {kind!r} head; known: {sorted(allowed)}")
    return cls(n_clusters, random_state=random_state, **params)


def fit_head(Z, n_clusters: int, kind: str, *, random_state=0, **params) -> Head:
    """Fit a final clustering head of `kind` on the embedding Z (n x d); see the module docstring."""
    Z = _as_array(Z)
    if not np.isfinite(Z).all():
        raise InvalidInputError("the embedding contains NaN or infinite values; no head can be fitted")
    if not 1 <= int(n_clusters) <= len(Z):
        raise InvalidInputError(f"n_clusters must be between 1 and the number of samples ({len(Z)}), got {n_clusters}")
    t = time.time()
    head = make_head(kind, int(n_clusters), random_state=random_state, **params).fit(Z)
    head.fit_seconds_ = time.time() - t
    log.info("final clusterer %s fitted on %d x %d in %.1f s", kind, Z.shape[0], Z.shape[1], head.fit_seconds_)
    return head
