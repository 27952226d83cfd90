"""reproduce never overwrites committed results by default; bench reports and retries failed runs;
report / results-md refuse folders that are not theirs."""
import json

import numpy as np
import pytest

from cli_helpers import run_cli
from deepclust.cli import main

REPRO = ["reproduce", "001", "--datasets", "usps", "--methods", "kmeans", "--seeds", "1", "--preset", "smoke",
         "--backend", "inline"]


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A checkout-like folder with committed results: benchmarks/results/kmeans/usps-smoke-p001.json and
    benchmarks/RESULTS.md; the current directory."""
    pytest.importorskip("h5py")
    from deepclust.datasets import dataset_status
    if not next(r for r in dataset_status() if r["name"] == "usps")["available"]:
        pytest.skip("USPS files not here")
    res = tmp_path / "benchmarks" / "results" / "kmeans"
    res.mkdir(parents=True)
    committed = {"method": "kmeans", "dataset": "usps", "preset": "smoke", "seeds": [7], "acc": [0.5], "nmi": [0.5],
                 "ari": [0.5], "wall_seconds": [1.0], "epochs_or_iterations": "x", "overrides": {},
                 "dataset_kwargs": {"scale": "minus1-1"}, "command": "old", "date": "2020-01-01"}
    (res / "usps-smoke-p001.json").write_text(json.dumps(committed))
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("committed\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _snapshot(root):
    return {p: p.read_bytes() for p in (root / "benchmarks").rglob("*") if p.is_file()}


def test_reproduce_writes_a_fresh_folder_and_never_touches_committed_results(repo, capsys):
    before = _snapshot(repo)
    assert main(REPRO) == 0  # from the repository root, no --out
    assert _snapshot(repo) == before  # benchmarks/results and RESULTS.md untouched
    (out,) = (repo / "runs").iterdir()
    assert out.name.startswith("reproduce-001_caemle_ifl-smoke-")
    assert (out / "kmeans" / "usps-smoke-p001.json").is_file() and (out / "reproduce" / "001_caemle_ifl-smoke.md").is_file()
    assert f"results in {out.relative_to(repo)}" in capsys.readouterr().out
    # --out into committed results: refused in one line, nothing written
    assert main(REPRO + ["--out", "benchmarks/results"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--into benchmarks/results" in err[0]
    assert _snapshot(repo) == before
    # an earlier reproduce folder can be continued (its finished runs are reused)
    assert main(REPRO + ["--out", str(out)]) == 0
    assert "0 to run" in capsys.readouterr().out


def test_reproduce_into_merges_explicitly(repo, capsys):
    assert main(REPRO + ["--into", "benchmarks/results"]) == 0
    rec = json.loads((repo / "benchmarks/results/kmeans/usps-smoke-p001.json").read_text())
    assert rec["seeds"] == [0, 7] and rec["acc"][1] == 0.5  # the committed seed kept, the new one added
    out = capsys.readouterr().out
    assert "merged seeds [0] into benchmarks/results/kmeans/usps-smoke-p001.json" in out
    assert "updated benchmarks/RESULTS.md" in out and (repo / "benchmarks/RESULTS.md").read_text() != "committed\n"


def test_bench_failed_runs_exit_nonzero_are_listed_and_retried(data, tmp_path, capsys):
    args = ["bench", "-m", "kmeans,dcec", "-d", str(data / "my_data.npy"), "--set", "n_clusters=3", "--seeds", "0",
            "--backend", "inline", "--no-report", "--out", str(tmp_path / "g")]
    assert main(args) == 1  # dcec needs images: its run fails
    out = capsys.readouterr().out
    assert "1 of 2 failed" in out and "dcec-" in out.split("failed runs")[1] and "needs images" in out
    assert main(args) == 1  # a rerun retries the failure (it was reported as done before) and fails again
    out = capsys.readouterr().out
    assert "1 run now, 1 already done, 1 of 2 failed" in out
    assert main(args + ["--skip-failed"]) == 1
    assert "0 run now" in capsys.readouterr().out


def test_bench_checks_parameters_before_running(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["bench", "-m", "kmeans,idec", "-d", "digits", "--grid", "gamma=0.1,0.2", "--backend", "inline",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kmeans has no parameter(s) gamma" in err[0] and not out.exists()
    assert main(["bench", "-m", "idec", "-d", "digits", "--set", "lr=-1", "--backend", "inline", "--out", str(out)]) == 2
    assert "lr must be > 0" in capsys.readouterr().err and not out.exists()


def test_report_and_results_md_refuse_other_folders(tmp_path):
    (tmp_path / "runs").mkdir()  # a project root has a runs/ folder: it is not a grid
    (tmp_path / "notes.txt").write_text("x")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for args in (["report", str(tmp_path)], ["report", str(tmp_path / "runs")],
                 ["results-md", "--results", str(tmp_path), "--out", str(tmp_path / "R.md")]):
        p = run_cli(*args, cwd=tmp_path)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
        assert sorted(x.name for x in tmp_path.rglob("*")) == before  # nothing written


def test_report_redraws_a_finished_run(data, tmp_path, capsys):
    assert main(["fit", "-m", "kmeans", "-d", str(data / "my_images"), "--set", "n_clusters=3", "--no-plots",
                 "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    assert not any((run / "plots").iterdir())
    assert main(["report", str(run)]) == 0
    assert {"embedding.png", "sizes.png", "clusters.png"} <= {p.name for p in (run / "plots").iterdir()}
    assert "Members per cluster" in (run / "report.md").read_text()
    assert np.load(run / "labels.npy").shape == (60,)
