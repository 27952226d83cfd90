"""DCEC: X. Guo, X. Liu, E. Zhu, J. Yin, "Deep Clustering with Convolutional Autoencoders", ICONIP 2017.

Spec §2.1-2.2, §3, §4.1: the project's implementation notes (not shipped with the package) on Ghazanfari &
Afghah (arXiv:2010.02343, 2020), which build on DCEC. Algorithm:
  1. pretrain the CAE (conv 32-64-128, linear 10-d embedding) on MSE: Adam(1e-3), batch 256, 200 epochs;
  2. k-means (n_init=20) on the embedding -> centres mu (trainable);
  3. minimise L = L_r + gamma KL(P||Q), gamma = 0.1 (§3.3), Adam(1e-3), batch 256 taken in order;
     P refreshed on all data every T = 140 iterations; stop when < tol = 0.1 % of labels change;
     at most 20,000 iterations.
Deviations: labels are recomputed once after the loop (§4.1 step 4, [SUGGESTED]); PyTorch's symmetric
'same' padding instead of Keras' asymmetric one (same shapes, §2.1). The settings above are those of the
authors' Keras code (XifengGuo/DCEC: ConvAE.py, DCEC.py; k-means n_init = 20, glorot-uniform init) where
the DCEC paper is silent. Presets: "paper" = those settings; "cpu" = 30 pretraining epochs and at most
3,000 clustering iterations (a reduced CPU budget, not the paper's); "smoke" = seconds, for tests.
`final_clusterer` (engine, not in the paper): "paper" (default) keeps DCEC's nearest-centre labels.

Input scaling and gamma (spec §9.11-12): gamma = 0.1 is the reference code's value (Keras
loss_weights=[gamma, 1] on [kld, mse]), calibrated with USPS in [-0.5, 0.5] (Guo's `load_usps` halves the
[-1, 1] .jf files) and MNIST in [0, 1]. `load_dataset("usps", scale="minus05-05")` gives that range; on
[-1, 1] inputs the per-pixel MSE is 4x larger, so the same L_r : L_c balance would need gamma = 0.4.

`pretrained_ae` (not in the papers; for benchmarks): the path of a saved autoencoder
(`torch.save(fitted.autoencoder_, path)` of a model fitted with max_iter=0) that replaces the
pretraining phase; "{seed}" in the path is replaced by random_state. With the same seed the clustering
phase is then identical to a run that pretrains itself (pretraining uses no randomness the later phases
read), so DCEC, CAE-MLE and its variants can share one pretrained CAE per seed.
"""
from __future__ import annotations

from typing import ClassVar

import torch

from ..engine.base import estimator
from ..errors import InvalidInputError
from ..engine.validation import image_shape_of
from ..nn import ConvAutoencoder
from .dec import IDEC


@estimator
class DCEC(IDEC):
    """DCEC = IDEC's objective on the DCEC convolutional autoencoder. X: images (n, C, H, W) or
    flattened square images; the side must be divisible by 4 (28, 16, 32...)."""

    filters: tuple = (32, 64, 128)
    image_shape: tuple | None = None
    pretrained_ae: str | None = None   # saved ConvAutoencoder replacing pretraining ("{seed}" -> random_state)

    uses_images: ClassVar[bool] = True
    paper_data: ClassVar[dict] = {"usps": {"scale": "minus1-1"}}  # USPS in [-1, 1] (Ghazanfari & Afghah §IV)
    presets: ClassVar[dict] = {"paper": {}, "cpu": {"pretrain_epochs": 30, "max_iter": 3000},
                               "smoke": {"pretrain_epochs": 2, "max_iter": 40, "update_interval": 20,
                                         "n_init": 3}}

    def _image_shape(self, X):
        return image_shape_of(X, self.image_shape, method="DCEC")

    def _build_autoencoder(self, fit):
        if self.pretrained_ae is not None:
            return load_autoencoder(self.pretrained_ae, self.random_state, fit.data.sample_shape, self.filters,
                                    self.latent_dim)
        return ConvAutoencoder(fit.data.sample_shape, self.filters, self.latent_dim, init=self._init_scheme())

    def _pretrain_epochs(self) -> int:
        return 0 if self.pretrained_ae is not None else self.pretrain_epochs


def load_autoencoder(path: str, seed, sample_shape, filters, latent_dim) -> ConvAutoencoder:
    """A saved ConvAutoencoder (torch.save of a fitted model's autoencoder_), checked against the data's
    shape and the estimator's filters/latent_dim. "{seed}" in `path` is replaced by `seed`."""
    path = str(path).replace("{seed}", str(seed))
    try:
        ae = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise InvalidInputError(f"pretrained_ae={path!r} does not exist; save one with "
                                "torch.save(model.autoencoder_, path) after fitting with max_iter=0") from None
    ref = ConvAutoencoder(sample_shape, filters, latent_dim, init="torch")
    if not isinstance(ae, ConvAutoencoder) or {k: v.shape for k, v in ae.state_dict().items()} != \
            {k: v.shape for k, v in ref.state_dict().items()}:
        raise InvalidInputError(f"pretrained_ae={path!r} is not a ConvAutoencoder for samples of shape "
                                f"{tuple(sample_shape)} with filters {tuple(filters)} and latent_dim {latent_dim}")
    return ae


METHODS = {"dcec": DCEC}
