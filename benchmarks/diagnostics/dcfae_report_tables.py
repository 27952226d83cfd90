"""Markdown tables for docs/reproductions/000_dcfae.md from the committed DCFAE result files (no training).

    python benchmarks/diagnostics/dcfae_report_tables.py usps-cpu-3seeds.json usps-cpu-repaired.json ...

One row per file (one preset / variant, several seeds): the method's own result (k-means on c, n_init as
recorded), then the other clusterings stored by benchmarks/dcfae_repair.py, as mean +- std over seeds with
the per-seed values, and the paper's number for the same row.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

RES = Path("benchmarks/results/dcfae")


def pct(x):
    return f"{100 * x:.2f}"


def cell(vals):
    import numpy as np
    v = np.asarray(vals, float)
    return f"{pct(v.mean())} ± {pct(v.std())} ({', '.join(pct(x) for x in v)})" if len(v) > 1 else pct(v[0])


def main(files):
    print("| file | preset (overrides) | seeds | method result ACC (k-means on c; on mu for - DenNet) | NMI | ARI | k-means on mu (final) | "
          "k-means on mu (pretrained) | spectral on c (authors' code: spectral, 10-NN) | spectral on mu | paper ACC |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for f in files:
        rec = json.loads((RES / f).read_text())
        ov = {k: v for k, v in (rec.get("overrides") or {}).items()}
        extra = lambda key: cell(rec[key]["acc"]) if key in rec else "–"  # noqa: E731
        paper = pct(rec["paper"]["acc"]) if rec.get("paper") else "–"
        print(f"| {f} | {rec['preset']} {ov if ov else ''} | {','.join(map(str, rec['seeds']))} | {cell(rec['acc'])} | "
              f"{cell(rec['nmi'])} | {cell(rec['ari'])} | {extra('kmeans_mu')} | {extra('kmeans_mu_pretrained')} | "
              f"{extra('spectral_c')} | {extra('spectral_mu')} | {paper} |")


if __name__ == "__main__":
    main(sys.argv[1:])
