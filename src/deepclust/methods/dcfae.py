"""DCFAE: S. Chang, "Deep clustering with fusion autoencoder", arXiv:2201.04727, 2022.
'spec §N': the project's implementation notes on the paper (not shipped with the package).

Algorithm 1 (restated, spec §4):
  Phase 1 "pretrain" (FAE, Eq. 8), `pretrain_epochs` epochs, batches of M = 256:
      mu, s = Enc(x); z = mu + exp(s/2) * eps (Eq. 5); x~ = sigmoid(Dec(z))
      L_alpha = BCE_sum(x~, x) + KL(mu, s) + lambda * L_G,  L_G = -log sigmoid(D(x~))   (Eqs. 4, 7, 8a)
      L_beta  = L_D = BCE(sigmoid(D([x~; x])), [0..0; 1..1])                            (Eqs. 6, 8b)
      one forward pass, then one Adam step on (phi, theta) from L_alpha and one on psi from L_beta.
  Phase 2 "finetune" (DCFAE, Eq. 12), `finetune_epochs` epochs, augmented batches:
      c = DeepDenseNet(mu) (dropout on);  P = Student-t(rho = 100) similarities of mu, Q = Cauchy
      similarities of c, both jointly normalised over the M^2 pairs of the batch (Eqs. 9-10);
      L_gamma = -sum_ij P_ij log Q_ij (Eq. 11);
      minimise L_alpha + lambda' L_gamma (+ 1e-3 sum ||W||^2 of the DeepDenseNet) over (phi, theta, xi),
      and L_D over psi (Eq. 12).
  Phase 3 "cluster": c = DeepDenseNet(mu) of all samples in eval mode, k-means (K, n_init = 20) on c.
  lambda = 100, lambda' = 10, rho = 100, L = 50, Adam lr 1e-4 for both optimisers, M = 256 ([P] §4.1).

Ablations (paper §4.5, spec §2.9) are options of the same estimator:
  use_discriminator=False -> "DCFAE - Dis" (ResNet VAE + DeepDenseNet; no L_G, no L_D);
  residual=False          -> "DCFAE - Resnet" (every ResBlock removed);
  use_densenet=False      -> "DCFAE - DenNet" (no L_gamma; k-means on mu).

Presets: "paper" (the spec's architecture and budget: ~24.9M parameters, 100 + 100 epochs; needs a GPU),
"cpu" (width 0.25 -> channels 16-32-64-128 / 8-16-128, DeepDenseNet 512-128-128, 10 + 10 epochs, batch 64,
generator-side lr 1e-3 but the paper's 1e-4 for the discriminator; 12.5 min on all of USPS on one CPU core),
"smoke" (tests); "cpu-repaired" / "paper-repaired": the same budgets with the issue #15 repair (below).
  Why these (issue #7; diagnostics with benchmarks/diagnostics/dcfae_diagnose.py on a 2,000-digit USPS subset, seed 0;
  raw-pixel k-means on that subset: ACC 0.660):
  - batch 64 and a generator lr of 1e-3 instead of 256 / 1e-4, to get enough optimiser steps out of 20
    epochs (at 1e-4 for both networks, k-means on the pretrained mu reached ACC 0.33).
  - discriminator lr 1e-4 (the paper's): the earlier cpu preset also used 1e-3 for the discriminator. With
    lambda = 100 that discriminator won the game (disc/gen scores 0.58-0.74 / 0.27-0.42), L_G's gradients
    swamped the ELBO and the posterior collapsed (KL 0.13 nats per image at epoch 2, 15 at epoch 10; BCE
    528 per image at epoch 10, entropy floor 218): k-means on mu gave ACC 0.41 after 10 pretraining
    epochs. With disc_lr 1e-4 the scores stay near the paper's equilibrium 0.5 from the first epoch
    (Fig. 6), KL 17, BCE 391, ACC on mu 0.645, above no discriminator (0.580) and lambda = 1 (0.575).
    Augmenting the pretraining batches (augment_pretrain) did not help (0.457). lambda, lambda', rho and
    every other objective setting stay at the paper's values.
  - What is still wrong at this budget is the fine-tuning stage, not the representation: on all of USPS
    (seed 0, benchmarks/results/dcfae/usps-cpu*.json) k-means on mu ("DCFAE - DenNet") reaches ACC 0.716,
    but k-means on c = DeepDenseNet(mu) only 0.313 (full), 0.302 (- Dis), 0.340 (- Resnet). On the
    subset, c falls from 0.50 after the first fine-tuning epoch to 0.45 after ten while mu stays at 0.64.
    Cause: P (rho = 100, a kernel about 1 unit of mu wide) is dominated by the self pairs i = j. After
    pretraining mu's nearest neighbour in a batch of 64 is 1.6 away and the diagonal holds 0.55 of P's
    mass; switching L_gamma on spreads mu (KL 17 -> 23 nats in the first fine-tuning epoch, through the
    gradient that flows via P, A4) to nearest-neighbour distances of 3.7, where the diagonal holds 0.94 of
    P's mass, so L_gamma is almost only the normalisation's repulsion on c (the little off-diagonal mass
    is 97 % same-class pairs). The spec's alternatives help only partly: detach_p=True keeps mu compact
    (KL 17 -> 18) and gives mu 0.675 / c 0.50; both detach_p and exclude_self_pairs: mu 0.739 / c 0.581;
    exclude_self_pairs alone (old preset) c 0.47 vs mu 0.625.
    No implementation error was found (P/Q checked against a NumPy reference, P on mu and Q on c, dropout
    off when embedding, inputs in [0, 1]). Issue #15 found the cause in the loss itself (next section).

Repair (issue #15; docs/reproductions/000_dcfae.md): `target="tsne"`, presets "cpu-repaired" and
"paper-repaired" (= "cpu" / "paper" plus target="tsne", perplexity=10, dropout=0, dense_l2=0, n_init=20).
  Why Eqs. 9-11 as printed cannot work. With self pairs and one joint normalisation, Q_ij = k_ij / Z_Q with
  k_ij = (1 + |c_i - c_j|^2)^-1 <= 1 and Z_Q = sum_ij k_ij >= M (the M diagonal kernels are 1), and P sums to
  1, so L_gamma = -sum_ij P_ij log k_ij + log Z_Q >= log M, with equality only when P has no off-diagonal
  mass and all c are infinitely far apart. Gradients flow through P into the encoder (Eq. 12a, A4), so the
  floor is reached by spreading mu until P is diagonal and c until Q is: the loss rewards destroying every
  neighbourhood. On 4 Gaussian blobs with L_gamma alone (tests/methods/test_dcfae.py,
  benchmarks/diagnostics/dcfae_blobs.py, 5 seeds) P's diagonal mass goes 0.33 -> 0.99, L_gamma -> log M,
  and mu's within/between-cluster distance ratio 0.33 -> 0.64; on USPS (cpu preset) fine-tuning takes
  k-means on c to ~31 % from a pretrained mu that k-means clusters at ~71 %.
  The repair takes P from the works the paper builds Eqs. 9-11 on (t-SNE [52] and parametric t-SNE [53],
  LECDR [24]), computed per batch on mu (tsne_joint_p): p_{j|i} ~ exp(-beta_i |mu_i - mu_j|^2), p_{i|i} = 0,
  beta_i by bisection so that row i has perplexity `perplexity`, P = (P_{j|i} + P_{i|j}) / 2M, detached (a
  target, not a term the encoder can lower). Q (Eq. 10), L_gamma (Eq. 11), lambda' = 10 and Eq. 12 are
  unchanged; rho then only enters the p_diag monitor. Each part is needed: p_ii = 0 removes the pull of
  the log M floor towards a diagonal P; detaching removes the gradient that spreads mu; the perplexity
  calibration gives every point ~10 effective neighbours at any scale of mu, where Eq. 9's fixed kernel
  (about 1 unit wide) under one joint normalisation puts the mass on the few closest pairs of a batch
  (the existing switches exclude_self_pairs + detach_p with dropout off: 65.3 % on USPS, issue #15 audit,
  seed 0; on the blobs spaced 3x wider they barely tighten c: within/between ratio 0.38 -> 0.35, against
  0.02 with the t-SNE P).
  The repaired presets also switch off the DeepDenseNet's dropout (0.3) and L2 (1e-3): the authors' custom
  training loop most likely never applied either (spec §9.3 C3, C4); audit, USPS seed 0: t-SNE P with
  them on 87.3 %, off 91.0 %.
  The final clustering stays the paper's k-means on c, n_init 20 (A10); with n_init 3 the same c read
  74.5 % where 20 gave 87.3 % (audit). The authors' code clusters c with spectral clustering (C1); the
  benchmarks report a 10-NN spectral clustering beside k-means, labelled "authors' code: spectral".
  perplexity = 10 is issue #15's value, fixed before any measurement; labels never chose it. Measured
  (benchmarks/dcfae_repair.py, docs/reproductions/000_dcfae.md), USPS, cpu budget (width 0.25, 10 + 10
  epochs), seed 0 only (the 3-seed run was cut after seed 0), both variants fine-tuned from one pretrained
  model: "cpu" (paper-literal) 30.2 % ACC, "cpu-repaired" 92.6 % (paper 97.3 at paper scale); k-means on mu
  of the pretrained model 70.3 %. On the repaired c the authors' exact spectral call reads 91.8 %, a 10-NN
  spectral clustering 67.5 % (benchmarks/diagnostics/dcfae_spectral.py). MNIST-test and "paper-repaired"
  (GPU, benchmarks/gpu/dcfae_gpu.sh) not yet run.

Judgement calls (spec §9), each a field with the spec's default:
  - A3 self pairs i = j included in P and Q (`exclude_self_pairs=False`); target="tsne" has p_ii = 0.
  - A4 gradients flow through P into the encoder (`detach_p=False`); target="tsne" detaches P.
  - A5 / C2 augmentation (rotation U(-10, 10) degrees, shifts of -1/0/+1 px with probabilities 1/4, 1/2,
    1/4 per axis, bilinear, edge replication = Keras fill_mode 'nearest') in fine-tuning only
    (`augment=True`, `augment_pretrain=False`). Batched on the device with affine_grid/grid_sample
    (same distribution as the Keras generator; rotation centre and sub-pixel resampling conventions
    differ slightly).
  - A6 DeepDenseNet output linear (`dense_relu_output=False`); output dim `embed_dim=50`.
  - A7 x~ is the Bernoulli mean sigmoid(logits).
  - A8 / C7 one forward pass, then both updates. Implementation detail: D runs once on [x~; x] (2M
    images) and L_G reads the fake half of the same logits; gradients are taken with autograd.grad for
    (phi, theta, xi) from L_alpha(-gamma) and for psi from L_D, so L_G leaves nothing on psi and L_D
    nothing on the generator. Mathematically identical to the spec's sketch (D is deterministic) and
    saves one D forward on M images.
  - A10 k-means n_init = 20 (`n_init`); C1 `final_clustering="kmeans"` (paper), "spectral" = the code's
    SpectralClustering (RBF affinity, O(n^2) memory).
  - A13 Adam state of (phi, theta, psi) kept from pretraining, fresh for xi (`keep_optimizer_state=True`).
  - A14 drop the incomplete last batch (`drop_last=True`, Algorithm 1's floor(n/M)).
  - A15 "DCFAE - DenNet" still runs the fine-tuning epochs (augmented FAE training, no L_gamma) so the
    budget matches (`densenet_off_finetune=True`).
  - A16 grey levels in [0, 1] are BCE targets; inputs outside [0, 1] are rejected.
  - C3 L2 1e-3 * sum ||W||^2 on the DeepDenseNet added to the loss (`dense_l2`; 0 disables).
  - C4 dropout 0.3 active while training (`dropout`).
  - C5 hard discriminator labels (`disc_label_noise=0.0`; 0.05 = the code's noisy labels).
  - C6 reconstruction summed over channels too (`recon_channel_mean=False`; True = the code's RGB mean).
  - §2.7 Glorot-uniform weights, zero biases; Adam eps 1e-7 (Keras) (`adam_eps`).
  - §3.5 P and Q clamped to [1e-10, 1] before the cross-entropy (`pq_eps`).
  - Monitoring only: Eq. 13/14 discriminator and generator scores and `p_diag` (the share of Eq. 9's P on
    the self pairs of a batch, whatever the target) are logged per epoch; with labels and `monitor_every`
    > 0, ACC/NMI/ARI of k-means (n_init = `n_init`) on the embedding every that many epochs (while
    fine-tuning on c and, as mu_acc/mu_nmi/mu_ari, on mu). Labels never steer training.
  - Inputs: square images with a side divisible by 16 (32x32 in the paper; resize with
    load_dataset(..., resize=32)); flat square inputs are reshaped to 1 x S x S.
"""
from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..engine.assignment import cluster_means, kmeans
from ..engine.base import estimator
from ..engine.data import StepSampler
from ..engine.deep import DeepClusterer
from ..engine.training import encode
from ..engine.validation import image_shape_of
from ..errors import InvalidInputError
from ..nn.resnet_vae import (DENSE_HIDDEN, DeepDenseNet, ResidualDiscriminator, ResNetDecoder, ResNetEncoder,
                             save_image_grid)


