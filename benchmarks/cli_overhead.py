"""What `deepclust fit` costs outside the fit: process start and data loading, and everything after training
(embedding, assignments.csv and other files, model.pt, plots), as a share of the fit.

    python benchmarks/cli_overhead.py --threads 1            # the configurations below, one after the other

Each configuration is one `python -m deepclust fit ... -q` process (single-threaded); the script reads its
metrics.json (fit seconds, after-training seconds per part, CPU seconds of both) and measures the process's
wall and CPU time. Writes benchmarks/results/cli/overhead.json. CPU seconds are the robust numbers on a shared
machine; wall seconds are given beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CONFIGS = {  # name -> fit arguments
    # the example: 85 s of fit, 118 s of process, 27 s of plots after training before this change
    "dec-fast-usps": ["--method", "dec", "--preset", "fast", "--dataset", "usps"],
    "dec-fast-usps-noplots": ["--method", "dec", "--preset", "fast", "--dataset", "usps", "--no-plots"],
    "kmeans-usps": ["--method", "kmeans", "--dataset", "usps"],
}


def run(name: str, args: list[str], threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "deepclust", "fit", *args, "--seed", "0", "-q", "--out", out]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.time() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            raise SystemExit(f"{name} failed:\n{p.stderr}")
        (run_dir,) = [d for d in Path(out).iterdir() if d.is_dir()]
        m = json.loads((run_dir / "metrics.json").read_text())
        size = sum(f.stat().st_size for f in run_dir.rglob("*") if f.is_file())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    post = m["post_fit_seconds"]
    row = {"config": name, "command": "deepclust fit " + " ".join(args) + " --seed 0 -q",
           "fit_seconds": m["seconds"], "fit_cpu_seconds": m.get("cpu_seconds_this_process"),
           "after_training_seconds": post, "after_training_cpu_seconds": m.get("post_fit_cpu_seconds"),
           "process_wall_seconds": round(wall, 2), "process_cpu_seconds": round(cpu, 2),
           "outside_fit_wall_seconds": round(wall - m["seconds_this_process"], 2),
           "run_folder_bytes": size, "acc": m.get("acc"), "n_samples": m["n_samples"]}
    row["after_training_share_wall"] = round(post["total"] / m["seconds"], 4)
    if m.get("cpu_seconds_this_process"):
        row["after_training_share_cpu"] = round(m["post_fit_cpu_seconds"] / m["cpu_seconds_this_process"], 4)
    print(json.dumps(row), flush=True)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated: " + ", ".join(CONFIGS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/cli/overhead.json"))
    a = ap.parse_args(argv)
    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.engine.io import write_json
    rows = [run(n, CONFIGS[n], a.threads) for n in a.configs.split(",")]
    import datetime
    write_json(a.out, {"benchmark": "cli_overhead", "command": command_line(), "commit": git_commit(),
                       "date": datetime.date.today().isoformat(), "machine": machine_description("cpu"),
                       "threads": a.threads, "rows": rows,
                       "note": "after_training_* = embedding + predict_proba/distances + files + model.pt + plots, "
                               "from metrics.json; outside_fit_wall_seconds = the whole process minus the fit "
                               "(interpreter start, imports, data loading, checks, after-training work)"})
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
