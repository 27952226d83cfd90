"""DCEC: X. Guo, X. Liu, E. Zhu, J. Yin, "Deep Clustering with Convolutional Autoencoders", ICONIP 2017.

Spec §2.1-2.2, §3, §4.1: the project's implementation notes (not shipped with the package) on Ghazanfari &
Afghah (arXiv:2010.02343, 2020), which build on DCEC. Algorithm:
  1. pretrain the CAE (conv 32-64-128, linear 10-d embedding) on MSE: Adam(1e-3), batch 256, 200 epochs;
  2. k-means (n_init=20) on the embedding -> centres mu (trainable);
  3. minimise L = L_r + gamma KL(P||Q), gamma = 0.1 (§3.3), Adam(1e-3), batch 256 taken in order;
     P refreshed on all data every T = 140 iterations; stop when < tol = 0.1 % of labels change;
     at most 20,000 iterations.
Deviations: labels are recomputed once after the loop (§4.1 step 4, [SUGGESTED]); PyTorch's symmetric
'same' padding instead of Keras' asymmetric one (same shapes, §2.1).
"""
from __future__ import annotations

from typing import ClassVar

from ..engine.base import estimator
from ..engine.validation import image_shape_of
from ..nn import ConvAutoencoder
from .dec import IDEC


@estimator
class DCEC(IDEC):
    """DCEC = IDEC's objective on the DCEC convolutional autoencoder. X: images (n, C, H, W) or
    flattened square images; the side must be divisible by 4 (28, 16, 32...)."""

    filters: tuple = (32, 64, 128)
    image_shape: tuple | None = None

    uses_images: ClassVar[bool] = True
    paper_data: ClassVar[dict] = {"usps": {"scale": "minus1-1"}}  # USPS in [-1, 1] (Ghazanfari & Afghah §IV)
    presets: ClassVar[dict] = {"paper": {}, "cpu": {"pretrain_epochs": 30, "max_iter": 3000},
                               "smoke": {"pretrain_epochs": 2, "max_iter": 40, "update_interval": 20,
                                         "n_init": 3}}

    def _image_shape(self, X):
        return image_shape_of(X, self.image_shape, method="DCEC")

    def _build_autoencoder(self, fit):
        return ConvAutoencoder(fit.data.sample_shape, self.filters, self.latent_dim, init=self._init_scheme())


METHODS = {"dcec": DCEC}
