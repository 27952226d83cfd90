"""ResNet convolutional VAE, residual discriminator and DeepDenseNet (DCFAE, spec 000 §2.2-2.8).

Blocks (all convolutions 3x3 with biases, no normalisation anywhere, spec §2.2):
- `ResBlock(c)`: y = conv(relu(conv(x))); out = relu(x + y).
- down block: Conv2d(stride 2, padding 1) + ReLU (+ ResBlock); up block: ConvTranspose2d(stride 2,
  padding 1, output_padding 1) + ReLU (+ ResBlock). `residual=False` drops every ResBlock (the paper's
  "DCFAE - Resnet" ablation, §2.9).
- `ResNetEncoder`: 4 down blocks 64-128-256-512 -> flatten -> two Linear heads (mu, log-variance).
- `ResNetDecoder` (also the GAN generator): Linear(L -> 512*s*s) -> reshape -> ReLU -> 4 up blocks
  512-256-128-64 (the first keeps 512) -> ConvTranspose2d(64 -> C, stride 1) logits.
- `ResidualDiscriminator`: 3 down blocks 32-64-512 -> flatten -> Linear(1) logit.
- `DeepDenseNet`: 50-2048-512-512-50, ReLU + Dropout(0.3) after the first three layers, linear output.

`width` multiplies every convolution's channel count (1.0 = the paper/[CODE] architecture; the
DeepDenseNet has its own widths). With width 1 and 32x32 inputs the parameter counts are those of spec
§2.8 (checked in tests). Spatial sizes: any square side divisible by 16 (32 in the paper).

`save_image_grid(images, path, nrow)` writes an N x C x H x W batch in [0, 1] as one PNG (generic; any
generative method can use it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .autoencoders import xavier_init

ENCODER_CHANNELS = (64, 128, 256, 512)
DECODER_CHANNELS = (512, 512, 256, 128, 64)  # fc output channels, then the 4 up blocks
DISCRIMINATOR_CHANNELS = (32, 64, 512)
DENSE_HIDDEN = (2048, 512, 512)


def scaled(channels: Sequence[int], width: float) -> tuple[int, ...]:
    """Channel counts times `width` (at least 1 each)."""
    return tuple(max(1, int(round(c * width))) for c in channels)


class ResBlock(nn.Module):
    """x -> Conv3x3 -> ReLU -> Conv3x3 -> (+x) -> ReLU (spec §2.2, [CODE] order)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


def down_block(c_in: int, c_out: int, residual: bool = True) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.ReLU()] + ([ResBlock(c_out)] if residual else [])


def up_block(c_in: int, c_out: int, residual: bool = True) -> list[nn.Module]:
    return ([nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, output_padding=1), nn.ReLU()]
            + ([ResBlock(c_out)] if residual else []))


def _check_side(side: int, factor: int, what: str) -> None:
    if side % factor or side < factor:
        raise ValueError(f"{what} needs square images whose side is a multiple of {factor} (32 in the paper); "
                         f"got side {side}. Resize the images, e.g. load_dataset(..., resize=32)")


