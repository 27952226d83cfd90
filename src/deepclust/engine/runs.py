"""Run folders: runs/<time>-<method>-<dataset>/ with config.json, history.jsonl, metrics.json,
labels.npy, embedding.npy, model.pt, checkpoints/, plots/, log.txt.

A run is written under `<name>.incomplete/` and renamed to `<name>/` only when complete, so an
interrupted or failed run never looks complete and never overwrites an earlier one. An incomplete
folder keeps its checkpoints: `deepclust fit --resume runs/<name>.incomplete` continues it.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import sys
import traceback
from pathlib import Path

from ..errors import InvalidInputError
from .io import atomic_path, ensure_writable_dir, remove_stale_temps, write_json, write_npy

INCOMPLETE = ".incomplete"
log = logging.getLogger("deepclust")


class RunFolder:
    def __init__(self, out, method: str, dataset: str, resume: str | os.PathLike | None = None):
        if resume is not None:
            path = Path(resume)
            if not path.name.endswith(INCOMPLETE):
                if path.with_name(path.name + INCOMPLETE).is_dir():
                    path = path.with_name(path.name + INCOMPLETE)
                elif (path / "metrics.json").is_file():
                    raise InvalidInputError(f"{path} is a completed run; nothing to resume. Start a new run instead")
            if not path.is_dir():
                raise InvalidInputError(f"cannot resume: run folder {path} does not exist")
            self.path = path
            self.name = path.name[: -len(INCOMPLETE)] if path.name.endswith(INCOMPLETE) else path.name
            self.out = path.parent
            if not (path / "config.json").is_file():
                raise InvalidInputError(f"cannot resume: {path} has no config.json (the run was interrupted before "
                                        "it started training); start a new run instead")
            ensure_writable_dir(path, what="run folder", hint="copy the run folder somewhere writable")
            remove_stale_temps(path)  # files whose write was killed
        else:
            self.out = ensure_writable_dir(out)
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = f"{stamp}-{method}-{dataset}".replace("/", "_")
            name, i = base, 1
            while (self.out / name).exists() or (self.out / (name + INCOMPLETE)).exists():
                i += 1
                name = f"{base}-{i}"
            self.name = name
            self.path = self.out / (name + INCOMPLETE)
            self.path.mkdir(parents=True)
        (self.path / "checkpoints").mkdir(exist_ok=True)
        (self.path / "plots").mkdir(exist_ok=True)
        self._handler = logging.FileHandler(self.path / "log.txt")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(self._handler)
        log.setLevel(logging.INFO)

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

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

    def write_results(self, est, metrics: dict | None, *, embedding=None, save_model: bool = True) -> None:
        """Write history, labels, embedding, model and metrics (each atomically). NaN/inf labels or
        embedding raise DivergenceError before anything is written."""
        import numpy as np
        from ..errors import DivergenceError
        labels = np.asarray(est.labels_)
        if labels.dtype.kind == "f" and not np.isfinite(labels).all():
            raise DivergenceError("the labels contain NaN; no results were written")
        if embedding is not None and np.asarray(embedding).dtype.kind == "f" and not np.isfinite(embedding).all():
            raise DivergenceError("the embedding contains NaN or infinite values (the network diverged); no results "
                                  "were written. Try a lower learning rate or on_divergence='rollback'")
        hist = getattr(est, "history_", [])
        with atomic_path(self.path / "history.jsonl", "w") as f:
            for row in hist:
                f.write(json.dumps(row, default=float) + "\n")
        write_npy(self.path / "labels.npy", est.labels_)
        if embedding is not None:
            write_npy(self.path / "embedding.npy", embedding)
        if save_model:
            try:
                est.save(self.path / "model.pt")
            except Exception as e:  # a model that cannot be pickled must not lose the results
                log.warning("model not saved: %s", e)
        write_json(self.path / "metrics.json", metrics or {})

    def complete(self) -> Path:
        """Rename <name>.incomplete -> <name>; returns the final path."""
        self.close()
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
