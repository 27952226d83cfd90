"""PFC's three networks: class-conditional generator G(z, onehot(y)), critic D, classifier C.

Spec: shared/specs/002_precise_feature.md §2.1-2.2 (the WGAN-GP MNIST model with DIM = 64, no
normalisation layers, 5x5 kernels). The family is chosen from the per-sample shape (`arch_for_shape`):

| shape            | arch      | G                                                    | D / C trunk                    |
|------------------|-----------|------------------------------------------------------|--------------------------------|
| (c, 28, 28)      | "mnist28" | Linear->(4D,4,4) -> deconv s2 (8x8) -> crop 7x7 ->   | conv s2 c->D->2D->4D (14,7,4)  |
|                  |           | deconv s2 (14) -> deconv s2 -> c (28), sigmoid       |                                |
| (c, 16, 16)      | "usps16"  | Linear->(4D,4,4) -> s2 (8) -> s2 (16) -> **s1** -> c  | conv **s1** c->D (16), s2, s2  |
| (c, 32, 32)      | "32"      | Linear->(4D,4,4) -> s2 (8) -> s2 (16) -> s2 -> c (32) | conv s2 x3 (16, 8, 4)          |
| (c, 64, 64)      | "64"      | Linear->(8D,4,4) -> 4 deconvs s2 (option A of §2.2)  | conv s2 x4 D..8D (32..4)       |
| (d,) vectors     | "mlp"     | (m + k) - 512 - 512 - 512 - d, ReLU, linear output   | d - 512 - 512 - 512, ReLU      |

D ends in Linear(-> `critic_units`, 1 by default), C in Linear(-> k) (logits; softmax = q(y|x)).
D and C are separate instances with unshared parameters (§2.4). Conv layers use PyTorch "same"
padding (padding=2, output_padding=1 for stride-2 deconvs): same shapes as TF "SAME", one-pixel
alignment difference (§2.1). Initialisation "tflib" (default) follows the released code's tflib:
conv/deconv uniform with std sqrt(4 / (fan_in + fan_out)) (fan_out / stride^2 for conv, fan_in /
stride^2 for deconv), Linear Glorot-uniform, zero biases; "torch" keeps PyTorch's defaults; "auto"
(default) = "tflib" for the conv families and "torch" for the 2-D MLPs: with tflib's zero biases and
lambda = 100, the 2-D critic got stuck at a wrong-sign optimum (E D(real) - E D(fake) < 0 with the GP
satisfied) in 2 of 4 seeds of a fixed-fake test, PyTorch's init in 0 of 4 (the paper gives no init for
the 2-D networks).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InvalidInputError

ARCHS = ("mnist28", "usps16", "32", "64", "mlp")


def arch_for_shape(shape) -> str:
    """The network family for one sample's shape: (d,) -> "mlp"; (c, 28, 28) -> "mnist28";
    (c, 16, 16) -> "usps16"; (c, 32, 32) -> "32"; (c, 64, 64) -> "64"."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return "mlp"
    if len(shape) == 3 and shape[1] == shape[2] and shape[1] in (28, 16, 32, 64):
        return {28: "mnist28", 16: "usps16", 32: "32", 64: "64"}[shape[1]]
    raise InvalidInputError(
        f"PFC has networks for 28x28, 16x16, 32x32 and 64x64 images (any channel count) and for vectors; "
        f"got samples of shape {shape}. Resize the images (load_dataset(..., resize=32)) or flatten them "
        "to use the fully connected networks")


def _check_arch(arch: str, shape) -> None:
    if arch not in ARCHS:
        raise InvalidInputError(f"arch={arch!r} is unknown; use 'auto' or one of {ARCHS}")
    need = arch_for_shape(shape)
    if arch != need:
        raise InvalidInputError(f"arch={arch!r} does not fit samples of shape {tuple(shape)} (that needs {need!r})")


# ---- building blocks ----------------------------------------------------------------------------------
def _conv(cin, cout, stride):
    return nn.Conv2d(cin, cout, 5, stride=stride, padding=2)


def _deconv(cin, cout, stride):
    if stride == 1:
        return nn.ConvTranspose2d(cin, cout, 5, stride=1, padding=2)
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


