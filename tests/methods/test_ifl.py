"""Deep IFL (spec 001 §3.6, §4.2): features, alignment, scaling, the pipeline, resume of folds."""
import numpy as np
import pytest
import torch

from deepclust.datasets import load_dataset
from deepclust.errors import InvalidInputError
from deepclust.methods import get
from deepclust.methods import ifl as ifl_mod
from deepclust.methods.ifl import (DeepIFL, align_permutation, ifl_features, make_folds, permute_features,
                                   scale_columns)
from deepclust.metrics import acc, nmi

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def fitted(digits):
    """The default pipeline (CAE-MLE folds, Hungarian alignment, min-max, F1) at the smoke budget, r = 3."""
    return DeepIFL.from_preset("smoke", verbose=0).fit(digits.X)


def test_registry():
    assert get("deep-ifl") is DeepIFL


def test_folds_partition():
    folds = make_folds(103, 10, seed=3)
    allidx = np.concatenate(folds)
    assert sorted(allidx.tolist()) == list(range(103))
    assert {len(f) for f in folds} <= {10, 11}
    assert all(np.array_equal(a, b) for a, b in zip(folds, make_folds(103, 10, seed=3)))


def test_ifl_feature_definitions():
    centers = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    train_labels = np.array([0] * 5 + [1] * 3 + [2] * 2)
    z = np.array([[0.0, 1.0], [3.0, 0.5]])
    E = ifl_features(z, centers, train_labels)
    assert E.shape == (2, 3 + 2)
    np.testing.assert_allclose(E[:, 0], [0.5, 0.3])                                # confidence
    np.testing.assert_allclose(E[0, 1:4], [1.0, np.sqrt(10), 3.0])                 # distances
    np.testing.assert_allclose(E[:, -1], [1.0, 0.5])                               # closest


def test_alignment_recovers_known_permutation():
    rng = np.random.default_rng(0)
    k = 10
    ref = rng.integers(0, k, 2000)
    sigma = rng.permutation(k)
    other = sigma[ref].copy()
    noise = rng.random(2000) < 0.2                    # 20 % disagreement
    other[noise] = rng.integers(0, k, noise.sum())
    perm = align_permutation(ref, other, k)
    assert sorted(perm.tolist()) == list(range(k))    # a permutation
    np.testing.assert_array_equal(perm, sigma)
    # applying it to the weight columns puts them in the reference order
    W = rng.random((5, k))
    Wf = np.empty_like(W)
    Wf[:, sigma] = W                                  # the fold's cluster sigma[a] is reference cluster a
    E = np.column_stack([np.ones(5), Wf, np.zeros(5)])
    np.testing.assert_allclose(permute_features(E, perm)[:, 1:-1], W)


def test_scaling():
    E = np.column_stack([np.arange(10.0), np.full(10, 3.0), np.linspace(-7, 2, 10) ** 2])
    S, _ = scale_columns(E, "minmax", 2.5)
    np.testing.assert_allclose(S.min(0), [-2.5, 0, -2.5])
    np.testing.assert_allclose(S.max(0), [2.5, 0, 2.5])
    Z, _ = scale_columns(E * 100, "zclip", 2.5)
    assert np.abs(Z).max() <= 2.5


def test_pipeline_features_and_alignment(fitted, digits):
    n, k = len(digits.X), 10
    assert fitted.ifl_features_.shape == (n, k + 2)
    assert fitted.ifl_features_.min() >= -2.5 and fitted.ifl_features_.max() <= 2.5
    np.testing.assert_allclose(fitted.ifl_features_.min(0), -2.5)   # min-max reaches both ends
    np.testing.assert_allclose(fitted.ifl_features_.max(0), 2.5)
    assert len(fitted.folds_) == 3
    assert sorted(np.concatenate(fitted.folds_).tolist()) == list(range(n))
    for perm in fitted.alignment_:
        assert sorted(perm.tolist()) == list(range(k))
    np.testing.assert_array_equal(fitted.alignment_[0], np.arange(k))


