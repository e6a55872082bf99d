"""The two-sample machinery of live performance: resampled metrics equal Predictions.scores, the classes kept,
DeLong against a hand computation and the bootstrap, undefined resamples counted."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from {{ cookiecutter.package_name }}.metrics import Predictions
from {{ cookiecutter.package_name }}.monitor.performance import NOT_ENOUGH, assess
from {{ cookiecutter.package_name }}.monitor.two_sample import (
    bootstrap_draws,
    counted_scores,
    delong,
    delong_components,
    resample_positions,
    resample_rows,
    resampled_scores,
    strata,
)
from {{ cookiecutter.package_name }}.params import MonitorParams


def classes(rows: int, k: int, seed: int) -> Predictions:
    """A k-class classifier with tied (rounded) probabilities."""
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, k, rows)
    logits = rng.normal(0, 1, (rows, k)) + 1.5 * np.eye(k)[actual]
    proba = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2)
    proba /= proba.sum(axis=1, keepdims=True)
    return Predictions("classification", actual, proba.argmax(axis=1), proba, list(range(k)))


def regression(rows: int, seed: int) -> Predictions:
    rng = np.random.default_rng(seed)
    actual = rng.normal(0, 1, rows)
    return Predictions("regression", actual, actual + rng.normal(0, 0.5, rows))


@pytest.mark.parametrize("predictions", [classes(300, 2, 1), classes(300, 3, 2), regression(200, 3)])
def test_resampled_metrics_equal_the_metrics_of_the_resampled_rows(predictions):
    rows = len(predictions.actual)
    for picked in resample_rows(strata(predictions), rows, 6, rows, seed=4):
        found = resampled_scores(predictions, picked)
        for draw in range(len(picked)):
            expected = predictions.scores(picked[draw])
            for name, value in expected.items():
                assert found[name][draw] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("predictions", [classes(300, 2, 1), classes(300, 3, 2)])
def test_counted_metrics_equal_the_metrics_of_the_same_resamples_as_rows(predictions):
    """The fast path (positions within the strata, the confusion matrix by comparisons) is the same statistic."""
    groups = strata(predictions)
    positions = list(resample_positions(groups, 300, 8, 200, seed=3))
    rows = list(resample_rows(groups, 300, 8, 200, seed=3))
    for part, picked in zip(positions, rows, strict=True):
        fast, slow = counted_scores(predictions, groups, part), resampled_scores(predictions, picked, auc=False)
        for name, values in slow.items():
            np.testing.assert_allclose(fast[name], values, rtol=1e-12, atol=1e-15, err_msg=name)


def test_each_resample_keeps_each_class_count_and_repeats_with_the_seed():
    predictions = classes(250, 3, 5)
    groups = strata(predictions)
    [picked] = list(resample_rows(groups, 250, 20, 250, seed=6))
    expected = np.bincount(predictions.actual, minlength=3)
    for draw in picked:
        assert (np.bincount(predictions.actual[draw], minlength=3) == expected).all()
    [again] = list(resample_rows(groups, 250, 20, 250, seed=6))
    assert (again == picked).all()


def test_delong_matches_a_hand_computation_and_the_bootstrap():
    rng = np.random.default_rng(7)
    positive = np.r_[np.ones(6, bool), np.zeros(9, bool)]
    score = np.round(rng.random(15) + 0.3 * positive, 1)  # ties, within and across the classes
    # By hand: psi(x, y) = 1 if x > y, 1/2 if equal; V10 per positive, V01 per negative.
    pos, neg = score[positive], score[~positive]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    auc, variance = delong_components(positive, score)
    assert auc == pytest.approx(psi.mean()) == pytest.approx(roc_auc_score(positive, score))
    assert variance == pytest.approx(v10.var(ddof=1) / 6 + v01.var(ddof=1) / 9)
    # Two samples: DeLong's standard error of the difference against the two-sample bootstrap's.
    live, holdout = classes(400, 2, 8), classes(600, 2, 9)
    found = delong(live, holdout)
    draws = bootstrap_draws(live, 4000, 1, None)["roc_auc"] - bootstrap_draws(holdout, 4000, 2, None)["roc_auc"]
    assert found.difference == pytest.approx(live.scores()["roc_auc"] - holdout.scores()["roc_auc"])
    assert found.se == pytest.approx(np.std(draws), rel=0.1)


def test_resamples_where_a_metric_is_undefined_are_counted_and_too_many_mean_not_enough_labels():
    live = regression(60, 10)
    live.actual[3:] = 1.0  # r2 needs a spread of the labels: most resamples of 3 distinct values out of 60 lack one
    holdout = regression(500, 11)
    settings = MonitorParams(min_labels=50)
    result = assess(live, holdout, settings, ["rmse", "r2"], seed=0)
    r2 = result.checks[1]
    assert r2.undefined_live > 0
    assert not r2.judged
    assert "undefined in" in r2.note
    assert result.verdict == NOT_ENOUGH
    assert result.checks[0].undefined_live == 0
    assert result.checks[0].judged
