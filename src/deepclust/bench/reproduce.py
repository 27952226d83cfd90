"""`deepclust reproduce PAPER`: run a paper's methods and baselines that deepclust implements, with the
paper's dataset settings, and put our numbers next to the published ones.

For every published row (bench/published/<paper>.json) whose method is registered and whose dataset
is here, the (method, dataset) pair is run over the seeds as a resumable grid (bench/grid.py):
  <out>/reproduce/<paper>-<preset>/runs/*.json      one record per run (kept: finished runs are reused)
  <out>/<method>/<dataset>-<preset>-p<paper>.json    the DESIGN.md result record (via results.summarise)
  <out>/reproduce/<paper>-<preset>.md / .json        the paper-vs-ours table, every metric and statistic
Rows that cannot be run (method not landed, dataset not here, ablation variants, parameter sweeps)
are listed with the reason.

`out` is a fresh folder by default (runs/reproduce-<paper>-<preset>-<time>/); an existing one must be empty
or made by an earlier reproduce of the same paper and preset (a marker file says so), so committed results
are never overwritten by accident. `into=RESULTS_DIR` (`--into`) is the explicit way to add the records to
a results folder: each is merged with an existing record of the same settings (`results.merge_records`:
seeds added, rerun seeds replaced); a record whose settings differ is written beside it with a date tag.
"""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np

from ..engine.io import write_json, write_text
from ..errors import DeepclustError
from .results import merge_records, result_path
from . import grid as _grid
from .protocols import PROTOCOLS, dataset_available, published, registry_name, resolve_paper
from .results import METRICS, command_line, git_commit, summarise, write_result

# ablation variants implemented as their own registry entry
VARIANT_METHODS = {("agmm", "eta0"): ("deepgmm",)}
STAT_ORDER = {"mean": 0, "median": 1, "reported": 2, "min": 3, "max": 4, "best": 5}


MARKER = ".deepclust-reproduce.json"  # written into every folder `reproduce` creates (what it holds)


def reproduce_out(out, paper: str, preset: str) -> Path:
    """The folder `reproduce` writes into: `out`, or a fresh runs/reproduce-<paper>-<preset>-<time>/. An
    existing `out` must be empty or a folder an earlier `reproduce` of the same paper and preset made
    (then its finished runs are reused); anything else (committed results above all) is refused: merging
    into results takes --into."""
    p = resolve_paper(paper)
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"reproduce-{p.paper}_{p.key}-{preset}-{stamp}"
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        mark = out / MARKER
        try:
            info = json.loads(mark.read_text()) if mark.is_file() else None
        except (OSError, json.JSONDecodeError):
            info = None
        if info is None:
            raise DeepclustError(f"--out {out} already holds files that `reproduce` did not make there (committed "
                                 f"results?); choose a new folder, or merge the new records into it with --into {out}")
        if (info.get("paper"), info.get("preset")) != (p.paper, preset):
            raise DeepclustError(f"--out {out} holds a reproduction of paper {info.get('paper')} preset "
                                 f"{info.get('preset')}, not {p.paper} {preset}; choose another folder")
    return out


def _mark(out: Path, paper: str, preset: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).is_file():
        write_json(out / MARKER, {"paper": paper, "preset": preset,
                                  "created": _dt.datetime.now().isoformat(timespec="seconds")})


def merge_into(rec: dict, into: Path, tag: str, log=print) -> Path:
    """Add a result record to the results folder `into`: merged with the existing record of the same file
    name and settings (seeds added, rerun seeds replaced), or written beside it with a date tag when the
    settings differ. Returns the path written."""
    path = result_path(rec, out=into, tag=tag)
    if path.is_file():
        old = json.loads(path.read_text())
        try:
            merged = merge_records(old, rec)
        except ValueError as e:
            path = result_path(rec, out=into, tag=f"{tag}-{_dt.date.today().isoformat()}")
            log(f"  {e}: written beside it as {path.name}")
            write_json(path, rec)
            return path
        replaced = sorted(set(old["seeds"]) & set(rec["seeds"]))
        log(f"  merged seeds {rec['seeds']} into {path}" + (f" (seeds {replaced} rerun and replaced)" if replaced else ""))
        write_json(path, merged)
        return path
    write_json(path, rec)
    log(f"  wrote {path}")
    return path


