"""DCFAE paper-literal vs repaired fine-tuning (issue #15), on one pretrained model per seed.

    OMP_NUM_THREADS=1 python benchmarks/dcfae_repair.py --dataset usps --seeds 0,1,2 \
        --variants cpu:tag=3seeds cpu-repaired --monitor-every 1
    # perplexity sensitivity (reported, not used to choose), one dataset:
    OMP_NUM_THREADS=1 python benchmarks/dcfae_repair.py --dataset usps --seeds 0 \
        --variants cpu-repaired cpu-repaired:perplexity=5 cpu-repaired:perplexity=30

A variant is PRESET[:field=value,...] (a DCFAE preset plus estimator overrides; `tag=NAME` names the result
file instead of the overrides). Per seed, the first variant is fitted from scratch and the others fine-tune
from its end-of-pretraining checkpoint (dcfae.branch_after_pretraining): they differ only in fine-tuning
settings, so Phase 1 would be identical anyway (a fit from scratch gives the same labels; tested), and
the comparison sees the same starting embedding. Each variant writes
benchmarks/results/dcfae/<dataset>-<preset>[-<tag>].json in the DESIGN.md format: acc/nmi/ari are the
method's own result (k-means on c = DeepDenseNet(mu), n_init 20, as the paper's Algorithm 1), and per seed
the file also holds, labelled,
  - "kmeans_mu": k-means (n_init 20) on mu of the same final model (what "DCFAE - DenNet" clusters),
  - "kmeans_mu_pretrained": k-means (n_init 20) on mu after pretraining (shared by all variants),
  - "spectral_c" / "spectral_mu": "authors' code: spectral" = scikit-learn SpectralClustering on c (and mu),
    affinity = symmetrised 10-nearest-neighbour graph (n_neighbors=10), labels by k-means on the spectral
    embedding; the authors' code calls SpectralClustering(n_clusters=K, n_init=20) with scikit-learn's
    default RBF affinity (gamma 1), which needs an n x n dense matrix; we use the 10-NN graph (issue #15).
    Computed here with scikit-learn directly: the engine's shared final-clustering head had not landed.
  - "curves": per epoch, losses, Eq. 13/14 scores, p_diag (share of Eq. 9's P on self pairs in a batch)
    and, with --monitor-every, ACC/NMI/ARI of k-means (n_init 20) on c and on mu (labels only score).
Labels are never used for any choice; they only score.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dcfae_paper import PAPER, TABLE  # noqa: E402  (the paper's numbers, Tables 2-5)

CURVE_KEYS = ("rec", "kl", "l_g", "l_d", "disc_score", "gen_score", "l_gamma", "p_diag", "acc", "nmi", "ari",
              "mu_acc", "mu_nmi", "mu_ari", "time")


def parse_variant(text: str):
    """'cpu-repaired:perplexity=5,dropout=0.3' -> ('cpu-repaired', {'perplexity': 5.0, 'dropout': 0.3}, tag)."""
    from deepclust.bench.commands import parse_key_values
    preset, _, rest = text.partition(":")
    pairs = [p for p in rest.split(",") if p]
    tag = None
    kv = []
    for p in pairs:
        if p.startswith("tag="):
            tag = p[4:]
        else:
            kv.append(p)
    overrides = parse_key_values(kv)
    if tag is None and overrides:
        tag = "-".join(f"{k}{v}" for k, v in overrides.items())
    return preset, overrides, tag


def spectral(Z, k, seed, n_neighbors):
    from sklearn.cluster import SpectralClustering
    return SpectralClustering(n_clusters=k, affinity="nearest_neighbors", n_neighbors=n_neighbors,
                              random_state=int(seed) % 2**31, n_jobs=1).fit_predict(np.asarray(Z, np.float64))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="usps", choices=["usps", "mnist-test", "mnist", "fashion-mnist", "digits"])
    ap.add_argument("--variants", nargs="+", default=["cpu:tag=3seeds", "cpu-repaired"],
                    help="PRESET[:field=value,...] each; the first is pretrained, the others branch from it")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--subset", type=int, default=None, help="cluster only this many samples (labelled in the file)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override an estimator field in every variant (recorded)")
    ap.add_argument("--monitor-every", type=int, default=0, help="k-means ACC of c and mu every N epochs (curves)")
    ap.add_argument("--monitor-seeds", default=None,
                    help="comma-separated seeds that get --monitor-every (default: all); monitoring costs ~15 %% CPU")
    ap.add_argument("--spectral-neighbors", type=int, default=10)
    ap.add_argument("--no-spectral", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    ap.add_argument("--tag-suffix", default=None, help="appended to every result file's tag (e.g. 'ep2')")
    ap.add_argument("--workdir", default=None, help="checkpoints (default: a temporary folder, removed)")
    ap.add_argument("--reuse-pretrained", action="store_true",
                    help="branch every variant from <workdir>/seed<S>-v0/after-pretrain.pt of an earlier run with "
                         "the same pretraining settings (e.g. the perplexity sensitivity after the main run)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from deepclust.bench.commands import parse_key_values
    from deepclust.bench.results import machine_description, summarise, write_result
    from deepclust.datasets import load_dataset
    from deepclust.engine.assignment import kmeans
    from deepclust.engine.device import resolve_device
    from deepclust.methods.dcfae import DCFAE, branch_after_pretraining
    from deepclust.metrics import evaluate

    common = parse_key_values(args.set)
    variants = [parse_variant(v) for v in args.variants]
    for preset, _, _ in variants:
        if preset not in DCFAE.presets:
            ap.error(f"unknown preset {preset!r}; known: {sorted(DCFAE.presets)}")
    dkw = {"resize": 32, **({"subset": args.subset} if args.subset else {})}
    ds = load_dataset(args.dataset, **dkw)
    X, y, K = ds.X, ds.y, ds.n_classes
    seeds = [int(s) for s in args.seeds.split(",")]
    monitored = None if args.monitor_seeds is None else {int(s) for s in args.monitor_seeds.split(",")}
    device = str(resolve_device(args.device))
    out = Path(args.out) if args.out else None
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dcfae-repair-"))
    runs = {i: [] for i in range(len(variants))}
    for seed in seeds:
        base_ckpt = None
        pre_mu = None
        if args.reuse_pretrained:
            base_ckpt = work / f"seed{seed}-v0" / "after-pretrain.pt"
            keep = work / f"seed{seed}-pretrained.pt"   # the variants below overwrite seed<S>-v<i>/
            if not keep.exists():
                shutil.copy(base_ckpt, keep)
            base_ckpt = keep
        for i, (preset, ov, tag) in enumerate(variants):
            mon = args.monitor_every if monitored is None or seed in monitored else 0
            kw = dict(n_clusters=K, random_state=seed, device=args.device, verbose=0, monitor_every=mon, **common, **ov)
            est = DCFAE.from_preset(preset, **kw)
            d = work / f"seed{seed}-v{i}"
            if d.exists():
                shutil.rmtree(d)
            if base_ckpt is None:
                est.set_params(checkpoint_dir=str(d))
            else:
                branch_after_pretraining(base_ckpt, est, d)
            c0, t0 = time.process_time(), time.time()
            est.fit(X, y)
            cpu, wall = time.process_time() - c0, time.time() - t0
            stages = {k: round(v, 1) for k, v in est.phase_seconds_.items()}
            branched = base_ckpt is not None
            if base_ckpt is None:
                base_ckpt = d / "after-pretrain.pt"
            if pre_mu is None:
                pre_mu = _pretrained_mu(base_ckpt, X, est)
            r = {"seed": seed, "seconds": stages.get("pretrain", 0.0) + wall if branched else wall,
                 "cpu_seconds_this_fit": round(cpu, 1),
                 "pretraining": "shared (branched)" if branched else "fitted",
                 **evaluate(y, est.labels_), "stages": stages}
            enc = est.encoder_
            with torch.no_grad():
                mu = torch.from_numpy(_map(enc.encoder, X, est)).float()
                C = est.transform(X)
            r["kmeans_mu"] = evaluate(y, kmeans(mu, K, n_init=20, seed=seed)[1])
            r["kmeans_mu_pretrained"] = evaluate(y, kmeans(pre_mu, K, n_init=20, seed=seed)[1])
            if not args.no_spectral:
                t1 = time.time()
                r["spectral_c"] = evaluate(y, spectral(C, K, seed, args.spectral_neighbors))
                r["spectral_mu"] = evaluate(y, spectral(mu.numpy(), K, seed, args.spectral_neighbors))
                r["spectral_seconds"] = round(time.time() - t1, 1)
            r["curves"] = [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()
                            if k in CURVE_KEYS or k in ("phase", "epoch")}
                           for row in est.history_ if row.get("phase") in ("pretrain", "finetune")]
            runs[i].append(r)
            print(f"{preset} {ov or ''} seed {seed}: kmeans(c) {r['acc']:.4f}  kmeans(mu) {r['kmeans_mu']['acc']:.4f}"
                  f"  pretrained mu {r['kmeans_mu_pretrained']['acc']:.4f}"
                  + (f"  spectral(c) {r['spectral_c']['acc']:.4f}  spectral(mu) {r['spectral_mu']['acc']:.4f}"
                     if "spectral_c" in r else "")
                  + f"  ({wall:.0f} s wall, {cpu:.0f} s cpu)", flush=True)
            _write(variants[i], runs[i], seeds, args, common, dkw, device, out, machine_description, summarise,
                   write_result, DCFAE)
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


def _map(module, X, est):
    src = est._source(est._check_new(X))
    module = module.to(src.device).eval()
    return src.map(lambda b: module(b)[0], est.embed_batch_size).float().cpu().numpy()


def _pretrained_mu(ckpt, X, est):
    payload = torch.load(ckpt, map_location="cpu", weights_only=False)
    return torch.from_numpy(_map(payload["state"]["enc"], X, est)).float()


def _write(variant, runs, seeds, args, common, dkw, device, out, machine_description, summarise, write_result, cls):
    preset, ov, tag = variant
    tag = "-".join(t for t in (tag, args.tag_suffix) if t) or None
    settings = {**cls.presets[preset], **common, **ov}
    est = cls(**settings)
    full = "full" if est.use_densenet else "no-densenet"
    paper_metrics = PAPER[full].get(args.dataset) if full in PAPER else None
    paper = ({"acc": round(paper_metrics[0] / 100, 4), "nmi": round(paper_metrics[1] / 100, 4),
              "ari": round(paper_metrics[2] / 100, 4), "source": f"000 {TABLE[full]}"} if paper_metrics else None)
    budget = (f"pretrain {est.pretrain_epochs} ep + finetune {est.finetune_epochs} ep, batch {est.batch_size}, "
              f"width {est.width}, lr {est.lr}")
    rec = summarise("dcfae", args.dataset, preset, runs, paper=paper, dataset_kwargs=dkw,
                    overrides={**common, **ov}, device=machine_description(device), budget=budget,
                    extra={"variant": est.variant + (" (repaired: t-SNE target P)" if est.target == "tsne" else ""),
                           "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()}})
    rec["what"] = ("acc/nmi/ari = the method's result: k-means (n_init %d) on c = DeepDenseNet(mu); per seed also "
                   "k-means on mu (final model and after pretraining) and 'authors' code: spectral' (sklearn "
                   "SpectralClustering, %d-NN affinity) on c and mu; see benchmarks/dcfae_repair.py"
                   % (est.n_init, args.spectral_neighbors))
    for key in ("kmeans_mu", "kmeans_mu_pretrained", "spectral_c", "spectral_mu"):
        if key in runs[0]:
            vals = {m: [round(float(r[key][m]), 4) for r in runs] for m in ("acc", "nmi", "ari")}
            rec[key] = {**vals, "mean": {m: round(float(np.mean(v)), 4) for m, v in vals.items()},
                        "std": {m: round(float(np.std(v)), 4) for m, v in vals.items()}}
    rec["stage_seconds"] = [r["stages"] for r in runs]
    rec["cpu_seconds_this_fit"] = [r["cpu_seconds_this_fit"] for r in runs]
    rec["pretraining"] = [r["pretraining"] for r in runs]
    rec["curves"] = {str(r["seed"]): r["curves"] for r in runs}
    if len(runs) < len(seeds):
        rec["incomplete"] = f"{len(runs)} of {len(seeds)} seeds {seeds} done"
    write_result(rec, out=out, tag=tag)


if __name__ == "__main__":
    sys.exit(main())
