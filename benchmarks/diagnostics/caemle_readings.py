"""Where does CAE-MLE's hierarchy enter training? Each reading of the paper (CAEMLE.hierarchy) against
DCEC, from the same pretrained CAE per seed, on data whose answer is known first, then on USPS/MNIST.

Runs per seed, all from one pretrained CAE (so they differ only in the clustering phase):
  - dcec                 k-means init, DCEC self-training (the baseline);
  - cae-mle/<reading>    Ward init + the reading (init = paper-literal, centres, targets, multilevel,
                         multilevel-targets; see src/deepclust/methods/caemle.py);
  - oracle (diagnostic)  DCEC self-training started from the true class means of the pretrained
                         embedding: where self-training goes from the best possible start. It uses the
                         labels, so it is a ceiling for the analysis, never a method.
Each row: the initial partition's ACC/NMI, the final ACC/NMI/ARI, ACC at every target update (labels
only score; they choose nothing), iterations run, CPU seconds, and "ward_on_final_z" (Ward on the
trained embedding, for the analysis).

Data: "planted" = benchmarks/diagnostics/planted.py strokes (3,000 images, 10 classes made of shared
stroke primitives, unequal sizes; the CAE is pretrained here for --pretrain-epochs); "usps" / "mnist-test"
= the CAE pretrained for 200 epochs by benchmarks/caemle_ifl.py --pretrained DIR (pass the same DIR as
--ae-dir; USPS in [-0.5, 0.5], the DCEC reference range).

    OMP_NUM_THREADS=1 python benchmarks/diagnostics/caemle_readings.py --data planted --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/diagnostics/caemle_readings.py --data usps --seeds 0 \\
        --ae-dir /work/scratch/caemle/ae --max-iter 20000
    # cpu preset on USPS in [-1, 1] (the committed cpu rows' setting), CAE pretrained here for 30 epochs,
    # every run also scored with the manifold head (UMAP + GMM on the same final embedding):
    OMP_NUM_THREADS=1 python benchmarks/diagnostics/caemle_readings.py --data usps --usps-scale minus1-1 \\
        --pretrain-epochs 30 --max-iter 3000 --seeds 0 --final-clusterer umap-gmm --tag cpu \\
        --runs cae-mle/init cae-mle/multilevel-targets dcec cae-mle/merge
Writes benchmarks/results/cae-mle/readings-<data>[-tag].json (rows merged by seed and run). With
--final-clusterer, "final" stays the method's own assignment (paper_labels_) and "final_head" is the
head's partition of the same embedding.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from deepclust.bench.results import command_line, git_commit, machine_description  # noqa: E402
from deepclust.engine.assignment import cluster_means, ward  # noqa: E402
from deepclust.engine.io import write_json  # noqa: E402
from deepclust.engine.training import encode  # noqa: E402
from deepclust.methods.caemle import CAEMLE, HIERARCHIES  # noqa: E402
from deepclust.methods.dcec import DCEC  # noqa: E402
from deepclust.metrics import evaluate  # noqa: E402

RESULTS = HERE.parent / "results" / "cae-mle"
SCALE = {"usps": {"scale": "minus05-05"}, "mnist-test": {}}


class OracleInit(DCEC):
    """Diagnostic only: DCEC whose centres start at the true class means of the pretrained embedding."""

    oracle_y = None  # set by the script; never used to learn anything but the starting centres

    def _pretrain_and_init(self, fit):
        super()._pretrain_and_init(fit)
        s = fit.state
        z = encode(fit, s.ae.encode, modules=(s.ae,)).cpu().numpy().astype(np.float64)
        y = np.asarray(self.oracle_y)
        s.init_centers = torch.as_tensor(cluster_means(z, y, int(y.max()) + 1).astype(np.float32))
        s.init_labels = torch.as_tensor(y, device=fit.device)


def load(data, seed):
    if data == "planted":
        from planted import strokes
        return strokes(3000, seed=seed)
    from deepclust.datasets import load_dataset
    ds = load_dataset(data, **SCALE.get(data, {}))
    return ds.X, ds.y


def history(est):
    rows = [r for r in est.history_ if r.get("phase") == "cluster" and "acc" in r]
    T = int(est.update_interval)  # a row holds the ACC measured at the target update that opened its interval
    return {"it": [(int(r["it"]) - 1) // T * T for r in rows], "acc": [round(r["acc"], 4) for r in rows],
            "nmi": [round(r["nmi"], 4) for r in rows],
            "label_change": [round(r.get("label_change", float("nan")), 5) for r in rows]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="planted", choices=["planted", "usps", "mnist-test"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--runs", nargs="+", default=["dcec", *[f"cae-mle/{h}" for h in HIERARCHIES], "oracle"])
    ap.add_argument("--pretrain-epochs", type=int, default=40,
                    help="planted, or usps/mnist-test without --ae-dir: pretrain the CAE here for this many epochs")
    ap.add_argument("--usps-scale", default="minus05-05", choices=["minus05-05", "minus1-1"])
    ap.add_argument("--final-clusterer", default="paper", help="also score this head (engine/heads.py) per run")
    ap.add_argument("--ae-dir", default=None, help="usps/mnist-test: DIR of caemle_ifl.py --pretrained")
    ap.add_argument("--max-iter", type=int, default=5000)
    ap.add_argument("--tag", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.data == "usps":
        SCALE["usps"] = {"scale": a.usps_scale}
    out = RESULTS / f"readings-{a.data}{'-' + a.tag if a.tag else ''}.json"
    old = json.loads(out.read_text()) if out.is_file() else {}
    rows = {(r["seed"], r["run"]): r for r in old.get("rows", [])}
    for seed in a.seeds:
        X, y = load(a.data, seed)
        k = int(y.max()) + 1
        with tempfile.TemporaryDirectory() as tmp:
            if a.data == "planted" or a.ae_dir is None:
                ae_path = Path(tmp) / "ae.pt"
                t = time.process_time()
                pre = DCEC(pretrain_epochs=a.pretrain_epochs, max_iter=0, n_clusters=k, random_state=seed,
                           verbose=0).fit(X)
                torch.save(pre.autoencoder_, ae_path)
                pretrain = {"epochs": a.pretrain_epochs, "cpu_seconds": round(time.process_time() - t, 1)}
            else:
                ae_path = Path(a.ae_dir) / f"{a.data}{'-minus05-05' if a.data == 'usps' else ''}-paper-seed{seed}.pt"
                pretrain = {"epochs": 200, "file": ae_path.name}
            for run in a.runs:
                common = dict(n_clusters=k, random_state=seed, verbose=0, pretrained_ae=str(ae_path),
                              max_iter=a.max_iter, final_clusterer=a.final_clusterer)
                if run == "dcec":
                    est = DCEC(**common)
                elif run == "oracle":
                    OracleInit.oracle_y = y
                    est = OracleInit(**common)
                else:
                    est = CAEMLE(**common, hierarchy=run.split("/", 1)[1])
                t, c = time.time(), time.process_time()
                est.fit(X, y)  # y only monitors (ACC in the history); nothing is chosen with it
                wall, cpu = time.time() - t, time.process_time() - c
                init_row = next(r for r in est.history_ if r.get("phase") == "init")
                h = history(est)
                Z = est.transform(X)
                init = {m: round(init_row[m], 4) for m in ("acc", "nmi")}
                if run == "oracle":  # the init row is logged before the oracle replaces the k-means start
                    init = {m: round(v, 4) for m, v in evaluate(y, y).items() if m in ("acc", "nmi")}
                own = getattr(est, "paper_labels_", None) if a.final_clusterer != "paper" else None
                own = est.labels_ if own is None else own
                row = {"seed": seed, "run": run, "init": init,
                       "final": {m: round(v, 4) for m, v in evaluate(y, own).items()},
                       **({"final_head": {"head": a.final_clusterer,
                                          **{m: round(v, 4) for m, v in evaluate(y, est.labels_).items()}}}
                          if a.final_clusterer != "paper" else {}),
                       "ward_on_final_z": {m: round(v, 4) for m, v in evaluate(y, ward(Z, k)[1]).items()},
                       "final_kl_loss": next((round(float(r["kl_loss"]), 6) for r in reversed(est.history_)
                                              if r.get("phase") == "cluster" and "kl_loss" in r), None),
                       "iterations": max([int(r["it"]) for r in est.history_ if r.get("phase") == "cluster" and "it" in r] or [0]), "n_ward_refresh": getattr(est, "n_ward_refresh_", 0),
                       "history": h, "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                       "pretrain": pretrain}
                print(json.dumps({k2: v for k2, v in row.items() if k2 != "history"}), flush=True)
                rows[(seed, run)] = row
                write_json(out, {
                    "what": __doc__.split("\n\n")[0], "data": a.data,
                    "settings": {"max_iter": a.max_iter, "update_interval": 140, "tol": 0.001, "gamma": 0.1,
                                 "levels": [1, 2, 4], "pretrain_epochs": a.pretrain_epochs if (a.data == "planted" or a.ae_dir is None)
                                 else 200, "data_kwargs": SCALE.get(a.data, {"n": 3000}),
                                 "final_clusterer": a.final_clusterer},
                    "rows": [rows[key] for key in sorted(rows, key=lambda kk: (kk[0], a.runs.index(kk[1])
                                                                                if kk[1] in a.runs else 99))],
                    "device": machine_description("cpu"), "command": command_line(), "commit": git_commit()})


if __name__ == "__main__":
    main()
