"""The adaptive batcher without a server: batching, back-pressure, fault isolation, deadlines, departed clients."""

import asyncio
import time

import pytest

from {{ cookiecutter.package_name }}.serving.batcher import (
    AdaptiveBatcher,
    ClientGone,
    DeadlineExceeded,
    Overloaded,
    QueueFull,
)


class RecordingModel:
    """A fake predict function: remembers each batch's rows, answers each row with its first value doubled;
    raises on any batch holding a row whose first value is `fail_on`."""

    def __init__(self, fail_on: int | None = None, seconds: float = 0.0) -> None:
        self.batches: list[int] = []
        self.seen: list[tuple] = []
        self.fail_on = fail_on
        self.seconds = seconds

    def __call__(self, rows, request_ids):
        self.batches.append(len(rows))
        self.seen.extend(rows)
        time.sleep(self.seconds)
        if self.fail_on is not None and any(row[0] == self.fail_on for row in rows):
            raise ValueError("model broke")
        return [(row[0] * 2, None) for row in rows]


def test_requests_that_arrive_while_the_model_is_busy_share_one_batch():
    model = RecordingModel(seconds=0.05)

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=100, max_queue_rows=1000)
        first = asyncio.ensure_future(batcher.submit([(0,), (100,)]))
        await asyncio.sleep(0.01)  # the model is busy with the first request now
        rest = [batcher.submit([(i,), (i + 100,)]) for i in range(1, 10)]
        return await asyncio.gather(first, *rest)

    results = asyncio.run(scenario())
    assert results == [[(2 * i, None), (2 * (i + 100), None)] for i in range(10)]
    assert model.batches == [2, 18]  # the first request alone, no waiting; the other nine together


def test_a_batch_never_exceeds_max_batch_rows_but_a_large_request_stays_whole():
    model = RecordingModel()

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=4, max_queue_rows=1000)
        await asyncio.gather(*(batcher.submit([(i,)] * 3) for i in range(4)), batcher.submit([(9,)] * 6))

    asyncio.run(scenario())
    assert model.batches == [3, 3, 3, 3, 6]


def test_a_full_queue_answers_queue_full_which_is_overloaded():
    async def scenario():
        batcher = AdaptiveBatcher(RecordingModel(), max_batch_rows=10, max_queue_rows=5)
        first = asyncio.ensure_future(batcher.submit([(1,)] * 5))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="max_queue_rows 5"):
            await batcher.submit([(2,)])
        return await first

    assert len(asyncio.run(scenario())) == 5


def test_a_model_error_reaches_the_callers_of_its_batch_only():
    model = RecordingModel(fail_on=13)

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=100, max_queue_rows=1000)
        first = await batcher.submit([(1,)])
        failing = await asyncio.gather(batcher.submit([(13,)]), return_exceptions=True)
        later = await batcher.submit([(2,)])
        return first, failing, later

    first, failing, later = asyncio.run(scenario())
    assert first == [(2, None)]
    assert later == [(4, None)]
    assert isinstance(failing[0], ValueError)
    assert issubclass(QueueFull, Overloaded)
    assert issubclass(DeadlineExceeded, Overloaded)


async def _together(batcher, requests):
    """Submit every request while the model is busy with a first one, so that they share the next batch."""
    first = asyncio.ensure_future(batcher.submit([(0,)]))
    await asyncio.sleep(0.01)  # the model predicts `first` now; the others queue up behind it
    rest = await asyncio.gather(*(batcher.submit(rows) for rows in requests), return_exceptions=True)
    return [await first, *rest]


def test_a_batch_with_one_poisoned_request_fails_that_request_alone_and_answers_every_other():
    model = RecordingModel(fail_on=13, seconds=0.02)
    requests = [[(i,), (i + 100,)] for i in range(14, 29)] + [[(13,), (7,)]] + [[(i,)] for i in range(30, 46)]

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=1000, max_queue_rows=1000)
        return await _together(batcher, requests)

    first, *results = asyncio.run(scenario())
    failed = [(rows, result) for rows, result in zip(requests, results, strict=True) if isinstance(result, Exception)]
    assert [rows for rows, _ in failed] == [[(13,), (7,)]]
    assert str(failed[0][1]) == "model broke"
    for rows, result in zip(requests, results, strict=True):
        if rows != [(13,), (7,)]:
            assert result == [(2 * row[0], None) for row in rows]
    assert first == [(0, None)]
    # one failed batch of 32 requests, then halves: about 2 log2(32) more calls, not one per request
    assert model.batches[:2] == [1, 48]
    assert len(model.batches) - 2 <= 2 * 5


def test_two_poisoned_requests_in_one_batch_fail_alone():
    model = RecordingModel(fail_on=13)
    requests = [[(i,)] for i in range(1, 9)] + [[(13,)]] + [[(i,)] for i in range(20, 28)] + [[(13,)]]

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=1000, max_queue_rows=1000)
        return await _together(batcher, requests)

    _, *results = asyncio.run(scenario())
    assert [rows for rows, result in zip(requests, results, strict=True) if isinstance(result, ValueError)] == [
        [(13,)],
        [(13,)],
    ]
    assert sum(isinstance(result, list) for result in results) == len(requests) - 2


