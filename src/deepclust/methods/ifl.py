"""Deep inverse feature learning, Deep IFL (CAE-MLE). B. Ghazanfari, F. Afghah, "Multi-level Feature Learning
on Embedding Layer of Convolutional Autoencoders and Deep Inverse Feature Learning for Image Clustering",
arXiv:2010.02343, 2020. Spec §1, §2.4-2.5, §3.6, §4.2 ('spec §N': the project's implementation notes on
the paper, not shipped with the package).

Algorithm (spec §4.2, the paper's Algorithm 1 plus the final stage it leaves out):
  1. split the n instances into r = 10 disjoint folds at random (unstratified, seeded);
  2. for each fold J: train the base clusterer (default CAE-MLE, from scratch: pretraining, Ward init,
     joint training) on the other r-1 folds ("inner-train"); pass the held-out fold ("inner-test")
     through its *encoder* (the paper's "decoder" is a typo, §9.17) and compute, against the
     inner-train clusters, the s+2 IFL features of §3.6:
        confidence     = |c_b| / sum_i |c_i|, b = the nearest centre (fraction of inner-train in it),
        weight_1..s    = Euclidean distance to each of the s centres,
        weight_closest = distance to the nearest centre;
  3. align the cluster numbering of every fold to fold 1 (Hungarian on the contingency table of the two
     models' labels on the instances both trained on), stack the features into E (n x (s+2)) and
     min-max scale each column to [-2.5, 2.5];
  4. append E to the primary features (the flattened pixels) and cluster the n instances again with the
     final clusterer.

The paper never names the final clusterer (§2.5, §9.5, §9.19). Default "F1": CAE-MLE with a side input
(`SideInputCAEMLE`): the image goes through conv1-conv3, the 12 scaled IFL features are concatenated
to the flattened conv3 output before the embedding layer, an extra Linear(10 -> s+2) head reconstructs
them, L_r = MSE over all HW + s + 2 values, everything else CAE-MLE. "F2": a fully connected
autoencoder d-500-500-2000-10 on [vec(x); e] with Ward initialisation and L_r + gamma KL (IDEC with Ward).
"F3": plain Ward (or k-means) on [vec(x); e] or on e alone (fields `f3_algorithm`, `f3_input`).

Deviations / judgement calls (spec section in brackets):
  - [§2.5, §9.5] the final clusterer is F1 by default (SUGGESTED in the spec; the paper leaves it unnamed).
  - [§3.6, §9.8] `align="hungarian"` (default), "none" (the literal procedure) or "sorted" (each row of
    weights sorted ascending). Hungarian needs r >= 3 (with r = 2 no instance is in both inner-trains).
  - [§9.6] scaling is global min-max per column (`ifl_scaling="minmax"`); "zclip" = z-score then clip to
    +-2.5. A column with zero range becomes 0.
  - [§9.7] centroids = the trained clustering-layer centres (`ifl_centroids="trained"`; "means" = means of
    the final inner-train clusters in the fold's latent space); confidence counts the final inner-train
    hard assignments; distance Euclidean.
  - [§9.9] no per-fold normalisation of distances (the paper has none).
  - [§9.10] every fold's model is trained from scratch on inner-train only; fold seeds are derived from
    random_state and the fold index.
  - Budgets (the paper states none, spec §9.2): "paper" preset = the spec's settings (DCEC's) for the
    base and the final clusterer, r = 10; "cpu" = a reduced CPU budget (base: 15 pretraining epochs,
    <= 1,500 clustering its per fold; final clusterer: its "cpu" preset, 30 epochs / 3,000 its); "smoke"
    = 3 folds with smoke budgets (8 pretraining epochs at batch 64, 40 clustering its; for tests). The
    fold models then get less training than a CAE-MLE run of the same preset, so their held-out
    partitions (what the IFL features encode) are weaker than the base's own; with
    base_params={} the folds run the base's preset unchanged (docs/reproductions/001_caemle_ifl.md §8).
  - A saved fold is reused on resume only if its test indices and base settings match this run's.
  - The final clusterer gets its own seed derived from random_state ("ifl-final").
  - Out-of-sample `predict`/`transform` (not in the paper, which is transductive): the IFL features of a
    new instance are those of every fold model (aligned), averaged over folds, scaled with the fitted
    column ranges and clipped to the feature range; then the final clusterer is applied.
  - Folds can run in parallel processes (`n_jobs`, a `concurrent.futures.ProcessPoolExecutor` with the
    `mp_context` start method, each child with torch.set_num_threads(1)). With `checkpoint_dir`, fold J's
    fitted model and features are saved under checkpoint_dir/fold-J/ (and each fold's training
    checkpoints under fold-J/ckpt/, the final clusterer's under final/), so `resume=True` skips the
    finished folds and continues an interrupted one or the final stage from its last checkpoint.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..engine.assignment import cluster_means, kmeans, nearest, ward
from ..engine.base import estimator
from ..engine.deep import DeepClusterer
from ..engine.device import derive_seed
from ..engine.io import atomic_path
from ..engine.validation import image_shape_of
from ..errors import InvalidInputError
from ..nn.side_input import SideInputConvAutoencoder
from .caemle import CAEMLE
from .dec import IDEC

ALIGNS = ("hungarian", "none", "sorted")
SCALINGS = ("minmax", "zclip")
FINALS = ("F1", "F2", "F3")
CENTROIDS = ("trained", "means")


# ---------------------------------------------------------------------------------------------------
# final clusterers
# ---------------------------------------------------------------------------------------------------
@estimator
class SideInputCAEMLE(CAEMLE):
    """F1 (spec §2.5): CAE-MLE on rows [vec(image); e], e = `side_dim` extra features fed into the
    embedding layer and reconstructed by a linear head. `image_shape` (C, H, W) is required."""

    side_dim: int = 12

    def _image_shape(self, X):
        return None  # the rows stay flat; the network splits image and side features

    def _check_params(self):
        super()._check_params()
        if self.image_shape is None or len(tuple(self.image_shape)) != 3:
            raise InvalidInputError("SideInputCAEMLE needs image_shape=(C, H, W) of the image part of each row")
        if not isinstance(self.side_dim, (int, np.integer)) or self.side_dim < 1:
            raise InvalidInputError(f"side_dim must be a positive integer, got {self.side_dim!r}")

    def _fit(self, X, y):
        d = int(np.prod(self.image_shape)) + int(self.side_dim)
        if X.ndim != 2 or X.shape[1] != d:
            raise InvalidInputError(f"SideInputCAEMLE expects rows of {d} values (image {tuple(self.image_shape)} "
                                    f"flattened + {self.side_dim} side features), got X of shape {X.shape}")
        return super()._fit(X, y)

    def _build_autoencoder(self, fit):
        return SideInputConvAutoencoder(self.image_shape, self.side_dim, self.filters, self.latent_dim)


@estimator
class WardIDEC(IDEC):
    """F2 (spec §2.5): IDEC (fully connected d-500-500-2000-10, L_r + gamma KL) with Ward initialisation."""

    def _init_method(self):
        return "ward"


# ---------------------------------------------------------------------------------------------------
# IFL building blocks (pure functions, unit-tested)
# ---------------------------------------------------------------------------------------------------
def make_folds(n: int, n_folds: int, seed) -> list[np.ndarray]:
    """r disjoint folds of nearly equal size, random and unstratified, seeded (spec §4.2 step 1)."""
    rng = np.random.default_rng(derive_seed(seed, "ifl-folds"))
    return [np.sort(f) for f in np.array_split(rng.permutation(n), n_folds)]


def ifl_features(z: np.ndarray, centers: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """The s+2 IFL features of §3.6 for latents z (m x d) against inner-train centres (s x d) and
    inner-train hard labels: [confidence, dist to centre 1..s, dist to the closest centre]."""
    from scipy.spatial.distance import cdist
    k = centers.shape[0]
    d = cdist(np.asarray(z, np.float64), np.asarray(centers, np.float64))
    b = d.argmin(axis=1)
    sizes = np.bincount(np.asarray(train_labels), minlength=k).astype(np.float64)
    conf = sizes[b] / max(sizes.sum(), 1.0)
    return np.column_stack([conf, d, d.min(axis=1)])


def align_permutation(ref_labels: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """perm with perm[a] = the cluster of `labels` matched to reference cluster a (Hungarian on the k x k
    contingency table, maximising agreement). Reorder a fold's centre-indexed columns with cols[:, perm]."""
    from scipy.optimize import linear_sum_assignment
    C = np.zeros((k, k), dtype=np.int64)
    np.add.at(C, (np.asarray(ref_labels), np.asarray(labels)), 1)
    rows, cols = linear_sum_assignment(-C)
    perm = np.empty(k, dtype=np.int64)
    perm[rows] = cols
    return perm


