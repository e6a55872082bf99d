"""Adaptive batching of the service's requests: whatever arrives while the model is busy forms the next batch.

Light load gives batches of one and no added wait; heavy load gives large batches that pay the model's
per-call overhead (DataFrame, scikit-learn's checks) once. BentoML's own `batchable=True` API answers a
bare JSON array (no room for the model version) and answers 503 whenever its latency estimate passes
`max_latency_ms`; this queue answers 503 only past serve.max_queue_rows waiting rows, or when a request
has waited serve.max_wait_seconds without its batch starting.

One client's request never fails another's: when the model raises on a batch, the requests whose rows
`suspects` points at (the service: rows the model's preprocessing turns non-finite) are predicted alone
and the others together; if that does not explain the failure, the batch is split in halves and each
half predicted again, down to single requests. Only a request the model cannot take alone gets its
error. A poisoned request costs about 3 more model calls when suspected, 2 log2(requests in the batch)
when not. A request whose caller is gone (cancelled, timed out, disconnected) leaves the queue before
the model sees its rows.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .runner import Row


class Overloaded(Exception):
    """The request cannot be served now: answer 503 and ask the client to retry later."""


class QueueFull(Overloaded):
    """More rows are waiting for the model than serve.max_queue_rows."""


class DeadlineExceeded(Overloaded):
    """The request waited serve.max_wait_seconds and its batch has not started."""


class ClientGone(Exception):
    """The client disconnected before its rows were predicted: they were dropped."""


class _Job:
    """One request in the queue: its rows, its tag, the future its caller awaits, its deadline timer."""

    __slots__ = ("future", "rows", "tag", "timer")

    def __init__(self, rows: Sequence[Row], tag: Any, future: asyncio.Future[list[Any]]) -> None:
        self.rows = rows
        self.tag = tag
        self.future = future
        self.timer: asyncio.TimerHandle | None = None


class AdaptiveBatcher:
    """Predicts queued rows together: whatever arrives while the model is busy forms the next batch."""

    QUIET = 0.0003  # seconds without a new request that end a batch's gathering
    MAX_WAIT = 0.003  # the longest a batch gathers

    def __init__(
        self,
        predict: Callable[[Sequence[Row], Sequence[Any]], list[Any]],
        max_batch_rows: int,
        max_queue_rows: int,
        max_wait: float = 5.0,
        suspects: Callable[[Sequence[Row]], Sequence[int]] | None = None,
    ) -> None:
        self.predict = predict
        self.suspects = suspects  # rows -> indices of the rows the model probably cannot take
        self.max_batch_rows = max_batch_rows
        self.max_queue_rows = max_queue_rows
        self.max_wait = max_wait
        self.batch_sizes: deque[int] = deque(maxlen=1000)  # recent batch sizes, for tests and profiling
        self._queue: deque[_Job] = deque()
        self._queued_rows = 0
        self._worker: asyncio.Task[None] | None = None

    async def submit(
        self, rows: Sequence[Row], tag: Any = None, gone: Callable[[], Awaitable[Any]] | None = None
    ) -> list[Any]:
        """The outputs for `rows`, predicted in the next batch that has room. `tag` goes with the rows to the
        predict function, which gets the batch's rows and the tags of its requests, in order.

        Raises QueueFull when the queue is full, DeadlineExceeded when the batch has not started within
        max_wait seconds, ClientGone when `gone()` (an awaitable that completes when the client leaves)
        completes first, and the model's own error when the model cannot predict these rows alone.
        """
        if self._queued_rows + len(rows) > self.max_queue_rows:
            raise QueueFull(f"{self._queued_rows} rows are waiting (serve.max_queue_rows {self.max_queue_rows})")
        loop = asyncio.get_running_loop()
        job = _Job(rows, tag, loop.create_future())
        job.timer = loop.call_later(self.max_wait, _expire, job.future, self.max_wait)
        self._queue.append(job)
        self._queued_rows += len(rows)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        watcher = None
        if gone is not None:
            watcher = asyncio.ensure_future(gone())
            watcher.add_done_callback(lambda done: _client_left(done, job.future))
        try:
            return await job.future
        finally:
            job.timer.cancel()
            if watcher is not None:
                watcher.cancel()

    def _next_batch(self) -> list[_Job]:
        """The next batch's jobs, whole, up to max_batch_rows rows; jobs whose caller is gone are dropped."""
        jobs: list[_Job] = []
        size = 0
        now = asyncio.get_running_loop().time()
        while self._queue and (not jobs or size + len(self._queue[0].rows) <= self.max_batch_rows):
            job = self._queue.popleft()  # a request larger than max_batch_rows is predicted whole
            self._queued_rows -= len(job.rows)
            if job.timer is not None and job.timer.when() <= now:  # due, though its timer has not run yet
                _expire(job.future, self.max_wait)
            if job.future.done():  # cancelled, past its deadline or disconnected: its rows never reach the model
                continue
            jobs.append(job)
            size += len(job.rows)
        if jobs:
            self.batch_sizes.append(size)
        return jobs

    async def _gather(self) -> None:
        """Under load, requests are still being parsed when a batch ends: while they keep arriving (within
        QUIET seconds), give them event-loop rounds to join, up to MAX_WAIT. An idle server waits QUIET."""
        loop = asyncio.get_running_loop()
        started = last_growth = loop.time()
        seen = self._queued_rows
        while self._queued_rows < self.max_batch_rows:
            now = loop.time()
            if self._queued_rows != seen:
                seen, last_growth = self._queued_rows, now
            if now - last_growth > self.QUIET or now - started > self.MAX_WAIT:
                return
            await asyncio.sleep(0)

    async def _drain(self) -> None:
        while self._queue:
            await self._gather()
            jobs = self._next_batch()
            if jobs:
                # In the loop's thread: a worker thread pays up to 5 ms per GIL hand-off (measured 3x slower).
                self._predict_isolated(jobs)
            await asyncio.sleep(0)  # let the requests that arrived meanwhile join the queue

    def _predict_isolated(self, jobs: list[_Job], suspect: bool = True) -> None:
        """Predict the jobs together; if the model raises, predict the suspected jobs alone and the rest
        together, else each half again, down to single jobs: only a job that fails alone gets the error."""
        rows = [row for job in jobs for row in job.rows]
        try:
            outputs = self.predict(rows, [job.tag for job in jobs])
        except Exception as exc:
            if len(jobs) == 1:
                _settle(jobs[0].future, exc)
                return
            suspected = self._suspected(jobs, rows) if suspect else []
            if suspected:
                for job in suspected:
                    self._predict_isolated([job])
                rest = [job for job in jobs if job not in suspected]
                if rest:
                    self._predict_isolated(rest, suspect=False)
                return
            middle = len(jobs) // 2
            self._predict_isolated(jobs[:middle], suspect=False)
            self._predict_isolated(jobs[middle:], suspect=False)
            return
        start = 0
        for job in jobs:
            if not job.future.done():
                job.future.set_result(outputs[start : start + len(job.rows)])
            start += len(job.rows)

    def _suspected(self, jobs: list[_Job], rows: list[Row]) -> list[_Job]:
        """The jobs holding a row that `suspects` points at (none without `suspects`, or if it fails)."""
        if self.suspects is None:
            return []
        try:
            bad = set(self.suspects(rows))
        except Exception:  # a diagnosis that fails explains nothing: bisect instead
            return []
        suspected, start = [], 0
        for job in jobs:
            if any(index in bad for index in range(start, start + len(job.rows))):
                suspected.append(job)
            start += len(job.rows)
        return suspected


