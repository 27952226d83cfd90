"""Which "ACC" do PFC's tables report? Whole-set Hungarian ACC vs the released code's batch purity, read on
partitions whose paper numbers we know.

    python benchmarks/diagnostics/pfc_metric_readings.py      # writes benchmarks/results/pfc/metric-readings.json

The released code (gan_mnist.py) logs as "ACC" the purity of C's labels within each batch of 100 validation
images, averaged over batches (metrics.batch_scores). The paper does not define ACC (spec §9.12). For USPS700
(Table V, k = 10) and the 10k MNIST test images (Table I; the paper's K-means row was run on its own split)
this scores, under both metrics: uniformly random labels (the chance level of each metric, mean of 20
draws) and k-means on the pixels (sklearn, n_init 10, seeds 0-2), the paper's own K-means baseline rows.
If the paper's K-means medians (USPS700 0.534, MNIST 0.563) match our whole-set ACC and not our batch
purity, the tables (at least their baselines) use whole-set ACC.
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np

from deepclust.bench.results import RESULTS_DIR, command_line, git_commit, machine_description
from deepclust.engine.io import write_json
from deepclust.metrics import batch_scores, evaluate, random_label_baseline

PAPER_KMEANS = {"usps700": {"source": "002 Table V, K-means [12] row (10 runs)", "acc": [0.469, 0.564, 0.534],
                            "nmi": [0.367, 0.451, 0.433]},
                "mnist-test": {"source": "002 Table I, K-means [12] row (10 runs; trained on 60k, scored on 10k)",
                               "acc": [0.534, 0.571, 0.563], "nmi": [0.479, 0.521, 0.499]}}


def load(name):
    from deepclust.datasets import load_dataset
    from deepclust.datasets.synthetic import usps_variant
    ds = usps_variant("usps700") if name == "usps700" else load_dataset("mnist-test")
    return np.asarray(ds.X, np.float32).reshape(len(ds.X), -1), np.asarray(ds.y)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["usps700", "mnist-test"])
    ap.add_argument("--out", default=str(Path(RESULTS_DIR) / "pfc" / "metric-readings.json"))
    a = ap.parse_args(argv)
    from sklearn.cluster import KMeans
    rec = {"what": __doc__.split("\n")[0], "device": machine_description("cpu"), "rows": [],
           "metric_labels": {"acc": "whole-set Hungarian ACC", "batch_purity": "released code's 'ACC': purity "
                             "averaged over shuffled batches of 100"}}
    for name in a.datasets:
        X, y = load(name)
        t = time.time()
        base = random_label_baseline(y, 10)
        km = []
        for s in (0, 1, 2):
            lab = KMeans(10, n_init=10, random_state=s).fit_predict(X)
            km.append({"seed": s, **{k: round(v, 4) for k, v in {**evaluate(y, lab), **batch_scores(y, lab)}.items()}})
        row = {"dataset": name, "n": int(len(y)), "random_labels": {k: round(v, 4) for k, v in base.items()},
               "kmeans_pixels": km, "paper_kmeans_min_max_median": PAPER_KMEANS[name],
               "seconds": round(time.time() - t, 1)}
        rec["rows"].append(row)
        print(name, row["random_labels"], [(r["acc"], r["batch_purity"]) for r in km], flush=True)
    rec.update({"command": command_line(), "commit": git_commit(), "date": dt.date.today().isoformat()})
    write_json(a.out, rec)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
