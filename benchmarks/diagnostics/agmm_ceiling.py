"""How far can a GMM on the stage-1 codes go, and does its likelihood point at the classes? (spec 003)

On the codes of a cached stage-1 autoencoder (benchmarks/agmm_paper.py): ACC and mean log-likelihood of
  - EM (stage 2 = the paper's AEF+GMM) with seeds 0-4, and the best-likelihood of 10 inits;
  - the class-conditional diagonal GMM (means/variances/weights of the true classes: labels used, a
    DIAGNOSTIC ceiling for a diagonal GMM on these codes), and EM started from it: if EM walks away from the
    classes to a higher likelihood, maximising the likelihood (stages 2 and 3) is not aligned with the classes;
  - a linear probe (logistic regression, fit on one half, scored on the other): class information in the codes.

    python benchmarks/diagnostics/agmm_ceiling.py --dataset usps --ae /tmp/deepclust-agmm/ae-usps-cpu.pt
"""
from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


def main(argv=None):
    from sklearn.linear_model import LogisticRegression
    from sklearn.mixture import GaussianMixture

    from deepclust.datasets import load_dataset
    from deepclust.metrics import acc

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="usps")
    ap.add_argument("--ae", default=None)
    ap.add_argument("--codes", default=None, help=".npy of codes instead of --ae (e.g. a stage-3 encoder's)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--n-em", type=int, default=20, help="EM runs (seeds 0..n-1) for the likelihood-vs-ACC scatter")
    ap.add_argument("--png", default=None)
    a = ap.parse_args(argv)
    ds = load_dataset(a.dataset)
    y = np.asarray(ds.y)
    if a.codes:
        Z = np.load(a.codes).astype(np.float64)
    else:
        ae = torch.load(a.ae or f"/tmp/deepclust-agmm/ae-{a.dataset}-cpu.pt", map_location="cpu", weights_only=False).eval()
        X = torch.from_numpy(np.asarray(ds.X, dtype=np.float32)).flatten(1)
        with torch.no_grad():
            Z = torch.cat([ae.encoder(X[i:i + 4096]) for i in range(0, len(X), 4096)]).double().numpy()
    K = ds.n_classes
    out = {"dataset": a.dataset, "ae": a.ae, "codes": a.codes, "n": len(y)}

    def row(gm, name):
        r = {"acc": round(acc(y, gm.predict(Z)), 4), "mean_loglik": round(float(gm.score(Z)), 4)}
        out[name] = r
        print(name, r, flush=True)

    scatter = []
    for s in range(a.n_em):
        gm = GaussianMixture(K, covariance_type="diag", random_state=s).fit(Z)
        scatter.append((round(float(gm.score(Z)), 4), round(acc(y, gm.predict(Z)), 4)))
        if s < 5:
            row(gm, f"em_seed{s}")
    out["em_runs_loglik_acc"] = scatter
    ll, ac = np.array(scatter).T
    out["em_runs_spearman_loglik_acc"] = round(float(_spearman(ll, ac)), 3)
    print("Spearman(loglik, ACC) over", a.n_em, "EM runs:", out["em_runs_spearman_loglik_acc"])
    row(GaussianMixture(K, covariance_type="diag", random_state=0, n_init=10).fit(Z), "em_best_of_10")
    mu = np.stack([Z[y == k].mean(0) for k in range(K)])
    var = np.stack([Z[y == k].var(0) for k in range(K)]) + 1e-6
    w = np.bincount(y, minlength=K) / len(y)
    cc = GaussianMixture(K, covariance_type="diag")
    cc.means_, cc.covariances_, cc.weights_, cc.precisions_cholesky_ = mu, var, w, 1 / np.sqrt(var)
    row(cc, "class_conditional")
    row(GaussianMixture(K, covariance_type="diag", means_init=mu, weights_init=w, precisions_init=1 / var).fit(Z),
        "em_from_class_conditional")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    h = len(y) // 2
    probe = LogisticRegression(max_iter=3000).fit(Z[idx[:h]], y[idx[:h]])
    out["linear_probe_heldout_acc"] = round(float(probe.score(Z[idx[h:]], y[idx[h:]])), 4)
    print("linear probe (held-out half)", out["linear_probe_heldout_acc"])
    if a.json:
        from deepclust.engine.io import write_json
        write_json(a.json, out)
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.scatter(ll, ac, label=f"EM, {a.n_em} seeds (stage 2)")
        cc, ecc = out["class_conditional"], out["em_from_class_conditional"]
        ax.scatter([cc["mean_loglik"]], [cc["acc"]], marker="*", s=150, color="k", label="class-conditional GMM (labels)")
        ax.scatter([ecc["mean_loglik"]], [ecc["acc"]], marker="D", color="tab:red", label="EM started there")
        ax.annotate("", xy=(ecc["mean_loglik"], ecc["acc"]), xytext=(cc["mean_loglik"], cc["acc"]),
                    arrowprops=dict(arrowstyle="->", color="tab:red"))
        ax.set_xlabel("mean log-likelihood of the codes (higher = what stages 2-3 maximise)")
        ax.set_ylabel("ACC")
        ax.set_title(f"{a.dataset}, cpu-preset stage-1 codes", fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(a.png, dpi=110)
        print("wrote", a.png)
    return 0


def _spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return np.corrcoef(ra, rb)[0, 1]


if __name__ == "__main__":
    raise SystemExit(main())
