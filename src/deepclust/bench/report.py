"""Plots and Markdown pages for runs and grids (matplotlib, headless: the Agg canvas, no pyplot).

`run_report(run_dir)` reads a run folder (config.json, metrics.json, labels.npy, embedding.npy,
history.jsonl, model.pt, y_true.npy, reconstructions.npy / samples.npy) and writes into run_dir/plots/:
  embedding.png    2-D map of the embedding (UMAP if installed, else scikit-learn t-SNE on a random
                   subsample of at most 3,000 points), coloured by cluster and by true label when known
  confusion.png    confusion matrix after Hungarian matching of clusters to classes
  curves.png       training curves from history.jsonl (losses, label change, ACC/NMI when logged)
  images_*.png     reconstructions (from the saved autoencoder, or reconstructions.npy) and generated
                   samples (samples.npy / generated.npy) when the run has them
and run_dir/report.md showing them with the metrics. True labels come from y_true.npy, else from
reloading the run's dataset as config.json describes it; without them the label panels are left out.

`grid_report(grid_dir)` writes grid_dir/plots/*.png and grid_dir/report.md for a `deepclust bench` grid.
Every figure is optional: a failure in one is written into the page and the others go on.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..engine.io import atomic_path, write_text

log = logging.getLogger("deepclust")
MAX_POINTS = 3000


def _figure(w=6.0, h=4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    with atomic_path(path, "wb") as f:  # unique temp name, fsync, rename: no torn or shared temp file
        fig.savefig(f, format="png", bbox_inches="tight")
    return path


def _read_json(p: Path):
    try:
        return json.loads(p.read_text()) if p.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def _colors(k):
    import matplotlib
    name = "tab10" if k <= 10 else ("tab20" if k <= 20 else "hsv")
    cmap = matplotlib.colormaps[name]
    return [cmap(i / max(k - 1, 1) if name == "hsv" else i) for i in range(k)]


# ---- pieces -----------------------------------------------------------------------------------------
def embed_2d(Z, max_points: int = MAX_POINTS, seed: int = 0, method: str = "auto"):
    """(coords, idx, how): a 2-D map of Z[idx], idx a random subsample of at most max_points rows."""
    Z = np.asarray(Z, dtype=np.float32).reshape(len(Z), -1)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(Z), max_points, replace=False)) if len(Z) > max_points else np.arange(len(Z))
    X = Z[idx]
    if X.shape[1] == 2:
        return X, idx, "the 2-D embedding itself"
    if X.shape[1] == 1:
        return np.c_[X[:, 0], np.zeros(len(X))], idx, "the 1-D embedding"
    if method in ("auto", "umap"):
        try:
            import umap  # optional extra
            return umap.UMAP(n_components=2, random_state=seed).fit_transform(X), idx, "UMAP"
        except ImportError:
            if method == "umap":
                raise
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    if X.shape[1] > 50:
        X = PCA(50, random_state=seed).fit_transform(X)
    perplexity = float(min(30.0, max(2.0, (len(X) - 1) / 3)))
    coords = TSNE(2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(X)
    return coords, idx, "t-SNE (scikit-learn)"


def plot_embedding(Z, labels, y, path: Path, max_points: int = MAX_POINTS) -> tuple[Path, str]:
    coords, idx, how = embed_2d(Z, max_points)
    panels = [("clusters", np.asarray(labels)[idx])] + ([("true labels", np.asarray(y)[idx])] if y is not None else [])
    fig = _figure(5.0 * len(panels), 4.6)
    for i, (title, lab) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        vals = np.unique(lab)
        cols = _colors(len(vals))
        for c, v in zip(cols, vals):
            m = lab == v
            ax.scatter(coords[m, 0], coords[m, 1], s=3, color=c, label=str(v), linewidths=0)
        ax.set_title(f"{title} ({len(idx)} of {len(Z)} points, {how})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if len(vals) <= 20:
            ax.legend(markerscale=3, fontsize=6, loc="best", ncol=2)
    return _save(fig, path), f"{how} of {len(idx)} of {len(Z)} points"


def confusion_matched(y, labels):
    """(matrix classes x clusters, classes, clusters ordered so matched clusters sit on the diagonal)."""
    from ..metrics import contingency, hungarian_mapping
    w, classes, clusters = contingency(y, labels)    # w: clusters x classes
    mapping = hungarian_mapping(y, labels)
    cls_pos = {c: i for i, c in enumerate(classes.tolist())}
    matched = sorted((c for c in clusters.tolist() if c in mapping), key=lambda c: cls_pos[mapping[c]])
    rest = [c for c in clusters.tolist() if c not in mapping]
    order = matched + rest
    cl_pos = {c: i for i, c in enumerate(clusters.tolist())}
    M = w[[cl_pos[c] for c in order]].T              # classes x ordered clusters
    return M, classes, order, mapping


def plot_confusion(y, labels, path: Path) -> Path:
    M, classes, order, mapping = confusion_matched(y, labels)
    k = max(M.shape)
    fig = _figure(min(2 + 0.45 * M.shape[1], 16), min(1.5 + 0.4 * M.shape[0], 14))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(M, cmap="Blues", aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046)
    if k <= 30:
        ax.set_xticks(range(M.shape[1]), [f"{c}→{mapping[c]}" if c in mapping else f"{c}" for c in order],
                      rotation=90, fontsize=7)
        ax.set_yticks(range(M.shape[0]), [str(c) for c in classes], fontsize=7)
    if k <= 20:
        thr = M.max() / 2 if M.size else 0
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                if M[i, j]:
                    ax.text(j, i, str(M[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if M[i, j] > thr else "black")
    acc = np.trace(M[:, : min(M.shape)]) / max(M.sum(), 1) if len(mapping) else 0.0
    ax.set_xlabel("cluster → matched class (Hungarian)")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion after Hungarian matching (ACC {acc:.4f})", fontsize=9)
    return _save(fig, path)


MONITORS = ("acc", "nmi", "ari", "label_change", "delta", "purity")
SKIP = {"phase", "time", "epoch", "it", "step", "iteration"}


def read_history(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return rows


def plot_curves(history: list[dict], path: Path) -> Path | None:
    phases: dict[str, list[dict]] = {}
    for r in history:
        phases.setdefault(r.get("phase", "?"), []).append(r)
    panels = []
    for ph, rows in phases.items():
        unit = next((u for u in ("epoch", "it", "step", "iteration") if u in rows[0]), None)
        keys = sorted({k for r in rows for k, v in r.items()
                       if k not in SKIP and isinstance(v, (int, float)) and not isinstance(v, bool)})
        losses = [k for k in keys if k not in MONITORS]
        mons = [k for k in keys if k in MONITORS]
        for kind, ks in (("losses", losses), ("monitoring", mons)):
            pts = [r for r in rows if any(k in r for k in ks)]
            if ks and len(pts) >= 2 or (ks and kind == "monitoring" and pts):
                panels.append((ph, unit, kind, ks, pts))
    if not panels:
        return None
    n = len(panels)
    cols = min(n, 2)
    nrows = (n + cols - 1) // cols
    fig = _figure(6.0 * cols, 3.4 * nrows)
    for i, (ph, unit, kind, ks, pts) in enumerate(panels):
        ax = fig.add_subplot(nrows, cols, i + 1)
        x = [r.get(unit, j + 1) if unit else j + 1 for j, r in enumerate(pts)]
        for k in ks:
            xs = [xx for xx, r in zip(x, pts) if k in r]
            ys = [r[k] for r in pts if k in r]
            ax.plot(xs, ys, marker="." if len(xs) < 40 else None, label=k)
        if kind == "losses":
            vals = [r[k] for r in pts for k in ks if k in r]
            if vals and min(vals) > 0 and max(vals) / max(min(vals), 1e-12) > 100:
                ax.set_yscale("log")
        ax.set_title(f"{ph}: {kind}", fontsize=9)
        ax.set_xlabel(unit or "log point")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return _save(fig, path)


def _as_images(A, image_shape=None, vrange=None):
    A = np.asarray(A, dtype=np.float32)
    if A.ndim == 2:
        d = A.shape[1]
        if image_shape is not None and int(np.prod(image_shape)) == d:
            A = A.reshape(len(A), *image_shape)
        else:
            s = int(round(np.sqrt(d)))
            if s * s == d:
                A = A.reshape(len(A), 1, s, s)
            elif d % 3 == 0 and int(round(np.sqrt(d / 3))) ** 2 * 3 == d:
                s = int(round(np.sqrt(d / 3)))
                A = A.reshape(len(A), 3, s, s)
            else:
                return None
    if A.ndim == 3:
        A = A[:, None]
    if A.ndim != 4 or A.shape[1] not in (1, 3):
        return None
    lo, hi = vrange if vrange is not None else (float(A.min()), float(A.max()))
    A = np.clip((A - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(A)
    return A.transpose(0, 2, 3, 1)


def plot_images(rows: list[tuple[str, np.ndarray]], path: Path, image_shape=None, per_row: int = 16) -> Path | None:
    # one grey-level range for all rows (the inputs'), so reconstructions are shown on the same scale
    vrange = (min(float(np.min(a)) for _, a in rows), max(float(np.max(a)) for _, a in rows))
    imgs = [(t, _as_images(a[:per_row], image_shape, vrange)) for t, a in rows]
    imgs = [(t, a) for t, a in imgs if a is not None and len(a)]
    if not imgs:
        return None
    n = max(len(a) for _, a in imgs)
    fig = _figure(0.7 * n + 1.5, 0.8 * len(imgs) + 0.3)
    for r, (title, a) in enumerate(imgs):
        for j in range(len(a)):
            ax = fig.add_subplot(len(imgs), n, r * n + j + 1)
            im = a[j]
            ax.imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap="gray" if im.shape[-1] == 1 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(title, fontsize=7)
    return _save(fig, path)


# ---- a run folder -----------------------------------------------------------------------------------
def _load_y_and_X(run: Path, cfg: dict | None, need_X: bool):
    y = np.load(run / "y_true.npy") if (run / "y_true.npy").is_file() else None
    X = None
    if cfg and cfg.get("dataset") and (y is None or need_X):
        try:
            from .protocols import load_data
            ds = load_data(cfg["dataset"], **(cfg.get("dataset_kwargs") or {}))
            if y is None:
                y = ds.y
            X = ds.X
        except Exception as e:  # the dataset may be gone or a user file elsewhere
            log.info("report: dataset %s not reloaded: %s", cfg.get("dataset"), e)
    return y, X


def _reconstructions(run: Path, X, n: int = 16):
    """(originals, reconstructions) from the saved model's autoencoder_, or None."""
    if X is None or not (run / "model.pt").is_file():
        return None
    import torch
    from ..engine.base import BaseClusterer
    est = BaseClusterer.load(run / "model.pt", device="cpu")
    ae = getattr(est, "autoencoder_", None)
    if ae is None or not isinstance(ae, torch.nn.Module):
        return None
    x = torch.as_tensor(np.asarray(X[:n], dtype=np.float32))
    ae = ae.to("cpu").eval()
    with torch.no_grad():
        for inp in (x, x.reshape(len(x), -1)):
            try:
                out = ae(inp)
            except Exception:
                continue
            xh = out[1] if isinstance(out, (tuple, list)) else out
            if xh.numel() == x.numel():
                return x.numpy(), xh.reshape(x.shape).numpy()
    return None


