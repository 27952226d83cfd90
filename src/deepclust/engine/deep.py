"""DeepClusterer: the base of every neural method, and `Fit`, the context one `fit` call runs in.

A method's `_fit` reads like its paper's algorithm box: a sequence of named phases
(`fit.phase("pretrain", epochs, step)`, `fit.once("init", fn)`), whose mutable state lives in
`fit.state`. The phase runner gives every method, for free: progress bars, a per-step history with
ACC/NMI when labels are given, NaN/inf detection naming the phase, step and loss term, checkpoints
every N steps and at phase ends, and exact resume after a kill (state, phase cursor and RNG states
are all in the checkpoint; batches are a pure function of the step, see `data.StepSampler`).

Reliability (docs/RELIABILITY.md):
- divergence: every numeric value a step logs is checked. On CPU it is checked at the step that produced
  it (a `.item()` there costs nothing); on GPU values stay on the device and are checked at the next log
  point (no host sync per step), and the error still names the first step whose value was NaN/inf.
  Phases with unit "epoch" return one value per epoch, so a NaN in the middle of an epoch is seen at the
  epoch's end. `on_divergence="rollback"` restores the last checkpoint (or the state at the start of
  the phase) with the learning rate of every optimiser in fit.state halved, at most `max_rollbacks` times.
- results: `finish` refuses NaN/inf centres, labels or network weights (DivergenceError), so no NaN result
  is ever set on the estimator or written by a run folder.
- `checkpoint_dir` is created and checked for writability and free space before training starts.
- `deterministic=True`: torch.use_deterministic_algorithms during fit, cuDNN autotuning off, no automatic
  bf16 autocast (GPU only matters; CPU runs are deterministic anyway).
- `precision`: "auto" = bf16 autocast on GPUs that support it; "bf16" everywhere; "bf16-native" wherever the
  hardware multiplies bf16 natively, CPUs with AMX / AVX512-BF16 included (~5x the fp32 matmul rate on this
  project's CPU); "fp32" never. Distances, soft assignments and
  losses are computed in fp32 inside the autocast region.
- `flush_denormals` (default True): on CPU, subnormal floats are flushed to zero during fit; Adam moments
  of dead ReLU units otherwise decay into them and slow training by a quarter or more (engine/device.py).
- `max_bytes`: memory budget of the data (see engine/data.py); memmaps / HDF5 datasets are streamed.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from types import SimpleNamespace
from typing import Callable, ClassVar

import numpy as np
import torch

from ..errors import DivergenceError, InvalidInputError
from .base import BaseClusterer, estimator
from .checkpoint import Checkpointer, deserialize, serialize
from .data import DataSource
from .device import autocast, flush_denormals, resolve_device, rng_state, seed_everything, set_rng_state


@estimator
class DeepClusterer(BaseClusterer):
    """Common settings of every neural method (fields after the method's own)."""

    device: str = "auto"
    random_state: int | None = 0
    verbose: int = 1
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    resume: bool = False
    on_divergence: str = "raise"   # "raise" | "rollback" (to the last checkpoint, learning rates halved)
    max_rollbacks: int = 3         # rollbacks allowed per fit before the DivergenceError is raised
    max_bytes: int | None = None   # memory budget of the data (None: engine.data.DEFAULT_MAX_BYTES)
    deterministic: bool = False    # torch.use_deterministic_algorithms during fit, no bf16 autocast
    precision: str = "auto"        # "auto" (bf16 on capable GPUs) | "fp32" | "bf16" | "bf16-native"
    flush_denormals: bool = True   # CPU: subnormal floats flushed to zero during fit (device.flush_denormals)
    history_file: str | None = None  # append each history row (JSON line) to this file while training
    final_clusterer: str = "paper"  # "paper" (the method's own assignment) | "kmeans" | "gmm" | "umap-gmm" |
                                    # "umap-kmeans" | "spectral": a head fitted on the learned embedding (engine/heads.py)
    final_clusterer_params: dict | None = None  # e.g. {"n_neighbors": 20} for the UMAP heads

    uses_images: ClassVar[bool] = False  # conv methods: X must be images (or square)
    embed_batch_size: ClassVar[int] = 1024
    paper_head: ClassVar[str | None] = None  # the head the paper itself uses (None: the method assigns in _fit)

    def fit(self, X, y=None):
        self._check_final_clusterer()  # before any training
        with deterministic_algorithms(self.deterministic), flush_denormals(self.flush_denormals):
            super().fit(X, y)
            self._apply_final_clusterer(X, y)
        return self

    # ---- the final clustering head (engine/heads.py) ------------------------------------------------
    def _head_kind(self) -> str | None:
        """The head to fit after training: None when the method's own assignment is final."""
        return self.paper_head if self.final_clusterer == "paper" else self.final_clusterer

    def _check_final_clusterer(self) -> None:
        from .heads import HEADS, make_head
        if self.final_clusterer != "paper" and self.final_clusterer not in HEADS:
            raise InvalidInputError(f"{type(self).__name__}: final_clusterer must be 'paper' or one of "
                                    f"{', '.join(HEADS)}, got {self.final_clusterer!r}")
        params = self.final_clusterer_params
        if params is not None and not isinstance(params, dict):
            raise InvalidInputError(f"final_clusterer_params must be a dict such as {{'n_neighbors': 20}}, got {params!r}")
        kind = self._head_kind()
        if kind is not None:
            make_head(kind, max(int(self.n_clusters), 1), random_state=self.random_state, **(params or {}))
            if kind.startswith("umap"):
                try:
                    import umap  # noqa: F401
                except ImportError:
                    from ..features import MissingDependencyError
                    raise MissingDependencyError(f"final_clusterer={kind!r} needs umap-learn: "
                                                 "`pip install umap-learn`") from None

    def _apply_final_clusterer(self, X, y=None) -> None:
        """Fit the head on the learned embedding of X: labels_ become the head's; the method's own
        assignment is kept as paper_labels_ (and its centres as paper_cluster_centers_); cluster_centers_
        become the mean embedding of each final cluster."""
        kind = self._head_kind()
        self.head_ = None
        if kind is None:
            return
        from .assignment import cluster_means
        from .heads import fit_head
        t = time.time()
        Z = self.transform(X)
        head = fit_head(Z, self.n_clusters, kind, random_state=self.random_state,
                        **(self.final_clusterer_params or {}))
        if getattr(self, "labels_", None) is not None:
            self.paper_labels_ = self.labels_
        if getattr(self, "cluster_centers_", None) is not None:
            self.paper_cluster_centers_ = self.cluster_centers_
        self.labels_ = head.labels_
        self.cluster_centers_ = cluster_means(Z, head.labels_, int(self.n_clusters)).astype(np.float32)
        self.head_ = head
        seconds = time.time() - t
        row = {"phase": "final_clusterer", "head": kind, **head.describe()}
        if y is not None:
            from ..metrics import acc, nmi
            row.update(acc=acc(y, head.labels_), nmi=nmi(y, head.labels_))
            if getattr(self, "paper_labels_", None) is not None:
                row.update(paper_acc=acc(y, self.paper_labels_), paper_nmi=nmi(y, self.paper_labels_))
        row["time"] = round(getattr(self, "fit_seconds_", 0.0) + seconds, 3)
        self.history_ = [*getattr(self, "history_", []), row]
        self.phase_seconds_ = {**getattr(self, "phase_seconds_", {}), "final_clusterer": seconds}
        self.fit_seconds_ = getattr(self, "fit_seconds_", 0.0) + seconds

    def _head_features(self, X):
        """What the fitted head reads: the learned embedding (N2D's small-data fallback reads raw features)."""
        if getattr(self, "head_input_", "embedding") == "raw":
            X = self._check_new(X)
            return np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        return self.transform(X)

    def predict(self, X):
        """Cluster of each sample of X: the final head's assignment of its embedding when a head was fitted,
        else the method's own rule."""
        if getattr(self, "head_", None) is not None:
            self._check_fitted()
            return np.asarray(self.head_.predict(self._head_features(X)), dtype=np.int64)
        return super().predict(X)

    def validate_params(self) -> None:
        """BaseClusterer.validate_params, plus the run settings (precision, on_divergence, checkpointing)
        and the device (CUDA/MPS present; one of auto, cpu, cuda, cuda:N, mps)."""
        super().validate_params()
        _check_run_params(self)
        resolve_device(self.device)
        self._check_final_clusterer()

    def _make_fit(self, X, y, *, image_shape=None) -> "Fit":
        return Fit(self, X, y, image_shape=image_shape)

    # networks used by predict/transform: subclasses set self.encoder_ (and usually cluster_centers_)
    def _device(self) -> torch.device:
        return resolve_device(self.device)

    def _source(self, X) -> DataSource:
        shape = getattr(self, "sample_shape_", None)
        return DataSource(X, self._device(), shape=shape, max_bytes=self.max_bytes)

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


log = logging.getLogger("deepclust")

# NaN/inf check of logged values at every step: None = on CPU only (free there); on GPU they are checked at
# log points, without a host sync per step. True/False force it (tests set False to exercise the GPU path).
CHECK_EACH_STEP: bool | None = None


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool = True):
    """torch.use_deterministic_algorithms(True) (and cuDNN without autotuning) inside the block; the
    previous global settings are restored afterwards. Ops without a deterministic implementation then
    raise instead of silently varying."""
    if not enabled:
        yield
        return
    prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (CUDA >= 10.2)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[2], prev[3]


