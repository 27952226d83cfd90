"""DeepClusterer: the base of every neural method, and `Fit`, the context one `fit` call runs in.

A method's `_fit` reads like its paper's algorithm box: a sequence of named phases
(`fit.phase("pretrain", epochs, step)`, `fit.once("init", fn)`), whose mutable state lives in
`fit.state`. The phase runner gives every method, for free: progress bars, a per-step history with
ACC/NMI when labels are given, NaN/inf detection naming the phase, step and loss term, checkpoints
every N steps and at phase ends, and exact resume after a kill (state, phase cursor and RNG states
are all in the checkpoint; batches are a pure function of the step, see `data.StepSampler`).
"""
from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import Callable, ClassVar

import numpy as np
import torch

from ..errors import DivergenceError, InvalidInputError
from .base import BaseClusterer, estimator
from .checkpoint import Checkpointer
from .data import DataSource
from .device import autocast, resolve_device, rng_state, seed_everything, set_rng_state


@estimator
class DeepClusterer(BaseClusterer):
    """Common settings of every neural method (fields after the method's own)."""

    device: str = "auto"
    random_state: int | None = 0
    verbose: int = 1
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    resume: bool = False

    uses_images: ClassVar[bool] = False  # conv methods: X must be images (or square)
    embed_batch_size: ClassVar[int] = 1024

    def _make_fit(self, X, y, *, image_shape=None) -> "Fit":
        return Fit(self, X, y, image_shape=image_shape)

    # networks used by predict/transform: subclasses set self.encoder_ (and usually cluster_centers_)
    def _device(self) -> torch.device:
        return resolve_device(self.device)

    def _source(self, X) -> DataSource:
        shape = getattr(self, "sample_shape_", None)
        return DataSource(X, self._device(), shape=shape)

    @torch.no_grad()
    def _transform(self, X):
        src = self._source(X)
        enc = self.encoder_.to(src.device).eval()
        return src.map(lambda b: _first(enc(b)), self.embed_batch_size).float().cpu().numpy()

    def _predict(self, X):
        from .assignment import nearest
        Z = torch.from_numpy(self._transform(X))
        return nearest(Z, torch.as_tensor(np.asarray(self.cluster_centers_), dtype=Z.dtype)).numpy()


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


