"""Live traffic and ground truth from the monitoring store (store.py): what `monitor`, `drift` and `dataset` read.

Only live traffic counts: rows the service marked `_traffic: test` (smoke tests, load tests, demos) are left
out, and a row without the field counts as live. A record predicted more than once under one id (a client's
retry, a re-sent batch) counts once, as its latest logged row; a label sent more than once counts once too,
as the latest one. Labels are joined to predictions by id.

Which model versions: every one by default; or a selection (`versions`: production's, or a canary's), whose
partitions alone are read, every part cast to the selected version's latest schema (store.read_files), while the
other versions' rows in the window are counted (Traffic.others), never read: after a release, a feature the new
version dropped or a class it logs as text never breaks a reader, and another version's rows are never compared
with production's holdout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import store

LABEL_TS = "_label_ts"  # the joined table's time the label arrived (the prediction's time stays in store.TS)


class LiveRows:
    """The live rows of a window, one per id: the Arrow table as read and the rows kept, read column by column.

    It reads like a DataFrame where drift.detect reads (`.columns`, `.dtypes`, `rows[name]`, `len(rows)`), so at a
    million rows no column is copied but the ones asked for, one at a time; `frame()` and `where()` give pandas
    tables of some columns, or of some rows.
    """

    def __init__(self, table: pa.Table, keep: np.ndarray) -> None:
        self.table = table
        self.keep = pa.array(keep)
        self.rows = int(keep.sum())
        self.columns = pd.Index(table.column_names)
        self.dtypes = table.slice(0, 0).to_pandas().dtypes

    def __len__(self) -> int:
        return self.rows

    @property
    def empty(self) -> bool:
        """Whether no row is kept."""
        return self.rows == 0

    def __getitem__(self, name: str) -> pd.Series:
        return pd.Series(self.column(name).to_pandas(), name=name)

    def column(self, name: str) -> pa.ChunkedArray:
        """One column of the kept rows, as Arrow (no pandas object a row: a struct stays a struct)."""
        return self.table[name].filter(self.keep)

    def frame(self, names: list[str] | None = None) -> pd.DataFrame:
        """The kept rows (of these columns) as a DataFrame."""
        table = self.table if names is None else self.table.select(names)
        frame: pd.DataFrame = table.filter(self.keep).to_pandas(split_blocks=True)  # pyarrow is untyped
        return frame

    def where(self, mask: np.ndarray, names: list[str] | None = None) -> pd.DataFrame:
        """Every column (or these columns) of the kept rows where `mask` (one value per kept row) is true."""
        chosen = np.flatnonzero(self.keep.to_numpy(zero_copy_only=False))[mask]
        table = self.table if names is None else self.table.select(names)
        frame: pd.DataFrame = table.take(pa.array(chosen)).to_pandas(split_blocks=True)
        return frame


@dataclass(frozen=True)
class Traffic:
    """The live predictions of a window, one row per id, and how many rows were read to get them."""

    rows: LiveRows | pd.DataFrame
    logged: int  # every row in the window, test traffic and repeats included
    test: int  # rows marked as test traffic
    live: int  # live rows before repeats were counted once
    # rows the versions not selected logged in the window (test traffic and repeats included), per version as its
    # partition names it ("3f2a..." of "my_model:3f2a..."): counted, not read
    others: dict[str, int] = field(default_factory=dict)
    batch: int = 0  # rows `predict --log` wrote (_traffic: batch): in `live` unless left out (monitor.include_batch)

    @property
    def other_versions(self) -> int:
        """Rows the versions not selected logged in the window."""
        return sum(self.others.values())

    @property
    def repeated(self) -> int:
        """Live rows that repeated an id logged again later."""
        return self.live - len(self.rows)


def timestamps(column: pd.Series) -> pd.Series:
    """A time column as UTC timestamps (the store writes ISO 8601 text or Arrow timestamps)."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        converted: pd.Series = column.dt.tz_convert("UTC")
        return converted
    return pd.to_datetime(column, utc=True, format="ISO8601")


def utc_days(times: pd.Series | pa.ChunkedArray) -> np.ndarray:
    """Each time's UTC day as numpy datetime64[D] (NaT where missing): store.utc_times' reading, with no text a row
    (formatting a million days took 0.5 s; `str()` of one gives "YYYY-MM-DD")."""
    if isinstance(times, pd.Series):
        times = pa.chunked_array([pa.Array.from_pandas(times)]) if len(times) else pa.chunked_array([], store.UTC_TIME)
    days: np.ndarray = store.utc_times(times).to_numpy().astype("datetime64[D]")
    return days


