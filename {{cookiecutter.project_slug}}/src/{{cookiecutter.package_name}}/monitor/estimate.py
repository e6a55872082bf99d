"""Performance estimated before the labels arrive: CBPE for a classifier, DLE for a regressor.

- **CBPE** (confidence-based performance estimation): the production model's probabilities, calibrated on its
  holdout (isotonic regression per class, one-vs-rest, renormalised), are the chance of each class on a live row;
  the expected metric follows from them without a label: expected accuracy is the mean calibrated probability of
  the predicted class, roc_auc the expected Mann-Whitney count over the expected pair count, the other metrics the
  expected confusion matrix. It holds under covariate shift (the features move, P(y | x) does not).
- **DLE** (direct loss estimation): a gradient-boosted model of the holdout's absolute and squared errors from
  the model's inputs and its prediction; the expected MAE and RMSE of live rows are the means of its predictions.

Both are cross-fitted on the holdout (K folds): the holdout's own estimate comes from the folds that did not see
its rows, and is the bar a live estimate is judged against (the method's bias cancels); the live rows get the
one fitted on the whole holdout. The loss models run on one thread (threadpoolctl): on a shared machine
OpenMP's threads made one fit on 2,400 rows take 22-36 s instead of 0.4 s.

The interval of an estimate on n rows is where the realized metric should fall once the labels are in:
z * s * sqrt(n_holdout / n + 1), s the metric's spread over bootstrap resamples of the holdout (NannyML's
sampling error of n rows, plus the holdout's own, which the calibration inherits: the estimate can be no surer
than the holdout it was fitted on).

Pure: arrays and tables in, frozen dataclasses out. monitor.py reads the store and writes the reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

from ..metrics import METRICS, Predictions

Method = Literal["CBPE", "DLE"]
ESTIMABLE: dict[str, tuple[str, ...]] = {
    "classification": ("roc_auc", "accuracy", "balanced_accuracy", "f1_macro", "log_loss"),
    "regression": ("rmse", "mae"),
}
FOLDS = 5  # cross-fitting folds on the holdout (fewer when it has fewer rows per class)
SAMPLING_DRAWS = 200  # bootstrap resamples of the holdout for the sampling error
SAMPLING_ROWS = 5000  # rows per resample at most (m-out-of-n): a large holdout costs no more
EPS = float(np.finfo(float).eps)
MIN_DAY_ROWS = 10  # a day with fewer predictions (or labels) gets no estimate (or realized value): as performance.py


def estimated_metric(task: str, wanted: Sequence[str]) -> str:
    """The first of `wanted` (the gate's metric, then its guardrails) the method can estimate; else the task's first."""
    return next((name for name in wanted if name in ESTIMABLE[task]), ESTIMABLE[task][0])


@dataclass(frozen=True)
class RowEstimates:
    """Per live row: what the model predicted and what the method expects of it."""

    predicted: np.ndarray  # class codes (classification) or values
    expected_loss: np.ndarray  # 1 - P(predicted class is right), or the expected absolute error
    proba: np.ndarray | None = None  # classification: the model's probabilities (n x k)
    calibrated: np.ndarray | None = None  # classification: the calibrated probabilities (n x k)
    squared: np.ndarray | None = None  # regression: the expected squared error

    def take(self, rows: np.ndarray) -> RowEstimates:
        """These rows only."""

        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[rows]

        return RowEstimates(
            self.predicted[rows], self.expected_loss[rows], pick(self.proba), pick(self.calibrated), pick(self.squared)
        )


def _binary_auc(score: np.ndarray, chance: np.ndarray) -> float:
    """E[Mann-Whitney count] / E[positive-negative pairs] when row i is positive with probability chance[i],
    independently (pairs of a row with itself left out, ties count half)."""
    values, group = np.unique(score, return_inverse=True)
    positive = np.bincount(group, weights=chance, minlength=len(values))
    negative = np.bincount(group, weights=1 - chance, minlength=len(values))
    own = np.bincount(group, weights=chance * (1 - chance), minlength=len(values))
    below = np.cumsum(negative) - negative  # negative mass at strictly lower scores
    count = float(positive @ below + 0.5 * (positive @ negative - own.sum()))
    pairs = float(chance.sum() * (1 - chance).sum() - own.sum())
    return count / pairs if pairs > EPS else math.nan


def expected_classification(rows: RowEstimates, metric: str) -> float:
    """The expected value of a classification metric on these rows, from their calibrated probabilities."""
    if rows.calibrated is None or rows.proba is None:
        raise ValueError("CBPE needs the rows' probabilities")
    chance, proba, predicted = rows.calibrated, rows.proba, rows.predicted
    n, k = chance.shape
    if n == 0:
        return math.nan
    if metric == "roc_auc":
        if k == 2:
            return _binary_auc(proba[:, 1], chance[:, 1])
        return float(np.nanmean([_binary_auc(proba[:, c], chance[:, c]) for c in range(k)]))
    if metric == "log_loss":
        return float(-np.mean(np.sum(chance * np.log(np.clip(proba, EPS, 1.0)), axis=1)))
    # the expected confusion matrix: matrix[a, p] = sum over rows predicted p of P(actual = a)
    matrix = np.stack([np.bincount(predicted, weights=chance[:, a], minlength=k) for a in range(k)])
    support, predicted_count, hits = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
    if metric == "accuracy":
        return float(hits.sum() / n)
    if metric == "balanced_accuracy":
        present = support > EPS
        return float(np.mean(hits[present] / support[present]))
    if metric == "f1_macro":
        present = (support + predicted_count) > EPS
        return float(np.mean((2 * hits / np.maximum(support + predicted_count, EPS))[present]))
    raise ValueError(f"CBPE cannot estimate {metric}")


def expected_regression(rows: RowEstimates, metric: str) -> float:
    """The expected MAE or RMSE of these rows, from the loss model's expected absolute and squared errors."""
    if not len(rows.expected_loss):
        return math.nan
    if metric == "mae":
        return float(np.mean(rows.expected_loss))
    if metric == "rmse" and rows.squared is not None:
        return float(np.sqrt(np.mean(rows.squared)))
    raise ValueError(f"DLE cannot estimate {metric}")


class _Calibration:
    """Isotonic regressions, one per class (one-vs-rest), of the class's indicator on its probability."""

    def __init__(self, proba: np.ndarray, actual: np.ndarray) -> None:
        k = proba.shape[1]
        self.models = [
            IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba[:, c], actual == c)
            for c in range(k)
        ]

    def __call__(self, proba: np.ndarray) -> np.ndarray:
        if len(self.models) == 2:  # binary: one calibration, the other class its complement
            positive = np.clip(self.models[1].predict(proba[:, 1]), 0.0, 1.0)
            return np.column_stack([1 - positive, positive])
        chance = np.column_stack([model.predict(proba[:, c]) for c, model in enumerate(self.models)])
        total = chance.sum(axis=1, keepdims=True)
        normalised: np.ndarray = np.where(total > EPS, chance / np.maximum(total, EPS), 1.0 / chance.shape[1])
        return normalised


