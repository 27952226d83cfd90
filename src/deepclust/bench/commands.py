"""`deepclust reproduce | bench | report | results-md` (registered into the CLI by cli.py)."""
from __future__ import annotations

import argparse
import ast
import datetime as _dt
import json
from pathlib import Path

from ..errors import DeepclustError


def _csv(s):
    return [x.strip() for x in s.split(",") if x.strip()] if s else None


def _value(v: str):
    try:
        return ast.literal_eval(v)
    except (ValueError, SyntaxError):
        return v


def parse_key_values(items, what="--set") -> dict:
    """["k=v", ...] -> {k: v}, values read as Python literals where they parse (else kept as strings)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise DeepclustError(f"{what} expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def _grid(items) -> dict:
    """--grid key=v1,v2 (values parsed as Python literals; a tuple value needs quotes: key='(1,2)';(3,4))."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise DeepclustError(f"--grid expects key=v1,v2,..., got {item!r}")
        k, v = item.split("=", 1)
        vals = v.split(";") if ";" in v else v.split(",")
        out[k.strip()] = [_value(x.strip()) for x in vals if x.strip()]
    return out


def _seeds(s: str, count: bool = True):
    """'3' -> [0, 1, 2] (count=True, reproduce's --seeds N) or [3] (count=False, bench's list);
    '0,1,2' or '5,7' -> that list."""
    s = str(s).strip()
    if "," in s or s.startswith("[") or not count:
        return [int(x) for x in s.strip("[]").split(",") if x.strip()]
    return list(range(int(s)))


def _add_run_opts(p, jobs_help="parallel runs (default: one per core)"):
    p.add_argument("--backend", default="local", choices=["local", "ray", "inline"],
                   help="local processes (default), ray tasks, or inline (this process, sequential)")
    p.add_argument("--jobs", "-j", type=int, default=None, help=jobs_help)
    p.add_argument("--address", default=None, help="Ray cluster address (e.g. auto, ray://host:10001); "
                                                    "default: start a local Ray instance")
    p.add_argument("--skip-failed", action="store_true",
                   help="do not rerun runs recorded as failed (by default a rerun retries them)")
    p.add_argument("--retry-failed", action="store_true", help=argparse.SUPPRESS)  # the default now
    p.add_argument("--timeout", type=float, default=None, help="seconds per run (local backend)")
    p.add_argument("--device", default="cpu", help="device for every run (default cpu; auto, cuda ...)")


def cmd_reproduce(a) -> int:
    from .reproduce import reproduce, reproduce_out
    from .results_md import write_results_md
    into = Path(a.into) if a.into else None
    if into is not None and not into.is_dir():
        raise DeepclustError(f"--into {into}: no such results folder")
    out = reproduce_out(a.out, a.paper, a.preset)
    doc = reproduce(a.paper, datasets=_csv(a.datasets), methods=_csv(a.methods), seeds=_seeds(a.seeds),
                    preset=a.preset, out=out, into=into, backend=a.backend, jobs=a.jobs, address=a.address,
                    retry_failed=not a.skip_failed, device=a.device, timeout=a.timeout, dry_run=a.list)
    if a.list:
        return 0
    print(f"results in {out}" + (f"; records merged into {into}" if into else ""))
    if into is not None and not a.no_results_md:
        md = into.parent / "RESULTS.md"
        if md.is_file() or into.resolve() == Path("benchmarks/results").resolve():
            print(f"updated {write_results_md(into, md)}")
    failed = [r for r in doc["rows"] if r["status"] != "ok"] + [r for r in doc["rows"] if r.get("n_failed")]
    if failed:
        print(f"{len(failed)} method/dataset pair(s) with failed runs: " +
              ", ".join(f"{r['method']}/{r['dataset']}" for r in failed) + f" (see {out}/reproduce/)")
        return 1
    return 0