def plan(paper: str, datasets=None, methods=None, registered=None) -> dict:
    """Which (registry method, dataset) pairs to run for `paper`, the published rows each one is compared
    with, and the rows skipped with their reason."""
    from ..methods import list_methods
    p = resolve_paper(paper)
    doc = published(p.paper)
    registered = set(list_methods() if registered is None else registered)
    want_ds = set(datasets) if datasets else None
    want_m = set(methods) if methods else None
    runs: dict[tuple, dict] = {}
    skipped: dict[tuple, str] = {}
    for row in doc["rows"]:
        ds = row["dataset"]
        if want_ds is not None and ds not in want_ds:
            continue
        ident = (row["method"], row["variant"], ds)
        if want_m is not None and not ({row["method"], registry_name(row["method"], registered)} & want_m):
            continue
        setting = {k: v for k, v in (row.get("setting") or {}).items() if k not in ("n_clusters", "labels", "input")}
        if setting:
            skipped.setdefault(ident + (json.dumps(setting),), "parameter sweep / ablation setting "
                               f"{setting}: run it with `deepclust bench --grid`")
            continue
        if row["variant"] is None:
            reg = registry_name(row["method"], registered)
            overrides = {}
        elif (row["method"], row["variant"]) in VARIANT_METHODS:
            reg = next((m for m in VARIANT_METHODS[(row["method"], row["variant"])] if m in registered), None)
            overrides = {}
        elif row["variant"] in p.runnable_variants.get(row["method"], {}):
            reg = registry_name(row["method"], registered)
            overrides = dict(p.runnable_variants[row["method"]][row["variant"]])
        else:
            skipped.setdefault(ident, f"variant {row['variant']!r} has no deepclust setting")
            continue
        if reg is None:
            if row["method"] in registered or any(m == row["method"] for m in registered):
                reg = row["method"]
            else:
                skipped.setdefault(ident, "not implemented in deepclust (not in the method registry)")
                continue
        setting_ds = p.datasets.get(ds)
        if setting_ds is None or not setting_ds.runnable:
            skipped.setdefault(ident, setting_ds.note if setting_ds else f"dataset {ds} not in the protocol")
            continue
        ok, why = dataset_available(ds, setting_ds.kwargs)
        if not ok:
            skipped.setdefault(ident, why)
            continue
        key = (reg, ds, json.dumps(overrides, sort_keys=True))
        entry = runs.setdefault(key, {"method": reg, "dataset": ds, "overrides": overrides,
                                      "dataset_kwargs": dict(setting_ds.kwargs), "data_note": setting_ds.note,
                                      "rows": []})
        entry["rows"].append(row)
    return {"protocol": p, "doc": doc, "runs": list(runs.values()),
            "skipped": [{"method": k[0], "variant": k[1], "dataset": k[2], "reason": v} for k, v in skipped.items()]}


def _seeds(seeds) -> list[int]:
    if isinstance(seeds, int):
        return list(range(seeds))
    return [int(s) for s in seeds]


def _budget(runs) -> str:
    """The epochs/iterations actually run, per phase, e.g. 'pretrain 50 epoch, cluster 5000 it'."""
    texts = []
    for r in runs:
        it = r.get("iterations") or {}
        t = ", ".join(f"{k} {v}" for k, v in it.items() if not str(v).startswith("1 step")) or "-"
        if t not in texts:
            texts.append(t)
    return " / ".join(texts)


def _ours(rec, stat, metric):
    s = {"reported": "mean", "best": "max"}.get(stat, stat)
    return rec[s][metric] if s in rec and metric in rec[s] else None


def compare(rec: dict, rows: list[dict]) -> list[dict]:
    out = []
    for row in sorted(rows, key=lambda r: (r["table"], r["metric"], STAT_ORDER.get(r["statistic"], 9))):
        ours = _ours(rec, row["statistic"], row["metric"])
        out.append({"method_paper": row["method_paper"], "variant": row["variant"], "metric": row["metric"],
                    "statistic": row["statistic"], "paper": row["value"], "paper_std": row.get("std"),
                    "ours": ours, "ours_std": rec["std"].get(row["metric"]),
                    "ours_stat": {"reported": "mean", "best": "max"}.get(row["statistic"], row["statistic"]),
                    "gap": None if ours is None else round(ours - row["value"], 4),
                    "source": f"{rec['paper_id']} {row['table']}" + (f" ({row['sub']})" if row.get("sub") else ""),
                    "row": row["row"], "from_literature": row.get("from_literature", False), "note": row.get("note")})
    return out


