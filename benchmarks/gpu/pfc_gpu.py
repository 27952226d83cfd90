"""Paper-scale PFC on one lent GPU within a fixed time budget (<= 10 minutes of device time per call).

What it runs: the `paper` preset of PFC (spec 002: DIM-64 networks, batch 100, z 128, Adam 1e-4 / (0.5, 0.9),
lambda 100, 5 critic + 4 classifier steps per generator step, eta = 10 * 1.2^floor(t / 30,000); N = 900,000)
on USPS700 (paper Table V: 700 images per digit, k = 10, trained and evaluated on the same 7,000 images) or
on the 10k MNIST test images (`--data mnist-test`; the paper trains on the 60k training split, which is not
on this machine), truncated at a wall-clock budget (PFC.max_seconds): nothing else differs from the paper.
One process per seed, all started at once (the networks are small; one process is bound by kernel launches
and leaves most of an H200 idle). Every `--eval-every` iterations each seed records, labelled apart, whole-set
Hungarian ACC / NMI / ARI and the released code's "ACC" (purity averaged over batches of 100, metrics.batch_scores)
with the critic's Wasserstein estimate and C's confidence on real images (unsupervised monitors).

How many iterations fit: the script does not guess; each seed trains until its budget runs out and records
the iterations reached and iterations / s. Expect a few tens of thousands of generator iterations in 7 minutes
(the paper's run is 900,000; its authors' sample grids show digit-consistent cluster ids from ~10k), so on a
GPU the eta schedule sees at most its first one or two steps.

On a lent GPU (device tool), from the repository root. The data is not part of the repository: copy it into an
ignored folder first and carry that folder:
    mkdir -p .devdata && cp /work/shared/data/usps.h5 /work/shared/data/t10k-* .devdata/ \\
        && grep -qx '/.devdata/' .git/info/exclude || echo /.devdata/ >> .git/info/exclude
    run(carry=[".devdata"], timeout_s=560, command=
        "DEEPCLUST_DATA=$PWD/.devdata PYTHONPATH=src PYTHONUNBUFFERED=1 python3 benchmarks/gpu/pfc_gpu.py "
        "--budget-s 420 --seeds 0 1 2 --out $OUT/pfc")
    -> $OUT/pfc/gpu-usps700-paper.json (+ .png curve, per-seed sample grids; <= 8 files come back), which
       belongs in benchmarks/results/pfc/gpu/ (commit it with the code version it names).
CPU check of the same path with a tiny budget (no GPU needed):
    python benchmarks/gpu/pfc_gpu.py --tiny --out /tmp/pfc-gpu-check
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2] / "src"))
sys.path.insert(0, str(HERE.parents[1] / "diagnostics"))

METRICS = ("acc", "nmi", "ari", "purity", "batch_purity", "batch_nmi", "batch_ari")
PAPER = {"usps700": {"source": "002 Table V (USPS700, train = evaluation set), 900k iterations, 10 runs",
                     "acc": {"min": 0.933, "max": 0.985, "median": 0.981},
                     "nmi": {"min": 0.936, "max": 0.978, "median": 0.971}},
         "mnist-test": {"source": "002 Table I (MNIST: trained on 60k, evaluated on the 10k test split), 900k "
                                  "iterations, 10 runs", "acc": {"min": 0.915, "max": 0.984, "median": 0.958},
                        "nmi": {"min": 0.922, "max": 0.978, "median": 0.944}}}


def load(name):
    from deepclust.datasets import load_dataset
    from deepclust.datasets.synthetic import usps_variant
    ds = usps_variant("usps700") if name == "usps700" else load_dataset("mnist-test")
    return np.clip(np.asarray(ds.X, np.float32), 0, 1), np.asarray(ds.y), ds.n_classes


def child(a):
    """One seed: fit, score, write <out>/seed<k>.json and the sample grid."""
    import torch
    from deepclust.methods.pfc import PFC
    from deepclust.metrics import batch_scores, evaluate
    torch.backends.cudnn.benchmark = True
    if a.threads:
        torch.set_num_threads(a.threads)
    X, y, k = load(a.data)
    over = {"n_clusters": k, "random_state": a.seed, "verbose": 0, "device": a.device, "max_seconds": a.budget_s,
            "eval_every": a.eval_every, "eval_size": 10_000, "log_every": a.eval_every, "eta_step": 30_000}
    if a.tiny:  # the CPU check: same code path, small networks and data
        over.update(dim=8, batch_size=32)
        X, y = X[:600], y[:600]
    est = PFC.from_preset("paper", **over)
    t, c = time.time(), time.process_time()
    est.fit(X, y)
    sec, cpu = time.time() - t, time.process_time() - c
    final = {**evaluate(y, est.labels_), **batch_scores(y, est.labels_, 100, random_state=0)}
    out = Path(a.out)
    est.save_samples(out / f"seed{a.seed}-samples.png")
    hist = [h for h in est.history_ if h.get("phase") == "train" and "it" in h]
    res = {"seed": a.seed, "iterations": est.n_iter_, "wall_seconds": round(sec, 1), "cpu_seconds": round(cpu, 1),
           "iterations_per_second": round(est.n_iter_ / sec, 2), **{m: round(float(final[m]), 4) for m in METRICS},
           "final_fake_acc": round(float(hist[-1]["fake_acc"]), 4) if hist else None,
           "final_eta": est.eta(est.n_iter_ - 1), "curve": est.curve_,
           "trace": [{"it": h["it"], **{q: round(float(h[q]), 4) for q in ("fake_acc", "ce_g", "wdist", "eta")
                                        if q in h}} for h in hist],
           "params": {q: v for q, v in est.get_params().items() if q not in ("verbose", "random_state")},
           "device": _device(a.device)}
    (out / f"seed{a.seed}.json").write_text(json.dumps(res))
    print(f"seed {a.seed}: {est.n_iter_} it in {sec:.0f}s ({res['iterations_per_second']} it/s): ACC {final['acc']:.4f}, "
          f"batch purity {final['batch_purity']:.4f}", flush=True)


def _device(dev):
    from deepclust.bench.results import machine_description
    return machine_description(dev)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="usps700", choices=sorted(PAPER))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget-s", type=float, default=420.0, help="training seconds per seed (all run at once)")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads per process (0 = leave)")
    ap.add_argument("--out", default="benchmarks/results/pfc/gpu")
    ap.add_argument("--tiny", action="store_true", help="CPU check: 20 s per seed, DIM 8, 600 images")
    ap.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)  # child process
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.tiny:
        a.budget_s, a.eval_every, a.threads = min(a.budget_s, 20.0), 20, a.threads or 1
    if a.seed is not None:
        child(a)
        return
    t0 = time.time()
    procs = []
    for s in a.seeds:
        cmd = [sys.executable, str(HERE), "--data", a.data, "--seed", str(s), "--budget-s", str(a.budget_s),
               "--eval-every", str(a.eval_every), "--device", a.device, "--threads", str(a.threads), "--out", str(out)]
        if a.tiny:
            cmd.append("--tiny")
        procs.append(subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"}))
    rcs = [p.wait() for p in procs]
    runs = [json.loads((out / f"seed{s}.json").read_text()) for s in a.seeds if (out / f"seed{s}.json").exists()]
    from deepclust.bench.results import command_line, git_commit
    from deepclust.metrics import random_label_baseline
    _, y, k = load(a.data)
    if a.tiny:
        y = y[:600]
    base = random_label_baseline(y, k)
    name = f"gpu-{a.data}-paper" + ("-tiny-cpu-check" if a.tiny else "")
    rec = {"method": "pfc", "dataset": a.data, "preset": "paper" + (" (tiny CPU check: dim 8, batch 32, 600 images)"
                                                                   if a.tiny else ""),
           "device": runs[0]["device"] if runs else None, "seeds": [r["seed"] for r in runs],
           **{m: [r[m] for r in runs] for m in METRICS},
           "metric_labels": {"acc": "whole-set Hungarian ACC", "batch_purity": "released code's 'ACC': purity "
                             "averaged over shuffled batches of 100"},
           "random_labels": {q: round(v, 4) for q, v in base.items()},
           "epochs_or_iterations": [f"{r['iterations']} of 900,000 generator iterations (time budget "
                                    f"{a.budget_s:.0f} s per seed, seeds run concurrently)" for r in runs],
           "iterations": [r["iterations"] for r in runs], "wall_seconds": [r["wall_seconds"] for r in runs],
           "iterations_per_second": [r["iterations_per_second"] for r in runs], "return_codes": rcs,
           "total_wall_seconds": round(time.time() - t0, 1), "n_clusters": k, "runs": runs, "paper": PAPER[a.data],
           "command": command_line(), "commit": git_commit(), "date": dt.date.today().isoformat()}
    for s in a.seeds:
        (out / f"seed{s}.json").unlink(missing_ok=True)
    (out / f"{name}.json").write_text(json.dumps(rec, indent=1))
    if runs:
        from pfc_curve import plot
        plot({**rec, "preset": "paper, time-truncated"}, out / f"{name}.png")
    print(f"wrote {out / (name + '.json')} ({time.time() - t0:.0f} s); return codes {rcs}", flush=True)
    if any(rcs):
        sys.exit(1)


if __name__ == "__main__":
    main()
