"""N2D's time and memory over data size: 10k (MNIST-test), 70k (Fashion-MNIST) and a 1M-row memmap.

    python benchmarks/n2d_scaling.py                       # all three sizes, one subprocess each
    python benchmarks/n2d_scaling.py --sizes 10k 70k       # a subset

Each size runs in its own process (so the peak resident memory, ru_maxrss, is that size's), with the
`fast` preset. The 1M rows are a synthetic 10-cluster mixture (100 features: Gaussian clusters in 10
dimensions pushed through a fixed random two-layer network), written once to a .npy file and opened as a
read-only memmap; the data source streams it in batches, and the UMAP head is fitted on a random 100,000-row
subsample (`max_fit_samples`) with `transform` for the other 900,000. Writes
benchmarks/results/n2d/scaling.json with wall and CPU seconds per phase, peak RSS and ACC.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

OUT = Path("benchmarks/results/n2d/scaling.json")


def synthetic_memmap(path: Path, n: int = 1_000_000, d: int = 100, k: int = 10, seed: int = 0):
    """Labels and a .npy memmap of n rows (written in chunks, never whole in memory)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(k, 10))
    w1, w2 = rng.normal(size=(10, 64)) / np.sqrt(10), rng.normal(size=(64, d)) / 8.0
    y = rng.integers(0, k, size=n)
    if not path.is_file():
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
        for s in range(0, n, 100_000):
            yy = y[s:s + 100_000]
            latent = centres[yy] + rng.normal(size=(len(yy), 10))
            X[s:s + len(yy)] = np.tanh(latent @ w1) @ w2
        X.flush()
        del X
    return np.load(path, mmap_mode="r"), y


def one(size: str, seed: int, cache: Path) -> dict:
    import torch
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    from deepclust.datasets import load_dataset
    from deepclust.methods import get
    from deepclust.metrics import evaluate
    if size == "1m":
        X, y = synthetic_memmap(cache / "n2d-synthetic-1m.npy")
        k, name = 10, "synthetic 1M x 100 memmap"
    else:
        ds = load_dataset({"10k": "mnist-test", "70k": "fashion-mnist"}[size])
        X, y, k, name = ds.X, ds.y, ds.n_classes, ds.name
    wall, cpu = time.time(), time.process_time()
    est = get("n2d").from_preset("fast", n_clusters=k, random_state=seed, verbose=0).fit(X)
    wall, cpu = time.time() - wall, time.process_time() - cpu
    return {"size": size, "dataset": name, "n": int(len(X)), "features": int(np.prod(X.shape[1:])),
            "memmap": isinstance(X, np.memmap), "acc": round(evaluate(y, est.labels_)["acc"], 4),
            "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "phase_seconds": {k2: round(v, 1) for k2, v in est.phase_seconds_.items()},
            "head": est.head_.describe(), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["10k", "70k", "1m"], choices=["10k", "70k", "1m"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=os.environ.get("DEEPCLUST_BENCH_CACHE", "/tmp"))
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.seed, Path(args.cache))))
        return 0
    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.engine.io import write_json
    rows = json.loads(OUT.read_text())["rows"] if OUT.is_file() else []
    for size in args.sizes:
        p = subprocess.run([sys.executable, __file__, "--one", size, "--seed", str(args.seed), "--cache", args.cache],
                           capture_output=True, text=True)
        if p.returncode:
            print(p.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"size {size} failed")
        row = json.loads(p.stdout.strip().splitlines()[-1])
        print(row, flush=True)
        rows = [r for r in rows if r["size"] != size] + [row]
        write_json(OUT, {"benchmark": "n2d scaling (fast preset)", "rows": rows, "command": command_line(),
                         "commit": git_commit(), "device": machine_description("cpu"), "date": time.strftime("%Y-%m-%d")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
