"""Subnormal floats and training speed on CPU: DEC on USPS with ClustPy's identical-work schedule
(50 + 50 epochs, batch 256, Adam, PyTorch init, reshuffled batches; benchmarks/peer_clustpy.py), run with
flush_denormals=False (torch's default) and True (deepclust's default), one thread each, one after the other.

    OMP_NUM_THREADS=1 python benchmarks/denormals.py
Writes benchmarks/results/throughput/denormals-dec-usps.json: CPU seconds per phase and per 10 epochs,
ACC, and whether the two runs' labels agree.
"""
import datetime
import time
from pathlib import Path

import numpy as np
import torch

from deepclust.bench.results import command_line, git_commit, machine_description
from deepclust.datasets import load_dataset
from deepclust.engine.io import write_json
from deepclust.methods import DEC
from deepclust.metrics import acc


def run(X, flush):
    steps = -(-len(X) // 256)
    est = DEC(n_clusters=10, random_state=0, verbose=0, pretrain_epochs=50, max_iter=50 * steps, batch_size=256,
              optimizer="adam", lr=1e-4, update_interval=0, n_init=1, shuffle=True, weight_init="torch",
              flush_denormals=flush)
    c = time.process_time()
    est.fit(X)
    cpu = time.process_time() - c
    pre = [r["time"] for r in est.history_ if r["phase"] == "pretrain"]
    per10 = [round(b - a, 2) for a, b in zip([0.0] + pre[9::10][:-1], pre[9::10])]
    return est, {"flush_denormals": flush, "cpu_seconds": round(cpu, 1),
                 "phase_seconds": {k: round(v, 1) for k, v in est.phase_seconds_.items()},
                 "pretrain_seconds_per_10_epochs": per10}


def main():
    torch.set_num_threads(1)
    ds = load_dataset("usps", flatten=True)
    rows, labels = [], []
    for flush in (False, True):
        est, row = run(ds.X, flush)
        row["acc"] = round(acc(ds.y, est.labels_), 4)
        rows.append(row)
        labels.append(est.labels_)
        print(row, flush=True)
    write_json(Path(__file__).parent / "results" / "throughput" / "denormals-dec-usps.json", {
        "what": __doc__.split("\n\n")[0], "rows": rows,
        "labels_agree": float(np.mean(labels[0] == labels[1])),
        "speedup_cpu_time": round(rows[0]["cpu_seconds"] / rows[1]["cpu_seconds"], 3),
        "device": machine_description("cpu"), "torch": torch.__version__, "command": command_line(),
        "commit": git_commit(), "date": datetime.date.today().isoformat()})


if __name__ == "__main__":
    main()
