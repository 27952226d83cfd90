"""The same tiny grid through the local backend and the Ray backend: the aggregated numbers must match.

    python benchmarks/grid_ray_vs_local.py            # ~2-4 min on 2 cores

Grid: kmeans + ae-kmeans (smoke preset) on digits, seeds 0 and 1. Each backend gets a fresh grid
folder under benchmarks/results/grid/ray_vs_local/{local,ray}/ (one JSON per run, summary.*); the
comparison is written to benchmarks/results/grid/ray_vs_local.json and .md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from deepclust.bench.grid import expand, run_grid  # noqa: E402
from deepclust.bench.results import command_line, git_commit, machine_description  # noqa: E402
from deepclust.engine.io import write_json  # noqa: E402

OUT = Path("benchmarks/results/grid")
COMPARED = ("method", "dataset", "preset", "params", "dataset_kwargs", "n_ok", "n_failed", "seeds",
            "acc", "nmi", "ari", "acc_mean", "acc_std", "nmi_mean", "nmi_std", "ari_mean", "ari_std", "iterations")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args(argv)
    import ray
    tasks = expand(["kmeans", "ae-kmeans"], ["digits"], [0, 1], preset="smoke")
    base = Path(a.out) / "ray_vs_local"
    res = {}
    for backend in ("local", "ray"):
        d = base / backend
        shutil.rmtree(d, ignore_errors=True)  # fresh: every run is really executed by this backend
        t = time.time()
        counts, rows = run_grid(tasks, d, backend=backend, jobs=a.jobs)
        res[backend] = {"counts": counts, "wall_seconds": round(time.time() - t, 1), "cells": rows}
    cmp_rows = lambda rows: [{k: r.get(k) for k in COMPARED} for r in rows]
    identical = cmp_rows(res["local"]["cells"]) == cmp_rows(res["ray"]["cells"])
    diffs = [{"local": x, "ray": y} for x, y in zip(cmp_rows(res["local"]["cells"]), cmp_rows(res["ray"]["cells"]))
             if x != y]
    doc = {"what": "kmeans + ae-kmeans (smoke) on digits, seeds 0,1: local processes vs Ray tasks",
           "identical": identical, "differences": diffs, "compared_fields": list(COMPARED),
           "ray_version": ray.__version__, "jobs": a.jobs, "machine": machine_description(),
           "command": command_line(), "commit": git_commit(), "date": time.strftime("%Y-%m-%d"),
           "local": res["local"], "ray": res["ray"]}
    write_json(base.with_suffix(".json"), doc)
    L = ["# Grid: local backend vs Ray backend", "", f"`{doc['command']}` (commit `{doc['commit']}`, {doc['date']}, "
         f"ray {doc['ray_version']}, {a.jobs} jobs, {doc['machine']})", "",
         f"**Aggregated numbers identical: {identical}** (fields compared: {', '.join(COMPARED)}).", "",
         "| backend | method | dataset | preset | seeds | ACC per seed | NMI per seed | ARI per seed | ACC mean ± std | wall s (grid) |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for backend in ("local", "ray"):
        for r in res[backend]["cells"]:
            L.append(f"| {backend} | {r['method']} | {r['dataset']} | {r['preset']} | {r['seeds']} | {r['acc']} | {r['nmi']} | "
                     f"{r['ari']} | {r['acc_mean']:.4f} ± {r['acc_std']:.4f} | {res[backend]['wall_seconds']} |")
    base.with_suffix(".md").write_text("\n".join(L) + "\n")
    print("\n".join(L))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
