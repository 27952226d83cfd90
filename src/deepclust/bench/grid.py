"""Grids of runs (methods x datasets x seeds x parameter values), run locally or on Ray, resumable.

Every run is one task, described by a JSON-able dict (method, dataset, seed, preset, params,
dataset_kwargs), and leaves one file, `<grid>/runs/<key>.json`, written atomically when it ends:
status "ok" with its metrics, wall time and the epochs/iterations actually run, or status "failed"
with the error and traceback. Restarting a grid skips every run whose file says "ok" (and, unless
`retry_failed`, every recorded failure), so finished runs are never redone nor lost.

Backends (results are the same on all: runs are seeded and single-threaded):
  local   one subprocess per run, `jobs` at a time (default: one per core); a crash (segfault, OOM
          kill) is recorded as that run's failure and the grid goes on.
  ray     every run is a Ray task (num_cpus=1); `address` joins a running cluster ("auto", or
          "ray://host:10001"), else a local Ray instance with `jobs` CPUs is started. The driver
          writes the run files, so the workers need not share its disk (except `save_runs` run
          folders, which each worker writes on its own disk). Needs `pip install ray`.
  inline  in this process, one run after the other (debugging, tests).
"""
from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import hashlib
import itertools
import json
import os
import platform
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from ..engine.io import write_json, write_text
from ..errors import DeepclustError, InvalidInputError

METRICS = ("acc", "nmi", "ari")
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}


# ---- tasks ------------------------------------------------------------------------------------------
def task_key(task: dict) -> str:
    """Stable file name of a run: readable prefix + hash of everything that defines it."""
    ident = {k: task.get(k) for k in ("method", "dataset", "seed", "preset", "params", "dataset_kwargs")}
    h = hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:10]
    extra = "".join(f"-{k}={v}" for k, v in sorted((task.get("params") or {}).items()))
    extra += "".join(f"-data.{k}={v}" for k, v in sorted((task.get("dataset_kwargs") or {}).items()))
    base = f"{task['method']}-{task['dataset']}-{task.get('preset', 'paper')}-s{task['seed']}{extra}"
    safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in base)[:120]
    return f"{safe}-{h}"


def make_task(method, dataset, seed, preset="paper", params=None, dataset_kwargs=None, device="cpu",
              tag=None) -> dict:
    t = {"method": method, "dataset": dataset, "seed": int(seed), "preset": preset, "params": dict(params or {}),
         "dataset_kwargs": dict(dataset_kwargs or {}), "device": device}
    if tag:
        t["tag"] = tag
    t["key"] = task_key(t)
    return t


def expand(methods, datasets, seeds, *, grid: dict | None = None, preset: str = "paper",
           dataset_kwargs: dict | None = None, params: dict | None = None, device: str = "cpu") -> list[dict]:
    """The cartesian product methods x datasets x parameter values x seeds. `grid` keys name estimator
    parameters, or dataset options when prefixed with 'data.' (e.g. {'data.resize': [14, 28]})."""
    grid = grid or {}
    keys = list(grid)
    tasks = []
    for method, dataset in itertools.product(methods, datasets):
        for values in itertools.product(*(grid[k] for k in keys)):
            p, d = dict(params or {}), dict(dataset_kwargs or {})
            for k, v in zip(keys, values):
                if k.startswith("data."):
                    d[k[5:]] = v
                else:
                    p[k] = v
            for seed in seeds:
                tasks.append(make_task(method, dataset, seed, preset, p, d, device))
    return tasks


# ---- one run ----------------------------------------------------------------------------------------
def _single_thread():
    for k, v in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(k, v)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass


