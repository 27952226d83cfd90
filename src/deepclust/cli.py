"""The `deepclust` command.

  deepclust datasets                         datasets, their sizes, whether their files are here
  deepclust methods [NAME]                   methods and presets; with NAME its parameters, defaults, meanings
  deepclust fit --method M --dataset D       cluster, print a summary, write a run folder
  deepclust fit --resume runs/<name>.incomplete   continue an interrupted run
  deepclust reproduce / bench / report / results-md   (see `deepclust <command> --help`)

`fit` checks everything it can before the run folder exists: the method, preset and every parameter
(types, ranges, the method's own checks: `validate_params`), the seed, the device, the tracker, the data
(read, labels, options that apply to it) and the fit between data and method (`check_input`: n_clusters
<= samples, images for convolutional methods). A bad request is one line on stderr and exit status 2,
and leaves nothing on disk.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import shutil
import sys
import textwrap
import time
from pathlib import Path

from .errors import DeepclustError, InvalidInputError

log = logging.getLogger("deepclust")

# parameters the CLI sets itself (and the flag to use instead)
RESERVED = {"random_state": "--seed", "device": "--device", "verbose": "-q/--quiet",
            "checkpoint_dir": "the run folder (checkpoints/)", "resume": "--resume RUN_DIR",
            "history_file": "the run folder (history.jsonl)", "checkpoint_every": "--checkpoint-every"}
SCALES = ("none", "minus1-1", "minus05-05", "standard", "minmax")


class UsageError(DeepclustError):
    """A malformed command line (argparse): one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# ---- tables -----------------------------------------------------------------------------------------
def _width() -> int:
    return max(60, min(shutil.get_terminal_size((110, 24)).columns, 160))


