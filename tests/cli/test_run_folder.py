"""Run folders a practitioner can rely on: checkpoints, history written while training, one checkpoint unit,
fit seconds across a resume, overrides recorded on resume, the paper's preprocessing."""
import json

import numpy as np
import pytest
import torch

from cli_helpers import only_run
from deepclust.cli import main

torch.set_num_threads(1)
SMALL = ["--preset", "smoke", "--subset", "300", "--set", "hidden=(32,)", "-q", "--no-plots"]


def test_checkpoints_deleted_unless_kept(tmp_path, capsys):
    assert main(["fit", "-m", "idec", "-d", "digits", *SMALL, "--out", str(tmp_path / "a")]) == 0
    run = only_run(tmp_path / "a")
    assert not (run / "checkpoints").exists()
    assert "checkpoints deleted" in capsys.readouterr().out
    assert main(["fit", "-m", "idec", "-d", "digits", *SMALL, "--keep-checkpoints", "--out", str(tmp_path / "b")]) == 0
    run = only_run(tmp_path / "b")
    assert {"latest.pt", "after-pretrain.pt", "after-cluster.pt"} <= {p.name for p in (run / "checkpoints").iterdir()}


def test_history_is_appended_while_training(tmp_path):
    """history_file grows with every logged row, during fit (not written at the end only)."""
    from deepclust.engine import deep
    from deepclust.methods import IDEC
    path = tmp_path / "history.jsonl"
    seen = []
    orig = deep.Fit._log_row

    def spy(self, row):
        orig(self, row)
        seen.append((len(self.history), len(path.read_text().splitlines())))

    X = np.random.default_rng(0).random((120, 16), dtype=np.float32)
    deep.Fit._log_row = spy
    try:
        IDEC(n_clusters=3, hidden=(16,), pretrain_epochs=3, max_iter=30, update_interval=10, n_init=2, verbose=0,
             history_file=str(path)).fit(X)
    finally:
        deep.Fit._log_row = orig
    assert len(seen) >= 5 and all(a == b for a, b in seen)  # the file always holds every row so far


def test_checkpoint_every_counts_iterations_in_every_phase(tmp_path, monkeypatch):
    """--checkpoint-every N: a checkpoint after every N training iterations (minibatches) in every phase; in
    an epoch phase at the first epoch end after N iterations."""
    from deepclust.engine import checkpoint
    from deepclust.methods import IDEC
    saved = []
    monkeypatch.setattr(checkpoint.Checkpointer, "save_bytes",
                        lambda self, data, phase_end=None: saved.append(phase_end or "mid"))
    import deepclust.engine.deep as deep
    cursors = []
    orig = deep.Fit._save
    monkeypatch.setattr(deep.Fit, "_save", lambda self, phase_end=None: (cursors.append(self.cursor), orig(self, phase_end)))
    X = np.random.default_rng(0).random((100, 16), dtype=np.float32)  # batch 25: 4 iterations per epoch
    IDEC(n_clusters=3, hidden=(16,), pretrain_epochs=6, batch_size=25, max_iter=30, update_interval=10, n_init=2,
         verbose=0, checkpoint_dir=str(tmp_path), checkpoint_every=10).fit(X)
    mid = [c for c in cursors if c is not None]
    # pretrain: 4 iterations per epoch -> after epoch 3 (12 >= 10) and epoch 6 is the phase end; cluster: every 10
    assert mid == [("pretrain", 3), ("cluster", 10), ("cluster", 20)]


def _interrupt_phase(monkeypatch, phase):
    from deepclust.engine import deep
    orig = deep.Fit.phase

    def phase_then_stop(self, name, *a, **k):
        if name == phase:
            raise KeyboardInterrupt
        return orig(self, name, *a, **k)
    monkeypatch.setattr(deep.Fit, "phase", phase_then_stop)


