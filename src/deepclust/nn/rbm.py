"""Restricted Boltzmann machines for greedy layer-wise pretraining (Hinton & Salakhutdinov 2006), and the
"unfolding" of a stack of them into a deep autoencoder.

`RBM(n_visible, n_hidden, visible=..., hidden=...)` supports the three unit combinations a
Hinton-style H-500-500-2000-10 stack needs (spec 003 §4 stage 1, `"rbm_cd1"`):
  - Gaussian visible / Bernoulli hidden (first layer, real-valued inputs; unit-variance visibles, so the
    caller standardises the data, see `fold_input_scaling`),
  - Bernoulli visible / Bernoulli hidden (inner layers),
  - Bernoulli visible / Gaussian hidden (the linear 10-unit code layer, unit-variance hidden units).

Training is contrastive divergence CD-k written as a free-energy difference, so autograd yields the CD
gradient exactly: loss = mean F(v_data) - mean F(stopgrad(v_k)), where v_k is the visible state after k
Gibbs steps started at the data. Gibbs chains sample the hidden units and use visible means (Hinton's
"practical guide" recipe: reconstructions as probabilities / means, final hidden statistics as
probabilities). Optional dropout of hidden units (dropout RBM, Srivastava et al. 2014): the same mask is
used for the positive and the negative phase; at test time the top-down weights are scaled by the keep
probability (`unfold(..., dropout=...)`).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_UNITS = ("bernoulli", "gaussian")


class RBM(nn.Module):
    """An RBM with weights W (n_hidden x n_visible, the layout of nn.Linear(n_visible, n_hidden)),
    visible bias b_v and hidden bias b_h."""

    def __init__(self, n_visible: int, n_hidden: int, visible: str = "bernoulli", hidden: str = "bernoulli",
                 init_std: float = 0.01):
        super().__init__()
        if visible not in _UNITS or hidden not in _UNITS:
            raise ValueError(f"RBM units must be one of {_UNITS}, got visible={visible!r}, hidden={hidden!r}")
        self.visible, self.hidden = visible, hidden
        self.W = nn.Parameter(torch.randn(n_hidden, n_visible) * init_std)
        self.b_v = nn.Parameter(torch.zeros(n_visible))
        self.b_h = nn.Parameter(torch.zeros(n_hidden))

    # ---- conditionals ----------------------------------------------------------------------------
    def hidden_mean(self, v: torch.Tensor) -> torch.Tensor:
        """E[h | v]: sigmoid (Bernoulli) or identity (Gaussian) of W v + b_h. This is the upward pass
        (the encoder layer after unfolding)."""
        x = F.linear(v, self.W, self.b_h)
        return torch.sigmoid(x) if self.hidden == "bernoulli" else x

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        x = F.linear(h, self.W.t(), self.b_v)
        return torch.sigmoid(x) if self.visible == "bernoulli" else x

    def sample_hidden(self, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        m = self.hidden_mean(v)
        h = torch.bernoulli(m) if self.hidden == "bernoulli" else m + torch.randn_like(m)
        return h if mask is None else h * mask

    # ---- energy ----------------------------------------------------------------------------------
    def free_energy(self, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)) up to a constant, per sample (dropped hidden units excluded)."""
        if self.visible == "gaussian":
            vis = 0.5 * ((v - self.b_v) ** 2).sum(1)
        else:
            vis = -(v @ self.b_v)
        x = F.linear(v, self.W, self.b_h)
        hid = F.softplus(x) if self.hidden == "bernoulli" else 0.5 * x * x
        if mask is not None:
            hid = hid * mask
        return vis - hid.sum(1)

    def cd_loss(self, v0: torch.Tensor, k: int = 1, dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(CD-k surrogate loss whose gradient is the CD-k update direction, reconstruction MSE for
        monitoring). Random draws come from the global torch RNG."""
        mask = None
        if dropout > 0:
            mask = torch.bernoulli(torch.full((v0.shape[0], self.W.shape[0]), 1.0 - dropout, device=v0.device))
        with torch.no_grad():
            v = v0
            for _ in range(k):
                h = self.sample_hidden(v, mask)
                v = self.visible_mean(h)
            recon = F.mse_loss(v, v0)
        loss = self.free_energy(v0, mask).mean() - self.free_energy(v.detach(), mask).mean()
        return loss, recon


def unfold(rbms: Sequence[RBM], encoder_linears: Sequence[nn.Linear], decoder_linears: Sequence[nn.Linear],
           dropout: float = 0.0) -> None:
    """Copy a trained RBM stack into an autoencoder's Linear layers (Hinton & Salakhutdinov Fig. 1):
    encoder layer i = (W_i, b_h,i); decoder layer mirrored = (W_i^T * keep, b_v,i) with keep = 1 - dropout
    (the dropout-RBM test-time scaling of the top-down weights)."""
    keep = 1.0 - dropout
    n = len(rbms)
    if len(encoder_linears) != n or len(decoder_linears) != n:
        raise ValueError(f"{n} RBMs but {len(encoder_linears)} encoder / {len(decoder_linears)} decoder layers")
    with torch.no_grad():
        for i, r in enumerate(rbms):
            enc, dec = encoder_linears[i], decoder_linears[n - 1 - i]
            enc.weight.copy_(r.W)
            enc.bias.copy_(r.b_h)
            dec.weight.copy_(r.W.t() * keep)
            dec.bias.copy_(r.b_v)


def fold_input_scaling(first: nn.Linear, last: nn.Linear, mean: torch.Tensor, scale: float) -> None:
    """The first RBM saw (x - mean) / scale; make the unfolded network take raw x and output raw x:
    encoder W x' + b = (W/scale) x + (b - W mean / scale); decoder x = scale * (W' h + b') + mean."""
    with torch.no_grad():
        first.bias.sub_(first.weight @ mean / scale)
        first.weight.div_(scale)
        last.weight.mul_(scale)
        last.bias.mul_(scale).add_(mean)


__all__ = ["RBM", "unfold", "fold_input_scaling"]
