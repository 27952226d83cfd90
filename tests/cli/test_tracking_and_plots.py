"""fit --track (with a stand-in tracker module), and the plots a person reads."""
import json
import sys
import types

import numpy as np
import pytest

from cli_helpers import only_run
from deepclust.cli import main

pytest.importorskip("matplotlib")


def test_fit_track_logs_the_run(data, tmp_path, monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("mlflow")
    fake.set_tracking_uri = lambda uri: calls.append(("uri", uri))
    fake.set_experiment = lambda name: calls.append(("experiment", name))
    fake.start_run = lambda run_name=None: calls.append(("start", run_name)) or object()
    fake.log_params = lambda p: calls.append(("params", p))
    fake.log_metrics = lambda m, step=None: calls.append(("metrics", m))
    fake.log_artifacts = lambda path: calls.append(("artifacts", path))
    fake.log_artifact = lambda path: calls.append(("artifact", path))
    fake.end_run = lambda: calls.append(("end",))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    assert main(["fit", "-m", "kmeans", "-d", str(data / "my_data.npy"), "--set", "n_clusters=3", "--track", "mlflow",
                 "--labels", str(data / "my_labels.npy"), "--out", str(tmp_path)]) == 0
    run = only_run(tmp_path)
    assert ("start", run.name) in calls and calls[-1] == ("end",)
    metrics = {k: v for c in calls if c[0] == "metrics" for k, v in c[1].items()}
    assert metrics["acc"] == 1.0 and metrics["seconds"] > 0
    assert ("artifacts", str(run / "plots")) in calls
    assert "tracked with mlflow" in capsys.readouterr().err


def test_track_without_the_package_fails_at_start(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    for kind in ("mlflow", "tensorboard", "auto"):
        assert main(["fit", "-m", "kmeans", "-d", "digits", "--track", kind, "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert "pip install 'deepclust[track]'" in err and not (tmp_path / "r").exists()
    assert main(["bench", "-m", "kmeans", "-d", "digits", "--track", "mlflow", "--out", str(tmp_path / "g")]) == 2
    assert not (tmp_path / "g").exists()


def test_matched_colours_follow_the_hungarian_matching():
    from deepclust.bench.report import matched_colours
    y = np.repeat([0, 1, 2], 10)
    labels = np.repeat([2, 0, 1], 10)  # cluster 2 = class 0, cluster 0 = class 1, cluster 1 = class 2
    labels = np.concatenate([labels, [3, 3]])
    y = np.concatenate([y, [0, 1]])
    col, cls = matched_colours(labels, y)
    assert cls == {0: 0, 1: 1, 2: 2}
    assert col[2] == 0 and col[0] == 1 and col[1] == 2 and col[3] == 3  # the extra cluster gets a new colour


def test_one_step_phase_is_drawn_as_its_partition(tmp_path, monkeypatch):
    from deepclust.bench import report
    drawn = []
    orig = report._save

    def spy(fig, path):
        drawn.append([ax.get_title() for ax in fig.axes])
        return orig(fig, path)
    monkeypatch.setattr(report, "_save", spy)
    hist = [{"phase": "pretrain", "epoch": e, "recon_loss": 1 / e} for e in (1, 2, 3)]
    hist += [{"phase": "init", "step": 1, "acc": 0.5, "nmi": 0.4, "ari": 0.3}]
    hist += [{"phase": "cluster", "it": i, "loss": 1 / i, "label_change": 0.1} for i in (10, 20)]
    init = np.repeat([0, 1, 2], [5, 10, 15])
    report.plot_curves(hist, tmp_path / "c.png", partitions={"init": init})
    titles = drawn[-1]
    init_title = next(t for t in titles if t.startswith("init"))
    assert "the partition it produced (3 clusters)" in init_title and "ACC 0.5" in init_title
    report.plot_embedding(np.random.default_rng(0).normal(size=(30, 5)), init[::-1], np.repeat([0, 1, 2], 10),
                          tmp_path / "e.png", init=init, init_name="init", method="pca")
    assert drawn[-1][:3] == ["clusters (colours matched to classes)", "initial partition (after phase 'init')",
                             "true labels"]


def test_embedding_map_points_scale_with_the_fit_time():
    from deepclust.bench.report import MAX_POINTS, MIN_POINTS, map_points
    assert map_points(1.0, 100_000) == MIN_POINTS
    assert map_points(1.0, 50) == 50
    assert MIN_POINTS < map_points(100.0, 100_000) < MAX_POINTS
    assert map_points(10_000.0, 100_000) == MAX_POINTS
    assert map_points(None, 10_000) == MAX_POINTS


def test_image_run_report_has_member_grid_with_sizes(data, tmp_path):
    assert main(["fit", "-m", "gmm", "-d", str(data / "my_classes"), "--out", str(tmp_path), "-q"]) == 0
    run = only_run(tmp_path)
    md = (run / "report.md").read_text()
    assert "## Members per cluster" in md and "by the soft assignment" in md and "Cluster sizes (3 clusters)" in md
    assert "## Confusion matrix" in md and "## Embedding map" in md
    m = json.loads((run / "metrics.json").read_text())
    assert m["post_fit_seconds"]["plots"] > 0 and m["acc"] > 0.8
