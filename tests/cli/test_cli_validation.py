"""Every bad request is refused before the run folder exists: one line on stderr, exit status 2, nothing
written. The same checks guard `fit` from Python."""
import importlib.util

import numpy as np
import pytest

from cli_helpers import run_cli
from deepclust.cli import main
from deepclust.errors import InvalidInputError

DIGITS = ["--dataset", "digits"]
CASES = [  # (arguments after `fit`, text the one-line error must contain)
    (["-m", "kmeans", *DIGITS, "--set", "n_clusters=0"], "at least 2"),
    (["-m", "kmeans", *DIGITS, "--set", "n_clusters=1"], "at least 2"),
    (["-m", "kmeans", *DIGITS, "--set", "n_clusters=-3"], "at least 2"),
    (["-m", "kmeans", *DIGITS, "--set", "n_clusters=abc"], "must be an integer"),
    (["-m", "kmeans", *DIGITS, "--set", "n_clusters=5000"], "larger than the number of samples (1797)"),
    (["-m", "dec", *DIGITS, "--set", "lr=0"], "lr must be > 0"),
    (["-m", "idec", *DIGITS, "--set", "pretrain_lr=-0.001"], "pretrain_lr must be > 0"),
    (["-m", "dcan", *DIGITS, "--set", "lr=-1"], "lr must be > 0"),
    (["-m", "idec", *DIGITS, "--device", "cuda"], "CUDA is not available"),
    (["-m", "kmeans", *DIGITS, "--device", "cuda"], "CUDA is not available"),
    (["-m", "idec", *DIGITS, "--device", "mps"], "MPS is not available"),
    (["-m", "idec", *DIGITS, "--device", "tpu"], "unknown device 'tpu'"),
    (["-m", "dcec", "--dataset", "{npy}", "--set", "n_clusters=3"], "needs images"),
    (["-m", "dcfae", "--dataset", "{npy}", "--set", "n_clusters=3"], "needs images"),
    (["-m", "deep-ifl", "--dataset", "{npy}", "--set", "n_clusters=3"], "needs images"),
    (["-m", "idec", *DIGITS, "--set", "gamma=abc"], "gamma must be a number, got 'abc'"),
    (["-m", "idec", *DIGITS, "--set", "presets={}"], "presets (a class attribute, not a parameter)"),
    (["-m", "dcec", *DIGITS, "--set", "uses_images=False"], "uses_images (a class attribute"),
    (["-m", "idec", *DIGITS, "--set", "no_such=1"], "unknown parameter(s) for idec: no_such"),
    (["-m", "idec", *DIGITS, "--set", "random_state=1"], "use --seed"),
    (["-m", "idec", *DIGITS, "--seed", "-1"], "seed must be in [0, 2**32)"),
    (["-m", "idec", *DIGITS, "--seed", "x"], "seed must be an integer"),
    (["-m", "idec", *DIGITS, "--subset", "0"], "--subset: must be a positive integer"),
    (["-m", "idec", *DIGITS, "--resize", "0"], "--resize: must be a positive integer"),
    (["-m", "idec", *DIGITS, "--preset", "huge"], "unknown preset 'huge'"),
    (["-m", "nope", *DIGITS], "unknown method"),
    (["-m", "kmeans", "--dataset", "no-such-data"], "Unknown dataset 'no-such-data'"),
    (["-m", "kmeans", "--dataset", "{npy}"], "has no labels to count the clusters"),
    (["-m", "kmeans", *DIGITS, "--label-column", "y"], "--label-column applies to CSV"),
    (["-m", "kmeans", *DIGITS, "--labels", "{npy}"], "--labels applies to your own data"),
    (["-m", "kmeans", "--dataset", "{npy}", "--image-size", "8", "8", "--set", "n_clusters=3"], "image folders only"),
    (["-m", "kmeans", "--dataset", "{npy}", "--split", "train", "--set", "n_clusters=3"], "registered datasets"),
    (["-m", "idec", *DIGITS, "--track", "mlflow"], "not installed"),
    (["-m", "dec", *DIGITS, "--set", "optimizer='rmsprop'"], "optimizer must be 'adam' or 'sgd'"),
    (["-m", "gmm", *DIGITS, "--set", "covariance_type='x'"], "covariance_type must be"),
    (["-m", "agmm", *DIGITS, "--set", "hidden=(0, 5)"], "tuple of positive integers"),
    (["-m", "pfc", *DIGITS, "--set", "n_iter=2.5"], "n_iter must be an integer"),
    (["-m", "idec", *DIGITS, "--set", "precision='fp16'"], "precision must be one of"),
    (["--resume", "{npy}"], "cannot resume"),
    (["--resume", "{npy}", "--subset", "5"], "drop --subset"),
]


