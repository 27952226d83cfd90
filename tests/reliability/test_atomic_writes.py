"""Atomic writes: a writer killed (SIGKILL) or failing mid-write leaves the previous good file; a full disk
or an unwritable folder gives a clear deepclust error, before training where it can be checked."""
import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from deepclust.engine import io
from deepclust.engine.checkpoint import Checkpointer
from deepclust.engine.io import WriteError, ensure_writable_dir, remove_stale_temps, torch_save, write_json
from deepclust.errors import DeepclustError
from deepclust.methods import get

torch.set_num_threads(1)

WRITER = r"""
import sys, time
from deepclust.engine.io import atomic_path
with atomic_path(sys.argv[1], "wb") as f:
    f.write(b"NEW" * 1000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)  # killed here, mid-write
    f.write(b"END")
"""


def test_sigkill_mid_write_keeps_previous_file(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"good": 1})
    before = target.read_bytes()
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert p.stdout.readline().strip() == "writing"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
    assert target.read_bytes() == before  # the previous good file, untouched
    leftovers = [f for f in os.listdir(tmp_path) if f != "result.json"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # the killed write's temp file ...
    assert remove_stale_temps(tmp_path) == 1 and os.listdir(tmp_path) == ["result.json"]  # ... cleaned up


def test_exception_inside_torch_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ck = Checkpointer(tmp_path)
    ck.save({"step": 1, "w": torch.ones(3)})

    def broken_save(obj, f, *a, **k):
        f.write(b"partial garbage")
        raise RuntimeError("crash mid-write")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError):
        ck.save({"step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert ck.load()["step"] == 1 and os.listdir(tmp_path) == ["latest.pt"]


def test_disk_full_is_a_clear_error_and_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "labels.npy"
    io.write_npy(target, np.arange(3))
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full)
    with pytest.raises(WriteError, match="No space left on device; free some disk space") as e:
        io.write_npy(target, np.arange(5))
    assert isinstance(e.value, DeepclustError) and isinstance(e.value, OSError)
    monkeypatch.setattr(io.os, "fsync", real_fsync)
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert os.listdir(tmp_path) == ["labels.npy"]


def test_not_enough_free_space_is_reported_before_writing(tmp_path):
    with pytest.raises(DeepclustError, match="MiB free"):
        ensure_writable_dir(tmp_path, need_bytes=2**62)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permissions; covered by the file-blocker case")
def test_readonly_checkpoint_dir_fails_before_training(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(DeepclustError, match="checkpoint folder .* is not writable"):
        get("idec")(verbose=0, checkpoint_dir=str(ro / "ck"), pretrain_epochs=1).fit(np.random.rand(20, 4))


def test_unwritable_checkpoint_dir_fails_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the folder should be: not creatable even as root
    from deepclust.engine.deep import Fit
    called = []
    monkeypatch.setattr(Fit, "phase", lambda *a, **k: called.append(1))  # no phase may start
    with pytest.raises(DeepclustError, match="checkpoint folder .* is not writable"):
        get("idec")(verbose=0, checkpoint_dir=str(blocker / "ck")).fit(np.random.rand(20, 4))
    assert not called


def test_cli_unwritable_out_is_a_clear_error(tmp_path, capsys):
    from deepclust.cli import main
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["fit", "-m", "kmeans", "-d", "digits", "--out", str(blocker / "runs"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "output folder" in err and "not writable" in err


def test_checkpoint_writes_go_through_atomic_io(tmp_path, monkeypatch):
    """Every checkpoint / model / run-folder result is written by engine.io (temp file + rename)."""
    seen = []
    real = io.tempfile.mkstemp

    def spy(*a, prefix="", **k):  # atomic_path's temp file is named .<target name>.<random>.tmp
        seen.append(prefix[1:-1])
        return real(*a, prefix=prefix, **k)

    monkeypatch.setattr(io.tempfile, "mkstemp", spy)
    from deepclust.engine.runs import RunFolder
    run = RunFolder(tmp_path, "idec", "toy")
    run.write_config({"method": "idec"})
    est = get("idec")(hidden=(8,), latent_dim=2, pretrain_epochs=1, max_iter=4, update_interval=2, n_init=1,
                      n_clusters=2, verbose=0, checkpoint_dir=str(run.checkpoints), checkpoint_every=1)
    X = np.random.default_rng(0).random((30, 4), dtype=np.float32)
    est.fit(X)
    run.write_results(est, {"acc": 1.0}, embedding=est.transform(X))
    run.complete()
    for name in ("config.json", "latest.pt", "after-pretrain.pt", "after-cluster.pt", "history.jsonl",
                 "labels.npy", "embedding.npy", "model.pt", "metrics.json"):
        assert name in seen, (name, seen)


def test_nan_embedding_is_never_written(tmp_path):
    from deepclust.engine.runs import RunFolder
    from deepclust.errors import DivergenceError

    class Est:
        labels_ = np.zeros(3, dtype=np.int64)
        history_ = []

    run = RunFolder(tmp_path, "m", "d")
    with pytest.raises(DivergenceError, match="embedding"):
        run.write_results(Est(), {}, embedding=np.full((3, 2), np.nan), save_model=False)
    assert not (run.path / "labels.npy").exists() and not (run.path / "metrics.json").exists()
    run.close()
