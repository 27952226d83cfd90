"""The `deepclust` command.

  deepclust datasets                         list datasets and whether their files are here
  deepclust methods                          list methods and their presets
  deepclust fit --method M --dataset D       cluster, print ACC/NMI/ARI, write a run folder
  deepclust fit --resume runs/<name>.incomplete   continue an interrupted run
  deepclust reproduce / bench / report       (see `deepclust <command> --help`)
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import DeepclustError


def cmd_datasets(args) -> int:
    from .datasets import dataset_status
    rows = dataset_status()
    print(f"{'dataset':<16}{'samples':>9}  {'shape':<14}{'here':<6}where")
    for r in rows:
        shape = "x".join(str(s) for s in r.get("shape") or ()) or "-"
        here = "yes" if r.get("available") else ("dl" if r.get("downloadable") else "no")
        print(f"{r['name']:<16}{str(r.get('n_samples', '?')):>9}  {shape:<14}{here:<6}{r.get('where') or ''}")
    print("\nhere: yes = files found; dl = not here, `--download` fetches them; no = place the files in "
          "$DEEPCLUST_DATA or pass --data-dir")
    return 0


def cmd_methods(args) -> int:
    from .methods import registry
    for name, cls in sorted(registry().items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name:<14}presets: {','.join(cls.presets):<20}{doc[:80]}")
    return 0


def cmd_fit(args) -> int:
    from .engine.runs import RunFolder
    from .methods import get
    from .metrics import evaluate

    from .bench.commands import parse_key_values
    params = parse_key_values(args.set)
    run = None
    if args.resume:
        run = RunFolder(None, "", "", resume=args.resume)
        cfg = run.config() or {}
        method, dataset = cfg.get("method"), cfg.get("dataset")
        preset, seed = cfg.get("preset", "paper"), cfg.get("seed", 0)
        params = {**cfg.get("overrides", {}), **params}
        if args.checkpoint_every is None:
            args.checkpoint_every = cfg.get("checkpoint_every")
        dkw = cfg.get("dataset_kwargs", {})
    else:
        if not args.method or not args.dataset:
            raise DeepclustError("fit needs --method and --dataset (or --resume RUN_DIR)")
        method, dataset, preset, seed = args.method, args.dataset, args.preset, args.seed
        dkw = {k: v for k, v in (("resize", args.resize), ("scale", args.scale), ("subset", args.subset)) if v}
    cls = get(method)  # fail fast on an unknown method, before touching data or disk
    from .datasets import load_dataset
    ds = load_dataset(dataset, data_dir=args.data_dir, download=args.download, **dkw)
    fields = cls.__dataclass_fields__
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise DeepclustError(f"unknown parameter(s) for {method}: {unknown}; known: {sorted(fields)}")
    kw = dict(params)
    if "n_clusters" not in kw:
        if not ds.n_classes:
            raise DeepclustError(f"{dataset} has no labels: pass --set n_clusters=K")
        kw["n_clusters"] = ds.n_classes
    if "random_state" in fields:
        kw["random_state"] = seed
    if "device" in fields and args.device:
        kw["device"] = args.device
    if "verbose" in fields:
        kw["verbose"] = 0 if args.quiet else 1
    if preset not in cls.presets:
        raise DeepclustError(f"unknown preset {preset!r} for {method}; known: {sorted(cls.presets)}")
    if run is None:
        run = RunFolder(args.out, method, dataset)
        run.write_config({"method": method, "dataset": dataset, "preset": preset, "seed": seed,
                          "overrides": params, "dataset_kwargs": dkw, "dataset_meta": ds.meta,
                          "checkpoint_every": args.checkpoint_every,
                          "params": {**cls.presets[preset], **kw}})
    if "checkpoint_dir" in fields:
        kw.update(checkpoint_dir=str(run.checkpoints), resume=bool(args.resume))
        if args.checkpoint_every is not None:
            kw["checkpoint_every"] = args.checkpoint_every
    est = cls.from_preset(preset, **kw)
    import logging
    logging.getLogger("deepclust").info("fit %s on %s (%d samples), preset %s, seed %s", method, dataset,
                                        len(ds.X), preset, seed)
    try:
        est.fit(ds.X, ds.y)
        metrics = evaluate(ds.y, est.labels_) if ds.y is not None else {}
        metrics.update(seconds=round(getattr(est, "fit_seconds_", 0.0), 2), n_samples=len(ds.X),
                       phase_seconds=getattr(est, "phase_seconds_", {}), device=getattr(est, "device_", "cpu"))
        emb = None
        from .engine.deep import DeepClusterer
        if isinstance(est, DeepClusterer):  # a learned embedding (classical methods' would be the raw data)
            try:
                emb = est.transform(ds.X)
            except (NotImplementedError, DeepclustError):
                emb = None
        run.write_results(est, metrics, embedding=emb, save_model=not args.no_model)
        if not args.no_report:
            _report(run.path)
    except BaseException as e:
        run.fail(e)
        print(f"run failed; partial run kept in {run.path} (resume with `deepclust fit --resume {run.path}`)",
              file=sys.stderr)
        raise
    final = run.complete()
    if metrics:
        print(f"{method} on {dataset}: ACC {metrics['acc']:.4f}  NMI {metrics['nmi']:.4f}  ARI {metrics['ari']:.4f}"
              f"  ({metrics['seconds']:.1f}s)")
    print(f"run folder: {final}")
    return 0


def _report(run_dir) -> None:
    """Plots and a Markdown page for the run, when the report module and matplotlib are available."""
    try:
        from .bench import report
    except ImportError:
        return
    try:
        report.run_report(run_dir)
    except ImportError:
        pass
    except Exception as e:  # a plotting failure never loses the results
        import logging
        logging.getLogger("deepclust").warning("report not generated: %s", e)


# subcommands contributed by other modules: module path -> function(subparsers)
EXTRA_COMMANDS = ["deepclust.bench.commands"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepclust", description="Deep clustering: fit methods, reproduce papers.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("datasets", help="list datasets and where their files are").set_defaults(func=cmd_datasets)
    sub.add_parser("methods", help="list methods and presets").set_defaults(func=cmd_methods)
    f = sub.add_parser("fit", help="cluster a dataset with a method and write a run folder")
    f.add_argument("--method", "-m")
    f.add_argument("--dataset", "-d", help="registered name or a path to .npy/.npz/.csv/.h5/image folder")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--preset", default="paper", help="paper (default) | cpu | smoke | method-specific")
    f.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a hyperparameter (repeatable)")
    f.add_argument("--out", default="runs", help="parent folder of run folders (default: runs)")
    f.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its checkpoints")
    f.add_argument("--checkpoint-every", type=int, default=None, help="checkpoint every N epochs/iterations")
    f.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, mps")
    f.add_argument("--data-dir", default=None)
    f.add_argument("--download", action="store_true", help="download missing dataset files (checksummed)")
    f.add_argument("--resize", type=int, default=None)
    f.add_argument("--scale", default=None, help="minus1-1 | minus05-05 | standard | minmax")
    f.add_argument("--subset", type=int, default=None, help="random subset of N samples")
    f.add_argument("--no-model", action="store_true", help="do not save model.pt")
    f.add_argument("--no-report", action="store_true", help="skip the plots and report.md (t-SNE can take a while)")
    f.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    f.set_defaults(func=cmd_fit)
    for modname in EXTRA_COMMANDS:
        try:
            importlib.import_module(modname).register(sub)
        except ImportError:
            pass
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
        print(f"deepclust: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepclust: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
