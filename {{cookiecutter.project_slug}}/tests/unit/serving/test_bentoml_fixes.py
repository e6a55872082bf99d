"""The fix to BentoML's TimeoutMiddleware (serving/bentoml_fixes.py): BentoML's own middleware leaves every
request's timer alive; the patched one cancels it and still answers a request that runs too long with a 504."""

import asyncio

from bentoml._internal.server.http.traffic import TimeoutMiddleware

from {{ cookiecutter.package_name }}.serving.bentoml_fixes import ORIGINAL, cancel_request_timers

REQUESTS = 50


async def answer(scope, receive, send, delay: float = 0.0) -> None:
    """A minimal ASGI app: reads nothing, answers 200 after `delay` seconds."""
    await asyncio.sleep(delay)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def serve(call, delay: float = 0.0, timeout: float = 60.0) -> tuple[list[int], int]:
    """`REQUESTS` requests through a TimeoutMiddleware whose __call__ is `call`: their statuses, and how many
    timers the middleware started that are still pending after every request has ended."""
    loop = asyncio.get_running_loop()
    timers = []
    real_call_later = loop.call_later

    def recording(delay_s, callback, *args, **kwargs):
        timer = real_call_later(delay_s, callback, *args, **kwargs)
        timers.append(timer)
        return timer

    loop.call_later = recording
    middleware = TimeoutMiddleware(lambda scope, receive, send: answer(scope, receive, send, delay), timeout=timeout)
    statuses = []

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    try:
        await asyncio.gather(*(call(middleware, {"type": "http"}, receive, send) for _ in range(REQUESTS)))
    finally:
        del loop.call_later
    return statuses, sum(not timer.cancelled() for timer in timers)


def bentoml_call():
    cancel_request_timers()  # records BentoML's own __call__ (idempotent)
    return ORIGINAL["TimeoutMiddleware.__call__"]


def test_bentoml_leaves_a_timer_per_request_alive_so_the_fix_still_applies():
    # If this fails, the pinned BentoML cancels its timers itself: delete bentoml_fixes.py and this test.
    statuses, pending = asyncio.run(serve(bentoml_call()))
    assert statuses == [200] * REQUESTS
    assert pending == REQUESTS


def test_the_fixed_middleware_cancels_every_timer_once_the_request_ends():
    assert cancel_request_timers()
    statuses, pending = asyncio.run(serve(TimeoutMiddleware.__call__))
    assert statuses == [200] * REQUESTS
    assert pending == 0


def test_the_fixed_middleware_still_answers_504_when_a_request_runs_past_the_timeout():
    assert cancel_request_timers()
    statuses, pending = asyncio.run(serve(TimeoutMiddleware.__call__, delay=0.5, timeout=0.05))
    assert statuses == [504] * REQUESTS
    assert pending == 0
