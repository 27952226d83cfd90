"""Grids: resume after an interruption, failures recorded and retried, local and Ray backends agree."""
import json

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from deepclust.bench import grid as G  # noqa: E402

DATA = {"subset": 400}  # digits, 400 samples: k-means takes a fraction of a second


def tasks(seeds=(0, 1, 2, 3), params=None):
    return G.expand(["kmeans"], ["digits"], list(seeds), dataset_kwargs=DATA, params=params or {"n_init": 2})


def test_interrupted_grid_resumes_without_redoing(tmp_path, monkeypatch):
    real = G.execute
    calls = []

    def interrupted(task, run_dir=None):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the third run
        calls.append(task["key"])
        return real(task, run_dir)

    monkeypatch.setattr(G, "execute", interrupted)
    ts = tasks()
    with pytest.raises(KeyboardInterrupt):
        G.Grid(tmp_path).run(ts, backend="inline", log=lambda *a: None)
    files = sorted((tmp_path / "runs").glob("*.json"))
    assert [f.stem for f in files] == sorted(calls) and len(files) == 2
    before = {f.name: (f.stat().st_mtime_ns, f.read_text()) for f in files}

    redo = []
    monkeypatch.setattr(G, "execute", lambda task, run_dir=None: (redo.append(task["key"]), real(task, run_dir))[1])
    counts, rows = G.run_grid(ts, tmp_path, backend="inline", log=lambda *a: None)
    assert counts == {"total": 4, "skipped": 2, "ran": 2, "ok": 2, "failed": 0}
    assert set(redo).isdisjoint(calls) and len(redo) == 2
    for f in files:  # finished runs untouched
        assert (f.stat().st_mtime_ns, f.read_text()) == before[f.name]
    assert rows[0]["n_ok"] == 4 and rows[0]["seeds"] == [0, 1, 2, 3]
    # a third start has nothing to do
    counts, _ = G.run_grid(ts, tmp_path, backend="inline", log=lambda *a: None)
    assert counts["ran"] == 0 and counts["skipped"] == 4


def test_failing_run_is_recorded_and_does_not_stop_the_grid(tmp_path):
    # local backend: one subprocess per run; the failing run is a record, the other run finishes
    ts = tasks((0,)) + G.expand(["no-such-method"], ["digits"], [0], dataset_kwargs=DATA)
    counts, _ = G.run_grid(ts, tmp_path, backend="local", jobs=2, log=lambda *a: None)
    assert counts == {"total": 2, "skipped": 0, "ran": 2, "ok": 1, "failed": 1}
    # inline: a bad parameter fails at fit time, the runs after it go on
    ts += tasks((0,), params={"n_init": 2, "no_such_parameter": 1}) + tasks((1,))
    counts, rows = G.run_grid(ts, tmp_path, backend="inline", log=lambda *a: None)
    assert counts == {"total": 4, "skipped": 2, "ran": 2, "ok": 1, "failed": 1}
    recs = {r["key"]: r for r in G.Grid(tmp_path).records()}
    bad = [r for r in recs.values() if r["status"] == "failed"]
    assert {r["error"].split(":")[0] for r in bad} == {"InvalidInputError", "UnknownNameError"}
    assert all("Traceback" in r["traceback"] for r in bad)
    good = [r for r in recs.values() if r["status"] == "ok"]
    assert len(good) == 2 and all(0.5 < r["acc"] <= 1 and r["seconds"] > 0 and r["machine"] for r in good)
    summary = json.loads((tmp_path / "summary.json").read_text())["cells"]
    assert sum(c["n_failed"] for c in summary) == 2
    assert "Failed runs" in (tmp_path / "summary.md").read_text()
    # restarting keeps recorded failures; retry_failed (--retry-failed) runs them, and only them, again
    counts, _ = G.run_grid(ts, tmp_path, backend="inline", log=lambda *a: None)
    assert counts["ran"] == 0
    counts, _ = G.run_grid(ts, tmp_path, backend="inline", retry_failed=True, log=lambda *a: None)
    assert counts["ran"] == 2 and counts["failed"] == 2


def test_bench_command_grid_and_report(tmp_path):
    from deepclust.cli import main
    out = tmp_path / "g"
    rc = main(["bench", "--methods", "kmeans", "--datasets", "digits", "--seeds", "0,1", "--grid", "n_init=1,3",
               "--data", "subset=300", "--backend", "inline", "--out", str(out)])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())["cells"]
    assert [c["params"] for c in summary] == [{"n_init": 1}, {"n_init": 3}]
    assert all(c["n_ok"] == 2 and 0 <= c["acc_std"] for c in summary)
    assert (out / "summary.csv").read_text().startswith("method,dataset")
    assert (out / "plots" / "acc.png").is_file() and (out / "plots" / "param_n_init.png").is_file()
    assert "![ACC per cell](plots/acc.png)" in (out / "report.md").read_text()


def test_ray_backend_matches_local(tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'deepclust[distributed]')")
    ts = tasks((0, 1)) + G.expand(["no-such-method"], ["digits"], [0], dataset_kwargs=DATA)
    c_local, local = G.run_grid(ts, tmp_path / "local", backend="inline", log=lambda *a: None)
    c_ray, remote = G.run_grid(ts, tmp_path / "ray", backend="ray", jobs=2, log=lambda *a: None)
    assert not ray.is_initialized()  # the local instance it started is shut down
    assert c_ray == c_local == {"total": 3, "skipped": 0, "ran": 3, "ok": 2, "failed": 1}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("seconds_mean", "machine")} for r in rows]
    assert strip(remote) == strip(local)