# ---- losses (module level so tests can check them directly) ------------------------------------------
def pairwise_log_similarity(h: torch.Tensor, dof: float, exclude_self: bool = False) -> torch.Tensor:
    """log of the joint Student-t similarity matrix (Eqs. 9-10): logK_ij = -((dof+1)/2) log(1 + |h_i-h_j|^2/dof),
    normalised with one log-sum-exp over all M^2 ordered pairs (diagonal included unless exclude_self)."""
    h = h.float()
    d2 = (h.unsqueeze(1) - h.unsqueeze(0)).pow(2).sum(-1)   # exact zeros on the diagonal, differentiable
    logk = -0.5 * (dof + 1.0) * torch.log1p(d2 / dof)
    if exclude_self:
        logk = logk.masked_fill(torch.eye(len(h), dtype=torch.bool, device=h.device), float("-inf"))
    return logk - torch.logsumexp(logk.flatten(), 0)


def similarity_p_q(mu: torch.Tensor, c: torch.Tensor, rho: float = 100.0, exclude_self: bool = False):
    """(P, Q): Student-t (rho dof) on mu and Cauchy (1 dof) on c, jointly normalised (no clamp)."""
    return (pairwise_log_similarity(mu, rho, exclude_self).exp(),
            pairwise_log_similarity(c, 1.0, exclude_self).exp())


