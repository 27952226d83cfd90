"""Metric properties not already covered by tests/test_metrics.py: ACC equals a brute-force search over
one-to-one maps, NMI/ARI are symmetric, and any label values (negative, huge, strings) give the same
scores as 0..k-1 codes."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepclust import metrics

small = st.lists(st.integers(0, 3), min_size=1, max_size=25)


def brute_acc(y, c):
    classes, clusters = np.unique(y), np.unique(c)
    best = 0
    k = min(len(classes), len(clusters))
    for cl in itertools.combinations(clusters, k):
        for cs in itertools.permutations(classes, k):
            best = max(best, sum(int(((c == a) & (y == b)).sum()) for a, b in zip(cl, cs)))
    return best / len(y)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(small, st.data())
def test_acc_is_the_best_one_to_one_map(y, data):
    c = data.draw(st.lists(st.integers(0, 3), min_size=len(y), max_size=len(y)))
    y, c = np.array(y), np.array(c)
    assert metrics.acc(y, c) == pytest.approx(brute_acc(y, c))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(small, st.data())
def test_symmetry_and_label_values(y, data):
    c = np.array(data.draw(st.lists(st.integers(0, 5), min_size=len(y), max_size=len(y))))
    y = np.array(y)
    assert metrics.nmi(y, c) == pytest.approx(metrics.nmi(c, y))
    assert metrics.ari(y, c) == pytest.approx(metrics.ari(c, y))
    assert metrics.acc(y, c) == pytest.approx(metrics.acc(c, y))  # one-to-one matching is symmetric
    weird_y = np.array([["neg", "x", "y", "z"][v] for v in y])  # strings
    weird_c = np.where(c == 0, -1, c * 10**12)  # noise label -1, huge ids
    for f in (metrics.acc, metrics.nmi, metrics.ari, metrics.purity):
        assert f(weird_y, weird_c) == pytest.approx(f(y, c))
