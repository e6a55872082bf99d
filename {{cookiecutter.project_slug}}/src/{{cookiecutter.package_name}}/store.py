"""The monitoring store: where the service logs its traffic and the ground truth, and where `monitor` reads them.

    <store>/predictions/date=YYYY-MM-DD/model=<model version>/part-<UTC time>-<random>.parquet
    <store>/feedback/date=YYYY-MM-DD/part-<UTC time>-<random>.parquet

`<store>` is `monitor.store` in params.yaml: a local folder, or an fsspec URL (s3://, gs://, az://) with the
same backends and credentials as the DVC remote. A part is written whole (local: renamed into place; object
stores: one PUT), never appended to, so a reader never sees half a part and writers never interleave.

A prediction row holds the features under their contract names, then the log's own fields, whose names
start with "_": ingest's snake_case column names never do, so the log can never overwrite a feature.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ProjectError

PREDICTIONS, FEEDBACK = "predictions", "feedback"
KINDS = (PREDICTIONS, FEEDBACK)
# The log's own fields.
ID = "_id"  # the record's id: the data.id_column value the client sent, else one the service made
TS = "_ts"  # UTC time the row was logged (predictions) or the label arrived (feedback)
MODEL_VERSION = "_model_version"
PREDICTION = "_prediction"
PROBABILITIES = "_probabilities"  # classification: {class: probability}, as the service answered (a struct)
TRAFFIC = "_traffic"  # "live", or "test" for smoke tests, load tests and demos (X-Traffic: test)
UNKNOWN = "_unknown"  # the features whose category the contract does not list, comma-separated
LABEL = "_label"  # feedback: the ground truth of the record `_id`
LIVE, TEST = "live", "test"
LOG_FIELDS = (ID, TS, MODEL_VERSION, PREDICTION, PROBABILITIES, TRAFFIC, UNKNOWN)


def filesystem(root: str) -> tuple[Any, str]:
    """(fsspec file system, path in it) of a store root: a local folder or a URL."""
    import fsspec.core

    try:
        file_system, path = fsspec.core.url_to_fs(root)
    except (ImportError, ValueError) as exc:
        raise ProjectError(f"monitor.store {root!r}: {exc}") from None
    return file_system, str(path)


def partition(kind: str, day: date, model_version: str | None = None) -> str:
    """The folder of one day's parts, relative to the store root (predictions: per model version too)."""
    if kind not in KINDS:
        raise ValueError(f"unknown store kind {kind!r}")
    folder = f"{kind}/date={day.isoformat()}"
    if kind == PREDICTIONS:
        folder += f"/model={(model_version or 'unknown').rpartition(':')[2]}"
    return folder


def write_part(root: str, kind: str, table: pa.Table, when: datetime, model_version: str | None = None) -> str:
    """Write one Parquet part of `kind` for the day of `when`; its path. Local parts appear atomically."""
    fs, base = filesystem(root)
    folder = f"{base.rstrip('/')}/{partition(kind, when.astimezone(UTC).date(), model_version)}"
    name = f"part-{when.astimezone(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
    path = f"{folder}/{name}"
    fs.makedirs(folder, exist_ok=True)
    options = {"use_dictionary": repeating_columns(table.schema)}
    if _is_local(fs):
        temporary = f"{folder}/.{name}.tmp"
        pq.write_table(table, temporary, **options)
        os.replace(temporary, path)
    else:  # an object store's PUT is whole or nothing
        pq.write_table(table, path, filesystem=fs, **options)
    return path


