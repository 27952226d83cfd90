"""Run ClustPy's DEC/IDEC on arrays saved by benchmarks/peer_clustpy.py (executed inside ClustPy's own
venv, so the two libraries never share an environment). Prints one JSON line: ClustPy's `labels_` (a final k-means on the
embedding, what its users get), `dec_labels_` (the DEC/IDEC assignment itself), the wall time of `fit`.

usage: python clustpy_run.py DATA.npz METHOD SEED PRETRAIN_EPOCHS CLUSTERING_EPOCHS THREADS
"""
import json
import sys
import time

import numpy as np
import torch


def main():
    path, method, seed, e1, e2, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
    torch.set_num_threads(threads)
    d = np.load(path)
    X, y = d["X"], d["y"]
    from clustpy import deep
    algo = getattr(deep, method)(n_clusters=int(y.max()) + 1, random_state=seed, pretrain_epochs=e1,
                                 clustering_epochs=e2, batch_size=256)
    t, c = time.time(), time.process_time()
    algo.fit(X)
    seconds, cpu_seconds = time.time() - t, time.process_time() - c
    import clustpy
    # labels_ = ClustPy's final k-means re-clustering of the embedding; dec_labels_ = DEC's own assignment
    print(json.dumps({"labels": algo.labels_.astype(int).tolist(),
                      "dec_labels": np.asarray(algo.dec_labels_).astype(int).tolist(), "seconds": seconds, "cpu_seconds": cpu_seconds,
                      "versions": {"clustpy": getattr(clustpy, "__version__", "0.0.3"), "torch": torch.__version__}}))


if __name__ == "__main__":
    main()
