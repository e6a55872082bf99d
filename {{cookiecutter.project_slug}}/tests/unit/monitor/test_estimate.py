"""Performance estimated before the labels (CBPE, DLE): it tracks the metric the labels later give, and flags a
covariate shift that degrades the model while no label has arrived."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from {{ cookiecutter.package_name }}.metrics import Predictions, _auc
from {{ cookiecutter.package_name }}.monitor.estimate import (
    _binary_auc,
    estimate,
    estimated_metric,
    expected_classification,
    fit,
    realized_by_day,
)

DAYS = [f"2026-03-{day:02d}" for day in range(1, 15)]  # 14 days of predictions


def logistic(rng: np.random.Generator, n: int, narrow: float = 1.0) -> tuple[pd.DataFrame, pd.Series]:
    """A well-specified logistic problem; `narrow` < 1 moves the rows toward the boundary (a covariate shift
    that makes the model less sure and less right, with P(y | x) unchanged)."""
    features = pd.DataFrame(rng.normal(size=(n, 3)) * [narrow, narrow, 1.0], columns=["a", "b", "c"])
    logit = 2.0 * features["a"] - 1.5 * features["b"] + 0.5 * features["c"]
    return features, pd.Series(np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no"))


def days_of(rows_per_day: int) -> np.ndarray:
    return np.repeat(DAYS, rows_per_day)


@pytest.fixture(scope="module")
def classifier():
    rng = np.random.default_rng(7)
    model = LogisticRegression().fit(*logistic(rng, 3000))
    return rng, model, fit(model, *logistic(rng, 4000), "classification", seed=7)


def run(estimator, features, realized=None, metric="roc_auc"):
    days = days_of(len(features) // len(DAYS))
    return estimate(
        estimator,
        estimator.rows(features),
        days,
        realized or {},
        metric,
        day_rows={},
        min_rows=50,
        confidence=0.95,
        margin=0.5,
        seed=0,
    )


def test_the_expected_auc_of_certain_labels_is_their_auc():
    rng = np.random.default_rng(0)
    score = rng.random(500).round(2)  # ties count half, as in the realized AUC
    labels = rng.random(500) < score
    assert _binary_auc(score, labels.astype(float)) == pytest.approx(_auc(labels, score))


def test_the_expected_accuracy_is_the_mean_calibrated_probability_of_the_predicted_class(classifier):
    _, _, estimator = classifier
    rows = estimator.holdout_rows
    chosen = rows.calibrated[np.arange(len(rows.predicted)), rows.predicted]
    assert expected_classification(rows, "accuracy") == pytest.approx(chosen.mean())


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy"])
def test_with_labels_14_days_late_the_estimate_tracks_what_they_later_show(classifier, metric):
    rng, model, estimator = classifier
    features, truth = logistic(rng, 14 * 3000)
    before = run(estimator, features, metric=metric)  # no label has arrived yet
    assert all(day.realized is None and day.labelled == 0 for day in before.days)
    later = realized_by_day(days_of(3000), Predictions.from_model(model, features, truth, "classification"), metric)
    gaps = [day.estimate - later[day.day][1] for day in before.days]
    assert max(map(abs, gaps)) <= 0.02
    assert sum(day.low <= later[day.day][1] <= day.high for day in before.days) >= 13
    assert not before.degraded


def test_a_covariate_shift_that_degrades_the_model_is_flagged_before_any_label(classifier):
    rng, model, estimator = classifier
    features, truth = logistic(rng, 14 * 500, narrow=0.35)
    shifted = run(estimator, features)
    realized = Predictions.from_model(model, features, truth, "classification").scores()["roc_auc"]
    assert realized < estimator.holdout.scores()["roc_auc"] - 0.05  # the model really does worse
    assert shifted.degraded
    assert shifted.estimate == pytest.approx(realized, abs=0.02)
    assert shifted.high < shifted.limit


def test_days_with_labels_show_the_realized_value_and_their_completeness(classifier):
    rng, model, estimator = classifier
    features, truth = logistic(rng, 14 * 200)
    labelled = np.arange(len(features)) < 7 * 200  # the first week only
    scored = Predictions.from_model(model, features[labelled], truth[labelled], "classification")
    realized = realized_by_day(days_of(200)[labelled], scored, "roc_auc")
    days = run(estimator, features, realized).days
    assert [day.realized is not None for day in days] == [True] * 7 + [False] * 7
    assert [day.completeness for day in days] == [1.0] * 7 + [0.0] * 7


def heteroscedastic(rng: np.random.Generator, n: int, spread: float = 1.0) -> tuple[pd.DataFrame, pd.Series]:
    """y = a + noise whose size grows with |b|: `spread` > 1 moves rows where the model errs more."""
    features = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n) * spread})
    return features, features["a"] + rng.normal(size=n) * (0.2 + np.abs(features["b"]))


def test_dle_tracks_the_realized_mae_and_flags_rows_where_the_model_errs_more():
    rng = np.random.default_rng(3)
    model = LinearRegression().fit(*heteroscedastic(rng, 2000))
    estimator = fit(model, *heteroscedastic(rng, 3000), "regression", seed=3)
    assert estimated_metric("regression", ["r2", "mae"]) == "mae"
    features, truth = heteroscedastic(rng, 14 * 1000)
    plain = run(estimator, features, metric="mae")
    later = realized_by_day(days_of(1000), Predictions.from_model(model, features, truth, "regression"), "mae")
    assert sum(day.low <= later[day.day][1] <= day.high for day in plain.days) >= 13
    assert plain.estimate == pytest.approx(np.mean([value for _, value in later.values()]), rel=0.05)
    assert not plain.degraded
    shifted = run(estimator, heteroscedastic(rng, 14 * 200, spread=2.0)[0], metric="mae")
    assert shifted.degraded
    assert shifted.estimate > 1.3 * plain.estimate


def test_too_few_rows_give_no_estimate():
    rng = np.random.default_rng(1)
    model = LogisticRegression().fit(*logistic(rng, 500))
    estimator = fit(model, *logistic(rng, 300), "classification", seed=1)
    result = run(estimator, logistic(rng, 14 * 3)[0])
    assert result.estimate is None
    assert not result.degraded
    assert all(day.estimate is None for day in result.days)
    assert not math.isnan(result.holdout_estimate)
