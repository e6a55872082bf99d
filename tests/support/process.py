"""Commands and servers the tests start: run a command (failing the test, or returning its result), a free
loopback port for a server, stop a server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest


def run(
    command: list[str] | str,
    cwd: Path,
    timeout: float = 600,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (a string runs in a shell) with `env` over ours; a non-zero exit fails the test with its output.
    $TEMPLATE_TEST_TIMINGS (a file): each command's wall time is appended to it, with its test (where time goes)."""
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=cwd,
        shell=isinstance(command, str),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if timings := os.environ.get("TEMPLATE_TEST_TIMINGS"):
        text = command if isinstance(command, str) else " ".join(command)
        test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        with open(timings, "a", encoding="utf-8") as log:
            log.write(f"{time.monotonic() - started:7.1f} s  {test}  {text[:160]}\n")
    if check and result.returncode != 0:
        output = f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        pytest.fail(f"{command} exited {result.returncode}\n{output}")
    return result


def sh(
    command: list[str], cwd: Path | None = None, timeout: float = 300, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; its result, whatever its exit code (the caller asserts)."""
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server to listen on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM, then SIGKILL when the process has not exited within `grace` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
