"""Per-column drift statistics: KS and PSI for numeric columns, chi-square, Cramer's V,
Jensen-Shannon and new categories for categorical ones, and p-value adjustment across columns.

Pure functions on arrays and Series; drift.py decides what they mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

NUMERIC, CATEGORICAL = "numeric", "categorical"
MISSING = "(missing)"  # missing values are a category of their own, and a PSI bin of their own
PROPORTION_FLOOR = 1e-4  # empty bins would make PSI infinite
EXACT_KS_ROWS = 10_000  # up to this many rows a side, scipy's ks_2samp with exact p-values


class DriftInputError(ValueError):
    """The two tables cannot be compared (different columns, values of the wrong type)."""


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
    return float(np.sum(rel_entr(cur, ref) + rel_entr(ref, cur)))


def _binned(sorted_values: np.ndarray, edges: np.ndarray, missing: int, with_missing: bool) -> np.ndarray:
    """Shares of all rows in (-inf, e1], (e1, e2], ..., (ek, inf) (+ missing), from sorted values."""
    cuts = np.searchsorted(sorted_values, edges, side="right")
    counts = np.diff(np.concatenate(([0], cuts, [len(sorted_values)])))
    if with_missing:
        counts = np.append(counts, missing)
    return counts / max(counts.sum(), 1)


def _summary(values: np.ndarray, missing: int) -> dict[str, Any]:
    rows = len(values) + missing
    return {
        "rows": rows,
        "missing_share": missing / rows if rows else 0.0,
        "mean": float(values.mean()) if len(values) else None,
        "std": float(values.std()) if len(values) else None,
    }


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and two-sided p-value of two sorted, NaN-free arrays.

    Up to EXACT_KS_ROWS rows a side this is scipy's ks_2samp. Above, the same statistic is read off
    the arrays we already sorted (ks_2samp would sort again and build 2n-long temporaries: 2-3x the
    time at 1M rows), and the p-value is Kolmogorov's limit law (scipy.stats.kstwobign).
    """
    n_ref, n_cur = len(reference), len(current)
    if max(n_ref, n_cur) <= EXACT_KS_ROWS:
        test = stats.ks_2samp(reference, current)
        return float(test.statistic), float(test.pvalue)
    # The ECDFs only step at data values: compare them at the last copy of each value on either side.
    ref_last = np.flatnonzero(np.append(reference[1:] != reference[:-1], True))
    cur_last = np.flatnonzero(np.append(current[1:] != current[:-1], True))
    at_ref = np.abs((ref_last + 1) / n_ref - np.searchsorted(current, reference[ref_last], side="right") / n_cur)
    at_cur = np.abs(np.searchsorted(reference, current[cur_last], side="right") / n_ref - (cur_last + 1) / n_cur)
    statistic = float(max(at_ref.max(), at_cur.max()))
    return statistic, float(stats.kstwobign.sf(statistic * np.sqrt(n_ref * n_cur / (n_ref + n_cur))))


def numeric_statistics(reference: np.ndarray, current: np.ndarray, bins: int) -> dict[str, Any]:
    """KS statistic and p-value, and PSI on `bins` reference-quantile bins (+ a missing bin if any)."""
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
    shares = (
        _binned(ref, edges, n_ref_missing, with_missing),
        _binned(cur, edges, n_cur_missing, with_missing),
    )
    return {
        "kind": NUMERIC,
        "p_value": p_value,
        "ks_statistic": ks,
        "psi": psi(*shares),
        "reference": _summary(ref, n_ref_missing),
        "current": _summary(cur, n_cur_missing),
    }


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


def _top_shares(names: list[str], counts: np.ndarray, limit: int = 5) -> dict[str, float]:
    total = counts.sum()
    order = [i for i in np.argsort(-counts, kind="stable")[:limit] if counts[i]]
    return {names[i]: float(counts[i] / total) for i in order}


def categorical_statistics(reference: pd.Series, current: pd.Series) -> dict[str, Any]:
    """Chi-square test, Cramer's V, Jensen-Shannon distance and new categories."""
    names, table = category_table(reference, current)
    n_ref, n_cur = int(table[0].sum()), int(table[1].sum())
    is_new = (table[0] == 0) & (table[1] > 0)
    if len(names) >= 2 and n_ref and n_cur:
        test = stats.chi2_contingency(table, correction=False)
        chi2, p_value = float(test.statistic), float(test.pvalue)
        cramers_v = float(stats.contingency.association(table, method="cramer", correction=False))
        js = float(jensenshannon(table[0] / n_ref, table[1] / n_cur, base=2))
    else:  # one category only, or an empty side: nothing to test
        chi2, p_value, cramers_v, js = 0.0, 1.0, 0.0, 0.0
    shares = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    moved = int(np.argmax(np.abs(shares[0] - shares[1])))
    return {
        "kind": CATEGORICAL,
        "p_value": p_value,
        "chi2": chi2,
        "cramers_v": cramers_v,
        "js_distance": js,
        "new_categories": sorted(name for name, new in zip(names, is_new, strict=True) if new)[:20],
        "new_category_share": float(table[1][is_new].sum() / n_cur) if n_cur else 0.0,
        "largest_change": {
            "category": names[moved],
            "reference": float(shares[0, moved]),
            "current": float(shares[1, moved]),
        },
        "reference": {"rows": n_ref, "top": _top_shares(names, table[0])},
        "current": {"rows": n_cur, "top": _top_shares(names, table[1])},
    }


def column_statistics(reference: pd.Series, current: pd.Series, kind: str, bins: int) -> dict[str, Any]:
    """The statistics of one column, by kind."""
    if kind == NUMERIC:
        return numeric_statistics(as_float(reference, "reference"), as_float(current, "current"), bins)
    return categorical_statistics(reference, current)


# --- across columns ------------------------------------------------------------------------------


def adjust_p_values(p_values: Sequence[float], method: str) -> np.ndarray:
    """p-values adjusted for testing many columns: holm, bonferroni, fdr_bh (Benjamini-Hochberg) or none."""
    p = np.asarray(p_values, dtype="float64")
    if method == "none" or p.size == 0:
        return p
    if method == "bonferroni":
        return np.minimum(p * p.size, 1.0)
    if method == "fdr_bh":
        return stats.false_discovery_control(p, method="bh")
    if method == "holm":  # step-down: the k-th smallest p times (m - k + 1), kept monotone
        order = np.argsort(p, kind="stable")
        stepped = np.maximum.accumulate(p[order] * (p.size - np.arange(p.size)))
        adjusted = np.empty_like(p)
        adjusted[order] = np.minimum(stepped, 1.0)
        return adjusted
    raise ValueError(f"unknown correction {method!r}")
