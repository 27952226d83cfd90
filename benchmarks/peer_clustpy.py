"""deepclust vs the peer library ClustPy: DEC and IDEC with the same architecture (d-500-500-2000-10),
the same epoch budget and batch size, on the same data; ACC/NMI, wall time and our time / theirs.
Plus our `fast` preset (a documented faster schedule) against their default-schedule accuracy.

Set-up of the peer (its own venv, CPU torch from the local wheel):
    python3 -m venv .venv-clustpy && .venv-clustpy/bin/pip install torch==2.13.0 && .venv-clustpy/bin/pip install clustpy h5py
usage:
    python benchmarks/peer_clustpy.py --peer-python .venv-clustpy/bin/python --datasets usps mnist-test \
        --pretrain-epochs 50 --clustering-epochs 50 --seeds 0 --threads 2
Writes benchmarks/results/peer/clustpy-<dataset>.json.

Identical work: ClustPy's schedule is Adam(1e-3) pretraining, Adam(1e-4) clustering with the target P
computed from each batch's own Q (no whole-dataset refresh), k-means with sklearn defaults, 256 per batch.
Ours runs the same: optimizer="adam", lr=1e-4, update_interval=0, n_init=1, max_iter=epochs*steps_per_epoch.
Runs alternate (theirs, ours) so both see the same machine load.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deepclust.bench.results import command_line, git_commit, machine_description
from deepclust.datasets import load_dataset
from deepclust.engine.io import write_json
from deepclust.methods import get
from deepclust.metrics import acc, nmi

HERE = Path(__file__).parent


def ours(method, X, y, seed, e1, e2, threads, **schedule):
    import torch
    torch.set_num_threads(threads)
    steps = -(-len(X) // 256)
    kw = dict(n_clusters=int(y.max()) + 1, random_state=seed, verbose=0, pretrain_epochs=e1,
              max_iter=e2 * steps, batch_size=256, optimizer="adam", lr=1e-4, update_interval=0, n_init=1)
    kw.update(schedule)
    est = get(method)(**kw)
    t = time.time()
    est.fit(X)
    return est.labels_, time.time() - t


def theirs(peer_python, npz, method, seed, e1, e2, threads):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([peer_python, str(HERE / "peer" / "clustpy_run.py"), npz, method, str(seed), str(e1),
                          str(e2), str(threads)], capture_output=True, text=True, env=env, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return np.array(res["labels"]), res["seconds"]


def score(y, lab, sec):
    return {"acc": round(acc(y, lab), 4), "nmi": round(nmi(y, lab), 4), "seconds": round(sec, 1)}


# our faster schedule (the `fast` presets of DEC/IDEC): see the methods' presets for the values
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-python", default=".venv-clustpy/bin/python")
    ap.add_argument("--datasets", nargs="+", default=["usps", "mnist-test"])
    ap.add_argument("--methods", nargs="+", default=["DEC", "IDEC"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--pretrain-epochs", type=int, default=100)
    ap.add_argument("--clustering-epochs", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-fast", action="store_true")
    a = ap.parse_args()
    for dname in a.datasets:
        ds = load_dataset(dname, flatten=True)
        X, y = ds.X, ds.y
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            npz = f"{tmp}/data.npz"
            np.savez(npz, X=X, y=y)
            for m in a.methods:
                for seed in a.seeds:
                    lt, st = theirs(a.peer_python, npz, m, seed, a.pretrain_epochs, a.clustering_epochs, a.threads)
                    lo, so = ours(m.lower(), X, y, seed, a.pretrain_epochs, a.clustering_epochs, a.threads)
                    row = {"method": m, "seed": seed, "clustpy": score(y, lt, st), "deepclust": score(y, lo, so),
                           "time_ratio_ours_over_theirs": round(so / st, 3)}
                    if not a.no_fast:
                        cls = get(m.lower())
                        fast = cls.presets["fast"]
                        lf, sf = ours(m.lower(), X, y, seed, fast["pretrain_epochs"], 0, a.threads,
                                      **{k: v for k, v in fast.items() if k != "pretrain_epochs"})
                        row["deepclust_fast"] = {**score(y, lf, sf), "preset": fast,
                                                 "time_ratio_over_clustpy": round(sf / st, 3)}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        write_json(f"benchmarks/results/peer/clustpy-{dname}.json", {
            "benchmark": "deepclust vs ClustPy 0.0.3 (DEC, IDEC), identical architecture/epochs/batch",
            "dataset": dname, "n": len(X), "pretrain_epochs": a.pretrain_epochs,
            "clustering_epochs": a.clustering_epochs, "threads": a.threads, "rows": rows,
            "device": machine_description("cpu"), "load_average_at_end": os.getloadavg(),
            "command": command_line(), "commit": git_commit(), "date": datetime.date.today().isoformat()})


if __name__ == "__main__":
    main()