@pytest.fixture
def npy(tmp_path):
    p = tmp_path / "vectors.npy"
    np.save(p, np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32))
    return p


@pytest.mark.parametrize("args,msg", CASES, ids=[" ".join(a[1:] if a[0] == "-m" else a) for a, _ in CASES])
def test_refused_before_anything_is_written(args, msg, npy, tmp_path, capsys):
    if "--track" in args and importlib.util.find_spec("mlflow") is not None:
        pytest.skip("mlflow is installed: --track mlflow is accepted")
    args = [a.replace("{npy}", str(npy)) for a in args]
    out = tmp_path / "runs"
    assert main(["fit", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("deepclust: error: ") and msg in err[0], err[0]
    assert not out.exists()


def test_real_entry_point_one_line_errors(tmp_path):
    for args in (["--set", "gamma=abc"], ["--seed", "-1"], ["--device", "tpu"]):
        p = run_cli("fit", "-m", "idec", "-d", "digits", "--out", tmp_path / "runs", *args, cwd=tmp_path)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
        assert "Traceback" not in p.stderr and not (tmp_path / "runs").exists()


def test_broken_png_is_named_and_can_be_skipped(data, tmp_path, capsys):
    import shutil
    folder = tmp_path / "imgs"
    shutil.copytree(data / "my_images", folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    assert main(["fit", "-m", "kmeans", "-d", str(folder), "--set", "n_clusters=3", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.png: unreadable image" in err[0] and "--skip-unreadable" in err[0]
    assert not (tmp_path / "r").exists()
    assert main(["fit", "-m", "kmeans", "-d", str(folder), "--set", "n_clusters=3", "--skip-unreadable", "--no-plots",
                 "--out", str(tmp_path / "r")]) == 0
    import json
    (run,) = (tmp_path / "r").iterdir()
    assert json.loads((run / "config.json").read_text())["dataset_meta"]["skipped_files"] == ["broken.png"]
    assert "60 samples" in capsys.readouterr().out


def test_mixed_image_sizes_need_image_size(data, tmp_path, capsys):
    import shutil
    from PIL import Image
    folder = tmp_path / "imgs"
    shutil.copytree(data / "my_images", folder)
    Image.fromarray(np.zeros((20, 12), np.uint8)).save(folder / "zz_other_size.png")
    assert main(["fit", "-m", "kmeans", "-d", str(folder), "--set", "n_clusters=3", "--out", str(tmp_path / "r")]) == 2
    assert "--image-size H W" in capsys.readouterr().err
    assert main(["fit", "-m", "kmeans", "-d", str(folder), "--set", "n_clusters=3", "--image-size", "12", "10",
                 "--no-plots", "--out", str(tmp_path / "r")]) == 0
    assert "61 samples (1x12x10 images)" in capsys.readouterr().out


def test_python_api_raises_the_same_errors():
    from deepclust.methods import DCEC, IDEC, KMeans
    X = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    with pytest.raises(InvalidInputError, match="gamma must be a number, got 'abc'"):
        IDEC(gamma="abc").fit(X)
    with pytest.raises(InvalidInputError, match="larger than the number of samples"):
        KMeans(n_clusters=50).fit(X)
    with pytest.raises(InvalidInputError, match="needs images"):
        DCEC(n_clusters=3).fit(X)
    with pytest.raises(InvalidInputError, match="unknown device"):
        IDEC(device="tpu").fit(X)
    with pytest.raises(InvalidInputError, match="random_state"):
        KMeans(random_state=-1).validate_params()
    with pytest.raises(InvalidInputError, match="a finite number"):
        IDEC(gamma=float("nan")).validate_params()
    # validate_params needs no data; check_input needs only a shape
    IDEC(n_clusters=3).validate_params()
    with pytest.raises(InvalidInputError, match="needs images"):
        DCEC(n_clusters=3).check_input(np.empty((10, 7)))
    DCEC(n_clusters=3).check_input(np.empty((10, 1, 8, 8)))


def test_every_preset_of_every_method_is_valid():
    from deepclust.methods import registry
    for name, cls in registry().items():
        for preset in cls.presets:
            cls.from_preset(preset).validate_params()


def test_corrupt_user_file_is_one_line(tmp_path, capsys):
    p = tmp_path / "bad.npy"
    p.write_bytes(b"\x93NUMPY garbage")
    assert main(["fit", "-m", "kmeans", "-d", str(p), "--set", "n_clusters=2", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.npy" in err[0]
    assert not (tmp_path / "r").exists()
