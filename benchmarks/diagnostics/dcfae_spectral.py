"""Final clusterings of trained DCFAE models, including the authors' code's exact spectral clustering.

    OMP_NUM_THREADS=1 python benchmarks/diagnostics/dcfae_spectral.py --dataset usps \
        --models paper=/tmp/dcfae/keep/usps-s0-paper.pt repaired=/tmp/dcfae/keep/usps-s0-repaired.pt

Each model is an end-of-fit checkpoint (after-cluster.pt) of benchmarks/dcfae_repair.py. For c =
DeepDenseNet(mu) (eval mode) and mu of all samples: k-means (n_init 20, as Algorithm 1), spectral clustering
on a symmetrised 10-nearest-neighbour graph (what benchmarks/dcfae_repair.py reports as spectral), and on c
the authors' code's call exactly: sklearn SpectralClustering(n_clusters=K, n_init=20, random_state=10), i.e.
an RBF affinity exp(-|c_i - c_j|^2) (gamma 1) on the dense n x n matrix (~0.7 GB and ~2.5 CPU minutes for
USPS). Also the confusion matrices (rows = classes) of k-means and 10-NN spectral on c, and with
--heads KIND ... the library's shared final heads (deepclust.engine.heads.fit_head, e.g. umap-gmm) on c.
Labels only score.
Writes benchmarks/results/dcfae/diagnostics-spectral-<dataset>.json.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch


def encode_checkpoint(path: str, X):
    """A saved DCFAE model's encoder means mu and DeepDenseNet codes c of X (float64 arrays), batched."""
    p = torch.load(path, map_location="cpu", weights_only=False)
    enc, dense = p["state"]["enc"].eval(), p["state"]["dense"].eval()
    with torch.no_grad():
        X = torch.from_numpy(np.asarray(X))
        mu = torch.cat([enc(X[i:i + 512])[0] for i in range(0, len(X), 512)])
        c = dense(mu)
    return p, mu.double().numpy(), c.double().numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="usps")
    ap.add_argument("--models", nargs="+", required=True, metavar="NAME=CHECKPOINT")
    ap.add_argument("--no-rbf", action="store_true")
    ap.add_argument("--heads", nargs="*", default=[], help="shared heads to fit on c (deepclust.engine.heads)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from sklearn.cluster import KMeans, SpectralClustering
    from sklearn.metrics import confusion_matrix

    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.datasets import load_dataset
    from deepclust.engine.io import write_json
    from deepclust.metrics import evaluate
    ds = load_dataset(args.dataset, resize=32)
    y, K = ds.y, ds.n_classes
    out = {"what": __doc__.split("\n\n")[1].strip(), "dataset": args.dataset, "models": {},
           "command": command_line(), "commit": git_commit(), "device": machine_description()}
    for item in args.models:
        name, path = item.split("=", 1)
        p, mu, c = encode_checkpoint(path, ds.X)
        Z = {"c": c, "mu": mu}
        r = {"checkpoint": path, "seed": p["params"].get("random_state"), "target": p["params"].get("target", "paper")}
        for space, z in Z.items():
            km = KMeans(K, n_init=20, random_state=int(r["seed"] or 0)).fit_predict(z)
            sc = SpectralClustering(K, affinity="nearest_neighbors", n_neighbors=10, random_state=int(r["seed"] or 0),
                                    n_jobs=1).fit_predict(z)
            r[f"kmeans_{space}"] = evaluate(y, km)
            r[f"spectral10nn_{space}"] = evaluate(y, sc)
            if space == "c":
                r["confusion_kmeans_c"] = confusion_matrix(y, km).tolist()
                r["confusion_spectral10nn_c"] = confusion_matrix(y, sc).tolist()
        for kind in args.heads:
            from deepclust.engine.heads import fit_head
            t = time.process_time()
            head = fit_head(Z["c"], K, kind, random_state=int(r["seed"] or 0))
            r[f"head_{kind}_c"] = evaluate(y, head.labels_)
            r[f"head_{kind}_seconds"] = round(time.process_time() - t, 1)
        if not args.no_rbf:
            t = time.process_time()
            lab = SpectralClustering(n_clusters=K, n_init=20, random_state=10).fit_predict(Z["c"])
            r["authors_code_spectral_rbf_c"] = evaluate(y, lab)
            r["authors_code_spectral_seconds"] = round(time.process_time() - t, 1)
        out["models"][name] = r
        print(name, {k: (round(v["acc"], 4) if isinstance(v, dict) else v) for k, v in r.items()
                     if not k.startswith("confusion")}, flush=True)
        write_json(f"benchmarks/results/dcfae/diagnostics-spectral-{args.dataset}.json", out)


if __name__ == "__main__":
    sys.exit(main())
