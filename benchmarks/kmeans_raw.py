"""k-means on raw pixels vs the papers' k-means rows (DCFAE Table 2).

usage: python benchmarks/kmeans_raw.py [--seeds 0 1 2] [--datasets usps mnist-test fashion-mnist]
Writes benchmarks/results/kmeans/<dataset>-paper.json.
"""
import argparse

from deepclust.bench.results import benchmark

PAPER = {  # DCFAE (spec 000) Table 2, k-means row, ACC / NMI as fractions
    "mnist-test": {"acc": 0.5484, "nmi": 0.4999, "source": "000 (DCFAE) Table 2, k-means"},
    "usps": {"acc": 0.6734, "nmi": 0.6272, "source": "000 (DCFAE) Table 2, k-means"},
    "fashion-mnist": {"acc": 0.4752, "nmi": 0.5110, "source": "000 (DCFAE) Table 2, k-means"},
}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--datasets", nargs="+", default=list(PAPER))
    a = ap.parse_args()
    for d in a.datasets:
        benchmark("kmeans", d, "paper", a.seeds, paper=PAPER[d], budget="sklearn KMeans, n_init=10, max_iter=300")