def _primary_paper(rows, paper_id) -> dict:
    """The `paper` dict of the result record: one value per metric, from the first table, preferring
    mean, then median, then a reported number."""
    best: dict = {}
    for r in sorted(rows, key=lambda r: (STAT_ORDER.get(r["statistic"], 9), r["table"])):
        best.setdefault(r["metric"], r)
    if not best:
        return {}
    first = next(iter(best.values()))
    d = {m: r["value"] for m, r in best.items()}
    d["statistic"] = first["statistic"] if len({r["statistic"] for r in best.values()}) == 1 else \
        {m: r["statistic"] for m, r in best.items()}
    if isinstance(d["statistic"], dict):  # keep the record simple: compare on the most common one
        d["statistic"] = first["statistic"]
    d["source"] = f"{paper_id} " + ", ".join(sorted({r["table"] for r in best.values()}))
    return d


def reproduce(paper: str, *, datasets=None, methods=None, seeds=3, preset: str = "paper",
              out=None, into=None, backend: str = "local", jobs: int | None = None,
              address: str | None = None, retry_failed: bool = True, device: str = "cpu",
              timeout: float | None = None, dry_run: bool = False, log=print) -> dict:
    pl = plan(paper, datasets, methods)
    p = pl["protocol"]
    seeds = _seeds(seeds)
    out = reproduce_out(out, paper, preset)
    name = f"{p.paper}_{p.key}-{preset}"
    tasks, by_pair = [], {}
    for e in pl["runs"]:
        ts = [_grid.make_task(e["method"], e["dataset"], s, preset, e["overrides"], e["dataset_kwargs"], device)
              for s in seeds]
        by_pair[(e["method"], e["dataset"], json.dumps(e["overrides"], sort_keys=True))] = ts
        tasks += ts
    log(f"reproduce {p.paper} ({p.title}), preset {preset}, seeds {seeds}: {len(pl['runs'])} method/dataset "
        f"pairs, {len(tasks)} runs; {len(pl['skipped'])} published rows skipped")
    for e in pl["runs"]:
        log(f"  run  {e['method']:<12} {e['dataset']:<14} {json.dumps(e['dataset_kwargs'])} "
            f"({len(e['rows'])} published numbers)")
    if dry_run:
        for s in pl["skipped"]:
            log(f"  skip {s['method']:<12} {s['dataset']:<14} {s['reason']}")
        return {"plan": pl, "tasks": tasks}
    _mark(out, p.paper, preset)
    g = _grid.Grid(out / "reproduce" / name)
    counts = g.run(tasks, backend=backend, jobs=jobs, address=address, retry_failed=retry_failed,
                   timeout=timeout, log=log) if tasks else {}
    g.write_summary(tasks)
    table_rows, records = [], []
    for e in pl["runs"]:
        ts = by_pair[(e["method"], e["dataset"], json.dumps(e["overrides"], sort_keys=True))]
        recs = [g.record(t) for t in ts]
        ok = [r for r in recs if r and r.get("status") == "ok"]
        failed = [r for r in recs if r and r.get("status") != "ok"]
        if not ok:
            table_rows.append({"method": e["method"], "dataset": e["dataset"], "status": "failed",
                               "errors": sorted({r.get("error", "")[:300] for r in failed})})
            continue
        runs = [{"seed": r["seed"], "seconds": r["seconds"], "iterations": r.get("iterations"),
                 **{m: r[m] for m in METRICS}} for r in ok]
        rec = summarise(e["method"], e["dataset"], preset, runs, paper=_primary_paper(e["rows"], p.paper),
                        dataset_kwargs=e["dataset_kwargs"], overrides=e["overrides"], device=ok[0].get("machine"),
                        budget=_budget(ok), command=command_line(),
                        extra={"paper_id": p.paper, "paper_title": p.title, "preset_used": ok[0].get("preset_used"),
                               "data_note": e["data_note"], "n_failed": len(failed),
                               "failed_errors": sorted({r.get("error", "")[:300] for r in failed}),
                               "runs_folder": str(g.runs_dir)})
        rec["comparison"] = compare(rec, e["rows"])
        rec["published_rows"] = e["rows"]
        path = write_result(rec, out=out, tag=f"p{p.paper}")
        if into is not None:
            merge_into(rec, Path(into), f"p{p.paper}", log)
        records.append(rec)
        table_rows.append({"method": e["method"], "dataset": e["dataset"], "status": "ok", "file": str(path),
                           "seeds": rec["seeds"], "preset": preset, "preset_used": rec["preset_used"],
                           "device": rec["device"], "budget": rec["epochs_or_iterations"],
                           "wall_seconds": rec["wall_seconds"], "dataset_kwargs": e["dataset_kwargs"],
                           "mean": rec["mean"], "std": rec["std"], "median": rec["median"], "min": rec["min"],
                           "max": rec["max"], "comparison": rec["comparison"], "n_failed": len(failed)})
    doc = {"paper": p.paper, "title": p.title, "preset": preset, "seeds": seeds, "backend": backend,
           "command": command_line(), "commit": git_commit(), "date": _dt.date.today().isoformat(),
           "notes": p.notes, "rows": table_rows, "skipped": pl["skipped"], "counts": counts}
    write_json(out / "reproduce" / f"{name}.json", doc)
    md = out / "reproduce" / f"{name}.md"
    write_text(md, paper_table_markdown(doc))
    log(f"wrote {md}")
    return doc