def test_pipeline_beats_chance(fitted, digits):
    # r = 3 folds, smoke budgets; chance with 10 clusters: ACC ~0.12, NMI ~0.01
    assert acc(digits.y, fitted.labels_) > 0.3
    assert nmi(digits.y, fitted.labels_) > 0.25


def test_predict_and_save_load(fitted, digits, tmp_path):
    X = digits.X[:64]
    p = fitted.predict(X)
    assert p.shape == (64,) and p.min() >= 0 and p.max() < 10
    assert fitted.transform(X).shape == (64, 10)
    assert fitted.ifl_transform(X).shape == (64, 12)
    fitted.save(tmp_path / "ifl.pt")
    loaded = DeepIFL.load(tmp_path / "ifl.pt")
    np.testing.assert_array_equal(loaded.predict(X), p)


TINY = dict(n_folds=3, base_preset="smoke", base_params={"pretrain_epochs": 1, "max_iter": 10},
            final="F3", verbose=0)


def test_resume_skips_finished_folds(tmp_path, monkeypatch):
    X = load_dataset("digits", subset=400, seed=1).X
    ref = DeepIFL(**TINY).fit(X)

    real = ifl_mod._fit_fold
    seen = []

    def interrupted(X_, task):
        seen.append(task["j"])
        if task["j"] == 2:
            raise KeyboardInterrupt("simulated kill during fold 2")
        return real(X_, task)

    monkeypatch.setattr(ifl_mod, "_fit_fold", interrupted)
    ck = dict(checkpoint_dir=str(tmp_path / "ifl"))
    with pytest.raises(KeyboardInterrupt):
        DeepIFL(**TINY, **ck).fit(X)
    assert seen == [0, 1, 2]
    assert (tmp_path / "ifl" / "fold-1" / "result.npz").is_file()

    seen.clear()
    monkeypatch.setattr(ifl_mod, "_fit_fold", lambda X_, task: (seen.append(task["j"]), real(X_, task))[1])
    resumed = DeepIFL(**TINY, **ck, resume=True).fit(X)
    assert seen == [2]                                # folds 0 and 1 were loaded, not retrained
    assert resumed.folds_resumed_ == [0, 1]
    np.testing.assert_array_equal(resumed.ifl_features_, ref.ifl_features_)
    np.testing.assert_array_equal(resumed.labels_, ref.labels_)
    # a saved fold is not reused by a run with other base settings
    other = {**TINY, "base_params": {"pretrain_epochs": 2, "max_iter": 10}}
    with pytest.raises(InvalidInputError, match="other base settings"):
        DeepIFL(**other, **ck, resume=True).fit(X)


def test_parallel_folds_match_sequential(tmp_path):
    X = load_dataset("digits", subset=300, seed=2).X
    seq = DeepIFL(**TINY).fit(X)
    # "fork" keeps the test fast (no re-import in the children); the default start method is "spawn"
    par = DeepIFL(**TINY, n_jobs=2, mp_context="fork", checkpoint_dir=str(tmp_path / "par")).fit(X)
    np.testing.assert_allclose(par.ifl_features_, seq.ifl_features_, atol=1e-5)
    assert all((tmp_path / "par" / f"fold-{j}" / "model.pt").is_file() for j in range(3))


@pytest.mark.parametrize("bad", [{"base": "nope"}, {"n_folds": 1}, {"align": "greedy"}, {"final": "F9"},
                                 {"ifl_scaling": "l2"}, {"n_folds": 2}, {"base_params": {"bogus": 1}},
                                 {"n_jobs": 0}, {"f3_input": "pixels"}])
def test_bad_params(bad):
    X = load_dataset("digits", subset=200, seed=0).X
    with pytest.raises((InvalidInputError, KeyError)):
        DeepIFL(**{**TINY, **bad}).fit(X)
