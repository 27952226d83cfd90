"""The paper's own assignment vs the manifold head, on the same trained embedding, for every deep method.

    python benchmarks/heads.py --datasets usps mnist-test --methods dec idec dcec --preset cpu --seeds 0

Each method is fitted once with final_clusterer="umap-gmm": its own assignment is kept as `paper_labels_`
and the UMAP + GMM head's as `labels_` (engine/heads.py), so both read the same embedding. k-means and
GMM on the raw embedding are fitted too. One file per (method, dataset, preset):
benchmarks/results/heads/<method>-<dataset>-<preset>.json; `--table` prints the Markdown table of all files.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch

OUT = Path("benchmarks/results/heads")
DEEP_METHODS = ["ae-kmeans", "dec", "idec", "dcec", "cae-mle", "agmm", "deepgmm", "dcan", "abc", "dc-kmeans",
                "dc-gmm", "dcfae", "n2d"]


def run(method: str, dataset: str, preset: str, seed: int, overrides: dict) -> dict:
    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.datasets import load_dataset
    from deepclust.engine.heads import fit_head
    from deepclust.methods import get
    from deepclust.metrics import evaluate
    cls = get(method)
    ds = load_dataset(dataset)
    kw = {"n_clusters": ds.n_classes, "random_state": seed, "verbose": 0, **overrides}
    if method != "n2d":
        kw["final_clusterer"] = "umap-gmm"
    est = cls.from_preset(preset if preset in cls.presets else "paper", **kw)
    wall, cpu = time.time(), time.process_time()
    est.fit(ds.X, ds.y)
    wall, cpu = time.time() - wall, time.process_time() - cpu
    Z = est.transform(ds.X)
    rows = {"paper head": evaluate(ds.y, est.paper_labels_) if getattr(est, "paper_labels_", None) is not None else None,
            "umap-gmm": evaluate(ds.y, est.labels_)}
    for kind in ("kmeans", "gmm"):
        rows[kind] = evaluate(ds.y, fit_head(Z, ds.n_classes, kind, random_state=seed).labels_)
    return {"method": method, "dataset": dataset, "preset": preset if preset in cls.presets else "paper",
            "seed": seed, "overrides": overrides, "embedding_dim": int(Z.shape[1]),
            "heads": {k: ({m: round(v, 4) for m, v in r.items()} if r else None) for k, r in rows.items()},
            "head_detail": est.head_.describe(), "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "stage_seconds": {k: round(v, 1) for k, v in est.phase_seconds_.items()},
            "command": command_line(), "commit": git_commit(), "device": machine_description("cpu"),
            "date": time.strftime("%Y-%m-%d")}


def table(folder: Path = OUT) -> str:
    lines = ["| method | dataset | preset, seed | paper head ACC | k-means | GMM | UMAP + GMM | gain of UMAP + GMM |",
             "|---|---|---|---|---|---|---|---|"]
    for f in sorted(folder.glob("*.json")):
        r = json.loads(f.read_text())
        h = r["heads"]
        own = h["paper head"]["acc"] if h.get("paper head") else None
        gain = f"{100 * (h['umap-gmm']['acc'] - own):+.1f}" if own is not None else ""
        lines.append(f"| {r['method']} | {r['dataset']} | {r['preset']}, {r['seed']} | "
                     f"{'' if own is None else f'{100 * own:.1f}'} | {100 * h['kmeans']['acc']:.1f} | "
                     f"{100 * h['gmm']['acc']:.1f} | {100 * h['umap-gmm']['acc']:.1f} | {gain} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=DEEP_METHODS)
    ap.add_argument("--datasets", nargs="+", default=["usps", "mnist-test"])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table", action="store_true", help="only print the table of the committed files")
    args = ap.parse_args(argv)
    if args.table:
        print(table())
        return 0
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    from deepclust.bench.commands import parse_key_values
    from deepclust.engine.io import write_json
    overrides = parse_key_values(args.set)
    for method in args.methods:
        for dataset in args.datasets:
            for seed in args.seeds:
                try:
                    rec = run(method, dataset, args.preset, seed, overrides)
                except Exception as e:  # one method failing must not lose the others
                    print(f"{method} {dataset} seed {seed}: FAILED {type(e).__name__}: {e}", flush=True)
                    continue
                suffix = f"-seed{seed}" if seed else ""
                write_json(OUT / f"{method}-{dataset}-{rec['preset']}{suffix}.json", rec)
                print(method, dataset, seed, {k: (v or {}).get("acc") for k, v in rec["heads"].items()},
                      f"cpu {rec['cpu_seconds']}s", flush=True)
    print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
