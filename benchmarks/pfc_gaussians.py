"""PFC on the 8-Gaussian 2-D mixture with m = 0, 1, 2 noise inputs to G (paper §IV-B; spec §6).

    python benchmarks/pfc_gaussians.py [--m 0 1 2] [--seeds 0] [--n-iter 600] [--preset gaussians]

Networks are the paper's fully connected ones (G: (m + 8)-512-512-512-2, D: 2-512-512-512-1,
C: 2-512-512-512-8). The paper gives no hyperparameters for this experiment (spec §9.6); the
"gaussians" preset keeps Algorithm 1 (5 critic / 4 classifier steps, lambda 100, eta0 10, gamma 1.2,
tau = N / 30) with batch 256 and a short N. Training uses n_train points drawn from the mixture;
ACC/NMI/ARI are measured on fresh points (another seed) with argmax C. Writes
benchmarks/results/pfc/8gaussians-m<m>.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import torch

from deepclust.bench.results import RESULTS_DIR, command_line, git_commit, machine_description
from deepclust.datasets.synthetic import eight_gaussians
from deepclust.engine.io import write_json
from deepclust.methods.pfc import PFC
from deepclust.metrics import evaluate


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--m", type=int, nargs="+", default=[0, 1, 2], help="noise inputs of G")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--preset", default="gaussians")
    ap.add_argument("--n-iter", type=int, default=None, help="override the preset's generator iterations")
    ap.add_argument("--lr", type=float, default=None, help="override Adam's learning rate (paper: 1e-4)")
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--n-test", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS_DIR))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    test = eight_gaussians(a.n_test, seed=12345)
    for m in a.m:
        runs = []
        for seed in a.seeds:
            train = eight_gaussians(a.n_train, seed=seed)
            over = {"n_clusters": 8, "z_dim": m, "random_state": seed, "verbose": 0, "device": "cpu"}
            if a.n_iter:
                over["n_iter"] = a.n_iter
            if a.lr:
                over["lr"] = a.lr
            est = PFC.from_preset(a.preset, **over)
            t = time.time()
            est.fit(train.X, train.y)
            sec = time.time() - t
            met = evaluate(test.y, est.predict(test.X))
            last = est.history_[-1]
            runs.append({"seed": seed, "seconds": round(sec, 1), "iterations": est.n_iter_,
                         **{k: round(float(v), 4) for k, v in met.items()},
                         "train_acc": round(float(evaluate(train.y, est.labels_)["acc"]), 4),
                         "final_wdist": round(last["wdist"], 4), "final_fake_acc": round(last["fake_acc"], 4),
                         "curve_train_subset": est.curve_})
            est.save_samples(Path(a.out) / "pfc" / f"8gaussians-m{m}-seed{seed}-samples.png", n_per_cluster=200)
            print(f"m={m} seed={seed}: acc={met['acc']:.4f} nmi={met['nmi']:.4f} ari={met['ari']:.4f} "
                  f"({est.n_iter_} it, {sec:.0f}s, {est.n_iter_ / sec:.2f} it/s)", flush=True)
        params = {k: v for k, v in est.get_params().items() if k not in ("verbose", "random_state")}
        rec = {"method": "pfc", "dataset": "8gaussians", "preset": a.preset, "m_noise_inputs": m,
               "device": machine_description("cpu"), "seeds": a.seeds,
               **{k: [r[k] for r in runs] for k in ("acc", "nmi", "ari")},
               "median": {k: float(np.median([r[k] for r in runs])) for k in ("acc", "nmi", "ari")},
               "epochs_or_iterations": f"{runs[0]['iterations']} generator iterations "
                                       f"({est.n_critic} critic + {est.n_class} classifier steps each)",
               "wall_seconds": [r["seconds"] for r in runs],
               "iterations_per_second": [round(r["iterations"] / r["seconds"], 3) for r in runs],
               "eval": f"{a.n_test} fresh points (seed 12345); trained on {a.n_train} points (seed = run seed)",
               "runs": runs, "params": params,
               "paper": {"claim": "m in {0, 1, 2, 4}: clusters by blob centre; no numbers reported (plots in the "
                                  "unavailable supplement)", "source": "002 §IV-B"},
               "command": command_line(), "commit": git_commit(), "date": dt.date.today().isoformat()}
        write_json(Path(a.out) / "pfc" / f"8gaussians-m{m}.json", rec)
        print(f"wrote {Path(a.out) / 'pfc' / f'8gaussians-m{m}.json'}")


if __name__ == "__main__":
    main()