def execute(task: dict, run_dir: str | None = None) -> dict:
    """Run one task in this process and return its record (never raises for a failing run).
    With `run_dir`, also write a run folder (config, history, labels, embedding, report) there."""
    _single_thread()
    from .results import _iterations, machine_description
    rec = {**task, "started": _now(), "host": socket.gethostname(), "pid": os.getpid()}
    t0 = time.time()
    try:
        from ..methods import get
        from ..metrics import evaluate
        from .protocols import load_data
        cls = get(task["method"])
        dkw = dict(task.get("dataset_kwargs") or {})
        # the preprocessing the method's paper used on this dataset (as `deepclust fit`); the task's own options win
        paper_data = {k: v for k, v in cls.paper_data.get(task["dataset"], {}).items() if k not in dkw}
        ds = load_data(task["dataset"], **{**paper_data, **dkw})
        if paper_data:
            rec["paper_data"] = paper_data
        kw = dict(task.get("params") or {})
        import dataclasses
        fields = {f.name for f in dataclasses.fields(cls)}  # not the ClassVars
        unknown = sorted(set(kw) - set(fields))
        if unknown:
            raise InvalidInputError(f"unknown parameter(s) for {task['method']}: {unknown}")
        for k, v in (("random_state", task["seed"]), ("device", task.get("device", "cpu")), ("verbose", 0)):
            if k in fields:
                kw.setdefault(k, v)
        if "n_clusters" in fields and ds.n_classes:
            kw.setdefault("n_clusters", ds.n_classes)
        preset = task.get("preset", "paper")
        if preset in cls.presets:
            est, preset_used = cls.from_preset(preset, **kw), preset
        else:  # classical baselines have only "paper": their defaults are the paper's settings
            est, preset_used = cls(**kw), f"paper (no {preset!r} preset)"
        t = time.time()
        est.fit(ds.X, ds.y)
        seconds = time.time() - t
        metrics = evaluate(ds.y, est.labels_) if ds.y is not None else {}
        dev = getattr(est, "device_", "cpu")
        rec.update(status="ok", seconds=round(seconds, 3), n_samples=int(len(ds.X)), preset_used=preset_used,
                   iterations=_iterations(est), device_used=str(dev), machine=machine_description(str(dev)),
                   **{k: float(v) for k, v in metrics.items()})
        if run_dir:
            _write_run_folder(run_dir, task, est, ds, metrics)
    except BaseException as e:  # a failing run is a result, not the end of the grid
        if isinstance(e, KeyboardInterrupt):
            raise
        rec.update(status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=20))
    rec["finished"] = _now()
    rec["wall_seconds"] = round(time.time() - t0, 3)
    return rec


def _write_run_folder(run_dir, task, est, ds, metrics):
    from ..engine.io import write_npy
    from ..engine.runs import RunFolder
    run = RunFolder(run_dir, task["method"], task["dataset"])
    run.write_config({"method": task["method"], "dataset": task["dataset"], "preset": task.get("preset"),
                      "seed": task["seed"], "overrides": task.get("params", {}),
                      "dataset_kwargs": task.get("dataset_kwargs", {}), "grid_key": task["key"]})
    try:
        emb = est.transform(ds.X)
    except Exception:
        emb = None
    run.write_results(est, {**metrics, "seconds": getattr(est, "fit_seconds_", None)}, embedding=emb,
                      save_model=False)
    if ds.y is not None:
        write_npy(run.path / "y_true.npy", ds.y)
    path = run.complete()
    try:
        from .report import run_report
        run_report(path)
    except Exception:
        pass
    return path


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _failure(task, error: str, tb: str = "") -> dict:
    return {**task, "status": "failed", "error": error, "traceback": tb, "finished": _now()}


