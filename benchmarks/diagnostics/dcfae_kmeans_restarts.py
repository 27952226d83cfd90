"""How stable is the final k-means on c of a trained DCFAE model? (docs/reproductions/000_dcfae.md)

    OMP_NUM_THREADS=1 python benchmarks/diagnostics/dcfae_kmeans_restarts.py --dataset usps --restarts 20 \
        --n-init-seeds 3 --models paper=/tmp/dcfae/keep/usps-s0-paper.pt repaired=/tmp/dcfae/keep/usps-s0-repaired.pt

The repaired run's per-epoch monitor (k-means, n_init 20, on c after each fine-tuning epoch) moved between
0.76 and 0.93 ACC from one epoch to the next. This asks whether that is the embedding or the k-means step:
on the END-of-fit c of each checkpoint, `--restarts` single k-means runs (n_init 1, seeds 0..R-1) are ranked
by their own inertia (the criterion n_init uses; labels only score), and several n_init-20 runs with
different seeds show which partition Algorithm 1's final step actually returns (~10 CPU-s for two USPS
models with the command above). Writes
benchmarks/results/dcfae/diagnostics-kmeans-restarts-<dataset>.json.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="usps")
    ap.add_argument("--models", nargs="+", required=True, metavar="NAME=CHECKPOINT")
    ap.add_argument("--restarts", type=int, default=40)
    ap.add_argument("--n-init-seeds", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from sklearn.cluster import KMeans

    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.datasets import load_dataset
    from deepclust.engine.io import write_json
    from deepclust.metrics import evaluate
    from dcfae_spectral import encode_checkpoint  # same folder (run as a script)
    ds = load_dataset(args.dataset, resize=32)
    y, K = ds.y, ds.n_classes
    out = {"what": __doc__.split("\n\n")[1].strip(), "dataset": args.dataset, "models": {},
           "command": command_line(), "commit": git_commit(), "device": machine_description()}
    for item in args.models:
        name, path = item.split("=", 1)
        _, _, c = encode_checkpoint(path, ds.X)
        single = []
        for s in range(args.restarts):
            km = KMeans(K, n_init=1, random_state=s).fit(c)
            single.append({"seed": s, "inertia": float(km.inertia_), "acc": round(evaluate(y, km.labels_)["acc"], 4),
                           "smallest_cluster": int(np.bincount(km.labels_, minlength=K).min())})
        single.sort(key=lambda r: r["inertia"])
        n20 = []
        for s in range(args.n_init_seeds):
            km = KMeans(K, n_init=20, random_state=s).fit(c)
            n20.append({"seed": s, "inertia": float(km.inertia_), **{k: round(v, 4) for k, v in
                                                                       evaluate(y, km.labels_).items()}})
        accs = np.array([r["acc"] for r in single])
        r = {"checkpoint": path, "single_restarts_by_inertia": single, "n_init20": n20,
             "summary": {"single_acc_min": float(accs.min()), "single_acc_median": float(np.median(accs)),
                         "single_acc_max": float(accs.max()), "lowest_inertia_acc": single[0]["acc"],
                         "n_init20_acc": [x["acc"] for x in n20]}}
        out["models"][name] = r
        print(name, r["summary"], flush=True)
        write_json(f"benchmarks/results/dcfae/diagnostics-kmeans-restarts-{args.dataset}.json", out)


if __name__ == "__main__":
    sys.exit(main())
