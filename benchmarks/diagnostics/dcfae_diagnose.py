"""DCFAE diagnostics on a small USPS subset (issue #7: why is the cpu preset's ACC so low?).

    OMP_NUM_THREADS=1 python benchmarks/dcfae_diagnose.py --subset 2000 --set pretrain_epochs=6 ...

Fits DCFAE with `monitor_every=1` (k-means ACC of the embedding after every epoch: mu while pretraining,
DeepDenseNet(mu) while fine-tuning), prints the per-epoch losses and scores, and then measures on the trained
model: k-means ACC on mu and on c, the mean KL per latent dimension (active dims), the scale of mu
(nearest-neighbour / median pairwise distances) and how much of the P mass of a batch sits on the diagonal
(i = j self pairs), which decides whether L_gamma carries any neighbourhood information.
Writes a JSON record to --out when given.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--subset", type=int, default=2000)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from deepclust.datasets import load_dataset
    from deepclust.engine.assignment import kmeans
    from deepclust.methods.dcfae import DCFAE, pairwise_log_similarity
    from deepclust.metrics import evaluate

    from deepclust.bench.commands import parse_key_values
    kw = parse_key_values(args.set)
    ds = load_dataset("usps", resize=32, subset=args.subset)
    X, y = ds.X, ds.y
    est = DCFAE.from_preset(args.preset, n_clusters=10, random_state=args.seed, verbose=0,
                            monitor_every=kw.pop("monitor_every", 1), **kw)
    t = time.time()
    est.fit(X, y)
    secs = time.time() - t
    keys = ("rec", "kl", "l_g", "l_d", "disc_score", "gen_score", "l_gamma", "acc", "nmi")
    for r in est.history_:
        if r.get("phase") not in ("pretrain", "finetune"):
            continue
        print(r["phase"][:4], r.get("epoch"), " ".join(f"{k}={r[k]:.4g}" for k in keys if k in r), flush=True)

    enc = est.encoder_.encoder.eval()
    dense = est.encoder_.densenet
    with torch.no_grad():
        xt = torch.from_numpy(np.asarray(X))
        mus, lvs = zip(*(enc(xt[i:i + 512]) for i in range(0, len(xt), 512)))
        mu, lv = torch.cat(mus), torch.cat(lvs)
        kl_dim = (0.5 * (lv.exp() + mu ** 2 - lv - 1)).mean(0)
        c = dense.eval()(mu) if dense is not None else mu
    res = {"settings": {**DCFAE.presets[args.preset], **kw}, "subset": args.subset, "seed": args.seed,
           "seconds": round(secs, 1), "final": evaluate(y, est.labels_)}
    res["kmeans_mu"] = evaluate(y, kmeans(mu, 10, n_init=10, seed=0)[1])
    if dense is not None:
        res["kmeans_c"] = evaluate(y, kmeans(c, 10, n_init=10, seed=0)[1])
    res["kl_per_dim"] = {"mean": float(kl_dim.mean()), "active_dims(>0.1)": int((kl_dim > 0.1).sum()),
                         "max": float(kl_dim.max())}
    res["mu_std_per_dim_mean"] = float(mu.std(0).mean())
    # distance structure in a batch of the training batch size
    g = torch.Generator().manual_seed(0)
    bs = est.batch_size
    diag_p, diag_q, nn_d, med_d, same_p = [], [], [], [], []
    yt = torch.as_tensor(y)
    for _ in range(20):
        idx = torch.randperm(len(mu), generator=g)[:bs]
        m, cc, yy = mu[idx], c[idx], yt[idx]
        d2 = torch.cdist(m, m) ** 2
        off = ~torch.eye(bs, dtype=torch.bool)
        nn_d.append(float(d2.masked_fill(~off, float("inf")).min(1).values.sqrt().median()))
        med_d.append(float(d2[off].sqrt().median()))
        P = pairwise_log_similarity(m, est.rho).exp()
        Q = pairwise_log_similarity(cc, 1.0).exp()
        diag_p.append(float(P.diagonal().sum()))
        diag_q.append(float(Q.diagonal().sum()))
        same = (yy[:, None] == yy[None, :]) & off
        same_p.append(float(P[same].sum() / P[off].sum()))
    res["batch"] = {"P_diag_mass": float(np.mean(diag_p)), "Q_diag_mass": float(np.mean(diag_q)),
                    "P_offdiag_mass_on_same_class": float(np.mean(same_p)),
                    "mu_nn_dist_median": float(np.mean(nn_d)), "mu_pair_dist_median": float(np.mean(med_d))}
    res["history"] = [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()}
                      for r in est.history_ if r.get("phase") in ("pretrain", "finetune")]
    print(json.dumps({k: v for k, v in res.items() if k != "history"}, indent=1))
    if args.out:
        from deepclust.engine.io import write_json
        write_json(args.out, res)


if __name__ == "__main__":
    sys.exit(main())