# ---- the grid ---------------------------------------------------------------------------------------
class Grid:
    """A folder of run records. `run(tasks)` runs what is missing; `summary()` aggregates."""

    def __init__(self, out, name: str | None = None):
        self.dir = Path(out)
        self.runs_dir = self.dir / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.name = name or self.dir.name

    def path(self, task) -> Path:
        return self.runs_dir / f"{task['key']}.json"

    def record(self, task) -> dict | None:
        p = self.path(task)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # a torn file cannot exist (atomic writes), but never trust a bad one

    def records(self) -> list[dict]:
        out = []
        for p in sorted(self.runs_dir.glob("*.json")):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, json.JSONDecodeError):
                pass
        return out

    def todo(self, tasks, retry_failed: bool = False) -> list[dict]:
        out = []
        for t in tasks:
            r = self.record(t)
            if r is None or (retry_failed and r.get("status") != "ok"):
                out.append(t)
        return out

    def save(self, rec: dict) -> None:
        write_json(self.path(rec), rec)

    def run(self, tasks, *, backend: str = "local", jobs: int | None = None, address: str | None = None,
            retry_failed: bool = False, timeout: float | None = None, save_runs: bool = False,
            log=print) -> dict:
        """Run the tasks that have no record yet (plus failed ones with retry_failed); returns counts."""
        seen, uniq = set(), []
        for t in tasks:
            if t["key"] not in seen:
                seen.add(t["key"])
                uniq.append(t)
        todo = self.todo(uniq, retry_failed)
        write_json(self.dir / "grid.json", {"name": self.name, "n_tasks": len(uniq), "backend": backend,
                                            "updated": _now(), "tasks": uniq})
        counts = {"total": len(uniq), "skipped": len(uniq) - len(todo), "ran": 0, "ok": 0, "failed": 0}
        log(f"grid {self.dir}: {len(uniq)} runs, {counts['skipped']} already done, {len(todo)} to run "
            f"({backend}, {jobs or os.cpu_count()} jobs)")
        if not todo:
            return counts
        run_dir = str(self.dir / "run_folders") if save_runs else None

        def done(rec):
            self.save(rec)
            counts["ran"] += 1
            counts["ok" if rec.get("status") == "ok" else "failed"] += 1
            msg = (f"acc={rec['acc']:.4f} nmi={rec['nmi']:.4f} ari={rec['ari']:.4f} ({rec['seconds']:.1f}s)"
                   if rec.get("status") == "ok" and "acc" in rec else
                   ("ok" if rec.get("status") == "ok" else f"FAILED: {rec.get('error', '')[:200]}"))
            log(f"[{counts['ran']}/{len(todo)}] {rec['key']}: {msg}")

        if backend == "inline":
            for t in todo:
                done(execute(t, run_dir))
        elif backend == "local":
            _run_local(todo, jobs or os.cpu_count() or 1, timeout, run_dir, done)
        elif backend == "ray":
            _run_ray(todo, jobs, address, run_dir, done)
        else:
            raise InvalidInputError(f"unknown backend {backend!r}; use local, ray or inline")
        return counts

    def summary(self, tasks=None) -> list[dict]:
        """Mean/std (and min/median/max) per cell = (method, dataset, preset, params, dataset_kwargs)."""
        recs = self.records()
        if tasks is not None:
            keys = {t["key"] for t in tasks}
            recs = [r for r in recs if r.get("key") in keys]
        return aggregate(recs)

    def write_summary(self, tasks=None) -> list[dict]:
        rows = self.summary(tasks)
        write_json(self.dir / "summary.json", {"grid": self.name, "updated": _now(), "cells": rows})
        _write_csv(self.dir / "summary.csv", rows)
        write_text(self.dir / "summary.md", summary_markdown(rows, title=f"Grid {self.name}"))
        return rows


def cell_of(rec: dict) -> tuple:
    return (rec["method"], rec["dataset"], rec.get("preset", "paper"),
            json.dumps(rec.get("params") or {}, sort_keys=True), json.dumps(rec.get("dataset_kwargs") or {}, sort_keys=True))


def aggregate(records) -> list[dict]:
    cells: dict[tuple, list] = {}
    for r in records:
        cells.setdefault(cell_of(r), []).append(r)
    rows = []
    for (method, dataset, preset, params, dkw), recs in sorted(cells.items()):
        ok = sorted((r for r in recs if r.get("status") == "ok"), key=lambda r: r["seed"])
        bad = sorted((r for r in recs if r.get("status") != "ok"), key=lambda r: r["seed"])
        row = {"method": method, "dataset": dataset, "preset": preset, "params": json.loads(params),
               "dataset_kwargs": json.loads(dkw), "n_ok": len(ok), "n_failed": len(bad),
               "seeds": [r["seed"] for r in ok], "failed_seeds": [r["seed"] for r in bad],
               "errors": sorted({r.get("error", "")[:300] for r in bad})}
        for m in METRICS:
            v = [float(r[m]) for r in ok if m in r]
            row[m] = [round(x, 4) for x in v]
            if v:
                row[f"{m}_mean"] = round(float(np.mean(v)), 4)
                row[f"{m}_std"] = round(float(np.std(v)), 4)
                row[f"{m}_median"] = round(float(np.median(v)), 4)
                row[f"{m}_min"] = round(float(np.min(v)), 4)
                row[f"{m}_max"] = round(float(np.max(v)), 4)
        if ok:
            row["seconds_mean"] = round(float(np.mean([r["seconds"] for r in ok])), 2)
            row["iterations"] = ok[0].get("iterations")
            row["preset_used"] = ok[0].get("preset_used", preset)
            row["machine"] = ok[0].get("machine")
        rows.append(row)
    return rows