def check_tasks(tasks) -> None:
    """Every (method, parameters) of a grid is checked before anything runs: known method and preset,
    known parameters, values that pass the method's validate_params (DeepclustError naming the run)."""
    from ..methods import get
    from ..engine.device import resolve_device
    seen = set()
    for t in tasks:
        ident = (t["method"], t.get("preset"), json.dumps(t.get("params") or {}, sort_keys=True, default=str))
        if ident in seen:
            continue
        seen.add(ident)
        cls = get(t["method"])
        import dataclasses
        fields = {f.name for f in dataclasses.fields(cls)}
        params = dict(t.get("params") or {})
        unknown = sorted(set(params) - fields)
        if unknown:
            raise DeepclustError(f"{t['method']} has no parameter(s) {', '.join(unknown)} (grid run {t['key']}); "
                                 f"see `deepclust methods {t['method']}`, or run that method in its own bench")
        preset = t.get("preset", "paper")
        est = cls.from_preset(preset, **params) if preset in cls.presets else cls(**params)
        try:
            est.validate_params()
        except DeepclustError as e:
            raise DeepclustError(f"grid run {t['key']}: {e}") from None
    for dev in {t.get("device") for t in tasks if t.get("device")}:
        resolve_device(dev)


def cmd_bench(a) -> int:
    from . import grid as G
    methods, datasets = _csv(a.methods), _csv(a.datasets)
    if not methods or not datasets:
        raise DeepclustError("bench needs --methods and --datasets (comma-separated)")
    tasks = G.expand(methods, datasets, _seeds(a.seeds, count=False), grid=_grid(a.grid), preset=a.preset,
                     dataset_kwargs=parse_key_values(a.data, "--data"), params=parse_key_values(a.set), device=a.device)
    check_tasks(tasks)
    if a.track:
        from ..tracking import require
        require(a.track)
    g = G.Grid(a.out)
    counts = g.run(tasks, backend=a.backend, jobs=a.jobs, address=a.address, retry_failed=not a.skip_failed,
                   timeout=a.timeout, save_runs=a.save_runs)
    g.write_summary(tasks)
    print((g.dir / "summary.md").read_text())
    if not a.no_report:
        try:
            from .report import grid_report
            print(f"report: {grid_report(g.dir)}")
        except ImportError as e:
            print(f"no report ({e}); pip install matplotlib")
    if a.track:
        from ..tracking import tracker
        with tracker(a.track, run_name=f"grid-{g.name}", config={"methods": methods, "datasets": datasets}) as t:
            for i, row in enumerate(g.summary(tasks)):
                t.log_metrics({f"{row['method']}/{row['dataset']}/{m}": row[f"{m}_mean"]
                               for m in ("acc", "nmi", "ari") if f"{m}_mean" in row}, step=i)
    failed = [(t, g.record(t)) for t in tasks if (g.record(t) or {}).get("status") != "ok"]
    print(f"{counts['ran']} run now, {counts['skipped']} already done, {len(failed)} of {counts['total']} failed; "
          f"results in {g.dir}")
    if failed:
        print("failed runs (a rerun of the same command retries them; --skip-failed does not):")
        for t, rec in failed:
            print(f"  {t['key']}: {(rec or {}).get('error', 'no record')[:300]}")
        return 1
    return 0


def folder_kind(p: Path) -> str:
    """"run" (a finished run folder), "grid" (a bench/reproduce grid), or a DeepclustError saying what p is."""
    if not p.is_dir():
        raise DeepclustError(f"{p}: no such folder")
    if (p / "grid.json").is_file():
        return "grid"
    if p.name.endswith(".incomplete"):
        raise DeepclustError(f"{p} is an unfinished run (resume it with `deepclust fit --resume {p}`)")
    if (p / "labels.npy").is_file() and (p / "config.json").is_file():
        return "run"
    raise DeepclustError(f"{p} is neither a run folder (config.json + labels.npy) nor a grid folder (grid.json); "
                         "nothing written")


def cmd_report(a) -> int:
    from .report import grid_report, run_report
    paths = [Path(p) for p in a.paths]
    kinds = [folder_kind(p) for p in paths]  # refuse before writing anything
    if a.track:
        from ..tracking import require
        require(a.track)
    for p, kind in zip(paths, kinds):
        if kind == "grid":
            out = grid_report(p)
        else:
            out = run_report(p, max_points=a.max_points, map_method=a.map)
            if a.track:
                from ..tracking import track_run
                print(f"tracked with {track_run(p, a.track)}")
        print(f"wrote {out}")
    return 0


