"""`deepclust reproduce | bench | report | results-md` (registered into the CLI by cli.py)."""
from __future__ import annotations

import ast
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
    p.add_argument("--retry-failed", action="store_true", help="run again the runs recorded as failed")
    p.add_argument("--timeout", type=float, default=None, help="seconds per run (local backend)")
    p.add_argument("--device", default="cpu", help="device for every run (default cpu; auto, cuda ...)")


def cmd_reproduce(a) -> int:
    from .reproduce import reproduce
    from .results_md import write_results_md
    reproduce(a.paper, datasets=_csv(a.datasets), methods=_csv(a.methods), seeds=_seeds(a.seeds), preset=a.preset,
              out=a.out, backend=a.backend, jobs=a.jobs, address=a.address, retry_failed=a.retry_failed,
              device=a.device, timeout=a.timeout, dry_run=a.list)
    if not a.list and not a.no_results_md and Path(a.out).resolve() == Path("benchmarks/results").resolve():
        print(f"updated {write_results_md(a.out, Path(a.out).parent / 'RESULTS.md')}")
    return 0


def cmd_bench(a) -> int:
    from . import grid as G
    methods, datasets = _csv(a.methods), _csv(a.datasets)
    if not methods or not datasets:
        raise DeepclustError("bench needs --methods and --datasets (comma-separated)")
    tasks = G.expand(methods, datasets, _seeds(a.seeds, count=False), grid=_grid(a.grid), preset=a.preset,
                     dataset_kwargs=parse_key_values(a.data, "--data"), params=parse_key_values(a.set), device=a.device)
    g = G.Grid(a.out)
    counts = g.run(tasks, backend=a.backend, jobs=a.jobs, address=a.address, retry_failed=a.retry_failed,
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
    print(f"{counts['ran']} run, {counts['skipped']} already done, {counts['failed']} failed; results in {g.dir}")
    return 0 if counts.get("failed", 0) == 0 else 1


def cmd_report(a) -> int:
    from .report import grid_report, run_report
    paths = [Path(p) for p in a.paths]
    for p in paths:
        if (p / "grid.json").is_file() or (p / "runs").is_dir() and not (p / "labels.npy").is_file():
            out = grid_report(p)
        elif (p / "labels.npy").is_file() or (p / "config.json").is_file():
            out = run_report(p, max_points=a.max_points)
            if a.track:
                from ..tracking import track_run
                print(f"tracked with {track_run(p, a.track)}")
        else:
            raise DeepclustError(f"{p} is neither a run folder (labels.npy) nor a grid folder (grid.json)")
        print(f"wrote {out}")
    return 0


def cmd_results_md(a) -> int:
    from .results_md import write_results_md
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
    r.add_argument("--out", default="benchmarks/results", help="results folder (default benchmarks/results)")
    r.add_argument("--list", action="store_true", help="only show what would run and what is skipped, and why")
    r.add_argument("--no-results-md", action="store_true", help="do not regenerate benchmarks/RESULTS.md")
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
    b.add_argument("--track", default=None, help="mlflow | tensorboard | auto: log the summary to a tracker")
    _add_run_opts(b)
    b.set_defaults(func=cmd_bench)

    p = sub.add_parser("report", help="plots + report.md for run folders or grid folders (headless)")
    p.add_argument("paths", nargs="+")
    p.add_argument("--max-points", type=int, default=3000, help="points in the 2-D embedding map")
    p.add_argument("--track", default=None, help="mlflow | tensorboard | auto: also send the run to a tracker")
    p.set_defaults(func=cmd_report)

    m = sub.add_parser("results-md", help="regenerate benchmarks/RESULTS.md from benchmarks/results/**.json")
    m.add_argument("--results", default="benchmarks/results")
    m.add_argument("--out", default="benchmarks/RESULTS.md")
    m.set_defaults(func=cmd_results_md)


__all__ = ["register"]