def test_a_suspected_request_is_tried_alone_and_the_others_together_in_one_call():
    model = RecordingModel(fail_on=13, seconds=0.02)
    requests = [[(i,)] for i in range(20, 51)] + [[(13,)]]

    def suspects(rows):
        return [index for index, row in enumerate(rows) if row[0] == 13]

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=1000, max_queue_rows=1000, suspects=suspects)
        return await _together(batcher, requests)

    _, *results = asyncio.run(scenario())
    assert isinstance(results[-1], ValueError)
    assert results[:-1] == [[(2 * i, None)] for i in range(20, 51)]
    assert model.batches == [1, 32, 1, 31]  # the first request; the failed batch; the suspect; the rest


def test_a_wrong_suspicion_costs_calls_not_answers_and_bisection_still_finds_the_culprit():
    model = RecordingModel(fail_on=13)
    requests = [[(i,)] for i in range(20, 28)] + [[(13,)]]

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=1000, max_queue_rows=1000, suspects=lambda rows: [0])
        return await _together(batcher, requests)

    _, *results = asyncio.run(scenario())
    assert [isinstance(result, ValueError) for result in results] == [False] * 8 + [True]
    assert results[0] == [(40, None)]


def test_a_diagnosis_that_fails_falls_back_to_bisection():
    model = RecordingModel(fail_on=13)
    requests = [[(i,)] for i in range(20, 28)] + [[(13,)]]

    def broken(rows):
        raise RuntimeError("cannot tell")

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=1000, max_queue_rows=1000, suspects=broken)
        return await _together(batcher, requests)

    _, *results = asyncio.run(scenario())
    assert [isinstance(result, ValueError) for result in results] == [False] * 8 + [True]


def test_a_request_whose_batch_does_not_start_within_max_wait_gets_a_deadline_and_never_reaches_the_model():
    model = RecordingModel(seconds=0.1)

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=1, max_queue_rows=1000, max_wait=0.03)
        first = asyncio.ensure_future(batcher.submit([(1,)]))
        late = asyncio.ensure_future(batcher.submit([(2,)]))  # behind `first`: one row per batch
        return await asyncio.gather(first, late, return_exceptions=True)

    started = time.monotonic()
    first, late = asyncio.run(scenario())
    assert first == [(2, None)]
    assert isinstance(late, DeadlineExceeded)
    assert "serve.max_wait_seconds" in str(late)
    assert model.seen == [(1,)]
    assert time.monotonic() - started < 0.5


def test_the_deadline_ends_the_wait_even_while_earlier_batches_keep_the_queue_busy():
    model = RecordingModel(seconds=0.02)

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=1, max_queue_rows=1000, max_wait=0.05)
        jobs = [asyncio.ensure_future(batcher.submit([(i,)])) for i in range(20)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(scenario())
    answered = [i for i, result in enumerate(results) if isinstance(result, list)]
    assert answered == list(range(len(answered)))  # first come, first served
    assert 1 <= len(answered) <= 5  # ~0.05 s of 0.02 s batches (fewer on a busy machine)
    assert all(isinstance(result, DeadlineExceeded) for result in results[len(answered) :])
    assert model.seen == [(i,) for i in answered]


def test_a_cancelled_callers_rows_leave_the_queue_before_the_model_runs():
    model = RecordingModel()

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=1000, max_queue_rows=1000)
        kept = asyncio.ensure_future(batcher.submit([(1,)]))
        cancelled = asyncio.ensure_future(batcher.submit([(2,), (3,)]))
        await asyncio.sleep(0)  # both are queued; the batch has not started
        cancelled.cancel()
        result = await kept
        assert batcher._queued_rows == 0
        return result, cancelled.cancelled()

    assert asyncio.run(scenario()) == ([(2, None)], True)
    assert model.seen == [(1,)]


def test_a_disconnected_clients_rows_leave_the_queue_and_its_caller_gets_client_gone():
    model = RecordingModel()

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=1000, max_queue_rows=1000)
        # The disconnect is seen a few event-loop rounds after it happens. The default gathering
        # (0.3 ms of quiet) can end first on a machine that stalls, and then the rows are predicted
        # (correctly: their client was still there). A longer gathering makes the order certain.
        batcher.QUIET = batcher.MAX_WAIT = 0.2
        gone = asyncio.Event()
        kept = asyncio.ensure_future(batcher.submit([(1,)], gone=asyncio.Event().wait))
        left = asyncio.ensure_future(batcher.submit([(2,)], gone=gone.wait))
        await asyncio.sleep(0)
        gone.set()  # the client disconnects before the batch starts
        return await asyncio.gather(kept, left, return_exceptions=True)

    kept, left = asyncio.run(scenario())
    assert kept == [(2, None)]
    assert isinstance(left, ClientGone)
    assert model.seen == [(1,)]


def test_a_client_that_stays_is_answered_and_its_watcher_is_stopped():
    async def scenario():
        batcher = AdaptiveBatcher(RecordingModel(), max_batch_rows=10, max_queue_rows=100)
        watcher_ran = asyncio.Event()

        async def never_gone():
            watcher_ran.set()
            await asyncio.Event().wait()

        result = await batcher.submit([(4,)], gone=never_gone)
        await asyncio.sleep(0)
        return result, watcher_ran.is_set(), [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    result, watcher_ran, pending = asyncio.run(scenario())
    assert result == [(8, None)]
    assert watcher_ran
    assert pending == []