def run_report(run_dir, max_points: int = MAX_POINTS) -> Path:
    """Write run_dir/plots/*.png and run_dir/report.md; returns the report path."""
    run = Path(run_dir)
    if not run.is_dir():
        from ..errors import InvalidInputError
        raise InvalidInputError(f"{run} is not a run folder")
    plots = run / "plots"
    plots.mkdir(exist_ok=True)
    cfg = _read_json(run / "config.json") or {}
    metrics = _read_json(run / "metrics.json") or {}
    labels = np.load(run / "labels.npy") if (run / "labels.npy").is_file() else None
    emb_file = run / "embedding.npy"
    y, X = _load_y_and_X(run, cfg, need_X=(run / "model.pt").is_file())
    image_shape = None
    if X is not None and X.ndim == 4:
        image_shape = X.shape[1:]
    sections, notes = [], []

    def attempt(title, fn):
        try:
            out = fn()
            if out:
                p, caption = out if isinstance(out, tuple) else (out, "")
                sections.append((title, p.relative_to(run).as_posix(), caption))
        except Exception as e:
            notes.append(f"{title}: not drawn ({type(e).__name__}: {e})")
            log.info("report %s: %s failed: %s", run, title, e)

    if labels is not None and y is not None and len(y) != len(labels):
        notes.append(f"true labels ({len(y)}) do not match the run's {len(labels)} labels; not used")
        y = None
    if labels is not None and emb_file.is_file():
        attempt("Embedding", lambda: plot_embedding(np.load(emb_file, mmap_mode="r"), labels, y,
                                                    plots / "embedding.png", max_points))
    if labels is not None and y is not None:
        attempt("Confusion matrix", lambda: plot_confusion(y, labels, plots / "confusion.png"))
    history = read_history(run / "history.jsonl")
    if history:
        attempt("Training curves", lambda: plot_curves(history, plots / "curves.png"))

    def images():
        rows = []
        rec = _reconstructions(run, X)
        if rec is not None:
            rows += [("input", rec[0]), ("reconstruction", rec[1])]
        elif (run / "reconstructions.npy").is_file():
            if (run / "originals.npy").is_file():
                rows.append(("input", np.load(run / "originals.npy")))
            rows.append(("reconstruction", np.load(run / "reconstructions.npy")))
        for name in ("samples.npy", "generated.npy"):
            if (run / name).is_file():
                a = np.load(run / name)
                for i in range(0, min(len(a), 64), 16):
                    rows.append(("generated" if i == 0 else "", a[i:i + 16]))
        return plot_images(rows, plots / "images.png", image_shape) if rows else None
    attempt("Images", images)

    title = f"{cfg.get('method', '?')} on {cfg.get('dataset', '?')}"
    lines = [f"# Run report: {title}", "", f"Run folder: `{run.name.removesuffix('.incomplete')}`", ""]
    info = [("preset", cfg.get("preset")), ("seed", cfg.get("seed")),
            ("overrides", json.dumps(cfg.get("overrides") or {})),
            ("dataset options", json.dumps(cfg.get("dataset_kwargs") or {})),
            ("device", metrics.get("device")), ("fit seconds", metrics.get("seconds")),
            ("samples", metrics.get("n_samples")),
            ("git commit", (cfg.get("environment") or {}).get("git_commit"))]
    lines += ["| setting | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in info if v not in (None, "")]
    score = [(k, metrics[k]) for k in ("acc", "nmi", "ari", "purity") if isinstance(metrics.get(k), (int, float))]
    if score:
        lines += ["", "| metric | value |", "|---|---|"] + [f"| {k.upper()} | {v:.4f} |" for k, v in score]
    if metrics.get("phase_seconds"):
        lines += ["", "Seconds per phase: " + ", ".join(f"{k} {v:.1f}" for k, v in metrics["phase_seconds"].items())]
    for t, p, caption in sections:
        lines += ["", f"## {t}", ""] + ([caption, ""] if caption else []) + [f"![{t}]({p})"]
    if y is None:
        notes.append("true labels unknown: no label colouring, no confusion matrix")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out = run / "report.md"
    write_text(out, "\n".join(lines) + "\n")
    return out


# ---- a grid -----------------------------------------------------------------------------------------
def grid_report(grid_dir) -> Path:
    """plots (one bar chart per metric, metric-vs-parameter curves) and report.md for a grid folder."""
    from .grid import Grid, summary_markdown
    g = Grid(grid_dir)
    summ = _read_json(g.dir / "summary.json")
    rows = summ["cells"] if summ else g.write_summary()
    plots = g.dir / "plots"
    sections, notes = [], []
    for m in ("acc", "nmi", "ari"):
        try:
            p = _grid_bars(rows, m, plots / f"{m}.png")
            if p:
                sections.append((f"{m.upper()} per cell", p.relative_to(g.dir).as_posix()))
        except Exception as e:
            notes.append(f"{m} bars not drawn: {e}")
    try:
        for p in _grid_param_curves(rows, plots):
            sections.append((f"metric vs {p.stem.removeprefix('param_')}", p.relative_to(g.dir).as_posix()))
    except Exception as e:
        notes.append(f"parameter curves not drawn: {e}")
    text = summary_markdown(rows, title=f"Grid report: {g.name}")
    text += "".join(f"\n## {t}\n\n![{t}]({p})\n" for t, p in sections)
    if notes:
        text += "\n## Notes\n\n" + "".join(f"- {n}\n" for n in notes)
    out = g.dir / "report.md"
    write_text(out, text)
    return out


def _cell_label(r):
    p = {**r["params"], **{f"data.{k}": v for k, v in r["dataset_kwargs"].items()}}
    return r["method"] + ("\n" + ",".join(f"{k}={v}" for k, v in p.items()) if p else "")


def _grid_bars(rows, metric, path):
    rows = [r for r in rows if f"{metric}_mean" in r]
    if not rows:
        return None
    datasets = sorted({r["dataset"] for r in rows})
    fig = _figure(max(5.0, 1.0 + 0.6 * max(sum(r["dataset"] == d for r in rows) for d in datasets)) * len(datasets), 4.0)
    for i, d in enumerate(datasets):
        ax = fig.add_subplot(1, len(datasets), i + 1)
        rs = [r for r in rows if r["dataset"] == d]
        ax.bar(range(len(rs)), [r[f"{metric}_mean"] for r in rs], yerr=[r[f"{metric}_std"] for r in rs],
               capsize=3, color=_colors(len(rs)))
        ax.set_xticks(range(len(rs)), [_cell_label(r) for r in rs], rotation=45, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(f"{d}: {metric.upper()} (mean ± std, n = seeds)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _grid_param_curves(rows, plots):
    keys = sorted({k for r in rows for k in r["params"]})
    out = []
    for k in keys:
        vals = {json.dumps(r["params"].get(k)) for r in rows}
        if len(vals) < 2 or not all(isinstance(r["params"].get(k), (int, float)) for r in rows if k in r["params"]):
            continue
        fig = _figure(6, 4)
        ax = fig.add_subplot(1, 1, 1)
        groups: dict = {}
        for r in rows:
            if k in r["params"] and "acc_mean" in r:
                rest = {kk: vv for kk, vv in r["params"].items() if kk != k}
                groups.setdefault((r["method"], r["dataset"], json.dumps(rest, sort_keys=True)), []).append(r)
        for (meth, ds, rest), rs in sorted(groups.items()):
            rs = sorted(rs, key=lambda r: r["params"][k])
            ax.errorbar([r["params"][k] for r in rs], [r["acc_mean"] for r in rs], yerr=[r["acc_std"] for r in rs],
                        marker="o", capsize=3, label=f"{meth}/{ds}" + ("" if rest == "{}" else f" {rest}"))
        ax.set_xlabel(k)
        ax.set_ylabel("ACC")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        out.append(_save(fig, plots / f"param_{k}.png"))
    return out
