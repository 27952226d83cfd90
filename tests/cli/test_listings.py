"""`deepclust methods [NAME]` and `deepclust datasets`: aligned columns, whole words, every registered name
documented, no "None" counts."""
import dataclasses
import re

import pytest

from deepclust.cli import _summary_line, main
from deepclust.datasets import list_datasets
from deepclust.methods import registry


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")


def _rows(text, names):
    """Lines of a table that start a row (their first word is a registered name)."""
    return [line for line in text.splitlines() if line.split(" ", 1)[0] in names]


def test_methods_table(capsys, narrow):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    names = set(registry())
    rows = _rows(out, names)
    assert {r.split()[0] for r in rows} == names  # every registered name, vae-kmeans and ae-kmeans-dcan included
    for r in rows:  # the name column never runs into the next one
        assert re.match(r"^[\w-]+ {2,}\S", r), r
    starts = {len(r) - len(r[r.index("  "):].lstrip()) for r in rows}
    assert len(starts) == 1  # the presets column starts at the same place on every row
    words = out.split()
    for name, cls in registry().items():  # descriptions are whole (wrapped at word boundaries, not cut)
        summary = _summary_line(cls).split()
        assert summary, name
        i = words.index(name)
        assert words[i + 1 + len(", ".join(cls.presets).split()): i + 1 + len(", ".join(cls.presets).split()) + len(summary)] == summary
    assert all(len(line) <= 100 for line in out.splitlines() if line.split(" ", 1)[0] in names)


def test_datasets_table(capsys, narrow):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out
    rows = _rows(out, set(list_datasets()))
    assert {r.split()[0] for r in rows} == set(list_datasets())  # usps-v1..4, usps700, 8gaussians documented
    for r in rows:
        name, samples = r.split()[:2]
        assert re.fullmatch(r"[\d,]+", samples), r
    usps_v1 = next(r for r in rows if r.startswith("usps-v1 "))
    assert "8,900" in usps_v1 and "imbalanced" in out


def test_methods_name_shows_parameters_presets_and_paper(capsys, narrow):
    assert main(["methods", "dcec"]) == 0
    out = capsys.readouterr().out
    assert 'Guo, X. Liu, E. Zhu, J. Yin, "Deep Clustering with Convolutional Autoencoders", ICONIP 2017' in " ".join(out.split())
    assert re.search(r"^usps +scale=minus1-1$", out, re.M)  # the preprocessing the paper preset carries
    assert re.search(r"^cpu +reduced budget .*pretrain_epochs=30, max_iter=3000", out, re.M)
    for f in dataclasses.fields(registry()["dcec"]):
        line = next(x for x in out.splitlines() if x.split(" ", 1)[0] == f.name)
        assert repr(f.default) in line, f.name
    assert re.search(r"^gamma +0\.1 +weight of the clustering loss", out, re.M)
    assert main(["methods", "no-such"]) == 2


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_parameter_of_every_method_has_a_meaning(name, capsys, narrow):
    assert main(["methods", name]) == 0
    out = capsys.readouterr().out
    table = out[out.index("parameter  "):]
    for f in dataclasses.fields(registry()[name]):
        line = next(x for x in table.splitlines() if x.split(" ", 1)[0] == f.name)
        assert len(line.split(repr(f.default), 1)[1].strip()) > 1, (name, f.name)  # a meaning after the default
