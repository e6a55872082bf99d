"""Per-column drift statistics: KS and PSI for numeric columns, chi-square, Cramer's V, Jensen-Shannon and new
categories for categorical ones, and p-value adjustment across columns.

Each column also gets the histogram its plot is drawn from, so the report never reads the data again, and each
effect size's null quantile at the two sample sizes (calibration.py): what it reaches by chance alone. The
chi-square test runs on the table with its sparse categories pooled (calibration.pooled), where its law holds.

Cramer's V is reported but decides nothing: it is sqrt(chi2 / n), and chi2 grows with the harmonic mean
of the two sample sizes, not with n, so the same 50/50 -> 60/40 shift has V 0.10 at 10k:10k rows and
0.02 at 1M:10k. The categorical effect sizes that drift.py judges (Jensen-Shannon distance, the share of
new categories) compare the two distributions' shares only, whatever the sizes.

Pure functions on arrays and Series; drift.py decides what they mean; drift_result.py holds the types they fill.

Only scipy.special is imported here: importing scipy.stats costs 0.5 s, a sixth of the drift check's budget at
1M rows. The formulas it would give us (chi-square test, Cramer's V, Jensen-Shannon distance, Benjamini-Hochberg)
are written out on scipy.special's distribution functions, and tests/unit/monitor/test_stats.py checks each
against scipy.stats. scipy.stats is imported on demand for the exact KS p-value of samples of different sizes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import special

from ..columns import NUMERIC, Treatment
from ..errors import DriftInputError
from . import calibration
from .drift_result import (
    CategoricalSide,
    CategoricalStatistics,
    CategoryHistogram,
    NumericHistogram,
    NumericSide,
    NumericStatistics,
    ShareChange,
    Statistics,
)

MISSING = "(missing)"  # missing values are a category of their own, and a PSI bin of their own
PROPORTION_FLOOR = 1e-4  # empty bins would make PSI infinite
EXACT_KS_ROWS = 10_000  # up to this many rows a side, exact KS p-values (ks_test)
HISTOGRAM_BINS = 40  # the plot of a numeric column
HISTOGRAM_RANGE = (0.005, 0.995)  # quantiles: a few outliers must not squash the plot
TOP_CATEGORIES = 15  # the plot of a categorical column

# --- per column ----------------------------------------------------------------------------------


def as_float(series: pd.Series, side: str) -> np.ndarray:
    """A numeric column as float64 with NaN for missing values; DriftInputError if it is not numeric."""
    try:
        return series.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise DriftInputError(f"column {series.name!r}: the {side} values are not numeric") from None


def psi(reference_share: np.ndarray, current_share: np.ndarray) -> float:
    """Population stability index of two binned distributions (shares floored to avoid log(0))."""
    ref = np.maximum(reference_share, PROPORTION_FLOOR)
    cur = np.maximum(current_share, PROPORTION_FLOOR)
    return float(np.sum(special.rel_entr(cur, ref) + special.rel_entr(ref, cur)))


def _binned(sorted_values: np.ndarray, edges: np.ndarray, missing: int, with_missing: bool) -> np.ndarray:
    """Counts of rows in (-inf, e1], (e1, e2], ..., (ek, inf) (+ missing), from sorted values."""
    cuts = np.searchsorted(sorted_values, edges, side="right")
    counts: np.ndarray = np.diff(np.concatenate(([0], cuts, [len(sorted_values)])))
    if with_missing:
        counts = np.append(counts, missing)
    return counts


def _shares(counts: np.ndarray) -> np.ndarray:
    shares: np.ndarray = counts / max(counts.sum(), 1)
    return shares


def _summary(values: np.ndarray, missing: int) -> NumericSide:
    rows = len(values) + missing
    # An infinite value makes the mean infinite (NaN with both signs) and the std NaN: the report shows them
    # as unknown (finite), so numpy's "invalid value" RuntimeWarning would only repeat that on stderr.
    with np.errstate(invalid="ignore"):
        return NumericSide(
            rows=rows,
            missing_share=missing / rows if rows else 0.0,
            mean=float(values.mean()) if len(values) else None,
            std=float(values.std()) if len(values) else None,
        )


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and two-sided p-value of two sorted, NaN-free arrays.

    Up to EXACT_KS_ROWS rows a side the p-value is exact: scipy's ks_2samp, or for two samples of the same
    size `equal_size_p_value` (see there why not scipy's). Above, the statistic is read off the arrays we
    already sorted (`ks_statistic`: ks_2samp would sort both again and search each in the other), and the
    p-value is Kolmogorov's limit law (scipy.special.kolmogorov, the same function as scipy.stats.kstwobign.sf).
    """
    n_ref, n_cur = len(reference), len(current)
    if max(n_ref, n_cur) <= EXACT_KS_ROWS:
        if n_ref == n_cur:
            statistic = ks_statistic(reference, current)
            return statistic, equal_size_p_value(n_ref, round(statistic * n_ref))
        from scipy import stats

        test = stats.ks_2samp(reference, current, method="exact")
        return float(test.statistic), float(test.pvalue)
    statistic = ks_statistic(reference, current)
    return statistic, float(special.kolmogorov(statistic * np.sqrt(n_ref * n_cur / (n_ref + n_cur))))