def tsne_joint_p(h: torch.Tensor, perplexity: float = 10.0, n_steps: int = 50) -> torch.Tensor:
    """t-SNE's input similarities of one batch (van der Maaten & Hinton 2008, Eq. 1 and the symmetrised
    joint P of symmetric t-SNE; parametric t-SNE, van der Maaten 2009, computes them per batch the same way):
    p_{j|i} = exp(-beta_i |h_i - h_j|^2) / sum_{k != i} exp(-beta_i |h_i - h_k|^2), p_{i|i} = 0, with each
    beta_i found by bisection (on log beta, `n_steps` halvings) so that the perplexity 2^{H(P_i)} of row i
    equals `perplexity`; P = (P_{j|i} + P_{i|j}) / 2M (sums to 1, symmetric, zero diagonal).
    Returned detached: a target for Q, not a term the encoder can lower by moving h (the repair of
    `target="tsne"`). A perplexity at or above M - 1 (every other point equally near) gives the uniform
    off-diagonal P. Float64 inside (M x M, cheap), float32 out."""
    with torch.no_grad():
        h = h.detach().double()
        m = len(h)
        eye = torch.eye(m, dtype=torch.bool, device=h.device)
        d2 = (h.unsqueeze(1) - h.unsqueeze(0)).pow(2).sum(-1)
        # scale-free search: distances divided by each row's mean off-diagonal distance, so log beta = 0
        # is a kernel as wide as the typical distance, and +-30 covers every bandwidth that matters
        scale = d2.masked_fill(eye, 0.0).sum(1, keepdim=True).div(max(m - 1, 1)).clamp_min(1e-30)
        d = (d2 / scale).masked_fill(eye, float("inf"))
        lo = torch.full((m, 1), -30.0, dtype=d.dtype, device=d.device)
        hi = torch.full((m, 1), 30.0, dtype=d.dtype, device=d.device)
        target = math.log(perplexity)
        for _ in range(n_steps):
            mid = 0.5 * (lo + hi)
            logp = torch.log_softmax(-mid.exp() * d, 1)
            ent = -(logp.exp() * logp.masked_fill(eye, 0.0)).sum(1, keepdim=True)
            wide = ent > target   # too flat: narrow the kernel (raise beta)
            lo, hi = torch.where(wide, mid, lo), torch.where(wide, hi, mid)
        cond = torch.softmax(-(0.5 * (lo + hi)).exp() * d, 1)
        return ((cond + cond.T) / (2 * m)).float()