class ResNetEncoder(nn.Module):
    """q(z|x): returns (mu, logvar), each N x latent_dim (spec §2.3)."""

    def __init__(self, in_channels: int = 1, latent_dim: int = 50, *, image_size: int = 32, width: float = 1.0,
                 residual: bool = True, channels: Sequence[int] = ENCODER_CHANNELS, init: str = "xavier"):
        super().__init__()
        _check_side(image_size, 16, "ResNetEncoder")
        ch = scaled(channels, width)
        layers, c = [], in_channels
        for co in ch:
            layers += down_block(c, co, residual)
            c = co
        self.body = nn.Sequential(*layers, nn.Flatten())
        flat = ch[-1] * (image_size // 16) ** 2
        self.mu = nn.Linear(flat, latent_dim)
        self.logvar = nn.Linear(flat, latent_dim)
        self.latent_dim = latent_dim
        init_weights(self, init)

    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class ResNetDecoder(nn.Module):
    """p(x|z) and GAN generator: returns logits N x C x S x S (spec §2.4); sigmoid gives x~."""

    def __init__(self, out_channels: int = 1, latent_dim: int = 50, *, image_size: int = 32, width: float = 1.0,
                 residual: bool = True, channels: Sequence[int] = DECODER_CHANNELS, init: str = "xavier"):
        super().__init__()
        _check_side(image_size, 16, "ResNetDecoder")
        ch = scaled(channels, width)
        self.start = (ch[0], image_size // 16, image_size // 16)
        self.fc = nn.Linear(latent_dim, int(np.prod(self.start)))
        layers = []
        for ci, co in zip(ch[:-1], ch[1:]):
            layers += up_block(ci, co, residual)
        layers.append(nn.ConvTranspose2d(ch[-1], out_channels, 3, 1, 1))
        self.body = nn.Sequential(*layers)
        init_weights(self, init)

    def forward(self, z):
        return self.body(F.relu(self.fc(z).view(-1, *self.start)))


class ResidualDiscriminator(nn.Module):
    """D(x): one logit per image (spec §2.5); probabilities are sigmoid(logit)."""

    def __init__(self, in_channels: int = 1, *, image_size: int = 32, width: float = 1.0, residual: bool = True,
                 channels: Sequence[int] = DISCRIMINATOR_CHANNELS, init: str = "xavier"):
        super().__init__()
        _check_side(image_size, 8, "ResidualDiscriminator")
        ch = scaled(channels, width)
        layers, c = [], in_channels
        for co in ch:
            layers += down_block(c, co, residual)
            c = co
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(ch[-1] * (image_size // 8) ** 2, 1))
        init_weights(self, init)

    def forward(self, x):
        return self.body(x)


class DeepDenseNet(nn.Module):
    """g(mu) = c: Linear-ReLU-Dropout x 3 then Linear (spec §2.6). `relu_output=True` reads "4 dense
    layers with the ReLU activation" literally (spec §9.1 A6; default linear, as [CODE])."""

    def __init__(self, in_dim: int = 50, hidden: Sequence[int] = DENSE_HIDDEN, out_dim: int = 50,
                 dropout: float = 0.3, relu_output: bool = False, init: str = "xavier"):
        super().__init__()
        layers, d = [], in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
            d = h
        layers.append(nn.Linear(d, out_dim))
        if relu_output:
            layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        init_weights(self, init)

    def forward(self, m):
        return self.net(m)

    def l2_penalty(self) -> torch.Tensor:
        """sum of squared weights (not biases) of every Linear layer (Keras l2 regulariser, §2.6)."""
        return sum(m.weight.pow(2).sum() for m in self.net if isinstance(m, nn.Linear))


def init_weights(module: nn.Module, init: str = "xavier") -> nn.Module:
    """"xavier" = Keras default (Glorot-uniform weights, zero biases; [CODE], spec §2.7); "torch" = PyTorch's
    own default (Kaiming-uniform a=sqrt(5)), left as constructed."""
    if init == "xavier":
        return xavier_init(module)
    if init == "torch":
        return module
    raise ValueError(f"init must be 'xavier' or 'torch', got {init!r}")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---- image grids ------------------------------------------------------------------------------------
def image_grid(images, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """N x C x H x W (or N x H x W) array/tensor in [0, 1] -> one H' x W' (grey) or H' x W' x 3 array."""
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    a = np.asarray(images, dtype=np.float32)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"images must be N x C x H x W with C = 1 or 3, got shape {a.shape}")
    n, c, h, w = a.shape
    nrow = max(1, min(int(nrow), n))
    rows = -(-n // nrow)
    grid = np.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value, np.float32)
    for i in range(n):
        r, k = divmod(i, nrow)
        y0, x0 = padding + r * (h + padding), padding + k * (w + padding)
        grid[:, y0:y0 + h, x0:x0 + w] = a[i]
    grid = np.clip(grid, 0.0, 1.0)
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_image_grid(images, path, nrow: int = 8, padding: int = 2) -> Path:
    """Write images (N x C x H x W in [0, 1]) as one PNG grid with `nrow` images per row."""
    from ..engine.io import atomic_path
    grid = image_grid(images, nrow, padding)
    path = Path(path)
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    with atomic_path(path, "wb") as f:
        plt.imsave(f, grid, cmap="gray" if grid.ndim == 2 else None, vmin=0.0, vmax=1.0, format="png")
    return path


__all__ = ["ResBlock", "down_block", "up_block", "ResNetEncoder", "ResNetDecoder", "ResidualDiscriminator",
           "DeepDenseNet", "n_params", "scaled", "image_grid", "save_image_grid"]
