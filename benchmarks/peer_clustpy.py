"""deepclust vs the peer library ClustPy: DEC and IDEC with the same architecture (d-500-500-2000-10),
the same epoch budget and batch size, on the same data; ACC/NMI, wall time and our time / theirs.
Plus our `fast` preset (a documented faster schedule) against their default-schedule accuracy.

Set-up of the peer (its own venv; ClustPy's torchvision pulls torch 2.15 from PyPI, which cannot be
replaced by our on-disk 2.13 CPU build because torchvision then fails to import; the versions are recorded):
    python3 -m venv .venv-clustpy && .venv-clustpy/bin/pip install clustpy h5py
usage:
    python benchmarks/peer_clustpy.py --peer-python .venv-clustpy/bin/python --datasets usps mnist-test \
        --pretrain-epochs 50 --clustering-epochs 50 --seeds 0 1 2 --threads 1
Writes benchmarks/results/peer/clustpy-<dataset>.json. --merge adds seeds to that file; --fast-only reruns
only our `fast` preset against the ClustPy rows already there; --ours-python PY --tag T runs our side in
another interpreter (the peer's venv: both libraries on the same torch build) into clustpy-<dataset>-T.json.

Identical work: ClustPy's schedule is Adam(1e-3) pretraining, Adam(1e-4) clustering with the target P
computed from each batch's own Q (no whole-dataset refresh), k-means with sklearn defaults, 256 per batch.
Ours runs the same: optimizer="adam", lr=1e-4, update_interval=0, n_init=1, max_iter=epochs*steps_per_epoch.
Runs alternate (theirs, ours) so both see the same machine load.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from deepclust.bench.results import command_line, git_commit, machine_description
from deepclust.datasets import load_dataset
from deepclust.engine.io import write_json
from deepclust.methods import get
from deepclust.metrics import acc, nmi

HERE = Path(__file__).parent


def ours(method, X, y, seed, e1, e2, threads, python=None, npz=None, **schedule):
    """Our DEC/IDEC with ClustPy's schedule (or `schedule`'s); in this process, or with `python` (another
    interpreter, e.g. the peer's venv: the same torch build on both sides) via peer/deepclust_run.py."""
    steps = -(-len(X) // 256)
    kw = dict(n_clusters=int(y.max()) + 1, random_state=seed, verbose=0, pretrain_epochs=e1,
              max_iter=e2 * steps, batch_size=256, optimizer="adam", lr=1e-4, update_interval=0, n_init=1,
              shuffle=True, weight_init="torch")
    kw.update(schedule)
    if python:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads),
               "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")])}
        out = subprocess.run([python, str(HERE / "peer" / "deepclust_run.py"), npz, method, str(threads),
                              json.dumps(kw)], capture_output=True, text=True, env=env, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        return np.asarray(res["labels"]), res["seconds"], res["cpu_seconds"]
    import torch
    torch.set_num_threads(threads)
    est = get(method)(**kw)
    t, c = time.time(), time.process_time()
    est.fit(X)
    return est.labels_, time.time() - t, time.process_time() - c


def theirs(peer_python, npz, method, seed, e1, e2, threads):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([peer_python, str(HERE / "peer" / "clustpy_run.py"), npz, method, str(seed), str(e1),
                          str(e2), str(threads)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def score(y, lab, sec=None, cpu=None):
    out = {"acc": round(acc(y, np.asarray(lab)), 4), "nmi": round(nmi(y, np.asarray(lab)), 4)}
    return out | ({"seconds": round(sec, 1)} if sec is not None else {}) | (
        {"cpu_seconds": round(cpu, 1)} if cpu is not None else {})


def summarise(rows) -> dict:
    """Mean/std over seeds per method, and the issue's three targets."""
    out = {}
    for m in sorted({r["method"] for r in rows}):
        rs = [r for r in rows if r["method"] == m]

        def stat(get):
            v = np.array([get(r) for r in rs], float)
            return {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4)}

        theirs_acc = stat(lambda r: r["clustpy"]["acc"])["mean"]
        d = {"seeds": [r["seed"] for r in rs],
             "clustpy_acc": stat(lambda r: r["clustpy"]["acc"]),
             "clustpy_own_assignment_acc": stat(lambda r: r["clustpy_own_assignment"]["acc"]),
             "clustpy_seconds": stat(lambda r: r["clustpy"]["seconds"]),
             "deepclust_acc": stat(lambda r: r["deepclust"]["acc"]),
             "deepclust_seconds": stat(lambda r: r["deepclust"]["seconds"]),
             "time_ratio_ours_over_theirs": stat(lambda r: r["time_ratio_ours_over_theirs"])}
        d["target_accuracy_at_least_theirs"] = d["deepclust_acc"]["mean"] >= theirs_acc
        d["target_time_at_most_theirs"] = d["time_ratio_ours_over_theirs"]["mean"] <= 1.0
        if all("deepclust_fast" in r for r in rs):
            d["fast_acc"] = stat(lambda r: r["deepclust_fast"]["acc"])
            d["fast_seconds"] = stat(lambda r: r["deepclust_fast"]["seconds"])
            d["fast_time_ratio_over_clustpy"] = stat(lambda r: r["deepclust_fast"]["time_ratio_over_clustpy"])
            d["target_fast_reaches_their_accuracy_in_a_third"] = bool(
                d["fast_acc"]["mean"] >= theirs_acc and d["fast_time_ratio_over_clustpy"]["mean"] <= 1 / 3)
        out[m] = d
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-python", default=".venv-clustpy/bin/python")
    ap.add_argument("--datasets", nargs="+", default=["usps", "mnist-test"])
    ap.add_argument("--methods", nargs="+", default=["DEC", "IDEC"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--pretrain-epochs", type=int, default=50)
    ap.add_argument("--clustering-epochs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-fast", action="store_true")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows already in the result file (other seeds) and add these runs' rows; "
                         "a row of the same method and seed is replaced")
    ap.add_argument("--ours-python", default=None,
                    help="run our side in this interpreter (e.g. the peer's venv, so that both sides use the "
                         "same torch build); results go to clustpy-<dataset>-<tag>.json")
    ap.add_argument("--tag", default=None, help="result file suffix (required with --ours-python)")
    ap.add_argument("--fast-only", action="store_true",
                    help="rerun only our fast preset (e.g. after changing it) against the rows already in the "
                         "file: ClustPy's and our identical-work results and CPU times are kept as measured")
    a = ap.parse_args()
    a.merge = a.merge or a.fast_only
    if a.ours_python and not a.tag:
        ap.error("--ours-python needs --tag, so that the main result file is not overwritten")
    import torch
    for dname in a.datasets:
        ds = load_dataset(dname, flatten=True)
        X, y = ds.X, ds.y
        rows, versions, commands = [], {}, [command_line()]
        path = f"benchmarks/results/peer/clustpy-{dname}" + (f"-{a.tag}" if a.tag else "") + ".json"
        same = {"python": a.ours_python} if a.ours_python else {}
        previous = {}
        if a.fast_only and not Path(path).exists():
            sys.exit(f"--fast-only: {path} does not exist; run the full comparison first")
        if a.merge and Path(path).exists():
            old = json.loads(Path(path).read_text())
            previous = {(r["method"], r["seed"]): r for r in old["rows"]}
            versions = old.get("versions", {}).get("peer", {})
            if (old["pretrain_epochs"], old["clustering_epochs"], old["threads"]) != (
                    a.pretrain_epochs, a.clustering_epochs, a.threads):
                sys.exit(f"--merge: {path} was run with other epochs/threads; rerun without --merge")
            done = {(m, s) for m in a.methods for s in a.seeds}
            rows = [r for r in old["rows"] if (r["method"], r["seed"]) not in done]
            old_cmd = old["command"]
            commands = (old_cmd if isinstance(old_cmd, list) else [old_cmd]) + commands
        with tempfile.TemporaryDirectory() as tmp:
            npz = f"{tmp}/data.npz"
            np.savez(npz, X=X, y=y)
            for m in a.methods:
                for seed in a.seeds:
                    if a.fast_only:
                        if (m, seed) not in previous:
                            sys.exit(f"--fast-only: {path} has no {m} row for seed {seed}")
                        row = dict(previous[(m, seed)])
                        st, ct = row["clustpy"]["seconds"], row["clustpy"]["cpu_seconds"]
                    else:
                        res = theirs(a.peer_python, npz, m, seed, a.pretrain_epochs, a.clustering_epochs,
                                     a.threads)
                        versions = res.get("versions", versions)
                        st, ct = res["seconds"], res["cpu_seconds"]
                        lo, so, co = ours(m.lower(), X, y, seed, a.pretrain_epochs, a.clustering_epochs,
                                          a.threads, npz=npz, **same)
                        row = {"method": m, "seed": seed, "clustpy": score(y, res["labels"], st, ct),
                               "clustpy_own_assignment": score(y, res["dec_labels"]),
                               "deepclust": score(y, lo, so, co), "time_ratio_ours_over_theirs": round(co / ct, 3),
                               "wall_time_ratio_ours_over_theirs": round(so / st, 3)}
                    if not a.no_fast:
                        fast = get(m.lower()).presets["fast"]
                        lf, sf, cf = ours(m.lower(), X, y, seed, fast["pretrain_epochs"], 0, a.threads,
                                          npz=npz, **same, **({"shuffle": False, "weight_init": "glorot"} | {
                                              k: v for k, v in fast.items() if k != "pretrain_epochs"}))
                        row["deepclust_fast"] = {**score(y, lf, sf, cf), "preset": fast,
                                                 "time_ratio_over_clustpy": round(cf / ct, 3),
                                                 "wall_time_ratio_over_clustpy": round(sf / st, 3),
                                                 "measured": datetime.date.today().isoformat()
                                                 + (" (--fast-only rerun)" if a.fast_only else "")}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
                    rows.sort(key=lambda r: (r["method"], r["seed"]))
                    # written after every row: an interrupted benchmark keeps what it measured
                    write_json(path, {
                        "benchmark": "deepclust vs ClustPy (DEC, IDEC), identical architecture/epochs/batch",
                        "dataset": dname, "n": len(X), "pretrain_epochs": a.pretrain_epochs,
                        "clustering_epochs": a.clustering_epochs, "threads": a.threads,
                        "what_is_compared": "clustpy = ClustPy's labels_ (a final k-means on its embedding); "
                        "clustpy_own_assignment = its dec_labels_ (the DEC/IDEC assignment); deepclust = our "
                        "labels_ (the DEC/IDEC assignment, the paper's), same work and ClustPy's conventions "
                        "(PyTorch default init, batches reshuffled each epoch, per-batch targets, Adam 1e-3 / "
                        "1e-4, k-means n_init 1); deepclust_fast = our `fast` preset (bf16 where the CPU has "
                        "native bf16, shorter schedule, our default glorot init / fixed order). Time ratios use "
                        "CPU time (process_time, 1 thread each), which other jobs on the machine do not "
                        "inflate; wall times are recorded beside them.",
                        "summary": summarise(rows), "rows": rows,
                        "versions": {"peer": versions, "deepclust_torch": (
                            versions.get("torch") if a.ours_python else torch.__version__)},
                        "deepclust_python": a.ours_python or sys.executable,
                        "device": machine_description("cpu"), "load_average_at_end": os.getloadavg(),
                        "command": commands if len(commands) > 1 else commands[0], "commit": git_commit(),
                        "date": datetime.date.today().isoformat()})


if __name__ == "__main__":
    main()