class Fit:
    """Everything one `fit` call needs: device, data on the device, the checkpointed training state,
    history, monitoring labels. Created by `DeepClusterer._make_fit`."""

    def __init__(self, est: DeepClusterer, X, y=None, *, image_shape=None):
        self.est = est
        _check_run_params(est)
        self.device = resolve_device(est.device)
        self.seed = est.random_state
        seed_everything(self.seed)
        self.y = y
        self.ckpt = Checkpointer(est.checkpoint_dir) if est.checkpoint_dir else None
        if self.ckpt is not None:
            self.ckpt.check_writable()  # fail now, not after hours of training
        self.data = DataSource(X, self.device, shape=image_shape, max_bytes=getattr(est, "max_bytes", None))
        self.state = SimpleNamespace()
        self.history: list[dict] = []
        self.done: list[str] = []
        self.cursor: tuple[str, int] | None = None
        self.t0 = time.time()
        self.elapsed_before = 0.0   # training seconds of earlier processes (a resumed run), from the checkpoint
        self.partitions: dict = {}  # phase -> the last labels passed to monitor() in it (e.g. the initial partition)
        self._phase_name: str | None = None
        self.phase_seconds: dict[str, float] = {}
        self.resumed = False
        self.rollbacks = 0          # rollbacks so far (carried by checkpoints)
        self.lr_scale = 1.0         # product of the learning-rate halvings applied by rollbacks
        self._snapshot: bytes | None = None  # last checkpoint, in memory (on_divergence="rollback")
        self._history_file = None
        self._check_each_step = self.device.type == "cpu" if CHECK_EACH_STEP is None else bool(CHECK_EACH_STEP)
        if est.resume and self.ckpt is not None and self.ckpt.exists():
            self._restore()
        self._history_file = getattr(est, "history_file", None)
        self._rewrite_history_file()  # start the file over with the rows restored from a checkpoint (if any)

    def _rewrite_history_file(self) -> None:
        if self._history_file:
            import json
            with open(self._history_file, "w") as f:
                f.writelines(json.dumps(r, default=float) + "\n" for r in self.history)

    def elapsed(self) -> float:
        """Training seconds so far, earlier processes of a resumed run included (work redone after a kill
        is counted once: from the last checkpoint)."""
        return self.elapsed_before + time.time() - self.t0

    def _log_row(self, row: dict) -> None:
        self.history.append(row)
        if self._history_file:
            import json
            with open(self._history_file, "a") as f:
                f.write(json.dumps(row, default=float) + "\n")

    # ---- phases -------------------------------------------------------------------------------
    def phase(self, name: str, n_steps: int, step: Callable[[int], dict | None], *, unit: str = "epoch",
              log_every: int = 1, checkpoint_every: int | None = None, desc: str | None = None) -> None:
        """Run step(i) for i = 0..n_steps-1 (resuming mid-phase if a checkpoint says so). step returns a
        dict of scalars to log (tensors are fine; they are synced only at log points); {"stop": True}
        ends the phase early. A NaN/inf value raises DivergenceError (or rolls back, see on_divergence)."""
        if name in self.done:
            return
        start = self.cursor[1] if self.cursor and self.cursor[0] == name else 0
        every = self.est.checkpoint_every if checkpoint_every is None else checkpoint_every
        rollback = getattr(self.est, "on_divergence", "raise") == "rollback"
        if rollback:  # the state just before this phase's first step, for a rollback with no checkpoint
            self.cursor = (name, start)
            self._snapshot = serialize(self._payload())
        t_phase = time.time()
        self._phase_name = name
        # --checkpoint-every counts training iterations (minibatches drawn from fit.data) in every phase:
        # a step of an "epoch" phase counts its batches (at least 1), any other step counts 1
        per_batch = unit == "epoch"
        while True:
            bar = _progress(self.est.verbose, n_steps, start, desc or f"{type(self.est).__name__} {name}", unit)
            acc: dict = {}  # key -> [(step, value)] since the last log point
            since = 0       # iterations since the last checkpoint
            try:
                for i in range(start, n_steps):
                    drawn = self.data.batches_drawn
                    logs = step(i) or {}
                    since += max(1, self.data.batches_drawn - drawn) if per_batch else 1
                    stop = bool(logs.pop("stop", False))
                    if self._check_each_step:
                        self._check_finite(name, unit, i, logs)
                    for k, v in logs.items():
                        acc.setdefault(k, []).append((i, v))
                    last = i + 1 == n_steps or stop
                    if (i + 1) % log_every == 0 or last:
                        row = self._flush(name, unit, i, acc)
                        acc = {}
                        if bar is not None:
                            bar.set_postfix({k: f"{v:.4g}" for k, v in row.items()
                                             if isinstance(v, float) and k not in ("time",)}, refresh=False)
                    if bar is not None:
                        bar.update(1)
                    if (self.ckpt is not None or rollback) and every and since >= every and not last:
                        self.cursor = (name, i + 1)
                        self._save()
                        since = 0
                    if stop:
                        break
                break
            except DivergenceError as e:
                if not self._rollback(name, unit, e):
                    raise
                start = self.cursor[1] if self.cursor and self.cursor[0] == name else 0
            finally:
                if bar is not None:
                    bar.close()
        self.phase_seconds[name] = self.phase_seconds.get(name, 0.0) + time.time() - t_phase
        self.done.append(name)
        self.cursor = None
        if self.ckpt is not None or rollback:
            self._save(phase_end=name)

    def once(self, name: str, fn: Callable[[], dict | None]) -> None:
        """A one-step phase (an initialisation, a clustering pass): skipped when a checkpoint has it."""
        self.phase(name, 1, lambda _i: fn(), unit="step", desc=name)

    def _flush(self, phase, unit, i, acc) -> dict:
        """One history row: the mean of each logged value since the last log point. `acc` maps each key
        to [(step, value)] (or plain values). Any NaN/inf raises DivergenceError naming the first step
        that produced one."""
        row = {"phase": phase, unit: i + 1}
        for k, pairs in acc.items():
            if pairs and isinstance(pairs[0], tuple) and len(pairs[0]) == 2 and isinstance(pairs[0][0], int):
                steps, vals = [p[0] for p in pairs], [p[1] for p in pairs]
            else:
                vals = list(pairs)
                steps = list(range(i + 1 - len(vals), i + 1))
            if isinstance(vals[0], torch.Tensor):
                arr = torch.stack([v.detach().float().reshape(()) for v in vals]).cpu().numpy()
            elif isinstance(vals[0], (int, float, np.floating, np.integer)):
                arr = np.asarray(vals, dtype=np.float64)
            else:
                row[k] = vals[-1]
                continue
            finite = np.isfinite(arr)
            if not finite.all():
                j = int(np.flatnonzero(~finite)[0])
                raise _divergence(self.est, phase, unit, steps[j], k, float(arr[j]))
            row[k] = float(arr.mean())
        row["time"] = round(self.elapsed(), 3)
        self._log_row(row)
        return row

    def _check_finite(self, phase, unit, i, logs) -> None:
        """Per-step check (CPU): raise at the step whose logged value is NaN/inf."""
        for k, v in logs.items():
            if isinstance(v, torch.Tensor):
                if v.numel() == 1 and not math.isfinite(float(v.detach().float().reshape(()))):
                    raise _divergence(self.est, phase, unit, i, k, float(v.detach().float().reshape(())))
            elif isinstance(v, (float, np.floating)) and not math.isfinite(v):
                raise _divergence(self.est, phase, unit, i, k, float(v))

    def check(self, term: str, value, step: int | None = None, phase: str = "?", unit: str = "step") -> None:
        """For methods' inner loops (e.g. the batches of an epoch-unit step): raise DivergenceError now if
        `value` is NaN/inf. On GPU this syncs; call it only where that is cheap enough (or at log points)."""
        v = float(value.detach().float().reshape(())) if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(v):
            raise _divergence(self.est, phase, unit, -1 if step is None else step, term, v)

    # ---- divergence rollback ----------------------------------------------------------------------
    def _rollback(self, name: str, unit: str, err: DivergenceError) -> bool:
        """on_divergence="rollback": restore the last checkpoint (or the phase-start state) with every
        optimiser's learning rate halved. False when rollback is off; raises when rollbacks ran out."""
        if getattr(self.est, "on_divergence", "raise") != "rollback" or self._snapshot is None:
            return False
        limit = int(getattr(self.est, "max_rollbacks", 3))
        if self.rollbacks >= limit:
            raise DivergenceError(f"{err} (still diverging after {self.rollbacks} rollback(s) with the learning "
                                  f"rate halved each time, now x{self.lr_scale:g}; max_rollbacks={limit})") from err
        p = deserialize(self._snapshot, map_location=self.device)
        keep_seconds, done_rollbacks = dict(self.phase_seconds), self.rollbacks
        self._apply_payload(p, in_place=True)
        self._rewrite_history_file()
        self.phase_seconds = keep_seconds
        self.rollbacks = done_rollbacks + 1  # counts every rollback of this fit, whatever the snapshot says
        target = 0.5 ** self.rollbacks
        n_opt = _scale_learning_rates(self.state, target / float(p.get("lr_scale", 1.0)))
        self.lr_scale = target
        at = self.cursor[1] if self.cursor and self.cursor[0] == name else 0
        event = {"phase": name, "event": "rollback", "diverged_at": getattr(err, "step", None),
                 "term": getattr(err, "term", None), "resumed_at": at, "lr_scale": target,
                 "optimizers": n_opt, "time": round(self.elapsed(), 3)}
        self._log_row(event)
        log.warning("%s; rolled back to %s %d of phase %r with learning rates x%g (%d optimiser(s), rollback "
                    "%d of %d)", err, unit, at, name, target, n_opt, self.rollbacks, limit)
        if n_opt == 0:
            log.warning("no optimiser found in fit.state: the rollback retries with unchanged learning rates")
        return True

    # ---- monitoring ---------------------------------------------------------------------------
    def monitor(self, labels) -> dict:
        """ACC/NMI/ARI of `labels` when y was given to fit (for the log only), else {}."""
        if self._phase_name is not None and getattr(labels, "ndim", 0) == 1 and len(labels) == self.data.n:
            # a copy on the labels' device (no host sync); converted to numpy by finish()
            self.partitions[self._phase_name] = (labels.detach().clone() if isinstance(labels, torch.Tensor)
                                                 else np.array(labels, dtype=np.int32))
        if self.y is None:
            return {}
        from ..metrics import acc, ari, nmi
        lab = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        return {"acc": acc(self.y, lab), "nmi": nmi(self.y, lab), "ari": ari(self.y, lab)}

    def autocast(self):
        return autocast(self.device, enabled=not getattr(self.est, "deterministic", False),
                        precision=getattr(self.est, "precision", "auto"))

    # ---- checkpoints ----------------------------------------------------------------------------
    def _payload(self) -> dict:
        return {"format": "deepclust-checkpoint/1", "method": type(self.est).__name__,
                "params": _plain_params(self.est), "n_samples": self.data.n,
                "state": vars(self.state), "done": list(self.done), "cursor": self.cursor,
                "history": self.history, "rng": rng_state(), "phase_seconds": self.phase_seconds,
                "rollbacks": self.rollbacks, "lr_scale": self.lr_scale, "elapsed": self.elapsed(),
                "partitions": self.partitions}

    def _save(self, phase_end: str | None = None) -> None:
        data = serialize(self._payload())
        if getattr(self.est, "on_divergence", "raise") == "rollback":
            self._snapshot = data
        if self.ckpt is not None:
            self.ckpt.save_bytes(data, phase_end=phase_end)

    def _restore(self) -> None:
        p = self.ckpt.load(map_location=self.device)
        if not isinstance(p, dict) or p.get("format") != "deepclust-checkpoint/1":
            from ..errors import CorruptFileError
            raise CorruptFileError(f"{self.ckpt.latest} is not a deepclust checkpoint")
        if p.get("method") != type(self.est).__name__ or p.get("n_samples") != self.data.n:
            raise InvalidInputError(
                f"checkpoint {self.ckpt.latest} is from {p.get('method')} on {p.get('n_samples')} samples, not "
                f"{type(self.est).__name__} on {self.data.n}; use another checkpoint_dir or resume=False")
        mine, theirs = _plain_params(self.est), p["params"]
        diff = sorted(k for k in mine if k not in _RUN_PARAMS and _norm(mine.get(k)) != _norm(theirs.get(k)))
        if diff:
            raise InvalidInputError(f"cannot resume: parameters differ from the checkpoint's: {diff}")
        self._apply_payload(p, in_place=False)
        self.resumed = True

    def _apply_payload(self, p: dict, *, in_place: bool) -> None:
        """Load a checkpoint payload. in_place (rollback): modules and optimisers already in fit.state
        load the saved weights/moments, so closures holding them (or fit.state) see the restored values."""
        if in_place:
            cur = vars(self.state)
            for k in [k for k in cur if k not in p["state"]]:
                del cur[k]
            for k, v in p["state"].items():
                old = cur.get(k)
                if isinstance(old, torch.nn.Module) and type(old) is type(v):
                    old.load_state_dict(v.state_dict())
                    old.train(v.training)
                elif isinstance(old, torch.optim.Optimizer) and type(old) is type(v):
                    old.load_state_dict(v.state_dict())
                else:
                    cur[k] = v
        else:
            self.state = SimpleNamespace(**p["state"])
        self.done, self.cursor, self.history = list(p["done"]), p["cursor"], list(p["history"])
        self.phase_seconds = dict(p.get("phase_seconds", {}))
        self.rollbacks, self.lr_scale = int(p.get("rollbacks", 0)), float(p.get("lr_scale", 1.0))
        self.partitions = dict(p.get("partitions", {}))
        if not in_place:  # a resume: the training time of the processes before this one
            self.elapsed_before, self.t0 = float(p.get("elapsed", 0.0)), time.time()
        set_rng_state(p["rng"])

    # ---- results ------------------------------------------------------------------------------
    def finish(self, labels, **fitted) -> None:
        """Set labels_, history_ and the given fitted attributes on the estimator. Refuses (DivergenceError)
        NaN/inf labels, centres or network weights, so a diverged run never leaves NaN results."""
        est = self.est
        if labels is None:  # the method's paper head (DeepClusterer.paper_head) assigns after training
            if est._head_kind() is None:
                raise ValueError(f"{type(est).__name__}: finish(None) needs a final clusterer")
            lab = np.zeros(0, dtype=np.int64)
        else:
            lab = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        bad = _nonfinite_results(lab, fitted)
        if bad:
            raise DivergenceError(
                f"{type(est).__name__}: the fitted {', '.join(bad)} contain NaN or infinite values; no results "
                "were set or written. Try a lower learning rate, on_divergence='rollback', or check the input scaling")
        est.labels_ = lab.astype(np.int64) if labels is not None else None
        for k, v in fitted.items():
            if isinstance(v, torch.Tensor) and k == "cluster_centers_":
                v = v.detach().float().cpu().numpy()
            setattr(est, k, v)
        est.sample_shape_ = self.data.sample_shape
        est.history_ = self.history
        est.phase_seconds_ = dict(self.phase_seconds)
        est.fit_seconds_ = self.elapsed()
        est.partitions_ = {k: (v.cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)).astype(np.int32)
                           for k, v in self.partitions.items()}
        est.device_ = str(self.device)
        est.rollbacks_ = self.rollbacks


