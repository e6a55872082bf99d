"""Multivariate drift: can a classifier tell the current rows from the reference rows?

Per-column tests see each marginal distribution alone: a change in how features go together (a correlation that
appears or flips, a combination that was rare becoming common) leaves every marginal as it was, and every column
test silent. A domain classifier sees the rows whole. A fast gradient-boosted model (scikit-learn's
HistGradientBoostingClassifier, few iterations, native categories and missing values) learns reference (0) vs
current (1), cross-fitted: each fold's rows are scored by the model trained on the other folds, and the effect
size is the mean over the folds of each fold's AUC (0.5: the two cannot be told apart; 1: wholly different).

- Threshold: a permutation null, the domain labels permuted within a fold over its scores (seeded): exact for one
  fold's AUC, whose model never saw that fold. Not for the folds together: each model learns the chance patterns
  of the other folds' rows, so the folds' AUCs are positively correlated under no change, and the AUC of all the
  out-of-fold scores against labels permuted within every fold rejected 12 % at a nominal 5 % (n = 200, 100 runs).
  A mean of correlated AUCs varies no more than one of them, so the threshold is the largest fold's (1 - alpha)
  null quantile: conservative (1 % false alarms at n = 50 and 200 a side, none at 1000 and 2000, 200 runs each).
  The data drifts when the AUC reaches the larger of it and `drift.multivariate_auc`: at large n an AUC of 0.51
  is significant but harmless, as a tiny shift is for the column tests.
- Attribution, when the sides are told apart: permutation importance of the domain classifier on its held-out
  folds, the AUC lost when one feature's values are shuffled among the held-out rows (which also breaks its
  relation with the others, so the two features of a correlation-only change both show). Averaged over the
  folds, weighted by their rows.
- Size: each side is a seeded uniform sample of at most SIDE_ROWS rows (the result says so): the AUC is a mean
  over rows, and its null threshold at 2 x 5000 rows is already 0.52.

Measured (benchmarks/results/multivariate.md): a correlation 0 -> 0.5 of two of five features found in 200 of 200 runs
at n = 2000 a side (94 % at 1000); the drift check 0.2-0.4 s longer at 10k or 1M rows a side (20 features, 2 loaded
cores).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

from ..columns import NUMERIC, Treatment
from .calibration import upper_threshold
from .drift_result import FeatureSeparation, MultivariateDrift, RowCounts

SEED = 20_241_206  # the sample, the folds, the models and the null: the same data, the same verdict
SIDE_ROWS = 5_000  # rows per side at most (a seeded sample of the rest)
MIN_SIDE_ROWS = 20  # fewer rows on a side: not judged (a 3-fold split would leave a fold next to nothing)
FOLDS = 3
ITERATIONS = 20  # boosting rounds: a correlation change of two features (0 -> 0.5) reaches AUC ~0.59 at n = 2000
NULL_DRAWS = 500  # permutations of the domain labels
SKIP_BELOW = 0.5  # no permutations where the normal approximation puts the null quantile this far under the floor
BINS = 63  # histogram bins per feature: a quarter of the default 255, a fifth of the time, the same AUC here
MAX_CATEGORIES = BINS - 1  # a categorical feature's most frequent categories kept apart (the rest are one)
# ... if they have this many rows over both sides: rarer values (a long tail, ids, free text: each side's own) are
# one category, so that no code depends on which side was seen first
MIN_CATEGORY_ROWS = 10
TOP_FEATURES = 5
BLOCK_CELLS = 2_000_000  # values scored in one call of the attribution (16 MB)


@dataclass(frozen=True)
class Fold:
    """One fold of the cross-fitting: the model trained on the other folds, and the rows it scored."""

    model: Any  # a fitted HistGradientBoostingClassifier (scikit-learn is untyped)
    rows: np.ndarray


def sample_rows(n: int, limit: int, rng: np.random.Generator) -> np.ndarray | None:
    """Sorted positions of a uniform sample of `limit` of `n` rows, or None when all `n` are kept."""
    if n <= limit:
        return None
    return np.sort(rng.choice(n, limit, replace=False))


def side_frame(table: Any, features: Sequence[str], rows: np.ndarray | None) -> pd.DataFrame:
    """The sampled rows (all when `rows` is None) of a table's features: a DataFrame, or anything read column by
    column (io.ParquetColumns) or by rows (traffic.LiveRows, with `where`)."""
    if isinstance(table, pd.DataFrame):
        return table[list(features)] if rows is None else table[list(features)].iloc[rows]
    if hasattr(table, "where"):  # LiveRows: the chosen rows of every column, read once
        mask = np.ones(len(table), dtype=bool)
        if rows is not None:
            mask[:] = False
            mask[rows] = True
        frame: pd.DataFrame = table.where(mask, list(features))
        return frame
    columns = {name: table[name] for name in features}
    return pd.DataFrame({name: col if rows is None else col.iloc[rows] for name, col in columns.items()})


def encoded(
    reference: pd.DataFrame, current: pd.DataFrame, kinds: Mapping[str, Treatment]
) -> tuple[np.ndarray, list[bool]]:
    """Both sides stacked as one float matrix (reference first) and which columns are categorical: numbers as they
    are, categories as codes over both sides (the MAX_CATEGORIES most frequent of MIN_CATEGORY_ROWS rows or more
    apart, the rest one), missing values as NaN."""
    columns, categorical = [], []
    for name in reference.columns:
        both = pd.concat([reference[name], current[name]], ignore_index=True)
        if kinds[name] == NUMERIC:
            columns.append(pd.to_numeric(both, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
            categorical.append(False)
            continue
        codes, _ = pd.factorize(both.astype("string"), use_na_sentinel=True)
        counts = np.bincount(codes[codes >= 0]) if (codes >= 0).any() else np.zeros(0, dtype=int)
        kept = np.argsort(-counts, kind="stable")[:MAX_CATEGORIES]
        kept = kept[counts[kept] >= MIN_CATEGORY_ROWS]
        rank = np.full(len(counts), float(MAX_CATEGORIES))  # the rest: one category
        rank[kept] = np.arange(len(kept))
        values = np.full(len(codes), np.nan)
        values[codes >= 0] = rank[codes[codes >= 0]]
        columns.append(values)
        categorical.append(True)
    return np.column_stack(columns), categorical


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties sharing their mean rank) without scipy.stats (0.5 s to import)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2
    result = np.empty(len(values))
    result[order] = np.repeat(average, ends - starts)
    return result


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The area under the ROC curve of scores for labels (1: current), ties counted half (Mann-Whitney)."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    rank_sum = float(ranks(scores)[labels == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def fold_auc(scores: np.ndarray, labels: np.ndarray, folds: list[Fold]) -> float:
    """The mean over the folds of each fold's AUC, weighted by the folds' rows."""
    return float(sum(len(fold.rows) * auc(scores[fold.rows], labels[fold.rows]) for fold in folds) / len(labels))


def null_threshold(scores: np.ndarray, labels: np.ndarray, folds: list[Fold], alpha: float, floor: float) -> float:
    """The largest over the folds of the (1 - alpha) quantile of a fold's AUC with its labels permuted (NULL_DRAWS
    draws, seeded); where the normal approximation of that null (Mann-Whitney's) puts it far under `floor`, which
    then decides alone, the approximation (as calibration.py skips its simulations): from ~2200 rows a side."""
    rng = np.random.default_rng(SEED)
    quantiles = []
    for fold in folds:
        mine = labels[fold.rows]
        positives = int(mine.sum())
        negatives = len(mine) - positives
        spread = np.sqrt((len(mine) + 1) / (12 * positives * negatives))
        approximate = 0.5 + float(special.ndtri(1 - alpha) * spread)
        if approximate < 0.5 + SKIP_BELOW * (floor - 0.5):
            quantiles.append(approximate)
            continue
        shuffled = rng.permuted(np.tile(mine.astype("float64"), (NULL_DRAWS, 1)), axis=1)
        draws = (shuffled @ ranks(scores[fold.rows]) - positives * (positives + 1) / 2) / (positives * negatives)
        quantiles.append(upper_threshold(draws, alpha))
    return max(quantiles)


def cross_fitted(matrix: np.ndarray, labels: np.ndarray, categorical: list[bool]) -> tuple[np.ndarray, list[Fold]]:
    """(out-of-fold scores, each fold: its model and its held-out rows)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    scores = np.zeros(len(labels))
    folds: list[Fold] = []
    for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(matrix, labels):
        model = HistGradientBoostingClassifier(
            max_iter=ITERATIONS,
            learning_rate=0.3,
            max_leaf_nodes=15,
            max_bins=BINS,
            early_stopping=False,
            categorical_features=np.array(categorical) if any(categorical) else None,
            random_state=SEED,
        ).fit(matrix[train], labels[train])
        scores[test] = model.predict_proba(matrix[test])[:, 1]
        folds.append(Fold(model, test))
    return scores, folds


def attribution(matrix: np.ndarray, labels: np.ndarray, scores: np.ndarray, folds: list[Fold]) -> np.ndarray:
    """Per feature, the AUC its fold's model loses when the feature is shuffled among the held-out rows (permutation
    importance), averaged over the folds weighted by their rows."""
    rng = np.random.default_rng(SEED)
    width = matrix.shape[1]
    loss = np.zeros(width)
    for fold in folds:
        held, truth = matrix[fold.rows], labels[fold.rows]
        base = auc(scores[fold.rows], truth)
        step = max(1, BLOCK_CELLS // held.size)
        for first in range(0, width, step):  # a few features at a time, each shuffled in its own copy, one call
            chosen = range(first, min(first + step, width))
            blocks = np.repeat(held[None, :, :], len(chosen), axis=0)
            for block, column in enumerate(chosen):
                blocks[block, :, column] = rng.permutation(held[:, column])
            shuffled = fold.model.predict_proba(blocks.reshape(-1, width))[:, 1].reshape(len(chosen), -1)
            loss[first : first + len(chosen)] += len(held) * (base - np.array([auc(row, truth) for row in shuffled]))
    shares: np.ndarray = loss / len(labels)
    return shares


def domain_classifier(
    reference: Any, current: Any, features: Sequence[str], kinds: Mapping[str, Treatment], alpha: float, floor: float
) -> MultivariateDrift | None:
    """The domain classifier's AUC, its threshold at these sizes, the verdict and the features that separate the
    sides most (None: fewer than MIN_SIDE_ROWS rows on a side, or no feature)."""
    n_reference, n_current = len(reference), len(current)
    if min(n_reference, n_current) < MIN_SIDE_ROWS or not features:
        return None
    rng = np.random.default_rng(SEED)
    picked = [sample_rows(n, SIDE_ROWS, rng) for n in (n_reference, n_current)]
    sides = [side_frame(table, features, rows) for table, rows in zip((reference, current), picked, strict=True)]
    matrix, categorical = encoded(sides[0].reset_index(drop=True), sides[1].reset_index(drop=True), kinds)
    labels = np.r_[np.zeros(len(sides[0]), dtype=int), np.ones(len(sides[1]), dtype=int)]
    with threadpool_limits(1, user_api="openmp"):  # two OpenMP threads on a loaded 2-core machine: 10x slower
        scores, folds = cross_fitted(matrix, labels, categorical)
        value = fold_auc(scores, labels, folds)
        null = null_threshold(scores, labels, folds, alpha, floor)
        threshold = max(null, floor)
        drifted = bool(value >= threshold)
        # what separates the sides, only when they are told apart: otherwise it is noise (and a third of the time)
        loss = attribution(matrix, labels, scores, folds) if drifted else np.zeros(0)
    ordered = sorted((i for i in range(len(loss)) if loss[i] > 0), key=lambda i: -loss[i])[:TOP_FEATURES]
    return MultivariateDrift(
        auc=value,
        threshold=threshold,
        null_quantile=null,
        drifted=drifted,
        top_features=tuple(FeatureSeparation(str(features[i]), float(loss[i])) for i in ordered),
        rows_used=RowCounts(len(sides[0]), len(sides[1])),
        rows=RowCounts(n_reference, n_current),
        subsampled=any(rows is not None for rows in picked),
    )
