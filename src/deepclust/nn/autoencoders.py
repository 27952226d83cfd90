"""Autoencoders of the DEC family.

- `MLPAutoencoder`: d-500-500-2000-10 (DEC, IDEC, DeepGMM/AGMM, DCAN baselines), ReLU hidden layers,
  linear embedding and linear reconstruction (DEC's and IDEC's Keras code).
- `ConvAutoencoder`: the DCEC CAE, filters 32-64-128 then a linear embedding (spec 001 §2.1), for any
  square input whose side is a multiple of 4 (28x28 MNIST, 16x16 USPS, 32x32...). conv3/deconv3 use
  'valid' padding when the side is not a multiple of 8, 'same' otherwise (Keras rule in DCEC).
Both expose `encode(x)`, `decode(z)` and `forward(x) -> (z, x_hat)`.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def xavier_init(module: nn.Module) -> nn.Module:
    """Keras' default (glorot-uniform weights, zero biases) for every Linear/Conv layer."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def mlp(dims: Sequence[int], act: type[nn.Module] = nn.ReLU, last_act: nn.Module | None = None,
        dropout: float = 0.0) -> nn.Sequential:
    """Linear layers dims[0] -> ... -> dims[-1] with `act` between them (none after the last unless
    last_act is given)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(act())
            if dropout:
                layers.append(nn.Dropout(dropout))
    if last_act is not None:
        layers.append(last_act)
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """An `encoder` and a `decoder` module; forward(x) = (z, x_hat shaped like x)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x):
        z = self.encode(x)
        return z, self.decode(z).view_as(x)


class MLPAutoencoder(Autoencoder):
    def __init__(self, input_dim: int, hidden: Sequence[int] = (500, 500, 2000), latent_dim: int = 10,
                 act: type[nn.Module] = nn.ReLU, init: str = "xavier"):
        super().__init__()
        dims = [input_dim, *hidden, latent_dim]
        self.encoder = nn.Sequential(nn.Flatten(), mlp(dims, act))
        self.decoder = mlp(dims[::-1], act)
        self.latent_dim = latent_dim
        if init == "xavier":
            xavier_init(self)


class ConvAutoencoder(Autoencoder):
    """DCEC's CAE (spec 001 §2.1): conv5x5/2 (32) - conv5x5/2 (64) - conv3x3/2 (128) - linear(latent);
    mirrored with transposed convolutions. MNIST: 275,979 parameters; USPS: 262,539."""

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), filters: Sequence[int] = (32, 64, 128),
                 latent_dim: int = 10, init: str = "xavier"):
        super().__init__()
        c, h, w = image_shape
        if h != w or h % 4:
            raise ValueError(f"ConvAutoencoder needs square images with a side divisible by 4, got {h}x{w}")
        f1, f2, f3 = filters
        same3 = h % 8 == 0
        s3 = h // 8 if same3 else (h // 4 - 3) // 2 + 1
        self.feature_shape = (f3, s3, s3)
        flat = f3 * s3 * s3
        self.encoder = nn.Sequential(
            nn.Conv2d(c, f1, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(f1, f2, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(f2, f3, 3, stride=2, padding=1 if same3 else 0), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, flat), nn.ReLU(), nn.Unflatten(1, self.feature_shape),
            nn.ConvTranspose2d(f3, f2, 3, stride=2, padding=1 if same3 else 0, output_padding=1 if same3 else 0),
            nn.ReLU(),
            nn.ConvTranspose2d(f2, f1, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(f1, c, 5, stride=2, padding=2, output_padding=1))
        self.latent_dim = latent_dim
        if init == "xavier":
            xavier_init(self)
