"""The inference log: the service's predictions and the ground truth it is sent, written to the monitoring store
(store.py) off the request path. No BentoML here: the service hands each answered request to a `LogWriter`.

- Handing rows over is one append to a bounded in-memory buffer: no I/O, no waiting. Predictions are handed
  over a batch at a time, as the model saw them and answered them (its float block, or its DataFrame when a
  feature is a string, and its answers' arrays), with its rows' ids, unknown categories and traffic as flat
  tuples of strings (`Predicted`: nothing the garbage collector keeps walking). A background thread
  turns what waits into Arrow tables and writes them as Parquet parts (store.write_part: one per kind and
  UTC day, predictions under their model version) every `flush_seconds`, or as soon as `part_rows` rows
  wait, in one step. Measured with the event loop and this thread on one core (benchmarks/serving.py):
  turning the batches into Arrow every second instead made the event loop's CPU per request 6 % higher
  and the writer's own CPU per row twice as high; converting at write time measured level with the log off
  in the same A/B. (Keeping a request's own rows, lists and dicts until then, as the log once did, cost more.)
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
from itertools import chain, repeat
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import store
from ..columns import KINDS
from ..contract import ColumnSpec
from .runner import Batch

STORE_ENV = "MONITOR_STORE"  # overrides the packaged monitor.store; "off": no log
SPOOL_ENV = "MONITOR_SPOOL"  # the folder a relative local store is taken in (the pod's spool volume)
SALT_ENV = "MONITOR_HASH_SALT"  # the salt of serve.log_hash_columns' sha256
OFF = "off"

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


class Answered(NamedTuple):
    """One request of a batch, as the batcher carries it to the log (`predictions` flattens it into the batch's
    `Predicted`)."""

    ids: Sequence[str]  # one per row
    unknown: Sequence[str | None]  # per row: the features with a category the contract does not list, or None
    traffic: str


class Predicted(NamedTuple):
    """One predicted batch: the model's input and answers, and each row's id, unknown categories and traffic.
    Nothing here is a container the garbage collector keeps walking while the batch waits: the input is the
    runner's float block when every feature is numeric (an array; the DataFrame around it is a dozen objects:
    1.8 s of full collections in a 90 s run with DataFrames waiting, 1.0 s with the log off, by gc callbacks),
    and the rows' fields are flat tuples of strings, which the collector stops tracking (one NamedTuple per
    request instead: the event loop +2.9 % over the log off in a same-run A/B, against +1.7 %)."""

    when: float  # time.time() of the prediction
    features: np.ndarray | pd.DataFrame
    predictions: np.ndarray  # one per row
    probabilities: np.ndarray | None  # rows x classes
    # per row, from its request (tuples of strings: untracked by the collector after its first look)
    ids: tuple[str, ...]
    unknown: tuple[str | None, ...]
    traffic: tuple[str, ...]


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
        features: Sequence[ColumnSpec],
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
        self.features = [(spec.name, KINDS[spec.kind]) for spec in features]  # the contract's order
        self._names = [name for name, _ in self.features]
        self.model_version = model_version
        self.classes = [str(label) for label in classes] if classes is not None else None
        self.label_type = value_type(classes)
        self.drop, self.hashed, self.salt = set(drop), set(hashed), salt
        self.max_rows, self.flush_seconds, self.part_rows = max_rows, flush_seconds, part_rows
        self.on_dropped = on_dropped
        self.dropped = 0  # rows dropped since start: buffer full, or unwritable at shutdown
        self._chunks: deque[Chunk] = deque()  # handed over, not yet Arrow
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

    def predictions(self, batch: Batch, requests: Sequence[Answered]) -> bool:
        """Queue a predicted batch (its requests' rows in order); False when the buffer is full (they are dropped
        and counted)."""
        features = batch.block if batch.block is not None else batch.frame
        chunk = Predicted(
            time.time(),
            features,
            batch.predictions,
            batch.probabilities,
            tuple(chain.from_iterable(request.ids for request in requests)),
            tuple(chain.from_iterable(request.unknown for request in requests)),
            tuple(chain.from_iterable(repeat(request.traffic, len(request.ids)) for request in requests)),
        )
        return self._add(chunk, len(batch.predictions))

    def feedback(self, ids: Sequence[str], labels: Sequence[Any]) -> bool:
        """Queue ground-truth labels by id; False when the buffer is full (they are dropped and counted)."""
        return self._add(Labelled(time.time(), ids, labels), len(ids))

    @property
    def waiting(self) -> int:
        """Rows in the buffer, not yet written."""
        return self._rows

    def _add(self, chunk: Chunk, size: int) -> bool:
        with self._lock:
            accepted = not self._stopping.is_set() and self._rows + size <= self.max_rows
            if accepted:
                self._chunks.append(chunk)
                self._rows += size
                self._fresh += size
            wake = self._fresh >= self.part_rows
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
            self._wake.wait(max(self._last_write + self.flush_seconds - time.monotonic(), 0.0))
            self._wake.clear()
            if self._stopping.is_set():
                break
            due = self._rows >= self.part_rows or time.monotonic() - self._last_write >= self.flush_seconds
            if due and not self.flush():
                self._stopping.wait(self.flush_seconds)  # the store failed: do not hammer it

    def _convert(self) -> None:
        """Turn the handed-over chunks into Arrow tables, all in one step (the caller holds _write_lock)."""
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
                    store.TS: _iso([chunk.when for chunk in labelled for _ in chunk.ids]),
                }
            )
        predicted = [chunk for chunk in chunks if isinstance(chunk, Predicted)]
        sizes = [len(chunk.predictions) for chunk in predicted]
        columns = self._feature_columns([chunk.features for chunk in predicted])
        columns[store.ID] = pa.array(list(chain.from_iterable(chunk.ids for chunk in predicted)), pa.string())
        # a batch's rows share its time: formatted once per batch, then repeated
        columns[store.TS] = _iso([chunk.when for chunk in predicted]).take(np.repeat(np.arange(len(sizes)), sizes))
        columns[store.MODEL_VERSION] = pa.repeat(self.model_version, sum(sizes))
        predictions = np.concatenate([chunk.predictions for chunk in predicted])
        columns[store.PREDICTION] = pa.array(predictions, self.label_type)
        if self.classes is not None:
            matrix = np.concatenate([_probabilities(chunk, len(self.classes)) for chunk in predicted])
            fields = [pa.array(matrix[:, index], pa.float64(), from_pandas=True) for index in range(matrix.shape[1])]
            columns[store.PROBABILITIES] = pa.StructArray.from_arrays(fields, names=self.classes)
        columns[store.TRAFFIC] = pa.array(list(chain.from_iterable(chunk.traffic for chunk in predicted)), pa.string())
        columns[store.UNKNOWN] = pa.array(list(chain.from_iterable(chunk.unknown for chunk in predicted)), pa.string())
        return pa.table(columns)

    def _feature_columns(self, batches: list[np.ndarray | pd.DataFrame]) -> dict[str, pa.Array]:
        """The features of the batches (float blocks or DataFrames) as Arrow columns of the contract's types
        (NaN: null)."""
        columns: dict[str, pa.Array] = {}
        values: dict[str, Any]
        if batches and all(kind.numeric for _, kind in self.features):  # one float block each
            block = np.concatenate([_block(batch) for batch in batches]).T.copy()  # by feature
            values = dict(zip(self._names, block, strict=True))
            nulls = dict(zip(self._names, np.isnan(block).any(axis=1).tolist(), strict=True))
        else:
            frames = [
                pd.DataFrame(batch, columns=self._names) if isinstance(batch, np.ndarray) else batch
                for batch in batches
            ]
            joined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=self._names)
            values = {name: joined[name] for name in self._names}
            nulls = dict.fromkeys(self._names, True)
        for name, kind in self.features:
            if name in self.drop:
                continue
            column = pa.array(values[name], pa.type_for_alias(kind.arrow), from_pandas=nulls[name])  # NaN: null
            if name in self.hashed:
                column = pa.array([self._hash(value) for value in column.to_pylist()], pa.string())
            columns[name] = column
        return columns

    def _hash(self, value: Any) -> str | None:
        if value is None:
            return None
        text = value if isinstance(value, str) else json.dumps(value)
        return hashlib.sha256((self.salt + text).encode()).hexdigest()


def _time(when: float) -> datetime:
    return datetime.fromtimestamp(when, UTC)


def _iso(whens: Sequence[float] | np.ndarray) -> pa.Array:
    """UTC times as ISO 8601 with milliseconds, like datetime.isoformat(timespec="milliseconds"), formatted
    by numpy (a Python f-string per row was 40 % of the time a part took to build)."""
    milliseconds = (np.asarray(whens, dtype=np.float64) * 1000).astype(np.int64).astype("datetime64[ms]")
    return pa.array(np.char.add(np.datetime_as_string(milliseconds, unit="ms"), "+00:00"), pa.string())


def _block(features: np.ndarray | pd.DataFrame) -> np.ndarray:
    """A numeric batch's rows as one float64 array: the runner's own (a DataFrame's to_numpy costs µs per batch)."""
    return features if isinstance(features, np.ndarray) else features.to_numpy(dtype=np.float64)


def _probabilities(chunk: Predicted, classes: int) -> np.ndarray:
    """A batch's probability matrix (rows x classes); NaN (null in the part) where the model gave none."""
    if chunk.probabilities is None:
        return np.full((len(chunk.predictions), classes), np.nan)
    return np.asarray(chunk.probabilities, dtype=np.float64)


def _rows(chunks: Sequence[Chunk]) -> int:
    return sum(len(chunk.predictions) if isinstance(chunk, Predicted) else len(chunk.ids) for chunk in chunks)


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
