"""A convolutional autoencoder with a side input: the DCEC CAE whose embedding layer also sees a small
vector of extra features (spec 001 §2.5, option F1 of Deep IFL's final clusterer).

Input: flat rows [vec(image); e] of length C*H*W + side_dim. The image goes through conv1-conv3 as in
`ConvAutoencoder`; `e` is concatenated to the flattened conv3 output, which then feeds the `embedding`
Linear layer. The decoder reconstructs the image unchanged, and an extra `Linear(latent -> side_dim)`
head reconstructs `e` from z. The output is flat too, so the MSE over the whole row is the mean squared
error over all C*H*W + side_dim values (spec §2.5).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .autoencoders import Autoencoder, ConvAutoencoder, xavier_init


class _SideEncoder(nn.Module):
    """x (B, P + side_dim) -> z (B, latent): conv stack on the image part, embedding on [conv; side]."""

    def __init__(self, conv: nn.Module, embedding: nn.Linear, image_shape: Sequence[int], side_dim: int):
        super().__init__()
        self.conv, self.embedding = conv, embedding
        self.image_shape = tuple(int(s) for s in image_shape)
        self.n_pixels = int(torch.tensor(self.image_shape).prod())
        self.side_dim = side_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        img = x[:, :self.n_pixels].reshape(x.shape[0], *self.image_shape)
        side = x[:, self.n_pixels:]
        return self.embedding(torch.cat([self.conv(img), side], dim=1))


class _SideDecoder(nn.Module):
    """z -> flat [vec(image_hat); e_hat]."""

    def __init__(self, decoder: nn.Module, side_head: nn.Linear):
        super().__init__()
        self.decoder, self.side_head = decoder, side_head

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.decoder(z).flatten(1), self.side_head(z)], dim=1)


class SideInputConvAutoencoder(Autoencoder):
    """DCEC CAE + side input into the embedding layer + linear side reconstruction head."""

    def __init__(self, image_shape: Sequence[int], side_dim: int, filters: Sequence[int] = (32, 64, 128),
                 latent_dim: int = 10):
        super().__init__()
        base = ConvAutoencoder(image_shape, filters, latent_dim)
        conv = base.encoder[:-1]            # conv1-conv3 + Flatten
        flat = base.encoder[-1].in_features
        self.encoder = _SideEncoder(conv, nn.Linear(flat + side_dim, latent_dim), image_shape, side_dim)
        self.decoder = _SideDecoder(base.decoder, nn.Linear(latent_dim, side_dim))
        self.latent_dim, self.side_dim = latent_dim, side_dim
        xavier_init(self)
