"""Soft assignments, target distributions and centre initialisers shared by the DEC family."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .device import full_precision


def student_t(z: torch.Tensor, centers: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """q_ij = (1 + |z_i - mu_j|^2 / alpha)^(-(alpha+1)/2), normalised over clusters j
    (DEC Eq. 1; spec 001 §2.2, with the paper's sum_i typo corrected to sum_j)."""
    with full_precision(z):
        d2 = torch.cdist(z.float(), centers.float()).pow(2)
        q = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
        return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'), f_j = sum_i q_ij (DEC Eq. 3; spec 001 §3.2).
    Computed on the whole dataset and held fixed between refreshes."""
    w = q.pow(2) / q.sum(dim=0)
    return w / w.sum(dim=1, keepdim=True)


def kl_clustering_loss(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """KL(P||Q) averaged over the batch (Keras 'kld' with clipping to [eps, 1]; spec 001 §3.2)."""
    p = p.clamp(eps, 1.0)
    return (p * (p.log() - q.clamp(eps, 1.0).log())).sum(dim=1).mean()


def nearest(z: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre (= argmax of the Student-t q)."""
    return torch.cdist(z.float(), centers.float()).argmin(dim=1)


def kmeans(z, n_clusters: int, *, n_init: int = 20, seed=0, max_iter: int = 300):
    """k-means (scikit-learn, Lloyd) on an embedding. Returns (centres as float32 array, labels)."""
    from sklearn.cluster import KMeans
    Z = z.detach().float().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, np.float32)
    km = KMeans(n_clusters, n_init=n_init, random_state=_sk_seed(seed), max_iter=max_iter).fit(Z)
    return km.cluster_centers_.astype(np.float32), km.labels_.astype(np.int64)


def ward(z, n_clusters: int):
    """Ward agglomerative clustering in O(n d) memory (fastcluster's vector linkage).
    Returns (centres = cluster means, labels 0..k-1)."""
    import fastcluster
    from scipy.cluster.hierarchy import fcluster
    Z = z.detach().double().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, np.float64)
    tree = fastcluster.linkage_vector(Z, method="ward")
    labels = fcluster(tree, t=n_clusters, criterion="maxclust") - 1
    _, labels = np.unique(labels, return_inverse=True)
    centers = cluster_means(Z, labels, int(labels.max()) + 1)
    return centers.astype(np.float32), labels.astype(np.int64)


def ward_levels(z, ks) -> list:
    """One Ward tree (fastcluster, O(n d) memory) cut at each number of clusters in `ks`.
    Returns [(centres = cluster means, labels 0..k-1)] in the order of `ks` (the levels of one hierarchy:
    every cluster of a finer cut lies inside one cluster of a coarser cut)."""
    import fastcluster
    from scipy.cluster.hierarchy import fcluster
    Z = z.detach().double().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, np.float64)
    tree = fastcluster.linkage_vector(Z, method="ward")
    out = []
    for k in ks:
        labels = fcluster(tree, t=int(k), criterion="maxclust") - 1
        _, labels = np.unique(labels, return_inverse=True)
        out.append((cluster_means(Z, labels, int(labels.max()) + 1).astype(np.float32), labels.astype(np.int64)))
    return out


def cluster_means(Z: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, Z.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, Z)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return sums / np.maximum(counts, 1)[:, None]


def init_centers(z, n_clusters: int, method: str = "kmeans", seed=0, n_init: int = 20):
    """Pluggable initialiser: "kmeans" (DEC/DCEC) or "ward" (CAE-MLE)."""
    if method == "kmeans":
        return kmeans(z, n_clusters, n_init=n_init, seed=seed)
    if method == "ward":
        return ward(z, n_clusters)
    from ..errors import UnknownNameError
    raise UnknownNameError(f"unknown centre initialiser {method!r}; use 'kmeans' or 'ward'")


def _sk_seed(seed):
    return None if seed is None else int(seed) % (2**31)


def label_change(new: torch.Tensor, old: torch.Tensor | None) -> float:
    """Fraction of labels that changed since the last refresh (DEC/DCEC's stopping criterion)."""
    if old is None:
        return 1.0
    return (new != old).float().mean().item()


def soft_to_hard(q: torch.Tensor) -> torch.Tensor:
    return q.argmax(dim=1)


__all__ = ["student_t", "target_distribution", "kl_clustering_loss", "nearest", "kmeans", "ward", "ward_levels",
           "cluster_means", "init_centers", "label_change", "F"]
