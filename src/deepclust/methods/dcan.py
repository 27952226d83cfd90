"""DCAN: Deep Clustering using an Adversarial-Net-based clustering loss. K.-L. Lim, "Deep clustering using
adversarial net based clustering loss", ICLR 2025 Workshop DeLTa (arXiv:2412.08933, 2024).

'spec §N': the project's implementation notes on the paper (not shipped with the package).
Algorithm 1 (spec §4.1) as implemented (§4.2):

  init:  build encoder G (tanh MLP, eq. 14) and discriminator D (tanh hidden, sigmoid output, eq. 18);
         encode M >= 600 random points, full k-means on them -> eta; tau from eq. (17).
  for t = 1..T (T = 500):
    1. draw a fresh clustering batch S_t of M points, Z_t = G(S_t) (no grad); C = 1 Lloyd / hard-EM
       iteration warm-started from the previous eta: assign (nearest centre), eta_k = mean,
       var_k = 1 / tau_k = per-dimension within-cluster variance (eq. 17, 1/N_k normaliser, floor 1e-6,
       empty clusters keep their previous eta/var);
    2. minibatch of B = 16 points (the first B of S_t's random order), z = G(x), k_n = assignment of z_n;
    3. 'real' samples (T = 1, path B): z~_n = eta_{k_n} + eps * sqrt(var_{k_n}), eps ~ N(0, I) (no grad);
    4. L_D = BCE(D(z~), 1) + BCE(D(z.detach()), 0)  (= -(L_1 + L_2) of eqs. 16/20; D maximises L_1 + L_2);
    5. L_G = mean ln(1 - D(G(x)))  (eq. 22, the saturating minimax form; G minimises it);
    6. both gradients with the networks' current weights, then one momentum-SGD step each
       (Algorithm 1 step 8: simultaneous update), same learning rate.
  final: encode all points, k-means (k-means++, n_init = 10) -> labels_, cluster_centers_.

Architecture (§2.5): `arch="auto"` picks the paper's per-dataset layer sizes from the input dimension
(`PAPER_ARCHS`): 256 -> USPS 256-196-128 / D 128-16-1; 196 -> MNIST 14x14 196-384-256 / D 256-16-1;
784 -> 784-512-384-256; 512 (ResNet18 features) -> 512-256-128; 2048 (ResNet50) -> 2048-1024-512-128;
2000 (Reuters) -> 2000-100-500 / D 500-100-1. Other dimensions: latent min(128, D), one hidden layer of
(D + latent) // 2 units, D latent-16-1 (`auto_architecture`). `hidden`, `latent_dim`, `disc_hidden`
override any of them. Every method accepts a plain N x D feature matrix (e.g. ResNet features from
`deepclust.features.extract_features`); images are flattened.

Deviations / judgement calls (spec section):
- §2.2/§9.1.8 latent activation: tanh (configurable: tanh, sigmoid, identity).
- §2.4/§9.1.1 no decoder by default; `lambda_rec` > 0 adds a decoder and lambda_rec * 1/2||x - x_hat||^2 to
  L_G, and `pretrain_epochs` > 0 pretrains that autoencoder (Adam) -- both extensions, NOT in the paper.
- §9.1.2 "500 iterations" = 500 outer iterations of Algorithm 1, one minibatch of 16 each (`n_iter`).
- §9.1.4 the clustering batch is re-drawn every iteration (M = `cluster_batch`, all points if n < M);
  the minibatch is drawn from it (§9.1.4 interpretation).
- §9.1.5 unconditional D, one positive per minibatch element from its assigned component.
- §9.1.6 positive-sample variance: per-cluster diagonal (eq. 17) by default; options `variance` =
  "spherical" (one scalar per cluster), "fixed" (`fixed_var`), "zero" (eta itself).
- §9.1.7 assignment: nearest centre ("kmeans") by default; `assign="gmm"` = argmax of the diagonal Gaussian
  log-likelihood (eq. 17's hard GMM).
- §9.1.9 saturating generator loss by default; `generator_loss="non_saturating"` (BCE(D(G(x)), 1)) is ours.
- §9.1.10 simultaneous updates by default; `update="alternating"` (D step, then G step against the new D).
- §9.1.11 lr 1e-3 (top of the paper's range), momentum 0.9 [UNSPECIFIED]; §9.1.12 means over the minibatch.
- §2.7 Xavier-uniform init with the tanh gain, zero biases; no pretraining.
- §2.3 D outputs a logit and BCE-with-logits is used (identical to sigmoid + cross-entropy, stabler).
- §5 initial and final k-means: k-means++ with 10 restarts; labels_ = final k-means on all points (§4.2).
- Random draws per iteration come from generators seeded by (random_state, key, iteration), so a resumed
  run reproduces an uninterrupted one exactly.
- Not implemented: the cluster-conditional discriminator (§9.1.5, a non-paper option).

Repair (preset "repaired", docs/reproductions/004_dcan.md). In Algorithm 1 the positives are drawn from
Gaussians re-fitted to the codes' own clusters every step (eq. 17), so the target follows the codes and
the discriminator has nothing to teach: D(real) ~ D(fake) ~ 0.5 while the codes drift and saturate. The
repair changes three things, each a parameter (defaults = the paper):
- `target="fixed"`: k-means (n_init 20) once on the codes of ALL points after pretraining; eta_k stay at
  those centres for the whole run, and the positives of cluster k are N(eta_k, s_k^2 I) with s_k^2 =
  `target_shrink` (0.25) x the mean per-dimension within-cluster variance of that initial cluster, i.e.
  half the codes' spread (`fixed_target_variance`). Assignment: nearest fixed centre. No eq.-(17) refit.
- `pretrain_epochs=50`: the encoder/decoder pair is first trained on reconstruction (Adam 1e-3, batch 256,
  as the cited baselines start from a trained autoencoder); the decoder is then unused (lambda_rec = 0).
- a discriminator that can answer "does z belong to the ASSIGNED cluster?" (Table I): `disc_condition=True`
  (input = z and the one-hot assignment, spec §9.1.5), 64 hidden units, `update="alternating"` with
  `disc_steps=5` D steps per encoder step, D learning rate 1e-3 and encoder 1e-4 (two time scales, so D
  stays near the optimum that Lemma 2 assumes).
Chosen without labels: on planted clusters (tests/methods/test_dcan.py) the rule was "the partition of
the initial codes is kept (ARI to it) and the silhouette of the codes rises"; the paper-literal D with 16
hidden units, one step and equal learning rates let codes cross clusters (ARI 0.72-0.78) or saturate
(USPS: every code in a corner of the tanh cube within 50 steps at lr 1e-3 with a non-saturating loss).
Measured effect (USPS seed 0): the repaired DCAN keeps the pretrained partition (k-means on the pretrained
codes 0.660 -> 0.657 after 500 iterations, 0.658 after 3,000) but does not sharpen it towards the paper's
0.83; with the target at the class means (an oracle, diagnosis only) the game still does not pull the codes
to it. See docs/reproductions/004_dcan.md.

Reproduction status (benchmarks/dcan_paper.py, benchmarks/results/dcan/SUMMARY-paper.md): with the paper's
settings DCAN does NOT reproduce Tables III/IV -- on USPS and MNIST-test 14x14 it ends below k-means on
its own untrained encoder's codes (its starting point); the discriminator cannot tell the moment-matched
cluster Gaussians from the codes (D(real) ~ D(fake) ~ 0.5), so the encoder's gradient carries little
clustering signal, and larger learning rates collapse the codes. See VARIANTS-paper.md for the options tried.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ..engine.assignment import kmeans
from ..engine.base import estimator
from ..engine.deep import DeepClusterer
from ..engine.device import generator
from ..engine.training import encode, pretrain_autoencoder
from ..errors import InvalidInputError
from ..nn.dcan_nets import LATENT_ACTS, Discriminator, TanhAutoencoder

# input dim -> (encoder hidden, latent dim, discriminator hidden); spec §2.5 (paper unless noted there)
PAPER_ARCHS = {
    "usps": (256, (196,), 128, (16,)),
    "mnist14": (196, (384,), 256, (16,)),
    "mnist28": (784, (512, 384), 256, (16,)),
    "svhn-resnet18": (512, (256,), 128, (16,)),
    "cifar10-resnet50": (2048, (1024, 512), 128, (16,)),
    "reuters10k": (2000, (100,), 500, (100,)),
}
_BY_DIM = {v[0]: v[1:] for v in PAPER_ARCHS.values()}


def auto_architecture(input_dim: int) -> tuple[tuple, int, tuple]:
    """(hidden, latent, disc_hidden): the paper's sizes for its input dimensions (PAPER_ARCHS), otherwise
    latent = min(128, D), hidden = ((D + latent) // 2,), discriminator latent-16-1."""
    if input_dim in _BY_DIM:
        return _BY_DIM[input_dim]
    latent = min(128, input_dim)
    return ((input_dim + latent) // 2,), latent, (16,)


# ---- clustering in latent space (spec §3.5) -------------------------------------------------------
ASSIGN_RULES = ("kmeans", "gmm")
TARGETS = ("refit", "fixed")
VARIANCES = ("diag", "spherical", "fixed", "zero")


def assign_clusters(z: torch.Tensor, eta: torch.Tensor, var: torch.Tensor, rule: str = "kmeans") -> torch.Tensor:
    """zeta: nearest centre ("kmeans") or argmax_k ln N(z | eta_k, diag(var_k)) ("gmm", eq. 17)."""
    if rule == "kmeans":
        return torch.cdist(z.float(), eta.float()).argmin(dim=1)
    d = (z[:, None, :] - eta[None]).pow(2) / var[None] + var.log()[None]
    return d.sum(-1).argmin(dim=1)


def cluster_stats(z: torch.Tensor, labels: torch.Tensor, eta: torch.Tensor, var: torch.Tensor,
                  floor: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """eq. (17) with the 1/N_k normaliser: per-cluster mean and per-dimension variance (floored).
    Empty clusters keep their previous eta/var (spec §3.5)."""
    k = eta.shape[0]
    onehot = F.one_hot(labels, k).to(z.dtype)  # n x k
    counts = onehot.sum(0)
    sums = onehot.T @ z
    sq = onehot.T @ (z * z)
    safe = counts.clamp_min(1)[:, None]
    mean = sums / safe
    v = (sq / safe - mean * mean).clamp_min(floor)
    keep = (counts == 0)[:, None]
    return torch.where(keep, eta, mean), torch.where(keep, var, v)


def lloyd_step(z, eta, var, rule="kmeans", floor=1e-6):
    """One clustering iteration warm-started from (eta, var): assign, then re-estimate (spec §4.2 step 1)."""
    labels = assign_clusters(z, eta, var, rule)
    eta, var = cluster_stats(z, labels, eta, var, floor)
    return eta, var, labels


def sampling_variance(var: torch.Tensor, mode: str, fixed: float = 1.0) -> torch.Tensor:
    """Variance of the 'real' samples (spec §9.1.6): diag (eq. 17), spherical (mean over dims), fixed, zero."""
    if mode == "diag":
        return var
    if mode == "spherical":
        return var.mean(dim=1, keepdim=True).expand_as(var)
    if mode == "fixed":
        return torch.full_like(var, fixed)
    return torch.zeros_like(var)


def fixed_target_variance(var: torch.Tensor, shrink: float) -> torch.Tensor:
    """The repaired target's variance: per cluster, `shrink` x the mean (over dimensions) of its initial
    within-cluster variance, the same in every dimension. shrink < 1 makes the positives tighter than the
    codes they are paired with, so the discriminator learns 'near the assigned centre' = real."""
    return (shrink * var.mean(dim=1, keepdim=True)).expand_as(var).contiguous()


def sample_real(eta: torch.Tensor, var: torch.Tensor, k: torch.Tensor, gen: torch.Generator | None = None):
    """z~_n ~ N(eta_{k_n}, diag(var_{k_n})): the discriminator's 'real' inputs (T = 1, path B)."""
    eps = torch.randn(len(k), eta.shape[1], generator=gen).to(eta.device)
    return eta[k] + eps * var[k].sqrt()


# ---- the shared Algorithm-1 loop (DCAN and the baselines of abc.py) -------------------------------
@estimator
class LatentClusteringBase(DeepClusterer):
    """Algorithm 1's skeleton: per iteration, re-estimate the latent clusters on a fresh batch of
    `cluster_batch` codes (`cluster_iters` warm-started Lloyd steps), then one minibatch update of the
    method's loss (`_train_step`); finally k-means on all codes. Subclasses build the networks."""

    arch: str = "auto"
    hidden: tuple | None = None
    latent_dim: int | None = None
    latent_act: str = "tanh"
    n_iter: int = 500
    batch_size: int = 16
    cluster_batch: int = 600
    cluster_iters: int = 1
    assign: str = "kmeans"
    variance: str = "diag"
    fixed_var: float = 1.0
    var_floor: float = 1e-6
    lr: float = 1e-3
    momentum: float = 0.9
    n_init: int = 10
    log_every: int = 100
    target: str = "refit"        # "refit" (paper, eq. 17 every step) | "fixed" (repair: set once, never moved)
    target_shrink: float = 0.25  # target="fixed": positives' variance = shrink x initial within-cluster variance

    uses_clusters: ClassVar[bool] = True
    # the DCAN paper's inputs (Lim §IV): USPS 256-d; MNIST 2x2-average-pooled to 14x14 = 196-d
    paper_data: ClassVar[dict] = {"usps": {"flatten": True},
                                  **{d: {"resize": 14, "resize_method": "area", "flatten": True}
                                     for d in ("mnist", "mnist-test")}}

    # -- parameters ------------------------------------------------------------------------------
    def _check_params(self):
        name = type(self).__name__
        if self.arch != "auto" and self.arch not in PAPER_ARCHS:
            raise InvalidInputError(f"{name}: arch must be 'auto' or one of {sorted(PAPER_ARCHS)}, got {self.arch!r}")
        for f in ("n_iter", "batch_size", "cluster_batch", "cluster_iters", "n_init", "log_every"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if f == "n_iter" else 1):
                raise InvalidInputError(f"{name}: {f} must be a positive integer, got {v!r}")
        if self.latent_dim is not None and (not isinstance(self.latent_dim, int) or self.latent_dim < 1):
            raise InvalidInputError(f"{name}: latent_dim must be a positive integer or None, got {self.latent_dim!r}")
        _check_dims(name, "hidden", self.hidden)
        if self.latent_act not in LATENT_ACTS:
            raise InvalidInputError(f"{name}: latent_act must be one of {LATENT_ACTS}, got {self.latent_act!r}")
        if self.assign not in ASSIGN_RULES:
            raise InvalidInputError(f"{name}: assign must be one of {ASSIGN_RULES}, got {self.assign!r}")
        if self.variance not in VARIANCES:
            raise InvalidInputError(f"{name}: variance must be one of {VARIANCES}, got {self.variance!r}")
        if not self.lr > 0:
            raise InvalidInputError(f"{name}: lr must be > 0 (the paper uses 1e-5 .. 1e-3), got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise InvalidInputError(f"{name}: momentum must be in [0, 1), got {self.momentum!r}")
        if self.target not in TARGETS:
            raise InvalidInputError(f"{name}: target must be one of {TARGETS}, got {self.target!r}")
        if not 0 < self.target_shrink <= 1:
            raise InvalidInputError(f"{name}: target_shrink must be in (0, 1], got {self.target_shrink!r}")
        if not self.fixed_var > 0 or not self.var_floor > 0:
            raise InvalidInputError(f"{name}: fixed_var and var_floor must be > 0")
        if self.uses_clusters and self.cluster_batch < self.n_clusters:
            raise InvalidInputError(f"{name}: cluster_batch ({self.cluster_batch}) must be at least n_clusters "
                                    f"({self.n_clusters}); the paper uses >= 600")

    def _architecture(self, input_dim: int):
        hidden, latent, disc = PAPER_ARCHS[self.arch][1:] if self.arch != "auto" else auto_architecture(input_dim)
        if self.arch != "auto" and PAPER_ARCHS[self.arch][0] != input_dim:
            raise InvalidInputError(f"{type(self).__name__}: arch={self.arch!r} expects {PAPER_ARCHS[self.arch][0]} "
                                    f"input features, X has {input_dim}; use arch='auto' or hidden=/latent_dim=")
        return (tuple(self.hidden) if self.hidden is not None else hidden,
                self.latent_dim if self.latent_dim is not None else latent, disc)

    def _sgd(self, params):
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)

    # -- hooks -------------------------------------------------------------------------------------
    def _build(self, fit, input_dim: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _encoder(self, s) -> torch.nn.Module:
        """The deterministic embedding x -> z used for clustering (and transform)."""
        raise NotImplementedError  # pragma: no cover

    def _train_step(self, fit, s, i: int, xb: torch.Tensor, gen: torch.Generator) -> dict:
        raise NotImplementedError  # pragma: no cover

    def _before_training(self, fit) -> None:
        """Optional phases before the adversarial / clustering loop (pretraining)."""

    def _fitted_extra(self, s) -> dict:
        return {}

    # -- the algorithm -------------------------------------------------------------------------------
    def _fit(self, X, y):
        fit = self._make_fit(X, y)
        s = fit.state
        n = fit.data.n
        if not hasattr(s, "built"):
            self._build(fit, fit.data.dim)
            s.built = True
        self._before_training(fit)
        m = min(self.cluster_batch, n)
        enc = lambda: self._encoder(s)  # noqa: E731

        if self.uses_clusters:
            def init():
                # paper: k-means on M random codes; fixed target: on every code (the target is set once)
                idx = (torch.randperm(n, generator=generator(fit.seed, "init-batch"))[:m] if self.target == "refit"
                       else torch.arange(n))
                z0 = self._embed(fit, idx)
                centers, labels = kmeans(z0, self.n_clusters, n_init=self.n_init, seed=fit.seed)
                eta = torch.as_tensor(centers, device=fit.device)
                var = torch.ones_like(eta)
                labels = torch.as_tensor(labels, device=fit.device)
                s.eta, s.var = cluster_stats(z0, labels, eta, var, self.var_floor)
                if self.target == "fixed":  # one spherical variance per cluster, shrunk (see fixed_target)
                    s.var = fixed_target_variance(s.var, self.target_shrink)
                return fit.monitor(labels) if self.target == "fixed" and len(idx) == n else {}
            fit.once("init", init)

        def iteration(i: int):
            gen = generator(fit.seed, "iteration", i)
            idx = torch.randperm(n, generator=gen)[:m]
            logs = {}
            if self.uses_clusters and self.target == "refit":  # eq. (17) on the current codes
                z_c = self._embed(fit, idx)
                for _ in range(self.cluster_iters):
                    s.eta, s.var, _lab = lloyd_step(z_c, s.eta, s.var, self.assign, self.var_floor)
            xb = fit.data.batch(idx[:self.batch_size])
            for mod in self._modules(s):
                mod.train()
            logs.update(self._train_step(fit, s, i, xb, gen))
            if fit.y is not None and ((i + 1) % self.log_every == 0 or i + 1 == self.n_iter):
                z = encode(fit, enc(), modules=tuple(self._modules(s)))
                if self.uses_clusters:
                    logs.update(fit.monitor(assign_clusters(z, s.eta, s.var, self.assign)))
            return logs

        fit.phase("train", self.n_iter, iteration, unit="it", log_every=self.log_every)

        def final():
            z = encode(fit, enc(), modules=tuple(self._modules(s)))
            centers, labels = kmeans(z, self.n_clusters, n_init=self.n_init, seed=fit.seed)
            s.centers, s.labels = torch.as_tensor(centers), torch.as_tensor(labels)
            return fit.monitor(labels)

        fit.once("final", final)
        extra = {"train_centers_": s.eta.cpu().numpy(), "train_variances_": s.var.cpu().numpy()} \
            if self.uses_clusters else {}
        fit.finish(s.labels, encoder_=self._encoder(s).eval(), cluster_centers_=s.centers.numpy(),
                   **extra, **self._fitted_extra(s))

    @torch.no_grad()
    def _embed(self, fit, idx) -> torch.Tensor:
        mods = self._modules(fit.state)
        was = [mm.training for mm in mods]
        for mm in mods:
            mm.eval()
        z = self._encoder(fit.state)(fit.data.batch(idx)).float()
        for mm, t in zip(mods, was):
            mm.train(t)
        return z

    def _modules(self, s) -> list:
        return [self._encoder(s)]


def _check_dims(name, field, dims):
    if dims is None:
        return
    if not isinstance(dims, (tuple, list)) or not all(isinstance(d, int) and d > 0 for d in dims):
        raise InvalidInputError(f"{name}: {field} must be a tuple of positive layer widths (or None = the paper's "
                                f"per-dataset sizes), got {dims!r}")


GEN_LOSSES = ("saturating", "non_saturating")
# The named repair (preset "repaired"; module docstring "Repair"): a target that does not follow the codes,
# a pretrained encoder, and a discriminator kept near its optimum.
REPAIRED = {"target": "fixed", "target_shrink": 0.25, "pretrain_epochs": 50, "disc_condition": True,
            "disc_hidden": (64,), "update": "alternating", "disc_steps": 5, "lr": 1e-4, "lr_disc": 1e-3,
            "n_init": 20}
UPDATES = ("simultaneous", "alternating")


@estimator
class DCAN(LatentClusteringBase):
    """DCAN: an encoder trained against a latent-space discriminator that tells samples of the assigned
    k-means cluster's Gaussian (real) from encoder outputs (fake); k-means on the codes at the end.

    X: N x D features (raw pixels, CNN features, tf-idf) or images (flattened)."""

    disc_hidden: tuple | None = None
    disc_condition: bool = False  # True: D sees (z, one-hot assigned cluster) -- spec §9.1.5, not the paper
    disc_steps: int = 1           # D updates per encoder update (update="alternating" only; the paper: 1)
    lr_disc: float | None = None  # D's learning rate (None: lr, as in the paper)
    generator_loss: str = "saturating"
    update: str = "simultaneous"
    lambda_rec: float = 0.0
    pretrain_epochs: int = 0
    pretrain_lr: float = 1e-3
    pretrain_batch_size: int = 256

    presets: ClassVar[dict] = {"paper": {},
                               "cpu": {},  # the paper's budget (500 x 16 samples) already fits a CPU
                               "repaired": dict(REPAIRED),
                               "smoke": {"n_iter": 60, "n_init": 3, "cluster_batch": 300, "log_every": 30}}

    def _check_params(self):
        super()._check_params()
        name = type(self).__name__
        _check_dims(name, "disc_hidden", self.disc_hidden)
        if self.generator_loss not in GEN_LOSSES:
            raise InvalidInputError(f"{name}: generator_loss must be one of {GEN_LOSSES}, got {self.generator_loss!r}")
        if self.update not in UPDATES:
            raise InvalidInputError(f"{name}: update must be one of {UPDATES}, got {self.update!r}")
        if not self.lambda_rec >= 0:
            raise InvalidInputError(f"{name}: lambda_rec must be >= 0 (0 = the paper's DCAN), got {self.lambda_rec!r}")
        if not isinstance(self.disc_steps, int) or self.disc_steps < 1:
            raise InvalidInputError(f"{name}: disc_steps must be an integer >= 1, got {self.disc_steps!r}")
        if self.disc_steps > 1 and self.update != "alternating":
            raise InvalidInputError(f"{name}: disc_steps > 1 needs update='alternating'")
        if self.lr_disc is not None and not self.lr_disc > 0:
            raise InvalidInputError(f"{name}: lr_disc must be > 0 or None, got {self.lr_disc!r}")
        if not isinstance(self.pretrain_epochs, int) or self.pretrain_epochs < 0:
            raise InvalidInputError(f"{name}: pretrain_epochs must be an integer >= 0, got {self.pretrain_epochs!r}")

    def _needs_decoder(self) -> bool:
        return self.lambda_rec > 0 or self.pretrain_epochs > 0

    def _build(self, fit, input_dim):
        hidden, latent, disc = self._architecture(input_dim)
        s = fit.state
        s.ae = TanhAutoencoder(input_dim, hidden, latent, self.latent_act,
                               decoder=self._needs_decoder()).to(fit.device)
        d_in = latent + (self.n_clusters if self.disc_condition else 0)
        s.D = Discriminator(d_in, tuple(self.disc_hidden) if self.disc_hidden is not None else disc).to(fit.device)
        g_params = list(s.ae.parameters()) if self.lambda_rec > 0 else list(s.ae.encoder.parameters())
        s.opt_G = self._sgd(g_params)
        s.opt_D = torch.optim.SGD(s.D.parameters(), lr=self.lr if self.lr_disc is None else self.lr_disc,
                                  momentum=self.momentum)

    def _before_training(self, fit):
        if self.pretrain_epochs:
            pretrain_autoencoder(fit, "pretrain", epochs=self.pretrain_epochs, batch_size=self.pretrain_batch_size,
                                 lr=self.pretrain_lr)

    def _encoder(self, s):
        return s.ae.encoder

    def _modules(self, s):
        return [s.ae, s.D]

    def _fitted_extra(self, s):
        return {"discriminator_": s.D.eval(), **({"autoencoder_": s.ae} if s.ae.decoder is not None else {})}

    def _train_step(self, fit, s, i, xb, gen):
        G = s.ae.encoder
        z = G(xb)
        with torch.no_grad():
            k = assign_clusters(z.detach(), s.eta, s.var, self.assign)
            z_real = sample_real(s.eta, sampling_variance(s.var, self.variance, self.fixed_var), k, gen)
        if self.disc_condition:  # real and fake of sample n carry the same cluster one-hot
            onehot = F.one_hot(k, self.n_clusters).to(z.dtype)
            D = lambda v: s.D(torch.cat([v, onehot], dim=1))  # noqa: E731
        else:
            D = s.D
        logit_real = D(z_real)
        logit_fake = D(z.detach())
        loss_d = (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
                  + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
        g_params = [p for grp in s.opt_G.param_groups for p in grp["params"]]
        d_params = list(s.D.parameters())

        def gen_loss():
            logit = D(z)
            if self.generator_loss == "saturating":   # mean ln(1 - D(G(x))), minimised (eq. 22)
                lg = -F.binary_cross_entropy_with_logits(logit, torch.zeros_like(logit))
            else:                                     # non-saturating: -mean ln D(G(x)) (extension)
                lg = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
            if self.lambda_rec > 0:
                rec = 0.5 * (s.ae.decode(z).view_as(xb) - xb).pow(2).flatten(1).sum(1).mean()
                return lg, lg + self.lambda_rec * rec
            return lg, lg

        if self.update == "simultaneous":  # Algorithm 1: all gradients first, then step 8
            lg, loss_g = gen_loss()
            g_d = torch.autograd.grad(loss_d, d_params)
            g_g = torch.autograd.grad(loss_g, g_params)
            for p, g in zip(d_params, g_d):
                p.grad = g
            for p, g in zip(g_params, g_g):
                p.grad = g
            s.opt_D.step()
            s.opt_G.step()
        else:
            for j in range(self.disc_steps):  # extra D steps: fresh positives, the same codes
                if j:
                    with torch.no_grad():
                        z_real = sample_real(s.eta, sampling_variance(s.var, self.variance, self.fixed_var), k, gen)
                    logit_real, logit_fake = D(z_real), D(z.detach())
                    loss_d = (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
                              + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
                s.opt_D.zero_grad(set_to_none=True)
                loss_d.backward()
                s.opt_D.step()
            lg, loss_g = gen_loss()
            g_g = torch.autograd.grad(loss_g, g_params)
            for p, g in zip(g_params, g_g):
                p.grad = g
            s.opt_G.step()
        return {"loss_d": loss_d.detach(), "loss_g": lg.detach(),
                "d_real": torch.sigmoid(logit_real).mean().detach(),
                "d_fake": torch.sigmoid(logit_fake).mean().detach()}


METHODS = {"dcan": DCAN}
__all__ = ["DCAN", "LatentClusteringBase", "PAPER_ARCHS", "auto_architecture", "assign_clusters", "cluster_stats",
           "lloyd_step", "sample_real", "sampling_variance"]
