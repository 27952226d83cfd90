"""DCAN diagnosis for docs/reproductions/004_dcan.md (issue 15): paper-literal vs repaired, one seed.

For each dataset (USPS, MNIST-test 14x14) and each of
  paper     -- the `paper` preset (positives from Gaussians re-fitted to the codes' clusters every step);
  repaired  -- the `repaired` preset (fixed per-cluster Gaussians set once after AE pretraining);
  oracle    -- the repaired preset with the fixed target placed at the CLASS means of the pretrained codes
               (uses labels: a diagnostic ceiling of the adversarial pull, never a method)
  spectral  -- the repaired preset with the fixed target set from a 10-NN spectral clustering of the
               pretrained codes instead of k-means (label-free)
it trains `--iters` iterations, logging every `--every`: ACC of the codes' assignment to the current
centres (labels only score), D(real), D(fake), the drift of the target means from their start, the
fraction of saturated code entries (|z| > 0.99) and the silhouette of the codes (label-free).
Writes benchmarks/results/dcan/diagnose-<dataset>.json and the plots docs/reproductions/img/004_*.png.

usage: python benchmarks/diagnostics/dcan_diagnose.py [--datasets usps mnist-test] [--iters 3000] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from deepclust.bench.results import machine_description
from deepclust.datasets import load_dataset
from deepclust.methods import dcan as dcan_mod
from deepclust.methods.dcan import DCAN, sample_real
from deepclust.metrics import acc

torch.set_num_threads(1)
DATA = {"usps": {"flatten": True}, "mnist-test": {"resize": 14, "resize_method": "area", "flatten": True}}
OUT = Path("benchmarks/results/dcan")
IMG = Path("docs/reproductions/img")


class Probe:
    """Wraps DCAN._train_step: every `every` steps records target drift, codes' saturation, silhouette."""

    def __init__(self, X, y, every):
        self.X, self.y, self.every, self.rows, self.eta0 = X, y, every, [], None
        self.sub = np.random.default_rng(0).choice(len(X), min(2000, len(X)), replace=False)

    def wrap(self, real_step):
        probe = self

        def step(est, fit, s, i, xb, gen):
            if probe.eta0 is None:
                probe.eta0 = s.eta.clone()
            out = real_step(est, fit, s, i, xb, gen)
            if (i + 1) % probe.every == 0 or i == 0:
                probe.record(est, fit, s, i + 1, out)
            return out
        return step

    @torch.no_grad()
    def record(self, est, fit, s, it, out):
        from sklearn.metrics import silhouette_score
        enc = s.ae.encoder
        was = enc.training
        enc.eval()
        z = enc(torch.as_tensor(self.X, device=fit.device)).float()
        enc.train(was)
        lab = dcan_mod.assign_clusters(z, s.eta, s.var, est.assign).cpu().numpy()
        zs = z.cpu().numpy()
        sil = float(silhouette_score(zs[self.sub], lab[self.sub])) if len(np.unique(lab[self.sub])) > 1 else float("nan")
        self.rows.append({"it": it, "acc": float(acc(self.y, lab)), "d_real": float(out["d_real"]),
                          "d_fake": float(out["d_fake"]), "loss_d": float(out["loss_d"]),
                          "drift": float((s.eta - self.eta0).norm(dim=1).mean()),
                          "saturated": float((z.abs() > 0.99).float().mean()), "silhouette": sil,
                          "n_clusters_used": int(len(np.unique(lab)))})


def spectral_init(z, k, seed):
    """10-NN spectral clustering of the pretrained codes (scikit-learn; label-free), as the initial partition
    that sets the fixed target, instead of k-means. The library's shared head (engine.heads, "spectral")
    is not on this branch yet, so this calls scikit-learn directly."""
    from sklearn.cluster import SpectralClustering
    from deepclust.engine.assignment import cluster_means
    Z = z.detach().float().cpu().numpy()
    lab = SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=10, random_state=seed,
                             assign_labels="kmeans").fit_predict(Z).astype(np.int64)
    return cluster_means(Z, lab, k).astype(np.float32), lab


