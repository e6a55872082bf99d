"""The per-column drift statistics against scipy.stats, their edge cases, and the result's JSON form."""

import warnings

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.monitor.drift import detect
from {{ cookiecutter.package_name }}.monitor.drift_report import finite
from {{ cookiecutter.package_name }}.monitor.drift_result import Sources
from {{ cookiecutter.package_name }}.monitor.stats import (
    MISSING,
    category_table,
    chi_square,
    equal_size_p_value,
    js_distance,
    ks_test,
    numeric_histogram,
    numeric_statistics,
    psi,
)
from {{ cookiecutter.package_name }}.params import DriftParams


def test_a_numeric_column_empty_on_one_side_is_drift():
    stats = numeric_statistics(np.array([1.0, 2.0, 3.0]), np.array([np.nan, np.nan]), bins=10)
    assert stats.ks_statistic == 1.0
    assert stats.p_value == 0.0
    assert stats.current.missing_share == 1.0


@pytest.mark.parametrize("values", ["continuous", "ties"])
def test_the_large_sample_ks_matches_scipy(values):
    from scipy import stats

    rng = np.random.default_rng(9)
    if values == "continuous":
        a, b = rng.normal(0, 1, 20_000), rng.normal(0.03, 1, 15_000)
    else:
        a, b = rng.poisson(3, 20_000).astype(float), rng.poisson(3.05, 15_000).astype(float)
    statistic, p_value = ks_test(np.sort(a), np.sort(b))
    expected = stats.ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=0.05)


def test_psi_is_zero_for_equal_bins_and_symmetric():
    a, b = np.array([0.25, 0.25, 0.5]), np.array([0.5, 0.25, 0.25])
    assert psi(a, a) == 0.0
    assert psi(a, b) == pytest.approx(psi(b, a)) == pytest.approx(0.5 * np.log(2))


def test_category_table_counts_missing_values_as_a_category():
    names, table = category_table(pd.Series(["a", None, "a"]), pd.Series(["b", "a"], dtype=object))
    assert names == ["a", MISSING, "b"] or names == ["a", "b", MISSING]
    counts = dict(zip(names, table.T.tolist(), strict=True))
    assert counts == {"a": [2, 1], "b": [0, 1], MISSING: [1, 0]}


@pytest.mark.parametrize(
    "table",
    [[[500, 300, 200], [300, 300, 400]], [[40, 0, 7, 1], [35, 12, 9, 0]], [[1, 2], [3, 4]], [[10**6, 10], [10**6, 12]]],
)
def test_chi_square_cramers_v_and_jensen_shannon_match_scipy_stats(table):
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    table = np.array(table)
    statistic, p_value, cramers_v = chi_square(table)
    expected = stats.chi2_contingency(table, correction=False)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert cramers_v == pytest.approx(stats.contingency.association(table, method="cramer", correction=False))
    p, q = table[0] / table[0].sum(), table[1] / table[1].sum()
    assert js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)


def test_the_numeric_histogram_spans_both_sides_and_keeps_every_row():
    rng = np.random.default_rng(6)
    reference, current = np.sort(rng.normal(0, 1, 5000)), np.sort(rng.normal(3, 1, 4000))
    histogram = numeric_histogram(reference, current)
    edges = histogram.edges
    assert edges[0] < -2
    assert edges[-1] > 5
    assert sum(histogram.reference) == pytest.approx(1)
    assert sum(histogram.current) == pytest.approx(1)
    expected, _ = np.histogram(np.clip(current, edges[0], edges[-1]), bins=edges)
    assert histogram.current == pytest.approx(expected / len(current))


def test_the_numeric_histogram_copes_with_infinities_constants_and_empty_sides():
    with_inf = numeric_histogram(np.array([-np.inf, 1.0, 2.0, np.inf]), np.array([1.0, 2.0, 3.0]))
    assert np.isfinite(with_inf.edges).all()
    assert sum(with_inf.reference) == pytest.approx(1)
    constant = numeric_histogram(np.array([5.0, 5.0]), np.array([]))
    assert constant.edges[0] == 4.5
    assert constant.edges[-1] == 5.5
    assert sum(constant.current) == 0
    assert numeric_histogram(np.array([np.inf]), np.array([])) is None