def _pm(v, s):
    return "-" if v is None else (f"{v:.4f}" + (f" ± {s:.4f}" if s is not None else ""))


def paper_table_markdown(doc: dict) -> str:
    L = [f"# Reproduction: {doc['paper']} {doc['title']}", "",
         f"Preset **{doc['preset']}**, seeds {doc['seeds']}, backend {doc['backend']}, commit `{doc['commit']}`, "
         f"{doc['date']}.", "", f"Command: `{doc['command']}`", "",
         "Metrics are fractions. *Ours* uses the statistic the paper reports: mean ± std over our seeds for a "
         "mean or a 'reported' number (a single number whose statistic the paper does not state, often copied "
         "from another paper), median/min/max for papers that report those. Gap = ours − paper.", ""]
    L += [f"- {n}" for n in doc.get("notes", [])] + [""]
    L += ["| method (paper label) | deepclust | dataset | metric | statistic | paper | ours | gap | seeds | preset "
          "| epochs / iterations run | wall s / run | source |", "|" + "---|" * 13]
    for r in doc["rows"]:
        if r["status"] != "ok":
            L.append(f"| - | {r['method']} | {r['dataset']} | - | - | - | all runs failed: {'; '.join(r['errors'])[:200]} "
                     "| - | - | - | - | - | - |")
            continue
        wall = f"{np.mean(r['wall_seconds']):.1f}"
        preset = r["preset"] if r["preset_used"] == r["preset"] else r["preset_used"]
        for c in r["comparison"]:
            ours = _pm(c["ours"], c["ours_std"] if c["ours_stat"] == "mean" else None)
            if c["ours_stat"] != "mean":
                ours += f" ({c['ours_stat']})"
            lit = " *" if c["from_literature"] else ""
            label = c["row"].replace("**", "").replace("|", "/")
            L.append(f"| {label}{lit} | {r['method']} | {r['dataset']} | {c['metric'].upper()} | "
                     f"{c['statistic']} | {c['paper']:.4f} | {ours} | {c['gap']:+.4f} | {len(r['seeds'])}"
                     f"{' (' + str(r['n_failed']) + ' failed)' if r['n_failed'] else ''} | {preset} | {r['budget']} | "
                     f"{wall} | {c['source']} |")
    L += ["", "\\* copied by the paper from the literature.", "", f"Device: {', '.join(sorted({r['device'] for r in doc['rows'] if r.get('device')}))}",
          "", "## Not run", "", "| reason | published rows (method [variant] / dataset) |", "|---|---|"]
    by_reason: dict = {}
    for sk in doc["skipped"]:
        item = f"{sk['method']}{' [' + sk['variant'] + ']' if sk['variant'] else ''} / {sk['dataset']}"
        lst = by_reason.setdefault(sk["reason"], [])
        if item not in lst:
            lst.append(item)
    for reason, items in by_reason.items():
        L.append(f"| {reason} | {', '.join(items)} |")
    if not by_reason:
        L.append("| (nothing skipped among the selected methods and datasets) | |")
    return "\n".join(L) + "\n"


def known_papers() -> str:
    return ", ".join(f"{p.paper} ({p.key})" for p in PROTOCOLS.values())


__all__ = ["plan", "reproduce", "paper_table_markdown", "DeepclustError"]