def clustering_loss(mu: torch.Tensor, c: torch.Tensor, rho: float = 100.0, *, exclude_self: bool = False,
                    detach_p: bool = False, eps: float = 1e-10, target: str = "paper",
                    perplexity: float = 10.0) -> torch.Tensor:
    """L_gamma = -sum_ij P_ij log Q_ij (Eq. 11), a plain sum over the M^2 pairs of the batch; Q = Eq. 10 on c
    (log Q clamped at log eps, [CODE]).
    target="paper": P = Eq. 9 on mu (Student-t, rho dof, joint normalisation, self pairs unless exclude_self,
    gradients through P unless detach_p), P clamped to [eps, 1] ([CODE]).
    target="tsne": P = tsne_joint_p(mu, perplexity) (p_ii = 0, per-point bandwidth, symmetrised, detached;
    exclude_self / detach_p do not change P then); Q unchanged (Eq. 10)."""
    logq = pairwise_log_similarity(c, 1.0, exclude_self)
    if target == "tsne":
        p = tsne_joint_p(mu, perplexity).to(logq.dtype)
        if eps > 0:
            logq = logq.clamp(min=math.log(eps))
        return -(p * logq.masked_fill(p == 0, 0.0)).sum()
    if target != "paper":
        raise ValueError(f"target must be 'paper' (Eq. 9) or 'tsne', got {target!r}")
    logp = pairwise_log_similarity(mu.detach() if detach_p else mu, rho, exclude_self)
    p = logp.exp()
    if eps > 0:
        p, logq = p.clamp(eps, 1.0), logq.clamp(min=math.log(eps))
    terms = p * logq
    if exclude_self:
        terms = terms.masked_fill(torch.eye(len(mu), dtype=torch.bool, device=mu.device), 0.0)
    return -terms.sum()


def p_diagonal_mass(mu: torch.Tensor, rho: float = 100.0) -> torch.Tensor:
    """Share of Eq. 9's P (self pairs included) on the diagonal i = j of one batch: near 1/M^2 * M when the
    batch is one tight clump, near 1 when every point is farther than the kernel's ~1 unit from every
    other (then Eq. 9's P carries no neighbourhood information). Monitoring only (no gradient)."""
    with torch.no_grad():
        return pairwise_log_similarity(mu.detach(), rho).diagonal().exp().sum()


def vae_losses(x, logits, mu, logvar, channel_mean: bool = False):
    """(BCE reconstruction summed over pixels [and channels], KL to N(0, I)), each averaged over the batch
    (Eq. 4 with the missing log restored, spec §9.2 E1/E2)."""
    bce = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")
    if channel_mean:
        bce = bce.mean(1)
    rec = bce.flatten(1).sum(1).mean()
    kl = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
    return rec, kl


def augment_batch(x: torch.Tensor, rotation: float = 10.0, shift: int = 1) -> torch.Tensor:
    """Per-sample random affine warp on the device: angle ~ U(-rotation, rotation) degrees, integer shifts
    choice(range(shift+1)) * choice([-1, 1]) px per axis (Keras' integer width/height_shift_range = shift+1),
    bilinear, edges replicated (fill_mode 'nearest'). Draws from the global torch RNG."""
    n, _, h, w = x.shape
    dev = x.device
    ang = (torch.rand(n, device=dev) * 2 - 1) * math.radians(rotation)
    def px():
        mag = torch.randint(0, shift + 1, (n,), device=dev).float()
        return mag * (torch.randint(0, 2, (n,), device=dev).float() * 2 - 1)
    tx, ty = px() * 2.0 / w, px() * 2.0 / h
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class DCFAEEmbedding(nn.Module):
    """x -> c = DeepDenseNet(mu(x)) (or mu when there is no DeepDenseNet): what transform/predict use."""

    def __init__(self, encoder: ResNetEncoder, densenet: DeepDenseNet | None):
        super().__init__()
        self.encoder = encoder
        self.densenet = densenet

    def forward(self, x):
        mu = self.encoder(x)[0]
        return mu if self.densenet is None else self.densenet(mu)


