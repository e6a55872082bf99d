"""THE table of metrics (direction, bounds, whether they need probabilities) and their one implementation.

`evaluate` writes them to reports/metrics.json and the gate resamples them with a bootstrap: both call
`Predictions.scores`, vectorised numpy that equals scikit-learn's functions (tests/unit/test_metrics.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Metric:
    """One metric: its task, which way is better, whether it lies in [0, 1], whether it needs probabilities."""

    name: str
    task: Task
    higher_is_better: bool
    bounded: bool
    needs_probabilities: bool

    @property
    def best(self) -> float:
        """The perfect value: 1 for the higher-is-better metrics here (r2 included), 0 for the error metrics."""
        return 1.0 if self.higher_is_better else 0.0

    def error(self, value: float) -> float:
        """The distance from perfect (1 - roc_auc, 1 - r2, rmse itself): the scale the gate's margin is on."""
        return abs(self.best - value)


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("roc_auc", "classification", higher_is_better=True, bounded=True, needs_probabilities=True),
        Metric("accuracy", "classification", higher_is_better=True, bounded=True, needs_probabilities=False),
        Metric("balanced_accuracy", "classification", higher_is_better=True, bounded=True, needs_probabilities=False),
        Metric("f1_macro", "classification", higher_is_better=True, bounded=True, needs_probabilities=False),
        Metric("log_loss", "classification", higher_is_better=False, bounded=False, needs_probabilities=True),
        Metric("rmse", "regression", higher_is_better=False, bounded=False, needs_probabilities=False),
        Metric("mae", "regression", higher_is_better=False, bounded=False, needs_probabilities=False),
        Metric("r2", "regression", higher_is_better=True, bounded=False, needs_probabilities=False),
    )
}
# The metric each task is judged by first: the gate's default.
PRIMARY_METRIC: dict[str, str] = {"classification": "roc_auc", "regression": "rmse"}
# What the gate also holds the challenger to, besides its metric: the served decision (balanced accuracy of
# the predicted labels, which is what the service answers) and calibration (log loss) for a classifier;
# the other error metric for a regressor. The gate's own metric is left out of its guardrails.
GUARDRAILS: dict[str, tuple[str, ...]] = {
    "classification": ("balanced_accuracy", "log_loss"),
    "regression": ("mae", "rmse"),
}


def task_metrics(task: str) -> list[str]:
    """The metrics of a task, in table order."""
    return [name for name, metric in METRICS.items() if metric.task == task]


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC (Mann-Whitney, ties count half); nan when a class is absent."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]  # average ranks of ties
    ends = np.r_[starts[1:], len(score)]
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass
class Predictions:
    """One model's predictions on a labelled table, in a form every metric can be computed (and resampled) from."""

    task: str
    actual: np.ndarray  # classification: label codes into `labels`; regression: values
    predicted: np.ndarray
    proba: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))  # classification: columns in `labels` order
    labels: list[Any] = field(default_factory=list)

    @classmethod
    def from_arrays(cls, task: str, actual: Any, predicted: Any, proba: Any = None, classes: Any = None) -> Predictions:
        """Build from arrays: labels, predictions and (classification) probabilities in `classes` order."""
        actual, predicted = np.asarray(actual), np.asarray(predicted)
        if task == "regression":
            return cls(task, actual.astype(float), predicted.astype(float))
        known = list(classes) if classes is not None else sorted(set(actual) | set(predicted))
        labels = known + sorted(set(actual) - set(known), key=str)  # unseen labels get probability 0
        codes = {label: index for index, label in enumerate(labels)}
        full = np.zeros((len(actual), len(labels)))
        if proba is not None:
            full[:, : len(known)] = np.asarray(proba, dtype=float)
        return cls(task, np.array([codes[a] for a in actual]), np.array([codes[p] for p in predicted]), full, labels)

    @classmethod
    def from_model(cls, model: Any, features: pd.DataFrame, actual: pd.Series, task: str) -> Predictions:
        """Predict `features` with a fitted model (classifiers also give their probabilities)."""
        if task == "regression":
            return cls.from_arrays(task, actual, model.predict(features))
        return cls.from_arrays(task, actual, model.predict(features), model.predict_proba(features), model.classes_)

    def scores(self, rows: np.ndarray | None = None) -> dict[str, float]:
        """Every metric of the task on these rows (all rows when None), in table order."""
        rows = np.arange(len(self.actual)) if rows is None else rows
        actual, predicted = self.actual[rows], self.predicted[rows]
        if self.task == "regression":
            errors = actual - predicted
            spread = ((actual - actual.mean()) ** 2).sum()
            return {
                "rmse": float(np.sqrt(np.mean(errors**2))),
                "mae": float(np.mean(np.abs(errors))),
                "r2": float(1 - (errors**2).sum() / spread) if spread > 0 else math.nan,
            }
        k = len(self.labels)
        matrix = np.bincount(actual * k + predicted, minlength=k * k).reshape(k, k)
        support, predicted_count, hits = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
        present = (support + predicted_count) > 0
        proba = self.proba[rows]
        truth = np.clip(proba[np.arange(len(rows)), actual], np.finfo(float).eps, 1.0)
        in_truth = np.flatnonzero(support > 0)
        if k == 2:  # binary: the positive class is the model's second class
            auc = _auc(actual == 1, proba[:, 1])
        else:  # one-vs-rest, macro average over the classes present
            auc = float(np.mean([_auc(actual == c, proba[:, c]) for c in in_truth])) if len(in_truth) > 1 else math.nan
        return {
            "roc_auc": auc,
            "accuracy": float(hits.sum() / len(rows)),
            "balanced_accuracy": float(np.mean(hits[support > 0] / support[support > 0])),
            "f1_macro": float(np.mean((2 * hits / np.maximum(support + predicted_count, 1))[present])),
            "log_loss": float(-np.mean(np.log(truth))),
        }