def _settle(future: asyncio.Future[list[Any]], error: BaseException) -> None:
    """Fail a caller's future unless it already has its answer."""
    if not future.done():
        future.set_exception(error)


def _client_left(watcher: asyncio.Future[Any], future: asyncio.Future[list[Any]]) -> None:
    """The `gone` awaitable completed: unless submit() itself cancelled it, the client has left."""
    if not watcher.cancelled():
        watcher.exception()  # retrieved (a watcher that failed also means the connection is unusable)
        _settle(future, ClientGone("the client disconnected before its rows were predicted"))


def _expire(future: asyncio.Future[list[Any]], seconds: float) -> None:
    _settle(future, DeadlineExceeded(f"the request waited {seconds:g} s for the model (serve.max_wait_seconds)"))


class OneAtATime:
    """Work that cannot be batched and may hold a core for seconds (POST /explain): one request at a time, so that
    /predict's batcher keeps a core, under the queue's limits: more than `max_rows` rows waiting (QueueFull), or a
    turn not started within `max_wait` seconds (DeadlineExceeded), answer 503 with Retry-After."""

    def __init__(self, max_rows: int, max_wait: float) -> None:
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.waiting = 0  # rows of the requests waiting for their turn
        self._lock = asyncio.Lock()

    async def run(self, rows: int, work: Callable[[], Any]) -> Any:
        """`work()` in a worker thread once its turn comes (the event loop stays free); Overloaded when it cannot."""
        if self.waiting + rows > self.max_rows:
            raise QueueFull(f"{self.waiting} rows are waiting already (serve.max_queue_rows: {self.max_rows})")
        self.waiting += rows
        try:
            async with asyncio.timeout(self.max_wait):
                await self._lock.acquire()
        except TimeoutError:
            raise DeadlineExceeded(f"not started within serve.max_wait_seconds ({self.max_wait:g} s)") from None
        finally:
            self.waiting -= rows
        try:
            return await asyncio.to_thread(work)
        finally:
            self._lock.release()