def run(X, y, preset, iters, every, seed, oracle=False, spectral=False):
    probe = Probe(X, y, every)
    real_step = DCAN._train_step
    real_kmeans = dcan_mod.kmeans
    DCAN._train_step = probe.wrap(real_step)
    if oracle:  # the fixed target at the class means of the (pretrained) codes: labels used, diagnosis only
        calls = []

        def class_means(z, k, **kw):  # the initial clustering only; the final k-means stays real
            calls.append(1)
            if len(calls) > 1:
                return real_kmeans(z, k, **kw)
            Z = z.detach().float().cpu().numpy()
            c = np.stack([Z[y == j].mean(0) for j in range(k)]).astype(np.float32)
            return c, y.astype(np.int64)
        dcan_mod.kmeans = class_means
    if spectral:
        calls_s = []

        def spec(z, k, **kw):
            calls_s.append(1)
            return real_kmeans(z, k, **kw) if len(calls_s) > 1 else spectral_init(z, k, seed)
        dcan_mod.kmeans = spec
    try:
        t, c = time.time(), time.process_time()
        m = DCAN.from_preset(preset, n_clusters=10, n_iter=iters, random_state=seed, verbose=0,
                             log_every=max(every, 1)).fit(X, y)
        wall, cpu = time.time() - t, time.process_time() - c
    finally:
        DCAN._train_step, dcan_mod.kmeans = real_step, real_kmeans
    init = [r for r in m.history_ if r.get("phase") == "init" and "acc" in r]
    Z = m.transform(X)
    sub = np.random.default_rng(1).choice(len(X), min(1500, len(X)), replace=False)
    k = dcan_mod.assign_clusters(torch.as_tensor(Z[sub]), torch.as_tensor(m.train_centers_),
                                 torch.as_tensor(m.train_variances_))
    pos = sample_real(torch.as_tensor(m.train_centers_), torch.as_tensor(m.train_variances_), k,
                      torch.Generator().manual_seed(0)).numpy()
    return {"preset": preset + ("+oracle-target" if oracle else "") + ("+spectral-target" if spectral else ""), "final_kmeans_acc": float(acc(y, m.labels_)),
            "init_acc": init[0]["acc"] if init else None, "curve": probe.rows, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1)}, (Z[sub], pos, y[sub])


def plots(ds, res, clouds):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    IMG.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    for r in res:
        c = r["curve"]
        it = [p["it"] for p in c]
        ax[0].plot(it, [p["acc"] for p in c], label=r["preset"])
        ax[1].plot(it, [p["d_real"] for p in c], label=f"{r['preset']} D(real)")
        ax[1].plot(it, [p["d_fake"] for p in c], "--", label=f"{r['preset']} D(fake)")
        ax[2].plot(it, [p["saturated"] for p in c], label=f"{r['preset']} saturated")
        ax[2].plot(it, [p["drift"] for p in c], ":", label=f"{r['preset']} target drift")
    ax[0].set(title=f"{ds}: ACC of the codes (nearest target centre)", xlabel="iteration", ylabel="ACC")
    ax[1].set(title="discriminator outputs", xlabel="iteration")
    ax[2].set(title="saturated code entries (|z|>0.99) / mean drift of target means", xlabel="iteration")
    for a in ax:
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(IMG / f"004_{ds}_curves.png", dpi=90)
    plt.close(fig)
    from sklearn.decomposition import PCA
    fig, ax = plt.subplots(1, len(clouds), figsize=(5 * len(clouds), 4.5))
    for a, (name, (Z, pos, yy)) in zip(np.atleast_1d(ax), clouds.items()):
        p = PCA(2).fit(Z)
        zc, pc = p.transform(Z), p.transform(pos)
        a.scatter(zc[:, 0], zc[:, 1], c=yy, s=3, cmap="tab10", alpha=0.6)
        a.scatter(pc[:, 0], pc[:, 1], c="k", s=2, marker="x", alpha=0.3)
        a.set(title=f"{ds} {name}: codes (colour=class), positives x")
    fig.tight_layout()
    fig.savefig(IMG / f"004_{ds}_positives.png", dpi=90)
    plt.close(fig)


