"""Plots and Markdown pages for runs and grids (matplotlib, headless: the Agg canvas, no pyplot).

`run_report(run_dir)` reads a run folder (config.json, metrics.json, labels.npy, y_true.npy, embedding.npy,
partitions.npz, assignments.csv, history.jsonl, model.pt, reconstructions.npy / samples.npy) and writes
into run_dir/plots/:
  embedding.png    2-D map of the embedding (of the raw features for methods without one): t-SNE of a
                   random subsample, coloured by cluster, by the initial partition (the partition the
                   method started from, e.g. DEC's k-means init) and by true label when known; clusters and
                   classes matched by the Hungarian method share a colour
  clusters.png     image data: per cluster, its most and least confident members (by the soft assignment,
                   else by the distance to the cluster centre) with the cluster's size
  sizes.png        cluster sizes (and those of the initial partition)
  confusion.png    confusion matrix after Hungarian matching of clusters to classes (labels known)
  curves.png       training curves from history.jsonl (losses, label change, ACC/NMI when logged); a one-step
                   phase (an initialisation) is shown as its partition's cluster sizes and its metrics
  images.png       reconstructions / generated samples when the run has them
and run_dir/report.md showing them with the metrics. Called by `deepclust fit` with everything in memory
(nothing is reloaded); `deepclust report RUN` reloads what it needs (true labels from y_true.npy, else from
the run's dataset as config.json describes it; without them the label panels are left out).

Cost: the embedding map is the expensive part (t-SNE, about 3.5 ms of CPU per point on one core). With
`max_points=None` it uses as many points as t-SNE draws in about 2 % of the fit's time (between 300 and
3,000), so plotting stays a few percent of the fit (benchmarks/cli_overhead.py). UMAP only on request
(`map_method="umap"`: its first call compiles for ~15 s).

`grid_report(grid_dir)` writes grid_dir/plots/*.png and grid_dir/report.md for a `deepclust bench` grid.
Every figure is optional: a failure in one is written into the page and the others go on.
"""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from ..engine.io import atomic_path, write_text

log = logging.getLogger("deepclust")
MAX_POINTS = 3000
MIN_POINTS = 300
TSNE_SECONDS_PER_POINT = 0.0035  # CPU seconds per point of sklearn's t-SNE (1,000 iterations, one core)
PLOT_SHARE = 0.02                # share of the fit time the embedding map may take


