"""Run deepclust's DEC/IDEC on arrays saved by benchmarks/peer_clustpy.py in another interpreter (e.g.
ClustPy's venv with its torch build, so that both libraries run on the same torch kernels). Prints one
JSON line: our labels_, wall and CPU seconds of `fit`, the torch version.

usage: PYTHONPATH=src python deepclust_run.py DATA.npz METHOD THREADS PARAMS_JSON
"""
import json
import sys
import time

import numpy as np
import torch


def main():
    path, method, threads, params = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    torch.set_num_threads(threads)
    X = np.load(path)["X"]
    from deepclust.methods import get
    est = get(method)(**params)
    t, c = time.time(), time.process_time()
    est.fit(X)
    print(json.dumps({"labels": est.labels_.astype(int).tolist(), "seconds": time.time() - t,
                      "cpu_seconds": time.process_time() - c, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
