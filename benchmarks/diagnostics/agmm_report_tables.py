"""Markdown tables for docs/reproductions/003_adaptive_gmm.md from the committed AGMM result files (no training).

    python benchmarks/diagnostics/agmm_report_tables.py usps-cpu-bounded.json mnist-test-cpu-bounded.json ...

One row per seed: stage 2 (EM on the stage-1 codes = the paper's "AEF+GMM") and stage 3 (the preset's joint
training) ACC / NMI on the same codes, the change stage 3 made, the smallest cluster's share, the CPU seconds
of the run; then the mean +- std over seeds and the paper's rows (AEF+GMM, Ours) beside them. Files are read
from benchmarks/results/agmm/ unless a path with a folder is given.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

RES = Path("benchmarks/results/agmm")


def pct(x):
    return f"{100 * x:.2f}"


def ms(v):
    v = np.asarray(v, float)
    return f"{pct(v.mean())} ± {pct(v.std())}"


def table(name: str) -> None:
    path = Path(name) if "/" in name else RES / name
    rec = json.loads(path.read_text())
    stages = {s["seed"]: s for s in rec["per_seed_stages"]}
    cpu = rec.get("cpu_seconds") or [None] * len(rec["seeds"])
    head = any("final_head" in s for s in stages.values())
    print(f"`{path.name}` ({rec['preset']}; {rec.get('epochs_or_iterations', '')})\n")
    cols = ["seed", "stage 2 ACC (AEF+GMM)", "stage 3 ACC", "stage 3 - stage 2", "stage 2 NMI", "stage 3 NMI",
            "smallest cluster", "CPU s"]
    if head:
        cols[3:3] = ["UMAP+GMM head ACC (same codes)"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    s2, s3, hd = [], [], []
    for seed, c in zip(rec["seeds"], cpu):
        st = stages[seed]
        a2, a3 = st["stage_metrics"]["ae_em"], st["stage_metrics"]["joint"]
        s2.append(a2["acc"]), s3.append(a3["acc"])
        row = [str(seed), pct(a2["acc"]), pct(a3["acc"]), f"{100 * (a3['acc'] - a2['acc']):+.2f}", pct(a2["nmi"]),
               pct(a3["nmi"]), f"{st['min_cluster_share']:.3f}", "–" if c is None else f"{c:.0f}"]
        if head:
            h = st.get("final_head", {})
            hd.append(h.get("acc", np.nan))
            row[3:3] = [pct(h["acc"]) if "acc" in h else "–"]
        print("| " + " | ".join(row) + " |")
    d = np.asarray(s3) - np.asarray(s2)
    row = ["mean ± std", ms(s2), ms(s3), f"{100 * d.mean():+.2f} ± {100 * d.std():.2f}", "", "", "", ""]
    if head:
        row[3:3] = [ms(hd)]
    print("| " + " | ".join(row) + " |")
    paper, aef = rec.get("paper") or {}, rec.get("paper_aef_gmm") or {}
    if paper:
        row = ["paper", pct(aef.get("acc", np.nan)), pct(paper["acc"]), f"{100 * (paper['acc'] - aef.get('acc', np.nan)):+.2f}",
               pct(aef.get("nmi", np.nan)), pct(paper["nmi"]), "", ""]
        if head:
            row[3:3] = ["–"]
        print("| " + " | ".join(row) + " |")
    print()


if __name__ == "__main__":
    for f in sys.argv[1:]:
        table(f)