def _folds(rows: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    splits = max(2, min(FOLDS, rows // 20))
    return list(KFold(splits, shuffle=True, random_state=seed).split(np.zeros(rows)))


def _design(features: pd.DataFrame, predicted: np.ndarray, categories: dict[str, pd.Index]) -> np.ndarray:
    """The loss model's inputs: numbers as they are, each category as its code among the holdout's (unseen:
    missing), and the prediction."""
    columns = []
    for name in features.columns:
        column = features[name]
        if name in categories:
            columns.append(pd.Categorical(column.astype(object), categories=categories[name]).codes.astype(float))
            columns[-1][columns[-1] < 0] = np.nan
        else:
            columns.append(pd.to_numeric(column, errors="coerce").to_numpy(dtype=float))
    columns.append(np.asarray(predicted, dtype=float))
    return np.column_stack(columns)


@dataclass(frozen=True)
class Estimator:
    """The method fitted on the production model's holdout: it expects a metric of live rows without labels."""

    method: Method
    task: str
    model: Any  # the production model (a fitted scikit-learn pipeline)
    fitted: Any  # on the whole holdout: the calibration (CBPE) or the absolute and squared error models (DLE)
    categories: dict[str, pd.Index]  # DLE: the holdout's categories of each text column
    holdout: Predictions  # the model on its holdout (the realized metrics, and the sampling error)
    holdout_rows: RowEstimates  # the holdout's own estimates, out of fold

    def rows(self, features: pd.DataFrame) -> RowEstimates:
        """The model's predictions of these rows and what the method expects of them (the folds' average)."""
        if self.method == "CBPE":
            proba = np.asarray(self.model.predict_proba(features), dtype=float)
            codes = {label: code for code, label in enumerate(self.model.classes_)}
            predicted = np.array([codes[label] for label in self.model.predict(features)], dtype=int)
            chance = self.fitted(proba)
            return RowEstimates(predicted, 1 - chance[np.arange(len(predicted)), predicted], proba, chance)
        predicted = np.asarray(self.model.predict(features), dtype=float)
        design = _design(features, predicted, self.categories)
        with threadpool_limits(1, user_api="openmp"):
            absolute, squared = (np.clip(model.predict(design), 0, None) for model in self.fitted)
        return RowEstimates(predicted, absolute, squared=squared)

    def expected(self, rows: RowEstimates, metric: str) -> float:
        """The expected metric of these rows."""
        if self.task == "regression":
            return expected_regression(rows, metric)
        return expected_classification(rows, metric)

    def sampling_std(self, metric: str, seed: int) -> tuple[float, float]:
        """Over bootstrap resamples of the holdout: the spread (standard deviation) of the realized metric, and of
        the method's own estimate of it (the bar). Holdouts over SAMPLING_ROWS are resampled SAMPLING_ROWS rows at a
        time, the spread scaled back by sqrt(SAMPLING_ROWS / rows)."""
        rng = np.random.default_rng(seed)
        total = len(self.holdout.actual)
        size = min(total, SAMPLING_ROWS)
        realized, bar = [], []
        for _ in range(SAMPLING_DRAWS):
            rows = rng.integers(0, total, size)
            realized.append(self.holdout.scores(rows)[metric])
            bar.append(self.expected(self.holdout_rows.take(rows), metric))
        scale = math.sqrt(size / total)

        def spread(values: list[float]) -> float:
            finite = np.asarray(values)[np.isfinite(values)]
            return float(np.std(finite, ddof=1)) * scale if len(finite) > 1 else math.nan

        return spread(realized), spread(bar)


def fit(model: Any, features: pd.DataFrame, actual: pd.Series, task: str, seed: int) -> Estimator:
    """CBPE (classification) or DLE (regression) fitted on the production model's holdout, cross-fitted."""
    holdout = Predictions.from_model(model, features, actual, task)
    folds = _folds(len(features), seed)
    if task == "classification":
        k = len(model.classes_)
        proba = holdout.proba[:, :k]
        chance = np.zeros_like(proba)
        for train, test in folds:
            chance[test] = _Calibration(proba[train], holdout.actual[train])(proba[test])
        loss = 1 - chance[np.arange(len(proba)), holdout.predicted]
        rows = RowEstimates(holdout.predicted, loss, proba, chance)
        return Estimator("CBPE", task, model, _Calibration(proba, holdout.actual), {}, holdout, rows)
    categories = {
        str(name): pd.Index(pd.unique(features[name].dropna().astype(object)))
        for name in features.columns
        if not pd.api.types.is_numeric_dtype(features[name]) or pd.api.types.is_bool_dtype(features[name])
    }
    design = _design(features, holdout.predicted, categories)
    error = holdout.actual - holdout.predicted
    nominal = [name in categories for name in features.columns] + [False]
    targets = (np.abs(error), error**2)

    def losses(rows: np.ndarray) -> tuple[Any, ...]:
        return tuple(
            HistGradientBoostingRegressor(
                max_iter=100, min_samples_leaf=10, categorical_features=nominal, early_stopping=False, random_state=seed
            ).fit(design[rows], target[rows])
            for target in targets
        )

    absolute, squared = np.zeros(len(error)), np.zeros(len(error))
    with threadpool_limits(1, user_api="openmp"):
        for train, test in folds:
            pair = losses(train)
            absolute[test] = np.clip(pair[0].predict(design[test]), 0, None)
            squared[test] = np.clip(pair[1].predict(design[test]), 0, None)
        whole = losses(np.arange(len(error)))
    rows = RowEstimates(holdout.predicted, absolute, squared=squared)
    return Estimator("DLE", task, model, whole, categories, holdout, rows)


@dataclass(frozen=True)
class DayEstimate:
    """One day of predictions: the estimated metric with its interval, the realized value on the rows labelled
    so far (None with fewer than the minimum), and the share labelled."""

    day: str
    metric: str
    estimate: float | None
    low: float | None
    high: float | None
    realized: float | None
    rows: int  # predictions made that day
    labelled: int  # of them, with a label by now
    completeness: float


@dataclass(frozen=True)
class Estimation:
    """The estimate over the window and per day, against the holdout's own estimate: monitor.json's
    `estimated_performance` (the days) and `estimation` (the rest)."""

    method: Method
    metric: str
    higher_is_better: bool
    holdout: float | None  # the metric realized on the holdout
    holdout_estimate: float | None  # the method's own estimate of the holdout (out of fold): the bar
    limit: float | None  # the worst value the better end of the window's interval may take
    estimate: float | None  # the whole window's rows
    low: float | None
    high: float | None
    rows: int  # the rows estimated (a uniform sample of the window when it has more than monitor's cap)
    window_rows: int  # the window's rows
    degraded: bool
    confidence: float
    margin: float
    days: tuple[DayEstimate, ...] = ()


def _rounded(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def realized_by_day(days: np.ndarray, labelled: Predictions, metric: str) -> dict[str, tuple[int, float | None]]:
    """Per day of prediction ("YYYY-MM-DD" per labelled row): the labels so far and the metric on them."""
    out: dict[str, tuple[int, float | None]] = {}
    names, codes = np.unique(days, return_inverse=True) if len(days) else (np.array([]), np.array([], dtype=int))
    for code, day in enumerate(names):
        rows = np.flatnonzero(codes == code)
        out[str(day)] = (len(rows), labelled.scores(rows)[metric])
    return out


def estimate(
    estimator: Estimator,
    rows: RowEstimates,
    days: np.ndarray,
    realized: dict[str, tuple[int, float | None]],
    metric: str,
    *,
    day_rows: dict[str, int],
    min_rows: int,
    confidence: float,
    margin: float,
    seed: int,
) -> Estimation:
    """The expected `metric` of `rows` (a day, as "YYYY-MM-DD", per row), per day and over them all (the window
    with at least `min_rows` rows; a day with MIN_DAY_ROWS).

        The interval of an estimate on n rows is where the realized metric should fall once the labels are in:
        z * s * sqrt(n_holdout / n + 1), s the realized metric's spread over resamples of the holdout (NannyML's
        sampling error of n live rows, plus the holdout's own, which the calibration inherits). The window is
        degraded when its estimate is worse than the holdout's own estimate (the bar: the same calibration, so its
        luck cancels) by more than `margin` of the bar's error, beyond the sampling of the two sides' rows.
        `realized`: per day, the labels so far and the metric on them; `day_rows`: the predictions made per day (the
        rows may be a sample of them)."""
    spec = METRICS[metric]
    spread, bar_spread = estimator.sampling_std(metric, seed)
    n_holdout = len(estimator.holdout.actual)
    z = float(norm.ppf(0.5 + confidence / 2))

    def around(value: float, n: int) -> tuple[float, float]:
        half = z * spread * math.sqrt(n_holdout / max(n, 1) + 1)
        low, high = value - half, value + half
        return (max(low, 0.0), min(high, 1.0)) if spec.bounded else (max(low, 0.0), high)

    bar = estimator.expected(estimator.holdout_rows, metric)
    allowed = margin * spec.error(bar)
    limit = bar - allowed if spec.higher_is_better else bar + allowed
    whole = estimator.expected(rows, metric) if len(days) >= min_rows else math.nan
    low, high = around(whole, len(days))
    # the estimate's own sampling (live rows, the bar's spread at their count) and the bar's
    beyond = z * bar_spread * math.sqrt(n_holdout / max(len(days), 1) + 1)
    better = whole + beyond if spec.higher_is_better else whole - beyond
    degraded = math.isfinite(better) and (better < limit if spec.higher_is_better else better > limit)
    points = []
    names, codes = np.unique(days, return_inverse=True) if len(days) else (np.array([]), np.array([], dtype=int))
    for code, day in enumerate(names):
        mine = np.flatnonzero(codes == code)
        value = estimator.expected(rows.take(mine), metric) if len(mine) >= MIN_DAY_ROWS else math.nan
        day_low, day_high = around(value, len(mine))
        made = day_rows.get(str(day), len(mine))
        labelled, truth = realized.get(str(day), (0, None))
        points.append(
            DayEstimate(
                str(day),
                metric,
                _rounded(value),
                _rounded(day_low),
                _rounded(day_high),
                _rounded(truth) if labelled >= MIN_DAY_ROWS else None,
                made,
                labelled,
                round(labelled / made, 6) if made else 0.0,
            )
        )
    return Estimation(
        method=estimator.method,
        metric=metric,
        higher_is_better=spec.higher_is_better,
        holdout=_rounded(estimator.holdout.scores()[metric]),
        holdout_estimate=_rounded(bar),
        limit=_rounded(limit),
        estimate=_rounded(whole),
        low=_rounded(low),
        high=_rounded(high),
        rows=len(days),
        window_rows=sum(day_rows.values()) if day_rows else len(days),
        degraded=bool(degraded),
        confidence=confidence,
        margin=margin,
        days=tuple(points),
    )
