"""The numpy closed forms used for bootstrap agree with scikit-learn (the authors' functions)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llava_ecg.eval import metrics


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(2, 6), st.integers(0, 2**31 - 1), st.floats(0.05, 0.95))
def test_closed_forms_match_sklearn(n, k, seed, p):
    # k >= 2: with one column scikit-learn switches to binary averaging over {0, 1}; multi-label sets have >= 2

    rng = np.random.default_rng(seed)
    y_true = rng.random((n, k)) < p
    y_pred = rng.random((n, k)) < p
    expected = metrics.sklearn_multilabel(y_true, y_pred)
    counts = metrics.confusion_counts(np.ones((1, n)), y_true, y_pred)
    got = metrics.multilabel_from_counts(*counts, nan_safe=False)
    for key in ("f1", "hl"):
        assert got[key][0] == pytest.approx(expected[key])
    if np.isnan(expected["auc"]):
        assert np.isnan(got["auc"][0])
    else:
        assert got["auc"][0] == pytest.approx(expected["auc"])


def test_bootstrap_weights_are_resamples():
    chunks = list(metrics.bootstrap_weights(50, 250, seed=7))
    weights = np.concatenate(chunks)
    assert weights.shape == (250, 50)
    assert (weights.sum(axis=1) == 50).all()
    again = np.concatenate(list(metrics.bootstrap_weights(50, 250, seed=7)))
    assert (weights == again).all()


def test_percentile_ci_needs_mostly_defined_resamples():
    assert all(np.isnan(metrics.percentile_ci(np.array([1.0, np.nan, np.nan]))))
    lo, hi = metrics.percentile_ci(np.arange(101, dtype=float))
    assert (lo, hi) == pytest.approx((2.5, 97.5))


def test_mean_bootstrap_of_constant_is_constant():
    assert metrics.mean_bootstrap(np.ones(30), resamples=50, seed=0) == pytest.approx((100.0, 100.0))