@estimator
class DCFAE(DeepClusterer):
    """Deep Clustering with Fusion AutoEncoder. X: images (n, C, S, S) in [0, 1] with S divisible by 16
    (32 in the paper), or flat square images. See the module docstring for the algorithm and every
    judgement call."""

    # architecture
    latent_dim: int = 50                 # L [P]
    width: float = 1.0                   # channel multiplier; 1 = [CODE] 64-128-256-512 / 32-64-512
    residual: bool = True                # False = "DCFAE - Resnet"
    use_discriminator: bool = True       # False = "DCFAE - Dis"
    use_densenet: bool = True            # False = "DCFAE - DenNet" (k-means on mu)
    dense_hidden: tuple = DENSE_HIDDEN   # 2048-512-512 [CODE]
    embed_dim: int = 50                  # d_c [CODE]
    dropout: float = 0.3                 # [P]
    dense_l2: float = 1e-3               # [CODE] coefficient, applied as the paper says (C3)
    dense_relu_output: bool = False      # A6
    init: str = "xavier"                 # §2.7: Keras Glorot-uniform ([CODE]); "torch" = PyTorch default
    image_shape: tuple | None = None
    # objective
    lam: float = 100.0                   # lambda, weight of L_G [P]
    lam_cluster: float = 10.0            # lambda', weight of L_gamma [P]
    rho: float = 100.0                   # dof of P [P]
    target: str = "paper"                # "paper" = Eq. 9 P; "tsne" = t-SNE P (repair, see module docstring)
    perplexity: float = 10.0             # of the t-SNE P (target="tsne" only); issue #15's value, not tuned
    exclude_self_pairs: bool = False     # A3
    detach_p: bool = False               # A4
    pq_eps: float = 1e-10                # [CODE] clamp
    disc_label_noise: float = 0.0        # C5
    recon_channel_mean: bool = False     # C6
    # optimisation
    lr: float = 1e-4                     # [P], generator side
    disc_lr: float = 1e-4                # [P]
    adam_eps: float = 1e-7               # Keras default [CODE]
    batch_size: int = 256                # M [P]
    pretrain_epochs: int = 100           # [CODE] default (A2)
    finetune_epochs: int = 100           # [CODE] default (A2)
    drop_last: bool = True               # A14
    keep_optimizer_state: bool = True    # A13
    densenet_off_finetune: bool = True   # A15
    augment: bool = True                 # fine-tuning augmentation (A5)
    augment_pretrain: bool = False       # C2
    rotation: float = 10.0               # degrees [CODE]
    shift: int = 1                       # max |shift| in px ([CODE] range 2 -> -1/0/+1)
    # final clustering / monitoring
    final_clustering: str = "kmeans"     # C1
    n_init: int = 20                     # A10
    monitor_every: int = 0

    uses_images: ClassVar[bool] = True
    embed_batch_size: ClassVar[int] = 512
    paper_data: ClassVar[dict] = {d: {"resize": 32} for d in ("mnist", "mnist-test", "usps", "fashion-mnist",
                                                               "coil-100")}  # every image 32x32 (Chang §4.1)
    presets: ClassVar[dict] = {
        "paper": {},
        "cpu": {"width": 0.25, "dense_hidden": (512, 128, 128), "batch_size": 64, "lr": 1e-3, "disc_lr": 1e-4,
                "pretrain_epochs": 10, "finetune_epochs": 10},
        # the repair (issue #15; module docstring): t-SNE target P, DeepDenseNet dropout and L2 off
        # (as the authors' training loop ran it, spec C3/C4), k-means on c with n_init 20 (as "paper")
        "cpu-repaired": {"width": 0.25, "dense_hidden": (512, 128, 128), "batch_size": 64, "lr": 1e-3,
                         "disc_lr": 1e-4, "pretrain_epochs": 10, "finetune_epochs": 10,
                         "target": "tsne", "perplexity": 10.0, "dropout": 0.0, "dense_l2": 0.0, "n_init": 20},
        "paper-repaired": {"target": "tsne", "perplexity": 10.0, "dropout": 0.0, "dense_l2": 0.0, "n_init": 20},
        "smoke": {"width": 0.125, "dense_hidden": (128, 64, 64), "pretrain_epochs": 2, "finetune_epochs": 2,
                  "batch_size": 128, "lr": 1e-3, "disc_lr": 1e-3, "n_init": 3},
    }

    # ---- parameters ----------------------------------------------------------------------------
    def _check_params(self) -> None:
        def bad(msg):
            raise InvalidInputError(f"DCFAE: {msg}")
        for name in ("latent_dim", "embed_dim", "batch_size", "n_init"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                bad(f"{name} must be a positive integer, got {v!r}")
        if self.batch_size < 2:
            bad(f"batch_size must be at least 2 (L_gamma compares pairs in a batch), got {self.batch_size}")
        for name in ("pretrain_epochs", "finetune_epochs", "monitor_every", "shift"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                bad(f"{name} must be a non-negative integer, got {v!r}")
        for name in ("width", "lr", "disc_lr", "rho", "adam_eps", "perplexity"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v):
                bad(f"{name} must be a positive number, got {v!r}")
        for name in ("lam", "lam_cluster", "dense_l2", "disc_label_noise", "rotation", "pq_eps"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v):
                bad(f"{name} must be a non-negative number, got {v!r}")
        if not 0 <= self.dropout < 1:
            bad(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not self.pq_eps < 1:
            bad(f"pq_eps must be below 1 (a clamp floor for P and Q), got {self.pq_eps!r}")
        if not isinstance(self.dense_hidden, (tuple, list)) or not all(
                isinstance(h, (int, np.integer)) and h >= 1 for h in self.dense_hidden):
            bad(f"dense_hidden must be a tuple of positive layer widths, e.g. (2048, 512, 512); got "
                f"{self.dense_hidden!r}")
        if self.init not in ("xavier", "torch"):
            bad(f"init must be 'xavier' (Keras/[CODE]) or 'torch' (PyTorch default), got {self.init!r}")
        if self.target not in ("paper", "tsne"):
            bad(f"target must be 'paper' (Eq. 9's P) or 'tsne' (t-SNE's perplexity-calibrated P), got {self.target!r}")
        if self.perplexity < 1:
            bad(f"perplexity must be at least 1 (an effective number of neighbours), got {self.perplexity!r}")
        if self.final_clustering not in ("kmeans", "spectral"):
            bad(f"final_clustering must be 'kmeans' (paper) or 'spectral' (author's code), got "
                f"{self.final_clustering!r}")

    @property
    def variant(self) -> str:
        """'DCFAE', or the ablation name(s) of the paper's §4.5 ('DCFAE - Dis' ...)."""
        off = [n for n, on in (("Dis", self.use_discriminator), ("Resnet", self.residual),
                               ("DenNet", self.use_densenet)) if not on]
        return "DCFAE" + "".join(f" - {n}" for n in off)

    # ---- networks --------------------------------------------------------------------------------
    def _build(self, shape, device):
        c, h, w = shape
        if h != w or h % 16:
            raise InvalidInputError(
                f"DCFAE needs square images whose side is a multiple of 16 (the paper uses 32x32); got "
                f"{c}x{h}x{w}. Resize them, e.g. load_dataset(name, resize=32)")
        kw = dict(image_size=h, width=self.width, residual=self.residual, init=self.init)
        enc = ResNetEncoder(c, self.latent_dim, **kw).to(device)
        dec = ResNetDecoder(c, self.latent_dim, **kw).to(device)
        dis = ResidualDiscriminator(c, **kw).to(device) if self.use_discriminator else None
        dense = (DeepDenseNet(self.latent_dim, tuple(self.dense_hidden), self.embed_dim, self.dropout,
                              self.dense_relu_output, self.init).to(device) if self.use_densenet else None)
        return enc, dec, dis, dense

    def _adam(self, params, lr):
        # the per-tensor Adam, not engine.make_optimizer's fused kernel: the same algorithm, but other
        # rounding, and the committed DCFAE results (benchmarks/results/dcfae) were made with this one
        return torch.optim.Adam(params, lr=lr, eps=self.adam_eps)

    # ---- the algorithm ---------------------------------------------------------------------------
    def _fit(self, X, y):
        shape = image_shape_of(X, self.image_shape, method="DCFAE")
        _check_unit_range(X)
        fit = self._make_fit(X, y, image_shape=shape)
        s = fit.state
        if not hasattr(s, "enc"):
            s.enc, s.dec, s.dis, s.dense = self._build(shape, fit.device)
            s.opt_g = self._adam([*s.enc.parameters(), *s.dec.parameters()], self.lr)
            s.opt_d = self._adam(s.dis.parameters(), self.disc_lr) if s.dis is not None else None
        n = fit.data.n
        bs = min(self.batch_size, n)
        sampler_pre = StepSampler(n, bs, fit.seed, "pretrain")
        sampler_ft = StepSampler(n, bs, fit.seed, "finetune")
        n_iter = (n // bs) if self.drop_last else sampler_pre.steps_per_epoch

        fit.phase("pretrain", self.pretrain_epochs,
                  lambda e: self._epoch(fit, sampler_pre, n_iter, e, finetune=False))

        def prepare_finetune():
            if s.dense is not None:
                if self.keep_optimizer_state:
                    s.opt_g.add_param_group({"params": list(s.dense.parameters())})
                else:
                    s.opt_g = self._adam([*s.enc.parameters(), *s.dec.parameters(), *s.dense.parameters()],
                                         self.lr)
                    s.opt_d = self._adam(s.dis.parameters(), self.disc_lr) if s.dis is not None else None
            return {}

        ft_epochs = self.finetune_epochs if (self.use_densenet or self.densenet_off_finetune) else 0
        fit.once("prepare_finetune", prepare_finetune)
        fit.phase("finetune", ft_epochs, lambda e: self._epoch(fit, sampler_ft, n_iter, e, finetune=True))

        def cluster():
            emb = self._embedding_module(s)
            c = encode(fit, emb, self.embed_batch_size, modules=(emb,))
            if self.final_clustering == "kmeans":
                centers, labels = kmeans(c, self.n_clusters, n_init=self.n_init, seed=fit.seed)
            else:
                from sklearn.cluster import SpectralClustering
                C = c.cpu().numpy()
                labels = SpectralClustering(self.n_clusters, n_init=self.n_init,
                                            random_state=None if fit.seed is None else int(fit.seed) % 2**31
                                            ).fit_predict(C).astype(np.int64)
                centers = cluster_means(C, labels, self.n_clusters).astype(np.float32)
            s.labels, s.centers = torch.as_tensor(labels), torch.as_tensor(centers)
            return fit.monitor(labels)

        fit.once("cluster", cluster)
        fit.finish(s.labels, encoder_=self._embedding_module(s), decoder_=s.dec, discriminator_=s.dis,
                   cluster_centers_=s.centers.numpy())

    @staticmethod
    def _embedding_module(s):
        return DCFAEEmbedding(s.enc, s.dense)

    def _epoch(self, fit, sampler, n_iter, e, *, finetune: bool):
        s = fit.state
        mods = [m for m in (s.enc, s.dec, s.dis, s.dense) if m is not None]
        for m in mods:
            m.train()
        gen_params = [p for g in s.opt_g.param_groups for p in g["params"]]
        dis_params = list(s.dis.parameters()) if s.dis is not None else []
        use_gamma = finetune and s.dense is not None
        do_aug = self.augment if finetune else self.augment_pretrain
        tot: dict[str, torch.Tensor] = {}

        def add(k, v):
            tot[k] = tot.get(k, 0.0) + v.detach().float()

        for j in range(n_iter):
            x = fit.data.batch(sampler.indices(e * sampler.steps_per_epoch + j))
            if do_aug:
                x = augment_batch(x, self.rotation, self.shift)
            m = x.shape[0]
            with fit.autocast():
                mu, logvar = s.enc(x)
                mu, logvar = mu.float(), logvar.float()
                z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
                logits = s.dec(z)
            rec, kl = vae_losses(x, logits, mu, logvar, self.recon_channel_mean)
            loss = rec + kl
            add("rec", rec)
            add("kl", kl)
            if s.dis is not None:
                xt = torch.sigmoid(logits.float())
                with fit.autocast():
                    d = s.dis(torch.cat([xt, x])).float().view(-1)
                d_fake, d_real = d[:m], d[m:]
                l_g = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))    # Eq. 7
                tau = torch.cat([torch.zeros(m, device=d.device), torch.ones(m, device=d.device)])
                if self.disc_label_noise:
                    tau = tau + self.disc_label_noise * torch.rand_like(tau)
                l_d = F.binary_cross_entropy_with_logits(d, tau)                               # Eq. 6
                loss = loss + self.lam * l_g
                add("l_g", l_g)
                add("l_d", l_d)
                with torch.no_grad():   # Eqs. 13-14 (monitoring)
                    add("disc_score", 0.5 * (torch.sigmoid(d_real).mean() + 1 - torch.sigmoid(d_fake).mean()))
                    add("gen_score", torch.sigmoid(d_fake).mean())
            if use_gamma:
                with fit.autocast():
                    c = s.dense(mu)
                l_gamma = cluster_loss(mu, c.float(), self.rho, exclude_self=self.exclude_self_pairs,
                                       detach_p=self.detach_p, eps=self.pq_eps, target=self.target,
                                       perplexity=self.perplexity)
                loss = loss + self.lam_cluster * l_gamma
                if self.dense_l2:
                    loss = loss + self.dense_l2 * s.dense.l2_penalty()
                add("l_gamma", l_gamma)
            add("loss", loss)
            add("p_diag", p_diagonal_mass(mu, self.rho))   # monitoring: how much of Eq. 9's P is self pairs
            # both gradients from this one forward pass (spec §4.2); L_G leaves nothing on psi
            g_grads = torch.autograd.grad(loss, gen_params, retain_graph=s.dis is not None, allow_unused=True)
            if s.dis is not None:
                d_grads = torch.autograd.grad(l_d, dis_params, allow_unused=True)
                _assign(dis_params, d_grads)
            _assign(gen_params, g_grads)
            s.opt_g.step()
            if s.dis is not None:
                s.opt_d.step()
        logs = {k: v / n_iter for k, v in tot.items()}
        if self.monitor_every and fit.y is not None and (e + 1) % self.monitor_every == 0:
            # monitoring only (labels never steer training): k-means with the final clustering's n_init on
            # c (mu while pretraining); while fine-tuning also on mu (keys mu_acc, mu_nmi, mu_ari)
            mu_all = encode(fit, s.enc, self.embed_batch_size, modules=(s.enc,))
            if finetune and s.dense is not None:
                c = _apply_eval(fit, s.dense, mu_all, self.embed_batch_size)
                logs.update(fit.monitor(kmeans(c, self.n_clusters, n_init=self.n_init, seed=fit.seed)[1]))
                logs.update({f"mu_{k}": v for k, v in fit.monitor(
                    kmeans(mu_all, self.n_clusters, n_init=self.n_init, seed=fit.seed)[1]).items()})
            else:
                logs.update(fit.monitor(kmeans(mu_all, self.n_clusters, n_init=self.n_init, seed=fit.seed)[1]))
        return logs

    # ---- generative outputs (paper Figs. 3-4) ------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int = 64, seed: int | None = 0) -> np.ndarray:
        """n decoder samples x~ = sigmoid(Dec(z)), z ~ N(0, I): n x C x S x S in [0, 1]."""
        self._check_fitted()
        dec = self.decoder_.to(self._device()).eval()
        g = torch.Generator().manual_seed(0 if seed is None else int(seed))
        z = torch.randn(n, self.latent_dim, generator=g).to(self._device())
        return torch.sigmoid(dec(z)).float().cpu().numpy()

    @torch.no_grad()
    def reconstruct(self, X) -> np.ndarray:
        """sigmoid(Dec(mu(x))) of each sample (posterior mean, no sampling), shaped like the model input."""
        self._check_fitted()
        src = self._source(self._check_new(X))
        enc = self.encoder_.encoder.to(src.device).eval()
        dec = self.decoder_.to(src.device).eval()
        return src.map(lambda b: torch.sigmoid(dec(enc(b)[0])), self.embed_batch_size).float().cpu().numpy()

    def save_samples(self, path, n: int = 64, nrow: int = 8, seed: int | None = 0):
        """PNG grid of n decoder samples (the 'sampled' rows of the paper's Figs. 3-4)."""
        return save_image_grid(self.sample(n, seed), path, nrow)

    def save_reconstructions(self, X, path, n: int = 32, nrow: int = 8):
        """PNG grid of the first n samples of X: each row of originals is followed by its reconstructions
        (the 'original' / 'reconstructed' rows of Figs. 3-4)."""
        X = self._check_new(X)[:n]
        orig = self._source(X).slice(0, len(X)).float().cpu().numpy()
        rec = self.reconstruct(X)
        rows = []
        for i in range(0, len(X), nrow):
            rows += [orig[i:i + nrow], rec[i:i + nrow]]
            if len(orig[i:i + nrow]) < nrow:  # pad a short last row so originals and reconstructions align
                pad = np.ones((nrow - len(orig[i:i + nrow]), *orig.shape[1:]), np.float32)
                rows[-2], rows[-1] = np.concatenate([rows[-2], pad]), np.concatenate([rows[-1], pad])
        return save_image_grid(np.concatenate(rows), path, nrow)


# Fields that act only after pretraining (fine-tuning loss, DeepDenseNet regularisers, final clustering,
# monitoring): variants that differ only in these share Phase 1 exactly (same RNG draws: the DeepDenseNet
# is built before pretraining and its dropout has no parameters), see branch_after_pretraining.
FINETUNE_ONLY_FIELDS = frozenset({"target", "perplexity", "dropout", "dense_l2", "n_init", "final_clustering",
                                  "exclude_self_pairs", "detach_p", "lam_cluster", "rho", "pq_eps",
                                  "monitor_every", "finetune_epochs", "augment", "rotation", "shift"})


def branch_after_pretraining(after_pretrain, est: "DCFAE", directory) -> "DCFAE":
    """Make `est` start from another DCFAE fit's end-of-pretraining checkpoint (`<checkpoint_dir>/
    after-pretrain.pt`) instead of pretraining again: writes `<directory>/latest.pt` with est's parameters and
    sets est.checkpoint_dir / resume, so est.fit(X) runs only Phase 2 and 3. Allowed only when the two
    configurations differ in FINETUNE_ONLY_FIELDS (and run-time fields); the DeepDenseNet's dropout rate is
    set to est.dropout (Dropout(p=0) in training mode returns its input unchanged and draws nothing, so the
    result equals a fit from scratch; tested). Used by the benchmarks to compare fine-tuning variants on
    one pretrained model."""
    from pathlib import Path

    from ..engine.checkpoint import LATEST
    from ..engine.deep import _RUN_PARAMS, _plain_params
    from ..engine.io import torch_save
    payload = torch.load(Path(after_pretrain), map_location="cpu", weights_only=False)
    if payload.get("method") != "DCFAE" or "pretrain" not in payload.get("done", ()):
        raise InvalidInputError(f"{after_pretrain} is not a DCFAE checkpoint taken after pretraining")
    mine = _plain_params(est)
    diff = sorted(k for k in mine if k not in _RUN_PARAMS and k not in FINETUNE_ONLY_FIELDS
                  and mine[k] != payload["params"].get(k))
    if diff:
        raise InvalidInputError(f"cannot branch from {after_pretrain}: pretraining settings differ {diff}")
    payload["params"] = mine
    dense = payload["state"].get("dense")
    if dense is not None:
        for m in dense.modules():
            if isinstance(m, nn.Dropout):
                m.p = float(est.dropout)
    Path(directory).mkdir(parents=True, exist_ok=True)
    torch_save(Path(directory) / LATEST, payload)
    est.set_params(checkpoint_dir=str(directory), resume=True)
    return est


def cluster_loss(mu, c, rho, **kw):
    """Indirection used by the training step (tests monkeypatch it to simulate an interruption)."""
    return clustering_loss(mu, c, rho, **kw)


@torch.no_grad()
def _apply_eval(fit, module, Z, batch_size):
    """module(Z) in eval mode, batched, no gradients (the DeepDenseNet on an already encoded mu)."""
    was = module.training
    module.eval()
    try:
        with fit.autocast():
            return torch.cat([module(Z[i:i + batch_size]).float() for i in range(0, len(Z), batch_size)])
    finally:
        module.train(was)


def _assign(params, grads):
    for p, g in zip(params, grads):
        p.grad = g


def _check_unit_range(X, chunk: int = 65536):
    lo, hi = math.inf, -math.inf
    for i in range(0, X.shape[0], chunk):
        part = np.asarray(X[i:i + chunk])
        lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise InvalidInputError(
            f"DCFAE models pixels as Bernoulli means, so X must lie in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]. "
            "Load images without standardisation (load_dataset(name, resize=32) gives [0, 1])")


METHODS = {"dcfae": DCFAE}
__all__ = ["DCFAE", "DCFAEEmbedding", "clustering_loss", "similarity_p_q", "pairwise_log_similarity",
           "tsne_joint_p", "p_diagonal_mass", "vae_losses", "augment_batch", "branch_after_pretraining",
           "FINETUNE_ONLY_FIELDS"]
