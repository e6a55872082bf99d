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

CHUNK_CELLS = 1000000  # resamples are drawn this many counts at a time (32 MB of float64)


def strata(predictions: Predictions) -> list[np.ndarray]:
    """The rows each resample redraws within: one group per class of a classifier (its rows in the order of their
    predicted class), all rows for a regressor."""
    if predictions.task == "regression":
        return [np.arange(len(predictions.actual))]
    groups = [np.flatnonzero(predictions.actual == code) for code in np.unique(predictions.actual)]
    return [group[np.argsort(predictions.predicted[group], kind="stable")] for group in groups]


def resample_positions(
    groups: list[np.ndarray], rows: int, draws: int, size: int, seed: int
) -> Iterator[list[np.ndarray]]:
    """Chunks of bootstrap resamples as positions within each group (one draws x share array per group): each group
    redrawn with replacement, its share of `size` rows (fewer than `rows`: the m-out-of-n bootstrap)."""
    rng = np.random.default_rng(seed)
    shares = [max(1, round(len(group) * size / rows)) for group in groups]
    per_chunk = max(1, CHUNK_CELLS // max(sum(shares), 1))
    for start in range(0, draws, per_chunk):
        count = min(per_chunk, draws - start)
        yield [
            rng.integers(0, len(group), (count, share), dtype=np.int32)
            for group, share in zip(groups, shares, strict=True)
        ]


def resample_rows(groups: list[np.ndarray], rows: int, draws: int, size: int, seed: int) -> Iterator[np.ndarray]:
    """The same resamples as row numbers (draws x about `size`)."""
    for positions in resample_positions(groups, rows, draws, size, seed):
        yield np.hstack([group[part] for group, part in zip(groups, positions, strict=True)])


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
    auc_values = np.full(len(picked), np.nan)
    if auc:
        counts = counts_of(picked, len(actual))
        in_truth = np.flatnonzero(np.bincount(actual, minlength=k) > 0)
        if k == 2:
            auc_values = weighted_auc(counts, actual == 1, predictions.proba[:, 1])
        elif len(in_truth) > 1:  # one-vs-rest, macro over the classes present (stratified: in every resample)
            auc_values = np.mean([weighted_auc(counts, actual == c, predictions.proba[:, c]) for c in in_truth], axis=0)
    return from_confusion(matrix, log_losses(predictions)[picked].sum(axis=1), size, auc_values)


def log_losses(predictions: Predictions) -> np.ndarray:
    """Each row's log loss: minus the log of the probability given to its true class."""
    truth = predictions.proba[np.arange(len(predictions.actual)), predictions.actual]
    losses: np.ndarray = -np.log(np.clip(truth, np.finfo(float).eps, 1.0))
    return losses


def from_confusion(matrix: np.ndarray, loss: np.ndarray, size: int, auc_values: np.ndarray) -> dict[str, np.ndarray]:
    """A classifier's metrics per resample from its confusion matrix (resamples x actual x predicted), its summed log
    loss and its AUC."""
    support, predicted_count = matrix.sum(axis=2), matrix.sum(axis=1)
    hits = np.diagonal(matrix, axis1=1, axis2=2)
    present = (support + predicted_count) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        balanced = np.nanmean(np.where(support > 0, hits / np.where(support > 0, support, 1), np.nan), axis=1)
        f1 = np.nanmean(np.where(present, 2 * hits / np.maximum(support + predicted_count, 1), np.nan), axis=1)
    return {
        "roc_auc": auc_values,
        "accuracy": hits.sum(axis=1) / size,
        "balanced_accuracy": balanced,
        "f1_macro": f1,
        "log_loss": loss / size,
    }


def counted_scores(
    predictions: Predictions,
    groups: list[np.ndarray],
    positions: list[np.ndarray],
    group_losses: list[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """A classifier's metrics but AUC per resample, from positions within its strata (one group per class, in the
    order of the predicted class: a position's predicted class is which run of its group it falls in, so the
    confusion matrix is a few comparisons, with no row numbers gathered). Equal to resampled_scores(auc=False) of
    the same resamples as rows, at a third of the cost. `group_losses`: each group's log losses, when computed."""
    k = len(predictions.labels)
    draws = len(positions[0])
    matrix = np.zeros((draws, k, k), dtype=np.int64)
    loss = np.zeros(draws)
    if group_losses is None:
        group_losses = [log_losses(predictions)[group] for group in groups]
    for group, part, losses in zip(groups, positions, group_losses, strict=True):
        actual = int(predictions.actual[group[0]])
        bounds = np.searchsorted(predictions.predicted[group], np.arange(k + 1))  # each predicted class's run
        below = [np.zeros(draws, dtype=np.int64) if b == 0 else (part < b).sum(axis=1) for b in bounds[:-1]]
        below.append(np.full(draws, part.shape[1], dtype=np.int64))
        for code in range(k):
            if bounds[code] < bounds[code + 1]:
                matrix[:, actual, code] = below[code + 1] - below[code]
        loss += losses[part].sum(axis=1)
    return from_confusion(matrix, loss, sum(part.shape[1] for part in positions), np.full(draws, np.nan))


def bootstrap_draws(
    predictions: Predictions,
    draws: int,
    seed: int,
    max_rows: int | None,
    auc: bool = True,
    point: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """`draws` stratified resamples of every metric, spread about the point value as on the whole sample (with
    more rows than `max_rows`, resamples of max_rows rows scaled back by sqrt(max_rows / rows): the metrics are
    averages and ranks whose spread shrinks as 1/sqrt(rows)). Undefined resamples stay nan, to be counted. `point`:
    predictions.scores(), when already computed."""
    rows = len(predictions.actual)
    size = rows if max_rows is None else min(rows, max_rows)
    groups = strata(predictions)
    counted = predictions.task != "regression" and not auc
    group_losses = [log_losses(predictions)[group] for group in groups] if counted else None
    parts = [
        counted_scores(predictions, groups, positions, group_losses)
        if counted
        else resampled_scores(predictions, np.hstack([g[p] for g, p in zip(groups, positions, strict=True)]), auc)
        for positions in resample_positions(groups, rows, draws, size, seed)
    ]
    point = predictions.scores() if point is None else point
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
