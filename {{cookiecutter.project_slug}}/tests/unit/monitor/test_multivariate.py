"""Multivariate drift (monitor/multivariate.py): a change in how features go together, with every marginal as it was.

The full table (200 seeds a side at n = 50 to 2000) is the template's benchmarks/multivariate.py; here, 20 seeds a
side at n = 2000 with a looser bound on false alarms.
"""

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.columns import CATEGORICAL, NUMERIC
from {{ cookiecutter.package_name }}.monitor.drift import detect
from {{ cookiecutter.package_name }}.monitor.multivariate import SIDE_ROWS, auc, domain_classifier
from {{ cookiecutter.package_name }}.params import DriftParams

SETTINGS = DriftParams()
ROWS = 2000
SEEDS = 20
CORRELATION = 0.5  # between x0 and x1 in the current rows; 0 in the reference


def rows(rng: np.random.Generator, n: int = ROWS, correlation: float = 0.0) -> pd.DataFrame:
    """Five standard normal features (x0 and x1 with this correlation) and a categorical one: the marginals never
    depend on `correlation`."""
    covariance = np.eye(5)
    covariance[0, 1] = covariance[1, 0] = correlation
    frame = pd.DataFrame(rng.multivariate_normal(np.zeros(5), covariance, n), columns=[f"x{i}" for i in range(5)])
    frame["plan"] = rng.choice(np.array(["basic", "plus", "pro"]), n, p=(0.5, 0.3, 0.2))
    return frame


KINDS = {f"x{i}": NUMERIC for i in range(5)} | {"plan": CATEGORICAL}


def judge(reference: pd.DataFrame, current: pd.DataFrame):
    return domain_classifier(reference, current, list(KINDS), KINDS, SETTINGS.alpha, SETTINGS.multivariate_auc)


def test_a_correlation_only_shift_is_drift_while_every_column_test_stays_silent():
    rng = np.random.default_rng(0)
    result = detect(rows(rng), rows(rng, correlation=CORRELATION), SETTINGS)
    assert result.drifted_features == ()
    assert result.multivariate is not None
    assert result.multivariate.drifted
    assert result.drift is True
    assert result.verdict == "drift found"
    assert {entry.feature for entry in result.multivariate.top_features[:2]} == {"x0", "x1"}
    assert result.to_json()["multivariate"]["drifted"] is True


def test_a_correlation_only_shift_is_found_in_at_least_90_percent_of_seeds_with_few_false_alarms():
    found = false_alarms = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(100 + seed)
        found += judge(rows(rng), rows(rng, correlation=CORRELATION)).drifted
        false_alarms += judge(rows(rng), rows(rng)).drifted
    assert found >= 0.9 * SEEDS
    assert false_alarms <= 0.1 * SEEDS  # 5 % nominal; 200 seeds in the benchmark


def test_large_sides_are_sampled_and_the_result_says_so():
    rng = np.random.default_rng(3)
    result = judge(rows(rng, SIDE_ROWS + 1000), rows(rng, 300))
    assert result.subsampled is True
    assert (result.rows_used.reference, result.rows_used.current) == (SIDE_ROWS, 300)
    assert (result.rows.reference, result.rows.current) == (SIDE_ROWS + 1000, 300)


def test_a_wide_categorical_column_with_missing_values_and_no_change_is_no_drift():
    rng = np.random.default_rng(4)
    names = np.array([f"c{i}" for i in range(300)])
    weights = 1 / np.arange(1, 301)

    def sample() -> pd.DataFrame:
        frame = rows(rng, 1000)
        frame["city"] = rng.choice(names, 1000, p=weights / weights.sum())
        frame.loc[rng.random(1000) < 0.3, ["city", "x2"]] = None
        return frame

    kinds = KINDS | {"city": CATEGORICAL}
    result = domain_classifier(sample(), sample(), list(kinds), kinds, SETTINGS.alpha, SETTINGS.multivariate_auc)
    assert result is not None
    assert result.drifted is False
    assert 0.4 < result.auc < result.threshold


def test_too_few_rows_on_a_side_is_not_judged_and_the_switch_turns_it_off():
    rng = np.random.default_rng(5)
    assert judge(rows(rng), rows(rng, 10)) is None
    assert detect(rows(rng), rows(rng), DriftParams(multivariate=False)).multivariate is None


def test_auc_counts_ties_half_as_roc_auc_score_does():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(6)
    scores, labels = rng.integers(0, 5, 300).astype(float), rng.integers(0, 2, 300)
    assert auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))


def test_a_text_column_of_values_seen_once_does_not_tell_the_sides_apart():
    rng = np.random.default_rng(7)
    reference, current = rows(rng, 200), rows(rng, 200)
    reference["note"] = [f"ref-{i}" for i in range(200)]  # free text, ids: each side's own values
    current["note"] = [f"cur-{i}" for i in range(200)]
    kinds = KINDS | {"note": CATEGORICAL}
    result = domain_classifier(reference, current, list(kinds), kinds, SETTINGS.alpha, SETTINGS.multivariate_auc)
    assert result is not None
    assert result.drifted is False
