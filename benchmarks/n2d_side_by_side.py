"""N2D in deepclust vs the plain recipe (separate steps) vs ClustPy's DEC, in one run, same data and seeds.

    python benchmarks/n2d_side_by_side.py --datasets usps mnist-test --seeds 0 1 2 \
        --peer-python .venv-clustpy/bin/python

Per dataset and seed, in turn (so all three see the same machine load):
  plain    the recipe a user would write by hand: this library's `ae-kmeans` autoencoder (d-500-500-2000-10,
           50 epochs, the paper schedule otherwise), then umap-learn's UMAP (10 dims, n_neighbors 20,
           min_dist 0) and scikit-learn's GaussianMixture (full, default single k-means start) as separate steps;
  n2d      `N2D.from_preset("fast")` (one call; engine/heads.py umap-gmm head) on the images as loaded (so the
           preset's augment="auto" applies); `--n2d-vectors` gives it the flattened rows instead (the USPS file
           of 2026-11-30 was made that way: its n2d rows have no "input" field);
  clustpy  ClustPy's DEC with its default schedule (100 pretraining + 150 clustering epochs, batch 256), run
           in ClustPy's own venv through benchmarks/peer/clustpy_run.py (skipped without --peer-python).
Time is CPU seconds of the process (all threads) and wall seconds; one thread each. Writes
benchmarks/results/n2d/side-by-side-<dataset>.json.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent


def plain(X, y, k, seed):
    import umap
    from sklearn.mixture import GaussianMixture
    from deepclust.methods import get
    t, c = time.time(), time.process_time()
    ae = get("ae-kmeans")(n_clusters=k, pretrain_epochs=50, random_state=seed, verbose=0).fit(X)
    Z = ae.transform(X)
    U = umap.UMAP(n_components=k, n_neighbors=20, min_dist=0.0, random_state=seed).fit_transform(Z)
    lab = GaussianMixture(k, covariance_type="full", random_state=seed).fit(U).predict(U)
    return lab, time.time() - t, time.process_time() - c


def n2d(X, y, k, seed):
    from deepclust.methods import get
    t, c = time.time(), time.process_time()
    est = get("n2d").from_preset("fast", n_clusters=k, random_state=seed, verbose=0).fit(X)
    return est.labels_, time.time() - t, time.process_time() - c


def clustpy_dec(peer_python, npz, seed, threads):
    import json
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([peer_python, str(HERE / "peer" / "clustpy_run.py"), npz, "DEC", str(seed), "100", "150",
                          str(threads)], capture_output=True, text=True, env=env, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return np.asarray(r["labels"]), r["seconds"], r["cpu_seconds"], r.get("versions")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["usps", "mnist-test"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--peer-python", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n2d-vectors", action="store_true",
                    help="give n2d the flattened rows (no image augmentation) instead of the images")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.datasets import load_dataset
    from deepclust.engine.io import write_json
    from deepclust.metrics import evaluate

    for name in args.datasets:
        ds = load_dataset(name)
        X = np.ascontiguousarray(ds.X.reshape(len(ds.X), -1), dtype=np.float32)
        k = ds.n_classes
        rows, versions = [], None
        with tempfile.TemporaryDirectory() as tmp:
            npz = str(Path(tmp) / "data.npz")
            np.savez(npz, X=X, y=ds.y)
            for seed in args.seeds:
                row = {"seed": seed}
                for label, fn in (("plain", plain), ("n2d", n2d)):
                    # n2d gets the data as a user has it (images keep their shape, so the preset's
                    # augment="auto" applies); --n2d-vectors gives it the flattened rows the others get
                    data = X if (label == "plain" or args.n2d_vectors or ds.X.ndim == 2) else ds.X
                    lab, wall, cpu = fn(data, ds.y, k, seed)
                    row[label] = {**{m: round(v, 4) for m, v in evaluate(ds.y, lab).items()},
                                  "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}
                    if label == "n2d":
                        row[label]["input"] = "images" if data.ndim > 2 else "vectors"
                if args.peer_python:
                    lab, wall, cpu, versions = clustpy_dec(args.peer_python, npz, seed, args.threads)
                    row["clustpy_dec"] = {**{m: round(v, 4) for m, v in evaluate(ds.y, lab).items()},
                                          "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}
                for other in ("plain", "clustpy_dec"):
                    if other in row:
                        row[f"n2d_cpu_time_over_{other}"] = round(row["n2d"]["cpu_seconds"] / row[other]["cpu_seconds"], 3)
                        row[f"n2d_acc_minus_{other}"] = round(row["n2d"]["acc"] - row[other]["acc"], 4)
                rows.append(row)
                print(name, row, flush=True)
                summary = {}
                for key in ("plain", "n2d", "clustpy_dec"):
                    if all(key in r for r in rows):
                        summary[key] = {m: round(float(np.mean([r[key][m] for r in rows])), 4)
                                        for m in ("acc", "nmi", "cpu_seconds", "wall_seconds")}
                for key in [k2 for k2 in rows[0] if k2.startswith("n2d_")]:
                    summary[key] = round(float(np.mean([r[key] for r in rows])), 3)
                write_json(HERE / "results" / "n2d" / f"side-by-side-{name}.json",
                           {"benchmark": "n2d vs plain recipe vs ClustPy DEC", "dataset": name, "rows": rows,
                            "mean": summary, "clustpy_versions": versions, "command": command_line(),
                            "commit": git_commit(), "device": machine_description("cpu"),
                            "date": time.strftime("%Y-%m-%d")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
