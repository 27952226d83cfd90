"""AE + k-means, DEC and IDEC on the fully connected autoencoder d-500-500-2000-10.

DEC: J. Xie, R. Girshick, A. Farhadi, "Unsupervised Deep Embedding for Clustering Analysis", ICML 2016.
IDEC: X. Guo, L. Gao, X. Liu, J. Yin, "Improved Deep Embedded Clustering with Local Structure Preservation",
IJCAI 2017.

Algorithm:
  1. pretrain the autoencoder on reconstruction (MSE);
  2. k-means (n_init=20) on the embedding -> initial centres mu;
  3. self-training: every T iterations compute Q (Student-t, Eq. 1) on all data and the target
     P (Eq. 3); minimise KL(P||Q) (DEC) or L_r + gamma KL(P||Q) (IDEC) on minibatches; stop when fewer
     than tol of the labels change between refreshes.

Deviations, recorded: the original DEC pretrains greedily layer by layer as stacked denoising
autoencoders (dropout 0.2, SGD); we follow the authors' later Keras code (Guo's DEC/IDEC, used by the
seed papers' baselines): end-to-end pretraining, Adam(1e-3), 200 epochs, batch 256, glorot init.
Clustering phase: DEC SGD(0.01, momentum 0.9); IDEC Adam(1e-3), gamma 0.1; both T=140, tol=0.001,
max_iter=20,000, batches taken in order (as in the Keras code).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from ..engine.assignment import init_centers, nearest
from ..engine.base import estimator
from ..engine.deep import DeepClusterer
from ..engine.training import encode, pretrain_autoencoder, self_training
from ..errors import InvalidInputError
from ..nn import ClusteringHead, MLPAutoencoder


@estimator
class AEKMeans(DeepClusterer):
    """Autoencoder + k-means: pretrain the autoencoder, then k-means on its embedding."""

    hidden: tuple = (500, 500, 2000)
    latent_dim: int = 10
    pretrain_epochs: int = 200
    pretrain_lr: float = 1e-3
    batch_size: int = 256
    n_init: int = 20
    weight_init: str = "glorot"  # "glorot" (Keras, the papers' code: glorot-uniform, zero biases) | "torch"

    presets: ClassVar[dict] = {"paper": {}, "cpu": {"pretrain_epochs": 50},
                               "smoke": {"pretrain_epochs": 3, "n_init": 3}}

    # -- the pieces subclasses swap ---------------------------------------------------------------
    def _build_autoencoder(self, fit):
        return MLPAutoencoder(fit.data.dim, self.hidden, self.latent_dim, init=self._init_scheme())

    def _check_params(self) -> None:
        name = type(self).__name__
        for f, low in (("pretrain_epochs", 0), ("batch_size", 1), ("latent_dim", 1), ("n_init", 1)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise InvalidInputError(f"{name}: {f} must be an integer >= {low}, got {v!r}")
        self._init_scheme()

    def _init_scheme(self) -> str:
        if self.weight_init not in ("glorot", "torch"):
            raise InvalidInputError(f"{type(self).__name__}: weight_init must be 'glorot' or 'torch', "
                                    f"got {self.weight_init!r}")
        return "xavier" if self.weight_init == "glorot" else "torch"

    def _image_shape(self, X):
        return None

    def _init_method(self) -> str:
        return "kmeans"

    def _pretrain_epochs(self) -> int:
        """Epochs of reconstruction pretraining to run (0 when a pretrained autoencoder is loaded)."""
        return self.pretrain_epochs

    # -- the algorithm ----------------------------------------------------------------------------
    def _pretrain_and_init(self, fit):
        s = fit.state
        if not hasattr(s, "ae"):
            s.ae = self._build_autoencoder(fit).to(fit.device)
        pretrain_autoencoder(fit, "pretrain", epochs=self._pretrain_epochs(), batch_size=self.batch_size,
                             lr=self.pretrain_lr)

        def init():
            z = encode(fit, s.ae.encode, modules=(s.ae,))
            centers, labels = init_centers(z, self.n_clusters, self._init_method(), fit.seed, self.n_init)
            s.init_centers = torch.as_tensor(centers)
            s.init_labels = torch.as_tensor(labels, device=fit.device)
            return fit.monitor(labels)

        fit.once("init", init)

    def _fit(self, X, y):
        fit = self._make_fit(X, y, image_shape=self._image_shape(X))
        self._pretrain_and_init(fit)
        s = fit.state
        fit.finish(s.init_labels, encoder_=s.ae.encoder, autoencoder_=s.ae, cluster_centers_=s.init_centers.numpy())


@estimator
class DEC(AEKMeans):
    """Deep Embedded Clustering: KL(P||Q) self-training of the encoder and centres (decoder dropped)."""

    lr: float = 0.01
    optimizer: str = "sgd"
    max_iter: int = 20000
    update_interval: int = 140
    tol: float = 0.001
    alpha: float = 1.0
    shuffle: bool = False  # self-training batches: False = the DEC/IDEC Keras code's fixed order; True =
                           # reshuffled every epoch (PyTorch ports such as ClustPy)

    presets: ClassVar[dict] = {
        "paper": {},
        "cpu": {"pretrain_epochs": 50, "max_iter": 5000},
        # a faster schedule, measured against ClustPy in benchmarks/peer_clustpy.py: bf16 autocast where
        # the hardware multiplies bf16 natively (CPUs with AMX / AVX512-BF16, bf16 GPUs; fp32 elsewhere),
        # 30 pretraining epochs at a doubled learning rate, k-means with 20 restarts, Adam(1e-4)
        # self-training with whole-dataset targets every 140 steps and the 0.1 % stopping rule, <= 1,000 steps
        "fast": {"pretrain_epochs": 30, "pretrain_lr": 2e-3, "optimizer": "adam", "lr": 1e-4,
                 "max_iter": 1000, "update_interval": 140, "n_init": 20, "precision": "bf16-native"},
        "smoke": {"pretrain_epochs": 3, "max_iter": 60, "update_interval": 20, "n_init": 3}}

    def _loss_weight(self) -> float | None:
        """Weight of KL(P||Q) next to L_r; None = no reconstruction term (DEC)."""
        return None

    def _check_params(self) -> None:
        def need(cond, msg):
            if not cond:
                raise InvalidInputError(f"{type(self).__name__}: {msg}")

        def whole(v, low):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low

        for name in ("pretrain_epochs", "max_iter", "update_interval"):  # update_interval 0 = per-batch targets
            need(whole(getattr(self, name), 0), f"{name} must be a non-negative integer, got {getattr(self, name)!r}")
        for name in ("batch_size", "latent_dim", "n_init"):
            need(whole(getattr(self, name), 1), f"{name} must be a positive integer, got {getattr(self, name)!r}")
        need(self.optimizer in ("adam", "sgd"), f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        self._init_scheme()
        need(0 <= float(self.tol) <= 1, f"tol is a fraction of labels in [0, 1], got {self.tol!r}")
        need(float(self.lr) > 0 and float(self.pretrain_lr) > 0, "learning rates must be > 0")
        need(float(self.alpha) > 0, f"alpha (Student-t degrees of freedom) must be > 0, got {self.alpha!r}")
        w = self._loss_weight()
        need(w is None or float(w) >= 0, f"gamma (weight of KL(P||Q)) must be >= 0, got {w!r}")

    def _fit(self, X, y):
        fit = self._make_fit(X, y, image_shape=self._image_shape(X))
        self._pretrain_and_init(fit)
        s = fit.state
        if not hasattr(s, "head"):
            s.head = self._make_head(fit).to(fit.device)
            s.labels = s.init_labels
        gamma = self._loss_weight()

        def forward(x):
            z = s.ae.encode(x)
            return z, (s.ae.decode(z).view_as(x) if gamma is not None else None)

        self_training(fit, "cluster", model_forward=forward, params=lambda: [*s.ae.parameters(), *s.head.parameters()],
                      gamma=gamma, lr=self.lr, optimizer=self.optimizer, batch_size=self.batch_size,
                      max_iter=self.max_iter, update_interval=self.update_interval, tol=self.tol,
                      shuffle=self.shuffle, alpha=self.alpha, modules=lambda: (s.ae,), on_refresh=self._on_refresh(fit))
        fit.finish(s.labels, encoder_=s.ae.encoder, autoencoder_=s.ae, cluster_centers_=s.head.centers,
                   **self._extra_fitted(fit))

    def _make_head(self, fit):
        """The clustering layer trained in the self-training phase (trainable Student-t centres)."""
        return ClusteringHead(fit.state.init_centers, self.alpha)

    def _on_refresh(self, fit):
        """Hook run on the embedding before each target update (None: centres only move by gradient)."""
        return None

    def _extra_fitted(self, fit) -> dict:
        return {}

    def predict_proba(self, X):
        """Soft assignment Q (Student-t) of new samples."""
        from ..engine.assignment import student_t
        Z = torch.from_numpy(self.transform(X))
        return student_t(Z, torch.as_tensor(self.cluster_centers_), self.alpha).numpy()


@estimator
class IDEC(DEC):
    """Improved DEC: keeps the decoder, minimises L_r + gamma KL(P||Q) (gamma = 0.1), Adam(1e-3)."""

    lr: float = 1e-3
    optimizer: str = "adam"
    gamma: float = 0.1

    def _loss_weight(self):
        return self.gamma


METHODS = {"ae-kmeans": AEKMeans, "dec": DEC, "idec": IDEC}
__all__ = ["AEKMeans", "DEC", "IDEC", "nearest"]