def _figure(w=6.0, h=4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    with atomic_path(path, "wb") as f:  # unique temp name, fsync, rename: no torn or shared temp file
        # the constrained layout already fits the figure: no second "tight" draw; fast PNG compression
        fig.savefig(f, format="png", pil_kwargs={"compress_level": 1})
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
def map_points(fit_seconds: float | None, n: int) -> int:
    """Points of the embedding map: as many as t-SNE draws in PLOT_SHARE of the fit time, within
    [MIN_POINTS, MAX_POINTS] (all of them when n is smaller)."""
    if fit_seconds is None:
        return int(min(n, MAX_POINTS))
    k = int(PLOT_SHARE * float(fit_seconds) / TSNE_SECONDS_PER_POINT)
    return int(min(n, max(MIN_POINTS, min(MAX_POINTS, k))))


def embed_2d(Z, max_points: int = MAX_POINTS, seed: int = 0, method: str = "tsne"):
    """(coords, idx, how): a 2-D map of Z[idx], idx a random subsample of at most max_points rows.
    method: "tsne" (scikit-learn, default), "umap" (umap-learn) or "pca"."""
    n = len(Z)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)
    X = np.asarray(Z[idx], dtype=np.float32).reshape(len(idx), -1)
    if X.shape[1] == 2:
        return X, idx, "the 2-D embedding itself"
    if X.shape[1] == 1:
        return np.c_[X[:, 0], np.zeros(len(X))], idx, "the 1-D embedding"
    from sklearn.decomposition import PCA
    if method == "pca" or len(X) < 5:
        return PCA(2, random_state=seed).fit_transform(X), idx, "PCA"
    if method in ("umap", "auto"):
        try:
            import umap  # optional extra
            return umap.UMAP(n_components=2, random_state=seed).fit_transform(X), idx, "UMAP"
        except ImportError:
            if method == "umap":
                raise
    from sklearn.manifold import TSNE
    if X.shape[1] > 50:
        X = PCA(50, random_state=seed).fit_transform(X)
    perplexity = float(min(30.0, max(2.0, (len(X) - 1) / 3)))
    coords = TSNE(2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(X)
    return coords, idx, "t-SNE"


def matched_colours(labels, y=None) -> tuple[dict, dict | None]:
    """Colour index per cluster id (and per class when y is given): a cluster matched to a class by the
    Hungarian method takes that class's colour; unmatched clusters take the colours after the classes'."""
    clusters = np.unique(labels).tolist()
    if y is None:
        return {c: i for i, c in enumerate(clusters)}, None
    from ..metrics import hungarian_mapping
    classes = np.unique(y).tolist()
    cls_col = {c: i for i, c in enumerate(classes)}
    mapping = hungarian_mapping(y, labels)
    col, nxt = {}, len(classes)
    for c in clusters:
        if c in mapping:
            col[c] = cls_col[mapping[c]]
        else:
            col[c], nxt = nxt, nxt + 1
    return col, cls_col


def _scatter(ax, coords, lab, colmap, ncol, title, legend=True):
    cols = _colors(max(ncol, 1))
    vals = np.unique(lab)
    for v in vals:
        m = lab == v
        ax.scatter(coords[m, 0], coords[m, 1], s=3, color=cols[colmap.get(v, 0) % len(cols)], label=str(v),
                   linewidths=0)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if legend and len(vals) <= 20:
        ax.legend(markerscale=3, fontsize=6, loc="best", ncol=2)


def plot_embedding(Z, labels, y, path: Path, max_points: int = MAX_POINTS, init=None, init_name: str = "init",
                   method: str = "tsne") -> tuple[Path, str]:
    """Map of Z coloured by cluster, by the initial partition `init` (if given) and by true label y (if
    given); matched clusters and classes share colours."""
    coords, idx, how = embed_2d(Z, max_points, method=method)
    labels = np.asarray(labels)
    col, cls_col = matched_colours(labels, y)
    ncol = max([*col.values(), *((cls_col or {}).values()), 0]) + 1
    panels = [("clusters" + (" (colours matched to classes)" if y is not None else ""), labels[idx], col, ncol)]
    if init is not None:
        icol, _ = matched_colours(np.asarray(init), y) if y is not None else matched_colours(np.asarray(init), labels)
        panels.append((f"initial partition (after phase {init_name!r})", np.asarray(init)[idx], icol,
                       max(max(icol.values()) + 1, ncol)))
    if y is not None:
        panels.append(("true labels", np.asarray(y)[idx], cls_col, ncol))
    fig = _figure(4.6 * len(panels), 4.4)
    for i, (title, lab, cmap, nc) in enumerate(panels):
        _scatter(fig.add_subplot(1, len(panels), i + 1), coords, lab, cmap, nc, title)
    fig.suptitle(f"{how} of {len(idx)} of {len(Z)} points", fontsize=9)
    return _save(fig, path), f"{how} of {len(idx)} of {len(Z)} points (random subsample)"


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


def plot_sizes(labels, path: Path, init=None, init_name: str = "init") -> Path:
    labels = np.asarray(labels)
    ids = np.unique(labels if init is None else np.concatenate([labels, np.asarray(init)]))
    final = np.array([(labels == c).sum() for c in ids])
    fig = _figure(min(2.5 + 0.35 * len(ids), 16), 3.4)
    ax = fig.add_subplot(1, 1, 1)
    if init is not None:
        first = np.array([(np.asarray(init) == c).sum() for c in ids])
        ax.bar(np.arange(len(ids)) - 0.2, first, 0.4, label=f"after {init_name!r}", color="0.7")
        ax.bar(np.arange(len(ids)) + 0.2, final, 0.4, label="final")
        ax.legend(fontsize=7)
    else:
        ax.bar(np.arange(len(ids)), final)
    if len(ids) <= 40:
        ax.set_xticks(range(len(ids)), [str(c) for c in ids], fontsize=7)
    ax.set_xlabel("cluster")
    ax.set_ylabel("samples")
    ax.set_title(f"cluster sizes ({len(labels)} samples, {len(np.unique(labels))} clusters)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
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


def plot_curves(history: list[dict], path: Path, partitions: dict | None = None) -> Path | None:
    """One panel per phase and kind (losses, monitoring). A phase with a single history row (an
    initialisation such as DEC's k-means) is drawn as the cluster sizes of the partition it produced
    (from `partitions`) with its metrics in the title, not as a lone dot."""
    phases: dict[str, list[dict]] = {}
    for r in history:
        if r.get("event"):  # rollbacks
            continue
        phases.setdefault(r.get("phase", "?"), []).append(r)
    panels = []
    for ph, rows in phases.items():
        unit = next((u for u in ("epoch", "it", "step", "iteration") if u in rows[0]), None)
        keys = sorted({k for r in rows for k, v in r.items()
                       if k not in SKIP and isinstance(v, (int, float)) and not isinstance(v, bool)})
        if len(rows) == 1:
            if keys or (partitions and ph in partitions):
                panels.append((ph, unit, "one-shot", keys, rows))
            continue
        losses = [k for k in keys if k not in MONITORS]
        mons = [k for k in keys if k in MONITORS]
        for kind, ks in (("losses", losses), ("monitoring", mons)):
            pts = [r for r in rows if any(k in r for k in ks)]
            if ks and pts:
                panels.append((ph, unit, kind, ks, pts))
    if not panels:
        return None
    n = len(panels)
    cols = min(n, 2)
    nrows = (n + cols - 1) // cols
    fig = _figure(6.0 * cols, 3.4 * nrows)
    for i, (ph, unit, kind, ks, pts) in enumerate(panels):
        ax = fig.add_subplot(nrows, cols, i + 1)
        if kind == "one-shot":
            vals = ", ".join(f"{k.upper() if k in ('acc', 'nmi', 'ari') else k} {pts[0][k]:.4g}" for k in ks)
            part = (partitions or {}).get(ph)
            if part is not None:
                ids, counts = np.unique(np.asarray(part), return_counts=True)
                ax.bar(range(len(ids)), counts, color="0.55")
                if len(ids) <= 40:
                    ax.set_xticks(range(len(ids)), [str(c) for c in ids], fontsize=7)
                ax.set_xlabel("cluster")
                ax.set_ylabel("samples")
                ax.set_title(f"{ph}: the partition it produced ({len(ids)} clusters)" + (f"\n{vals}" if vals else ""),
                             fontsize=9)
            else:
                ax.axis("off")
                ax.set_title(f"{ph} (one step)", fontsize=9)
                ax.text(0.02, 0.5, "\n".join(f"{k} = {pts[0][k]:.6g}" for k in ks), fontsize=9, va="center",
                        transform=ax.transAxes, family="monospace")
            continue
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
    """(n, H, W, C) in [0, 1] for display, or None when A cannot be read as images."""
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


def _mosaic(rows: list[list[np.ndarray | None]], pad: int = 1) -> np.ndarray:
    """One RGB image from rows of (H, W, C) tiles (None = an empty tile), white padding between tiles."""
    tiles = [t for r in rows for t in r if t is not None]
    h, w = tiles[0].shape[:2]
    ncols = max(len(r) for r in rows)
    out = np.ones((len(rows) * (h + pad) + pad, ncols * (w + pad) + pad, 3), np.float32)
    for i, r in enumerate(rows):
        for j, t in enumerate(r):
            if t is not None:
                out[pad + i * (h + pad): pad + i * (h + pad) + h, pad + j * (w + pad): pad + j * (w + pad) + w] = \
                    np.repeat(t, 3, axis=2) if t.shape[2] == 1 else t
    return out


def plot_images(rows: list[tuple[str, np.ndarray]], path: Path, image_shape=None, per_row: int = 16) -> Path | None:
    # one grey-level range for all rows (the inputs'), so reconstructions are shown on the same scale
    vrange = (min(float(np.min(a)) for _, a in rows), max(float(np.max(a)) for _, a in rows))
    imgs = [(t, _as_images(a[:per_row], image_shape, vrange)) for t, a in rows]
    imgs = [(t, a) for t, a in imgs if a is not None and len(a)]
    if not imgs:
        return None
    n = max(len(a) for _, a in imgs)
    h = imgs[0][1].shape[1]
    fig = _figure(0.5 * n + 1.5, 0.5 * len(imgs) + 0.4)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(_mosaic([list(a) for _, a in imgs]), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([1 + r * (h + 1) + h / 2 for r in range(len(imgs))], [t for t, _ in imgs], fontsize=7)
    return _save(fig, path)


def plot_cluster_grid(X, labels, path: Path, score=None, image_shape=None, per_side: int = 6,
                      max_clusters: int = 30, score_name: str = "confidence") -> Path | None:
    """One row per cluster: its `per_side` most confident members, then its `per_side` least confident
    ones (`score`: higher = more confident; None = in data order), labelled with the cluster's size.
    With more than max_clusters clusters the largest ones are shown."""
    labels = np.asarray(labels)
    ids, counts = np.unique(labels, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:max_clusters]
    shown = sorted(ids[order].tolist())
    size = dict(zip(ids.tolist(), counts.tolist()))
    rows, names, picked = [], [], []
    for c in shown:
        members = np.flatnonzero(labels == c)
        if score is not None:
            members = members[np.argsort(-np.asarray(score)[members], kind="stable")]
        most = members[:per_side]
        least = members[max(per_side, len(members) - per_side):]
        picked.append((most, least))
    flat_idx = np.unique(np.concatenate([np.concatenate(p) for p in picked]))
    pos = {int(i): j for j, i in enumerate(flat_idx)}
    sample = np.asarray(X[flat_idx], dtype=np.float32)
    vrange = (float(sample.min()), float(sample.max()))
    imgs = _as_images(sample, image_shape, vrange)
    if imgs is None:
        return None
    for c, (most, least) in zip(shown, picked):
        row = [imgs[pos[int(i)]] for i in most] + [None] * (per_side - len(most)) + [None]
        row += [imgs[pos[int(i)]] for i in least] + [None] * (per_side - len(least))
        rows.append(row)
        names.append(f"cluster {c} (n={size[c]})")
    h = imgs.shape[1]
    fig = _figure(0.42 * (2 * per_side + 1) + 1.8, 0.42 * len(rows) + 0.8)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(_mosaic(rows), interpolation="nearest")
    ax.set_yticks([1 + r * (h + 1) + h / 2 for r in range(len(rows))], names, fontsize=7)
    w = imgs.shape[2] + 1
    ax.set_xticks([w * per_side / 2, w * (per_side + 1 + per_side / 2)],
                  [f"most {score_name}" if score is not None else "first members",
                   f"least {score_name}" if score is not None else "last members"], fontsize=8)
    ax.xaxis.tick_top()
    more = f"; the {len(shown)} largest of {len(ids)} clusters" if len(ids) > len(shown) else ""
    ax.set_title(f"members per cluster{more}", fontsize=9)
    return _save(fig, path)


# ---- a run folder -----------------------------------------------------------------------------------
def _load_y_and_X(run: Path, cfg: dict | None, need_X: bool):
    y = np.load(run / "y_true.npy") if (run / "y_true.npy").is_file() else None
    X = None
    if cfg and cfg.get("dataset") and (y is None or need_X):
        try:
            from .protocols import load_data
            ds = load_data(cfg["dataset"], **(cfg.get("dataset_kwargs") or {}))
            if y is None and not cfg.get("no_labels"):
                y = ds.y
            X = ds.X
        except Exception as e:  # the dataset may be gone or a user file elsewhere
            log.info("report: dataset %s not reloaded: %s", cfg.get("dataset"), e)
    return y, X


def _reconstructions(run: Path, X, est=None, n: int = 16):
    """(originals, reconstructions) from the model's autoencoder_ (in memory, else model.pt), or None."""
    if X is None:
        return None
    import torch
    if est is None:
        if not (run / "model.pt").is_file():
            return None
        from ..engine.base import BaseClusterer
        est = BaseClusterer.load(run / "model.pt", device="cpu")
    ae = getattr(est, "autoencoder_", None)
    if ae is None or not isinstance(ae, torch.nn.Module):
        return None
    x = torch.as_tensor(np.asarray(X[:n], dtype=np.float32))
    dev = next(iter(ae.parameters()), torch.empty(0)).device
    was = ae.training
    ae.eval()
    try:
        with torch.no_grad():
            for inp in (x, x.reshape(len(x), -1)):
                try:
                    out = ae(inp.to(dev))
                except Exception:
                    continue
                xh = out[1] if isinstance(out, (tuple, list)) else out
                if xh.numel() == x.numel():
                    return x.numpy(), xh.reshape(x.shape).float().cpu().numpy()
    finally:
        ae.train(was)
    return None


def _assignment_scores(run: Path):
    """(confidence, distance) columns of assignments.csv (None where empty)."""
    p = run / "assignments.csv"
    if not p.is_file():
        return None, None
    conf, dist = [], []
    with open(p, newline="") as f:
        for row in csv.DictReader(f):
            conf.append(row.get("confidence") or "nan")
            dist.append(row.get("distance") or "nan")
    conf, dist = np.asarray(conf, float), np.asarray(dist, float)
    return (None if np.isnan(conf).all() else conf), (None if np.isnan(dist).all() else dist)


def _partitions(run: Path) -> dict:
    p = run / "partitions.npz"
    if not p.is_file():
        return {}
    with np.load(p) as z:
        return {k: z[k] for k in z.files}


def initial_partition(partitions: dict | None, n: int):
    """(phase name, labels) of the partition a method started from: the 'init' phase's, else the first
    phase that recorded one (None when there is none)."""
    parts = {k: v for k, v in (partitions or {}).items() if v is not None and len(v) == n}
    if not parts:
        return None, None
    name = "init" if "init" in parts else next(iter(parts))
    return name, np.asarray(parts[name])


def run_report(run_dir, max_points: int | None = None, *, est=None, X=None, y=None, labels=None,
               embedding=None, metrics: dict | None = None, partitions: dict | None = None,
               confidence=None, distance=None, image_shape=None, map_method: str = "tsne") -> Path:
    """Write run_dir/plots/*.png and run_dir/report.md; returns the report path. The keyword arguments
    pass what `deepclust fit` has in memory (then nothing is reloaded); left out, they are read from the
    run folder (and X, y from the run's dataset when needed)."""
    run = Path(run_dir)
    if not run.is_dir():
        from ..errors import InvalidInputError
        raise InvalidInputError(f"{run} is not a run folder")
    plots = run / "plots"
    plots.mkdir(exist_ok=True)
    cfg = _read_json(run / "config.json") or {}
    metrics = metrics if metrics is not None else (_read_json(run / "metrics.json") or {})
    if labels is None and (run / "labels.npy").is_file():
        labels = np.load(run / "labels.npy")
    in_memory = X is not None
    if embedding is None and (run / "embedding.npy").is_file():
        embedding = np.load(run / "embedding.npy", mmap_mode="r")
    if not in_memory:
        need_X = embedding is None or (run / "model.pt").is_file() or bool(cfg.get("image_shape"))
        y, X = _load_y_and_X(run, cfg, need_X=need_X)
        confidence, distance = _assignment_scores(run)
        partitions = _partitions(run)
    if image_shape is None and X is not None and getattr(X, "ndim", 0) == 4:
        image_shape = tuple(X.shape[1:])
    if max_points is None:
        max_points = map_points(metrics.get("seconds"), len(labels) if labels is not None else MAX_POINTS)
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
    init_name, init = initial_partition(partitions, len(labels) if labels is not None else -1)
    if labels is not None:
        Z = embedding if embedding is not None else X
        what = "the learned embedding" if embedding is not None else "the input features (this method learns no embedding)"
        if Z is not None:
            attempt("Embedding map", lambda: (lambda r: (r[0], f"{r[1]} of {what}"))(
                plot_embedding(Z, labels, y, plots / "embedding.png", max_points, init, init_name, map_method)))
        if X is not None and image_shape is not None:
            score, name = (confidence, "confident") if confidence is not None else \
                ((-np.asarray(distance), "central") if distance is not None else (None, ""))
            attempt("Members per cluster", lambda: (plot_cluster_grid(
                X, labels, plots / "clusters.png", score, image_shape, score_name=name),
                "Each row: the cluster's most confident members, then its least confident ones (by "
                + ("the soft assignment" if confidence is not None else "the distance to the cluster centre"
                   if distance is not None else "data order: this method gives no confidence") + ")."))
        attempt("Cluster sizes", lambda: plot_sizes(labels, plots / "sizes.png", init, init_name))
    if labels is not None and y is not None:
        attempt("Confusion matrix", lambda: plot_confusion(y, labels, plots / "confusion.png"))
    history = getattr(est, "history_", None) if est is not None else None
    history = history if history is not None else read_history(run / "history.jsonl")
    if history:
        attempt("Training curves", lambda: plot_curves(history, plots / "curves.png", partitions))

    def images():
        rows = []
        rec = _reconstructions(run, X, est)
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

    title = f"{cfg.get('method', '?')} on {cfg.get('dataset_name') or cfg.get('dataset', '?')}"
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
    if labels is not None:
        ids, counts = np.unique(labels, return_counts=True)
        lines += ["", f"Cluster sizes ({len(ids)} clusters): " + ", ".join(f"{c}: {n}" for c, n in zip(ids, counts))]
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
