"""Committed benchmark result files (format in DESIGN.md) and the loop that produces them."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..engine.io import write_json

RESULTS_DIR = Path("benchmarks/results")


def machine_description(device: str = "cpu") -> str:
    """e.g. 'cpu (2 cores, x86_64, torch 2.13.0+cpu)' or 'cuda (NVIDIA H100 ...)'."""
    import torch
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}, torch {torch.__version__})"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads)"


def git_commit() -> str:
    """Short sha of the deepclust checkout (whatever the current directory), '-dirty' with local changes."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=here)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10, cwd=here).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def run_once(method: str, dataset: str, seed: int, preset: str = "paper", *, dataset_kwargs: dict | None = None,
             overrides: dict | None = None, device: str = "auto", verbose: int = 0) -> dict:
    """Fit `method` (registry name) on `dataset` with one seed; return metrics, wall time, the estimator."""
    from ..datasets import load_dataset
    from ..methods import get
    from ..metrics import evaluate
    ds = load_dataset(dataset, **(dataset_kwargs or {}))
    cls = get(method)
    kw = dict(overrides or {})
    fields = cls.__dataclass_fields__
    for k, v in (("random_state", seed), ("device", device), ("verbose", verbose)):
        if k in fields:
            kw.setdefault(k, v)
    if "n_clusters" in fields and ds.n_classes:
        kw.setdefault("n_clusters", ds.n_classes)
    est = cls.from_preset(preset, **kw) if preset in cls.presets else cls(**kw)
    t, c = time.time(), time.process_time()
    est.fit(ds.X, ds.y)
    seconds, cpu = time.time() - t, time.process_time() - c
    out = {"seed": seed, "seconds": seconds, "cpu_seconds": cpu, **evaluate(ds.y, est.labels_), "estimator": est}
    return out


def benchmark(method: str, dataset: str, preset: str, seeds, *, paper: dict | None = None,
              dataset_kwargs: dict | None = None, overrides: dict | None = None, device: str = "auto",
              budget: str | None = None, out: Path | None = None, tag: str | None = None, verbose: int = 0,
              extra: dict | None = None, merge: bool = False, on_run=None) -> dict:
    """Run seeds, write benchmarks/results/<method>/<dataset>-<preset>[-tag].json, return the record.

    `budget` describes the epochs/iterations actually run (e.g. "pretrain 200 ep + 20000 it max");
    `paper` = {"acc": .., "nmi": .., "source": "001 Table III"} as fractions in [0, 1].
    merge=True adds these seeds to the existing file of the same configuration (`merge_records`); the
    per-seed records then go to <out>/_partial/, so the existing file is replaced once, by the merged one.
    on_run(seed, estimator, run) is called after each seed (e.g. to save the estimator's history)."""
    from ..engine.device import resolve_device
    path = result_path({"method": method, "dataset": dataset, "preset": preset}, out=out, tag=tag)
    previous = json.loads(path.read_text()) if merge and path.is_file() else None
    partial_out = Path(out or RESULTS_DIR) / "_partial" if previous is not None else out
    runs, seeds = [], list(seeds)
    for seed in seeds:
        r = run_once(method, dataset, seed, preset, dataset_kwargs=dataset_kwargs, overrides=overrides,
                     device=device, verbose=verbose)
        est = r.pop("estimator")
        if on_run is not None:
            on_run(seed, est, r)
        r["iterations"] = _iterations(est)
        r["stages"] = {k: round(v, 1) for k, v in getattr(est, "phase_seconds_", {}).items()}
        runs.append(r)
        print(f"{method} {dataset} {preset} seed={seed}: acc={r['acc']:.4f} nmi={r['nmi']:.4f} "
              f"ari={r['ari']:.4f} ({r['seconds']:.1f}s)", flush=True)
        rec = summarise(method, dataset, preset, runs, paper=paper, dataset_kwargs=dataset_kwargs,
                        overrides=overrides, device=machine_description(str(resolve_device(device))),
                        budget=budget, extra=extra)
        rec["stage_seconds"] = [r["stages"] for r in runs]  # wall time of each phase, per seed
        if len(runs) < len(seeds):  # written after every seed: a crash later keeps what was measured
            rec["incomplete"] = f"{len(runs)} of {len(seeds)} seeds {seeds} done"
        write_result(rec, out=partial_out, tag=tag)
    if previous is not None:
        rec = merge_records(previous, rec)
        write_result(rec, out=out, tag=tag)
    return rec


