"""Helpers of the CLI suite (imported by its tests; fixtures are in conftest.py)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd, timeout=600):
    """`python -m deepclust ARGS` in `cwd` (this checkout's src first on the path, one thread)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "deepclust", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def blobs(n_per=30, d=6, seed=0):
    """Three well separated Gaussian blobs (k-means recovers them exactly)."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(4.0 * c, 0.5, (n_per, d)) for c in range(3)]).astype(np.float32)
    return X, np.repeat(np.arange(3), n_per)


def only_run(out: Path) -> Path:
    runs = [p for p in Path(out).iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]