def test_two_equal_sized_samples_a_step_apart_get_the_exact_p_value_without_scipys_warning():
    """scipy's exact p-value for 113 rows a side and a statistic of one step rounds to a hair above 1: its
    ks_2samp then warns ("Exact calculation unsuccessful") and falls back to the asymptotic formula."""
    reference = np.arange(113.0)
    current = np.append(reference[:-1], 1000.0)  # the ECDFs differ by one row: D = 1/113
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        statistic, p_value = ks_test(reference, current)
    assert (statistic, p_value) == (1 / 113, 1.0)


@pytest.mark.parametrize("rows", [1, 7, 60, 113, 999, 4000])
def test_the_equal_size_ks_matches_scipys_exact_test_wherever_scipy_gets_it(rows):
    from scipy import stats

    rng = np.random.default_rng(rows)
    for shift in (0.0, 0.05, 0.3, 1.0):
        for decimals in (1, 8):  # ties, and (nearly) none
            a = np.sort(np.round(rng.normal(0, 1, rows), decimals))
            b = np.sort(np.round(rng.normal(shift, 1, rows), decimals))
            statistic, p_value = ks_test(a, b)
            expected = stats.ks_2samp(a, b, method="exact")
            assert statistic == expected.statistic
            assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_the_equal_size_p_value_of_a_few_steps_is_cut_off_at_1():
    assert equal_size_p_value(113, 0) == 1.0
    assert equal_size_p_value(113, 1) == 1.0  # scipy's sum: 1.0000000000000002
    assert equal_size_p_value(5, 5) == pytest.approx(2 / 252)  # the two orderings (of C(10, 5)) fully apart


def test_infinities_leave_the_mean_and_std_unknown_without_a_numpy_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = numeric_statistics(np.array([1.0, 2.0, np.inf]), np.array([-np.inf, 1.0, np.inf]), bins=4)
    assert result.reference.mean == np.inf
    assert finite(result.to_json()["reference"])["std"] is None
    assert finite(result.to_json()["current"]) == {"rows": 3, "missing_share": 0.0, "mean": None, "std": None}


def test_the_json_form_keeps_each_columns_statistics_and_verdict_side_by_side_and_names_the_roles_columns():
    rng = np.random.default_rng(1)
    reference = pd.DataFrame(
        {"x": rng.normal(0, 1, 500), "plan": rng.choice(np.array(["a", "b"]), 500), "y": rng.choice([0, 1], 500)}
    )
    data = detect(reference, reference.assign(x=reference["x"] + 1), DriftParams(), target="y").to_json()
    verdict = {"p_value_adjusted", "severity", "drift", "thresholds"}
    sides = {"kind", "p_value", "reference", "current", "histogram", "null_quantiles"}
    assert set(data["features"]["x"]) == sides | verdict | {"ks_statistic", "psi"}
    assert set(data["features"]["x"]["reference"]) == {"rows", "missing_share", "mean", "std"}
    assert set(data["features"]["x"]["histogram"]) == {"edges", "reference", "current"}
    categorical = {"chi2", "cramers_v", "js_distance", "new_categories", "new_category_share", "largest_change"}
    assert set(data["features"]["plan"]) == sides | verdict | categorical
    assert data["features"]["plan"]["reference"] == {"rows": 500}
    assert set(data["features"]["plan"]["largest_change"]) == {"category", "reference", "current"}
    assert set(data["target"]) == sides | verdict | {"ks_statistic", "psi", "column"}
    assert data["target"]["column"] == "y"
    assert set(data["features"]["x"]["thresholds"]) == {"ks_statistic", "psi"}
    assert set(data["features"]["plan"]["thresholds"]) == {"js_distance", "new_category_share"}
    assert data["drifted_features"] == ["x"]
    assert data["rows"] == {"reference": 500, "current": 500}
    assert data["settings"] == DriftParams().model_dump(mode="json", exclude={"current"})
    assert (data["sources"], data["plots"], data["prediction"]) == ({}, {}, None)
    assert Sources("a", "b").to_json() == {"reference": "a", "current": "b"}
