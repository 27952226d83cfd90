"""Small data: does N2D's default stay above k-means on the raw features when there are a few hundred
images and tens of clusters?

    python benchmarks/n2d_small_data.py --seeds 0 1 2

Datasets (built here from data we have; none is used to choose anything):
  fashion-instances  40 Fashion-MNIST images x 10 random small rotations/shifts/scalings/contrasts (400, k = 40)
  mnist-instances    the same from MNIST-test digits (400, k = 40)
  usps-300           300 random USPS images (k = 10)
  digits-300         300 random sklearn 8x8 digits (k = 10)
Rows: k-means on the pixels (n_init 10); N2D with the `fast` preset (budget in optimiser steps, the heads'
data-size rules, the stability fallback to k-means on the pixels); the same without the fallback; without the
fallback and with the paper's fixed UMAP/GMM settings (n_neighbors 20, full covariance); the recipe that
failed on a held-out small set: 50 AE epochs, n_neighbors 20, full GMM.
Writes benchmarks/results/n2d/small-data.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch


def datasets(seed: int):
    from deepclust.datasets import load_dataset
    from deepclust.datasets.synthetic import instance_clusters
    out = {"fashion-instances": instance_clusters("fashion-mnist", n_clusters=40, per_cluster=10, seed=seed),
           "mnist-instances": instance_clusters("mnist-test", n_clusters=40, per_cluster=10, seed=seed)}
    rng = np.random.default_rng(seed)
    for name, n in (("usps", 300), ("digits", 300)):
        ds = load_dataset(name)
        idx = np.sort(rng.choice(len(ds.X), n, replace=False))
        out[f"{name}-{n}"] = (np.asarray(ds.X[idx]).reshape(n, -1), ds.y[idx], ds.n_classes)
    return {k: (v if isinstance(v, tuple) else (v.X.reshape(len(v.X), -1), v.y, v.n_classes)) for k, v in out.items()}


VARIANTS = {
    "n2d-fast (data-size rules + stability fallback)": ("fast", {}),
    "n2d-fast without the fallback": ("fast", {"fallback": "none"}),
    "n2d-fast, paper head settings (n_neighbors 20, full GMM), no fallback": (
        "fast", {"fallback": "none", "final_clusterer_params": {"n_neighbors": 20, "covariance_type": "full"}}),
    "50 AE epochs, paper head settings": (
        "paper", {"pretrain_epochs": 50, "final_clusterer_params": {"n_neighbors": 20, "covariance_type": "full"}}),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--out", default="benchmarks/results/n2d/small-data.json")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    from sklearn.cluster import KMeans
    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.engine.io import write_json
    from deepclust.methods import get
    from deepclust.metrics import evaluate

    rows = []
    for seed in args.seeds:
        for name, (X, y, k) in datasets(seed).items():
            t = time.process_time()
            km = KMeans(k, n_init=10, random_state=seed).fit(X)
            rows.append({"dataset": name, "seed": seed, "n": len(X), "k": k, "variant": "k-means on pixels",
                         **evaluate(y, km.labels_), "cpu_seconds": round(time.process_time() - t, 1)})
            print(rows[-1], flush=True)
            for label, (preset, over) in VARIANTS.items():
                t = time.process_time()
                est = get("n2d").from_preset(preset, n_clusters=k, random_state=seed, verbose=0, **over).fit(X)
                fb = [r for r in est.history_ if r.get("phase") == "fallback"]
                rows.append({"dataset": name, "seed": seed, "n": len(X), "k": k, "variant": label,
                             **evaluate(y, est.labels_), "cpu_seconds": round(time.process_time() - t, 1),
                             "head": est.head_.describe(), "fallback": fb[0] if fb else None})
                print({k2: v for k2, v in rows[-1].items() if k2 != "head"}, flush=True)
            summary = {}
            for r in rows:
                summary.setdefault(r["dataset"], {}).setdefault(r["variant"], []).append(round(r["acc"], 4))
            write_json(Path(args.out), {"benchmark": "n2d small data", "rows": rows, "acc_by_dataset_and_variant": summary,
                                        "command": command_line(), "commit": git_commit(),
                                        "device": machine_description("cpu"), "date": time.strftime("%Y-%m-%d")})
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
