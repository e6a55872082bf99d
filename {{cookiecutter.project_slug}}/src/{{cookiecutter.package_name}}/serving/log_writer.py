"""The inference log: the service's predictions and the ground truth it is sent, written to the monitoring store
(store.py) off the request path. No BentoML here: the service hands each answered request to a `LogWriter`.

- Handing rows over is one append to a bounded in-memory buffer: no I/O, no waiting. Predictions are handed
  over a batch at a time, as the model saw them and answered them (its float block, or its DataFrame when a
  feature is a string, and its answers' arrays), with its rows' ids, unknown categories and traffic as flat
  tuples of strings (`Predicted`: nothing the garbage collector keeps walking). A background thread
  turns what waits into Parquet parts (one per kind and UTC day, predictions under their model version) every
  `flush_seconds`, or as soon as `part_rows` rows wait, in one step, and writes them. Measured with the event
  loop and this thread on one core (benchmarks/serving.py): turning the batches into Arrow every second instead
  made the event loop's CPU per request 6 % higher and the writer's own CPU per row twice as high; converting at
  write time measured level with the log off in the same A/B. (Keeping a request's own rows, lists and dicts
  until then, as the log once did, cost more.)
- A part's name (store.partition's folder, part-<UTC time>-<random>.parquet) and rows are fixed when it is
  made: every retry writes the same rows under the same name (store.write_file: local, renamed into place; an
  object store, one PUT), so a write that reached the store though its answer was lost is overwritten by its
  retry, never doubled (and once `compact` has merged it, the merged file's record of it hides the rewrite).
- The buffer holds at most `max_rows` rows, written or not. The rows of a request that finds it full are dropped
  and counted (`dropped`, and the `on_dropped(rows)` hook): the log never blocks a request and never fails one;
  `feedback` says False, and the service answers 503 with Retry-After (`seconds_to_next_write`).
- A part the store refuses (unreachable, no permission) waits and is retried with backoff: `retry_seconds`,
  doubled at each failure up to `flush_seconds`, each wait drawn between half and all of it (replicas do not
  retry in step); new rows do not hurry a retry. Each failed write is logged and counted (`on_write_failed`).
- `backlog()`: the rows not yet in the store, their bytes (in memory; spilled: on disk) and the age of the
  oldest, spilled parts included;
  the thread hands it to `on_backlog` every `tick_seconds` and after each write.
- `close()` (the service's shutdown hook, run on SIGTERM after the last request is answered) stops the thread,
  tries the store (at most half its `timeout`), then spills what the store did not take into `spill` (the
  spool volume: $MONITOR_SPOOL/unsent), under the same relative paths. The next LogWriter on that spool
  uploads the spilled parts first (and deletes each once written). Without a spill folder they are dropped
  and counted.

Personal data: a prediction row leaves out the features of `drop` (serve.log_drop_columns) and writes those
of `hashed` (serve.log_hash_columns) as the hex HMAC-SHA256 of the value keyed with `key` ($MONITOR_HASH_KEY;
store.hash_value): a string as it is, any other value as JSON; a null stays null. With `hash_id`
(serve.log_hash_id) the `_id` of predictions and of labels is written the same way, so that labels still join
their predictions (and `erase` finds them with the same key).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from itertools import chain, repeat
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import store
from ..columns import KINDS
from ..contract import ColumnSpec
from ..store import KEY_ENV as KEY_ENV
from ..store import hash_key as hash_key
from .runner import Batch

STORE_ENV = "MONITOR_STORE"  # overrides the packaged monitor.store; "off": no log
SPOOL_ENV = "MONITOR_SPOOL"  # the pod's spool volume: a relative local store is taken in it, and parts spilled
SPILL_FOLDER = "unsent"  # ... at shutdown wait in <spool>/unsent for the next start
OFF = "off"
PART_TIME = "%Y%m%dT%H%M%S%f"  # a part's name: part-<time of its first row>-<random>.parquet, as store.write_part

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


def spill_folder(environ: Mapping[str, str] = os.environ) -> str | None:
    """Where parts the store did not take at shutdown wait for the next start: <$MONITOR_SPOOL>/unsent, or None."""
    spool = environ.get(SPOOL_ENV)
    return os.path.join(spool, SPILL_FOLDER) if spool else None


def value_type(classes: Sequence[Any] | None) -> pa.DataType:
    """The Arrow type of a prediction or a label: the classes' type for classification, else float64."""
    if classes is None:
        return pa.float64()
    if all(isinstance(label, bool) for label in classes):
        return pa.bool_()
    if all(isinstance(label, int) for label in classes):
        return pa.int64()
    return pa.string()


