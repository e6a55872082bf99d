"""Fuzz the served model: `make fuzz` (FUZZ_EXAMPLES=300, SEED=..., FUZZ_SECONDS=300), from the project root.

Serves the packaged model on a free loopback port (its inference log goes to a temporary store, removed
afterwards: fuzz traffic is not production data, and every request also says `X-Traffic: test`), waits
for /readyz, then runs schemathesis against POST /predict, POST /explain and POST /feedback from the service's own
OpenAPI schema with two checks: no input gets a 5xx (not_a_server_error), and every input that breaks the
schema is refused with a 4xx (negative_data_rejection; the statuses allowed are in schemathesis.toml).
Bounded by --examples per phase and a wall-clock limit; stops the server by its PID. The seed is printed
first and last: `make fuzz SEED=<seed>` replays a run. Exit 0 = no failure, 1 = failures, 2 = no run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

PACKAGE = "{{ cookiecutter.package_name }}"
BIN = Path(sys.executable).parent
SERVER_LOG = Path("logs/fuzz-server.log")


def free_port() -> int:
    """A TCP port nobody listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, seconds: float) -> bool:
    """Whether /readyz answers 200 within `seconds` (False as soon as the server exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's PID (BentoML stops its workers), SIGKILL to its process group after 20 s."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # its own session: only the server and its workers
            server.wait()


def main() -> int:
    """Serve, fuzz, stop; the exit code is schemathesis' (or 2 when the run could not happen)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=300, help="test cases per phase (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: a new random seed)")
    parser.add_argument("--seconds", type=float, default=300, help="wall-clock limit of the fuzzing (default 300)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**31)  # noqa: S311 - a test seed
    print(f"fuzz: seed {seed} (replay: make fuzz SEED={seed})", flush=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    store = tempfile.mkdtemp(prefix="fuzz-store-")  # the log of fuzz traffic: written, then thrown away
    env = {**os.environ, "MONITOR_STORE": store, "BENTOML_DO_NOT_TRACK": "True"}
    target = f"{PACKAGE}.serving.service:Predictor"
    with SERVER_LOG.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", target, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        if not wait_ready(url, server, 90):
            print(f"fuzz: the server did not get ready on {url}; its log: {SERVER_LOG}", file=sys.stderr)
            print(SERVER_LOG.read_text()[-3000:], file=sys.stderr)
            return 2
        command = [
            str(BIN / "schemathesis"),
            "run",
            f"{url}/docs.json",
            "--checks",
            "not_a_server_error,negative_data_rejection",
            "--include-path-regex",
            "^/(predict|explain|feedback)$",
            "--header",
            "X-Traffic: test",
            "--max-examples",
            str(args.examples),
            "--seed",
            str(seed),
            "--request-timeout",
            "10",
            "--no-color",
        ]
        try:
            result = subprocess.run(command, timeout=args.seconds, check=False)
        except subprocess.TimeoutExpired:
            print(f"fuzz: not finished within {args.seconds:g} s (FUZZ_SECONDS); seed {seed}", file=sys.stderr)
            return 2
    finally:
        stop(server)
        shutil.rmtree(store, ignore_errors=True)
    verdict = "no failures" if result.returncode == 0 else f"FAILED (server log: {SERVER_LOG})"
    print(f"fuzz: {verdict}; seed {seed} (replay: make fuzz SEED={seed})")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
