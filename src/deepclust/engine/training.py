"""Training-loop pieces shared by the methods: reconstruction pretraining, whole-dataset encoding and
the DEC-family self-training loop (Student-t q, fixed target P refreshed every T steps, stop on tol)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .assignment import kl_clustering_loss, label_change, student_t, target_distribution
from .data import StepSampler
from .deep import Fit


def make_optimizer(params, name: str = "adam", lr: float = 1e-3, **kw) -> torch.optim.Optimizer:
    name = name.lower()
    if name == "adam":
        # the fused kernel: ~25 % faster steps for the DEC-family nets on CPU than the per-tensor loop
        # (benchmarks/peer_clustpy.py); falls back where a device has no fused Adam
        params = list(params)
        try:
            return torch.optim.Adam(params, lr=lr, **({"fused": True} | kw))
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.Adam(params, lr=lr, **kw)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, **({"momentum": 0.9} | kw))
    from ..errors import UnknownNameError
    raise UnknownNameError(f"unknown optimizer {name!r}; use 'adam' or 'sgd'")


@torch.no_grad()
def encode(fit: Fit, encoder: Callable, batch_size: int = 1024, modules: tuple = ()) -> torch.Tensor:
    """Embedding of the whole dataset: batched, no gradients, eval mode (for `encoder` if it is a module,
    and for `modules`), result stays on the device."""
    mods = ([encoder] if isinstance(encoder, nn.Module) else []) + list(modules)
    was = [m.training for m in mods]
    for m in mods:
        m.eval()
    try:
        with fit.autocast():
            z = fit.data.map(lambda b: _first(encoder(b)), batch_size)
        return z.float()
    finally:
        for m, t in zip(mods, was):
            m.train(t)


def pretrain_autoencoder(fit: Fit, key: str, *, epochs: int, batch_size: int = 256, lr: float = 1e-3,
                         optimizer: str = "adam", noise: float = 0.0, shuffle: bool = True,
                         loss: Callable = F.mse_loss, desc: str | None = None,
                         augment: Callable[[torch.Tensor, int], torch.Tensor] | None = None) -> None:
    """Phase `key`: minimise reconstruction loss of fit.state.<ae> for `epochs` epochs.

    fit.state.ae must be an autoencoder whose forward returns (z, x_hat). `noise` > 0 trains a
    denoising autoencoder with input dropout of that rate (corrupted input, clean target).
    `augment(x, step)` (e.g. engine.augment.random_affine) replaces each batch by an augmented view of
    it, which is both the input and the target (DEC-DA's pretraining)."""
    s = fit.state
    opt_name = f"opt_{key}"
    if not hasattr(s, opt_name):
        setattr(s, opt_name, make_optimizer(s.ae.parameters(), optimizer, lr))
    sampler = StepSampler(fit.data.n, batch_size, fit.seed, key, shuffle)

    def epoch(e: int):
        ae, opt = s.ae, getattr(s, opt_name)
        ae.train()
        total = torch.zeros((), device=fit.device)
        for j in range(sampler.steps_per_epoch):
            step = e * sampler.steps_per_epoch + j
            x = fit.data.batch(sampler.indices(step))
            if augment is not None:
                x = augment(x, step)
            x_in = F.dropout(x, noise) if noise else x
            with fit.autocast():
                _, x_hat = ae(x_in)
                l = loss(x_hat.float(), x)
            opt.zero_grad(set_to_none=True)
            l.backward()
            opt.step()
            total += l.detach()
        return {"recon_loss": total / sampler.steps_per_epoch}

    fit.phase(key, epochs, epoch, desc=desc)


def self_training(fit: Fit, key: str, *, model_forward: Callable, head_key: str = "head",
                  params: Callable[[], list], gamma: float | None, lr: float, optimizer: str, batch_size: int,
                  max_iter: int, update_interval: int, tol: float, shuffle: bool = False, alpha: float = 1.0,
                  recon_loss: Callable = F.mse_loss, modules: Callable[[], tuple] = tuple,
                  on_refresh: Callable[[torch.Tensor, int | None], None] | None = None) -> None:
    """Phase `key`: the DEC / IDEC / DCEC clustering phase (spec 001 §4.1 step 3).

    Every `update_interval` iterations: Q on the whole dataset (no grad), P = target(Q), labels = argmax Q;
    stop when fewer than `tol` of the labels changed. update_interval=0: P from each batch's own Q, no
    whole-dataset refresh and no early stop (the schedule of ClustPy and most PyTorch DEC ports). Each iteration: one optimiser step on
    gamma * KL(P_b || Q_b) + L_r (IDEC/DCEC) or on KL alone (DEC, gamma=None).
    `model_forward(x) -> (z, x_hat or None)` uses the networks in fit.state; fit.state.<head_key> is the
    ClusteringHead. The final labels are left in fit.state.labels.
    `on_refresh(z, it)` runs on the whole-dataset embedding before each target update (it = the iteration,
    None for the final one), e.g. to re-estimate the centres (CAE-MLE's Ward refresh); it may return a dict
    with "P" (n x k target) and/or "labels" (n) that replace the ones computed from Q (targets drawn from
    another partition). A head with `target(q)` / `labels(q)` methods (e.g. nn.heads.MultiLevelHead) gets
    its Q from its own forward and its P and labels from those methods."""
    s = fit.state
    opt_name = f"opt_{key}"
    if not hasattr(s, opt_name):
        setattr(s, opt_name, make_optimizer(params(), optimizer, lr))
    sampler = StepSampler(fit.data.n, batch_size, fit.seed, key, shuffle)
    if not hasattr(s, "labels"):
        s.labels = None

    def refresh(it: int | None = None):
        z = encode(fit, lambda b: model_forward(b)[0], modules=modules())
        override = on_refresh(z, it) if on_refresh is not None else None
        head = getattr(s, head_key)
        if hasattr(head, "target"):
            with torch.no_grad():
                q = head(z)
            P, labels = head.target(q), head.labels(q)
        else:
            q = student_t(z, head.centers.detach(), alpha)
            P, labels = target_distribution(q), q.argmax(1)
        if override:
            P = override.get("P", P)
            labels = override.get("labels", labels)
        delta = label_change(labels, s.labels)
        s.P, s.labels = P, labels
        return delta

    per_batch = update_interval == 0  # target from each batch's own Q (ClustPy / DEC-PyTorch style)
    log_every = update_interval or sampler.steps_per_epoch

    def iteration(it: int):
        logs = {}
        if not per_batch and it % update_interval == 0:
            delta = refresh(it)
            logs = {"label_change": delta, **fit.monitor(s.labels)}
            if it > 0 and delta < tol:
                return {**logs, "stop": True}
        idx = sampler.indices(it)
        x = fit.data.batch(idx)
        with fit.autocast():
            z, x_hat = model_forward(x)
            q = getattr(s, head_key)(z.float())
            p = target_distribution(q.detach()) if per_batch else s.P[idx.to(s.P.device)]
            kl = kl_clustering_loss(p, q)
            loss = kl if gamma is None else recon_loss(x_hat.float(), x) + gamma * kl
        opt = getattr(s, opt_name)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {**logs, "kl_loss": kl.detach(), "loss": loss.detach()}

    if per_batch and not hasattr(s, "P"):
        refresh(0)
    fit.phase(key, max_iter, iteration, unit="it", log_every=log_every)
    # labels from a final refresh (spec 001 §4.1 step 4 [SUGGESTED])
    if not getattr(s, f"{key}_final", False):
        refresh()
        setattr(s, f"{key}_final", True)


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


