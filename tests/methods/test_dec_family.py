"""AE + k-means, DEC, IDEC, DCEC: clustering quality at tiny budgets on real data, API contract."""
import numpy as np
import pytest
import torch
from sklearn.base import clone

from deepclust.datasets import load_dataset
from deepclust.errors import DivergenceError, InvalidInputError, NotFittedError
from deepclust.methods import get
from deepclust.metrics import acc

FC = dict(hidden=(256, 128), pretrain_epochs=20, n_init=5, verbose=0, random_state=0)


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits")
    return ds.flat(), ds.y


@pytest.fixture(scope="module")
def usps_small():
    ds = load_dataset("usps", subset=1000, seed=0)
    return ds.X, ds.y


@pytest.mark.parametrize("method,extra,threshold", [
    ("ae-kmeans", {}, 0.55),
    ("dec", dict(max_iter=300, update_interval=30), 0.55),
    ("idec", dict(max_iter=300, update_interval=30), 0.55),
])
def test_fc_methods_cluster_digits_far_above_chance(digits, method, extra, threshold):
    X, y = digits
    est = get(method)(**FC, **extra).fit(X, y)
    assert acc(y, est.labels_) > threshold  # chance on 10 balanced classes is ~0.1-0.15
    assert est.labels_.shape == (len(X),)
    assert est.transform(X).shape == (len(X), 10)
    assert est.cluster_centers_.shape == (10, 10)
    if method != "ae-kmeans":
        monitored = [r for r in est.history_ if "acc" in r]  # y was used for monitoring only
        assert monitored and all(0 <= r["acc"] <= 1 for r in monitored)


def test_dcec_clusters_usps_above_chance(usps_small):
    X, y = usps_small
    est = get("dcec")(pretrain_epochs=10, batch_size=64, max_iter=100, update_interval=50, n_init=5,
                      verbose=0).fit(X)
    assert acc(y, est.labels_) > 0.45  # seeds 0-2 gave 0.63-0.69; chance is ~0.15
    assert est.autoencoder_.decode(torch.zeros(1, 10)).shape == (1, 1, 16, 16)


def test_self_training_stops_on_tolerance(digits):
    X, _ = digits
    est = get("dec")(**FC, max_iter=5000, update_interval=20, tol=0.5).fit(X)
    last_it = max(r.get("it", 0) for r in est.history_ if r["phase"] == "cluster")
    assert last_it < 5000  # stopped early: fewer than 50 % of labels changed


def test_predict_matches_labels_and_save_load_round_trip(digits, tmp_path):
    X, _ = digits
    est = get("idec")(**FC, max_iter=60, update_interval=30).fit(X)
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    est.save(tmp_path / "m.pt")
    loaded = get("idec").load(tmp_path / "m.pt")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_allclose(loaded.transform(X), est.transform(X), rtol=1e-6)
    assert loaded.get_params() == est.get_params()
    proba = loaded.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)


def test_sklearn_conventions(digits):
    est = get("dec")(n_clusters=4, max_iter=7)
    assert est.get_params()["n_clusters"] == 4 and est.get_params()["max_iter"] == 7
    c = clone(est).set_params(n_clusters=3)
    assert c.n_clusters == 3 and est.n_clusters == 4
    assert "n_clusters=4" in repr(est)
    with pytest.raises(NotFittedError):
        est.predict(digits[0])
    assert get("dcec").from_preset("cpu").pretrain_epochs < get("dcec")().pretrain_epochs


def test_accepts_torch_tensor_and_rejects_wrong_feature_count(digits):
    X, _ = digits
    est = get("ae-kmeans")(**{**FC, "pretrain_epochs": 2}).fit(torch.from_numpy(X[:300]))
    with pytest.raises(InvalidInputError, match="features per sample"):
        est.predict(X[:5, :10])


def test_divergence_is_detected_with_phase_and_term(digits):
    X, _ = digits
    with pytest.raises(DivergenceError, match="recon_loss.*pretrain.*epoch 1"):
        get("ae-kmeans")(**{**FC, "pretrain_epochs": 3}).set_params(pretrain_lr=1e12).fit(X * 1e6)


@pytest.mark.parametrize("method,bad", [("dec", {"max_iter": -1}), ("idec", {"gamma": -0.5}),
                                        ("dcec", {"tol": 1.5}), ("dec", {"batch_size": 0}),
                                        ("ae-kmeans", {"weight_init": "he"})])
def test_bad_hyperparameters_fail_before_training(digits, method, bad):
    with pytest.raises(InvalidInputError, match=list(bad)[0]):
        get(method)(verbose=0, **bad).fit(digits[0][:50].reshape(50, 1, 8, 8) if method == "dcec" else digits[0][:50])


def test_weight_init_and_shuffle_options(digits):
    """weight_init="torch" keeps PyTorch's default layer init (non-zero biases); shuffle=True reorders the
    self-training batches, so the run differs from the fixed-order one while clustering as well."""
    X, y = digits
    kw = dict(FC, max_iter=150, update_interval=30, pretrain_epochs=5)
    glorot = get("dec")(**(kw | {"max_iter": 0})).fit(X)
    torch_init = get("dec")(**(kw | {"max_iter": 0}), weight_init="torch").fit(X)
    first = lambda m: m.autoencoder_.encoder[1][0]  # Flatten, then the MLP's first Linear
    assert first(glorot).weight.shape == first(torch_init).weight.shape
    assert not bool(torch.equal(first(glorot).weight, first(torch_init).weight))
    fixed = get("dec")(**kw).fit(X)
    shuffled = get("dec")(**kw, shuffle=True).fit(X)
    assert not np.array_equal(fixed.cluster_centers_, shuffled.cluster_centers_)
    assert acc(y, shuffled.labels_) > 0.5
