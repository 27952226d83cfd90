"""Reproduce Wang & Jiang 2021 (adaptive GMM deep clustering, spec 003) Tables 3-4 on USPS, Fashion-MNIST
and MNIST-test (stand-in for the paper's 70k MNIST), for "Ours" (agmm) and the eta = 0 ablation (deepgmm).

Stage 1 (RBMs + denoising fine-tuning) is trained ONCE per dataset (seed 0) and shared by every seed and
both methods (spec §4 "Repeats" default: one stage-1 autoencoder per dataset, stages 2-3 re-run per
seed); stages 2-3 run per seed. The result files record the stage-1 budget and wall time, the accuracy
after stage 2 (AE + EM = the paper's "AEF+GMM") and after stage 3, and per-stage wall times.

    python benchmarks/agmm_paper.py --preset cpu --datasets usps --seeds 0 1 2
    python benchmarks/agmm_paper.py --preset cpu --datasets fashion-mnist --seeds 0 1 2   # all 70k images
    python benchmarks/agmm_paper.py --preset cpu --stage1-only --datasets usps            # only the shared AE

The shared autoencoder is cached as <cache>/ae-<dataset>-<preset>.pt with a .json record of its training
(stage-1 settings, per-phase seconds); it is reused while the preset's stage-1 settings are unchanged.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

# paper Tables 3-4 (fractions); MNIST = full 70k MNIST (we run the 10k test set as a stand-in)
PAPER = {
    "usps": {"agmm": (0.985, 0.95), "deepgmm": (0.654, 0.51), "aef_gmm": (0.713, 0.68)},
    "fashion-mnist": {"agmm": (0.635, 0.69), "deepgmm": (0.454, 0.41), "aef_gmm": (0.465, 0.45)},
    "mnist-test": {"agmm": (0.987, 0.96), "deepgmm": (0.725, 0.64), "aef_gmm": (0.641, 0.59)},
}
NOTE = {"mnist-test": "paper numbers are for full MNIST (70k, train+test); ours: the 10k MNIST test set",
        "usps": "paper's USPS has 11,000 images (roweis.org); ours: the 9,298-image USPS (h5)",
        "fashion-mnist": "paper: all 70k images; ours: all 70,000 (train + test)"}
STAGE3 = ("stage 3 (joint encoder + GMM layer) lowers ACC the further it optimises the paper's objective (higher "
          "log-likelihood, contracted codes, tight components absorbing broad ones); the cpu preset therefore uses "
          "a small stage-3 step (lr 1e-4), see the agmm docstring and benchmarks/results/agmm/stage3-diagnosis.json; "
          "compare per_seed_stages ae_em (stage 2) with joint (stage 3)")
STAGE3_BOUNDED = ("repaired stage 3 (AdaptiveGMM.BOUNDED: standardised codes, tied diagonal Sigma refreshed by stepwise "
                  "EM, omega fixed at the stage-2 EM weights, reconstruction anchor, lr 1e-3, eta 1e-3 by unsupervised "
                  "rules; agmm docstring 'Repaired stage 3'); compare per_seed_stages ae_em (stage 2 = the paper's "
                  "AEF+GMM) with joint (stage 3)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu", choices=["paper", "cpu", "paper-bounded", "cpu-bounded", "smoke"])
    ap.add_argument("--datasets", nargs="+", default=["usps", "mnist-test", "fashion-mnist"])
    ap.add_argument("--methods", nargs="+", default=["agmm", "deepgmm"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--subset", type=int, default=None, help="random subset of each dataset (seed 0)")
    ap.add_argument("--eta", type=float, default=None, help="override eta for agmm")
    ap.add_argument("--max-iter", type=int, default=None,
                    help="truncate stage 3 to its first N iterations (the preset's lr schedule otherwise unchanged); "
                         "result tag it<N>: e.g. the paper's stage 3 (50k it) where a CPU cannot run all of it")
    ap.add_argument("--cache", default=os.environ.get("AGMM_CACHE", "/tmp/deepclust-agmm"),
                    help="where the shared stage-1 autoencoders are kept (not committed)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stage1-only", action="store_true", help="only train (or register) the shared stage-1 AEs")
    ap.add_argument("--merge", action="store_true", help="add these seeds to the existing result file")
    ap.add_argument("--tag", default=None, help="extra result-file tag (e.g. the date of the stage-1 AE a rerun used)")
    ap.add_argument("--final-clusterer", default=None,
                    help="fit this shared head (engine/heads.py, e.g. umap-gmm) on the final codes: the result's "
                         "acc is then the head's, per_seed_stages keeps stage 2 (ae_em), the paper head (joint) "
                         "and the head (final_head); result tag head-<kind>")
    ap.add_argument("--stage1-preset", default=None, choices=["paper", "cpu", "smoke"],
                    help="take stage 1 (the shared AE) from this preset instead of --preset: e.g. --preset paper "
                         "--stage1-preset cpu = the paper's stages 2-3 on the cpu-preset AE (result tag s1<preset>)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from deepclust.bench import results
    from deepclust.datasets import load_dataset
    from deepclust.methods import get
    from deepclust.methods.agmm import AdaptiveGMM

    for dataset in args.datasets:
        dkw = {"subset": args.subset} if args.subset else {}
        ds = load_dataset(dataset, **dkw)
        tag_ds = dataset + (f"-sub{args.subset}" if args.subset else "")
        cache = Path(args.cache)
        cache.mkdir(parents=True, exist_ok=True)
        s1_preset = args.stage1_preset or args.preset.removesuffix("-bounded")  # X-bounded has X's stage 1
        ae_path = cache / f"ae-{tag_ds}-{s1_preset}.pt"

        # ---- stage 1, once per dataset ----------------------------------------------------------------
        stage1 = _stage1(AdaptiveGMM, ds, args, cache, tag_ds, ae_path, s1_preset)
        print(f"{dataset}: stage 1 {'reused' if stage1.get('reused_cache') else 'done'} "
              f"({stage1['wall_seconds']}s of stage-1 training) -> {ae_path}", flush=True)
        if args.stage1_only:
            continue

        for method in args.methods:
            stages: list[dict] = []
            extra = {"stage1_shared": stage1, "per_seed_stages": stages, "note": NOTE.get(dataset, ""),
                     "stage3_note": STAGE3_BOUNDED if args.preset.endswith("-bounded") else STAGE3,
                     "paper_aef_gmm": {"acc": PAPER[dataset]["aef_gmm"][0], "nmi": PAPER[dataset]["aef_gmm"][1],
                                       "source": "003 Tables 3-4, AEF+GMM row (= our stage 2)"}}
            orig = results.run_once

            def run_once(*a, **k):  # capture the per-stage metrics of each seed
                out = orig(*a, **k)
                est = out["estimator"]
                stages.append({"seed": out["seed"], "stage_metrics": _round(est.stage_metrics_),
                               "stage_seconds": est.stage_seconds_,
                               "final_mu_norm_max": float(np.linalg.norm(est.means_, axis=1).max()),
                               "min_cluster_share": float(np.bincount(est.labels_, minlength=ds.n_classes).min()
                                                          / len(est.labels_)),
                               "trajectory": _trajectory(est.history_),
                               **({"final_head": _head_row(est.history_)} if args.final_clusterer else {})})
                return out

            overrides = {"pretrained_ae": str(ae_path)}
            if method == "agmm" and args.eta is not None:
                overrides["eta"] = args.eta
            if args.final_clusterer:
                overrides["final_clusterer"] = args.final_clusterer
            if args.max_iter is not None:
                overrides["max_iter"] = args.max_iter
            est0 = get(method).from_preset(args.preset, **overrides)
            tags = [t for t in (f"sub{args.subset}" if args.subset else None,
                                f"s1{s1_preset}" if s1_preset != args.preset.removesuffix("-bounded") else None,
                                f"it{args.max_iter}" if args.max_iter is not None else None,
                                f"head-{args.final_clusterer}" if args.final_clusterer else None, args.tag)
                    if t]
            budget = (f"stage 1 shared (seed 0, {s1_preset} preset): {stage1['budget']['rbm_iters']} it per RBM x 4 + "
                      f"{stage1['budget']['finetune_iters']} it fine-tune, batch {stage1['budget']['pretrain_batch_size']}; "
                      f"stage 3: {est0.max_iter} it, batch {est0.batch_size}, lr {est0.lr} / 10 every "
                      f"{est0.lr_step} it, eta {est0.eta}")
            if args.max_iter is not None:
                budget += (f" (stage 3 truncated to its first {args.max_iter} of the preset's "
                           f"{get(method).from_preset(args.preset).max_iter} iterations)")
            if args.merge:  # keep the per-seed stage records of the seeds not re-run (benchmark's merge keeps only ours)
                prev = results.result_path({"method": method, "dataset": dataset, "preset": args.preset},
                                           tag="-".join(tags) or None)
                if prev.is_file():
                    import json
                    stages.extend(s for s in json.loads(prev.read_text()).get("per_seed_stages", [])
                                  if s["seed"] not in args.seeds)
            results.run_once = run_once
            try:
                pa, pn = PAPER[dataset][method]
                results.benchmark(method, dataset, args.preset, args.seeds,
                                  paper={"acc": pa, "nmi": pn, "source": "003 Tables 3-4" + (
                                      " (full 70k MNIST)" if dataset == "mnist-test" else "")},
                                  dataset_kwargs=dkw, overrides=overrides, device=args.device, budget=budget,
                                  tag="-".join(tags) or None, extra=extra, merge=args.merge)
            finally:
                results.run_once = orig
    return 0


STAGE1_FIELDS = ("rbm_iters", "finetune_iters", "pretrain_batch_size", "lr_step", "hidden", "latent_dim",
                 "layerwise", "act", "rbm_k", "rbm_dropout", "rbm_linear_lr", "pretrain_lr", "corruption", "augment",
                 "max_shift", "max_rotation", "finetune_loss", "lr_gamma", "momentum", "weight_decay")
STAGE1_PHASES = ("standardise", "unfold", "finetune")


def _stage1_seconds(phase_seconds: dict) -> float:
    return round(sum(v for k, v in phase_seconds.items() if k in STAGE1_PHASES or k.startswith("rbm")), 1)


def _stage1(cls, ds, args, cache: Path, tag_ds: str, ae_path: Path, preset: str) -> dict:
    """Train the shared stage-1 autoencoder (seed 0) once per dataset and preset, or reuse the cached one.

    The cache is ae-<dataset>-<preset>.pt plus a .json record of how it was trained. wall_seconds is the
    stage-1 training time summed over its phases (restored from the checkpoint when a killed run resumed),
    not the time of this invocation. A cached AE is reused only when its stage-1 settings equal the preset's."""
    import json

    ref = cls.from_preset(preset, n_clusters=ds.n_classes)
    budget = {k: _plain(getattr(ref, k)) for k in STAGE1_FIELDS}
    meta_path = ae_path.with_suffix(".json")
    ckpt_dir = cache / f"ckpt-{tag_ds}-{preset}"
    if ae_path.exists() and not meta_path.exists() and (ckpt_dir / "latest.pt").exists():
        # AE from an older version of this script: recover its record from the stage-1 checkpoint
        p = torch.load(ckpt_dir / "latest.pt", map_location="cpu", weights_only=False)
        if {k: _plain(p["params"].get(k)) for k in STAGE1_FIELDS} == budget and "finetune" in p["done"]:
            _write_meta(meta_path, {"seed": 0, "wall_seconds": _stage1_seconds(p["phase_seconds"]),
                                    "phase_seconds": {k: round(v, 1) for k, v in p["phase_seconds"].items()
                                                      if k in STAGE1_PHASES or k.startswith("rbm")},
                                    "budget": budget, "final_recon_loss": _recon(p["history"]),
                                    "trained": time.strftime("%Y-%m-%d %H:%M", time.localtime(ae_path.stat().st_mtime)),
                                    "recovered_from": str(ckpt_dir / "latest.pt")})
    if ae_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("budget") == budget:
            return {**meta, "reused_cache": str(ae_path)}
        print(f"{ae_path}: stage-1 settings differ from the preset's; retraining", flush=True)
    from deepclust.bench.results import git_commit
    s1 = cls.from_preset(preset, n_clusters=ds.n_classes, random_state=0, max_iter=0, device=args.device,
                         verbose=0, checkpoint_dir=str(ckpt_dir), checkpoint_every=500, resume=True)
    t = time.time()
    s1.fit(ds.X, ds.y)
    torch.save(s1.autoencoder_, ae_path)
    ps = s1.phase_seconds_
    meta = {"seed": 0, "wall_seconds": _stage1_seconds(ps),
            "phase_seconds": {k: round(v, 1) for k, v in ps.items() if k in STAGE1_PHASES or k.startswith("rbm")},
            "budget": budget, "final_recon_loss": _recon(s1.history_), "commit": git_commit(),
            "trained": time.strftime("%Y-%m-%d %H:%M"), "this_call_seconds": round(time.time() - t, 1)}
    _write_meta(meta_path, meta)
    return meta


def _trajectory(history) -> list[dict]:
    """Stage-3 rows of the history that carry the monitor's ACC: it, acc, nmi, nll, separation, recon."""
    keys = ("it", "acc", "nmi", "nll", "separation", "recon", "min_cluster_share", "mu_norm_max")
    return [{k: round(float(r[k]), 4) for k in keys if k in r} for r in history
            if r.get("phase") == "joint" and "acc" in r]


def _head_row(history) -> dict:
    """The final_clusterer row of the history: the head's and the paper head's ACC/NMI on the same codes."""
    row = next((r for r in reversed(history) if r.get("phase") == "final_clusterer"), {})
    return {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in row.items()
            if k in ("head", "acc", "nmi", "paper_acc", "paper_nmi")}


def _write_meta(path: Path, meta: dict) -> None:
    from deepclust.engine.io import write_json
    write_json(path, meta)


def _recon(history):
    return next((r["recon_loss"] for r in reversed(history) if r.get("phase") == "finetune"), None)


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def _round(d):
    return {k: _round(v) if isinstance(v, dict) else round(float(v), 4) for k, v in d.items()}


if __name__ == "__main__":
    sys.exit(main())