def test_resume_records_overrides_and_total_fit_seconds(tmp_path, monkeypatch, capsys):
    # 1. interrupted before the first checkpoint: --set on resume is used and recorded in config.json
    args = ["fit", "-m", "idec", "-d", "digits", *SMALL, "--out", str(tmp_path)]
    _interrupt_phase(monkeypatch, "pretrain")
    assert main(args) == 130
    run = only_run(tmp_path)
    assert run.name.endswith(".incomplete") and not (run / "checkpoints" / "latest.pt").exists()
    monkeypatch.undo()
    assert main(["fit", "--resume", str(run), "--set", "gamma=0.5", "-q", "--no-plots"]) == 0
    done = only_run(tmp_path)
    cfg = json.loads((done / "config.json").read_text())
    assert cfg["overrides"]["gamma"] == 0.5 and cfg["params"]["gamma"] == 0.5
    assert cfg["resumes"][0]["overrides"] == {"gamma": 0.5} and cfg["resumes"][0]["from_checkpoint"] is False
    from deepclust.engine.base import BaseClusterer
    assert BaseClusterer.load(done / "model.pt").gamma == 0.5

    # 2. interrupted after pretraining: seconds = the whole training time, not only the resumed process's
    out2 = tmp_path / "second"
    _interrupt_phase(monkeypatch, "cluster")
    assert main(["fit", "-m", "idec", "-d", "digits", *SMALL, "--out", str(out2)]) == 130
    run = only_run(out2)
    assert (run / "checkpoints" / "latest.pt").exists()
    monkeypatch.undo()
    capsys.readouterr()
    # a parameter the checkpoint was trained with cannot change any more
    assert main(["fit", "--resume", str(run), "--set", "pretrain_epochs=9", "-q"]) == 2
    assert "the checkpoint was trained with pretrain_epochs=3" in capsys.readouterr().err
    assert main(["fit", "--resume", str(run), "-q", "--no-plots"]) == 0
    m = json.loads((only_run(out2) / "metrics.json").read_text())
    phases = m["phase_seconds"]
    assert set(phases) == {"pretrain", "init", "cluster"}
    assert m["seconds"] >= sum(phases.values()) > m["seconds_this_process"] - phases["cluster"] - phases["init"]
    assert m["seconds"] > m["seconds_this_process"]


def test_dcec_usps_uses_the_papers_scaling(tmp_path, capsys):
    """The paper preset carries its preprocessing: DCEC on USPS in [-1, 1] (as `reproduce`), visibly."""
    pytest.importorskip("h5py")
    from deepclust.datasets import dataset_status
    if not next(r for r in dataset_status() if r["name"] == "usps")["available"]:
        pytest.skip("USPS files not here")
    assert main(["fit", "-m", "dcec", "-d", "usps", "--preset", "smoke", "--subset", "200", "-q", "--no-plots",
                 "--set", "pretrain_epochs=1", "--set", "max_iter=5", "--out", str(tmp_path)]) == 0
    assert '{"scale": "minus1-1"}' in capsys.readouterr().err
    cfg = json.loads((only_run(tmp_path) / "config.json").read_text())
    assert cfg["dataset_kwargs"]["scale"] == "minus1-1" and cfg["paper_data"] == {"scale": "minus1-1"}
    assert cfg["dataset_meta"]["value_range"][0] == -1.0
    # --scale none: as stored
    assert main(["fit", "-m", "dcec", "-d", "usps", "--preset", "smoke", "--subset", "200", "-q", "--no-plots",
                 "--set", "pretrain_epochs=1", "--set", "max_iter=5", "--scale", "none", "--out", str(tmp_path / "b")]) == 0
    cfg = json.loads((only_run(tmp_path / "b") / "config.json").read_text())
    assert "scale" not in cfg["dataset_kwargs"] and cfg["dataset_meta"]["value_range"][0] >= 0


def test_paper_data_agrees_with_the_reproduce_protocols():
    from deepclust.bench.protocols import PROTOCOLS
    from deepclust.methods import registry
    home = {"dcec": "001", "cae-mle": "001", "deep-ifl": "001", "dcfae": "000", "dcan": "004", "abc": "004",
            "dc-kmeans": "004", "dc-gmm": "004", "vae-kmeans": "004", "ae-kmeans-dcan": "004"}
    for name, paper in home.items():
        cls = registry()[name]
        for ds, setting in PROTOCOLS[paper].datasets.items():
            if setting.runnable and setting.kwargs:
                assert cls.paper_data.get(ds) == setting.kwargs, (name, ds)
    assert registry()["dec"].paper_data == {} and registry()["kmeans"].paper_data == {}
