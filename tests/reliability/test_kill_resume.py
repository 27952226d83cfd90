"""Kill and resume through the CLI: `deepclust fit` killed with SIGKILL once a checkpoint exists, then
`deepclust fit --resume <run>.incomplete`, ends with exactly the labels of an uninterrupted run (CPU)."""
import glob
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from deepclust.cli import main

torch.set_num_threads(1)
ARGS = ["fit", "-m", "idec", "-d", "digits", "--preset", "smoke", "--seed", "3", "-q", "--no-model", "--no-plots",
        "--set", "hidden=(64,32)", "--set", "max_iter=160", "--set", "tol=0.0", "--set", "update_interval=40",
        "--checkpoint-every", "5"]


def _only(pattern):
    found = glob.glob(pattern)
    assert len(found) == 1, (pattern, found)
    return Path(found[0])


def test_sigkill_then_resume_gives_the_uninterrupted_labels(tmp_path):
    assert main(ARGS + ["--out", str(tmp_path / "ref")]) == 0
    ref = np.load(_only(str(tmp_path / "ref" / "*" / "labels.npy")))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "deepclust"] + ARGS + ["--out", str(tmp_path / "kill")],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while not glob.glob(str(tmp_path / "kill" / "*" / "checkpoints" / "after-init.pt")):
            assert p.poll() is None, "the run ended before a checkpoint was written"
            assert time.time() < deadline
            time.sleep(0.01)
        time.sleep(random.Random(0).uniform(0.0, 0.3))  # somewhere in the clustering phase
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait(60) == -signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
    run = _only(str(tmp_path / "kill" / "*.incomplete"))
    assert not (run / "labels.npy").exists()  # a killed run never looks complete
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=False)
    assert "cluster" not in ck["done"]  # killed mid-run, not after the end

    assert main(["fit", "--resume", str(run), "-q", "--checkpoint-every", "5", "--keep-checkpoints"]) == 0
    final = _only(str(tmp_path / "kill" / "*-idec-digits"))
    assert not run.exists() and final.name + ".incomplete" == run.name
    np.testing.assert_array_equal(np.load(final / "labels.npy"), ref)
    assert not glob.glob(str(final / "checkpoints" / ".*.tmp"))  # stale temp files removed on resume
