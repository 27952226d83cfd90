"""DCFAE's clustering loss alone on data whose answer is known (issue #15; docs/reproductions/000_dcfae.md).

    OMP_NUM_THREADS=1 python benchmarks/diagnostics/dcfae_blobs.py

A 'latent space' of K = 4 well-separated Gaussian blobs (64 points in 10-D, neighbours 1-2 units apart, like
mu after pretraining) is a free parameter, mapped by a small DeepDenseNet (10-64-10) to c; both are trained
with Adam (lr 1e-2) on L_gamma alone (no VAE terms), for each target:
  paper : Eqs. 9-11 (Student-t rho = 100 on mu, self pairs, one joint normalisation, gradients through P)
  paper-detached-noself : the existing switches exclude_self_pairs + detach_p
  tsne  : the repair: t-SNE P (p_ii = 0, perplexity 10, symmetrised, detached), Q = Eq. 10 unchanged
and records per step: L_gamma, Eq. 9's P diagonal mass on mu, the within/between mean-distance ratio of mu
and of c (lower = tighter clusters) and k-means ACC on c. 5 seeds, at two spacings of the same blobs (x1:
neighbours ~1-2 units apart, Eq. 9's kernel width; x3: 3-6 units, as after the paper loss spread mu). Writes
benchmarks/results/dcfae/diagnostics-blobs.json and .png. Seconds on one core.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

TARGETS = {"paper": dict(target="paper"),
           "paper-detached-noself": dict(target="paper", detach_p=True, exclude_self=True),
           "tsne": dict(target="tsne", perplexity=10.0)}


def run(kw, seed, steps, every, scale=1.0):
    from sklearn.cluster import KMeans

    from deepclust.methods.dcfae import clustering_loss, p_diagonal_mass
    from deepclust.metrics import acc
    from deepclust.nn.resnet_vae import DeepDenseNet
    g = torch.Generator().manual_seed(seed)
    k, n, dim = 4, 64, 10
    y = torch.arange(n) % k
    mu = ((torch.randn(k, dim, generator=g) * 1.5)[y] + 0.5 * torch.randn(n, dim, generator=g)) * scale
    mu.requires_grad_(True)
    torch.manual_seed(seed)
    net = DeepDenseNet(dim, (64,), dim, dropout=0.0)
    opt = torch.optim.Adam([mu, *net.parameters()], lr=1e-2)
    same = (y[:, None] == y[None]) & ~torch.eye(n, dtype=torch.bool)
    diff = y[:, None] != y[None]
    rows = []
    for t in range(steps + 1):
        loss = clustering_loss(mu, net(mu), 100.0, **kw)
        if t % every == 0:
            with torch.no_grad():
                c = net(mu)
                dm, dc = torch.cdist(mu, mu), torch.cdist(c, c)
                lab = KMeans(k, n_init=10, random_state=0).fit_predict(c.numpy())
                rows.append({"step": t, "l_gamma": round(loss.item(), 5), "p_diag": round(p_diagonal_mass(mu).item(), 5),
                             "ratio_mu": round((dm[same].mean() / dm[diff].mean()).item(), 5),
                             "ratio_c": round((dc[same].mean() / dc[diff].mean()).item(), 5),
                             "acc_c": round(float(acc(y.numpy(), lab)), 4)})
        if t < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--scales", default="1,3", help="multiply the blobs' coordinates (same shapes, wider spacing)")
    ap.add_argument("--out", default="benchmarks/results/dcfae/diagnostics-blobs")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from deepclust.bench.results import command_line, git_commit, machine_description
    from deepclust.engine.io import write_json
    scales = [float(x) for x in args.scales.split(",")]
    res = {f"{name}@scale{sc:g}": {str(s): run(kw, s, args.steps, args.every, sc) for s in range(args.seeds)}
           for sc in scales for name, kw in TARGETS.items()}
    summary = {}
    for name, per_seed in res.items():
        first = [r[0] for r in per_seed.values()]
        last = [r[-1] for r in per_seed.values()]
        summary[name] = {f"{k}_{when}": round(float(np.mean([r[k] for r in rows])), 4)
                         for when, rows in (("start", first), ("end", last))
                         for k in ("l_gamma", "p_diag", "ratio_mu", "ratio_c", "acc_c")}
        print(name, summary[name])
    write_json(args.out + ".json", {
        "what": __doc__.split("\n\n")[2].strip(), "log_M": round(math.log(64), 4), "summary_mean_over_seeds": summary,
        "runs": res, "command": command_line(), "commit": git_commit(), "device": machine_description()})
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(scales), 4, figsize=(16, 3.4 * len(scales)), squeeze=False)
    colors = {"paper": "tab:red", "paper-detached-noself": "tab:orange", "tsne": "tab:blue"}
    for key_name, per_seed in res.items():
        name, sc = key_name.split("@scale")
        row = axes[scales.index(float(sc))]
        for j, rows in enumerate(per_seed.values()):
            st = [r["step"] for r in rows]
            for ax, key in zip(row, ("l_gamma", "p_diag", "ratio_mu", "ratio_c")):
                ax.plot(st, [r[key] for r in rows], color=colors[name], alpha=0.7, label=name if j == 0 else None)
    for i, sc in enumerate(scales):
        axes[i][0].axhline(math.log(64), color="k", ls=":", lw=1, label="log M")
        for ax, title in zip(axes[i], ("L_gamma", "Eq. 9 P: diagonal mass", "mu: within / between distance",
                                       "c: within / between distance")):
            ax.set_title(f"{title} (blobs x{sc:g})", fontsize=10)
            ax.set_xlabel("Adam step (L_gamma only)")
        axes[i][0].legend(fontsize=8)
    fig.suptitle("DCFAE clustering loss on 4 blobs (64 points, 10-D), 5 seeds: Eqs. 9-11 vs t-SNE target P")
    fig.tight_layout()
    fig.savefig(args.out + ".png", dpi=110)
    print(f"wrote {args.out}.json and .png")


if __name__ == "__main__":
    sys.exit(main())
