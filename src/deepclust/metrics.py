"""Clustering metrics: ACC (Hungarian matching), NMI, ARI, purity; and, labelled as such, the released PFC
code's per-batch monitoring scores (`batch_scores`: "batch purity", batch NMI, batch ARI).

All return fractions in [0, 1] (ARI in [-1, 1]). Labels are any integer arrays; cluster ids need not
match class ids, and the number of clusters may differ from the number of classes.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as _skm

from .errors import InvalidInputError

__all__ = ["contingency", "hungarian_mapping", "acc", "nmi", "ari", "purity", "evaluate", "batch_scores",
           "batch_purity", "random_label_baseline"]


def _pair(y_true, y_pred):
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise InvalidInputError(
            f"labels have different lengths: y_true has {y_true.size}, y_pred has {y_pred.size}; "
            "pass one label per sample for both")
    if y_true.size == 0:
        raise InvalidInputError("cannot score empty label arrays")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.dtype.kind in "fc" and not np.isfinite(y).all():
            n_nan, n_inf = int(np.isnan(y).sum()), int(np.isinf(y).sum())
            raise InvalidInputError(
                f"{name} contains {n_nan} NaN and {n_inf} inf labels (of {y.size}); they would be counted as "
                f"a class of their own. Drop those samples first, e.g. keep = np.isfinite({name})")
    return y_true, y_pred


def contingency(y_true, y_pred):
    """Return (w, classes, clusters): w[i, j] = #samples of cluster clusters[i] with class classes[j]."""
    y_true, y_pred = _pair(y_true, y_pred)
    classes, yt = np.unique(y_true, return_inverse=True)
    clusters, yp = np.unique(y_pred, return_inverse=True)
    w = np.zeros((clusters.size, classes.size), dtype=np.int64)
    np.add.at(w, (yp, yt), 1)
    return w, classes, clusters


def hungarian_mapping(y_true, y_pred) -> dict:
    """One-to-one map cluster id -> class id maximising agreement (rectangular when counts differ).

    Clusters left unmatched (more clusters than classes) are absent from the map.
    """
    w, classes, clusters = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(-w)
    return {clusters[r].item(): classes[c].item() for r, c in zip(rows, cols)}


def acc(y_true, y_pred) -> float:
    """Unsupervised clustering accuracy: max over one-to-one cluster->class maps of the hit rate.

    With more clusters than classes the extra clusters count as errors (the strict, one-to-one
    definition used by DEC/DCEC and the seed papers).
    """
    w, _, _ = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(-w)
    return float(w[rows, cols].sum() / w.sum())


def nmi(y_true, y_pred, average_method: str = "arithmetic") -> float:
    """Normalised mutual information. Default normalisation: arithmetic mean of the entropies,
    I(Y;C) / ((H(Y)+H(C))/2), scikit-learn's default and the seed papers'. Others: "geometric"
    (DEC's sqrt(H(Y)H(C))), "min", "max"."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(_skm.normalized_mutual_info_score(y_true, y_pred, average_method=average_method))


def ari(y_true, y_pred) -> float:
    """Adjusted Rand index (Hubert and Arabie)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(_skm.adjusted_rand_score(y_true, y_pred))


def purity(y_true, y_pred) -> float:
    """Fraction of samples whose cluster's majority class is their class (many-to-one)."""
    w, _, _ = contingency(y_true, y_pred)
    return float(w.max(axis=1).sum() / w.sum())


def evaluate(y_true, y_pred) -> dict:
    """All metrics as a dict {acc, nmi, ari, purity}."""
    return {"acc": acc(y_true, y_pred), "nmi": nmi(y_true, y_pred),
            "ari": ari(y_true, y_pred), "purity": purity(y_true, y_pred)}


def _batches(n: int, batch_size: int, random_state) -> np.ndarray:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if n < batch_size:
        raise InvalidInputError(f"batch scores need at least one full batch: {n} samples < batch_size {batch_size}")
    order = np.random.default_rng(random_state).permutation(n)
    return order[: n - n % batch_size].reshape(-1, batch_size)


def batch_scores(y_true, y_pred, batch_size: int = 100, random_state=0) -> dict:
    """The "ACC", NMI and ARI that the released PFC code (gyh5421/unified_deep_clustering, gan_mnist.py)
    logs, NOT the whole-set scores: the samples are shuffled (`random_state`), cut into full batches of
    `batch_size` (the code's 100; a short last batch is dropped, as the code's reshape does), each batch is
    scored on its own and the scores are averaged. The code's "ACC" is purity (each predicted cluster
    counts its majority class, many-to-one), so on 100 samples even random labels score far above
    1 / n_classes (USPS700, k = 10: about 0.27 vs whole-set Hungarian ACC 0.115; `random_label_baseline`).
    Returns {"batch_purity", "batch_nmi", "batch_ari"}."""
    y_true, y_pred = _pair(y_true, y_pred)
    rows = _batches(y_true.size, batch_size, random_state)
    pur, nm, ar = [], [], []
    for b in rows:
        pur.append(purity(y_true[b], y_pred[b]))
        nm.append(_skm.normalized_mutual_info_score(y_true[b], y_pred[b]))
        ar.append(_skm.adjusted_rand_score(y_true[b], y_pred[b]))
    return {"batch_purity": float(np.mean(pur)), "batch_nmi": float(np.mean(nm)), "batch_ari": float(np.mean(ar))}


def batch_purity(y_true, y_pred, batch_size: int = 100, random_state=0) -> float:
    """Purity averaged over shuffled batches of `batch_size`: the released PFC code's "ACC" (see
    `batch_scores`). Not comparable with whole-set Hungarian `acc`."""
    y_true, y_pred = _pair(y_true, y_pred)
    rows = _batches(y_true.size, batch_size, random_state)
    return float(np.mean([purity(y_true[b], y_pred[b]) for b in rows]))


def random_label_baseline(y_true, n_clusters: int, n_draws: int = 20, batch_size: int = 100,
                          random_state=0) -> dict:
    """What uniformly random cluster labels (n_clusters values) score on y_true, mean over `n_draws` draws:
    {"acc", "nmi", "ari", "purity", "batch_purity", "batch_nmi", "batch_ari"} -- the chance level of each
    metric, to print beside it."""
    y_true = np.asarray(y_true).ravel()
    g = np.random.default_rng(random_state)
    rows = []
    for d in range(n_draws):
        lab = g.integers(0, n_clusters, y_true.size)
        rows.append({**evaluate(y_true, lab), **batch_scores(y_true, lab, batch_size, random_state=d)})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