def permute_features(E: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Apply a cluster permutation to the weight columns (1..s) of IFL feature rows."""
    out = E.copy()
    out[:, 1:-1] = E[:, 1:-1][:, perm]
    return out


def scale_columns(E: np.ndarray, how: str = "minmax", bound: float = 2.5, params=None):
    """Scale each column to [-bound, bound]: min-max (zero-range columns -> 0) or z-score then clip.
    Returns (scaled, params); pass params back to scale new rows the same way (then clipped)."""
    E = np.asarray(E, np.float64)
    if how == "minmax":
        lo, hi = (E.min(0), E.max(0)) if params is None else params
        rng = hi - lo
        out = np.where(rng > 0, -bound + 2 * bound * (E - lo) / np.where(rng > 0, rng, 1.0), 0.0)
        par = (lo, hi)
    elif how == "zclip":
        mu, sd = (E.mean(0), E.std(0)) if params is None else params
        out = np.where(sd > 0, (E - mu) / np.where(sd > 0, sd, 1.0), 0.0)
        par = (mu, sd)
    else:
        raise InvalidInputError(f"ifl_scaling must be one of {SCALINGS}, got {how!r}")
    return np.clip(out, -bound, bound).astype(np.float32), par


# ---------------------------------------------------------------------------------------------------
# one fold (runs in this process or in a child)
# ---------------------------------------------------------------------------------------------------
def _fold_dir(root, j):
    return None if root is None else Path(root) / f"fold-{j}"


def _fit_fold(X: np.ndarray, task: dict) -> dict:
    """Train the base clusterer on inner-train of fold task['j'] and compute the raw IFL features of its
    inner-test. Saves model.pt then result.npz (the completion marker) under the fold's directory."""
    from . import get
    t0 = time.time()
    j, train, test = task["j"], task["train"], task["test"]
    fdir = _fold_dir(task["root"], j)
    cls = get(task["base"])
    kw = dict(task["base_params"])
    kw.update(n_clusters=task["n_clusters"], random_state=task["seed"], verbose=task["verbose"],
              device=task["device"])
    if fdir is not None:
        kw.update(checkpoint_dir=str(fdir / "ckpt"), checkpoint_every=task["checkpoint_every"],
                  resume=task["resume"])
    est = cls.from_preset(task["base_preset"], **kw)
    est.fit(X[train])
    if not hasattr(est, "cluster_centers_"):
        raise InvalidInputError(f"base clusterer {task['base']!r} has no cluster_centers_; Deep IFL needs a "
                                "centroid-based deep clusterer (cae-mle, dcec, dec, idec)")
    centers = np.asarray(est.cluster_centers_, np.float64)
    train_labels = np.asarray(est.labels_, np.int64)
    if task["centroids"] == "means":
        centers = cluster_means(est.transform(X[train]).astype(np.float64), train_labels, centers.shape[0])
    feats = ifl_features(est.transform(X[test]), centers, train_labels)
    res = {"j": j, "test": test, "train": train, "features": feats, "train_labels": train_labels,
           "centers": centers, "seconds": time.time() - t0, "model": est, "config": np.array(task["config"])}
    if fdir is not None:
        fdir.mkdir(parents=True, exist_ok=True)
        est.save(fdir / "model.pt")
        with atomic_path(fdir / "result.npz") as f:
            np.savez(f, **{k: v for k, v in res.items() if k != "model"})
    return res


def _fold_config(task: dict) -> str:
    """What a saved fold must match to be reused on resume (besides its test indices)."""
    import json
    keys = ("base", "base_preset", "base_params", "n_clusters", "seed", "centroids")
    return json.dumps({k: task[k] for k in keys}, sort_keys=True, default=str)


def _load_fold(root, j, test: np.ndarray, config: str) -> dict | None:
    fdir = _fold_dir(root, j)
    if fdir is None or not (fdir / "result.npz").is_file() or not (fdir / "model.pt").is_file():
        return None
    with np.load(fdir / "result.npz") as z:
        res = {k: z[k] for k in z.files}
    if not np.array_equal(res["test"], test):
        raise InvalidInputError(f"{fdir} holds a fold of a different split (other data, n_folds or random_state); "
                                "use another checkpoint_dir or resume=False")
    if str(res.get("config", "")) != config:
        raise InvalidInputError(f"{fdir} was trained with other base settings ({res.get('config')}) than this run "
                                f"({config}); use another checkpoint_dir or resume=False")
    res["j"], res["seconds"] = int(res["j"]), float(res["seconds"])
    res["model"] = DeepClusterer.load(fdir / "model.pt")
    res["resumed"] = True
    return res


_WORKER_X = None


def _worker_init(X):
    global _WORKER_X
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    _WORKER_X = X


def _worker_run(task):
    return _fit_fold(_WORKER_X, task)


# ---------------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------------
@estimator
class DeepIFL(DeepClusterer):
    """Deep inverse feature learning over a base deep clusterer (default CAE-MLE) (Ghazanfari & Afghah 2020).

    Fitted: labels_, ifl_features_ (n x (s+2), scaled), folds_ (list of r index arrays), alignment_
    (cluster permutation per fold), fold_models_, final_ (the final clusterer), phase_seconds_
    (fold-J, folds, features, final[/phase] wall times)."""

    base: str = "cae-mle"              # registry name of the base clusterer ("cae-mle", "dcec", "dec", ...)
    base_preset: str = "paper"         # preset of the base clusterer in every fold
    base_params: dict | None = None    # overrides for the base clusterer
    n_folds: int = 10                  # r [P]
    align: str = "hungarian"           # [SUGGESTED] §3.6: "hungarian" | "none" | "sorted"
    ifl_scaling: str = "minmax"        # [P] range; method [SUGGESTED] §3.6: "minmax" | "zclip"
    feature_range: float = 2.5         # [P] features scaled to [-2.5, 2.5]
    ifl_centroids: str = "trained"     # [SUGGESTED] §9.7: "trained" | "means"
    final: str = "F1"                  # [SUGGESTED] §2.5: "F1" | "F2" | "F3" (paper: unnamed)
    final_preset: str | None = None    # preset of the final clusterer (None = base_preset)
    final_params: dict | None = None   # overrides for the final network clusterer (F1/F2; unused by F3)
    f3_algorithm: str = "ward"         # F3 only: "ward" | "kmeans"
    f3_input: str = "concat"           # F3 only: "concat" ([vec(x); e]) | "ifl" (e alone)
    n_jobs: int = 1                    # folds trained in parallel processes (-1 = all cores)
    mp_context: str = "spawn"          # "spawn" | "fork" | "forkserver"
    image_shape: tuple | None = None   # (C, H, W) when X is flat and not square

    paper_data: ClassVar[dict] = {"usps": {"scale": "minus1-1"}}  # USPS in [-1, 1] (Ghazanfari & Afghah §IV)
    presets: ClassVar[dict] = {
        "paper": {},
        "cpu": {"base_preset": "cpu", "base_params": {"pretrain_epochs": 15, "max_iter": 1500},
                "final_preset": "cpu"},
        "smoke": {"base_preset": "smoke", "final_preset": "smoke", "n_folds": 3,
                  "base_params": {"pretrain_epochs": 8, "batch_size": 64},
                  "final_params": {"pretrain_epochs": 8, "batch_size": 64}},
    }

    # ---- parameter checks ------------------------------------------------------------------------
    def _check_params(self):
        from . import get
        base_cls = get(self.base)
        if self.base_preset not in base_cls.presets:
            raise InvalidInputError(f"base_preset {self.base_preset!r} is not a preset of {self.base!r}; "
                                    f"known: {sorted(base_cls.presets)}")
        for name in ("base_params", "final_params"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, dict):
                raise InvalidInputError(f"{name} must be a dict of parameters or None, got {v!r}")
        bad = sorted(set(self.base_params or {}) - set(base_cls.__dataclass_fields__))
        if bad:
            raise InvalidInputError(f"base_params has unknown parameters {bad} for {self.base!r}")
        if not isinstance(self.n_folds, (int, np.integer)) or isinstance(self.n_folds, bool) or self.n_folds < 2:
            raise InvalidInputError(f"n_folds must be an integer >= 2, got {self.n_folds!r}")
        choices = {"align": ALIGNS, "ifl_scaling": SCALINGS, "final": FINALS, "ifl_centroids": CENTROIDS,
                   "mp_context": ("spawn", "fork", "forkserver")}
        for name, ok in choices.items():
            if getattr(self, name) not in ok:
                raise InvalidInputError(f"{name} must be one of {ok}, got {getattr(self, name)!r}")
        if self.align == "hungarian" and self.n_folds < 3:
            raise InvalidInputError("align='hungarian' needs n_folds >= 3 (with 2 folds no instance is in both "
                                    "inner-train sets); use n_folds >= 3 or align='sorted'/'none'")
        if not float(self.feature_range) > 0:
            raise InvalidInputError(f"feature_range must be > 0, got {self.feature_range!r}")
        if not isinstance(self.n_jobs, (int, np.integer)) or not (self.n_jobs >= 1 or self.n_jobs == -1):
            raise InvalidInputError(f"n_jobs must be a positive integer or -1 (all cores), got {self.n_jobs!r}")
        if self.f3_algorithm not in ("ward", "kmeans") or self.f3_input not in ("concat", "ifl"):
            raise InvalidInputError(f"f3_algorithm must be 'ward' or 'kmeans' and f3_input 'concat' or 'ifl', got "
                                    f"{self.f3_algorithm!r}, {self.f3_input!r}")

    def check_input(self, X):
        """Data checks that need no training (the CLI runs them before a run folder exists)."""
        super().check_input(X)
        n, k = X.shape[0], int(self.n_clusters)
        if n < self.n_folds * max(k, 2):
            raise InvalidInputError(f"Deep IFL with n_folds={self.n_folds} and {k} clusters needs at least "
                                    f"{self.n_folds * max(k, 2)} samples, got {n}; lower n_folds")
        if X.ndim != 4 and (self.final == "F1" or getattr(_registry_cls(self.base), "uses_images", False)):
            image_shape_of(X, self.image_shape, method="Deep IFL")

    # ---- fit -------------------------------------------------------------------------------------
    def _fit(self, X, y):
        t_start = time.time()
        n, k = X.shape[0], int(self.n_clusters)
        if n < self.n_folds * max(k, 2):
            raise InvalidInputError(f"Deep IFL with n_folds={self.n_folds} and {k} clusters needs at least "
                                    f"{self.n_folds * max(k, 2)} samples, got {n}; lower n_folds")
        X = np.ascontiguousarray(X, dtype=np.float32)
        needs_image = self.final == "F1" or getattr(_registry_cls(self.base), "uses_images", False)
        self.image_shape_ = (tuple(int(s) for s in X.shape[1:]) if X.ndim == 4 else
                             image_shape_of(X, self.image_shape, method="Deep IFL") if needs_image else None)
        root = None if self.checkpoint_dir is None else Path(self.checkpoint_dir)
        phase_seconds: dict[str, float] = {}

        # 1. folds; 2. one base model per fold
        folds = make_folds(n, self.n_folds, self.random_state)
        all_idx = np.arange(n)
        results: dict[int, dict] = {}
        tasks = []
        for j, test in enumerate(folds):
            task = {"j": j, "test": test, "train": np.setdiff1d(all_idx, test, assume_unique=True),
                    "root": None if root is None else str(root), "base": self.base,
                    "base_preset": self.base_preset, "base_params": dict(self.base_params or {}),
                    "n_clusters": k, "seed": _sub_seed(self.random_state, "ifl-fold", j),
                    "verbose": self.verbose, "device": self.device, "centroids": self.ifl_centroids,
                    "checkpoint_every": self.checkpoint_every, "resume": self.resume}
            task["config"] = _fold_config(task)
            if self.resume and root is not None:
                res = _load_fold(root, j, test, task["config"])
                if res is not None:
                    results[j] = res
                    continue
            tasks.append(task)
        t = time.time()
        for res in self._run_folds(X, tasks):
            results[res["j"]] = res
        phase_seconds["folds"] = time.time() - t
        for j in range(self.n_folds):
            phase_seconds[f"fold-{j}"] = float(results[j]["seconds"])
        self.folds_resumed_ = sorted(j for j, r in results.items() if r.get("resumed"))

        # 3. align, stack, scale
        t = time.time()
        train_labels_full = []
        for j in range(self.n_folds):
            full = np.full(n, -1, dtype=np.int64)
            full[results[j]["train"]] = results[j]["train_labels"]
            train_labels_full.append(full)
        perms = []
        E = np.zeros((n, k + 2), dtype=np.float64)
        for j in range(self.n_folds):
            if self.align == "hungarian" and j > 0:
                both = (train_labels_full[0] >= 0) & (train_labels_full[j] >= 0)
                perm = align_permutation(train_labels_full[0][both], train_labels_full[j][both], k)
            else:
                perm = np.arange(k)
            perms.append(perm)
            E[results[j]["test"]] = self._arrange(results[j]["features"], perm)
        self.ifl_raw_features_ = E.astype(np.float32)
        self.ifl_features_, self.ifl_scaling_params_ = scale_columns(E, self.ifl_scaling, float(self.feature_range))
        self.alignment_ = perms
        self.folds_ = folds
        self.fold_models_ = [results[j]["model"] for j in range(self.n_folds)]
        self.fold_centers_ = [np.asarray(results[j]["centers"], np.float32) for j in range(self.n_folds)]
        self.fold_cluster_sizes_ = [np.bincount(results[j]["train_labels"], minlength=k) for j in range(self.n_folds)]
        phase_seconds["features"] = time.time() - t

        # 4. final clustering of [primary features; IFL features]
        t = time.time()
        A = np.concatenate([X.reshape(n, -1), self.ifl_features_], axis=1)
        self._fit_final(A, y, root)
        phase_seconds["final"] = time.time() - t
        for name, sec in getattr(self.final_, "phase_seconds_", {}).items():
            phase_seconds[f"final/{name}"] = sec
        self.phase_seconds_ = phase_seconds
        self.history_ = getattr(self.final_, "history_", [])
        self.fit_seconds_ = time.time() - t_start
        self.device_ = getattr(self.final_, "device_", "cpu")

    def _arrange(self, feats: np.ndarray, perm: np.ndarray) -> np.ndarray:
        if self.align == "sorted":
            out = feats.copy()
            out[:, 1:-1] = np.sort(feats[:, 1:-1], axis=1)
            return out
        return permute_features(feats, perm)

    def _run_folds(self, X, tasks):
        n_jobs = (os.cpu_count() or 1) if self.n_jobs == -1 else int(self.n_jobs)
        if n_jobs <= 1 or len(tasks) <= 1:
            for task in tasks:
                yield _fit_fold(X, task)
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        with ProcessPoolExecutor(max_workers=min(n_jobs, len(tasks)), mp_context=mp.get_context(self.mp_context),
                                 initializer=_worker_init, initargs=(X,)) as pool:
            futures = [pool.submit(_worker_run, task) for task in tasks]
            for fut in as_completed(futures):
                yield fut.result()

    def _final_estimator(self, root):
        preset = self.final_preset or self.base_preset
        kw = dict(n_clusters=int(self.n_clusters), random_state=_sub_seed(self.random_state, "ifl-final"),
                  verbose=self.verbose, device=self.device)
        if root is not None:
            kw.update(checkpoint_dir=str(root / "final"), checkpoint_every=self.checkpoint_every, resume=self.resume)
        cls = SideInputCAEMLE if self.final == "F1" else WardIDEC
        if self.final == "F1":
            kw.update(image_shape=self.image_shape_, side_dim=int(self.n_clusters) + 2)
        kw.update(self.final_params or {})
        if preset not in cls.presets:
            raise InvalidInputError(f"final_preset {preset!r} is not a preset of {cls.__name__}; known: "
                                    f"{sorted(cls.presets)}")
        return cls.from_preset(preset, **kw)

    def _fit_final(self, A, y, root):
        if self.final in ("F1", "F2"):
            self.final_ = self._final_estimator(root).fit(A, y)
            self.labels_ = self.final_.labels_
            self.cluster_centers_ = self.final_.cluster_centers_
            return
        Z = A if self.f3_input == "concat" else A[:, -(int(self.n_clusters) + 2):]
        if self.f3_algorithm == "ward":
            centers, labels = ward(Z, int(self.n_clusters))
        else:
            centers, labels = kmeans(Z, int(self.n_clusters), n_init=20, seed=self.random_state)
        self.final_ = None
        self.labels_, self.cluster_centers_ = labels, centers

    # ---- out-of-sample -------------------------------------------------------------------------
    def ifl_transform(self, X) -> np.ndarray:
        """IFL features of new instances: every fold model's (aligned) features averaged over folds,
        scaled with the fitted column ranges and clipped to +-feature_range (an extension; see module doc)."""
        self._check_fitted()
        X = self._check_new(X)
        E = 0.0
        for model, centers, sizes, perm in zip(self.fold_models_, self.fold_centers_, self.fold_cluster_sizes_,
                                               self.alignment_):
            z = model.transform(X)
            labels = np.repeat(np.arange(len(sizes)), sizes)  # only the sizes matter for confidence
            E = E + self._arrange(ifl_features(z, centers, labels), perm)
        E = E / len(self.fold_models_)
        return scale_columns(E, self.ifl_scaling, float(self.feature_range), self.ifl_scaling_params_)[0]

    def _augment(self, X):
        X = np.asarray(X, np.float32)
        return np.concatenate([X.reshape(X.shape[0], -1), self.ifl_transform(X)], axis=1)

    def _transform(self, X):
        if self.final_ is None:
            return self._augment(X)
        return self.final_.transform(self._augment(X))

    def _predict(self, X):
        if self.final_ is None:
            A = self._augment(X)
            Z = A if self.f3_input == "concat" else A[:, -(int(self.n_clusters) + 2):]
            return nearest(torch.from_numpy(Z), torch.as_tensor(self.cluster_centers_)).numpy()
        return self.final_.predict(self._augment(X))


def _registry_cls(name):
    from . import get
    return get(name)


def _sub_seed(seed, *keys):
    return None if seed is None else int(derive_seed(seed, *keys) % (2**31))


METHODS = {"deep-ifl": DeepIFL}
__all__ = ["DeepIFL", "SideInputCAEMLE", "WardIDEC", "make_folds", "ifl_features", "align_permutation",
           "permute_features", "scale_columns"]
