import os

import numpy as np
import pytest
import torch

from deepclust.engine.data import DataSource, StepSampler
from deepclust.engine.io import atomic_path, ensure_writable_dir, write_json
from deepclust.errors import DeepclustError


def test_step_sampler_is_a_pure_function_of_the_step():
    a = StepSampler(103, 10, seed=3, key="k")
    b = StepSampler(103, 10, seed=3, key="k")
    seq = [a.indices(i) for i in range(30)]
    assert torch.equal(b.indices(25), seq[25])  # random access = sequential
    epoch0 = torch.cat(seq[:11])
    assert sorted(epoch0.tolist()) == list(range(103))  # one epoch covers the data once
    assert not torch.equal(seq[0], seq[11])  # reshuffled each epoch
    assert not torch.equal(StepSampler(103, 10, seed=4, key="k").indices(0), seq[0])
    ordered = StepSampler(25, 10, seed=0, key="k", shuffle=False)
    assert ordered.indices(2).tolist() == list(range(20, 25))  # short last batch, then wraps
    assert ordered.indices(3).tolist() == list(range(10))


def test_step_sampler_drop_last_gives_full_batches_only():
    s = StepSampler(103, 10, seed=3, key="k", drop_last=True)
    assert s.steps_per_epoch == 10
    batches = [s.indices(i) for i in range(20)]
    assert all(len(b) == 10 for b in batches)
    assert len(set(torch.cat(batches[:10]).tolist())) == 100  # no repeats within an epoch
    assert torch.equal(batches[0], StepSampler(103, 10, seed=3, key="k").indices(0))  # same permutation
    assert StepSampler(7, 10, seed=0, key="k", drop_last=True).steps_per_epoch == 1  # n < batch: one short batch


def test_memmap_is_streamed_and_equal(tmp_path):
    X = np.random.default_rng(0).random((50, 6), dtype=np.float32)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    dense, streamed = DataSource(X, torch.device("cpu")), DataSource(mm, torch.device("cpu"))
    assert streamed.streamed and streamed.tensor is None and not dense.streamed
    idx = torch.tensor([7, 3, 3, 49, 0])
    assert torch.equal(dense.batch(idx), streamed.batch(idx))
    assert torch.allclose(dense.map(lambda b: b.sum(1), 16), streamed.map(lambda b: b.sum(1), 16))


def test_atomic_write_keeps_previous_file_on_crash(tmp_path):
    p = tmp_path / "r.json"
    write_json(p, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(p, "w") as f:
            f.write('{"a": 2, "trunc')
            raise RuntimeError("crash mid-write")
    assert p.read_text().strip().startswith('{\n  "a": 1')
    assert os.listdir(tmp_path) == ["r.json"]  # no temp file left


def test_unwritable_output_folder_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DeepclustError, match="not writable"):
        ensure_writable_dir(blocker / "sub")