def repeating_columns(schema: pa.Schema) -> list[str]:
    """The columns worth Parquet's dictionary encoding: the strings, whose values repeat (categories, the model
    version, the traffic, a batch's time), but not the ids. Numbers are written plain: dictionary-encoding
    measured values that rarely repeat took 4x the CPU of writing a part, for a larger file."""
    return [field.name for field in schema if pa.types.is_string(field.type) and field.name != ID]


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _days(since: datetime | None, until: datetime) -> Iterable[date] | None:
    if since is None:
        return None
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def part_files(root: str, kind: str, since: datetime | None = None, until: datetime | None = None) -> list[str]:
    """The parts of `kind` whose day falls in [since, until] (every part when `since` is None), sorted."""
    fs, base = filesystem(root)
    until = until or datetime.now(UTC)
    days = _days(since, until)
    top = f"{base.rstrip('/')}/{kind}"
    if days is None:
        found = fs.glob(f"{top}/date=*/**/part-*.parquet")
    else:
        found = [path for day in days for path in fs.glob(f"{top}/date={day.isoformat()}/**/part-*.parquet")]
    return sorted(set(found))


def utc_times(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A time column (ISO 8601 text or timestamps) as UTC timestamps: Arrow's parser, else pandas' for the forms
    Arrow does not read."""
    import pyarrow.compute as pc

    utc = pa.timestamp("us", tz="UTC")
    try:
        if pa.types.is_timestamp(column.type) and column.type.tz is None:
            return pc.assume_timezone(column, "UTC")
        return pc.cast(column, utc)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pd.to_datetime(column.to_pandas(), utc=True, format="ISO8601")
        return pa.chunked_array([pa.array(parsed, type=utc)])


def arrow_memory_pool() -> None:
    """Make jemalloc Arrow's allocator when this pyarrow has it. Its default, mimalloc, hands a large table's
    pages back to the kernel and faults them in again: reading a million logged rows (300 MB) took 2.9 s, most
    of it system time, against 0.8 s with jemalloc on the machines this template is measured on."""
    try:
        if pa.default_memory_pool().backend_name != "jemalloc":
            pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, pa.ArrowNotImplementedError):
        pass  # a pyarrow built without jemalloc: keep its default


def read_parts(root: str, kind: str, since: datetime | None = None, until: datetime | None = None) -> pa.Table | None:
    """The parts of `kind` of the days in [since, until] as one Arrow table, without the writer's pandas
    metadata (with it, Arrow's filter is ~10x slower); None when there is none. The first and last days may
    hold rows outside the window: in_window() tells them."""
    fs, _ = filesystem(root)
    paths = part_files(root, kind, since, until or datetime.now(UTC))
    if not paths:
        return None
    arrow_memory_pool()
    native = None if _is_local(fs) else fs  # a local part read through fsspec's Python file objects: ~4x slower
    tables = [pq.read_table(path, filesystem=native) for path in paths]
    return pa.concat_tables(tables, promote_options="permissive").replace_schema_metadata(None)


def in_window(times: pa.ChunkedArray, since: datetime | None, until: datetime) -> pa.ChunkedArray:
    """Which of these UTC timestamps (utc_times) fall in [since, until]."""
    import pyarrow.compute as pc

    utc = pa.timestamp("us", tz="UTC")
    keep = pc.less_equal(times, pa.scalar(until, utc))
    return keep if since is None else pc.and_(keep, pc.greater_equal(times, pa.scalar(since, utc)))


def read_window_table(
    root: str, kind: str, since: datetime | None = None, until: datetime | None = None
) -> pa.Table | None:
    """Every row of `kind` logged in [since, until] (all of them when `since` is None) as one Arrow table,
    its columns as logged; None when no part falls in the window."""
    import pyarrow.compute as pc

    until = until or datetime.now(UTC)
    table = read_parts(root, kind, since, until)
    if table is None:
        return None
    keep = in_window(utc_times(table.column(TS)), since, until)
    return table if pc.all(keep).as_py() else table.filter(keep)


def read_window(root: str, kind: str, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """Every row of `kind` logged in [since, until] (all of them when `since` is None), as one table."""
    table = read_window_table(root, kind, since, until)
    if table is None:
        return pd.DataFrame()
    frame: pd.DataFrame = table.to_pandas(split_blocks=True, self_destruct=True)  # no consolidating copy
    return frame
