"""What a request to the service may hold: the plausible range of a number, and the size and type of a body.

- `plausible_range` (the core's records.py, which batch scoring applies too): a number far outside its feature's
  contract range is a typo or an attack, not drift. Values inside the contract's range plus `factor` times the
  feature's scale are accepted (the drift check and `make monitor` judge them); beyond that the request is a 400
  that names the field. Without the bound, finite values such as 1.7e308 pass typing and overflow to infinity in
  the model's scaler.
- `BodyLimit`: an ASGI middleware that answers 413 for a body over `max_bytes` (by its Content-Length,
  before a byte of it is read; a chunked body is read up to the limit) and 415 for a body that is not
  JSON, before BentoML parses anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

TOO_LARGE = b"<body over the limit>"  # BodyLimit.read_bounded's answer for a body over max_bytes (by identity)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger(__name__)


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, 415 for a body that is not JSON.

    A request that declares its length is refused before its body is read; a chunked one is read up to
    the limit and then handed on whole. The refusal closes the connection, so the unread rest of the
    body is never taken for the next request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, methods: tuple[str, ...] = ("POST", "PUT", "PATCH")) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.methods = methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request, or hand it on to the app (a chunked body already read, replayed)."""
        if scope["type"] != "http" or scope["method"] not in self.methods:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if media_type != b"application/json":
            await self.refuse(scope, send, 415, "the body must be JSON (Content-Type: application/json)")
            return
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await self.refuse(scope, send, 400, "the Content-Length header is not a number")
            elif int(length) > self.max_bytes:
                await self.refuse(scope, send, 413, f"the body has {int(length)} bytes, over serve.max_body_bytes")
            else:
                await self.app(scope, receive, send)
            return
        body = await self.read_bounded(receive)
        if body is TOO_LARGE:
            await self.refuse(scope, send, 413, f"the body is over serve.max_body_bytes ({self.max_bytes} bytes)")
        elif body is not None:  # None: the client left before sending it all
            await self.app(scope, replay(body, receive), send)

    async def read_bounded(self, receive: Receive) -> bytes | None:
        """The whole body of a chunked request; TOO_LARGE once it passes max_bytes; None if the client left."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return TOO_LARGE
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def refuse(scope: Scope, send: Send, status: int, message: str) -> None:
        """Answer `status` with {"error": message} and close the connection; one WARNING line, as the service's
        other refusals have ("POST /predict: 413, ...")."""
        logger.warning("%s %s: %d, %s", scope["method"], scope["path"], status, message)
        body = json.dumps({"error": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that gives the already-read body once, then passes on to the real one (disconnects)."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again
