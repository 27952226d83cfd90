"""N2D: (Not Too) Deep clustering via clustering the local manifold of an autoencoded embedding.

McConville, Santos-Rodriguez, Piechocki, Craddock, "N2D: (Not Too) Deep Clustering via Clustering the
Local Manifold of an Autoencoded Embedding", ICPR 2020 (arXiv:1908.05968; code: github.com/rymc/n2d).

Algorithm (paper §III; the authors' run.sh for the image datasets):
  1. train an autoencoder d-500-500-2000-k (ReLU, linear k-dimensional embedding, k = n_clusters) on MSE:
     Adam(1e-3), batch 256, 1000 epochs;
  2. UMAP of the embedding to k dimensions: n_neighbors 20, min_dist 0, Euclidean metric;
  3. a Gaussian mixture with full covariances on the UMAP coordinates; label = most probable component.
Steps 2-3 are the engine's "umap-gmm" head (engine/heads.py), which every deep method can use
(`final_clusterer="umap-gmm"`); N2D is the plain autoencoder with that head as its paper behaviour.

Deviations and additions, recorded:
- GMM: 10 restarts from k-means partitions, the one with the highest likelihood kept (the authors' code
  fits once from scikit-learn's default k-means start). A single start can merge two digits into one
  component on MNIST-test; the restarts are ranked by likelihood, never by labels.
- Budget in optimiser steps: `pretrain_steps` (when set) replaces `pretrain_epochs`, so a preset means the
  same amount of training on 400 images as on 70,000 (50 epochs of 400 images are 100 steps: far too few;
  50 epochs of 70,000 are 13,700). The `paper` preset keeps the paper's 1000 epochs.
- Small data (the heads' "auto" rules, engine/heads.py): UMAP's n_neighbors is capped at half the mean
  cluster size n / (2k) (at least 5), since a neighbourhood larger than a cluster joins clusters in UMAP's
  graph; with >= 40 samples per cluster this is the paper's 20. The GMM's covariance is "full" when the
  mean cluster has at least 5 samples per parameter of a full-covariance component, else "diag" (at least
  5 per parameter), else k-means on the UMAP coordinates. Both rules use only n, k and the embedding size.
- `autoencoder="conv"` swaps in the DCEC convolutional autoencoder (images only) for the paper's MLP.
- `fallback="stability"` (fast preset; data of at most `fallback_max_samples` = 5,000 rows): a 3-million-
  parameter autoencoder has little to learn from a few hundred images, and on some such sets (300 USPS
  digits) UMAP + GMM on its embedding ends below k-means on the pixels. The partition kept is then the more
  stable of the two under 80 % subsampling (mean ARI to the full partition over 5 subsamples; Ben-Hur et al.
  2002), so no labels decide. Measured in benchmarks/results/n2d/small-data.json.
- `augment="affine"` trains the autoencoder on randomly rotated (+-10 deg) and shifted (+-10 %) views, the
  pretraining of DEC-DA (Guo, Zhu, Liu, Yin, "Deep Embedded Clustering with Data Augmentation", ACML 2018);
  "auto" does so when the input is images and never for feature vectors.
- `fast` preset: bf16 where the hardware multiplies it natively, 3,000 optimiser steps at lr 2e-3, augment
  "auto". Measured on USPS seed 0 (benchmarks/results/n2d/): without augmentation the UMAP + GMM partition
  depended on UMAP's seed (ACC 0.82-0.96 over 5 seeds: one run merged two digits); with it 0.961-0.964 over 3.
"""
from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from ..engine.base import estimator
from ..engine.training import pretrain_autoencoder
from ..engine.validation import image_shape_of
from ..errors import InvalidInputError
from ..nn import ConvAutoencoder, MLPAutoencoder
from .dec import AEKMeans


