"""N2D (autoencoder + UMAP + GMM) on USPS, MNIST-test and Fashion-MNIST: accuracy, wall and CPU time.

    python benchmarks/n2d.py --preset fast --datasets usps mnist-test --seeds 0 1 2
    python benchmarks/n2d.py --preset paper --datasets usps --seeds 0 1 2
    python benchmarks/n2d.py --preset fast --datasets usps --seeds 0 --set pretrain_steps=6000 --tag steps6000

Writes benchmarks/results/n2d/<dataset>-<preset>[-tag].json (DESIGN.md format) with, per seed, the CPU
seconds of the whole fit (time.process_time: every thread of this process, numba's included), the wall
seconds, the seconds of each phase, and the other heads fitted on the same trained embedding (k-means on
the AE embedding; k-means on the same UMAP coordinates) for comparison. Labels only score; nothing is chosen with them.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

# N2D's published numbers (McConville et al., ICPR 2020, Table "N2D"; MNIST-test is their mnist-test)
PAPER = {"usps": {"acc": 0.958, "nmi": 0.901, "source": "N2D (ICPR 2020) results table"},
         "mnist-test": {"acc": 0.948, "nmi": 0.882, "source": "N2D (ICPR 2020) results table"},
         "fashion-mnist": {"acc": 0.672, "nmi": 0.684, "source": "N2D (ICPR 2020) results table"},
         "mnist": {"acc": 0.979, "nmi": 0.942, "source": "N2D (ICPR 2020) results table"}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="n2d")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--datasets", nargs="+", default=["usps", "mnist-test", "fashion-mnist"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--compare-heads", nargs="*", default=["kmeans", "umap-kmeans"],
                    help="other heads fitted on the same trained embedding (reported beside the method's)")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")

    from deepclust.bench import results
    from deepclust.bench.commands import parse_key_values
    from deepclust.datasets import load_dataset
    from deepclust.engine.heads import fit_head
    from deepclust.methods import get
    from deepclust.metrics import evaluate

    overrides = parse_key_values(args.set)
    cls = get(args.method)
    for name in args.datasets:
        t_load = time.time()
        ds = load_dataset(name)
        load_seconds = time.time() - t_load
        runs = []
        for seed in args.seeds:
            est = cls.from_preset(args.preset, n_clusters=ds.n_classes, random_state=seed, verbose=0, **overrides)
            wall, cpu = time.time(), time.process_time()
            est.fit(ds.X, ds.y)
            wall, cpu = time.time() - wall, time.process_time() - cpu
            m = evaluate(ds.y, est.labels_)
            heads = {}
            Z = est.transform(ds.X)
            manifold = getattr(est.head_, "embedding_", None)  # the fitted UMAP coordinates, reused
            for kind in args.compare_heads:
                t = time.process_time()
                if kind.startswith("umap-") and manifold is not None:
                    h = fit_head(manifold, ds.n_classes, kind.split("-", 1)[1], random_state=seed)
                else:
                    h = fit_head(Z, ds.n_classes, kind, random_state=seed)
                heads[kind] = {**{k: round(v, 4) for k, v in evaluate(ds.y, h.labels_).items()},
                               "cpu_seconds": round(time.process_time() - t, 1)}
            if getattr(est, "paper_labels_", None) is not None:
                heads["paper"] = {k: round(v, 4) for k, v in evaluate(ds.y, est.paper_labels_).items()}
            runs.append({"seed": seed, "seconds": wall, "cpu_seconds": round(cpu, 1), **m,
                         "iterations": results._iterations(est),
                         "stages": {k: round(v, 1) for k, v in est.phase_seconds_.items()},
                         "head": est.head_.describe() if getattr(est, "head_", None) is not None else None,
                         "other_heads": heads})
            print(f"{args.method} {name} {args.preset} seed={seed}: acc={m['acc']:.4f} nmi={m['nmi']:.4f} "
                  f"wall {wall:.0f}s cpu {cpu:.0f}s; other heads: "
                  + ", ".join(f"{k} {v['acc']:.4f}" for k, v in heads.items()), flush=True)
            rec = results.summarise(args.method, name, args.preset, runs, paper=PAPER.get(name),
                                    overrides=overrides, device=results.machine_description("cpu"),
                                    extra={"n_samples": int(len(ds.X)), "dataset_load_seconds": round(load_seconds, 1)})
            rec["cpu_seconds"] = [r["cpu_seconds"] for r in runs]
            rec["stage_seconds"] = [r["stages"] for r in runs]
            rec["heads"] = [r["head"] for r in runs]
            rec["other_heads"] = [r["other_heads"] for r in runs]
            rec["mean"]["cpu_seconds"] = round(float(np.mean(rec["cpu_seconds"])), 1)
            if len(runs) < len(args.seeds):
                rec["incomplete"] = f"{len(runs)} of {len(args.seeds)} seeds done"
            results.write_result(rec, out=Path(args.out) if args.out else None, tag=args.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
