"""Live against holdout, both samples uncertain: a stratified two-sample bootstrap, and DeLong's test for AUC.

Each resample redraws the live rows and the holdout rows, each class within its own rows (a classifier's class
counts are kept on both sides, so a resample never loses a class the sample has). Every metric is computed for
a whole chunk of resamples at once from sums over the drawn rows (a confusion matrix per resample; AUC a
weighted Mann-Whitney over the sorted scores), so 2000 resamples cost a few array operations rather than 2000
calls of Predictions.scores, which they equal (tests/unit/monitor/test_two_sample.py). A binary AUC gets DeLong's
variance instead: var(live) + var(holdout) from each sample's structural components (DeLong, DeLong and
Clarke-Pearson 1988).

Pure numpy and scipy: arrays in, numbers out. performance.py turns them into verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..metrics import Predictions

CHUNK_CELLS = 4_000_000  # resamples are drawn this many counts at a time (32 MB of float64)


def strata(predictions: Predictions) -> list[np.ndarray]:
    """The rows each resample redraws within: one group per class of a classifier, all rows for a regressor."""
    if predictions.task == "regression":
        return [np.arange(len(predictions.actual))]
    return [np.flatnonzero(predictions.actual == code) for code in np.unique(predictions.actual)]


def resample_rows(groups: list[np.ndarray], rows: int, draws: int, size: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of bootstrap resamples as row numbers (draws x about `size`): each group redrawn with replacement, its
    share of `size` rows (fewer than `rows`: the m-out-of-n bootstrap)."""
    rng = np.random.default_rng(seed)
    shares = [max(1, round(len(group) * size / rows)) for group in groups]
    per_chunk = max(1, CHUNK_CELLS // max(sum(shares), 1))
    for start in range(0, draws, per_chunk):
        count = min(per_chunk, draws - start)
        yield np.hstack(
            [group[rng.integers(0, len(group), (count, share))] for group, share in zip(groups, shares, strict=True)]
        )


def counts_of(picked: np.ndarray, rows: int) -> np.ndarray:
    """The resamples as counts per row (draws x rows)."""
    offsets = np.arange(len(picked))[:, None] * rows
    return np.bincount((picked + offsets).ravel(), minlength=len(picked) * rows).reshape(len(picked), rows)


def weighted_auc(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Per row of `weights` (counts per sample row), the Mann-Whitney AUC of the weighted rows (ties count half)."""
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_score)) + 1]  # one group per distinct score
    w = weights[:, order]
    pos = positive[order]
    pos_groups = np.add.reduceat(w * pos, starts, axis=1)
    neg_groups = np.add.reduceat(w * ~pos, starts, axis=1)
    below = np.cumsum(neg_groups, axis=1) - neg_groups
    wins = (pos_groups * (below + 0.5 * neg_groups)).sum(axis=1)
    pairs = pos_groups.sum(axis=1) * neg_groups.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1), np.nan)


def resampled_scores(predictions: Predictions, picked: np.ndarray, auc: bool = True) -> dict[str, np.ndarray]:
    """Every metric of the task per resample (a row of `picked` row numbers): Predictions.scores of those rows, from
    sums over them (roc_auc nan unless `auc`: the costliest, not needed where DeLong judges it)."""
    actual, predicted = predictions.actual, predictions.predicted
    size = picked.shape[1]
    if predictions.task == "regression":
        errors = actual - predicted
        squares = (errors**2)[picked].sum(axis=1)
        level = actual[picked]
        spread = ((level - level.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = np.where(spread > 0, 1 - squares / np.where(spread > 0, spread, 1), np.nan)
        return {"rmse": np.sqrt(squares / size), "mae": np.abs(errors)[picked].sum(axis=1) / size, "r2": r2}
    k = len(predictions.labels)
    cells = (actual * k + predicted)[picked] + np.arange(len(picked))[:, None] * k * k
    matrix = np.bincount(cells.ravel(), minlength=len(picked) * k * k).reshape(len(picked), k, k)
    support, predicted_count = matrix.sum(axis=2), matrix.sum(axis=1)
    hits = np.diagonal(matrix, axis1=1, axis2=2)
    truth = np.clip(predictions.proba[np.arange(len(actual)), actual], np.finfo(float).eps, 1.0)
    present = (support + predicted_count) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        balanced = np.nanmean(np.where(support > 0, hits / np.where(support > 0, support, 1), np.nan), axis=1)
        f1 = np.nanmean(np.where(present, 2 * hits / np.maximum(support + predicted_count, 1), np.nan), axis=1)
    auc_values = np.full(len(picked), np.nan)
    if auc:
        counts = counts_of(picked, len(actual))
        in_truth = np.flatnonzero(np.bincount(actual, minlength=k) > 0)
        if k == 2:
            auc_values = weighted_auc(counts, actual == 1, predictions.proba[:, 1])
        elif len(in_truth) > 1:  # one-vs-rest, macro over the classes present (stratified: in every resample)
            auc_values = np.mean([weighted_auc(counts, actual == c, predictions.proba[:, c]) for c in in_truth], axis=0)
    return {
        "roc_auc": auc_values,
        "accuracy": hits.sum(axis=1) / size,
        "balanced_accuracy": balanced,
        "f1_macro": f1,
        "log_loss": -np.log(truth)[picked].sum(axis=1) / size,
    }


def bootstrap_draws(
    predictions: Predictions, draws: int, seed: int, max_rows: int | None, auc: bool = True
) -> dict[str, np.ndarray]:
    """`draws` stratified resamples of every metric, spread about the point value as on the whole sample (with
    more rows than `max_rows`, resamples of max_rows rows scaled back by sqrt(max_rows / rows): the metrics are
    averages and ranks whose spread shrinks as 1/sqrt(rows)). Undefined resamples stay nan, to be counted."""
    rows = len(predictions.actual)
    size = rows if max_rows is None else min(rows, max_rows)
    chunks = resample_rows(strata(predictions), rows, draws, size, seed)
    parts = [resampled_scores(predictions, picked, auc) for picked in chunks]
    point = predictions.scores()
    scale = math.sqrt(size / rows)
    return {name: point[name] + (np.concatenate([p[name] for p in parts]) - point[name]) * scale for name in point}


@dataclass(frozen=True)
class Difference:
    """One metric, live - holdout: the point, its standard error, the method, the undefined resamples per side."""

    difference: float
    se: float
    method: str  # "delong" or "bootstrap"
    undefined_live: int = 0
    undefined_holdout: int = 0
    draws: np.ndarray | None = None  # the bootstrap's differences (None for DeLong)
    live_se: float = math.nan  # DeLong: the live AUC's own standard error


def delong_components(positive: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """A binary AUC and DeLong's variance of it: var(V10) / m + var(V01) / n over the structural components."""
    pos, neg = score[positive], score[~positive]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return math.nan, math.nan
    ranks = stats.rankdata(np.r_[pos, neg])
    v10 = (ranks[:m] - stats.rankdata(pos)) / n  # each positive: the share of negatives it outranks
    v01 = 1 - (ranks[m:] - stats.rankdata(neg)) / m  # each negative: the share of positives above it
    auc = float(v10.mean())
    return auc, float(v10.var(ddof=1) / m + v01.var(ddof=1) / n)


def delong(live: Predictions, holdout: Predictions) -> Difference:
    """DeLong's two-sample (unpaired) test of a binary AUC: the variance of the difference is the sum."""
    auc_live, var_live = delong_components(live.actual == 1, live.proba[:, 1])
    auc_holdout, var_holdout = delong_components(holdout.actual == 1, holdout.proba[:, 1])
    return Difference(auc_live - auc_holdout, math.sqrt(var_live + var_holdout), "delong", live_se=math.sqrt(var_live))


def p_worse(difference: Difference, allowed: float, higher_is_better: bool) -> float:
    """One-sided p-value that live is worse than the holdout by more than `allowed`: the difference's standard
    error on the normal curve (a share of 2000 draws would floor at 5e-4, above what Holm over a month's looks
    asks for)."""
    worse = -difference.difference if higher_is_better else difference.difference
    if not (math.isfinite(worse) and math.isfinite(difference.se)):
        return math.nan
    if difference.se == 0:
        return 0.0 if worse > allowed else 1.0
    return float(stats.norm.sf((worse - allowed) / difference.se))
