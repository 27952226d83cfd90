"""Plots of docs/reproductions/001_caemle_ifl.md, from committed result files only (no training):

  - readings-<data>.png: ACC at every target update of the self-training phase, per run (DCEC, each
    CAE-MLE reading, the oracle-init ceiling), one panel per seed, from
    benchmarks/results/cae-mle/readings-<data>.json (labels only score);
  - init-vs-final-<data>.png: ACC of the initial partition vs the final one per run and seed;
  - paper-<dataset>.png: ACC vs iteration of the paper-preset DCEC and CAE-MLE runs
    (benchmarks/results/{dcec,cae-mle}/history/<dataset>-paper-seed*.json);
  - ifl-folds-usps.png: held-out ACC of Deep IFL's fold models, committed r = 5 diagnostics vs the
    r = 10 run at the base budget (benchmarks/results/deep-ifl/history/).

    python benchmarks/diagnostics/caemle_plots.py            # the PNGs
    python benchmarks/diagnostics/caemle_plots.py --tables   # markdown tables of the same files (report)
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RES = ROOT / "benchmarks" / "results"
OUT = ROOT / "docs" / "reproductions" / "img"
STYLE = {"dcec": ("k", "-"), "cae-mle/init": ("tab:blue", "-"), "cae-mle/centres": ("tab:cyan", "--"),
         "cae-mle/targets": ("tab:red", "-"), "cae-mle/multilevel": ("tab:green", "--"),
         "cae-mle/multilevel-targets": ("tab:orange", "-"), "cae-mle/merge": ("tab:purple", "-."),
         "oracle": ("0.6", ":")}
DATA = ("planted", "usps", "usps-cpu", "mnist-test")  # readings-<data>.json (usps-cpu: the --tag cpu file)


def readings(data: str) -> None:
    path = RES / "cae-mle" / f"readings-{data}.json"
    if not path.is_file():
        return
    rec = json.loads(path.read_text())
    seeds = sorted({r["seed"] for r in rec["rows"]})
    fig, axes = plt.subplots(1, len(seeds), figsize=(5 * len(seeds), 4), squeeze=False, sharey=True)
    for ax, seed in zip(axes[0], seeds):
        for r in rec["rows"]:
            if r["seed"] != seed:
                continue
            color, ls = STYLE.get(r["run"], ("0.3", "-"))
            h = r["history"]
            its = [i // 140 * 140 for i in h["it"]]  # the target update each ACC was measured at
            head = r.get("final_head")
            extra = f", {head['head']} head {head['acc']:.3f}" if head else ""
            ax.plot(its + [r["iterations"]], h["acc"] + [r["final"]["acc"]], color=color, ls=ls,
                    label=f"{r['run']} ({r['final']['acc']:.3f}{extra})")
        ax.set_title(f"{data}, seed {seed}")
        ax.set_xlabel("self-training iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("ACC (labels only score)")
    fig.tight_layout()
    fig.savefig(OUT / f"readings-{data}.png", dpi=90)
    plt.close(fig)

    runs = [r for r in STYLE if any(x["run"] == r for x in rec["rows"])]
    fig, ax = plt.subplots(figsize=(1.3 * len(runs) + 2, 4))
    for i, run in enumerate(runs):
        rows = [x for x in rec["rows"] if x["run"] == run]
        for x in rows:
            ax.plot([i - 0.15, i + 0.15], [x["init"]["acc"], x["final"]["acc"]], "-o",
                    color=STYLE[run][0], ms=4)
    ax.set_xticks(range(len(runs)), runs, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("ACC: initial partition (left dot) -> final (right dot)")
    ax.set_title(f"{data}: init vs final ACC per run and seed")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(OUT / f"init-vs-final-{data}.png", dpi=90)
    plt.close(fig)


def paper_runs(dataset: str) -> None:
    files = {m: sorted((RES / m / "history").glob(f"{dataset}-paper-seed*.json")) for m in ("dcec", "cae-mle")}
    if not any(files.values()):
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for m, color in (("dcec", "k"), ("cae-mle", "tab:blue")):
        for f in files[m]:
            rec = json.loads(f.read_text())
            rows = [r for r in rec["rows"] if r.get("phase") == "cluster" and "acc" in r]
            ax.plot([(r["it"] - 1) // 140 * 140 for r in rows], [r["acc"] for r in rows], color=color, alpha=0.8,
                    label=f"{m} seed {rec['seed']}")
    ax.set_xlabel("self-training iteration (paper preset: 200 pretraining epochs, <= 20,000 its)")
    ax.set_ylabel("ACC (labels only score)")
    ax.set_title(f"{dataset}: DCEC (k-means init) vs CAE-MLE (Ward init), paper-literal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / f"paper-{dataset}.png", dpi=90)
    plt.close(fig)


def ifl_folds() -> None:
    old = RES / "deep-ifl" / "diagnostics-usps.json"
    new = sorted((RES / "deep-ifl" / "history").glob("usps-cpu-r10*-seed*.json"))
    if not new:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    if old.is_file():
        for i, r in enumerate(json.loads(old.read_text())["rows"]):
            ax.plot(range(len(r["fold_assignment_acc"]["per_fold"])), r["fold_assignment_acc"]["per_fold"], "o--",
                    color="0.5", label="r = 5, folds at 10 ep / 500 its" if i == 0 else None)
    for f in new:
        rec = json.loads(f.read_text())
        ax.plot([x["fold"] for x in rec["folds"]], [x["held_out_acc"] for x in rec["folds"]], "o-",
                label=f"r = 10, folds at the base budget, seed {rec['seed']}")
    ax.set_xlabel("fold")
    ax.set_ylabel("held-out ACC of the fold model (labels only score)")
    ax.set_title("Deep IFL on USPS: how good are the partitions the IFL features encode?")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "ifl-folds-usps.png", dpi=90)
    plt.close(fig)


def tables() -> None:
    """Markdown tables for the report, read from the result files (no number typed by hand)."""
    for data in DATA:
        path = RES / "cae-mle" / f"readings-{data}.json"
        if not path.is_file():
            continue
        rec = json.loads(path.read_text())
        print(f"\n#### readings-{data}.json\n")
        print("| seed | run | init ACC | ACC after 1st update | final ACC | final NMI | Ward on final Z | head ACC / NMI "
              "| its | CPU s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rec["rows"]:
            first = r["history"]["acc"][0] if r["history"]["acc"] else float("nan")
            head = r.get("final_head")
            head = f"{head['head']}: {head['acc']:.4f} / {head['nmi']:.4f}" if head else "-"
            print(f"| {r['seed']} | {r['run']} | {r['init']['acc']:.4f} | {first:.4f} | {r['final']['acc']:.4f} | "
                  f"{r['final']['nmi']:.4f} | {r['ward_on_final_z']['acc']:.4f} | {head} | {r['iterations']} | "
                  f"{r['cpu_seconds']} |")
    for f in sorted(RES.glob("cae-mle/*-init.json")):
        rec = json.loads(f.read_text())
        print(f"\n#### {f.name}\n")
        print("| seed | pretrain epochs | final MSE | k-means ACC / NMI | Ward ACC / NMI | CPU s |")
        print("|---|---|---|---|---|---|")
        for r in rec["rows"]:
            print(f"| {r['seed']} | {r['pretrain_epochs']} | {r['final_recon_loss']} | {r['kmeans_init']['acc']:.4f} / "
                  f"{r['kmeans_init']['nmi']:.4f} | {r['ward_init']['acc']:.4f} / {r['ward_init']['nmi']:.4f} | "
                  f"{r['cpu_seconds']} |")
    for m in ("dcec", "cae-mle", "deep-ifl"):
        for f in sorted((RES / m).glob("*.json")):
            rec = json.loads(f.read_text())
            if "seeds" not in rec:
                continue
            acc = " / ".join(f"{v * 100:.2f}" for v in rec["acc"])
            nmi = " / ".join(f"{v * 100:.2f}" for v in rec["nmi"])
            its = rec["epochs_or_iterations"]
            its = its if isinstance(its, str) else "; ".join(sorted({", ".join(f"{k} {v}" for k, v in (x or {}).items())
                                                                     for x in its}))
            paper = rec.get("paper") or {}
            print(f"| {m} | {f.name} | {rec['seeds']} | {acc} | {nmi} | {rec['mean']['acc'] * 100:.2f} +- "
                  f"{rec['std']['acc'] * 100:.2f} | {paper.get('acc', float('nan')) * 100:.2f} | {its} |")


def main():
    import sys
    if "--tables" in sys.argv:
        tables()
        return
    OUT.mkdir(parents=True, exist_ok=True)
    for data in DATA:
        readings(data)
    for ds in ("usps", "mnist-test"):
        paper_runs(ds)
    ifl_folds()
    print("\n".join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
