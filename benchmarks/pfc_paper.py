"""PFC on the paper's image benchmarks: ACC/NMI/ARI against generator iterations, min/median/max over seeds,
next to the paper's Tables I (MNIST), II (Fashion-MNIST), III (Artifact-MNIST, k = 3) and V (USPS700).

    python benchmarks/pfc_paper.py --datasets usps700 mnist-test --preset cpu --seeds 0 1 2 [--n-iter N]
    python benchmarks/pfc_paper.py --throughput usps700 mnist-test      # generator iterations / s only

Data (all in [0, 1]): usps700 = 700 images per digit from USPS train + test, trained and evaluated on the
same images (as the paper); mnist-test = the 10k MNIST test images, trained and evaluated on them
(the paper trains on the 60k training images and evaluates on the test split); fashion-mnist = its 10k
test split (same caveat); artifact-mnist = mnist-test with the 3-valued top-left pixel, k = 3.
Paper numbers: 900,000 generator iterations per run on one GTX 1080 Ti (~38 h), 10 runs. Ours: the
preset's iterations on this CPU -- both are written into every result. Writes
benchmarks/results/pfc/<dataset>-<preset>.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import torch

from deepclust.bench.results import RESULTS_DIR, command_line, git_commit, machine_description
from deepclust.engine.io import write_json
from deepclust.methods.pfc import PFC
from deepclust.metrics import batch_scores, evaluate, random_label_baseline

PAPER_RUN = {"iterations": 900_000, "device": "NVIDIA GTX 1080 Ti (TensorFlow 1.2)", "runs": 10}
PAPER = {  # spec 002 §8 (min, max, median over 10 runs)
    "mnist-test": {"source": "002 Table I (MNIST: train 60k, evaluate on the 10k test split)",
                   "acc": (0.915, 0.984, 0.958), "nmi": (0.922, 0.978, 0.944), "ari": (0.855, 0.951, 0.912)},
    "fashion-mnist": {"source": "002 Table II (Fashion-MNIST: train 60k, evaluate on the 10k test split)",
                      "acc": (0.685, 0.754, 0.721), "nmi": (0.689, 0.749, 0.719), "ari": (0.524, 0.589, 0.555)},
    "artifact-mnist": {"source": "002 Table III (Artifact-MNIST, k = 3)",
                       "acc": (0.467, 1.000, 1.000), "nmi": (0.051, 1.000, 1.000), "ari": (0.036, 1.000, 1.000)},
    "usps700": {"source": "002 Table V (USPS700, train = evaluation set)",
                "acc": (0.933, 0.985, 0.981), "nmi": (0.936, 0.978, 0.971), "ari": (0.885, 0.967, 0.957)},
}


def paper_block(name) -> dict:
    """The paper's numbers for a record: acc/nmi/ari = the median over its 10 runs (what RESULTS.md compares
    with our median, `statistic`), min and max beside them."""
    p = PAPER[name]
    return {**{m: p[m][2] for m in ("acc", "nmi", "ari")}, "statistic": "median",
            "min": {m: p[m][0] for m in ("acc", "nmi", "ari")}, "max": {m: p[m][1] for m in ("acc", "nmi", "ari")},
            "source": p["source"], **PAPER_RUN}


def load(name):
    from deepclust.datasets import load_dataset
    from deepclust.datasets.synthetic import artifact_mnist, usps_variant
    if name == "usps700":
        return usps_variant("usps700")
    if name == "artifact-mnist":
        return artifact_mnist("mnist-test")
    if name == "fashion-mnist":
        return load_dataset("fashion-mnist", split="test")
    return load_dataset(name)


def _stats(v):
    return {"min": round(float(np.min(v)), 4), "median": round(float(np.median(v)), 4),
            "max": round(float(np.max(v)), 4)}


BATCH_KEYS = ("purity", "batch_purity", "batch_nmi", "batch_ari")
METRIC_LABELS = {"acc": "whole-set Hungarian ACC (one-to-one; primary)", "purity": "whole-set purity (many-to-one)",
                 "batch_purity": "the released code's 'ACC': purity averaged over shuffled batches of 100 "
                                 "(metrics.batch_scores); whether the paper's tables use it is not stated (spec §9.12)",
                 "batch_nmi": "the released code's NMI: averaged over batches of 100",
                 "batch_ari": "the released code's ARI: averaged over batches of 100"}
TRACE_KEYS = ("fake_acc", "loss_c", "ce_g", "loss_g_adv", "wdist", "gp", "eta")


def _trace(history):
    """The training signals at each log point (means over the log_every iterations before it): C's accuracy and
    loss on generated batches, G's cross-entropy and adversarial terms, the critic's W-distance estimate, eta."""
    return [{"it": h["it"], **{k: round(float(h[k]), 4) for k in TRACE_KEYS if k in h}}
            for h in history if h.get("phase") == "train" and "it" in h]


def throughput(names, n_iter, preset):
    out = {}
    for name in names:
        ds = load(name)
        row = {}
        for p in (preset, "paper"):
            est = PFC.from_preset(p, n_clusters=ds.n_classes, n_iter=n_iter, eval_every=0, verbose=0, device="cpu")
            t = time.time()
            est.fit(ds.X[:2000], None)
            row[p] = round(n_iter / (time.time() - t), 4)
        out[name] = row
        print(f"{name}: generator iterations/s {row}", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["usps700", "mnist-test"], choices=sorted(PAPER))
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--n-iter", type=int, default=None, help="override the preset's generator iterations")
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--eta-step", type=int, default=None,
                    help="tau, the eta step interval (default: the preset's: 30,000 for cpu / smoke, n_iter // 30 for "
                         "paper and cpu-compressed); a value above n_iter keeps eta = eta0 = 10 throughout, as in the "
                         "paper's first 30,000 iterations")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--throughput", nargs="*", default=None, metavar="DATASET",
                    help="only measure generator iterations/s (preset and paper networks) and write throughput.json")
    ap.add_argument("--out", default=str(RESULTS_DIR))
    ap.add_argument("--tag", default=None,
                    help="suffix of the result file (<dataset>-<preset>-<tag>.json), e.g. a longer run beside the default one")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.throughput is not None:
        n = a.n_iter or 5
        res = throughput(a.throughput or a.datasets, n, a.preset)
        write_json(Path(a.out) / "pfc" / "throughput.json",
                   {"method": "pfc", "what": "generator iterations per second (each = 5 critic + 4 classifier + "
                    "1 generator steps), fit on 2,000 images", "preset_vs_paper_networks": res,
                    "iterations_timed": n, "device": machine_description("cpu"),
                    "note": "shared 2-core machine with other jobs running (time per iteration is an upper bound); the timing "
                    "includes building the networks and one prediction pass over the 2,000 images",
                    "paper": "~0.15 s per iteration (38 h / 900k) on a GTX 1080 Ti (spec §10)",
                    "command": command_line(), "commit": git_commit(), "date": dt.date.today().isoformat()})
        return
    suffix = f"-{a.tag}" if a.tag else ""
    for name in a.datasets:
        ds = load(name)
        runs = []
        for seed in a.seeds:
            over = {"n_clusters": ds.n_classes, "random_state": seed, "verbose": 0, "device": "cpu"}
            if a.n_iter:
                over["n_iter"] = a.n_iter
            if a.eval_every is not None:
                over["eval_every"] = a.eval_every
            if a.eta_step is not None:
                over["eta_step"] = a.eta_step
            est = PFC.from_preset(a.preset, **over)
            t = time.time()
            est.fit(ds.X, ds.y)
            sec = time.time() - t
            met = {**evaluate(ds.y, est.labels_), **batch_scores(ds.y, est.labels_, 100, random_state=0)}
            runs.append({"seed": seed, "seconds": round(sec, 1), "iterations": est.n_iter_,
                         **{k: round(float(v), 4) for k, v in met.items()},
                         "final_fake_acc": round(est.history_[-1]["fake_acc"], 4),
                         "final_wdist": round(est.history_[-1]["wdist"], 4), "curve": est.curve_,
                         "trace": _trace(est.history_)})
            est.save_samples(Path(a.out) / "pfc" / f"{name}-{a.preset}{suffix}-seed{seed}-samples.png")
            print(f"{name} seed={seed}: acc={met['acc']:.4f} nmi={met['nmi']:.4f} ari={met['ari']:.4f} "
                  f"({est.n_iter_} it in {sec:.0f}s = {est.n_iter_ / sec:.3f} it/s)", flush=True)
        its = sorted({c["it"] for r in runs for c in r["curve"]})
        curve = [{"it": it, **{m: _stats([c[m] for r in runs for c in r["curve"] if c["it"] == it])
                               for m in ("acc", "nmi", "ari")}} for it in its]
        params = {k: v for k, v in est.get_params().items() if k not in ("verbose", "random_state")}
        p = PAPER[name]
        rec = {"method": "pfc", "dataset": name, "preset": a.preset, "device": machine_description("cpu"),
               "seeds": a.seeds, **{m: [r[m] for r in runs] for m in ("acc", "nmi", "ari")},
               **{m: [r[m] for r in runs] for m in BATCH_KEYS},
               "metric_labels": METRIC_LABELS,
               "random_labels": {m: round(v, 4) for m, v in random_label_baseline(ds.y, ds.n_classes).items()},
               "ours": {m: _stats([r[m] for r in runs]) for m in ("acc", "nmi", "ari")},
               "ours_run": {"iterations": runs[0]["iterations"], "device": machine_description("cpu"),
                            "runs": len(runs)},
               "epochs_or_iterations": f"{runs[0]['iterations']} generator iterations"
                                       + (f", eta_step {a.eta_step}" if a.eta_step is not None else ""),
               "wall_seconds": [r["seconds"] for r in runs],
               "iterations_per_second": [round(r["iterations"] / r["seconds"], 4) for r in runs],
               "curve": curve, "curve_eval": f"ACC/NMI/ARI of argmax C on a fixed random subset of "
                                             f"{min(est.eval_size, len(ds.X))} of the {len(ds.X)} images; the "
                                             "final numbers use all of them",
               "runs": runs, "params": params, "n_samples": len(ds.X), "dataset_meta_source": ds.meta.get("source"),
               "median": {m: round(float(np.median([r[m] for r in runs])), 4) for m in ("acc", "nmi", "ari")},
               "paper": paper_block(name),
               "gap": {m: round(float(np.median([r[m] for r in runs])) - p[m][2], 4) for m in ("acc", "nmi", "ari")},
               "command": command_line(), "commit": git_commit(), "date": dt.date.today().isoformat()}
        if a.tag:
            rec["tag"] = a.tag
        write_json(Path(a.out) / "pfc" / f"{name}-{a.preset}{suffix}.json", rec)
        print(f"wrote {Path(a.out) / 'pfc' / f'{name}-{a.preset}{suffix}.json'}")


if __name__ == "__main__":
    main()
