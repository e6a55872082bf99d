"""The inference log: the service's predictions and the ground truth it is sent, written to the monitoring store
(store.py) off the request path. No BentoML here: the service hands each answered request to a `LogWriter`.

- Handing rows over is one append to a bounded in-memory buffer: no I/O, no waiting. A background thread
  turns them into Arrow tables within a second (or every 1000 rows: Python objects that live until the part
  is written made every garbage collection of the serving process walk them) and writes what waits as
  Parquet parts (store.write_part: one per kind and UTC day, predictions under their model version) every
  `flush_seconds`, or as soon as `part_rows` rows wait.
- The buffer holds at most `max_rows` rows. The rows of a request that finds it full are dropped and counted
  (`dropped`, and the `on_dropped(rows)` hook): the log never blocks a request and never fails one.
- A part the store refuses (unreachable, no permission) stays in the buffer for the next flush and counts
  against the same bound (newer rows that do not fit are dropped and counted), and the flush after it waits
  `flush_seconds`; the error is logged at each failed flush.
- `close()` (the service's shutdown hook, run on SIGTERM after the last request is answered) stops the
  thread and writes whatever waits: every row answered before shutdown reaches the store.

Personal data: a prediction row leaves out the features of `drop` (serve.log_drop_columns) and writes those
of `hashed` (serve.log_hash_columns) as the sha256 hex digest of the salt ($MONITOR_HASH_SALT, empty when
unset) followed by the value: a string as it is, any other value as JSON. A null stays null.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pyarrow as pa

from .. import store

STORE_ENV = "MONITOR_STORE"  # overrides the packaged monitor.store; "off": no log
SPOOL_ENV = "MONITOR_SPOOL"  # the folder a relative local store is taken in (the pod's spool volume)
SALT_ENV = "MONITOR_HASH_SALT"  # the salt of serve.log_hash_columns' sha256
OFF = "off"
CONVERT_ROWS = 1000  # handed-over rows that wake the writer to turn them into Arrow (few live Python objects)
CONVERT_SECONDS = 1.0  # and at the latest this long after they arrived
ARROW_TYPES = {"integer": pa.int64(), "float": pa.float64(), "boolean": pa.bool_(), "string": pa.string()}

logger = logging.getLogger(__name__)


def _ignore(*_args: Any) -> None:
    """The default hook: nothing."""


def store_root(packaged: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The store the service writes to: $MONITOR_STORE, else the packaged monitor.store; None when it is "off".

    A relative local folder (the default `logs`) is taken inside $MONITOR_SPOOL when that is set (the pod's
    writable spool volume), else in the working directory.
    """
    root = environ.get(STORE_ENV) or packaged
    if root == OFF:
        return None
    spool = environ.get(SPOOL_ENV)
    if spool and "://" not in root and not os.path.isabs(root):
        root = os.path.join(spool, root)
    return root


def value_type(classes: Sequence[Any] | None) -> pa.DataType:
    """The Arrow type of a prediction or a label: the classes' type for classification, else float64."""
    if classes is None:
        return pa.float64()
    if all(isinstance(label, bool) for label in classes):
        return pa.bool_()
    if all(isinstance(label, int) for label in classes):
        return pa.int64()
    return pa.string()


class Predicted(NamedTuple):
    """One answered request: its rows (features in feature order) and what the service answered."""

    when: float  # time.time() of the answer
    rows: Sequence[tuple]
    ids: Sequence[str]
    predictions: Sequence[Any]
    probabilities: Sequence[dict[str, float]] | None
    unknown: Sequence[str | None]  # per row: the features with a category the contract does not list, or None
    traffic: str


class Labelled(NamedTuple):
    """One /feedback request: ground-truth labels by id."""

    when: float
    ids: Sequence[str]
    labels: Sequence[Any]


Chunk = Predicted | Labelled