def merge_records(old: dict, new: dict) -> dict:
    """One record from two runs of the same configuration (preset, overrides, dataset options; the new
    run's seeds replace the old's): per-seed commands and stage times are kept, statistics recomputed
    by `summarise`, other fields (variant, settings, notes) taken from the new record."""
    for key in ("method", "dataset", "preset", "overrides", "dataset_kwargs"):
        if old.get(key) != new.get(key):
            raise ValueError(f"cannot merge results: the existing file has {key}={old.get(key)!r}, this run "
                             f"{new.get(key)!r}; run without merging or give the run its own tag")
    rows = {}
    for rec in (old, new):
        its = rec["epochs_or_iterations"]
        n = len(rec["seeds"])
        cmds = rec["command"] if isinstance(rec["command"], list) else [rec["command"]] * n
        stages = rec.get("stage_seconds") or [None] * n
        for i, seed in enumerate(rec["seeds"]):
            cpu = rec.get("cpu_seconds")
            rows[seed] = {"seed": seed, "seconds": rec["wall_seconds"][i],
                          "cpu_seconds": cpu[i] if isinstance(cpu, list) and i < len(cpu) else None,
                          "iterations": its[i] if isinstance(its, list) else its,
                          **{m: rec[m][i] for m in METRICS}, "command": cmds[i], "stages": stages[i]}
    runs = [rows[s] for s in sorted(rows)]
    out = summarise(new["method"], new["dataset"], new["preset"], runs, paper=new.get("paper"),
                    dataset_kwargs=new.get("dataset_kwargs"), overrides=new.get("overrides"),
                    device=new.get("device"))
    if not isinstance(new["epochs_or_iterations"], list):  # one budget string for every seed
        out["epochs_or_iterations"] = new["epochs_or_iterations"]
    out["command"] = [r["command"] for r in runs]
    out["stage_seconds"] = [r["stages"] for r in runs]
    for k, v in new.items():
        if k not in out and k != "incomplete":
            out[k] = v
    return out


METRICS = ("acc", "nmi", "ari")


def summarise(method: str, dataset: str, preset: str, runs: list[dict], *, paper: dict | None = None,
              dataset_kwargs: dict | None = None, overrides: dict | None = None, device: str | None = None,
              budget=None, command: str | None = None, extra: dict | None = None) -> dict:
    """The committed result record (DESIGN.md format) from per-seed runs [{"seed", "acc", "nmi", "ari",
    "seconds", "iterations"}]. Besides mean/std it holds median/min/max (papers that report those are
    compared on the same statistic). The gap is ours - paper's, on the statistic named by
    paper["statistic"] (default: mean; "reported" is compared with our mean)."""
    vals = {m: [float(r[m]) for r in runs] for m in METRICS}
    rec = {"method": method, "dataset": dataset, "preset": preset, "device": device or machine_description(),
           "seeds": [r["seed"] for r in runs],
           **{m: [round(v, 4) for v in vals[m]] for m in METRICS},
           "mean": {m: round(float(np.mean(vals[m])), 4) for m in METRICS},
           "std": {m: round(float(np.std(vals[m])), 4) for m in METRICS},
           "median": {m: round(float(np.median(vals[m])), 4) for m in METRICS},
           "min": {m: round(float(np.min(vals[m])), 4) for m in METRICS},
           "max": {m: round(float(np.max(vals[m])), 4) for m in METRICS},
           "epochs_or_iterations": budget or [r.get("iterations") for r in runs],
           "wall_seconds": [round(float(r["seconds"]), 1) for r in runs],
           **({"cpu_seconds": [None if r.get("cpu_seconds") is None else round(float(r["cpu_seconds"]), 1)
                               for r in runs]} if any(r.get("cpu_seconds") is not None for r in runs) else {}),
           "overrides": overrides or {}, "dataset_kwargs": dataset_kwargs or {},
           "paper": paper, "command": command or command_line(), "commit": git_commit(),
           "date": _dt.date.today().isoformat(), **(extra or {})}
    if paper:
        stat = {"reported": "mean", "best": "max"}.get(paper.get("statistic", "mean"), paper.get("statistic", "mean"))
        stat = stat if stat in ("mean", "median", "min", "max") else "mean"
        rec["gap"] = {m: round(rec[stat][m] - paper[m], 4) for m in METRICS
                      if isinstance(paper.get(m), (int, float))}
    return rec


def result_path(rec: dict, out: Path | None = None, tag: str | None = None) -> Path:
    name = f"{rec['dataset']}-{rec['preset']}" + (f"-{tag}" if tag else "") + ".json"
    return Path(out or RESULTS_DIR) / rec["method"] / name.replace("/", "_")


def write_result(rec: dict, out: Path | None = None, tag: str | None = None) -> Path:
    """Write benchmarks/results/<method>/<dataset>-<preset>[-tag].json (atomically); returns the path."""
    path = result_path(rec, out, tag)
    write_json(path, rec)
    print(f"wrote {path}")
    return path


def _iterations(est) -> dict:
    """Steps actually run per phase, read from the estimator's history."""
    hist = getattr(est, "history_", None) or []
    last: dict = {}
    for row in hist:
        unit = next((k for k in ("epoch", "it", "step", "iteration") if k in row), None)
        if unit:
            last[row["phase"]] = f"{row[unit]} {unit}"
    if not last:  # classical baselines (scikit-learn models) have no history: report their iterations
        model = getattr(est, "model_", None)
        n_iter = getattr(model, "n_iter_", None)
        if n_iter is not None:
            n_init = getattr(model, "n_init", 1)
            last["fit"] = f"{int(n_iter)} it" + (f" (best of {n_init} inits)" if n_init and n_init > 1 else "")
    return last
