"""A fix to BentoML's HTTP server that the service applies before it starts (make_service). Remove it when the
pinned BentoML fixes the bug upstream: tests/unit/serving/test_bentoml_fixes.py says whether it still applies.

BentoML 1.4's TimeoutMiddleware starts a `traffic.timeout` timer (60 s by default) for every request and never
cancels it. Each answered request therefore leaves a TimerHandle, its Future and a Context alive for a minute:
~90,000 of each at 1,500 req/s. Every full garbage collection walks them all, so the longer a server runs under
load, the longer its pauses (measured on this service: the oldest generation grew by ~7,000 objects a second,
and serving the same load with the fix gave ~7 % more req/s).

The replacement keeps BentoML's behaviour (a request that has not started its answer after `timeout` seconds
gets a 504) and cancels the timer once the request ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

PATCHED = "_cancels_its_timer"  # set on the patched __call__
ORIGINAL: dict[str, Any] = {}  # what was patched: {"TimeoutMiddleware.__call__": BentoML's own function}


def cancel_request_timers() -> bool:
    """Make BentoML's TimeoutMiddleware cancel each request's timer; False when BentoML has no such middleware
    (nothing to fix). Idempotent."""
    try:
        from bentoml._internal.server.http.traffic import TimeoutMiddleware
    except ImportError:
        return False
    if getattr(TimeoutMiddleware.__call__, PATCHED, False):
        return True
    ORIGINAL["TimeoutMiddleware.__call__"] = TimeoutMiddleware.__call__
    # method-assign, assignment: replacing a class's method is the fix itself (mypy refuses it by default)
    TimeoutMiddleware.__call__ = _call  # type: ignore[method-assign,assignment]
    return True


async def _call(self: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """TimeoutMiddleware.__call__ of BentoML 1.4, with the request's timer cancelled when the request ends."""
    if scope["type"] not in ("http", "websocket"):
        await self.app(scope, receive, send)
        return
    from starlette.responses import JSONResponse

    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

    async def started(message: Any) -> None:
        if not waiter.done():
            waiter.set_result(None)
        await send(message)

    task = asyncio.ensure_future(self.app(scope, receive, started))
    try:
        await waiter
    except TimeoutError:
        if task.cancel():
            message = {"error": f"Not able to process the request in {self.timeout} seconds"}
            await JSONResponse(message, status_code=504)(scope, receive, send)
    else:
        timer.cancel()  # the answer has started: no 504 any more, even while its body is sent
        await task
    finally:
        timer.cancel()


setattr(_call, PATCHED, True)