_RUN_PARAMS = {"device", "verbose", "checkpoint_dir", "checkpoint_every", "resume", "on_divergence",
               "max_rollbacks", "max_bytes", "deterministic", "history_file"}


def _divergence(est, phase, unit, i, term, value) -> DivergenceError:
    e = DivergenceError(
        f"{type(est).__name__}: loss term {term!r} became {value} in phase {phase!r} at {unit} {i + 1}; "
        "training stopped and no results were written. Try a lower learning rate, check the input scaling, "
        "set on_divergence='rollback', or resume from the last checkpoint")
    e.phase, e.step, e.term, e.value = phase, i + 1, term, value
    return e


def _nonfinite_results(labels, fitted: dict) -> list[str]:
    bad = []
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        bad.append("labels")
    for k, v in fitted.items():
        if isinstance(v, torch.nn.Module):
            if any(not bool(torch.isfinite(t).all()) for t in v.state_dict().values()
                   if isinstance(t, torch.Tensor) and t.is_floating_point()):
                bad.append(f"{k} (network weights)")
        elif isinstance(v, torch.Tensor):
            if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                bad.append(k)
        elif isinstance(v, np.ndarray) and v.dtype.kind == "f" and not np.isfinite(v).all():
            bad.append(k)
    return bad


def _optimizers(state) -> list:
    """Every torch optimiser (and LR scheduler) in fit.state, at the top level or one level down in a
    dict/list/tuple."""
    found = []
    for v in vars(state).values():
        items = v.values() if isinstance(v, dict) else v if isinstance(v, (list, tuple)) else [v]
        for x in items:
            if isinstance(x, (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)):
                found.append(x)
    return found


