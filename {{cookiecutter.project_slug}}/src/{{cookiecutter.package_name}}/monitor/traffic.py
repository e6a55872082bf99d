"""Live traffic and ground truth from the monitoring store (store.py): what `monitor`, `drift` and `dataset` read.

Only live traffic counts: rows the service marked `_traffic: test` (smoke tests, load tests, demos) are left
out, and a row without the field counts as live. A record predicted more than once under one id (a client's
retry, a re-sent batch) counts once, as its latest logged row; a label sent more than once counts once too,
as the latest one. Labels are joined to predictions by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from .. import store

LABEL_TS = "_label_ts"  # the joined table's time the label arrived (the prediction's time stays in store.TS)


@dataclass
class Traffic:
    """The live predictions of a window, one row per id, and how many rows were read to get them."""

    rows: pd.DataFrame
    logged: int  # every row in the window, test traffic and repeats included
    test: int  # rows marked as test traffic
    live: int  # live rows before repeats were counted once

    @property
    def repeated(self) -> int:
        """Live rows that repeated an id logged again later."""
        return self.live - len(self.rows)


def timestamps(column: pd.Series) -> pd.Series:
    """A time column as UTC timestamps (the store writes ISO 8601 text or Arrow timestamps)."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC")
    return pd.to_datetime(column, utc=True, format="ISO8601")


def latest_per_id(frame: pd.DataFrame, key: str = store.ID) -> pd.DataFrame:
    """One row per value of `key`: the latest by store.TS (rows without the key column are kept as they are)."""
    if key not in frame.columns or frame.empty:
        return frame.reset_index(drop=True)
    ordered = frame.sort_values(store.TS, kind="stable") if store.TS in frame.columns else frame
    return ordered[~ordered.duplicated(key, keep="last")].reset_index(drop=True)


def live_predictions(root: str, since: datetime | None, until: datetime) -> Traffic:
    """The live predictions logged in [since, until], one per id, with store.TS as timestamps."""
    frame = store.read_window(root, store.PREDICTIONS, since, until)
    logged = len(frame)
    if frame.empty:
        return Traffic(frame, 0, 0, 0)
    frame[store.TS] = timestamps(frame[store.TS])
    test = 0
    if store.TRAFFIC in frame.columns:
        is_test = frame[store.TRAFFIC].eq(store.TEST).to_numpy()
        test = int(is_test.sum())
        frame = frame[~is_test]
    live = len(frame)
    return Traffic(latest_per_id(frame), logged, test, live)


def feedback(root: str, since: datetime | None, until: datetime) -> pd.DataFrame:
    """The labels received in [since, until], the latest per id: columns store.ID, store.LABEL, store.TS."""
    frame = store.read_window(root, store.FEEDBACK, since, until)
    if frame.empty:
        return pd.DataFrame({store.ID: pd.Series(dtype="str"), store.LABEL: [], store.TS: []})
    frame[store.TS] = timestamps(frame[store.TS])
    return latest_per_id(frame[[store.ID, store.LABEL, store.TS]])


def join_labels(rows: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The predictions that have a label: their columns plus store.LABEL and LABEL_TS (when it arrived)."""
    if rows.empty or labels.empty or store.ID not in rows.columns:
        return rows.iloc[:0].assign(**{store.LABEL: pd.Series(dtype=object), LABEL_TS: pd.Series(dtype=object)})
    arrived = labels.rename(columns={store.TS: LABEL_TS})
    return rows.merge(arrived, on=store.ID, how="inner", validate="one_to_one")
