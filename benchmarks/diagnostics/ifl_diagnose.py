"""Why Deep IFL falls below its own base clusterer here (issue #4): how good are the IFL features?

Fits Deep IFL with the same folds and fold budget as the committed cpu/r5 rows
(benchmarks/results/deep-ifl/*-cpu-r5.json), but with the final stage F3 (k-means on the IFL features
alone), and reports, per seed:
  - fold_assignment_acc: ACC of the held-out assignments the fold models make (nearest trained centre,
    aligned to fold 1's numbering), i.e. the information the IFL features carry, per fold and overall;
  - kmeans_on_ifl_features: ACC of F3 = k-means on the scaled s + 2 IFL features;
  - kmeans_on_pixels_plus_ifl / kmeans_on_pixels: k-means on [vec(x); e] and on vec(x);
so the F1 rows of the result files (CAE-MLE with the IFL side input) can be read against them.

    OMP_NUM_THREADS=1 python benchmarks/diagnostics/ifl_diagnose.py --dataset usps --seeds 0 1
Writes benchmarks/results/deep-ifl/diagnostics-<dataset>.json.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deepclust.bench.results import command_line, git_commit, machine_description
from deepclust.datasets import load_dataset
from deepclust.engine.assignment import kmeans
from deepclust.engine.io import write_json
from deepclust.methods.ifl import DeepIFL
from deepclust.metrics import acc, nmi

DATASET_KWARGS = {"usps": {"scale": "minus1-1"}, "mnist-test": {}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="usps", choices=sorted(DATASET_KWARGS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    a = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset(a.dataset, **DATASET_KWARGS[a.dataset])
    X, y = ds.X, ds.y
    k = int(y.max()) + 1
    score = lambda lab: {"acc": round(acc(y, lab), 4), "nmi": round(nmi(y, lab), 4)}  # noqa: E731
    flat = X.reshape(len(X), -1).astype(np.float32)
    rows = []
    for seed in a.seeds:
        t = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            est = DeepIFL.from_preset("cpu", n_clusters=k, random_state=seed, n_folds=5,
                                      base_params={"pretrain_epochs": 10, "max_iter": 500},
                                      final="F3", f3_input="ifl", f3_algorithm="kmeans", checkpoint_dir=tmp)
            est.fit(X)
        E = est.ifl_raw_features_
        assigned = E[:, 1:k + 1].argmin(1)          # each instance's nearest centre of its fold's model
        per_fold = [round(acc(y[f], assigned[f]), 4) for f in est.folds_]
        e = est.ifl_features_.astype(np.float32)
        row = {"seed": seed, "seconds": round(time.time() - t, 1),
               "fold_assignment_acc": {"all": score(assigned), "per_fold": per_fold},
               "kmeans_on_ifl_features": score(est.labels_),
               "kmeans_on_pixels_plus_ifl": score(kmeans(np.concatenate([flat, e], 1), k, n_init=20, seed=seed)[1]),
               "kmeans_on_pixels": score(kmeans(flat, k, n_init=20, seed=seed)[1])}
        print(json.dumps(row), flush=True)
        rows.append(row)
        write_json(Path(__file__).resolve().parent.parent / "results" / "deep-ifl" / f"diagnostics-{a.dataset}.json", {
            "what": __doc__.split("\n\n")[1], "dataset": a.dataset, "dataset_kwargs": DATASET_KWARGS[a.dataset],
            "settings": {"preset": "cpu", "n_folds": 5, "base_params": {"pretrain_epochs": 10, "max_iter": 500}},
            "rows": rows, "device": machine_description("cpu"), "command": command_line(), "commit": git_commit()})


if __name__ == "__main__":
    main()
