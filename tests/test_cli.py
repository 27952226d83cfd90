import json

import numpy as np
import pytest

from deepclust.cli import main


def _runs(out):
    return sorted(p.name for p in out.iterdir())


def test_fit_writes_a_complete_run_folder(tmp_path, capsys):
    assert main(["fit", "--method", "kmeans", "--dataset", "digits", "--out", str(tmp_path), "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "ACC" in printed and "NMI" in printed and "ARI" in printed
    (run,) = tmp_path.iterdir()
    assert run.name.endswith("-kmeans-digits")
    for f in ("config.json", "metrics.json", "labels.npy", "history.jsonl", "log.txt", "model.pt"):
        assert (run / f).is_file(), f
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["acc"] > 0.6 and metrics["n_samples"] == 1797
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["seed"] == 1 and cfg["method"] == "kmeans" and "torch" in cfg["environment"]
    assert np.load(run / "labels.npy").shape == (1797,)
    assert (run / "report.md").is_file() and (run / "plots" / "confusion.png").is_file()
    assert not (run / "embedding.npy").exists()  # k-means has no learned embedding
    # a second run never overwrites the first
    assert main(["fit", "--method", "kmeans", "--dataset", "digits", "--out", str(tmp_path), "-q", "--no-report"]) == 0
    assert len(_runs(tmp_path)) == 2


def test_deep_method_with_overrides_and_checkpoints(tmp_path):
    args = ["fit", "-m", "ae-kmeans", "-d", "digits", "--preset", "smoke", "--out", str(tmp_path), "-q",
            "--set", "hidden=(32,)", "--checkpoint-every", "1", "--no-report", "--keep-checkpoints"]
    assert main(args) == 0
    (run,) = tmp_path.iterdir()
    assert (run / "checkpoints" / "latest.pt").is_file()
    assert not (run / "report.md").exists()
    assert np.load(run / "embedding.npy").shape == (1797, 10)
    assert json.loads((run / "config.json").read_text())["params"]["hidden"] == [32]


@pytest.mark.parametrize("args,msg", [
    (["--method", "nope", "--dataset", "digits"], "unknown method"),
    (["--method", "kmeans", "--dataset", "no-such-data"], "unknown dataset"),
    (["--method", "kmeans", "--dataset", "digits", "--set", "bogus=1"], "unknown parameter"),
    (["--method", "kmeans", "--dataset", "digits", "--preset", "huge"], "unknown preset"),
])
def test_bad_requests_fail_clearly_before_any_run_folder(tmp_path, capsys, args, msg):
    assert main(["fit", *args, "--out", str(tmp_path)]) == 2
    assert msg in capsys.readouterr().err.lower()
    assert not any(tmp_path.iterdir())


def test_failed_run_never_looks_complete(tmp_path, capsys, monkeypatch):
    # n_clusters > samples is caught before the run folder exists
    assert main(["fit", "-m", "kmeans", "-d", "digits", "--out", str(tmp_path), "--set", "n_clusters=5000"]) == 2
    assert "larger than the number of samples" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    # a failure during training keeps the folder as <name>.incomplete with error.txt
    from deepclust.methods.classical import KMeans

    def boom(self, X, y):
        raise RuntimeError("failure inside fit")
    monkeypatch.setattr(KMeans, "_fit", boom)
    with pytest.raises(RuntimeError):
        main(["fit", "-m", "kmeans", "-d", "digits", "--out", str(tmp_path)])
    names = _runs(tmp_path)
    assert len(names) == 1 and names[0].endswith(".incomplete")
    assert "failure inside fit" in (tmp_path / names[0] / "error.txt").read_text()
    assert not (tmp_path / names[0] / "metrics.json").exists()
    assert "partial run kept" in capsys.readouterr().err


def test_lists(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "cifar-10" in out
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for m in ("kmeans", "dec", "idec", "dcec", "ae-kmeans"):
        assert m in out