class LogWriter:
    """The bounded buffer between the service and the store, and the thread that empties it."""

    def __init__(
        self,
        root: str,
        features: Sequence[Mapping[str, Any]],
        model_version: str,
        classes: Sequence[Any] | None = None,
        *,
        drop: Sequence[str] = (),
        hashed: Sequence[str] = (),
        salt: str = "",
        max_rows: int = 50_000,
        flush_seconds: float = 60.0,
        part_rows: int = 10_000,
        on_dropped: Callable[[int], None] = _ignore,
    ) -> None:
        self.root = root
        self.features = [(spec["name"], spec["kind"]) for spec in features]
        self.model_version = model_version
        self.classes = [str(label) for label in classes] if classes is not None else None
        self.label_type = value_type(classes)
        self.drop, self.hashed, self.salt = set(drop), set(hashed), salt
        self.max_rows, self.flush_seconds, self.part_rows = max_rows, flush_seconds, part_rows
        self.on_dropped = on_dropped
        self.dropped = 0  # rows dropped since start: buffer full, or unwritable at shutdown
        self._chunks: deque[Chunk] = deque()  # handed over, still Python objects
        self._tables: list[tuple[str, str, float, pa.Table]] = []  # converted: (kind, day, first time, table)
        self._rows = 0  # every row not written yet, in _chunks or in _tables: what max_rows bounds
        self._fresh = 0  # rows in _chunks
        self._last_write = time.monotonic()
        self._lock = threading.Lock()  # the counters and _chunks (the request path takes it)
        self._write_lock = threading.Lock()  # _tables and the store (the writer's side)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        self._thread.start()

    # --- the request path: one append, never I/O ------------------------------------------------------

    def predictions(
        self,
        rows: Sequence[tuple],
        ids: Sequence[str],
        predictions: Sequence[Any],
        probabilities: Sequence[dict[str, float]] | None,
        unknown: Sequence[str | None],
        traffic: str = store.LIVE,
    ) -> bool:
        """Queue one request's predicted rows; False when the buffer is full (they are dropped and counted)."""
        return self._add(Predicted(time.time(), rows, ids, predictions, probabilities, unknown, traffic))

    def feedback(self, ids: Sequence[str], labels: Sequence[Any]) -> bool:
        """Queue ground-truth labels by id; False when the buffer is full (they are dropped and counted)."""
        return self._add(Labelled(time.time(), ids, labels))

    @property
    def waiting(self) -> int:
        """Rows in the buffer, not yet written."""
        return self._rows

    def _add(self, chunk: Chunk) -> bool:
        size = len(chunk.ids)
        with self._lock:
            accepted = not self._stopping.is_set() and self._rows + size <= self.max_rows
            if accepted:
                self._chunks.append(chunk)
                self._rows += size
                self._fresh += size
            wake = self._fresh >= min(CONVERT_ROWS, self.part_rows)
        if not accepted:
            self._count_dropped(size)
        elif wake:
            self._wake.set()
        return accepted

    def _count_dropped(self, rows: int, written_off: bool = False) -> None:
        with self._lock:
            self.dropped += rows
            if written_off:  # rows that were in the buffer: they no longer wait
                self._rows -= rows
        self.on_dropped(rows)

    # --- the writer's side ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(min(CONVERT_SECONDS, self.flush_seconds))
            self._wake.clear()
            if self._stopping.is_set():
                break
            if self._rows >= self.part_rows or time.monotonic() - self._last_write >= self.flush_seconds:
                if not self.flush():
                    self._stopping.wait(self.flush_seconds)  # the store failed: do not hammer it
            else:
                with self._write_lock:
                    self._convert()

    def _convert(self) -> None:
        """Turn the handed-over chunks into Arrow tables (the caller holds _write_lock). Soon after they arrive:
        a request's rows held as Python objects until the part is written (tens of thousands of tuples, lists
        and dicts) made every garbage collection of the serving process walk them."""
        with self._lock:
            chunks = list(self._chunks)
            self._chunks.clear()
            self._fresh = 0
        for (kind, day), group in _by_kind_and_day(chunks).items():
            try:
                table = self._table(kind, group)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):  # a bug: writing again cannot help
                logger.exception("inference log: cannot make a %s part of %d rows; dropped", kind, _rows(group))
                self._count_dropped(_rows(group), written_off=True)
                continue
            self._tables.append((kind, day, group[0].when, table))

    def flush(self) -> bool:
        """Write every waiting row (one part per kind and day); False when the store refused some, which wait
        in the buffer for the next flush (and count against its bound: newer rows that do not fit are dropped)."""
        with self._write_lock:
            self._convert()
            tables, self._tables = self._tables, []
            self._last_write = time.monotonic()
            parts: dict[tuple[str, str], list[tuple[str, str, float, pa.Table]]] = {}
            for item in tables:
                parts.setdefault((item[0], item[1]), []).append(item)
            failed: list[tuple[str, str, float, pa.Table]] = []
            for (kind, _), items in parts.items():
                table = pa.concat_tables([item[3] for item in items])
                try:
                    store.write_part(self.root, kind, table, _time(items[0][2]), self.model_version)
                except Exception as exc:  # any store error (OSError, the cloud SDK's own): keep the rows, retry later
                    logger.warning(
                        "inference log: cannot write %d %s rows to %s (%s)", len(table), kind, self.root, exc
                    )
                    failed += items
                    continue
                with self._lock:
                    self._rows -= len(table)
            self._tables = failed + self._tables
        return not failed

    def close(self, timeout: float = 20.0) -> None:
        """Stop the thread and write what waits (the service's shutdown hook); later rows are dropped."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        if not self.flush():
            with self._write_lock:
                self._tables = []
                with self._lock:
                    lost, self._chunks, self._rows, self._fresh = self._rows, deque(), 0, 0
            logger.error("inference log: %d rows could not be written to %s before shutdown", lost, self.root)
            self._count_dropped(lost)

    # --- rows to Arrow tables -------------------------------------------------------------------------

    def _table(self, kind: str, chunks: list[Chunk]) -> pa.Table:
        if kind == store.FEEDBACK:
            labelled = [chunk for chunk in chunks if isinstance(chunk, Labelled)]
            return pa.table(
                {
                    store.ID: pa.array([i for chunk in labelled for i in chunk.ids], pa.string()),
                    store.LABEL: pa.array([x for chunk in labelled for x in chunk.labels], self.label_type),
                    store.TS: pa.array(_iso([chunk.when for chunk in labelled for _ in chunk.ids]), pa.string()),
                }
            )
        predicted = [chunk for chunk in chunks if isinstance(chunk, Predicted)]
        rows = [row for chunk in predicted for row in chunk.rows]
        transposed = list(zip(*rows, strict=True)) if rows else [()] * len(self.features)
        columns: dict[str, pa.Array] = {}
        for (name, kind_of), values in zip(self.features, transposed, strict=True):
            if name in self.hashed:
                columns[name] = pa.array([self._hash(value) for value in values], pa.string())
            elif name not in self.drop:
                columns[name] = pa.array(values, ARROW_TYPES[kind_of])
        columns[store.ID] = pa.array([i for chunk in predicted for i in chunk.ids], pa.string())
        columns[store.TS] = pa.array(_iso([chunk.when for chunk in predicted for _ in chunk.ids]), pa.string())
        columns[store.MODEL_VERSION] = pa.array([self.model_version] * len(rows), pa.string())
        columns[store.PREDICTION] = pa.array([p for chunk in predicted for p in chunk.predictions], self.label_type)
        if self.classes is not None:
            struct = pa.struct([(label, pa.float64()) for label in self.classes])
            missing: list[dict[str, float] | None] = [None]
            probabilities = [p for chunk in predicted for p in chunk.probabilities or missing * len(chunk.ids)]
            columns[store.PROBABILITIES] = pa.array(probabilities, struct)
        columns[store.TRAFFIC] = pa.array([chunk.traffic for chunk in predicted for _ in chunk.ids], pa.string())
        columns[store.UNKNOWN] = pa.array([u for chunk in predicted for u in chunk.unknown], pa.string())
        return pa.table(columns)

    def _hash(self, value: Any) -> str | None:
        if value is None:
            return None
        text = value if isinstance(value, str) else json.dumps(value)
        return hashlib.sha256((self.salt + text).encode()).hexdigest()


def _time(when: float) -> datetime:
    return datetime.fromtimestamp(when, UTC)


def _iso(whens: Sequence[float]) -> list[str]:
    """UTC times as ISO 8601 with milliseconds, like datetime.isoformat(timespec="milliseconds"): each second
    is formatted once (formatting each row was 60 % of the time a part took to build)."""
    seconds: dict[int, str] = {}
    stamps = []
    for when in whens:
        second = int(when)
        prefix = seconds.get(second)
        if prefix is None:
            prefix = seconds[second] = _time(second).strftime("%Y-%m-%dT%H:%M:%S")
        stamps.append(f"{prefix}.{int((when - second) * 1000):03d}+00:00")
    return stamps


def _rows(chunks: Sequence[Chunk]) -> int:
    return sum(len(chunk.ids) for chunk in chunks)


def _by_kind_and_day(chunks: list[Chunk]) -> dict[tuple[str, str], list[Chunk]]:
    """The chunks grouped by the part they go to: kind and UTC day, in arrival order (each day's name is
    formatted once: per chunk, it was half the time a conversion took)."""
    groups: dict[tuple[str, str], list[Chunk]] = {}
    days: dict[int, str] = {}
    for chunk in chunks:
        kind = store.FEEDBACK if isinstance(chunk, Labelled) else store.PREDICTIONS
        number = int(chunk.when // 86400)  # days since the epoch, UTC
        day = days.get(number)
        if day is None:
            day = days[number] = _time(chunk.when).date().isoformat()
        groups.setdefault((kind, day), []).append(chunk)
    return groups
