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


def test_batch_scores_hand_computed_and_labelled_apart():
    from deepclust.metrics import batch_purity, batch_scores
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    c = np.array([0, 0, 0, 0, 1, 1, 1, 1])  # whole set: each cluster half 0 / half 1 -> purity 0.5
    assert metrics.purity(y, c) == 0.5
    # with batch_size 8 there is one batch = the whole set; batch_size 3 drops the short last batch (2 of 8)
    assert batch_purity(y, c, batch_size=8) == 0.5
    order = np.random.default_rng(7).permutation(8)[:6].reshape(2, 3)
    expect = np.mean([metrics.purity(y[b], c[b]) for b in order])
    assert batch_purity(y, c, batch_size=3, random_state=7) == pytest.approx(expect)
    s = batch_scores(y, c, batch_size=4, random_state=0)
    assert set(s) == {"batch_purity", "batch_nmi", "batch_ari"} and s["batch_purity"] >= 0.5
    assert batch_scores(y, y, batch_size=4)["batch_purity"] == 1.0
    with pytest.raises(InvalidInputError, match="full batch"):
        batch_purity(y, c, batch_size=100)


def test_batch_purity_of_random_labels_is_far_above_chance_acc():
    """The released PFC code's 'ACC' (purity over batches of 100) gives random labels ~0.27 on a balanced
    10-class set of 7,000 (USPS700's shape), where whole-set Hungarian ACC gives ~0.115 (issue 15)."""
    from deepclust.metrics import batch_purity, random_label_baseline
    y = np.repeat(np.arange(10), 700)
    base = random_label_baseline(y, 10, n_draws=3)
    assert 0.25 < base["batch_purity"] < 0.30
    assert 0.10 < base["acc"] < 0.13 and base["purity"] < 0.13
    lab = np.random.default_rng(0).integers(0, 10, y.size)
    assert batch_purity(y, lab) >= metrics.purity(y, lab)  # per-batch majorities can only gain (n divisible by 100)
