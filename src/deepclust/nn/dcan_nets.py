"""Fully connected tanh networks of DCAN (Lim, "Deep clustering using adversarial net based clustering
loss"; spec 004 §2) and of its baselines (ABC, DC-Kmeans/DC-GMM, AE, VAE).

- `tanh_mlp(dims, last_act)`: Linear layers with tanh between them (spec §2.2: "tanh for the hidden layers").
- `Discriminator`: z -> tanh hidden -> 1 logit (the sigmoid of eq. 18 is folded into BCE-with-logits, spec §2.3).
- `TanhAutoencoder`: encoder dims[0] -> ... -> latent (latent activation configurable, spec §2.2/§9.1.8) and the
  mirrored decoder with a linear output (ABC/AE baselines, eq. 2); `forward(x) -> (z, x_hat)`, so the engine's
  `pretrain_autoencoder` works on it.
- `GaussianEncoder` / `TanhVAE`: tanh hidden layers, linear mu and ln sigma^2 heads (eq. 23); the module's
  forward returns mu (the embedding used for k-means), `dist(x)` returns (mu, logvar).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .autoencoders import xavier_init

LATENT_ACTS = ("tanh", "sigmoid", "identity")


def latent_activation(name: str) -> nn.Module | None:
    if name not in LATENT_ACTS:
        raise ValueError(f"latent activation must be one of {LATENT_ACTS}, got {name!r}")
    return {"tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "identity": None}[name]


def tanh_init(module: nn.Module) -> nn.Module:
    """Xavier-uniform with the tanh gain (5/3), zero biases (spec §2.7 default)."""
    gain = nn.init.calculate_gain("tanh")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight, gain=gain)
            nn.init.zeros_(m.bias)
    return module


def tanh_mlp(dims: Sequence[int], last_act: nn.Module | None = None) -> nn.Sequential:
    """dims[0] -> ... -> dims[-1], tanh after every layer but the last (then `last_act`, if any)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.Tanh())
    if last_act is not None:
        layers.append(last_act)
    return nn.Sequential(*layers)


def _init(module: nn.Module, init: str) -> nn.Module:
    if init == "xavier_tanh":
        return tanh_init(module)
    if init == "xavier":
        return xavier_init(module)
    if init == "torch":
        return module
    raise ValueError(f"init must be 'xavier_tanh', 'xavier' or 'torch', got {init!r}")


class Discriminator(nn.Module):
    """D(z): z -> tanh hidden layer(s) -> one logit; sigmoid(logit) = probability that z is a 'real'
    sample of the assigned cluster's Gaussian (eq. 18). Unconditional: its input is z only (spec §2.3)."""

    def __init__(self, latent_dim: int, hidden: Sequence[int] = (16,), init: str = "xavier_tanh"):
        super().__init__()
        self.net = tanh_mlp([latent_dim, *hidden, 1])
        _init(self, init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # logits, shape (N,)
        return self.net(z).squeeze(-1)


class TanhAutoencoder(nn.Module):
    """Encoder input -> hidden (tanh) -> latent (`latent_act`), decoder mirrored (tanh) -> linear output."""

    def __init__(self, input_dim: int, hidden: Sequence[int], latent_dim: int, latent_act: str = "tanh",
                 init: str = "xavier_tanh", decoder: bool = True):
        super().__init__()
        dims = [input_dim, *hidden, latent_dim]
        self.encoder = nn.Sequential(nn.Flatten(), tanh_mlp(dims, latent_activation(latent_act)))
        self.decoder = tanh_mlp(dims[::-1]) if decoder else None
        self.latent_dim = latent_dim
        _init(self, init)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.decoder is None:
            raise RuntimeError("this TanhAutoencoder was built without a decoder")
        return self.decoder(z)

    def forward(self, x):
        z = self.encode(x)
        return z, self.decode(z).view_as(x)


class GaussianEncoder(nn.Module):
    """q(z|x) = N(mu, sigma^2): tanh hidden layers, linear heads for mu and ln sigma^2 (eq. 23).
    forward(x) = mu (the deterministic embedding); dist(x) = (mu, logvar)."""

    def __init__(self, input_dim: int, hidden: Sequence[int], latent_dim: int):
        super().__init__()
        if not hidden:
            raise ValueError("GaussianEncoder needs at least one hidden layer")
        self.body = nn.Sequential(nn.Flatten(), tanh_mlp([input_dim, *hidden], nn.Tanh()))
        self.mu = nn.Linear(hidden[-1], latent_dim)
        self.logvar = nn.Linear(hidden[-1], latent_dim)

    def dist(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)

    def forward(self, x):
        return self.mu(self.body(x))


class TanhVAE(nn.Module):
    """VAE of the baselines (Appendix A): GaussianEncoder + mirrored tanh decoder with a linear output."""

    def __init__(self, input_dim: int, hidden: Sequence[int], latent_dim: int, init: str = "xavier_tanh"):
        super().__init__()
        self.encoder = GaussianEncoder(input_dim, hidden, latent_dim)
        self.decoder = tanh_mlp([latent_dim, *list(hidden)[::-1], input_dim])
        self.latent_dim = latent_dim
        _init(self, init)
        nn.init.zeros_(self.encoder.logvar.weight)  # start at sigma = 1 (numerically safe)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):  # deterministic pass (pretraining helpers): reconstruct from mu
        z = self.encode(x)
        return z, self.decode(z).view_as(x)


__all__ = ["Discriminator", "TanhAutoencoder", "GaussianEncoder", "TanhVAE", "tanh_mlp", "tanh_init",
           "latent_activation", "LATENT_ACTS"]
