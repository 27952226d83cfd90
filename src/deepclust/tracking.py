"""Optional experiment tracking: MLflow or TensorBoard when installed, a no-op otherwise.

    from deepclust.tracking import tracker
    with tracker("mlflow", run_name="dec-usps-s0", config={...}) as t:   # or "tensorboard", "auto", None
        t.log_history(est.history_)          # one point per logged epoch/iteration, per phase
        t.log_metrics({"acc": 0.8})
        t.log_artifacts("runs/<name>/plots")

`track_run(run_dir, kind)` sends a finished run folder (config, history, metrics, plots) to a tracker.
Nothing here is required: with neither package installed every call does nothing (and says so once).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("deepclust")
_UNITS = ("epoch", "it", "step", "iteration")


class NullTracker:
    kind = "none"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def log_params(self, params: dict) -> None: ...
    def log_metrics(self, metrics: dict, step: int | None = None, prefix: str = "") -> None: ...
    def log_artifacts(self, path) -> None: ...
    def close(self) -> None: ...

    def log_history(self, history) -> None:
        """history_ rows {"phase", "epoch"|"it", scalars...}: one series per phase/key; the step is a
        running count over the whole fit, so phases follow each other."""
        step = 0
        for row in history or []:
            step += 1
            ph = row.get("phase", "train")
            vals = {k: v for k, v in row.items()
                    if k not in ("phase", "time", *_UNITS) and isinstance(v, (int, float)) and not isinstance(v, bool)}
            if vals:
                self.log_metrics(vals, step=step, prefix=f"{ph}/")


def _flat_params(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flat_params(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v if isinstance(v, (int, float, str, bool)) else json.dumps(v, default=str)
    return out


class MLflowTracker(NullTracker):
    kind = "mlflow"

    def __init__(self, run_name=None, config=None, experiment="deepclust", tracking_uri=None):
        import mlflow
        self.mlflow = mlflow
        if tracking_uri:
            mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment)
        self.run = mlflow.start_run(run_name=run_name)
        if config:
            self.log_params(config)

    def log_params(self, params):
        flat = _flat_params(params)
        for i in range(0, len(flat), 100):
            self.mlflow.log_params(dict(list(flat.items())[i:i + 100]))

    def log_metrics(self, metrics, step=None, prefix=""):
        self.mlflow.log_metrics({f"{prefix}{k}".replace("/", "_"): float(v) for k, v in metrics.items()}, step=step)

    def log_artifacts(self, path):
        p = Path(path)
        if p.is_dir():
            self.mlflow.log_artifacts(str(p))
        elif p.is_file():
            self.mlflow.log_artifact(str(p))

    def close(self):
        if self.run is not None:
            self.mlflow.end_run()
            self.run = None


class TensorBoardTracker(NullTracker):
    kind = "tensorboard"

    def __init__(self, run_name=None, config=None, log_dir="runs/tensorboard"):
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
        self.w = SummaryWriter(log_dir=str(Path(log_dir) / (run_name or "run")))
        if config:
            self.log_params(config)

    def log_params(self, params):
        self.w.add_text("config", "```\n" + json.dumps(params, indent=1, default=str) + "\n```")

    def log_metrics(self, metrics, step=None, prefix=""):
        for k, v in metrics.items():
            self.w.add_scalar(f"{prefix}{k}", float(v), global_step=step)

    def log_artifacts(self, path):
        p = Path(path)
        files = sorted(p.glob("*.png")) if p.is_dir() else ([p] if p.suffix == ".png" else [])
        if files:
            import numpy as np
            from matplotlib.image import imread
            for f in files:
                img = imread(f)
                self.w.add_image(f.stem, np.asarray(img[..., :3]), dataformats="HWC")

    def close(self):
        if self.w is not None:
            self.w.close()
            self.w = None


_warned = False
_PACKAGES = {"mlflow": ("mlflow", "mlflow"), "tensorboard": ("torch.utils.tensorboard", "tensorboard")}


def available(kind: str) -> bool:
    """Whether the package of tracker `kind` ("mlflow" or "tensorboard") can be imported."""
    import importlib
    try:
        importlib.import_module(_PACKAGES[kind][0])
        return True
    except ImportError:
        return False


def require(kind: str) -> str:
    """The tracker kind that `tracker(kind)` will use; DeepclustError (before any training) when its package
    is missing ("auto": when neither is installed)."""
    from .errors import DeepclustError
    kinds = ["mlflow", "tensorboard"] if kind == "auto" else [kind]
    for k in kinds:
        if k not in _PACKAGES:
            raise DeepclustError(f"unknown tracker {kind!r}: use mlflow, tensorboard or auto")
        if available(k):
            return k
    pkgs = " or ".join(_PACKAGES[k][1] for k in kinds)
    raise DeepclustError(f"--track {kind}: {pkgs} is not installed; pip install 'deepclust[track]' (or pip install "
                         f"{_PACKAGES[kinds[0]][1]}), or drop --track")


def tracker(kind: str | None = "auto", run_name: str | None = None, config: dict | None = None, **kw) -> NullTracker:
    """A tracker of `kind` ("mlflow", "tensorboard", "auto" = the first installed, None/"none" = off);
    a NullTracker when the package is missing."""
    global _warned
    if kind in (None, "none", "off", ""):
        return NullTracker()
    order = ["mlflow", "tensorboard"] if kind == "auto" else [kind]
    for k in order:
        try:
            if k == "mlflow":
                return MLflowTracker(run_name, config, **kw)
            if k == "tensorboard":
                return TensorBoardTracker(run_name, config, **kw)
        except ImportError:
            continue
        raise ValueError(f"unknown tracker {kind!r}: use mlflow, tensorboard, auto or none")
    if not _warned:
        log.warning("experiment tracking %r requested but %s not installed; nothing is tracked", kind,
                    " / ".join(order))
        _warned = True
    return NullTracker()


def track_run(run_dir, kind: str = "auto", **kw) -> str:
    """Send a run folder to a tracker; returns the tracker kind used ("none" when none is installed)."""
    run = Path(run_dir)
    cfg = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
    with tracker(kind, run_name=run.name, config=cfg, **kw) as t:
        hist = []
        if (run / "history.jsonl").is_file():
            hist = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines() if x.strip()]
        t.log_history(hist)
        if (run / "metrics.json").is_file():
            m = json.loads((run / "metrics.json").read_text())
            t.log_metrics({k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if (run / "plots").is_dir():
            t.log_artifacts(run / "plots")
        return t.kind
