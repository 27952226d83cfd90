"""The README's own examples, executed: every code block after a `<!-- executed by tests/cli/test_readme.py`
marker. Only budgets are reduced (`--preset cpu` -> `--preset smoke`, `"cpu"` -> `"smoke"` in Python,
registered datasets subsampled); the commands, files and options are the README's."""
import re
import shlex
import shutil
from pathlib import Path

import pytest
import torch

from deepclust.cli import main

torch.set_num_threads(1)
README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "<!-- executed by tests/cli/test_readme.py"


def blocks():
    text = README.read_text()
    out = []
    for part in text.split(MARK)[1:]:
        m = re.search(r"```(\w+)\n(.*?)```", part, re.S)
        out.append((m.group(1), m.group(2)))
    return out


def commands():
    cmds = []
    for lang, body in blocks():
        if lang == "bash":
            cmds += [line for line in body.splitlines() if line.startswith("deepclust ")]
    return cmds


def test_readme_has_executed_examples():
    langs = [lang for lang, _ in blocks()]
    assert langs.count("bash") >= 2 and "python" in langs
    assert len(commands()) >= 10


@pytest.fixture
def workdir(data, tmp_path, monkeypatch):
    for f in data.iterdir():
        (shutil.copytree if f.is_dir() else shutil.copy)(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("line", commands())
def test_readme_command(line, workdir, capsys):
    argv = shlex.split(line, comments=True)[1:]
    argv = ["smoke" if a == "cpu" and argv[i - 1] == "--preset" else a for i, a in enumerate(argv)]
    if argv[0] == "fit" and "usps" in argv:
        argv += ["--subset", "300"]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    if argv[0] == "fit":
        assert "run folder: runs/" in out and "cluster sizes:" in out
        if "my_data.npy" in argv and "--labels" not in argv:  # the README's sample output is this command's
            sample = README.read_text().split("An unlabelled run prints")[1].split("```")[1].strip().splitlines()
            real = out.strip().splitlines()
            shape = lambda s: re.sub(r"\d+(\.\d+)?", "N", s).split(";")[0]
            assert real[0] == sample[0] and real[2] == sample[2]
            assert real[1].startswith("  cluster sizes: 0: ") and sample[1].startswith("  cluster sizes: 0: ")
            assert shape(real[3]) == shape(sample[3]) and shape(real[4]) == shape(sample[4])


def test_readme_python_quick_start(workdir, capsys):
    (lang, code), = [(lang, c) for lang, c in blocks() if lang == "python"]
    code = code.replace('"cpu"', '"smoke"')
    code = code.replace('load_dataset("usps", scale="minus1-1")', 'load_dataset("usps", scale="minus1-1", subset=500)')
    from deepclust.datasets import dataset_status
    if not next(r for r in dataset_status() if r["name"] == "usps")["available"]:
        pytest.skip("USPS files not here")
    exec(compile(code, "README.md", "exec"), {})
    assert "'acc'" in capsys.readouterr().out and (workdir / "dcec.pt").is_file()
