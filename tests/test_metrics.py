import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from deepclust import metrics
from deepclust.errors import InvalidInputError


def test_acc_hand_computed():
    y = [0, 0, 0, 1, 1, 1]
    c = [1, 1, 0, 0, 0, 0]  # best map: 1->0 (2 hits), 0->1 (3 hits) => 5/6
    assert metrics.acc(y, c) == pytest.approx(5 / 6)
    assert metrics.purity(y, c) == pytest.approx(5 / 6)


def test_acc_more_clusters_than_classes_is_one_to_one():
    y = [0, 0, 1, 1]
    c = [0, 1, 2, 3]  # only two clusters can be matched
    assert metrics.acc(y, c) == pytest.approx(0.5)
    assert metrics.purity(y, c) == 1.0  # many-to-one
    assert len(metrics.hungarian_mapping(y, c)) == 2


def test_fewer_clusters_than_classes():
    y = [0, 1, 2, 2]
    c = [0, 0, 1, 1]
    assert metrics.acc(y, c) == pytest.approx(0.75)


def test_nmi_ari_match_sklearn_and_options():
    rng = np.random.default_rng(0)
    y, c = rng.integers(0, 5, 300), rng.integers(0, 7, 300)
    assert metrics.nmi(y, c) == pytest.approx(normalized_mutual_info_score(y, c))
    assert metrics.nmi(y, c, "geometric") == pytest.approx(
        normalized_mutual_info_score(y, c, average_method="geometric"))
    assert metrics.ari(y, c) == pytest.approx(adjusted_rand_score(y, c))


def test_length_mismatch_and_empty():
    with pytest.raises(InvalidInputError, match="different lengths"):
        metrics.acc([0, 1], [0])
    with pytest.raises(InvalidInputError, match="empty"):
        metrics.nmi([], [])


def test_nan_labels_refused():
    with pytest.raises(InvalidInputError, match=r"y_true contains 2 NaN and 0 inf labels"):
        metrics.acc([0.0, np.nan, 1.0, np.nan], [0, 0, 1, 1])
    with pytest.raises(InvalidInputError, match=r"y_pred contains 0 NaN and 1 inf labels"):
        metrics.evaluate([0, 0, 1], np.array([0.0, 1.0, np.inf]))
    for f in (metrics.nmi, metrics.ari, metrics.purity):
        with pytest.raises(InvalidInputError, match="y_pred contains 1 NaN"):
            f([0, 1, 1], [0.0, np.nan, 1.0])
    assert metrics.acc([0.0, 1.0, 1.0], [1, 0, 0]) == 1.0  # finite float labels still work


labels = st.lists(st.integers(0, 6), min_size=2, max_size=60)


@settings(max_examples=60, deadline=None)
@given(labels, st.randoms(use_true_random=False))
def test_invariant_to_permuting_cluster_ids(y, rnd):
    y = np.array(y)
    c = np.array([rnd.randint(0, 4) for _ in y])
    perm = np.array(rnd.sample(range(10), 10))
    for f in (metrics.acc, metrics.nmi, metrics.ari, metrics.purity):
        assert f(y, perm[c]) == pytest.approx(f(y, c))


@settings(max_examples=60, deadline=None)
@given(labels, labels)
def test_bounds_and_perfect(y, c):
    n = min(len(y), len(c))
    y, c = np.array(y[:n]), np.array(c[:n])
    m = metrics.evaluate(y, c)
    assert 0 <= m["acc"] <= m["purity"] <= 1
    assert 0 <= m["nmi"] <= 1 + 1e-9
    assert -1 <= m["ari"] <= 1 + 1e-9
    perfect = metrics.evaluate(y, y + 3)  # relabelled identical partition
    assert perfect["acc"] == perfect["purity"] == 1.0
    assert perfect["ari"] == pytest.approx(1.0)


def test_chance_level_is_low():
    rng = np.random.default_rng(1)
    y, c = rng.integers(0, 10, 20000), rng.integers(0, 10, 20000)
    assert metrics.acc(y, c) < 0.13
    assert metrics.nmi(y, c) < 0.01
    assert abs(metrics.ari(y, c)) < 0.01
