"""Run folders: runs/<time>-<method>-<dataset>/ with
  config.json       every parameter, seed, preset, dataset and its options, versions, git commit, the command
  history.jsonl     one JSON line per logged epoch/iteration, appended while training (watch it with tail -f)
  metrics.json      fit seconds (resumes included), seconds after training, cluster sizes, ACC/NMI/ARI when
                    labels are known
  labels.npy        the cluster of each sample
  assignments.csv   one row per sample: its index, its source (file of an image folder, else the row number),
                    its cluster, the soft-assignment confidence (methods with predict_proba) and the distance
                    to its cluster centre (methods with centres)
  embedding.npy     the learned embedding (neural methods)
  partitions.npz    the partitions recorded during training, per phase (e.g. DEC's k-means init)
  y_true.npy        the true labels, when the data has them (scoring and plots only)
  model.pt          the fitted estimator (`BaseClusterer.load`)
  checkpoints/      training checkpoints; deleted once the run is complete unless kept (--keep-checkpoints)
  plots/, report.md the report (bench/report.py)
  log.txt, error.txt

A run is written under `<name>.incomplete/` and renamed to `<name>/` only when complete, so an
interrupted or failed run never looks complete and never overwrites an earlier one. An incomplete
folder keeps its checkpoints: `deepclust fit --resume runs/<name>.incomplete` continues it.
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import os
import platform
import shutil
import sys
import traceback
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from .io import atomic_path, ensure_writable_dir, remove_stale_temps, write_json, write_npy

INCOMPLETE = ".incomplete"
log = logging.getLogger("deepclust")


def resume_path(resume) -> Path:
    """The <name>.incomplete folder to resume from `resume` (the folder, or its name without the suffix);
    InvalidInputError when there is nothing to resume."""
    path = Path(resume)
    if not path.name.endswith(INCOMPLETE):
        if path.with_name(path.name + INCOMPLETE).is_dir():
            path = path.with_name(path.name + INCOMPLETE)
        elif (path / "metrics.json").is_file():
            raise InvalidInputError(f"{path} is a completed run; nothing to resume. Start a new run instead")
    if not path.is_dir():
        raise InvalidInputError(f"cannot resume: run folder {path} does not exist")
    if not (path / "config.json").is_file():
        raise InvalidInputError(f"cannot resume: {path} has no config.json (the run was interrupted before "
                                "it started training); start a new run instead")
    return path


class RunFolder:
    def __init__(self, out, method: str, dataset: str, resume: str | os.PathLike | None = None):
        if resume is not None:
            path = resume_path(resume)
            self.path = path
            self.name = path.name[: -len(INCOMPLETE)] if path.name.endswith(INCOMPLETE) else path.name
            self.out = path.parent
            ensure_writable_dir(path, what="run folder", hint="copy the run folder somewhere writable")
            remove_stale_temps(path)  # files whose write was killed
        else:
            self.out = ensure_writable_dir(out)
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in f"{stamp}-{method}-{dataset}")
            name, i = base, 1
            while (self.out / name).exists() or (self.out / (name + INCOMPLETE)).exists():
                i += 1
                name = f"{base}-{i}"
            self.name = name
            self.path = self.out / (name + INCOMPLETE)
            self.path.mkdir(parents=True)
        (self.path / "plots").mkdir(exist_ok=True)
        self._handler = logging.FileHandler(self.path / "log.txt")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(self._handler)
        log.setLevel(logging.INFO)

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def has_checkpoint(self) -> bool:
        return (self.checkpoints / "latest.pt").is_file()

    def config(self) -> dict | None:
        p = self.path / "config.json"
        if not p.is_file():
            return None
        try:
            cfg = json.loads(p.read_text())
        except (ValueError, UnicodeDecodeError) as e:
            from ..errors import CorruptFileError
            raise CorruptFileError(f"{p} is not valid JSON ({e}); the run's configuration is lost, start a new run") from None
        return cfg

    def write_config(self, cfg: dict) -> None:
        write_json(self.path / "config.json", {**cfg, "environment": environment()})

    # ---- results ----------------------------------------------------------------------------------
    @staticmethod
    def check_finite(est, embedding=None) -> None:
        """DivergenceError for NaN/inf labels or embedding, before anything is written."""
        from ..errors import DivergenceError
        labels = np.asarray(est.labels_)
        if labels.dtype.kind == "f" and not np.isfinite(labels).all():
            raise DivergenceError("the labels contain NaN; no results were written")
        if embedding is not None and np.asarray(embedding).dtype.kind == "f" and not np.isfinite(embedding).all():
            raise DivergenceError("the embedding contains NaN or infinite values (the network diverged); no results "
                                  "were written. Try a lower learning rate or on_divergence='rollback'")

    def write_history(self, est) -> None:
        with atomic_path(self.path / "history.jsonl", "w") as f:
            for row in getattr(est, "history_", None) or []:
                f.write(json.dumps(row, default=float) + "\n")

    def write_model(self, est) -> bool:
        try:
            est.save(self.path / "model.pt")
            return True
        except Exception as e:  # a model that cannot be pickled must not lose the results
            log.warning("model not saved: %s", e)
            return False

    def write_assignments(self, labels, sources=None, confidence=None, distance=None) -> Path:
        """assignments.csv: sample, source, cluster, confidence, distance (empty cells where unknown)."""
        labels = np.asarray(labels)
        n = len(labels)
        cols = [np.arange(n), sources if sources is not None else np.arange(n), labels,
                _fmt(confidence, n), _fmt(distance, n)]
        path = self.path / "assignments.csv"
        with atomic_path(path, "w") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["sample", "source", "cluster", "confidence", "distance"])
            w.writerows(zip(*cols))
        return path

    def write_results(self, est, metrics: dict | None, *, embedding=None, save_model: bool = True) -> None:
        """Write history, labels, embedding, model and metrics (each atomically). NaN/inf labels or
        embedding raise DivergenceError before anything is written."""
        self.check_finite(est, embedding)
        self.write_history(est)
        write_npy(self.path / "labels.npy", est.labels_)
        if embedding is not None:
            write_npy(self.path / "embedding.npy", embedding)
        if save_model:
            self.write_model(est)
        write_json(self.path / "metrics.json", metrics or {})

    def remove_checkpoints(self) -> int:
        """Delete checkpoints/ (a complete run does not need them); returns the bytes freed."""
        if not self.checkpoints.exists():
            return 0
        freed = sum(p.stat().st_size for p in self.checkpoints.rglob("*") if p.is_file())
        shutil.rmtree(self.checkpoints, ignore_errors=True)
        return freed

    def complete(self) -> Path:
        """Rename <name>.incomplete -> <name>; returns the final path."""
        self.close()
        if self.checkpoints.is_dir() and not any(self.checkpoints.iterdir()):
            self.checkpoints.rmdir()
        final = self.out / self.name
        if final.exists():  # never overwrite
            final = self.out / f"{self.name}-{os.getpid()}"
        os.replace(self.path, final)
        self.path = final
        return final

    def fail(self, exc: BaseException) -> None:
        with atomic_path(self.path / "error.txt", "w") as f:
            f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        log.error("run failed: %s", exc)
        self.close()

    def close(self) -> None:
        if self._handler is not None:
            log.removeHandler(self._handler)
            self._handler.close()
            self._handler = None


def _fmt(values, n):
    if values is None:
        return [""] * n
    return [f"{v:.6g}" for v in np.asarray(values, dtype=np.float64)]


def environment() -> dict:
    import numpy
    import sklearn
    import torch
    from ..bench.results import git_commit
    from .. import __version__
    return {"deepclust": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": numpy.__version__, "sklearn": sklearn.__version__, "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "cuda": torch.cuda.is_available(), "git_commit": git_commit(),
            "command": " ".join(sys.argv)}
