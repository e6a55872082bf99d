"""Live performance: the three verdicts, bootstrap intervals, labels in the model's type, the metric per period."""

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.metrics import Predictions
from {{ cookiecutter.package_name }}.monitor.performance import align_labels, assess, bootstrap, by_period, check_metric
from {{ cookiecutter.package_name }}.params import MonitorParams

SETTINGS = MonitorParams()
METRICS = ["roc_auc", "balanced_accuracy", "log_loss"]


def classifier(rows: int, noise: float, seed: int = 0) -> Predictions:
    """A binary classifier's predictions whose scores separate the classes less as `noise` grows."""
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, 2, rows)
    score = 1 / (1 + np.exp(-(2 * actual - 1) * 1.5 + rng.normal(0, noise, rows)))
    return Predictions.from_arrays(
        "classification",
        np.where(actual == 1, "yes", "no"),
        np.where(score > 0.5, "yes", "no"),
        np.c_[1 - score, score],
        ["no", "yes"],
    )


HOLDOUT = classifier(2000, noise=1.0, seed=1).scores()


def test_as_good_as_on_the_holdout_is_ok():
    result = assess(classifier(500, noise=1.0, seed=2), HOLDOUT, SETTINGS, METRICS, seed=0)
    assert result.verdict == "ok"
    assert result.labels == 500
    assert [check.metric for check in result.checks] == METRICS
    assert not any(check.degraded for check in result.checks)
    for check in result.checks:
        assert check.low <= check.live <= check.high


def test_clearly_worse_than_on_the_holdout_is_degraded_with_a_reason():
    result = assess(classifier(500, noise=4.0, seed=3), HOLDOUT, SETTINGS, METRICS, seed=0)
    assert result.verdict == "degraded"
    assert result.degraded
    auc = result.checks[0]
    assert auc.degraded
    assert auc.high < auc.limit < auc.holdout
    assert result.reasons
    assert result.reasons[0].startswith("roc_auc ")


def test_fewer_labels_than_the_minimum_is_no_verdict_but_says_how_many():
    result = assess(classifier(SETTINGS.min_labels - 1, noise=6.0), HOLDOUT, SETTINGS, METRICS, seed=0)
    assert result.verdict == "not enough labels"
    assert result.labels == SETTINGS.min_labels - 1
    assert result.checks == ()
    assert not result.degraded
    assert result.live["roc_auc"] is not None  # the point estimate is still reported
    assert assess(None, HOLDOUT, SETTINGS, METRICS, seed=0).labels == 0


def test_a_loss_that_may_be_noise_is_not_degraded():
    worse = assess(classifier(200, noise=1.2, seed=4), HOLDOUT, SETTINGS, METRICS, seed=0)
    auc = worse.checks[0]
    assert auc.live < auc.limit < auc.high  # worse than acceptable as a point, not at the interval's better end
    assert worse.verdict == "ok"


def test_the_better_end_of_the_interval_decides_for_a_lower_is_better_metric():
    assert check_metric("rmse", 10.0, 17.0, (16.0, 18.0), margin=0.5).degraded  # even 16 > 15
    assert not check_metric("rmse", 10.0, 17.0, (14.0, 18.0), margin=0.5).degraded  # 14 may be no worse
    assert not check_metric("roc_auc", 0.9, 0.5, (float("nan"), float("nan")), margin=0.5).degraded
    assert check_metric("roc_auc", 0.9, 0.5, (float("nan"), float("nan")), margin=0.5).note


def test_bootstrap_intervals_hold_the_estimate_narrow_with_more_labels_and_repeat_with_the_seed():
    small, large = classifier(200, noise=2.0, seed=5), classifier(20_000, noise=2.0, seed=5)
    narrow, wide = bootstrap(large, 200, 0.95, seed=1), bootstrap(small, 200, 0.95, seed=1)
    for name, (low, high) in narrow.items():
        assert low <= large.scores()[name] <= high
        assert high - low < wide[name][1] - wide[name][0]
    assert bootstrap(small, 200, 0.95, seed=1) == wide


def test_resamples_of_fewer_rows_scaled_back_give_about_the_full_bootstraps_interval():
    many = classifier(60_000, noise=2.0, seed=6)
    full, subsampled = bootstrap(many, 200, 0.95, seed=2), bootstrap(many, 200, 0.95, seed=2, max_rows=15_000)
    for name in ("roc_auc", "balanced_accuracy", "log_loss"):
        width, approximate = full[name][1] - full[name][0], subsampled[name][1] - subsampled[name][0]
        assert approximate == pytest.approx(width, rel=0.25)
        assert subsampled[name][0] <= many.scores()[name] <= subsampled[name][1]


def test_labels_take_the_models_type_and_what_cannot_be_one_is_missing():
    assert align_labels(pd.Series(["1", 0, "2.0", "x"]), "classification", np.array([0, 1, 2])).tolist() == [
        1,
        0,
        2,
        None,
    ]
    assert align_labels(pd.Series([1, "no"]), "classification", np.array(["no", "yes"])).tolist() == ["1", "no"]
    values = align_labels(pd.Series(["1.5", 2, "n/a"]), "regression")
    assert values.iloc[:2].tolist() == [1.5, 2.0]
    assert np.isnan(values.iloc[2])
    assert align_labels(pd.Series(["true", False]), "classification", np.array([False, True])).tolist() == [True, False]


def test_the_metric_per_day_leaves_out_days_with_too_few_labels():
    live = classifier(130, noise=1.0)
    times = pd.Series(pd.to_datetime(["2026-11-24T10:00Z"] * 120 + ["2026-11-25T10:00Z"] * 10, utc=True))
    first, second = by_period(times, live, "accuracy", "D")
    assert first.labels == 120
    assert first.value is not None
    assert second.labels == 10
    assert second.value is not None
    times = pd.Series(pd.to_datetime(["2026-11-24T10:00Z"] * 125 + ["2026-11-25T10:00Z"] * 5, utc=True))
    assert by_period(times, live, "accuracy", "D")[1].value is None