def ks_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """The largest distance between the ECDFs of two sorted, NaN-free, non-empty arrays, merging them.

    The integer arithmetic is exact up to ~3e9 rows a side.
    """
    n_ref, n_cur = len(reference), len(current)
    n_rows = n_ref + n_cur
    merged = np.concatenate((reference, current))
    order = np.argsort(merged, kind="stable")  # timsort: two sorted runs merge in linear time
    # The ECDFs only step at data values: compare them where a run of equal values ends.
    ends = np.empty(n_rows, dtype=bool)
    values = merged[order]
    np.not_equal(values[1:], values[:-1], out=ends[:-1])
    ends[-1] = True
    del merged, values
    # exact integers in place: 35 ms and 47 MB at 1M rows a side, where floats with temporaries took 60 ms and 137 MB
    gap = np.cumsum(order < n_ref, out=order)  # reference rows among the first i + 1
    gap *= n_rows
    gap -= np.arange(n_ref, (n_rows + 1) * n_ref, n_ref)
    np.abs(gap, out=gap)  # n_ref * n_cur * |F_ref - F_cur| after each merged row
    return int(gap.max(where=ends, initial=0)) / (n_ref * n_cur)


def equal_size_p_value(n: int, steps: int) -> float:
    """The exact two-sided p-value P(D >= steps / n) of the KS statistic D of two samples of n rows each.

    It is 2 * sum over k >= 1 of (-1)^(k+1) * C(2n, n - k * steps) / C(2n, n) (Gnedenko and Korolyuk), summed
    as scipy does (nested, each term the previous one times `steps` ratios). scipy's ks_2samp computes the same
    sum, but when the statistic is a few steps only (samples alike, p close to 1) rounding puts it a few ulps
    above 1: scipy then drops it, warns (RuntimeWarning "Exact calculation unsuccessful") and answers with its
    asymptotic formula instead. Here that rounding is cut off at 1.
    """
    if steps <= 0:
        return 1.0
    # ratios[k]: C(2n, n - (k + 1) * steps) / C(2n, n - k * steps), a product of `steps` fractions; the last
    # one holds the factor 0 (n - n) and ends the sum.
    index = np.arange(n // steps + 1)[:, np.newaxis] * steps + np.arange(steps)
    ratios = np.prod((n - index) / (n + index + 1), axis=1)
    outside = 0.0
    for ratio in ratios[::-1]:
        outside = ratio * (1.0 - outside)
    return float(min(max(2.0 * outside, 0.0), 1.0))


def numeric_histogram(reference: np.ndarray, current: np.ndarray) -> NumericHistogram | None:
    """Shares of each side's values in HISTOGRAM_BINS equal bins over both sides' bulk, from sorted,
    NaN-free arrays (values beyond the range, infinities too, count in the first or last bin); None if
    neither side has a finite value."""
    sides = (reference, current)
    finite = [values[np.searchsorted(values, -np.inf, "right") : np.searchsorted(values, np.inf)] for values in sides]
    finite = [values for values in finite if len(values)]
    if not finite:
        return None
    low = min(values[int(HISTOGRAM_RANGE[0] * (len(values) - 1))] for values in finite)
    high = max(values[int(HISTOGRAM_RANGE[1] * (len(values) - 1))] for values in finite)
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    inner = edges[1:-1]
    return NumericHistogram(
        edges=tuple(edges.tolist()),
        reference=tuple(_shares(_binned(reference, inner, 0, with_missing=False)).tolist()),
        current=tuple(_shares(_binned(current, inner, 0, with_missing=False)).tolist()),
    )


def numeric_statistics(
    reference: np.ndarray, current: np.ndarray, bins: int, alpha: float = 0.05, psi_limit: float = 0.1
) -> NumericStatistics:
    """KS statistic and p-value, PSI on `bins` reference-quantile bins (+ a missing bin if any), histogram, and the
    effect sizes' null quantiles at these sizes (calibration.py; `psi_limit`: the threshold PSI is judged at)."""
    ref, cur = np.sort(reference), np.sort(current)  # NaNs sort to the end: cut them off
    n_ref_missing = len(ref) - int(np.searchsorted(ref, np.nan, side="left"))
    n_cur_missing = len(cur) - int(np.searchsorted(cur, np.nan, side="left"))
    ref, cur = ref[: len(ref) - n_ref_missing], cur[: len(cur) - n_cur_missing]
    if len(ref) and len(cur):
        ks, p_value = ks_test(ref, cur)
        edges = np.unique(ref[(np.arange(1, bins) * len(ref)) // bins])
    elif len(ref) or len(cur):  # one side has no values at all: as different as it gets
        ks, p_value, edges = 1.0, 0.0, np.unique((ref if len(ref) else cur)[:1])
    else:
        ks, p_value, edges = 0.0, 1.0, np.array([])
    with_missing = bool(n_ref_missing or n_cur_missing)
    table = np.vstack(
        [_binned(ref, edges, n_ref_missing, with_missing), _binned(cur, edges, n_cur_missing, with_missing)]
    )
    null = {"ks_statistic": calibration.ks_threshold(len(ref), len(cur), alpha)}
    null |= calibration.permutation_thresholds(table, alpha, {"psi": psi_limit})
    return NumericStatistics(
        p_value=p_value,
        ks_statistic=ks,
        psi=psi(_shares(table[0]), _shares(table[1])),
        reference=_summary(ref, n_ref_missing),
        current=_summary(cur, n_cur_missing),
        histogram=numeric_histogram(ref, cur),
        null_quantiles=null,
    )


def category_table(reference: pd.Series, current: pd.Series) -> tuple[list[str], np.ndarray]:
    """(categories, 2 x k table of row counts): missing values counted as the category MISSING."""
    codes, uniques = pd.factorize(pd.concat([reference, current], ignore_index=True), use_na_sentinel=True)
    width = len(uniques) + 1
    codes = np.where(codes < 0, width - 1, codes)
    table = np.vstack(
        [np.bincount(codes[: len(reference)], minlength=width), np.bincount(codes[len(reference) :], minlength=width)]
    )
    names = [str(value) for value in uniques] + [MISSING]
    if not table[:, -1].any():
        names, table = names[:-1], table[:, :-1]
    return names, table


def chi_square(table: np.ndarray) -> tuple[float, float, float]:
    """(statistic, p-value, Cramer's V) of Pearson's chi-square test of independence on a 2 x k table
    of counts whose columns are not empty (scipy.stats.chi2_contingency without continuity correction)."""
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    cramers_v = float(np.sqrt(statistic / (total * (min(table.shape) - 1))))
    return statistic, float(special.chdtrc(dof, statistic)), cramers_v


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, so within [0, 1]) of two distributions."""
    middle = (p + q) / 2
    divergence = (np.sum(special.rel_entr(p, middle)) + np.sum(special.rel_entr(q, middle))) / 2
    return float(np.sqrt(max(divergence, 0.0) / np.log(2)))


def categorical_statistics(
    reference: pd.Series, current: pd.Series, alpha: float = 0.05, js_limit: float = 0.1
) -> CategoricalStatistics:
    """Chi-square test (sparse categories pooled), Cramer's V, Jensen-Shannon distance, new categories, the top
    categories' shares, and the effect sizes' null quantiles at these sizes (calibration.py)."""
    names, table = category_table(reference, current)
    n_ref, n_cur = int(table[0].sum()), int(table[1].sum())
    is_new = (table[0] == 0) & (table[1] > 0)
    tested = calibration.pooled(table) if len(names) >= 2 and n_ref and n_cur else table
    if tested.shape[1] >= 2:
        chi2, p_value, cramers_v = chi_square(tested)
        js = js_distance(table[0] / n_ref, table[1] / n_cur)
        null = calibration.permutation_thresholds(table, alpha, {"js_distance": js_limit})
    else:  # one category only (after pooling), or an empty side: nothing to test
        chi2, p_value, cramers_v, js = 0.0, 1.0, 0.0, 0.0
        null = {"js_distance": 0.0}
    null["new_category_share"] = calibration.new_share_threshold(table[0], n_cur, alpha) if n_cur else 0.0
    shares = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    moved = int(np.argmax(np.abs(shares[0] - shares[1])))
    top = np.argsort(-shares.sum(axis=0), kind="stable")[:TOP_CATEGORIES]
    return CategoricalStatistics(
        p_value=p_value,
        chi2=chi2,
        cramers_v=cramers_v,
        js_distance=js,
        new_categories=tuple(sorted(name for name, new in zip(names, is_new, strict=True) if new)[:20]),
        new_category_share=float(table[1][is_new].sum() / n_cur) if n_cur else 0.0,
        largest_change=ShareChange(names[moved], float(shares[0, moved]), float(shares[1, moved])),
        reference=CategoricalSide(n_ref),
        current=CategoricalSide(n_cur),
        histogram=CategoryHistogram(
            categories=tuple(names[i] for i in top),
            reference=tuple(shares[0, top].tolist()),
            current=tuple(shares[1, top].tolist()),
        ),
        null_quantiles=null,
    )


def column_statistics(
    reference: pd.Series, current: pd.Series, kind: Treatment, bins: int, alpha: float, limits: Mapping[str, float]
) -> Statistics:
    """The statistics of one column, by kind; `limits`: the configured thresholds (psi, js_distance)."""
    if kind == NUMERIC:
        ref, cur = as_float(reference, "reference"), as_float(current, "current")
        return numeric_statistics(ref, cur, bins, alpha, limits["psi"])
    return categorical_statistics(reference, current, alpha, limits["js_distance"])