class Fit:
    """Everything one `fit` call needs: device, data on the device, the checkpointed training state,
    history, monitoring labels. Created by `DeepClusterer._make_fit`."""

    def __init__(self, est: DeepClusterer, X, y=None, *, image_shape=None):
        self.est = est
        self.device = resolve_device(est.device)
        self.seed = est.random_state
        seed_everything(self.seed)
        self.y = y
        self.data = DataSource(X, self.device, shape=image_shape)
        self.state = SimpleNamespace()
        self.history: list[dict] = []
        self.done: list[str] = []
        self.cursor: tuple[str, int] | None = None
        self.t0 = time.time()
        self.phase_seconds: dict[str, float] = {}
        self.ckpt = Checkpointer(est.checkpoint_dir) if est.checkpoint_dir else None
        self.resumed = False
        if est.resume and self.ckpt is not None and self.ckpt.exists():
            self._restore()

    # ---- phases -------------------------------------------------------------------------------
    def phase(self, name: str, n_steps: int, step: Callable[[int], dict | None], *, unit: str = "epoch",
              log_every: int = 1, checkpoint_every: int | None = None, desc: str | None = None) -> None:
        """Run step(i) for i = 0..n_steps-1 (resuming mid-phase if a checkpoint says so). step returns a
        dict of scalars to log (tensors are fine; they are synced only at log points); {"stop": True}
        ends the phase early."""
        if name in self.done:
            return
        start = self.cursor[1] if self.cursor and self.cursor[0] == name else 0
        every = self.est.checkpoint_every if checkpoint_every is None else checkpoint_every
        bar = _progress(self.est.verbose, n_steps, start, desc or f"{type(self.est).__name__} {name}", unit)
        acc: dict = {}
        t_phase = time.time()
        try:
            for i in range(start, n_steps):
                logs = step(i) or {}
                stop = bool(logs.pop("stop", False))
                for k, v in logs.items():
                    acc.setdefault(k, []).append(v)
                last = i + 1 == n_steps or stop
                if (i + 1) % log_every == 0 or last:
                    row = self._flush(name, unit, i, acc)
                    acc = {}
                    if bar is not None:
                        bar.set_postfix({k: f"{v:.4g}" for k, v in row.items()
                                         if isinstance(v, float) and k not in ("time",)}, refresh=False)
                if bar is not None:
                    bar.update(1)
                if self.ckpt is not None and every and (i + 1) % every == 0 and not last:
                    self.cursor = (name, i + 1)
                    self._save()
                if stop:
                    break
        finally:
            if bar is not None:
                bar.close()
        self.phase_seconds[name] = self.phase_seconds.get(name, 0.0) + time.time() - t_phase
        self.done.append(name)
        self.cursor = None
        if self.ckpt is not None:
            self._save(phase_end=name)

    def once(self, name: str, fn: Callable[[], dict | None]) -> None:
        """A one-step phase (an initialisation, a clustering pass): skipped when a checkpoint has it."""
        self.phase(name, 1, lambda _i: fn(), unit="step", desc=name)

    def _flush(self, phase, unit, i, acc) -> dict:
        row = {"phase": phase, unit: i + 1}
        for k, vals in acc.items():
            if isinstance(vals[0], torch.Tensor):
                val = torch.stack([v.detach().float().reshape(()) for v in vals]).mean().item()
            elif isinstance(vals[0], (int, float, np.floating, np.integer)):
                val = float(np.mean(vals))
            else:
                row[k] = vals[-1]
                continue
            if not math.isfinite(val):
                raise DivergenceError(
                    f"{type(self.est).__name__}: loss term {k!r} became {val} in phase {phase!r} at {unit} {i + 1}; "
                    "training stopped and no results were written. Try a lower learning rate, check the input "
                    "scaling, or resume from the last checkpoint")
            row[k] = val
        row["time"] = round(time.time() - self.t0, 3)
        self.history.append(row)
        return row

    # ---- monitoring ---------------------------------------------------------------------------
    def monitor(self, labels) -> dict:
        """ACC/NMI/ARI of `labels` when y was given to fit (for the log only), else {}."""
        if self.y is None:
            return {}
        from ..metrics import acc, ari, nmi
        lab = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        return {"acc": acc(self.y, lab), "nmi": nmi(self.y, lab), "ari": ari(self.y, lab)}

    def autocast(self):
        return autocast(self.device)

    # ---- checkpoints ----------------------------------------------------------------------------
    def _payload(self) -> dict:
        return {"format": "deepclust-checkpoint/1", "method": type(self.est).__name__,
                "params": _plain_params(self.est), "n_samples": self.data.n,
                "state": vars(self.state), "done": list(self.done), "cursor": self.cursor,
                "history": self.history, "rng": rng_state(), "phase_seconds": self.phase_seconds}

    def _save(self, phase_end: str | None = None) -> None:
        self.ckpt.save(self._payload(), phase_end=phase_end)

    def _restore(self) -> None:
        p = self.ckpt.load(map_location=self.device)
        if p.get("method") != type(self.est).__name__ or p.get("n_samples") != self.data.n:
            raise InvalidInputError(
                f"checkpoint {self.ckpt.latest} is from {p.get('method')} on {p.get('n_samples')} samples, not "
                f"{type(self.est).__name__} on {self.data.n}; use another checkpoint_dir or resume=False")
        mine, theirs = _plain_params(self.est), p["params"]
        diff = sorted(k for k in mine if k not in _RUN_PARAMS and mine.get(k) != theirs.get(k))
        if diff:
            raise InvalidInputError(f"cannot resume: parameters differ from the checkpoint's: {diff}")
        self.state = SimpleNamespace(**p["state"])
        self.done, self.cursor, self.history = list(p["done"]), p["cursor"], list(p["history"])
        self.phase_seconds = dict(p.get("phase_seconds", {}))
        set_rng_state(p["rng"])
        self.resumed = True

    # ---- results ------------------------------------------------------------------------------
    def finish(self, labels, **fitted) -> None:
        """Set labels_, history_ and the given fitted attributes on the estimator."""
        est = self.est
        lab = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        est.labels_ = lab.astype(np.int64)
        for k, v in fitted.items():
            if isinstance(v, torch.Tensor) and k == "cluster_centers_":
                v = v.detach().float().cpu().numpy()
            setattr(est, k, v)
        est.sample_shape_ = self.data.sample_shape
        est.history_ = self.history
        est.phase_seconds_ = dict(self.phase_seconds)
        est.fit_seconds_ = time.time() - self.t0
        est.device_ = str(self.device)


_RUN_PARAMS = {"device", "verbose", "checkpoint_dir", "checkpoint_every", "resume"}


def _plain_params(est) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool, type(None), tuple, list)) else repr(v))
            for k, v in est.get_params(deep=False).items()}


def _progress(verbose, total, initial, desc, unit):
    if not verbose:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=verbose > 1, dynamic_ncols=True,
                mininterval=0.5)
