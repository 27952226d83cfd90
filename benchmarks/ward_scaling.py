"""Ward agglomerative clustering: wall time and peak memory of CAE-MLE's initialiser (spec 001 §2.3, §10).

    OMP_NUM_THREADS=1 python benchmarks/ward_scaling.py

Each measurement runs in a fresh subprocess: it builds the data, records its peak resident memory
(resource.getrusage ru_maxrss) and then runs Ward; `peak_rss_mb` is the child's high-water mark and
`ward_extra_mb` = peak after Ward - peak before Ward (what Ward itself added). Implementations:
  - "fastcluster": deepclust.engine.assignment.ward = fastcluster.linkage_vector(method="ward") + fcluster,
    O(n d) memory (what CAE-MLE uses);
  - "scipy": scipy.cluster.hierarchy.ward (what sklearn's AgglomerativeClustering(linkage="ward") calls),
    which builds the condensed n(n-1)/2 distance matrix; only run where it fits (n = 9,298), its memory at
    70,000 is computed, not measured.
Data: "synthetic" = 10 Gaussian blobs in 10-d (as the 10-d CAE embedding), seeded; "usps-pca10" = the
9,298 USPS images ([-1, 1]) projected on their first 10 principal components (a real-data 10-d stand-in
for the CAE embedding, not the embedding itself). Writes benchmarks/results/ward/ward_scaling.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def make_data(kind: str, n: int, d: int = 10, seed: int = 0):
    import numpy as np
    if kind == "synthetic":
        rng = np.random.default_rng(seed)
        centers = rng.normal(scale=4.0, size=(10, d))
        y = rng.integers(0, 10, n)
        return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y
    if kind == "usps-pca10":
        from sklearn.decomposition import PCA
        from deepclust.datasets import load_dataset
        ds = load_dataset("usps", scale="minus1-1", flatten=True)
        return PCA(10, random_state=seed).fit_transform(ds.X).astype(np.float32), ds.y
    raise SystemExit(f"unknown data {kind!r}")


def worker(impl: str, kind: str, n: int) -> dict:
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, ward as scipy_ward
    from deepclust.engine.assignment import ward  # imports torch: done before the baseline is read
    X, y = make_data(kind, n)
    before = _rss_mb()
    t = time.perf_counter()
    if impl == "fastcluster":
        _, labels = ward(X, 10)
    else:
        labels = fcluster(scipy_ward(X.astype(np.float64)), t=10, criterion="maxclust") - 1
    seconds = time.perf_counter() - t
    peak = _rss_mb()
    from sklearn.metrics import adjusted_rand_score
    return {"impl": impl, "data": kind, "n": n, "d": int(X.shape[1]), "seconds": round(seconds, 2),
            "peak_rss_mb": round(peak, 1), "rss_before_ward_mb": round(before, 1),
            "ward_extra_mb": round(peak - before, 1), "ari_vs_generating_labels": round(adjusted_rand_score(y, labels), 4)}


def measure(impl, kind, n, timeout=1800) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, kind, str(n)]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{out.stderr}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["subprocess_wall_seconds"] = round(time.perf_counter() - t, 2)
    print(json.dumps(row), flush=True)
    return row


def same_partition_check(n=3000) -> dict:
    """fastcluster's vector Ward gives the same partition as scipy's ward (spec §2.3)."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, ward as scipy_ward
    from sklearn.metrics import adjusted_rand_score
    from deepclust.engine.assignment import ward
    X, _ = make_data("synthetic", n, seed=1)
    a = ward(X, 10)[1]
    b = fcluster(scipy_ward(X.astype(np.float64)), t=10, criterion="maxclust")
    return {"n": n, "ari_fastcluster_vs_scipy": round(float(adjusted_rand_score(a, b)), 6)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs=3, metavar=("IMPL", "DATA", "N"))
    ap.add_argument("--sizes", nargs="+", type=int, default=[9298, 20000, 70000])
    ap.add_argument("--scipy-max", type=int, default=9298, help="largest n to run scipy's O(n^2) ward on")
    args = ap.parse_args(argv)
    if args.worker:
        impl, kind, n = args.worker
        print(json.dumps(worker(impl, kind, int(n))))
        return
    sys.path.insert(0, str(HERE.parent / "src"))
    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.engine.io import write_json
    import datetime
    rows = [measure("fastcluster", "usps-pca10", 9298)]
    for n in args.sizes:
        rows.append(measure("fastcluster", "synthetic", n))
    for n in [s for s in args.sizes if s <= args.scipy_max]:
        rows.append(measure("scipy", "synthetic", n))
    rec = {"benchmark": "ward_scaling", "device": machine_description("cpu"), "rows": rows,
           "same_partition": same_partition_check(),
           "scipy_condensed_matrix_gb": {str(n): round(n * (n - 1) / 2 * 8 / 1e9, 2) for n in (9298, 63000, 70000)},
           "note": "Shared 2-core CPU with other jobs running: times are upper bounds of an idle machine's.",
           "command": command_line(), "commit": git_commit(), "date": datetime.date.today().isoformat()}
    path = HERE / "results" / "ward" / "ward_scaling.json"
    write_json(path, rec)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
