"""Reports on a tiny real run (headless), reproduce tables, RESULTS.md, tracking as a no-op."""
import json
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")
torch.set_num_threads(1)


def test_fit_writes_a_headless_report(tmp_path, monkeypatch):
    from deepclust.cli import main
    monkeypatch.delenv("DISPLAY", raising=False)
    rc = main(["fit", "--method", "ae-kmeans", "--dataset", "digits", "--preset", "smoke", "--subset", "300",
               "--set", "pretrain_epochs=2", "--out", str(tmp_path), "-q"])
    assert rc == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    plots = {p.name for p in (run / "plots").iterdir()}
    assert {"embedding.png", "confusion.png", "curves.png", "images.png"} <= plots
    md = (run / "report.md").read_text()
    assert "ae-kmeans on digits" in md and "![Confusion matrix](plots/confusion.png)" in md
    acc = json.loads((run / "metrics.json").read_text())["acc"]
    assert f"| ACC | {acc:.4f} |" in md
    assert "matplotlib.pyplot" not in sys.modules  # Agg canvas only, no GUI backend touched


def test_report_pieces_on_a_run_folder_without_dataset(tmp_path):
    """A run folder with only labels, an embedding, y_true and history (e.g. a user dataset)."""
    from deepclust.bench.report import confusion_matched, run_report
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 50)
    labels = (y + 1) % 3                 # a perfect clustering with permuted ids
    labels[:5] = 0
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "y_true.npy", y)
    np.save(tmp_path / "embedding.npy", rng.normal(size=(150, 2)) + y[:, None] * 4)
    np.save(tmp_path / "samples.npy", rng.random((16, 1, 8, 8)))
    (tmp_path / "history.jsonl").write_text("\n".join(json.dumps({"phase": "train", "epoch": i + 1, "loss": 1 / (i + 1),
                                                                  "acc": 0.5 + i / 20}) for i in range(5)))
    M, classes, order, mapping = confusion_matched(y, labels)
    assert mapping == {1: 0, 2: 1, 0: 2}
    assert np.trace(M) == 145 and M.sum() == 150
    md = run_report(tmp_path).read_text()
    for name in ("embedding", "confusion", "curves", "images"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000
        assert f"plots/{name}.png" in md


def test_reproduce_table_and_results_md(tmp_path):
    from deepclust.bench.reproduce import plan, reproduce
    from deepclust.bench.results_md import write_results_md
    # planning: registered methods run, the others are listed with the reason
    pl = plan("001", datasets=["usps", "mnist"], registered=["kmeans", "dcec"])
    assert {(e["method"], e["dataset"]) for e in pl["runs"]} <= {("kmeans", "usps"), ("dcec", "usps"),
                                                                  ("kmeans", "mnist"), ("dcec", "mnist")}
    reasons = {(s["method"], s["dataset"]): s["reason"] for s in pl["skipped"]}
    assert "not implemented" in reasons[("idec", "usps")]
    assert all(e["dataset_kwargs"] == {"scale": "minus1-1"} for e in pl["runs"] if e["dataset"] == "usps")

    out = tmp_path / "results"
    doc = reproduce("001", datasets=["usps"], methods=["kmeans"], seeds=2, preset="smoke", out=out,
                    backend="inline", log=lambda *a: None)
    (row,) = doc["rows"]
    assert row["status"] == "ok" and row["seeds"] == [0, 1] and row["preset_used"].startswith("paper")
    rec = json.loads((out / "kmeans" / "usps-smoke-p001.json").read_text())
    assert rec["paper"]["source"] == "001 Table III" and rec["paper"]["acc"] == 0.694
    assert rec["gap"]["acc"] == pytest.approx(rec["mean"]["acc"] - 0.694, abs=1e-4)
    assert {c["metric"] for c in rec["comparison"]} == {"acc", "nmi"}
    assert 0.5 < rec["mean"]["acc"] < 0.8  # k-means on USPS (the paper: 0.694)
    md = (out / "reproduce" / "001_caemle_ifl-smoke.md").read_text()
    assert "| k-means ¹ * | kmeans | usps | ACC | reported | 0.6940 |" in md
    # a second call reuses the finished runs
    again = reproduce("001", datasets=["usps"], methods=["kmeans"], seeds=2, preset="smoke", out=out,
                      backend="inline", log=lambda *a: None)
    assert again["counts"]["ran"] == 0
    text = write_results_md(out, tmp_path / "RESULTS.md").read_text()
    assert "## 001" in text and "| kmeans | usps | paper (no 'smoke' preset) | 2 |" in text


def test_tracking_is_a_noop_without_packages(tmp_path, monkeypatch):
    import builtins
    from deepclust import tracking
    real_import = builtins.__import__

    def no_trackers(name, *a, **k):
        if name.startswith(("mlflow", "torch.utils.tensorboard")):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_trackers)
    with tracking.tracker("auto", run_name="x", config={"a": 1}) as t:
        t.log_history([{"phase": "p", "epoch": 1, "loss": 0.5}])
        t.log_metrics({"acc": 1.0})
    assert t.kind == "none"


def test_benchmark_records_stage_times_and_keeps_finished_seeds(tmp_path, monkeypatch):
    import json

    import pytest

    from deepclust.bench import results as R
    rec = R.benchmark("ae-kmeans", "digits", "smoke", [0, 1], out=tmp_path)
    assert rec["seeds"] == [0, 1] and "incomplete" not in rec
    assert [set(s) for s in rec["stage_seconds"]] == [{"pretrain", "init"}] * 2
    orig = R.run_once

    def crash_on_second_seed(method, dataset, seed, *a, **kw):
        if seed == 1:
            raise KeyboardInterrupt
        return orig(method, dataset, seed, *a, **kw)

    monkeypatch.setattr(R, "run_once", crash_on_second_seed)
    with pytest.raises(KeyboardInterrupt):
        R.benchmark("ae-kmeans", "digits", "smoke", [0, 1], out=tmp_path, tag="killed")
    kept = json.loads((tmp_path / "ae-kmeans" / "digits-smoke-killed.json").read_text())
    assert kept["seeds"] == [0] and "1 of 2 seeds" in kept["incomplete"]


def test_benchmark_merge_adds_seeds_and_refuses_other_settings(tmp_path):
    import json

    import pytest

    from deepclust.bench import results as R
    one = R.benchmark("kmeans", "digits", "paper", [0], out=tmp_path, extra={"variant": "plain"})
    path = tmp_path / "kmeans" / "digits-paper.json"
    both = R.benchmark("kmeans", "digits", "paper", [2, 1], out=tmp_path, merge=True, extra={"variant": "plain"})
    on_disk = json.loads(path.read_text())
    assert on_disk["seeds"] == both["seeds"] == [0, 1, 2]
    assert on_disk["acc"][0] == one["acc"][0]                          # the earlier seed is kept as measured
    assert on_disk["mean"]["acc"] == pytest.approx(sum(on_disk["acc"]) / 3, abs=1e-4)
    assert len(on_disk["command"]) == len(on_disk["stage_seconds"]) == 3 and on_disk["variant"] == "plain"
    assert "incomplete" not in on_disk
    partial = json.loads((tmp_path / "_partial" / "kmeans" / "digits-paper.json").read_text())
    assert partial["seeds"] == [2, 1]                                   # per-seed writes went to the side folder
    with pytest.raises(ValueError, match="overrides"):
        R.merge_records(on_disk, {**on_disk, "overrides": {"n_init": 1}})
