"""Labels arrive late: which predictions live performance can judge, how complete their labels are, and whether
the labelled ones look like the rest.

In most businesses the ground truth comes days or weeks after the prediction (a churn, a default, a chargeback).
With `monitor.label_delay`, live performance judges the predictions *made* in [now - delay - window, now - delay],
with every label that has arrived by now, whenever it arrived; drift still reads the last window. Per day of
predictions the report gives the share labelled so far, and a Kolmogorov-Smirnov test of the labelled rows' scores
(the predicted class's probability, or the prediction) against the unlabelled rows': labels that come back only for
some kinds of prediction (approved loans, contacted customers) bias the live metric, and this says when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from .. import store
from .stats import ks_test


@dataclass(frozen=True)
class PerformanceWindow:
    """The predictions live performance judges: made in [since, until], with the labels arrived by `labels_until`."""

    since: datetime
    until: datetime
    labels_until: datetime
    label_delay: str


def performance_window(since: datetime, now: datetime, delay: timedelta, delay_text: str) -> PerformanceWindow:
    """The drift window [since, now] moved back by the label delay; labels are read up to now."""
    return PerformanceWindow(since - delay, now - delay, now, delay_text)


@dataclass(frozen=True)
class DayCompleteness:
    """One day of predictions: how many were made, how many have a label by now, and the share."""

    day: str
    predictions: int
    labelled: int
    share: float


@dataclass(frozen=True)
class SelectionBias:
    """The labelled rows' scores against the unlabelled rows': KS statistic and p-value, and what was compared."""

    statistic: float
    p_value: float
    score: str
    labelled: int
    unlabelled: int


def completeness(times: pd.Series, labelled: np.ndarray) -> tuple[DayCompleteness, ...]:
    """Per UTC day of prediction time: predictions, labelled ones and their share, oldest day first."""
    if len(times) == 0:
        return ()
    days = pd.Series(pd.to_datetime(times, utc=True).dt.strftime("%Y-%m-%d").to_numpy())
    table = pd.DataFrame({"day": days, "labelled": labelled}).groupby("day", sort=True)["labelled"].agg(["size", "sum"])
    return tuple(
        DayCompleteness(str(day), int(row["size"]), int(row["sum"]), round(float(row["sum"]) / float(row["size"]), 6))
        for day, row in table.iterrows()
    )


def scores(rows: pd.DataFrame, task: str) -> tuple[np.ndarray, str]:
    """Each row's score: the logged probability of the predicted class (classification), or the prediction."""
    if task == "classification" and store.PROBABILITIES in rows.columns:
        top = rows[store.PROBABILITIES].map(lambda probabilities: max(dict(probabilities).values(), default=np.nan))
        return top.to_numpy(dtype=float), "the predicted class's probability"
    if task == "regression":
        return pd.to_numeric(rows[store.PREDICTION], errors="coerce").to_numpy(dtype=float), "the prediction"
    return np.array([], dtype=float), "none logged"


def selection_bias(values: np.ndarray, labelled: np.ndarray, score: str) -> SelectionBias | None:
    """KS of the labelled rows' scores against the unlabelled rows' (None when either side is empty)."""
    finite = np.isfinite(values)
    mine, theirs = np.sort(values[labelled & finite]), np.sort(values[~labelled & finite])
    if not len(mine) or not len(theirs):
        return None
    statistic, p_value = ks_test(mine, theirs)
    return SelectionBias(round(statistic, 6), round(p_value, 6), score, len(mine), len(theirs))