SWEEP = [{"lr": 1e-4}, {"lr": 1e-3}, {"target_shrink": 0.01},
         {"target_shrink": 0.01, "generator_loss": "non_saturating"},
         {"target_shrink": 1e-4, "generator_loss": "non_saturating"}]


def oracle_sweep(a):
    """Does the adversarial loss pull codes to their targets when the targets are RIGHT (class means)?
    The repaired preset with the settings of SWEEP changed, on the first dataset of --datasets."""
    ds = a.datasets[0]
    d = load_dataset(ds, **DATA[ds])
    X, y = d.X.astype(np.float32), d.y
    orig, res = dict(DCAN.presets["repaired"]), []
    try:
        for ov in SWEEP:
            DCAN.presets["repaired"] = {**orig, **ov}
            r, _ = run(X, y, "repaired", a.iters, a.every, a.seed, oracle=True)
            r["overrides"] = ov
            res.append(r)
            print(ds, "oracle", ov, "final k-means", round(r["final_kmeans_acc"], 4),
                  [(p["it"], round(p["acc"], 3), round(p["d_real"], 2), round(p["d_fake"], 2)) for p in r["curve"]],
                  flush=True)
    finally:
        DCAN.presets["repaired"] = orig
    rec = {"what": "repaired DCAN with the oracle (class-mean) fixed target under other adversarial settings",
           "dataset": ds, "dataset_kwargs": DATA[ds], "seed": a.seed, "iters": a.iters,
           "command": f"python benchmarks/diagnostics/dcan_diagnose.py --oracle-sweep --datasets {ds} "
                      f"--iters {a.iters} --every {a.every} --seed {a.seed}",
           "machine": machine_description("cpu"), "date": time.strftime("%Y-%m-%d"), "runs": res}
    (OUT / f"diagnose-oracle-sweep-{ds}.json").write_text(json.dumps(rec, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["usps", "mnist-test"])
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--oracle-sweep", action="store_true",
                    help="instead: the oracle (class-mean) target under other adversarial settings, USPS")
    a = ap.parse_args()
    if a.oracle_sweep:
        return oracle_sweep(a)
    for ds in a.datasets:
        d = load_dataset(ds, **DATA[ds])
        X, y = d.X.astype(np.float32), d.y
        res, clouds = [], {}
        for preset, oracle, spectral in (("paper", False, False), ("repaired", False, False),
                                         ("repaired", True, False), ("repaired", False, True)):
            r, cloud = run(X, y, preset, a.iters, a.every, a.seed, oracle, spectral)
            res.append(r)
            clouds[r["preset"]] = cloud
            print(ds, r["preset"], "init", r["init_acc"], "final k-means", round(r["final_kmeans_acc"], 4),
                  "curve acc", [round(p["acc"], 3) for p in r["curve"][::5]], f"cpu {r['cpu_s']}s", flush=True)
        OUT.mkdir(parents=True, exist_ok=True)
        rec = {"what": "DCAN paper vs repaired vs repaired with an oracle (class-mean) target: curves",
               "dataset": ds, "dataset_kwargs": DATA[ds], "seed": a.seed, "iters": a.iters,
               "command": f"python benchmarks/diagnostics/dcan_diagnose.py --datasets {ds} --iters {a.iters} "
                          f"--every {a.every} --seed {a.seed}",
               "machine": machine_description("cpu"), "date": time.strftime("%Y-%m-%d"), "runs": res}
        (OUT / f"diagnose-{ds}.json").write_text(json.dumps(rec, indent=1))
        plots(ds, res, clouds)


if __name__ == "__main__":
    main()