def _scale_learning_rates(state, factor: float) -> int:
    n = 0
    for o in _optimizers(state):
        if isinstance(o, torch.optim.Optimizer):
            for g in o.param_groups:
                if isinstance(g.get("lr"), torch.Tensor):
                    g["lr"].mul_(factor)
                else:
                    g["lr"] = g["lr"] * factor
            n += 1
        else:  # schedulers that recompute lr from base_lrs
            o.base_lrs = [b * factor for b in o.base_lrs]
    return n


def _check_run_params(est) -> None:
    from .device import PRECISIONS
    if getattr(est, "precision", "auto") not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {PRECISIONS}, got {est.precision!r}")
    od = getattr(est, "on_divergence", "raise")
    if od not in ("raise", "rollback"):
        raise InvalidInputError(f"on_divergence must be 'raise' or 'rollback', got {od!r}")
    mr = getattr(est, "max_rollbacks", 3)
    if isinstance(mr, bool) or not isinstance(mr, (int, np.integer)) or mr < 0:
        raise InvalidInputError(f"max_rollbacks must be an integer >= 0, got {mr!r}")
    ce = est.checkpoint_every
    if isinstance(ce, bool) or not isinstance(ce, (int, np.integer)) or ce < 0:
        raise InvalidInputError(f"checkpoint_every must be an integer >= 0 (0 = only at phase ends), got {ce!r}")
    mb = getattr(est, "max_bytes", None)
    if mb is not None and (isinstance(mb, bool) or not isinstance(mb, (int, np.integer)) or mb <= 0):
        raise InvalidInputError(f"max_bytes must be a positive number of bytes or None, got {mb!r}")
    if est.resume and not est.checkpoint_dir:
        log.warning("%s: resume=True without checkpoint_dir has nothing to resume from; training from scratch",
                    type(est).__name__)


