"""Your own data through the real entry point (`python -m deepclust`, subprocess): unlabelled .npy, CSV with
and without a label column, HDF5 without labels, a folder of PNGs; what is printed and what the run folder
holds."""
import csv
import json

import numpy as np

from cli_helpers import only_run, run_cli


def _assignments(run):
    with open(run / "assignments.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_unlabelled_npy_prints_a_summary_and_writes_plots(data, tmp_path):
    # issue 17, broken 1: this ended in `KeyError: 'acc'` and never printed the run folder
    p = run_cli("fit", "--method", "kmeans", "--dataset", data / "my_data.npy", "--set", "n_clusters=3",
                "--out", tmp_path / "runs", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert "cluster sizes: 0: 30  1: 30  2: 30" in p.stdout
    assert "no labels" in p.stdout and "ACC" not in p.stdout
    run = only_run(tmp_path / "runs")
    assert f"run folder: {run}" in p.stdout and not run.name.endswith(".incomplete")
    for name in ("embedding.png", "sizes.png"):  # plots/ was empty for unlabelled runs
        assert (run / "plots" / name).stat().st_size > 2000, name
    m = json.loads((run / "metrics.json").read_text())
    assert m["cluster_sizes"] == {"0": 30, "1": 30, "2": 30} and "acc" not in m
    assert m["seconds"] > 0  # issue 17, broken 6: 0.0 for k-means
    rows = _assignments(run)
    assert len(rows) == 90 and rows[0].keys() == {"sample", "source", "cluster", "confidence", "distance"}
    assert [r["source"] for r in rows[:3]] == ["0", "1", "2"] and all(float(r["distance"]) >= 0 for r in rows)
    assert np.array_equal(np.load(run / "labels.npy"), [int(r["cluster"]) for r in rows])


def test_csv_label_column_is_used_for_scoring_only(data, tmp_path):
    # issue 17, broken 2: a `label` column was silently read as a feature
    p = run_cli("fit", "-m", "kmeans", "-d", data / "my_table.csv", "--set", "n_clusters=3", "--no-plots",
                "--out", tmp_path / "a", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "column 'label' is read as the labels" in p.stderr
    assert "ACC 1.0000" in p.stdout
    run = only_run(tmp_path / "a")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset_meta"]["label_column"] == "label" and cfg["dataset_meta"]["label_names"] == ["apple", "banana", "cherry"]
    assert np.load(run / "y_true.npy").tolist() == [0] * 30 + [1] * 30 + [2] * 30
    # --label-column none: every column is a feature (strings are not numbers: a one-line error)
    p = run_cli("fit", "-m", "kmeans", "-d", data / "my_table.csv", "--set", "n_clusters=3", "--label-column", "none",
                "--out", tmp_path / "b", cwd=tmp_path)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "non-numeric" in p.stderr
    assert not (tmp_path / "b").exists()


def test_png_folder_deep_method_with_plain_progress_lines(data, tmp_path):
    p = run_cli("fit", "--method", "idec", "--dataset", data / "my_images", "--preset", "smoke", "--set", "n_clusters=3",
                "--set", "hidden=(64, 32)", "--out", tmp_path / "runs", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    # not a terminal: plain progress lines, no tqdm carriage returns
    assert "\r" not in p.stderr and "IDEC pretrain: epoch 3/3" in p.stderr
    run = only_run(tmp_path / "runs")
    assert "idec on my_images: 60 samples (1x16x16 images), " in p.stdout
    rows = _assignments(run)
    assert sorted(r["source"] for r in rows) == sorted(f.name for f in (data / "my_images").iterdir())
    assert all(0 < float(r["confidence"]) <= 1 for r in rows)  # IDEC's soft assignment
    for name in ("clusters.png", "embedding.png", "sizes.png", "curves.png"):
        assert (run / "plots" / name).stat().st_size > 2000, name
    assert not (run / "checkpoints").exists()  # deleted once complete
    hist = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    assert {h["phase"] for h in hist} >= {"pretrain", "init", "cluster"}
    assert np.load(run / "partitions.npz")["init"].shape == (60,)


def test_h5_without_labels_and_a_separate_labels_file(data, tmp_path):
    p = run_cli("fit", "-m", "gmm", "-d", data / "my_data.h5", "--key", "X", "--set", "n_clusters=3",
                "--labels", data / "my_labels.npy", "--no-plots", "--out", tmp_path / "runs", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "ACC 1.0000" in p.stdout
    run = only_run(tmp_path / "runs")
    conf = [float(r["confidence"]) for r in _assignments(run)]  # the mixture's posterior
    assert len(conf) == 90 and min(conf) > 0.5
