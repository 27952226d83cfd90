"""Data augmentation for autoencoder pretraining, on the device and batched.

`random_affine` applies to a batch of images a random rotation (+-`rotation` degrees) and shift
(+-`shift` of the side), the augmentation of DEC-DA (Guo, Zhu, Liu, Yin, "Deep Embedded Clustering with
Data Augmentation", ACML 2018: Keras' ImageDataGenerator with rotation_range=10, width/height_shift_range=0.1).
Training the autoencoder on augmented images makes nearby views of a digit or object map to nearby codes,
which the clustering heads then see as one group.

The draw of a step is a pure function of (seed, phase, step) (`engine.device.generator`), so a resumed run
augments exactly as an uninterrupted one.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .device import generator


def random_affine(x: torch.Tensor, image_shape: tuple, *, rotation: float = 10.0, shift: float = 0.1,
                  seed: int | None = 0, key=("augment",), step: int = 0) -> torch.Tensor:
    """x (B x C x H x W, or B x C*H*W flattened) -> the same shape, each image rotated and shifted at random,
    bilinear sampling, zero outside the image."""
    b = x.shape[0]
    c, h, w = image_shape
    img = x.reshape(b, c, h, w)
    g = generator(seed, *key, step)
    u = torch.rand(b, 3, generator=g).to(x.device) * 2 - 1  # uniform in [-1, 1]
    a = u[:, 0] * math.radians(rotation)
    cos, sin = torch.cos(a), torch.sin(a)
    # affine_grid works in normalised coordinates [-1, 1]: a shift of s * side is 2 s
    theta = torch.stack([torch.stack([cos, -sin, 2 * shift * u[:, 1]], 1),
                         torch.stack([sin, cos, 2 * shift * u[:, 2]], 1)], 1).to(img.dtype if img.is_floating_point() else torch.float32)
    grid = F.affine_grid(theta, (b, c, h, w), align_corners=False)
    out = F.grid_sample(img.float(), grid.float(), mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.to(x.dtype).reshape(x.shape)
