"""benchmarks/dcan_paper.py --final-clusterer: one fit scores the paper head and another head on the same codes."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dcan_paper(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("dcan_paper", ROOT / "benchmarks" / "dcan_paper.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import deepclust.bench.results as results
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path)
    monkeypatch.setitem(mod.DATA, "digits", {})
    return mod


def test_two_heads_scores_the_paper_head_of_a_plain_run(dcan_paper, tmp_path):
    from deepclust.bench.results import run_once
    own, head = dcan_paper.two_heads("dcan", "digits", "smoke", [0], {}, None, None, "kmeans", "cpu")
    plain = run_once("dcan", "digits", 0, "smoke", device="cpu")  # final_clusterer="paper"
    assert own["acc"] == [round(plain["acc"], 4)]          # the extra head leaves the method's own labels alone
    assert own["final_clusterer"] == "paper" and head["final_clusterer"] == "kmeans"
    files = {p.name: json.loads(p.read_text()) for p in (tmp_path / "dcan").glob("*.json")}
    assert set(files) == {"digits-smoke.json", "digits-smoke-kmeans.json"}
    assert files["digits-smoke.json"]["same_fit_as"] == "digits-smoke-kmeans.json"
    assert 0.3 < head["acc"][0] <= 1 and head["cpu_seconds"] == own["cpu_seconds"]


def test_two_heads_merge_adds_seeds(dcan_paper, tmp_path):
    dcan_paper.two_heads("dcan", "digits", "smoke", [0], {}, None, None, "kmeans", "cpu")
    own, head = dcan_paper.two_heads("dcan", "digits", "smoke", [1], {}, None, None, "kmeans", "cpu", merge=True)
    assert own["seeds"] == [0, 1] and head["seeds"] == [0, 1]
    on_disk = json.loads((tmp_path / "dcan" / "digits-smoke-kmeans.json").read_text())
    assert on_disk["seeds"] == [0, 1] and on_disk["acc"] == head["acc"] and on_disk["final_clusterer"] == "kmeans"
