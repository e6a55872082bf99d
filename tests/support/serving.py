"""A baked project's model served for real on a loopback port: started, waited for, asked, stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from support.process import free_port


def stop_group(process: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM to the process's whole group (make, the server and its workers), SIGKILL after `grace` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def call(url: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    """(status, parsed JSON or text) of a GET, or of a POST of `body` as JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def wait_ready(url: str, process: subprocess.Popen, log: Path, budget: float = 120) -> None:
    """Until GET /readyz answers 200; AssertionError with the server's log when it exits or the budget runs out."""
    deadline = time.monotonic() + budget
    while True:
        assert process.poll() is None, f"the server exited {process.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if call(f"{url}/readyz", timeout=2)[0] == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        assert time.monotonic() < deadline, f"/readyz not 200 within {budget:.0f} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


def predict_once(project: Path, body: dict[str, Any], log: Path) -> dict[str, Any]:
    """`make serve` on a free loopback port, one POST /predict of `body`, the server stopped: its JSON answer."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PORT": str(port), "MONITOR_STORE": "off"}
    with log.open("w") as output:
        server = subprocess.Popen(
            ["make", "serve"], cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_ready(url, server, log)
        status, answer = call(f"{url}/predict", body)
    finally:
        stop_group(server)
    assert status == 200, f"POST /predict answered {status}: {answer}"
    return answer