def put_part(root: str, relative: str, table: pa.Table) -> None:
    """Write a part at `relative` under a store root, whole (store.write_file). Writing the same rows again at the
    same path leaves one part."""
    fs, base = store.filesystem(root)
    store.write_file(fs, f"{base.rstrip('/')}/{relative}", table)


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


class Part(NamedTuple):
    """A part made from waiting rows: its path relative to the store root, its table as the store keeps it (None
    for a spilled part: read from its file when it is written), its size in bytes, its rows and its first row's
    time (time.time()). `spilled`: the file in the spill folder that holds it."""

    relative: str
    table: pa.Table | None
    size: int
    rows: int
    when: float
    spilled: Path | None = None


class Backlog(NamedTuple):
    """The rows not yet in the store (in memory, or spilled at the last shutdown), their bytes, and the age in
    seconds of the oldest (0 when none waits)."""

    rows: int
    bytes: int
    oldest_seconds: float


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
        hash_id: bool = False,
        key: str | None = None,
        max_rows: int = 50_000,
        flush_seconds: float = 60.0,
        part_rows: int = 10_000,
        retry_seconds: float = 1.0,
        tick_seconds: float = 5.0,
        spill: str | None = None,
        on_dropped: Callable[[int], None] = _ignore,
        on_write_failed: Callable[[int], None] = _ignore,
        on_backlog: Callable[[Backlog], None] = _ignore,
    ) -> None:
        if (hashed or hash_id) and not key:
            raise ValueError("hashing needs a key")
        self.root = root
        self.features = [(spec.name, KINDS[spec.kind]) for spec in features]  # the contract's order
        self._names = [name for name, _ in self.features]
        self.model_version = model_version
        self.classes = [str(label) for label in classes] if classes is not None else None
        self.label_type = value_type(classes)
        self.drop, self.hashed, self.hash_id, self.key = set(drop), set(hashed), hash_id, key or ""
        self.max_rows, self.flush_seconds, self.part_rows = max_rows, flush_seconds, part_rows
        self.retry_seconds, self.tick_seconds = retry_seconds, tick_seconds
        self.spill = spill
        self.on_dropped, self.on_write_failed, self.on_backlog = on_dropped, on_write_failed, on_backlog
        self.dropped = 0  # rows dropped since start: buffer full, a part that cannot be made, unwritable at close
        self._chunks: deque[Chunk] = deque()  # handed over, not yet a part
        self._pending: list[Part] = []  # parts made, not yet written (oldest first)
        self._spilled: list[Part] = self._find_spilled()  # parts an earlier process spilled: written first
        self._rows = 0  # rows in _chunks and _pending: what max_rows bounds
        self._fresh = 0  # rows in _chunks
        self._failures = 0  # writes failed in a row: the backoff's exponent
        self._retry_at = 0.0  # time.monotonic() of the next try after a failure
        self._last_write = time.monotonic()
        self._lock = threading.Lock()  # the counters, _chunks and _pending (the request path takes it)
        self._flush_lock = threading.Lock()  # one flush at a time
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
        """Queue ground-truth labels by id; False when the buffer is full or the log is closing (they are dropped
        and counted)."""
        return self._add(Labelled(time.time(), ids, labels), len(ids))

    @property
    def waiting(self) -> int:
        """Rows in the buffer, not yet written."""
        return self._rows

    def seconds_to_next_write(self) -> float:
        """How long until the thread next writes (or retries the store): a Retry-After for refused labels."""
        now = time.monotonic()
        return max(self._next_due(now) - now, 0.0)

    def _add(self, chunk: Chunk, size: int) -> bool:
        with self._lock:
            accepted = not self._stopping.is_set() and self._rows + size <= self.max_rows
            if accepted:
                self._chunks.append(chunk)
                self._rows += size
                self._fresh += size
            wake = accepted and self._fresh >= self.part_rows > self._fresh - size  # once, as it crosses
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

    def _next_due(self, now: float) -> float:
        """time.monotonic() of the next write: the retry after a failure, now for spilled parts or part_rows rows
        waiting, else flush_seconds after the last one."""
        if self._failures:
            return self._retry_at
        if self._spilled or self._rows >= self.part_rows:
            return now
        return self._last_write + self.flush_seconds

    def _run(self) -> None:
        self._publish()
        while not self._stopping.is_set():
            now = time.monotonic()
            self._wake.wait(min(max(self._next_due(now) - now, 0.0), self.tick_seconds))
            self._wake.clear()
            if self._stopping.is_set():
                break
            now = time.monotonic()
            if now >= self._next_due(now):
                self.flush()
            else:
                self._publish()

    def flush(self) -> bool:
        """Make parts of the waiting rows and write every part that waits, the spilled ones first; False when the
        store refused one (it waits for a retry, after a backoff)."""
        with self._flush_lock:
            self._convert()
            written = self._send()
            now = time.monotonic()
            self._last_write = now
            if written:
                self._failures = 0
            else:
                self._failures += 1
                delay = min(self.retry_seconds * 2 ** (self._failures - 1), max(self.flush_seconds, self.retry_seconds))
                self._retry_at = now + delay * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)
        self._publish()
        return written

    def _convert(self) -> None:
        """Turn the handed-over chunks into parts, all in one step."""
        with self._lock:
            chunks = list(self._chunks)
            self._chunks.clear()
            self._fresh = 0
        parts = []
        for (kind, day), group in _by_kind_and_day(chunks).items():
            try:
                parts.append(self._part(kind, day, group))
            except (pa.ArrowException, TypeError, ValueError, OverflowError):  # a bug: writing again cannot help
                logger.exception("inference log: cannot make a %s part of %d rows; dropped", kind, _rows(group))
                self._count_dropped(_rows(group), written_off=True)
        with self._lock:
            self._pending.extend(parts)

    def _part(self, kind: str, day: str, chunks: list[Chunk]) -> Part:
        table = self._table(kind, chunks)
        # as store.write_part stores it: `_ts` a UTC timestamp
        table = table.set_column(table.schema.get_field_index(store.TS), store.TS, store.utc_times(table[store.TS]))
        when = chunks[0].when
        folder = store.partition(kind, date.fromisoformat(day), self.model_version)
        name = f"part-{_time(when):{PART_TIME}}-{uuid.uuid4().hex[:8]}.parquet"
        return Part(f"{folder}/{name}", table, table.nbytes, len(table), when)

    def _send(self) -> bool:
        """Write the spilled parts, then the pending ones, in order; True when every one is in the store. The
        first failure of the spilled parts stops everything (the store is down); one of a kind stops that kind."""
        spilled = list(self._spilled)
        for part in spilled:
            if part.spilled is not None and part.spilled.is_file() and not self._write(part):
                return False
            with self._lock:
                if part in self._spilled:
                    self._spilled.remove(part)
            if part.spilled is not None:
                part.spilled.unlink(missing_ok=True)  # another worker on the spool may have written it
        if spilled:
            rows = sum(part.rows for part in spilled)
            logger.info("inference log: the %d rows spilled at the last shutdown are in %s", rows, self.root)
        with self._lock:
            pending = list(self._pending)
        failed: set[str] = set()
        for part in pending:
            kind = part.relative.split("/", 1)[0]
            if kind in failed:
                continue
            if not self._write(part):
                failed.add(kind)
                continue
            with self._lock:
                if part in self._pending:  # close() may have spilled it meanwhile
                    self._pending.remove(part)
                    self._rows -= part.rows
        return not failed

    def _write(self, part: Part) -> bool:
        try:
            table = part.table if part.spilled is None else pq.read_table(part.spilled)
            put_part(self.root, part.relative, table)
        except Exception as exc:  # any store error (OSError, the cloud SDK's own): the part waits for a retry
            where = f"{self.root}/{part.relative}"
            logger.warning("inference log: cannot write %d rows to %s (%s)", part.rows, where, exc)
            self.on_write_failed(1)
            return False
        return True

    def close(self, timeout: float = 20.0) -> None:
        """Stop the thread, write what waits to the store (for at most half of `timeout`), and spill what it did
        not take to the spill folder (dropped and counted without one); later rows are dropped."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout / 4)  # it may be inside a write the store does not answer: that part is spilled
        self._convert()
        if self._pending or self._spilled:
            sender = threading.Thread(target=self._send, name="inference-log-close", daemon=True)
            sender.start()
            sender.join(timeout / 2)
        with self._lock:
            left, self._pending = self._pending, []
            self._rows -= sum(part.rows for part in left)
        if left:
            self._spill_parts(left)
        self._publish()

    def _spill_parts(self, parts: list[Part]) -> None:
        """Parts the store did not take at shutdown into the spill folder, for the next start; without one (or
        when it refuses them too) they are dropped and counted."""
        rows = sum(part.rows for part in parts)
        lost = 0
        for part in parts:
            try:
                if self.spill is None or part.table is None:
                    raise OSError(f"${SPOOL_ENV} is not set")
                fs, base = store.filesystem(self.spill)
                store.write_file(fs, f"{base.rstrip('/')}/{part.relative}", part.table)
            except (OSError, pa.ArrowException) as exc:
                logger.error("inference log: cannot spill %d rows (%s)", part.rows, exc)
                lost += part.rows
        if lost:
            logger.error("inference log: %d rows could not be written to %s before shutdown", lost, self.root)
            with self._lock:
                self.dropped += lost
            self.on_dropped(lost)
        if rows > lost:
            logger.warning(
                "inference log: %d rows spilled to %s (the store %s did not take them); the next start writes them",
                rows - lost,
                self.spill,
                self.root,
            )

    def _find_spilled(self) -> list[Part]:
        """The parts a process on the same spool spilled at its shutdown, oldest first (their bytes are read when
        they are written)."""
        if self.spill is None or not os.path.isdir(self.spill):
            return []
        found = []
        for path in sorted(Path(self.spill).glob("*/date=*/**/part-*.parquet"), key=lambda path: path.name):
            try:
                rows = pq.read_metadata(path).num_rows
                when = datetime.strptime(path.name.split("-")[1], PART_TIME).replace(tzinfo=UTC).timestamp()
                size = path.stat().st_size
            except (OSError, ValueError, IndexError, pa.ArrowException) as exc:
                logger.error("inference log: spilled part %s cannot be read (%s); left where it is", path, exc)
                continue
            found.append(Part(path.relative_to(self.spill).as_posix(), None, size, rows, when, path))
        if found:
            rows = sum(part.rows for part in found)
            logger.info("inference log: %d rows spilled at the last shutdown are written first", rows)
        return found

    # --- the backlog ----------------------------------------------------------------------------------

    def backlog(self) -> Backlog:
        """The rows not in the store yet (buffered, or spilled at the last shutdown), their bytes (a part's Arrow
        size, a spilled one's file size; rows not yet made into a part: their arrays') and the age of the oldest."""
        with self._lock:
            chunks = list(self._chunks)
            parts = self._pending + self._spilled
            rows = self._rows
        rows += sum(part.rows for part in self._spilled)
        size = sum(part.size for part in parts) + sum(_chunk_bytes(chunk) for chunk in chunks)
        oldest = min([part.when for part in parts] + [chunk.when for chunk in chunks[:1]], default=None)
        return Backlog(rows, size, 0.0 if oldest is None else max(time.time() - oldest, 0.0))

    def _publish(self) -> None:
        try:
            self.on_backlog(self.backlog())
        except Exception:  # a hook's bug must not stop the writer
            logger.exception("inference log: the backlog hook failed")

    # --- rows to Arrow tables -------------------------------------------------------------------------

    def _table(self, kind: str, chunks: list[Chunk]) -> pa.Table:
        if kind == store.FEEDBACK:
            labelled = [chunk for chunk in chunks if isinstance(chunk, Labelled)]
            return pa.table(
                {
                    store.ID: self._ids([i for chunk in labelled for i in chunk.ids]),
                    store.LABEL: pa.array([x for chunk in labelled for x in chunk.labels], self.label_type),
                    store.TS: _iso([chunk.when for chunk in labelled for _ in chunk.ids]),
                }
            )
        predicted = [chunk for chunk in chunks if isinstance(chunk, Predicted)]
        sizes = [len(chunk.predictions) for chunk in predicted]
        columns = self._feature_columns([chunk.features for chunk in predicted])
        columns[store.ID] = self._ids(list(chain.from_iterable(chunk.ids for chunk in predicted)))
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

    def _ids(self, ids: list[str]) -> pa.Array:
        """The `_id` column: the ids as they are, or their HMAC with serve.log_hash_id."""
        return store.logged_ids(ids, self.key if self.hash_id else None)

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
            if name not in self.drop:  # NaN: null
                columns[name] = pa.array(values[name], pa.type_for_alias(kind.arrow), from_pandas=nulls[name])
        return store.private_columns(columns, self.drop, self.hashed, self.key)


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


ID_BYTES = 81  # a 32-character id as a Python string in a tuple: its object and the tuple's pointer


def _chunk_bytes(chunk: Chunk) -> int:
    """The memory a handed-over chunk holds, roughly: its arrays, and its ids."""
    if isinstance(chunk, Labelled):
        return len(chunk.ids) * 2 * ID_BYTES
    features = chunk.features
    size = features.nbytes if isinstance(features, np.ndarray) else int(features.memory_usage(index=False).sum())
    size += chunk.predictions.nbytes + (0 if chunk.probabilities is None else chunk.probabilities.nbytes)
    return size + len(chunk.ids) * ID_BYTES


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
