"""The stage-3 objective of Adaptive GMM (spec 003, Eq. 5) along the joint scaling direction.

Scaling the codes, the means and the standard deviations together by c leaves every posterior (and so the
partition) unchanged, but mean log p(c y | c mu, c sigma) = mean log p(y | mu, sigma) - D log c and
S(c mu) = c^2 S(mu). So O(c) = L0 - D log c + eta c^2 S0 has a single MINIMUM at c* = sqrt(D / (2 eta S0)) and
rises without bound on both sides: gradient ascent can raise O forever by shrinking the codes (c -> 0,
below c*) or by blowing them up (c -> inf, above c*), without changing any assignment. The repaired
objective (code_norm="standardize") sees only standardised codes, which do not change with c.

Evaluated on the stage-2 GMM of the cpu-preset USPS stage-1 codes (seed 0); writes the curves as JSON and a
PNG.

    python benchmarks/diagnostics/agmm_scaling.py --ae /tmp/deepclust-agmm/ae-usps-cpu.pt \
        --json benchmarks/results/agmm/scaling-usps.json --png docs/reproductions/img/agmm_scaling.png
"""
from __future__ import annotations

import argparse
import json
import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


def main(argv=None):
    from sklearn.mixture import GaussianMixture

    from deepclust.datasets import load_dataset
    from deepclust.methods.agmm import GMMLayer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="usps")
    ap.add_argument("--ae", default="/tmp/deepclust-agmm/ae-usps-cpu.pt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--etas", type=float, nargs="+", default=[1e-2, 1e-3])
    ap.add_argument("--json", default=None)
    ap.add_argument("--png", default=None)
    a = ap.parse_args(argv)

    ds = load_dataset(a.dataset)
    X = torch.from_numpy(np.asarray(ds.X, dtype=np.float32)).flatten(1)
    ae = torch.load(a.ae, map_location="cpu", weights_only=False).eval()
    with torch.no_grad():
        Y = torch.cat([ae.encoder(X[i:i + 4096]) for i in range(0, len(X), 4096)]).double()
    gm = GaussianMixture(ds.n_classes, covariance_type="diag", random_state=a.seed).fit(Y.numpy())
    m, D = gm.means_.shape
    nb = m // 2
    cs = np.logspace(-2, 2, 41)
    rows = []
    for c in cs:
        layer = GMMLayer.from_params(gm.means_ * c, gm.covariances_ * c * c, gm.weights_, var_floor=None).double()
        with torch.no_grad():
            lp, post = layer(Y * c)
            S = layer.separation(nb).item()
            # repaired view: standardised codes and the GMM moved into the same coordinates
            mean, std = (Y * c).mean(0), (Y * c).std(0, unbiased=False)
            lz = GMMLayer.from_params((gm.means_ * c - mean.numpy()) / std.numpy(), gm.covariances_ * c * c / std.numpy() ** 2,
                                      gm.weights_, var_floor=None).double()
            lpz, _ = lz(((Y * c) - mean) / std)
            Sz = lz.separation(nb).item()
        rows.append({"c": float(c), "mean_log_p": lp.mean().item(), "S": S, "labels_changed": 0,
                     "std_mean_log_p": lpz.mean().item(), "std_S": Sz})
        if c == 1.0 or abs(math.log(c)) < 1e-9:
            post1 = post
    # posteriors do not depend on c
    lab1 = gm.predict(Y.numpy())
    for r, c in zip(rows, cs):
        layer = GMMLayer.from_params(gm.means_ * c, gm.covariances_ * c * c, gm.weights_, var_floor=None).double()
        with torch.no_grad():
            r["labels_changed"] = int((layer(Y * c)[1].argmax(1).numpy() != lab1).sum())
    L0 = next(r["mean_log_p"] for r in rows if abs(r["c"] - 1) < 1e-9)
    S0 = next(r["S"] for r in rows if abs(r["c"] - 1) < 1e-9)
    out = {"dataset": a.dataset, "ae": a.ae, "seed": a.seed, "D": D, "m": m, "n_neighbors": nb,
           "L0": L0, "S0": S0, "c_star": {str(e): math.sqrt(D / (2 * e * S0)) for e in a.etas},
           "max_abs_dev_from_L0_minus_Dlogc": max(abs(r["mean_log_p"] - (L0 - D * math.log(r["c"]))) for r in rows),
           "max_rel_dev_from_c2_S0": max(abs(r["S"] / (r["c"] ** 2 * S0) - 1) for r in rows),
           "labels_changed_max": max(r["labels_changed"] for r in rows),
           "std_objective_range": max(r["std_mean_log_p"] for r in rows) - min(r["std_mean_log_p"] for r in rows),
           "rows": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    del post1
    if a.json:
        from deepclust.engine.io import write_json
        write_json(a.json, out)
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 3, figsize=(15, 4))
        c = np.array([r["c"] for r in rows])
        L = np.array([r["mean_log_p"] for r in rows])
        S = np.array([r["S"] for r in rows])
        i1 = int(np.argmin(np.abs(c - 1)))
        ax[0].plot(c, L - L[i1], label="eta = 0 (DeepGMM): mean log p")
        for e in a.etas:
            o = L + e * S
            ax[0].plot(c, o - o[i1], label=f"eta = {e:g}: mean log p + eta S")
        oz = np.array([r["std_mean_log_p"] + a.etas[0] * r["std_S"] for r in rows])
        ax[0].plot(c, oz - oz[i1], "k--", label=f"repaired (standardised codes), eta {a.etas[0]:g}")
        ax[0].set_xscale("log")
        ax[0].set_yscale("symlog", linthresh=10)
        ax[0].axvline(1, color="grey", lw=0.5)
        ax[0].set_xlabel("joint scale c of codes, means, sigmas (c = 1: stage-2 EM)")
        ax[0].set_ylabel("O(c) - O(1)   (maximised)")
        ax[0].set_title(f"{a.dataset}: Eq. (5) unbounded both ways\n(partition identical for every c)", fontsize=10)
        ax[0].legend(fontsize=7)
        ax[1].plot(c, L - L0, lw=3, alpha=0.5, label="measured mean log p - L0")
        ax[1].plot(c, -D * np.log(c), "k:", label="-D log c")
        ax[1].set_xscale("log")
        ax[1].set_xlabel("c")
        ax[1].legend(fontsize=7)
        ax[1].set_title("likelihood term", fontsize=10)
        ax[2].plot(c, S / S0, lw=3, alpha=0.5, label="measured S / S0")
        ax[2].plot(c, c ** 2, "k:", label="c^2")
        ax[2].set_xscale("log")
        ax[2].set_yscale("log")
        ax[2].set_xlabel("c")
        ax[2].legend(fontsize=7)
        ax[2].set_title("separation term", fontsize=10)
        fig.tight_layout()
        os.makedirs(os.path.dirname(a.png) or ".", exist_ok=True)
        fig.savefig(a.png, dpi=110)
        print("wrote", a.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
