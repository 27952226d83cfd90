"""Kill-and-resume of every registered method through the CLI (issue #10).

For each method of `deepclust.methods.list_methods()` (smoke preset, digits subset, CPU, 1 thread):
  1. an uninterrupted `deepclust fit` -> reference labels (and its wall time, and when its first checkpoint
     appeared);
  2. the same command, killed with SIGKILL at a random time between its first checkpoint and the
     reference's end (seeded; if it finishes first, retried once with an earlier kill);
  3. `deepclust fit --resume <run>.incomplete` -> labels compared with the reference;
  4. when they differ, a second uninterrupted run tells resume bugs from plain non-determinism.
Methods without checkpoint support (the classical ones: no checkpoint_dir) are reported as such.
Report plots are switched off (deepclust.cli._report) to save time; everything else is the real CLI.

    python benchmarks/kill_resume.py                       # all methods
    python benchmarks/kill_resume.py --methods idec dcec   # some
-> benchmarks/results/reliability/kill_resume.json (merged per method with earlier results)
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "reliability" / "kill_resume.json"
# dataset options some methods need on digits (8x8): image sides their networks support
METHOD_ARGS = {"dcfae": ["--resize", "16"], "pfc": ["--resize", "16"]}
CKPT_GLOB = ("*", "checkpoints", "**", "*.pt")  # deep-ifl keeps fold checkpoints in subfolders
CLI = ("import sys, deepclust.cli as c; c._report = lambda run_dir: None; "
       "sys.exit(c.main(sys.argv[1:]))")


def cli_cmd(args):
    return [sys.executable, "-c", CLI] + args


def fit_args(method, out, a):
    return ["fit", "-m", method, "-d", a.dataset, "--subset", str(a.subset), "--preset", "smoke", "--seed",
            str(a.seed), "-q", "--no-model", "--device", "cpu", "--checkpoint-every", str(a.checkpoint_every),
            "--out", str(out)] + METHOD_ARGS.get(method, [])


def run_to_end(args, env, timeout):
    t = time.time()
    first_ckpt = None
    p = subprocess.Popen(cli_cmd(args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_dir = Path(args[args.index("--out") + 1]) if "--out" in args else None
    completed = None
    while p.poll() is None:
        if first_ckpt is None and out_dir is not None and glob.glob(str(out_dir.joinpath(*CKPT_GLOB)), recursive=True):
            first_ckpt = time.time() - t
        if completed is None and out_dir is not None and [d for d in glob.glob(str(out_dir / "*"))
                                                          if not d.endswith(".incomplete")]:
            completed = time.time() - t  # run folder renamed: the rest is interpreter teardown
        if time.time() - t > timeout:
            p.kill()
            p.wait()
            return {"rc": "timeout", "seconds": round(time.time() - t, 1)}
        time.sleep(0.02)
    _, err = p.communicate()
    return {"rc": p.returncode, "seconds": round(time.time() - t, 1), "first_checkpoint_s": first_ckpt,
            "completed_s": completed,
            "stderr": err[-1500:] if p.returncode else ""}


def labels_of(out_dir):
    import numpy as np
    found = [p for p in glob.glob(str(Path(out_dir) / "*" / "labels.npy")) if ".incomplete" not in p]
    return np.load(found[0]) if found else None


def kill_once(method, out, a, env, delay):
    """Start the fit, wait for its first checkpoint, wait `delay` s more, SIGKILL. Returns info."""
    p = subprocess.Popen(cli_cmd(fit_args(method, out, a)), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t = time.time()
    while p.poll() is None and not glob.glob(str(out.joinpath(*CKPT_GLOB)), recursive=True):
        if time.time() - t > a.timeout:
            break
        time.sleep(0.01)
    t_ck = time.time() - t
    if p.poll() is None:
        time.sleep(delay)
    t_kill = time.time() - t
    killed = p.poll() is None
    if killed:
        os.kill(p.pid, signal.SIGKILL)
    p.wait()
    if killed and not glob.glob(str(out / "*.incomplete")):
        killed = False  # killed after the run folder was completed (while exiting): too late
    return {"killed": killed, "first_checkpoint_s": round(t_ck, 2), "kill_after_s": round(t_kill, 2),
            "rc": p.returncode}


def kill_point(run_dir):
    """Phases done and cursor of every latest.pt of the killed run (several for deep-ifl's folds)."""
    import torch
    found = sorted(glob.glob(str(Path(run_dir) / "checkpoints" / "**" / "latest.pt"), recursive=True))
    if not found:
        return {"checkpoint": None}
    out = {}
    for f in found:
        p = torch.load(f, map_location="cpu", weights_only=False)
        rel = str(Path(f).relative_to(Path(run_dir) / "checkpoints"))
        out[rel] = {"phases_done": p.get("done"), "cursor": list(p["cursor"]) if p.get("cursor") else None}
    return out["latest.pt"] if list(out) == ["latest.pt"] else out


def bench_method(method, a, env, rng):
    import numpy as np
    from deepclust.methods import get
    cls = get(method)
    row = {"method": method}
    if "checkpoint_dir" not in getattr(cls, "__dataclass_fields__", {}):
        row.update(checkpoint_support=False, note="classical method: no checkpoints, nothing to resume "
                   "(a killed run is simply rerun)")
        return row
    row["checkpoint_support"] = True
    with tempfile.TemporaryDirectory(prefix=f"kr-{method}-") as tmp:
        tmp = Path(tmp)
        ref = run_to_end(fit_args(method, tmp / "ref", a), env, a.timeout)
        row["uninterrupted"] = {k: v for k, v in ref.items() if k != "stderr"}
        if ref["rc"] != 0:
            row.update(error="uninterrupted run failed", stderr=ref.get("stderr"))
            return row
        ref_labels = labels_of(tmp / "ref")
        if ref.get("first_checkpoint_s") is None:
            row.update(resumed_equals_uninterrupted=None, note="no checkpoint was ever written")
            return row
        end = ref.get("completed_s") or ref["seconds"]
        window = max(0.05, end - ref["first_checkpoint_s"])
        tries = []
        for attempt in range(3):
            delay = rng.uniform(0.0, window) * (0.5 ** attempt)
            out = tmp / f"kill{attempt}"
            k = kill_once(method, out, a, env, delay)
            k["delay_s"] = round(delay, 2)
            tries.append(k)
            if k["killed"]:
                break
        row["kill"] = tries[-1]
        row["kill_attempts"] = len(tries)
        if not tries[-1]["killed"]:
            row.update(resumed_equals_uninterrupted=None, note="the run always finished before the kill")
            return row
        inc = glob.glob(str(out / "*.incomplete"))
        if not inc:
            row.update(error="no .incomplete run folder after the kill")
            return row
        row["kill_point"] = kill_point(inc[0])
        res = run_to_end(["fit", "--resume", inc[0], "-q", "--checkpoint-every", str(a.checkpoint_every)], env,
                         a.timeout)
        row["resume"] = {k: v for k, v in res.items() if k not in ("stderr", "first_checkpoint_s", "completed_s")}
        if res["rc"] != 0:
            row.update(resumed_equals_uninterrupted=False, error="resume failed", stderr=res.get("stderr"))
            return row
        got = labels_of(out)
        same = got is not None and ref_labels is not None and np.array_equal(got, ref_labels)
        row["resumed_equals_uninterrupted"] = bool(same)
        if not same and got is not None:
            row["labels_differing"] = int((got != ref_labels).sum())
            again = run_to_end(fit_args(method, tmp / "ref2", a), env, a.timeout)
            lab2 = labels_of(tmp / "ref2") if again["rc"] == 0 else None
            row["uninterrupted_deterministic"] = bool(lab2 is not None and np.array_equal(lab2, ref_labels))
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", nargs="+")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--subset", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint-every", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=400, help="seconds per CLI run")
    ap.add_argument("--kill-seed", type=int, default=10)
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args()
    from deepclust.bench.results import git_commit
    from deepclust.engine.io import write_json
    from deepclust.methods import list_methods
    methods = a.methods or list_methods()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rng = random.Random(a.kill_seed)
    out = Path(a.out)
    doc = json.loads(out.read_text()) if out.is_file() else {"methods": {}}
    for m in methods:
        t = time.time()
        try:
            row = bench_method(m, a, env, rng)
        except Exception as e:  # the benchmark reports, it does not stop
            row = {"method": m, "error": f"{type(e).__name__}: {e}"}
        row["wall_seconds"] = round(time.time() - t, 1)
        row["date"] = dt.datetime.now().isoformat(timespec="seconds")
        doc["methods"][m] = row
        print(json.dumps({k: v for k, v in row.items() if k != "stderr"}), flush=True)
        rows = doc["methods"].values()
        doc.update(
            benchmark="kill_resume", dataset=a.dataset, subset=a.subset, preset="smoke", seed=a.seed,
            checkpoint_every=a.checkpoint_every, device="cpu (1 thread)",
            how="SIGKILL at a random time after the first checkpoint, then `deepclust fit --resume`; "
                "labels compared with an uninterrupted run",
            summary={"resumed_equal": sorted(r["method"] for r in rows if r.get("resumed_equals_uninterrupted")),
                     "resumed_different": sorted(r["method"] for r in rows
                                                 if r.get("resumed_equals_uninterrupted") is False),
                     "no_checkpoint_support": sorted(r["method"] for r in rows if r.get("checkpoint_support") is False),
                     "not_tested_or_failed": sorted(r["method"] for r in rows if r.get("checkpoint_support")
                                                    and r.get("resumed_equals_uninterrupted") is None)},
            command=" ".join([Path(sys.executable).name] + sys.argv), commit=git_commit())
        write_json(out, doc)  # after every method: a killed benchmark keeps what it measured
    print("->", out)


if __name__ == "__main__":
    main()
