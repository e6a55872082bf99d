"""What `monitor` says before the labels arrive: the estimated performance per day (estimate.py) and the slices
that degrade (slices.py), on the window's live rows.

At a million rows both work on a uniform seeded sample of at most SAMPLE_ROWS rows (every row still counts in
the rows per day and the realized metric, which use every label): the estimate is a mean over rows and the
slices' tests have their power at a tenth of that, while scoring and binning a million rows would cost seconds.
The per-row loss the slices compare is the realized one where the row has a label (a wrong class, the absolute
error), else the one the method expects (1 - the calibrated probability of the predicted class, DLE's absolute
error); with `monitor.estimate` off, only the labelled rows are searched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import store
from ..metrics import Predictions
from ..params import Params
from .estimate import Estimation, RowEstimates, estimate, estimated_metric, fit, realized_by_day
from .performance import align_labels
from .slices import SliceSearch, search
from .traffic import LiveRows, join_labels, utc_days

# rows scored and searched at most. Measured at 1M rows (2 cores): every row cost ~3 s more than 200,000, and
# 200,000 0.6 s more than 100,000 (scoring and the slice search), for no narrower an interval: a day's holds the
# holdout's own error, sqrt(n_holdout / n + 1) is 1 either way
SAMPLE_ROWS = 100_000
LOSS = {"classification": "wrong class (1 - its calibrated probability where unlabelled)", "regression": "|error|"}


@dataclass(frozen=True)
class BeforeLabels:
    """The estimate and the slices (None: off, or not possible, and `note` says why)."""

    estimation: Estimation | None
    slices: SliceSearch | None
    note: str = ""


def _sample(parts: list[LiveRows | pd.DataFrame], names: list[str], seed: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """A uniform sample of at most SAMPLE_ROWS of the parts' rows (these columns, one per id), and the rows per day
    of them all."""
    total = sum(len(part) for part in parts)
    rng = np.random.default_rng(seed)
    frames: list[pd.DataFrame] = []
    per_day: dict[str, int] = defaultdict(int)
    for part in parts:
        days = utc_days(part.column(store.TS) if isinstance(part, LiveRows) else part[store.TS])
        for day, count in zip(*np.unique(days[~np.isnat(days)], return_counts=True), strict=True):
            per_day[str(day)] += int(count)
        take = np.zeros(len(part), dtype=bool)
        share = min(len(part), round(SAMPLE_ROWS * len(part) / max(total, 1)))
        take[rng.choice(len(part), share, replace=False)] = True
        present = [name for name in names if name in part.columns]
        frames.append(part.where(take, present) if isinstance(part, LiveRows) else part[take][present])
    sample = pd.concat(frames, ignore_index=True)
    if store.ID in sample.columns:
        sample = sample[~sample[store.ID].astype(str).duplicated(keep="last")].reset_index(drop=True)
    return sample, dict(per_day)


def _labelled(parts: list[LiveRows | pd.DataFrame], labels: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Every row of the parts that has a label (one per id): these columns, store.LABEL and store.TS."""
    joined = [join_labels(part, labels, [*names, store.TS]) for part in parts]
    frame = pd.concat([part[[*names, store.TS, store.ID, store.LABEL]] for part in joined], ignore_index=True)
    return frame[~frame[store.ID].astype(str).duplicated(keep="last")].reset_index(drop=True)


def _realized_loss(rows: RowEstimates, actual: pd.Series, task: str, classes: Any) -> np.ndarray:
    """Per labelled row: 1 for a wrong class (an unknown label is wrong), or the absolute error."""
    if task == "regression":
        errors: np.ndarray = np.abs(actual.to_numpy(dtype=float) - rows.predicted)
        return errors
    codes = {label: code for code, label in enumerate(classes)}
    truth = np.array([codes.get(label, -1) for label in actual], dtype=int)
    return np.asarray(truth != rows.predicted, dtype=float)


def before_labels(
    parts: list[LiveRows | pd.DataFrame],
    labels: pd.DataFrame,
    model: Any,
    train: pd.DataFrame,
    test: pd.DataFrame,
    params: Params,
    private: dict[str, str],
) -> BeforeLabels:
    """The estimated performance per day and the slices that degrade of the parts' rows (with every label)."""
    settings, task = params.monitor, params.task
    inputs = [str(name) for name in getattr(model, "feature_names_in_", [])]
    hidden = [name for name in inputs if name in private]
    if hidden:
        return BeforeLabels(None, None, f"the log keeps no value of the model's inputs {', '.join(hidden)}")
    if task == "classification" and not hasattr(model, "predict_proba"):
        return BeforeLabels(None, None, "the model gives no class probabilities to calibrate")
    parts = [part for part in parts if len(part)]
    names = [*inputs, store.ID, store.TS]
    if not parts or any(name not in part.columns for part in parts for name in names):
        return BeforeLabels(None, None, "no live rows with every model input in the window")
    sample, per_day = _sample(parts, names, params.seed)
    estimator = fit(model, test[inputs], test[params.data.target], task, params.seed)
    rows = estimator.rows(sample[inputs])
    classes = getattr(model, "classes_", None)
    known = labels.drop_duplicates(store.ID, keep="last").set_index(store.ID)[store.LABEL] if len(labels) else None
    actual = pd.Series(dtype=object)
    mine = np.zeros(len(sample), dtype=bool)
    if known is not None and store.ID in sample.columns:
        found = align_labels(sample[store.ID].astype(str).map(known.rename(index=str)), task, classes)
        mine = found.notna().to_numpy()
        actual = found[mine]
    loss = rows.expected_loss.copy()
    loss[mine] = _realized_loss(rows.take(np.flatnonzero(mine)), actual, task, classes)
    estimation = None
    if settings.estimate:
        metric = estimated_metric(task, [params.gate_metric, *params.gate_guardrails])
        labelled = _labelled(parts, labels, inputs) if len(labels) else pd.DataFrame()
        realized: dict[str, tuple[int, float | None]] = {}
        if len(labelled):
            truth = align_labels(labelled[store.LABEL], task, classes)
            usable = truth.notna().to_numpy()
            if usable.any():
                scored = Predictions.from_model(model, labelled[inputs][usable], truth[usable], task)
                realized = realized_by_day(utc_days(labelled[store.TS][usable]), scored, metric)
        estimation = estimate(
            estimator,
            rows,
            utc_days(sample[store.TS]),
            realized,
            metric,
            day_rows=per_day,
            min_rows=settings.min_labels,
            confidence=settings.confidence,
            margin=settings.margin,
            seed=params.seed,
        )
    slices = None
    if settings.slices.top:
        searched = np.ones(len(sample), dtype=bool) if settings.estimate else mine
        features = sample[inputs][searched].reset_index(drop=True)
        slices = search(
            features,
            loss[searched],
            train[inputs],
            labelled=int(mine.sum()),
            loss_name=LOSS[task],
            max_predicates=settings.slices.max_predicates,
            min_rows=settings.slices.min_rows,
            top=settings.slices.top,
            alpha=round(1 - settings.confidence, 6),
            confidence=settings.confidence,
        )
    return BeforeLabels(estimation, slices)
