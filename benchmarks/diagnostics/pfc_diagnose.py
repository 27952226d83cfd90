"""PFC at small budgets: why Artifact-MNIST stays at chance (k = 3), with cheap planted checks.

    python benchmarks/diagnostics/pfc_diagnose.py                     # all cases below, 1 thread, writes
                                                          # benchmarks/results/pfc/diagnose-artifact.json
    python benchmarks/diagnostics/pfc_diagnose.py --cases blank-paper-300 blank-fixed-eta-300

Each case fits PFC (preset cpu-compressed, the cpu preset with tau = N / 30 that these cases were run with,
unless the case says otherwise) with k = 3 on one data set and records, at
every log point, the training signals (C's accuracy on generated batches = `fake_acc`, G's cross-entropy
term, the critic's W-distance estimate, eta), the ACC of argmax C on the real images, and at the end what
G draws for each cluster id: the mean/std of the artifact pixel and the mean image intensity (real images:
`real_mean`). Data:
- "blank": 2,000 all-zero 28x28 images whose top-left pixel is 0.1 / 0.5 / 0.9 (label = that value): the
  artifact is the only thing that varies, so the only uniform 3-valued feature is the target partition;
- "mnist": Artifact-MNIST as in benchmarks/pfc_paper.py (the 10k MNIST test digits + the pixel).
Not a benchmark of the paper's numbers (those are in pfc_paper.py's records); a diagnosis of the budget.
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepclust.bench.results import RESULTS_DIR, command_line, git_commit, machine_description
from deepclust.engine.io import write_json
from deepclust.methods.pfc import PFC
from deepclust.metrics import acc

FIXED = 10 ** 9  # eta_step larger than any run: eta = eta0 = 10 throughout
CASES = {
    # name: (data, n_iter, overrides of the cpu-compressed preset, what it tests)
    "blank-paper-300": ("blank", 300, {}, "tau = N / 30 (cpu-compressed): eta 10 -> 1,667 within 300 iterations"),
    "blank-fixed-eta-300": ("blank", 300, {"eta_step": FIXED}, "eta fixed at 10 (the paper's first 30k iterations)"),
    "blank-fixed-eta-lr1e-3-1000": ("blank", 1000, {"eta_step": FIXED, "lr": 1e-3},
                                    "eta fixed at 10 and Adam lr 1e-3 (10x the paper's)"),
    "mnist-fixed-eta-lr1e-3-1500": ("mnist", 1500, {"eta_step": FIXED, "lr": 1e-3},
                                    "Artifact-MNIST, eta fixed at 10 and Adam lr 1e-3"),
}


def data(name):
    if name == "blank":
        rng = np.random.default_rng(0)
        y = rng.integers(0, 3, 2000)
        X = np.zeros((2000, 1, 28, 28), np.float32)
        X[:, 0, 0, 0] = np.array([0.1, 0.5, 0.9], np.float32)[y]
        return X, y
    from deepclust.datasets.synthetic import artifact_mnist
    ds = artifact_mnist("mnist-test")
    return ds.X, ds.y


def run(case, seed=0):
    dname, n_iter, over, what = CASES[case]
    X, y = data(dname)
    est = PFC.from_preset("cpu-compressed", n_clusters=3, n_iter=n_iter, random_state=seed, verbose=0, device="cpu",
                          log_every=max(1, n_iter // 10), eval_every=max(1, n_iter // 10), **over)
    t = time.time()
    est.fit(X, y)
    sec = time.time() - t
    keys = ("fake_acc", "ce_g", "loss_g_adv", "wdist", "eta", "acc")
    trace = [{"it": h["it"], **{k: round(float(h[k]), 4) for k in keys if k in h}}
             for h in est.history_ if h.get("phase") == "train" and "it" in h]
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        yy = torch.arange(3).repeat_interleave(200)
        xs = est.generator_(torch.randn(len(yy), est.z_dim, generator=g), F.one_hot(yy, 3).float())
    per_id = [{"id": j, "artifact_pixel_mean": round(float(xs[yy == j, 0, 0, 0].mean()), 4),
               "artifact_pixel_std": round(float(xs[yy == j, 0, 0, 0].std()), 4),
               "image_mean": round(float(xs[yy == j].mean()), 4)} for j in range(3)]
    cont = np.bincount(est.labels_ * 3 + y, minlength=9).reshape(3, 3)
    res = {"case": case, "data": dname, "what": what, "n_iter": n_iter, "overrides": over, "seed": seed,
           "seconds": round(sec, 1), "acc": round(float(acc(y, est.labels_)), 4),
           "real_mean": round(float(X.mean()), 4), "generated_by_id": per_id,
           "contingency_cluster_x_artifact": cont.tolist(), "trace": trace}
    print(f"{case}: acc={res['acc']} fake_acc={trace[-1]['fake_acc']} wdist={trace[-1]['wdist']} "
          f"G by id={per_id} real mean={res['real_mean']} ({sec:.0f}s)", flush=True)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(Path(RESULTS_DIR) / "pfc" / "diagnose-artifact.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    out = {"what": __doc__.split("\n")[0], "device": machine_description("cpu"), "preset": "cpu",
           "cases": [], "command": command_line(), "commit": git_commit(), "date": dt.date.today().isoformat()}
    for c in a.cases:
        out["cases"].append(run(c))
        write_json(a.out, out)  # after each case: a crash keeps the finished ones
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
