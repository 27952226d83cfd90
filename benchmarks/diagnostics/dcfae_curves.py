"""Plots of the per-epoch curves stored by benchmarks/dcfae_repair.py (docs/reproductions/000_dcfae.md).

    python benchmarks/diagnostics/dcfae_curves.py --dataset usps
    python benchmarks/diagnostics/dcfae_curves.py --dataset usps --files usps-cpu-repaired.json \
        usps-cpu-repaired-perplexity5.json usps-cpu-repaired-perplexity30.json --name perplexity

For each result file (one variant, several seeds) and each seed: epochs 1-10 = pretraining (shared by the
variants), 11-20 = fine-tuning. Panels: share of Eq. 9's P on the self pairs of a batch (p_diag), ACC of
k-means (n_init 20) on c = DeepDenseNet(mu) and on mu (labels only score; monitoring), the KL term (mu's
spread) and L_gamma. Writes benchmarks/results/dcfae/<dataset>-curves[-name].png.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RES = Path("benchmarks/results/dcfae")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="usps")
    ap.add_argument("--files", nargs="*", default=None)
    ap.add_argument("--name", default=None)
    args = ap.parse_args(argv)
    files = args.files or [f"{args.dataset}-cpu-3seeds.json", f"{args.dataset}-cpu-repaired.json"]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("p_diag", "Eq. 9 P: diagonal (self-pair) mass"), ("acc", "ACC, k-means on c (solid) / mu (dashed)"),
              ("kl", "KL (nats per image)"), ("l_gamma", "L_gamma")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    colors = ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange"]
    for fi, name in enumerate(files):
        rec = json.loads((RES / name).read_text())
        ov = {k: v for k, v in (rec.get("overrides") or {}).items() if k not in ("pretrain_epochs", "finetune_epochs")}
        label = ("repaired" if rec["settings"].get("target") == "tsne" else "paper-literal") + f" ({rec['preset']}"
        label += "".join(f", {k} {v}" for k, v in ov.items()) + ")"
        for si, (seed, rows) in enumerate(sorted(rec.get("curves", {}).items())):
            n_pre = max([r["epoch"] for r in rows if r["phase"] == "pretrain"] or [0])
            x = [r["epoch"] + (n_pre if r["phase"] == "finetune" else 0) for r in rows]
            kw = dict(color=colors[fi % len(colors)], alpha=0.75, lw=1.3)
            for ax, (key, _) in zip(axes, panels):
                pts = [(xi, r[key]) for xi, r in zip(x, rows) if key in r]
                if key == "acc":
                    # pretraining: 'acc' is k-means on mu; fine-tuning: on c (mu in 'mu_acc')
                    ft = [(xi, r["acc"]) for xi, r in zip(x, rows) if r["phase"] == "finetune" and "acc" in r]
                    mu = [(xi, r["acc"]) for xi, r in zip(x, rows) if r["phase"] == "pretrain" and "acc" in r]
                    mu += [(xi, r["mu_acc"]) for xi, r in zip(x, rows) if "mu_acc" in r]
                    if ft:
                        ax.plot(*zip(*ft), **kw, label=label if si == 0 else None)
                    if mu:
                        ax.plot(*zip(*mu), ls="--", **{**kw, "alpha": 0.5})
                elif pts:
                    ax.plot(*zip(*pts), **kw, label=label if si == 0 and key == "p_diag" else None)
            for ax in axes:
                ax.axvline(n_pre + 0.5, color="k", lw=0.6, ls=":")
    import math
    bs = json.loads((RES / files[0]).read_text())["settings"].get("batch_size", 256)
    axes[3].axhline(math.log(bs), color="k", ls=":", lw=1, label=f"log M (M = {bs})")
    axes[3].legend(fontsize=8)
    for ax, (_, title) in zip(axes, panels):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch (pretraining | fine-tuning)")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.suptitle(f"DCFAE on {args.dataset}, cpu budget, one line per seed (benchmarks/dcfae_repair.py)")
    fig.tight_layout()
    out = RES / (f"{args.dataset}-curves" + (f"-{args.name}" if args.name else "") + ".png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
