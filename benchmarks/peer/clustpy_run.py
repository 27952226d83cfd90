"""Run ClustPy's DEC/IDEC on arrays saved by benchmarks/peer_clustpy.py (executed inside ClustPy's own
venv, so the two libraries never share an environment). Prints one JSON line.

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
    t = time.time()
    algo.fit(X)
    print(json.dumps({"labels": algo.labels_.astype(int).tolist(), "seconds": time.time() - t}))


if __name__ == "__main__":
    main()