def cmd_results_md(a) -> int:
    from .results_md import collect, write_results_md
    root = Path(a.results)
    if not root.is_dir():
        raise DeepclustError(f"{root}: no such results folder")
    if not collect(root):
        raise DeepclustError(f"{root} holds no result records (benchmarks/results/<method>/*.json); nothing written")
    print(f"wrote {write_results_md(a.results, a.out)}")
    return 0


def register(sub) -> None:
    from .protocols import PROTOCOLS
    papers = ", ".join(f"{p.paper} ({p.key})" for p in PROTOCOLS.values())
    r = sub.add_parser("reproduce", help="run a paper's methods and baselines; table of paper vs ours",
                       description=f"Papers: {papers}. Runs every registered method of the paper's tables on "
                                   "the datasets that are here, with the paper's preprocessing; resumable.")
    r.add_argument("paper", help=f"paper id or name: {papers}")
    r.add_argument("--datasets", help="comma-separated subset of the paper's datasets (default: all that are here)")
    r.add_argument("--methods", help="comma-separated subset of methods (registry or paper names)")
    r.add_argument("--seeds", default="3", help="N (seeds 0..N-1) or a list 0,1,2 (default 3)")
    r.add_argument("--preset", default="paper", help="paper (default) | cpu | smoke")
    r.add_argument("--out", default=None,
                   help="folder for this reproduction (default: a fresh runs/reproduce-<paper>-<preset>-<time>/); an "
                        "existing folder must be one an earlier `reproduce` of the same paper and preset made")
    r.add_argument("--into", "--merge", dest="into", default=None, metavar="RESULTS_DIR",
                   help="also merge the result records into RESULTS_DIR (e.g. benchmarks/results): seeds are added "
                        "to existing records of the same settings (rerun seeds replaced), and RESULTS.md next to it "
                        "is regenerated")
    r.add_argument("--list", action="store_true", help="only show what would run and what is skipped, and why")
    r.add_argument("--no-results-md", action="store_true", help="with --into: do not regenerate RESULTS.md")
    _add_run_opts(r)
    r.set_defaults(func=cmd_reproduce)

    b = sub.add_parser("bench", help="run a grid methods x datasets x seeds x parameters (local or Ray)")
    b.add_argument("--methods", "-m", required=True, help="comma-separated registry names")
    b.add_argument("--datasets", "-d", required=True, help="comma-separated dataset names")
    b.add_argument("--seeds", default="0,1,2", help="seeds, a list: 0,1,2 (default)")
    b.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                   help="parameter values to sweep (repeatable); data.KEY sweeps a dataset option (data.resize=14,28)")
    b.add_argument("--set", action="append", metavar="KEY=VALUE", help="fixed estimator parameter (repeatable)")
    b.add_argument("--data", action="append", metavar="KEY=VALUE", help="fixed dataset option, e.g. resize=32")
    b.add_argument("--preset", default="paper")
    b.add_argument("--out", required=True, help="grid folder (re-running it resumes)")
    b.add_argument("--save-runs", action="store_true", help="also write a run folder (labels, embedding, plots) per run")
    b.add_argument("--no-report", action="store_true", help="no plots / report.md")
    b.add_argument("--track", default=None, choices=("mlflow", "tensorboard", "auto"),
                   help="log the summary to a tracker (pip install 'deepclust[track]'); checked before running")
    _add_run_opts(b)
    b.set_defaults(func=cmd_bench)

    p = sub.add_parser("report", help="plots + report.md for run folders or grid folders (headless)")
    p.add_argument("paths", nargs="+")
    p.add_argument("--max-points", type=int, default=None,
                   help="points in the 2-D embedding map (default: what t-SNE draws in ~2%% of the fit time)")
    p.add_argument("--map", choices=("tsne", "umap", "pca"), default="tsne", help="embedding map method")
    p.add_argument("--track", default=None, choices=("mlflow", "tensorboard", "auto"),
                   help="also send the run to a tracker (pip install 'deepclust[track]')")
    p.set_defaults(func=cmd_report)

    m = sub.add_parser("results-md", help="regenerate benchmarks/RESULTS.md from benchmarks/results/**.json")
    m.add_argument("--results", default="benchmarks/results")
    m.add_argument("--out", default="benchmarks/RESULTS.md")
    m.set_defaults(func=cmd_results_md)


__all__ = ["register"]
