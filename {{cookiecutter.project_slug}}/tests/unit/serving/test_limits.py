"""What a request may hold: the body-size and media-type middleware (a number's plausible range: test_records.py)."""

import asyncio
import json
import logging

import pytest

from {{ cookiecutter.package_name }}.serving.limits import BodyLimit

# --- BodyLimit ---------------------------------------------------------------------------------


class Recorder:
    """The app behind the middleware: records the body it reads."""

    def __init__(self) -> None:
        self.body: bytes | None = None

    async def __call__(self, scope, receive, send) -> None:
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        self.body = b"".join(chunks)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(headers: dict[str, str], chunks: list[bytes], max_bytes: int = 10, method: str = "POST"):
    """(status, response body, what the inner app read, how many body chunks were read) for one request."""
    app = Recorder()
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    read = []
    sent = []

    async def receive():
        if messages:
            read.append(messages[0])
            return messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": "/predict",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(BodyLimit(app, max_bytes=max_bytes)(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, app.body, len(read), dict(start["headers"])


JSON = {"Content-Type": "application/json"}


def test_a_declared_length_over_the_limit_is_a_413_before_any_byte_is_read():
    status, body, inner, read, headers = call({**JSON, "Content-Length": "11"}, [b"x" * 11])
    assert (status, inner, read) == (413, None, 0)
    assert "max_body_bytes" in json.loads(body)["error"]
    assert headers[b"connection"] == b"close"


def test_a_body_within_the_limit_reaches_the_app_unchanged():
    status, _, inner, _, _ = call({**JSON, "Content-Length": "10"}, [b"0123456789"])
    assert (status, inner) == (200, b"0123456789")


def test_a_chunked_body_is_read_up_to_the_limit_and_refused_past_it():
    status, _, inner, read, _ = call(JSON, [b"01234", b"56789", b"x", b"never read"])
    assert (status, inner, read) == (413, None, 3)


def test_a_chunked_body_within_the_limit_is_handed_on_whole():
    status, _, inner, _, _ = call(JSON, [b"01234", b"5678"])
    assert (status, inner) == (200, b"012345678")


@pytest.mark.parametrize("media_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_body_that_is_not_json_is_a_415(media_type):
    status, body, inner, _, _ = call({"Content-Type": media_type, "Content-Length": "2"}, [b"{}"])
    assert (status, inner) == (415, None)
    assert "application/json" in json.loads(body)["error"]


def test_json_with_a_charset_or_without_a_content_type_is_accepted():
    assert call({"Content-Type": "application/json; charset=utf-8", "Content-Length": "2"}, [b"{}"])[0] == 200
    assert call({"Content-Length": "2"}, [b"{}"])[0] == 200


def test_a_request_without_a_body_method_passes_untouched():
    status, _, inner, _, _ = call({"Content-Type": "text/plain"}, [b"x" * 50], method="GET")
    assert (status, inner) == (200, b"x" * 50)


def test_each_refusal_is_one_warning_line_with_the_method_path_status_and_reason(caplog):
    with caplog.at_level(logging.WARNING, logger=BodyLimit.__module__):
        call({**JSON, "Content-Length": "11"}, [b"x" * 11])
        call({"Content-Type": "text/plain", "Content-Length": "2"}, [b"{}"])
        call({**JSON, "Content-Length": "10"}, [b"0123456789"])  # accepted: no line
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == BodyLimit.__module__]
    assert lines == [
        ("WARNING", "POST /predict: 413, the body has 11 bytes, over serve.max_body_bytes"),
        ("WARNING", "POST /predict: 415, the body must be JSON (Content-Type: application/json)"),
    ]