def table(headers: list[str], rows: list[list[str]], wrap_last: bool = True) -> str:
    """Columns padded to their widest cell, two spaces apart; the last column wrapped at word boundaries
    to the terminal width (continuation lines indented under it), never cut."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lead = sum(widths[:-1]) + 2 * (len(headers) - 1)
    room = max(20, _width() - lead)
    out = []
    for r in [headers, *rows]:
        head = "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths[:-1]))
        last = textwrap.wrap(r[-1], room, break_long_words=False, break_on_hyphens=False) if wrap_last else [r[-1]]
        last = last or [""]
        out.append((head + "  " + last[0]).rstrip() if len(r) > 1 else last[0])
        out += [" " * lead + line for line in last[1:]]
    return "\n".join(out)


def _count(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "?"


def cmd_datasets(args) -> int:
    from .datasets import dataset_status
    rows = []
    for r in dataset_status(args.data_dir):
        shape = "x".join(str(s) for s in r.get("shape") or ()) or "?"
        here = "yes" if r.get("available") else ("dl" if r.get("downloadable") else "no")
        desc = r.get("description") or ""
        where = r.get("where")
        if where and r.get("available") and not str(where).startswith(("built", "generated")):
            desc += f" [files: {where}]"
        rows.append([r["name"], _count(r.get("n_samples")), shape, here, desc])
    print(table(["dataset", "samples", "shape", "here", "description"], rows))
    print("\n" + textwrap.fill("here: yes = files found; dl = not here, `--download` fetches them; no = place the "
                               "files in $DEEPCLUST_DATA or pass --data-dir. Your own data: pass a path to a .npy/.npz/"
                               ".csv/.h5 file or an image folder as --dataset (see `deepclust fit --help`).", _width()))
    return 0


def _summary_line(cls) -> str:
    """The first paragraph of the class docstring (whole sentences, at most ~300 characters)."""
    import re
    doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    if len(doc) <= 300:
        return doc
    ends = [m.end() for m in re.finditer(r"(?<!\beq)(?<!\be\.g)(?<!\bi\.e)(?<!\bEq)(?<!\bcf)\.\s(?=[A-Z(`])", doc)]
    ends = [e for e in ends if e <= 300]
    return doc[:ends[-1]].strip() if ends else doc


def cmd_methods(args) -> int:
    from .methods import get, registry
    if args.name:
        print(describe_method(args.name, get(args.name)))
        return 0
    rows = [[name, ", ".join(cls.presets), _summary_line(cls)] for name, cls in sorted(registry().items())]
    print(table(["method", "presets", "description"], rows))
    print("\n" + textwrap.fill("`deepclust methods NAME` lists a method's parameters, defaults, presets and paper. "
                               "Presets: paper = the paper's settings (default); cpu = a reduced budget for a CPU; "
                               "smoke = seconds, for tests.", _width()))
    return 0


# ---- `deepclust methods NAME` -------------------------------------------------------------------------
COMMON_MEANINGS = {
    "n_clusters": "number of clusters (default: the number of classes when the data has labels)",
    "random_state": "seed (--seed)", "device": "auto | cpu | cuda | cuda:N | mps (--device)",
    "verbose": "progress output: 0 none, 1 bars/lines (-q sets 0)",
    "checkpoint_dir": "checkpoint folder (the CLI uses the run folder's checkpoints/)",
    "checkpoint_every": "checkpoint every N training iterations (minibatches) in every phase; 0 = phase ends only",
    "resume": "continue from checkpoint_dir (--resume RUN_DIR)",
    "lr": "learning rate", "pretrain_lr": "learning rate of the autoencoder pretraining",
    "batch_size": "minibatch size", "pretrain_batch_size": "minibatch size of the pretraining",
    "pretrain_epochs": "autoencoder pretraining epochs", "max_iter": "maximum iterations",
    "n_init": "k-means restarts (best kept)", "latent_dim": "embedding dimension",
    "hidden": "hidden layer widths", "tol": "stop when fewer than this fraction of labels change between refreshes",
    "update_interval": "iterations between target-distribution refreshes", "alpha": "Student-t degrees of freedom",
    "gamma": "weight of the clustering loss next to reconstruction", "optimizer": "adam | sgd",
    "filters": "convolution channels", "image_shape": "(C, H, W) of flattened image input",
    "momentum": "SGD momentum", "n_iter": "training iterations", "log_every": "iterations between history rows",
    "monitor_every": "iterations between monitoring rows", "weight_decay": "L2 weight decay",
    "arch": "network architecture", "init": "weight initialisation", "dropout": "dropout rate",
    "n_folds": "folds", "n_jobs": "parallel processes (-1 = all cores)", "max_iter_em": "EM iterations",
    "covariance_type": "diag | full | tied | spherical", "reg_covar": "added to the covariance diagonal",
    "latent_act": "activation of the embedding layer", "assign": "cluster assignment rule",
    "variance": "cluster variance model", "fixed_var": "fixed cluster variance",
    "var_floor": "lower bound of variances", "cluster_batch": "samples per cluster-update batch",
    "cluster_iters": "cluster updates per iteration", "weight_init": "glorot (the papers' Keras code) | torch",
    "shuffle": "reshuffle minibatches every epoch", "final_clusterer": "clustering of the final embedding",
    "beta1": "Adam beta1", "beta2": "Adam beta2", "disc_hidden": "discriminator hidden layer widths",
    "em_n_init": "EM restarts", "em_reg_covar": "added to the EM covariances' diagonal",
    "em_tol": "EM convergence tolerance", "generator_loss": "the encoder's adversarial loss",
    "lambda_cluster": "weight of the clustering loss (lambda_3)",
    "lambda_rec": "weight of a reconstruction term (0 = the paper's DCAN)",
    "sample_every": "iterations between generated-sample grids (0 = none)",
    "update": "order of the encoder and discriminator updates",
    "disc_lr": "discriminator learning rate", "adam_eps": "Adam epsilon",
    "drop_last": "drop the last incomplete minibatch of an epoch", "embed_dim": "dimension of the clustering embedding",
    "dense_hidden": "widths of the dense embedding network", "dense_l2": "L2 weight of the dense network",
    "rotation": "largest augmentation rotation (degrees)", "shift": "largest augmentation shift (pixels)",
    "augment": "augment the training images", "augment_pretrain": "augment during pretraining too",
    "keep_optimizer_state": "keep the optimiser's moments when fine-tuning starts",
    "residual": "residual blocks in the autoencoder", "use_discriminator": "train the GAN discriminator",
    "use_densenet": "train the dense embedding network", "width": "channel-width multiplier",
    "lam": "weight of the adversarial loss", "lam_cluster": "weight of the clustering loss", "rho": "degrees of freedom of P",
    "finetune_epochs": "fine-tuning epochs", "final_clustering": "clustering of the final embedding",
    "densenet_off_finetune": "fine-tune even without the dense network", "exclude_self_pairs": "leave i = j out of P and Q",
    "detach_p": "no gradient through the target P", "dense_relu_output": "ReLU on the dense network's output",
    "pq_eps": "clamp floor of P and Q", "disc_label_noise": "label noise of the discriminator targets",
    "recon_channel_mean": "reconstruction loss averaged over channels",
}
PRESET_MEANINGS = {"paper": "the paper's settings", "cpu": "reduced budget that runs on a CPU",
                   "smoke": "seconds, for tests (not meaningful results)", "fast": "a faster schedule"}


def field_comments(cls) -> dict[str, str]:
    """Inline comments of the dataclass fields in the class's source (and its bases'), continuation
    comment lines joined."""
    import inspect
    import re
    out: dict[str, str] = {}
    pat = re.compile(r"^\s+(\w+)\s*:\s*[^=#]+?=\s*.*?#\s?(.*)$")
    cont = re.compile(r"^\s+#\s?(.*)$")
    for k in reversed(cls.__mro__):
        try:
            lines = inspect.getsource(k).splitlines()
        except (OSError, TypeError):
            continue
        i = 0
        while i < len(lines):
            m = pat.match(lines[i])
            if m and not lines[i].lstrip().startswith(("def ", "#")):
                text = [m.group(2).strip()]
                indent = len(lines[i]) - len(lines[i].lstrip())
                while (i + 1 < len(lines) and cont.match(lines[i + 1])
                       and len(lines[i + 1]) - len(lines[i + 1].lstrip()) > indent):  # not a section comment
                    text.append(cont.match(lines[i + 1]).group(1).strip())
                    i += 1
                out[m.group(1)] = " ".join(t for t in text if t)
            i += 1
    return out


def citation(cls) -> str:
    """The first paragraph of the method module's docstring (the paper's citation)."""
    mod = sys.modules.get(cls.__module__)
    doc = (getattr(mod, "__doc__", "") or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def _meaning(name: str, comment: str | None) -> str:
    """The field's comment, led by the common meaning of its name when there is one (source comments are often
    provenance tags such as "[P]" or "[CODE] default")."""
    common = COMMON_MEANINGS.get(name, "")
    if comment and common and common.lower() not in comment.lower():
        return f"{common} ({comment})"
    return comment or common


def describe_method(name: str, cls) -> str:
    import dataclasses
    comments = field_comments(cls)
    lines = [f"{name}: {cls.__module__}.{cls.__qualname__}", "", textwrap.fill(_summary_line(cls), _width()), "",
             textwrap.fill("Source: " + citation(cls), _width(), subsequent_indent="  "), ""]
    rows = []
    for p, over in cls.presets.items():
        rows.append([p, PRESET_MEANINGS.get(p, "") + ("; " if PRESET_MEANINGS.get(p) and over else "")
                     + ", ".join(f"{k}={v!r}" for k, v in over.items())])
    lines += [table(["preset", "settings (changes from the defaults)"], rows), ""]
    if cls.paper_data:
        lines += [table(["dataset", "preprocessing the paper used (applied by `deepclust fit` with every preset)"],
                        [[d, ", ".join(f"{k}={v}" for k, v in kw.items())] for d, kw in cls.paper_data.items()]), ""]
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else "(required)"
        rows.append([f.name, repr(default), _meaning(f.name, comments.get(f.name))])
    lines += [table(["parameter", "default", "meaning"], rows), "",
              f"Set any of them with `deepclust fit --method {name} --set NAME=VALUE` (values are Python literals: "
              "0.5, (500, 500), 'adam', None)."]
    return "\n".join(lines)


# ---- fit ----------------------------------------------------------------------------------------------
def _positive_int(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def _seed(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the seed must be an integer, got {s!r}") from None
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"the seed must be in [0, 2**32), got {v}")
    return v


def _nonneg_int(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def _dataset_kind(dataset: str) -> tuple[str, str]:
    """("registered" | "derived" | "user", canonical name or absolute path)."""
    from .datasets.registry import _derived, _norm, get_spec, is_user_path
    from .errors import UnknownNameError
    if _norm(dataset) in _derived():
        return "derived", _norm(dataset)
    try:
        return "registered", get_spec(dataset).name
    except UnknownNameError:
        if not is_user_path(dataset):
            raise
    return "user", str(Path(dataset).expanduser().resolve())


def _load_options(args, kind: str, path: str) -> dict:
    """load_dataset options from the flags, refusing flags that do not apply to this input."""
    kw: dict = {}
    suffix = Path(path).suffix.lower() if kind == "user" else ""
    is_dir = kind == "user" and Path(path).is_dir()

    def only(flag, ok, where):
        if not ok:
            raise InvalidInputError(f"{flag} applies to {where} only, not to {path if kind == 'user' else 'dataset ' + path}")

    if args.resize is not None:
        kw["resize"] = args.resize
    if args.scale is not None and args.scale != "none":
        kw["scale"] = args.scale
    if args.subset is not None:
        kw["subset"] = args.subset
    if args.split is not None:
        only("--split", kind == "registered", "registered datasets (train/test splits)")
        kw["split"] = args.split
    if args.label_column is not None:
        only("--label-column", suffix in (".csv", ".tsv", ".txt"), "CSV/TSV/TXT files")
        lc = args.label_column
        kw["label_column"] = None if lc.lower() == "none" else int(lc) if lc.lstrip("-").isdigit() else lc
    if args.labels is not None:
        only("--labels", kind == "user", "your own data files (registered datasets have their labels)")
        p = Path(args.labels).expanduser()
        if not p.is_file():
            raise InvalidInputError(f"--labels: no such file {p}")
        kw["labels"] = str(p.resolve())
    if args.key is not None:
        only("--key", suffix in (".npz", ".h5", ".hdf5", ".npy"), ".npz/.h5 files (and pickled-dict .npy)")
        kw["key"] = args.key
    if args.label_key is not None:
        only("--label-key", suffix in (".npz", ".h5", ".hdf5", ".npy"), ".npz/.h5 files (and pickled-dict .npy)")
        kw["label_key"] = args.label_key
    if args.image_size is not None:
        only("--image-size", is_dir, "image folders")
        kw["image_size"] = tuple(args.image_size)
    if args.skip_unreadable:
        only("--skip-unreadable", is_dir, "image folders")
        kw["skip_unreadable"] = True
    if args.mmap:
        only("--mmap", suffix == ".npy", ".npy files")
        kw["mmap"] = True
    return kw


def _params_of(cls, params: dict, method: str) -> None:
    import dataclasses
    fields = {f.name for f in dataclasses.fields(cls)}  # ClassVars (presets, uses_images...) are not parameters
    unknown = sorted(set(params) - fields)
    if unknown:
        import difflib
        what = []
        for u in unknown:
            close = difflib.get_close_matches(u, fields, 1, cutoff=0.75)
            what.append(f"{u} (a class attribute, not a parameter)" if hasattr(cls, u) else
                        f"{u} (did you mean {close[0]}?)" if close else u)
        raise InvalidInputError(f"unknown parameter(s) for {method}: {', '.join(what)}; see `deepclust methods {method}`")
    reserved = sorted(set(params) & set(RESERVED))
    if reserved:
        raise InvalidInputError("; ".join(f"{k} is set by the command: use {RESERVED[k]}" for k in reserved))


def _check_device(device: str | None) -> None:
    if device is None:
        return
    from .engine.device import resolve_device
    resolve_device(device)


def _require_tracker(kind: str | None) -> None:
    if kind:
        from .tracking import require
        require(kind)


def cmd_fit(args) -> int:
    t_start = time.time()
    import dataclasses

    from .bench.commands import parse_key_values
    from .engine.runs import RunFolder, resume_path
    from .methods import get
    cli_params = parse_key_values(args.set)
    _check_device(args.device)
    _require_tracker(args.track)

    # ---- what to run: a new run from the flags, or a resumed one from its config.json ----------------
    cfg = None
    if args.resume:
        given = [f for f, v in (("--method", args.method), ("--dataset", args.dataset), ("--resize", args.resize),
                                ("--scale", args.scale), ("--subset", args.subset), ("--split", args.split),
                                ("--label-column", args.label_column), ("--labels", args.labels), ("--key", args.key),
                                ("--label-key", args.label_key), ("--image-size", args.image_size),
                                ("--skip-unreadable", args.skip_unreadable), ("--mmap", args.mmap),
                                ("--no-labels", args.no_labels), ("--data-dir", args.data_dir)) if v]
        if given:
            raise InvalidInputError(f"--resume continues a run with its own method and data (config.json); drop "
                                    f"{', '.join(given)}")
        rpath = resume_path(args.resume)
        cfg = json.loads((rpath / "config.json").read_text())
        method, dataset, preset, seed = cfg["method"], cfg["dataset"], cfg.get("preset", "paper"), cfg.get("seed", 0)
        params = {**cfg.get("overrides", {}), **cli_params}
        dkw = dict(cfg.get("dataset_kwargs", {}))
        for k in ("image_size",):
            if isinstance(dkw.get(k), list):
                dkw[k] = tuple(dkw[k])
        kind, data_dir = cfg.get("dataset_kind", "registered"), cfg.get("data_dir")
        no_labels = bool(cfg.get("no_labels"))
        ckpt_every = args.checkpoint_every if args.checkpoint_every is not None else cfg.get("checkpoint_every")
        device = args.device or cfg.get("device")
        keep = args.keep_checkpoints or bool(cfg.get("keep_checkpoints"))
        paper_data = cfg.get("paper_data") or {}
    else:
        if not args.method or not args.dataset:
            raise InvalidInputError("fit needs --method and --dataset (or --resume RUN_DIR)")
        method, preset, seed = args.method, args.preset, args.seed
        kind, dataset = _dataset_kind(args.dataset)
        params, data_dir, no_labels = dict(cli_params), args.data_dir, args.no_labels
        ckpt_every, device, keep = args.checkpoint_every, args.device, args.keep_checkpoints
        dkw = _load_options(args, kind, dataset)
        paper_data = {}
    cls = get(method)  # fail fast on an unknown method, before touching data or disk
    if preset not in cls.presets:
        raise InvalidInputError(f"unknown preset {preset!r} for {method}; known: {', '.join(cls.presets)}")
    _params_of(cls, params, method)
    fields = {f.name for f in dataclasses.fields(cls)}
    if not args.resume and kind != "user" and dataset in cls.paper_data:
        # the preprocessing the method's paper used on this dataset; explicit flags win
        explicit = {"scale": args.scale, "resize": args.resize}
        paper_data = {k: v for k, v in cls.paper_data[dataset].items() if explicit.get(k) is None}
        dkw = {**paper_data, **dkw}

    # ---- the estimator's parameters, checked without data ---------------------------------------------
    kw = dict(params)
    if "random_state" in fields:
        kw["random_state"] = seed
    if "device" in fields and device:
        kw["device"] = device
    if "verbose" in fields:
        kw["verbose"] = 0 if args.quiet else 1
    if ckpt_every is not None and "checkpoint_every" in fields:
        kw["checkpoint_every"] = ckpt_every
    est = cls.from_preset(preset, **kw)
    est.validate_params()

    # ---- the data, and its fit with the method ------------------------------------------------------
    from .datasets import load_dataset
    ds = load_dataset(dataset, data_dir=data_dir, download=args.download, **dkw)
    if no_labels:
        ds.y, ds.n_classes = None, None
    if "n_clusters" not in params:
        if not ds.n_classes:
            raise InvalidInputError(f"{dataset} has no labels to count the clusters: pass --set n_clusters=K")
        est.set_params(n_clusters=int(ds.n_classes))
        est.validate_params()
    est.check_input(ds.X)

    # ---- the run folder -------------------------------------------------------------------------------
    if args.resume:
        run = _resume_folder(rpath, cfg, cls, est, params, cli_params, ckpt_every, device)
    else:
        run = RunFolder(args.out, method, ds.name if kind == "user" else dataset)
        meta = {k: v for k, v in ds.meta.items() if k not in ("sample_files",)}
        run.write_config({"method": method, "dataset": dataset, "dataset_kind": kind, "dataset_name": ds.name,
                          "preset": preset, "seed": seed, "overrides": params, "dataset_kwargs": dkw,
                          "paper_data": paper_data, "data_dir": data_dir, "no_labels": no_labels,
                          "n_samples": len(ds.X), "image_shape": ds.image_shape, "dataset_meta": meta,
                          "checkpoint_every": ckpt_every, "keep_checkpoints": keep, "device": device,
                          "params": _jsonable(est.get_params(deep=False))})
    if paper_data and not args.resume:
        print(f"{method} on {dataset}: the paper's preprocessing {json.dumps(paper_data)} "
              "(change it with --scale/--resize)", file=sys.stderr)
    deep = "checkpoint_dir" in fields
    if deep:
        est.set_params(checkpoint_dir=str(run.checkpoints), resume=bool(args.resume),
                       history_file=str(run.path / "history.jsonl"))
    log.info("fit %s on %s (%d samples), preset %s, seed %s", method, dataset, len(ds.X), preset, seed)
    try:
        t_fit, c_fit = time.time(), time.process_time()
        est.fit(ds.X, ds.y)
        fit_wall, fit_cpu = time.time() - t_fit, time.process_time() - c_fit
        post = _write_run(run, est, ds, args, fit_wall, deep, fit_cpu)
    except BaseException as e:
        run.fail(e)
        hint = (f"resume with `deepclust fit --resume {run.path}`" if deep and run.has_checkpoint() else
                "the log and error.txt are there")
        print(f"run failed; partial run kept in {run.path} ({hint})", file=sys.stderr)
        raise
    freed = 0 if keep else run.remove_checkpoints()
    final = run.complete()
    if args.track:
        from .tracking import track_run
        print(f"tracked with {track_run(final, args.track)}", file=sys.stderr)
    _print_summary(method, ds, post, final, time.time() - t_start, freed)
    return 0


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=repr))


def _resume_folder(rpath, cfg, cls, est, params, cli_params, ckpt_every, device):
    """The RunFolder of a resumed run; refuses overrides that contradict its checkpoint, records the
    others in config.json (before anything else is written)."""
    from .engine.deep import _RUN_PARAMS
    from .engine.runs import RunFolder
    old = cfg.get("params") or {}
    new = _jsonable(est.get_params(deep=False))
    has_ckpt = (rpath / "checkpoints" / "latest.pt").is_file()
    changed = sorted(k for k in cli_params if k not in _RUN_PARAMS and old.get(k, new.get(k)) != new.get(k))
    if changed and has_ckpt:
        raise InvalidInputError(
            "cannot resume with " + ", ".join(f"{k}={new.get(k)!r}" for k in changed) + ": the checkpoint was "
            "trained with " + ", ".join(f"{k}={old.get(k)!r}" for k in changed) + "; start a new run instead")
    run = RunFolder(None, "", "", resume=rpath)
    history = list(cfg.get("resumes", []))
    history.append({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "overrides": cli_params,
                    "checkpoint_every": ckpt_every, "device": device, "from_checkpoint": has_ckpt})
    cfg = {k: v for k, v in cfg.items() if k != "environment"}
    cfg.update(overrides=params, params=new, checkpoint_every=ckpt_every, resumes=history)
    run.write_config(cfg)
    return run


def _source_index(ds) -> "np.ndarray":
    """Index of each sample in the data as read (before a --subset)."""
    import numpy as np
    from .datasets.preprocess import subset_indices
    step = next((s for s in ds.meta.get("preprocessing", []) if s.get("step") == "subset"), None)
    if step is None:
        return np.arange(len(ds.X))
    return subset_indices(int(step["from"]), int(step["n"]), int(step["seed"]))


def _write_run(run, est, ds, args, fit_wall: float, deep: bool, fit_cpu: float | None = None) -> dict:
    """Everything after training: labels, assignments, embedding, model, plots, metrics. Returns the
    metrics (with the seconds each part took)."""
    import numpy as np
    from .engine.io import write_json, write_npy
    from .metrics import evaluate
    t = {}
    c_start = time.process_time()
    t0 = time.time()
    emb = None
    if deep:
        try:
            emb = est.transform(ds.X)
        except (NotImplementedError, DeepclustError):
            emb = None
    run.check_finite(est, emb)
    t["embedding"] = time.time() - t0
    labels = np.asarray(est.labels_)
    t0 = time.time()
    conf = dist = None
    if hasattr(est, "predict_proba"):
        try:
            P = np.asarray(est.predict_proba(ds.X))
            if P.shape == (len(labels), P.shape[1]) and labels.max() < P.shape[1]:
                conf = P[np.arange(len(labels)), labels]
        except Exception as e:
            log.info("no soft assignments: %s", e)
    centers = getattr(est, "cluster_centers_", None)
    space = emb if deep else np.asarray(ds.X, dtype=np.float32).reshape(len(ds.X), -1)
    if centers is not None and space is not None:
        C = np.asarray(centers, dtype=np.float32)
        if C.ndim == 2 and C.shape[1] == space.shape[1] and labels.max() < len(C):
            dist = np.linalg.norm(space - C[labels], axis=1)
    idx = _source_index(ds)
    files = ds.meta.get("sample_files")
    sources = np.asarray(files, dtype=object)[idx] if files else idx
    run.write_history(est)
    write_npy(run.path / "labels.npy", labels)
    run.write_assignments(labels, sources, conf, dist)
    if emb is not None:
        write_npy(run.path / "embedding.npy", emb)
    parts = getattr(est, "partitions_", None) or {}
    if parts:
        from .engine.io import atomic_path
        with atomic_path(run.path / "partitions.npz", "wb") as f:
            np.savez_compressed(f, **{k: np.asarray(v) for k, v in parts.items()})
    if ds.y is not None:
        write_npy(run.path / "y_true.npy", ds.y)
    t["files"] = time.time() - t0
    t0 = time.time()
    if not args.no_model:
        run.write_model(est)
    t["model"] = time.time() - t0
    k = int(getattr(est, "n_clusters", 0) or 0)
    counts = np.bincount(labels, minlength=max(k, int(labels.max()) + 1))  # empty clusters included
    ids = np.arange(len(counts))
    metrics = evaluate(ds.y, labels) if ds.y is not None else {}
    metrics.update(seconds=round(float(getattr(est, "fit_seconds_", fit_wall)), 3),
                   seconds_this_process=round(fit_wall, 3), n_samples=int(len(labels)),
                   cpu_seconds_this_process=None if fit_cpu is None else round(fit_cpu, 3),
                   n_clusters=int(k or len(ids)),
                   cluster_sizes={str(int(c)): int(n) for c, n in zip(ids, counts)},
                   phase_seconds={k: round(v, 3) for k, v in (getattr(est, "phase_seconds_", {}) or {}).items()},
                   device=str(getattr(est, "device_", "cpu")), labels_known=ds.y is not None)
    t0 = time.time()
    if not args.no_plots:
        _report(run.path, est=est, X=ds.X, y=ds.y, labels=labels, embedding=emb, metrics=metrics,
                partitions=parts, confidence=conf, distance=dist, image_shape=ds.image_shape,
                max_points=args.plot_points, map_method=args.map)
    t["plots"] = time.time() - t0
    metrics["post_fit_seconds"] = {k: round(v, 3) for k, v in t.items()}
    metrics["post_fit_seconds"]["total"] = round(sum(t.values()), 3)
    metrics["post_fit_cpu_seconds"] = round(time.process_time() - c_start, 3)
    write_json(run.path / "metrics.json", metrics)
    return metrics


def _report(run_dir, **kw) -> None:
    """Plots and a Markdown page for the run, when matplotlib is available (a plotting failure never
    loses the results)."""
    try:
        from .bench import report
    except ImportError:
        return
    try:
        report.run_report(run_dir, **kw)
    except ImportError as e:
        log.warning("no plots (%s); pip install matplotlib", e)
    except Exception as e:
        log.warning("report not generated: %s", e)


def _print_summary(method, ds, m, final, total, freed) -> None:
    sizes = m["cluster_sizes"]
    shape = f"{ds.X.shape[1]} features" if ds.X.ndim == 2 else "x".join(map(str, ds.X.shape[1:])) + " images"
    print(f"{method} on {ds.name}: {m['n_samples']} samples ({shape}), {m['n_clusters']} clusters")
    empty = sum(1 for n in sizes.values() if n == 0)
    print("  cluster sizes: " + "  ".join(f"{c}: {n}" for c, n in sizes.items())
          + (f"  ({empty} empty: the method merged them)" if empty else ""))
    if "acc" in m:
        print(f"  ACC {m['acc']:.4f}  NMI {m['nmi']:.4f}  ARI {m['ari']:.4f}  (labels used only to score)")
    else:
        print("  no labels: nothing to score (cluster sizes above; plots and assignments.csv in the run folder)")
    post = m["post_fit_seconds"]["total"]
    line = f"  time: fit {m['seconds']:.1f}s, after training {post:.1f}s, whole command {total:.1f}s"
    if freed:
        line += f"; checkpoints deleted ({freed / 2**20:.1f} MiB; --keep-checkpoints keeps them)"
    print(line)
    print(f"run folder: {final}")


# subcommands contributed by other modules: module path -> function(subparsers)
EXTRA_COMMANDS = ["deepclust.bench.commands"]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="deepclust", description="Deep clustering: fit methods on your data, reproduce papers.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    d = sub.add_parser("datasets", help="list datasets, their sizes and where their files are")
    d.add_argument("--data-dir", default=None)
    d.set_defaults(func=cmd_datasets)
    m = sub.add_parser("methods", help="list methods; `methods NAME` shows its parameters and presets")
    m.add_argument("name", nargs="?", help="a method: its parameters, defaults, meanings, presets, paper")
    m.set_defaults(func=cmd_methods)
    f = sub.add_parser("fit", help="cluster a dataset with a method and write a run folder",
                       description="Cluster a dataset (registered name, or your own file: .npy .npz .csv .tsv "
                                   ".txt .h5 .hdf5, or a folder of images, one subfolder per class or flat) and "
                                   "write a run folder. Every option and parameter is checked before anything "
                                   "is written.")
    f.add_argument("--method", "-m")
    f.add_argument("--dataset", "-d", help="registered name or a path to .npy/.npz/.csv/.h5 or an image folder")
    f.add_argument("--seed", type=_seed, default=0, help="random seed, >= 0 (default 0)")
    f.add_argument("--preset", default="paper", help="paper (default) | cpu | smoke | method-specific")
    f.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a parameter (repeatable; `deepclust methods NAME` lists them)")
    f.add_argument("--out", default="runs", help="parent folder of run folders (default: runs)")
    f.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run (<name>.incomplete) from its "
                                                       "checkpoints; --set may change parameters before the first one")
    f.add_argument("--checkpoint-every", type=_nonneg_int, default=None, metavar="N",
                   help="a checkpoint every N training iterations (minibatches), in every phase (epoch phases: "
                        "at the first epoch end after N); default: at phase ends only")
    f.add_argument("--keep-checkpoints", action="store_true",
                   help="keep checkpoints/ in the finished run folder (deleted by default once the run is complete)")
    f.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N, mps")
    g = f.add_argument_group("data")
    g.add_argument("--data-dir", default=None, help="where registered datasets' files are")
    g.add_argument("--download", action="store_true", help="download missing dataset files (checksummed)")
    g.add_argument("--split", choices=("all", "train", "test"), default=None,
                   help="registered datasets: train, test or all (default: all, as the papers)")
    g.add_argument("--resize", type=_positive_int, default=None, metavar="N", help="resize images to N x N")
    g.add_argument("--image-size", type=_positive_int, nargs=2, default=None, metavar=("H", "W"),
                   help="image folders: resize every image to H x W while reading (for mixed sizes)")
    g.add_argument("--scale", choices=SCALES, default=None,
                   help="minus1-1 | minus05-05 | standard | minmax | none (default: as stored, or the paper's preprocessing "
                        "for the method's paper datasets; see `deepclust methods NAME`)")
    g.add_argument("--subset", type=_positive_int, default=None, metavar="N", help="a random subset of N samples")
    g.add_argument("--label-column", default=None, metavar="NAME|INDEX|none",
                   help="CSV: the column holding labels (default: a column named label/labels/class/y/target, "
                        "with a warning; none = every column is a feature)")
    g.add_argument("--labels", default=None, metavar="FILE",
                   help="labels from a separate .npy/.csv/.txt (one per sample), used only to score")
    g.add_argument("--key", default=None, help=".npz/.h5: the array holding the data")
    g.add_argument("--label-key", default=None, help=".npz/.h5: the array holding the labels")
    g.add_argument("--no-labels", action="store_true", help="ignore any labels (no scoring; needs n_clusters)")
    g.add_argument("--skip-unreadable", action="store_true",
                   help="image folders: skip files that cannot be decoded (listed in config.json) instead of failing")
    g.add_argument("--mmap", action="store_true", help=".npy: memory-map the file (larger than RAM)")
    o = f.add_argument_group("output")
    o.add_argument("--no-model", action="store_true", help="do not save model.pt")
    o.add_argument("--no-plots", "--no-report", dest="no_plots", action="store_true",
                   help="skip the plots and report.md")
    o.add_argument("--plot-points", type=_positive_int, default=None, metavar="N",
                   help="points in the embedding map (default: what t-SNE draws in ~2%% of the fit time, 300-3000)")
    o.add_argument("--map", choices=("tsne", "umap", "pca"), default="tsne", help="embedding map method (default t-SNE)")
    o.add_argument("--track", default=None, choices=("mlflow", "tensorboard", "auto"),
                   help="also log the run to MLflow or TensorBoard (pip install 'deepclust[track]'); "
                        "checked before training")
    o.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    f.set_defaults(func=cmd_fit)
    for modname in EXTRA_COMMANDS:
        try:
            importlib.import_module(modname).register(sub)
        except ImportError:
            pass
    return p


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except UsageError as e:
        print(f"deepclust: error: {e}", file=sys.stderr)
        return 2
    if args.version:
        from . import __version__
        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except DeepclustError as e:
        msg = str(e).strip()
        print(f"deepclust: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepclust: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `deepclust methods | head`
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
