"""DEC, IDEC and DCEC next to their published numbers, mean/std over seeds.

usage: python benchmarks/dec_family.py --preset cpu --seeds 0 1 2 [--datasets usps mnist-test] [--methods dec idec dcec]
Writes benchmarks/results/<method>/<dataset>-<preset>.json.

Published rows (fractions): DEC from DCFAE (spec 000) Table 2 (MNIST-test, USPS, Fashion-MNIST);
IDEC and DCEC from spec 001 Tables II/III (USPS; their MNIST rows are on the 70k MNIST, shown for
reference only since we run MNIST-test, the 10k split).
"""
import argparse

from deepclust.bench.results import benchmark

PAPER = {
    ("dec", "usps"): {"acc": 0.7086, "nmi": 0.6840, "source": "000 Table 2 (DEC row)"},
    ("dec", "mnist-test"): {"acc": 0.8560, "nmi": 0.8300, "source": "000 Table 2 (DEC row)"},
    ("dec", "fashion-mnist"): {"acc": 0.6061, "nmi": 0.6370, "source": "000 Table 2 (DEC row)"},
    ("idec", "usps"): {"acc": 0.7605, "nmi": 0.7864, "source": "001 Table III (IDEC row)"},
    ("idec", "mnist-test"): {"acc": 0.8806, "nmi": 0.8672, "source": "001 Table II (IDEC, 70k MNIST: reference only)"},
    ("dcec", "usps"): {"acc": 0.7900, "nmi": 0.8257, "source": "001 Table III (DCEC row)"},
    ("dcec", "mnist-test"): {"acc": 0.8897, "nmi": 0.8849, "source": "001 Table II (DCEC, 70k MNIST: reference only)"},
}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--datasets", nargs="+", default=["usps", "mnist-test"])
    ap.add_argument("--methods", nargs="+", default=["dec", "idec", "dcec"])
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()
    for d in a.datasets:
        for m in a.methods:
            benchmark(m, d, a.preset, a.seeds, paper=PAPER.get((m, d)), device=a.device)