def _fmt(row, m):
    if f"{m}_mean" not in row:
        return "-"
    return f"{row[f'{m}_mean']:.4f} ± {row[f'{m}_std']:.4f}"


def summary_markdown(rows, title="Grid") -> str:
    lines = [f"# {title}", "", "Mean ± std over the seeds that finished (population std).", "",
             "| method | dataset | preset | params | seeds ok | failed | ACC | NMI | ARI | s/run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in {**r["params"], **{f"data.{k}": v for k, v in r["dataset_kwargs"].items()}}.items()) or "-"
        lines.append(f"| {r['method']} | {r['dataset']} | {r['preset']} | {params} | {r['n_ok']} | {r['n_failed']} | "
                     f"{_fmt(r, 'acc')} | {_fmt(r, 'nmi')} | {_fmt(r, 'ari')} | {r.get('seconds_mean', '-')} |")
    errs = [(r, e) for r in rows for e in r["errors"]]
    if errs:
        lines += ["", "## Failed runs", ""]
        lines += [f"- {r['method']} / {r['dataset']} seeds {r['failed_seeds']}: `{e}`" for r, e in errs]
    return "\n".join(lines) + "\n"


def _write_csv(path, rows):
    import csv
    from ..engine.io import atomic_path
    cols = ["method", "dataset", "preset", "params", "dataset_kwargs", "n_ok", "n_failed", "seeds"]
    cols += [f"{m}_{s}" for m in METRICS for s in ("mean", "std", "median", "min", "max")] + ["seconds_mean"]
    with atomic_path(path, "w") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([json.dumps(r[c], sort_keys=True) if isinstance(r.get(c), (dict, list)) else r.get(c, "")
                        for c in cols])


# ---- backends ---------------------------------------------------------------------------------------
def _run_local(todo, jobs, timeout, run_dir, done):
    env = {**os.environ, **SINGLE_THREAD_ENV, "PYTHONUNBUFFERED": "1"}
    procs: dict[str, subprocess.Popen] = {}

    def one(task):
        cmd = [sys.executable, "-m", "deepclust.bench.grid", "--worker", json.dumps(task)]
        if run_dir:
            cmd += ["--run-dir", run_dir]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        procs[task["key"]] = p
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            return _failure(task, f"TimeoutError: run exceeded {timeout} s", err[-4000:])
        finally:
            procs.pop(task["key"], None)
        line = out.strip().splitlines()[-1] if out.strip() else ""
        try:
            rec = json.loads(line)
            if isinstance(rec, dict) and rec.get("key") == task["key"]:
                return rec
        except json.JSONDecodeError:
            pass
        return _failure(task, f"worker exited with code {p.returncode} without a result", (err or "")[-4000:])

    with cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(one, t): t for t in todo}
        try:
            for fut in cf.as_completed(futures):
                done(fut.result())
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            for p in list(procs.values()):  # our own children only
                p.kill()
            raise


def _run_ray(todo, jobs, address, run_dir, done):
    try:
        import ray
    except ImportError as e:
        raise DeepclustError("the Ray backend needs ray: pip install 'deepclust[distributed]' (or pip install ray)") from e
    started = False
    if not ray.is_initialized():
        kw = {"include_dashboard": False, "log_to_driver": False,
              "runtime_env": {"env_vars": dict(SINGLE_THREAD_ENV)}}
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=jobs or os.cpu_count(), **kw)
        started = True
    pending: dict = {}
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(execute)
        pending = {remote.remote(t, run_dir): t for t in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                task = pending.pop(ref)
                try:
                    rec = ray.get(ref)
                except Exception as e:  # the worker died (crash, OOM kill) or Ray failed
                    rec = _failure(task, f"{type(e).__name__}: {e}", traceback.format_exc(limit=5))
                rec.setdefault("backend_host", platform.node())
                done(rec)
    except KeyboardInterrupt:
        for ref in list(pending):
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


def run_grid(tasks, out, **kw) -> tuple[dict, list[dict]]:
    """Run (resuming) and aggregate; writes <out>/runs/*.json, summary.{json,csv,md}, grid.json."""
    g = Grid(out)
    counts = g.run(tasks, **kw)
    rows = g.write_summary(tasks)
    return counts, rows


def _worker_main(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--run-dir", default=None)
    a = ap.parse_args(argv)
    rec = execute(json.loads(a.worker), a.run_dir)
    sys.stdout.write("\n" + json.dumps(rec, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