@estimator
class N2D(AEKMeans):
    """Autoencoder, then UMAP + GMM on its embedding (N2D). The embedding dimension defaults to n_clusters."""

    latent_dim: int | None = None      # None: n_clusters, as in N2D
    pretrain_epochs: int = 1000
    pretrain_steps: int | None = None  # optimiser steps; when set, replaces pretrain_epochs
    autoencoder: str = "mlp"           # "mlp" (the paper's d-500-500-2000-k) | "conv" (DCEC's CAE; images)
    image_shape: tuple | None = None   # (C, H, W) of flattened images (4-D input carries its own)
    augment: str = "none"              # "none" (paper) | "affine" (DEC-DA: rotation +-10 deg, shift +-10 %) |
                                       # "auto" (affine when the input is images, none for feature vectors)
    fallback: str = "none"             # "none" (paper) | "stability": on small data, k-means on the raw features
                                       # replaces the result when its partition is the more stable (see below)
    fallback_max_samples: int = 5000   # the fallback check runs only up to this many samples

    paper_head: ClassVar[str] = "umap-gmm"
    presets: ClassVar[dict] = {
        "paper": {},
        "fast": {"pretrain_steps": 3000, "pretrain_lr": 2e-3, "precision": "bf16-native", "augment": "auto",
                 "fallback": "stability"},
        "cpu": {"pretrain_steps": 10000},
        "smoke": {"pretrain_steps": 60, "final_clusterer_params": {"n_init": 2}},
    }

    # -- the pieces -------------------------------------------------------------------------------
    def _embedding_dim(self) -> int:
        return int(self.latent_dim or self.n_clusters)

    def _image_shape(self, X):
        if self.autoencoder == "conv":
            return image_shape_of(X, self.image_shape, method="N2D (autoencoder='conv')")
        return tuple(self.image_shape) if self.image_shape is not None and X.ndim == 2 else None

    def _augmenter(self, fit):
        """DEC-DA's random affine views for image input ("affine", or "auto" on images), else None."""
        shape = fit.data.sample_shape
        is_image = len(shape) == 3
        if self.augment == "none" or (self.augment == "auto" and not is_image):
            return None
        if not is_image:
            raise InvalidInputError("N2D: augment='affine' needs images: pass X as (n, C, H, W) or set image_shape")
        from ..engine.augment import random_affine
        return lambda x, step: random_affine(x, shape, seed=fit.seed, key=("n2d-augment",), step=step)

    def _build_autoencoder(self, fit):
        if self.autoencoder == "conv":
            return ConvAutoencoder(fit.data.sample_shape, latent_dim=self._embedding_dim(), init=self._init_scheme())
        return MLPAutoencoder(fit.data.dim, self.hidden, self._embedding_dim(), init=self._init_scheme())

    def _pretrain_epochs(self, n: int) -> int:
        """Epochs that give `pretrain_steps` optimiser steps on n samples (or `pretrain_epochs`)."""
        if self.pretrain_steps is None:
            return int(self.pretrain_epochs)
        steps_per_epoch = math.ceil(n / min(self.batch_size, n))
        return max(1, math.ceil(self.pretrain_steps / steps_per_epoch))

    def _check_params(self) -> None:
        def whole(v, low):
            return isinstance(v, int) and not isinstance(v, bool) and v >= low
        if self.fallback not in ("none", "stability"):
            raise InvalidInputError(f"N2D: fallback must be 'none' or 'stability', got {self.fallback!r}")
        if self.augment not in ("none", "affine", "auto"):
            raise InvalidInputError(f"N2D: augment must be 'none', 'affine' or 'auto', got {self.augment!r}")
        if self.autoencoder not in ("mlp", "conv"):
            raise InvalidInputError(f"N2D: autoencoder must be 'mlp' or 'conv', got {self.autoencoder!r}")
        if self.latent_dim is not None and not whole(self.latent_dim, 1):
            raise InvalidInputError(f"N2D: latent_dim must be a positive integer or None, got {self.latent_dim!r}")
        if self.pretrain_steps is not None and not whole(self.pretrain_steps, 1):
            raise InvalidInputError(f"N2D: pretrain_steps must be a positive integer or None, got {self.pretrain_steps!r}")
        if not whole(self.pretrain_epochs, 1) or not whole(self.batch_size, 1):
            raise InvalidInputError("N2D: pretrain_epochs and batch_size must be positive integers")
        if not float(self.pretrain_lr) > 0:
            raise InvalidInputError(f"N2D: pretrain_lr must be > 0, got {self.pretrain_lr!r}")

    # -- the algorithm ----------------------------------------------------------------------------
    def _fit(self, X, y):
        fit = self._make_fit(X, y, image_shape=self._image_shape(X))
        s = fit.state
        if not hasattr(s, "ae"):
            s.ae = self._build_autoencoder(fit).to(fit.device)
        pretrain_autoencoder(fit, "pretrain", epochs=self._pretrain_epochs(fit.data.n), batch_size=self.batch_size,
                             lr=self.pretrain_lr, augment=self._augmenter(fit))
        fit.finish(None, encoder_=s.ae.encoder, autoencoder_=s.ae)  # the UMAP + GMM head assigns (DeepClusterer.fit)

    def _apply_final_clusterer(self, X, y=None) -> None:
        super()._apply_final_clusterer(X, y)
        self.head_input_ = "embedding"
        if self.fallback == "stability" and len(X) <= self.fallback_max_samples and self.head_ is not None:
            self._stability_fallback(X, y)

    def _stability_fallback(self, X, y) -> None:
        """Small data: keep the manifold partition unless k-means on the raw features is the more stable one.

        Stability (Ben-Hur, Elisseeff, Guyon, PSB 2002; Lange, Roth, Braun, Buhmann, Neural Comput. 2004):
        each pipeline is re-run on 5 random 80 % subsamples (the manifold head on the same trained embedding,
        one UMAP run each; k-means with 10 restarts on the pixels) and scored by the mean adjusted Rand index
        between the subsample's partition and the full partition on the same rows. Labels are not used."""
        import time
        from sklearn.metrics import adjusted_rand_score
        from ..engine.heads import fit_head
        t = time.time()
        Xf = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        Z = self.transform(X)
        kind = self.head_.kind
        params = {k: v for k, v in (self.final_clusterer_params or {}).items() if k != "n_runs"}
        if kind.startswith("umap"):
            params["n_runs"] = 1
        raw = fit_head(Xf, self.n_clusters, "kmeans", random_state=self.random_state, n_init=10)
        rng = np.random.default_rng(None if self.random_state is None else self.random_state + 7919)
        stab_head, stab_raw = [], []
        for b in range(5):
            rows = np.sort(rng.choice(len(Xf), int(0.8 * len(Xf)), replace=False))
            seed = None if self.random_state is None else self.random_state + 100 + b
            part = fit_head(Z[rows], self.n_clusters, kind, random_state=seed, **params).labels_
            stab_head.append(adjusted_rand_score(part, self.labels_[rows]))
            part = fit_head(Xf[rows], self.n_clusters, "kmeans", random_state=seed, n_init=10).labels_
            stab_raw.append(adjusted_rand_score(part, raw.labels_[rows]))
        choice = "raw k-means" if np.mean(stab_raw) > np.mean(stab_head) else kind
        row = {"phase": "fallback", "stability_head": round(float(np.mean(stab_head)), 4),
               "stability_raw_kmeans": round(float(np.mean(stab_raw)), 4), "chosen": choice}
        if choice == "raw k-means":
            self.manifold_labels_, self.labels_, self.head_, self.head_input_ = self.labels_, raw.labels_, raw, "raw"
            self.cluster_centers_ = raw.cluster_centers_
        if y is not None:
            from ..metrics import acc
            row["acc"] = acc(y, self.labels_)
        seconds = time.time() - t
        row["time"] = round(self.fit_seconds_ + seconds, 3)
        self.history_ = [*self.history_, row]
        self.phase_seconds_ = {**self.phase_seconds_, "fallback": seconds}
        self.fit_seconds_ += seconds


METHODS = {"n2d": N2D}
__all__ = ["N2D"]
