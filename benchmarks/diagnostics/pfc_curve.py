"""PFC learning curve at a scale a CPU can reach: does ACC rise with generator iterations?

    python benchmarks/diagnostics/pfc_curve.py --data usps700-012 --seeds 0 1 2          # preset cpu-flat
    python benchmarks/diagnostics/pfc_curve.py --plot-only benchmarks/results/pfc/curve-usps700-012-cpu-flat.json

Setting (scaled down from the paper's 900k iterations of DIM-64 networks on 10 clusters): 16x16 images,
3 clusters, the `cpu-flat` preset (DIM 8, batch 32, the paper's optimiser, lambda, eta0 = 10, gamma = 1.2 and
its ABSOLUTE tau = 30,000, so eta stays 10 as in the paper's first 30k iterations). Data:
- usps700-012: the USPS700 images (paper Table V; 700 per digit, train = evaluation set) of digits 0, 1, 2
  (2,100 images, native 16x16);
- mnist-012: the MNIST test digits 0, 1, 2 (3,147 images) resized to 16x16.
Training runs until the unsupervised monitors are flat (PFC._is_flat: the critic's Wasserstein estimate and
C's mean confidence on real images change by < 5 % between consecutive 2,500-iteration windows, for a whole
window), at most 30,000 iterations. Labels only score: along the curve (every 250 iterations, on a fixed
subset of <= 2,000 images) and at the end (all images) we record whole-set Hungarian ACC, NMI, ARI and,
labelled apart, the released code's "ACC" = purity averaged over batches of 100 (`batch_purity`; also
batch NMI / ARI), with the random-labels value of every metric. Writes
benchmarks/results/pfc/curve-<data>-<preset>.json (+ .png, + the final sample grid per seed) after each seed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import torch

from deepclust.bench.results import RESULTS_DIR, command_line, git_commit, machine_description
from deepclust.engine.io import write_json
from deepclust.methods.pfc import PFC
from deepclust.metrics import batch_scores, evaluate, random_label_baseline

METRICS = ("acc", "nmi", "ari", "purity", "batch_purity", "batch_nmi", "batch_ari")
PAPER_CONTEXT = {  # not the same setting: printed for orientation only
    "usps700-012": "paper Table V (USPS700, all 10 digits, DIM 64, 900k iterations, 10 runs): ACC min / max / "
                   "median 0.933 / 0.985 / 0.981; the released code's authors' sample grids (MNIST) show cluster "
                   "ids consistent with digits from ~10k iterations",
    "mnist-012": "paper Table I (MNIST, 10 digits, 900k iterations): ACC 0.915 / 0.984 / 0.958",
}


def load(name):
    from deepclust.datasets import load_dataset
    from deepclust.datasets.synthetic import usps_variant
    if name == "usps700-012":
        ds = usps_variant("usps700")
    elif name == "mnist-012":
        ds = load_dataset("mnist-test", resize=16)
    else:
        raise SystemExit(f"unknown data {name!r}")
    keep = ds.y < 3
    X = np.clip(np.asarray(ds.X[keep], np.float32), 0, 1)
    return X, np.asarray(ds.y[keep]), ds.meta.get("source", ds.name)


def _r(v):
    return None if v is None else round(float(v), 4)


def run_seed(X, y, preset, seed, over, sample_path):
    est = PFC.from_preset(preset, n_clusters=3, random_state=seed, verbose=0, device="cpu", **over)
    t, c = time.time(), time.process_time()
    est.fit(X, y)
    sec, cpu = time.time() - t, time.process_time() - c
    final = {**evaluate(y, est.labels_), **batch_scores(y, est.labels_, 100, random_state=0)}
    est.save_samples(sample_path)
    hist = [h for h in est.history_ if h.get("phase") == "train" and "it" in h]
    trace = [{"it": h["it"], **{k: _r(h[k]) for k in ("fake_acc", "ce_g", "wdist", "eta") if k in h}} for h in hist]
    flat = est.n_iter_ < est.n_iter and bool(est.curve_) and est._is_flat(est.curve_)
    stop = "monitors flat" if flat else ("time cap (max_seconds)" if est.n_iter_ < est.n_iter else "iteration cap")
    res = {"seed": seed, "iterations": est.n_iter_, "stopped_by_rule": flat, "stop_reason": stop,
           "wall_seconds": round(sec, 1), "cpu_seconds": round(cpu, 1),
           **{m: _r(final[m]) for m in METRICS},
           "final_fake_acc": _r(hist[-1]["fake_acc"]) if hist else None,
           "curve": [{k: _r(v) if k != "it" else v for k, v in row.items()} for row in est.curve_],
           "trace": trace, "samples_png": str(sample_path)}
    print(f"seed {seed}: {est.n_iter_} it ({stop}) in {sec:.0f}s wall / "
          f"{cpu:.0f}s cpu; ACC {final['acc']:.4f}, batch purity {final['batch_purity']:.4f}, "
          f"NMI {final['nmi']:.4f}", flush=True)
    return res, est


def references(X, y, preset, seeds):
    """Label-free reference partitions of the same images, scored like PFC: k-means on the pixels (sklearn,
    n_init 10) and argmax of C after a single generator iteration (~an untrained classifier: a random network
    already splits digits 0 / 1 / 2 far from chance, mostly by ink)."""
    from sklearn.cluster import KMeans
    out = {}
    km = [KMeans(3, n_init=10, random_state=s).fit_predict(X.reshape(len(X), -1)) for s in seeds]
    out["kmeans_pixels"] = {m: _r(np.median([evaluate(y, lab)[m] for lab in km])) for m in ("acc", "nmi")}
    out["kmeans_pixels"]["batch_purity"] = _r(np.median([batch_scores(y, lab)["batch_purity"] for lab in km]))
    one = [PFC.from_preset(preset, n_clusters=3, n_iter=1, eval_every=0, flat_window=0, random_state=s, verbose=0,
                           device="cpu").fit(X).labels_ for s in seeds]
    out["pfc_after_1_iteration"] = {m: [_r(evaluate(y, lab)[m]) for lab in one] for m in ("acc", "nmi")}
    out["pfc_after_1_iteration"]["batch_purity"] = [_r(batch_scores(y, lab)["batch_purity"]) for lab in one]
    out["note"] = " ".join(references.__doc__.split())
    return out


def plot(rec, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    base = rec["random_labels"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(rec["runs"]):
        its = [c["it"] for c in r["curve"]]
        col = colors[i % len(colors)]
        axes[0].plot(its, [c["acc"] for c in r["curve"]], color=col, label=f"seed {r['seed']} ACC (Hungarian)")
        axes[0].plot(its, [c["batch_purity"] for c in r["curve"]], color=col, ls="--",
                     label=f"seed {r['seed']} batch purity (code's)")
        axes[1].plot(its, [c["wdist_mean"] for c in r["curve"]], color=col, label=f"seed {r['seed']}")
        axes[2].plot(its, [c["real_conf"] for c in r["curve"]], color=col, label=f"seed {r['seed']}")
        for ax in axes:
            ax.axvline(r["iterations"], color=col, lw=0.8, ls=":")
    axes[0].axhline(base["acc"], color="k", lw=0.8, label=f"random labels: ACC {base['acc']:.3f}")
    axes[0].axhline(base["batch_purity"], color="k", lw=0.8, ls="--",
                    label=f"random labels: batch purity {base['batch_purity']:.3f}")
    km = rec.get("references", {}).get("kmeans_pixels")
    if km:
        axes[0].axhline(km["acc"], color="grey", lw=0.8, ls="-.", label=f"k-means on pixels: ACC {km['acc']:.3f}")
    axes[0].set_ylim(0, 1.02)
    axes[0].set_title(f"PFC, {rec['dataset']} (k = {rec.get('n_clusters', 3)}), preset {rec['preset']}: labels only "
                      "score", fontsize=9)
    axes[1].set_title("critic's Wasserstein estimate (mean since last reading)", fontsize=9)
    axes[2].set_title("C's mean max q(y|x) on real images", fontsize=9)
    for ax in axes:
        ax.set_xlabel("generator iterations (dotted: stop)")
    axes[0].legend(fontsize=6, loc="lower right")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="usps700-012", choices=sorted(PAPER_CONTEXT))
    ap.add_argument("--preset", default="cpu-flat")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--n-iter", type=int, default=None, help="cap on generator iterations (default: the preset's)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="wall-clock cap on each seed's training loop (PFC.max_seconds; the record states the "
                         "iterations actually run)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(Path(RESULTS_DIR) / "pfc"))
    ap.add_argument("--tag", default=None)
    ap.add_argument("--plot-only", default=None, metavar="JSON", help="redraw the PNG of a written record")
    ap.add_argument("--merge", action="store_true",
                    help="add these seeds to an existing record of the same name (same preset and overrides)")
    a = ap.parse_args(argv)
    if a.plot_only:
        rec = json.loads(Path(a.plot_only).read_text())
        plot(rec, Path(a.plot_only).with_suffix(".png"))
        return
    torch.set_num_threads(a.threads)
    X, y, source = load(a.data)
    name = f"curve-{a.data}-{a.preset}" + (f"-{a.tag}" if a.tag else "")
    out = Path(a.out)
    over = {"n_iter": a.n_iter} if a.n_iter else {}
    if a.max_seconds:
        over["max_seconds"] = a.max_seconds
    base = random_label_baseline(y, 3)
    runs, commands = [], [command_line()]
    if a.merge and (out / f"{name}.json").exists():
        old = json.loads((out / f"{name}.json").read_text())
        runs = [r for r in old["runs"] if r["seed"] not in a.seeds]
        commands = [*(old["command"] if isinstance(old["command"], list) else [old["command"]]), command_line()]
    refs = references(X, y, a.preset, sorted({*a.seeds, *(r["seed"] for r in runs)}))
    print(f"references: {refs}", flush=True)
    for seed in a.seeds:
        res, est = run_seed(X, y, a.preset, seed, over, out / f"{name}-seed{seed}-samples.png")
        runs = sorted([*runs, res], key=lambda r: r["seed"])
        params = {k: v for k, v in est.get_params().items() if k not in ("verbose", "random_state")}
        rec = {"method": "pfc", "dataset": a.data, "preset": a.preset, "device": machine_description("cpu"),
               "seeds": [r["seed"] for r in runs], **{m: [r[m] for r in runs] for m in METRICS},
               "metric_labels": {"acc": "whole-set Hungarian ACC (one-to-one), primary",
                                 "purity": "whole-set purity (many-to-one)",
                                 "batch_purity": "the released code's 'ACC': purity averaged over shuffled "
                                                 "batches of 100 (metrics.batch_scores)",
                                 "batch_nmi": "the released code's NMI: averaged over batches of 100",
                                 "batch_ari": "the released code's ARI: averaged over batches of 100"},
               "random_labels": {k: round(v, 4) for k, v in base.items()},
               "epochs_or_iterations": [f"{r['iterations']} generator iterations "
                                        f"({r.get('stop_reason', 'monitors flat' if r['stopped_by_rule'] else 'cap reached')})"
                                        for r in runs],
               "iterations": [r["iterations"] for r in runs],
               "wall_seconds": [r["wall_seconds"] for r in runs], "cpu_seconds": [r["cpu_seconds"] for r in runs],
               "stopping_rule": " ".join((PFC._is_flat.__doc__ or "").split()),
               "references": refs,
               "curve_eval": f"every {params['eval_every']} iterations on a fixed random subset of "
                             f"{min(params['eval_size'], len(y))} of the {len(y)} images; final numbers on all",
               "runs": runs, "params": params, "n_clusters": 3, "n_samples": int(len(y)), "class_counts": np.bincount(y).tolist(),
               "dataset_source": f"{source}, digits 0-2", "paper": {"note": PAPER_CONTEXT[a.data]},
               "command": commands if len(commands) > 1 else commands[0], "commit": git_commit(),
               "date": dt.date.today().isoformat()}
        write_json(out / f"{name}.json", rec)
        plot(rec, out / f"{name}.png")
    print(f"wrote {out / (name + '.json')}")


if __name__ == "__main__":
    main()