def latest_per_id(frame: pd.DataFrame, key: str = store.ID) -> pd.DataFrame:
    """One row per value of `key`: the latest by store.TS (rows without the key column are kept as they are)."""
    if key not in frame.columns or frame.empty:
        return frame.reset_index(drop=True)
    ordered = frame.sort_values(store.TS, kind="stable") if store.TS in frame.columns else frame
    return ordered[~ordered.duplicated(key, keep="last")].reset_index(drop=True)


def live_predictions(
    root: str, since: datetime | None, until: datetime, versions: store.Versions = None, include_batch: bool = True
) -> Traffic:
    """The live predictions logged in [since, until] by the selected model versions (`versions`: a version as the
    service logs it, "my_model:3f2a...", or its partition's "3f2a...", or several; None: every version), one per
    id, with store.TS as timestamps; the other versions' rows in the window are counted (Traffic.others). Batch
    scoring's rows (`predict --log`) are live traffic too, unless `include_batch` is false (then counted only).

    The window, the traffic and the repeats are decided on a few columns; the rows stay in the Arrow table,
    read column by column when asked for (LiveRows): at a million rows, filtering a DataFrame three times
    would cost seconds and copies of every column.
    """
    selection = store.read_selection(root, store.PREDICTIONS, since, until, versions)
    table, others = selection.table, selection.others
    if table is None:
        return Traffic(pd.DataFrame(), 0, 0, 0, others)
    times = store.utc_times(table[store.TS])
    table = table.set_column(table.schema.get_field_index(store.TS), store.TS, times)
    in_window = pc.fill_null(store.in_window(times, since, until), False).to_numpy(zero_copy_only=False)
    logged = int(in_window.sum())
    is_test = np.zeros(len(in_window), dtype=bool)
    if store.TRAFFIC in table.column_names:
        is_test = pc.fill_null(pc.equal(table[store.TRAFFIC], store.TEST), False).to_numpy(zero_copy_only=False)
    is_batch = np.zeros(len(in_window), dtype=bool)
    if store.TRAFFIC in table.column_names:
        is_batch = pc.fill_null(pc.equal(table[store.TRAFFIC], store.BATCH), False).to_numpy(zero_copy_only=False)
    keep = in_window & ~is_test
    if not include_batch:
        keep &= ~is_batch
    live = int(keep.sum())
    batch = int((in_window & is_batch).sum())
    if store.ID in table.column_names and live:
        rows = np.flatnonzero(keep)
        ids = pc.dictionary_encode(table[store.ID].filter(pa.array(keep))).combine_chunks().indices.to_numpy()
        order = np.argsort(times.filter(pa.array(keep)).to_numpy(), kind="stable")
        # the latest row of each id: the first of each id in reverse time order
        _, first = np.unique(ids[order][::-1], return_index=True)
        latest = np.zeros(len(rows), dtype=bool)
        latest[order[len(order) - 1 - first]] = True
        keep[rows[~latest]] = False
    return Traffic(LiveRows(table, keep), logged, int((in_window & is_test).sum()), live, others, batch)


def feedback(root: str, since: datetime | None, until: datetime) -> pd.DataFrame:
    """The labels received in [since, until], the latest per id: columns store.ID, store.LABEL, store.TS."""
    frame = store.read_window(root, store.FEEDBACK, since, until)
    if frame.empty:
        return pd.DataFrame({store.ID: pd.Series(dtype="str"), store.LABEL: [], store.TS: []})
    frame[store.TS] = timestamps(frame[store.TS])
    return latest_per_id(frame[[store.ID, store.LABEL, store.TS]])


def has_label(rows: LiveRows | pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
    """Which rows' id has a label (ids compared as text), decided in Arrow: no Python string a row."""
    if rows.empty or labels.empty or store.ID not in rows.columns:
        return np.zeros(len(rows), dtype=bool)
    ids = rows.column(store.ID) if isinstance(rows, LiveRows) else pa.array(rows[store.ID].astype(str))
    found = pc.is_in(ids.cast(pa.string()), value_set=pa.array(labels[store.ID].astype(str), pa.string()))
    mask: np.ndarray = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    return mask


def join_labels(rows: LiveRows | pd.DataFrame, labels: pd.DataFrame, names: list[str] | None = None) -> pd.DataFrame:
    """The predictions that have a label: their columns (or these, and store.ID) plus store.LABEL and LABEL_TS (when
    it arrived)."""
    if names is not None:
        names = list(dict.fromkeys(name for name in [*names, store.ID] if name in rows.columns))
    mask = has_label(rows, labels)  # merge the few, not the million
    labelled = rows.where(mask, names) if isinstance(rows, LiveRows) else (rows if names is None else rows[names])[mask]
    if not mask.any():
        return labelled.assign(**{store.LABEL: pd.Series(dtype=object), LABEL_TS: pd.Series(dtype=object)})
    arrived = labels.rename(columns={store.TS: LABEL_TS})
    return labelled.merge(arrived, on=store.ID, how="inner", validate="one_to_one")
