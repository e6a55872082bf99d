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
import pyarrow as pa
import pyarrow.compute as pc

from .. import store
from .stats import ks_test
from .traffic import LiveRows, utc_days


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


def completeness(times: pd.Series | pa.ChunkedArray, labelled: np.ndarray) -> tuple[DayCompleteness, ...]:
    """Per UTC day of prediction time: predictions, labelled ones and their share, oldest day first (a row without
    a time is left out)."""
    days = utc_days(times)
    known = ~np.isnat(days)
    if not known.any():
        return ()
    names, codes = np.unique(days[known], return_inverse=True)
    made = np.bincount(codes, minlength=len(names))
    got = np.bincount(codes, weights=np.asarray(labelled, dtype=bool)[known], minlength=len(names)).astype(int)
    return tuple(
        DayCompleteness(str(day), int(n), int(k), round(float(k) / float(n), 6))
        for day, n, k in zip(names, made, got, strict=True)
    )


def scores(rows: LiveRows | pd.DataFrame, task: str) -> tuple[np.ndarray, str]:
    """Each row's score: the logged probability of the predicted class (classification), or the prediction. From the
    Arrow table of a LiveRows (pandas would make a dict of every row's probabilities)."""
    if task == "classification" and store.PROBABILITIES in rows.columns:
        if isinstance(rows, LiveRows):
            column = rows.column(store.PROBABILITIES).combine_chunks()
            struct = pa.types.is_struct(column.type)  # a classifier without probabilities logs nulls
            fields = [pc.struct_field(column, field.name).cast(pa.float64()) for field in column.type] if struct else []
            top = pc.max_element_wise(*fields, skip_nulls=True) if fields else pa.nulls(len(column), pa.float64())
            values: np.ndarray = top.to_numpy(zero_copy_only=False).astype(float)
            return values, "the predicted class's probability"
        mapped = rows[store.PROBABILITIES].map(lambda p: max(dict(p).values(), default=np.nan) if p else np.nan)
        return mapped.to_numpy(dtype=float), "the predicted class's probability"
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