def _norm(v):
    """Compare parameters as JSON would: tuples and lists alike (a CLI resume reads them back from
    config.json as lists)."""
    if isinstance(v, (tuple, list)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


def _plain_params(est) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool, type(None), tuple, list)) else repr(v))
            for k, v in est.get_params(deep=False).items()}


# seconds between the plain progress lines written when stderr is not a terminal (logs, CI)
PROGRESS_SECONDS = float(os.environ.get("DEEPCLUST_PROGRESS_SECONDS", 30))


def _progress(verbose, total, initial, desc, unit):
    """A tqdm bar on a terminal or in a notebook; elsewhere (a log file, CI) plain lines on stderr every
    PROGRESS_SECONDS and at the end of the phase, so logs are not flooded with carriage returns."""
    if not verbose:
        return None
    import sys
    if _interactive(sys.stderr):
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=verbose > 1, dynamic_ncols=True,
                    mininterval=0.5)
    return _PlainProgress(total, initial, desc, unit)


def _interactive(stream) -> bool:
    import sys
    try:
        return bool(stream.isatty()) or "ipykernel" in sys.modules
    except (AttributeError, ValueError):
        return False


class _PlainProgress:
    """The part of tqdm's interface the phase runner uses, writing one line per PROGRESS_SECONDS."""

    def __init__(self, total, initial, desc, unit):
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.t0 = self.last = time.time()
        self.postfix: dict = {}

    def set_postfix(self, d, refresh=False):
        self.postfix = dict(d)

    def update(self, k=1):
        self.n += k
        if time.time() - self.last >= PROGRESS_SECONDS:
            self._line()

    def _line(self):
        import sys
        self.last = time.time()
        post = " ".join(f"{k}={v}" for k, v in self.postfix.items())
        print(f"{self.desc}: {self.unit} {self.n}/{self.total} {post} [{self.last - self.t0:.0f}s]".rstrip(),
              file=sys.stderr, flush=True)

    def close(self):
        self._line()