class Crop(nn.Module):
    """Keep the first `size` rows and columns (the 8x8 -> 7x7 step of the 28x28 generator, §2.1)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x):
        return x[:, :, :self.size, :self.size]


def _plan(arch: str, channels: int, dim: int):
    """(start channels, list of (cin, cout, stride, crop_after) deconvs, trunk [(cin, cout, stride)])."""
    c, d = channels, dim
    if arch == "mnist28":
        return 4 * d, [(4 * d, 2 * d, 2, 7), (2 * d, d, 2, None), (d, c, 2, None)], \
            [(c, d, 2), (d, 2 * d, 2), (2 * d, 4 * d, 2)]
    if arch == "usps16":
        return 4 * d, [(4 * d, 2 * d, 2, None), (2 * d, d, 2, None), (d, c, 1, None)], \
            [(c, d, 1), (d, 2 * d, 2), (2 * d, 4 * d, 2)]
    if arch == "32":
        return 4 * d, [(4 * d, 2 * d, 2, None), (2 * d, d, 2, None), (d, c, 2, None)], \
            [(c, d, 2), (d, 2 * d, 2), (2 * d, 4 * d, 2)]
    if arch == "64":  # option A of spec §2.2
        return 8 * d, [(8 * d, 4 * d, 2, None), (4 * d, 2 * d, 2, None), (2 * d, d, 2, None), (d, c, 2, None)], \
            [(c, d, 2), (d, 2 * d, 2), (2 * d, 4 * d, 2), (4 * d, 8 * d, 2)]
    raise InvalidInputError(f"no convolutional plan for arch {arch!r}")


class Generator(nn.Module):
    """G(z, onehot(y)) -> sample. Input = concat(z, onehot) (noise first, as in the released code)."""

    def __init__(self, shape, n_clusters: int, z_dim: int, arch: str, dim: int = 64, hidden: int = 512):
        super().__init__()
        self.shape, self.k, self.z_dim, self.arch = tuple(shape), n_clusters, z_dim, arch
        nin = z_dim + n_clusters
        if arch == "mlp":
            self.net = nn.Sequential(nn.Linear(nin, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, self.shape[0]))
            return
        start, deconvs, _ = _plan(arch, self.shape[0], dim)
        layers: list[nn.Module] = [nn.Linear(nin, start * 16), nn.ReLU(), nn.Unflatten(1, (start, 4, 4))]
        for j, (cin, cout, stride, crop) in enumerate(deconvs):
            layers.append(_deconv(cin, cout, stride))
            layers.append(nn.Sigmoid() if j == len(deconvs) - 1 else nn.ReLU())
            if crop:
                layers.append(Crop(crop))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, onehot], 1))


class Trunk(nn.Module):
    """The shared shape of D and C: 5x5 convs with LeakyReLU(0.2), flattened (or the 512-512-512 MLP)."""

    def __init__(self, shape, arch: str, dim: int = 64, hidden: int = 512):
        super().__init__()
        shape = tuple(shape)
        if arch == "mlp":
            self.net = nn.Sequential(nn.Linear(shape[0], hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU())
            self.out_dim = hidden
            return
        _, _, trunk = _plan(arch, shape[0], dim)
        layers: list[nn.Module] = []
        for cin, cout, stride in trunk:
            layers += [_conv(cin, cout, stride), nn.LeakyReLU(0.2)]
        layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        self.out_dim = trunk[-1][1] * 16

    def forward(self, x):
        return self.net(x)


class Critic(nn.Module):
    """D: trunk + Linear(-> units). units = 1 is the spec's single-output critic (§3.5); the released code
    used 10 units whose mean is the critic value (`critic_units=10`, code-faithful mode)."""

    def __init__(self, shape, arch: str, dim: int = 64, units: int = 1, hidden: int = 512):
        super().__init__()
        self.trunk = Trunk(shape, arch, dim, hidden)
        self.head = nn.Linear(self.trunk.out_dim, units)

    def forward(self, x):
        return self.head(self.trunk(x))


class Classifier(nn.Module):
    """C: its own trunk + Linear(-> k) logits; softmax(logits) = q(y|x). `features` = the penultimate layer."""

    def __init__(self, shape, n_clusters: int, arch: str, dim: int = 64, hidden: int = 512):
        super().__init__()
        self.trunk = Trunk(shape, arch, dim, hidden)
        self.head = nn.Linear(self.trunk.out_dim, n_clusters)

    def features(self, x):
        return self.trunk(x)

    def forward(self, x):
        return self.head(self.trunk(x))


def tflib_init(module: nn.Module) -> nn.Module:
    """The released code's initialisation (tflib, spec §2.1)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            k = m.kernel_size[0] * m.kernel_size[1]
            s2 = m.stride[0] * m.stride[1]
            if isinstance(m, nn.Conv2d):
                fan_in, fan_out = m.in_channels * k, m.out_channels * k / s2
            else:
                fan_in, fan_out = m.in_channels * k / s2, m.out_channels * k
            std = math.sqrt(4.0 / (fan_in + fan_out))
        elif isinstance(m, nn.Linear):
            std = math.sqrt(2.0 / (m.in_features + m.out_features))
        else:
            continue
        with torch.no_grad():
            m.weight.uniform_(-std * math.sqrt(3), std * math.sqrt(3))
            if m.bias is not None:
                m.bias.zero_()
    return module


def make_pfc_nets(shape, n_clusters: int, z_dim: int, *, arch: str = "auto", dim: int = 64,
                  critic_units: int = 1, init: str = "auto", hidden: int = 512):
    """(G, D, C) for samples of `shape`; arch "auto" picks the family from the shape (module docstring)."""
    shape = tuple(int(s) for s in shape)
    arch = arch_for_shape(shape) if arch == "auto" else arch
    _check_arch(arch, shape)
    nets = (Generator(shape, n_clusters, z_dim, arch, dim, hidden), Critic(shape, arch, dim, critic_units, hidden),
            Classifier(shape, n_clusters, arch, dim, hidden))
    if init == "auto":  # tflib for the conv nets (released code); PyTorch defaults for the 2-D MLPs
        init = "torch" if arch == "mlp" else "tflib"
    if init == "tflib":
        for n in nets:
            tflib_init(n)
    elif init != "torch":
        raise InvalidInputError(f"init={init!r} is unknown; use 'auto', 'tflib' (the released code's) or 'torch'")
    return nets
