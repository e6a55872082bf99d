"""`make demo`: bake the template's defaults into build/demo and run the generated project's local loop.

Each step prints what it runs and how long it took; the first failure stops the demo with its output.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
DEMO_DIR = TEMPLATE / "build" / "demo"
ENV = {
    **os.environ,
    "DVC_NO_ANALYTICS": "1",
    "ITERATIVE_DO_NOT_TRACK": "1",
    "BENTOML_DO_NOT_TRACK": "True",
    "GIT_AUTHOR_NAME": "Demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "Demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
}
TIMES: list[tuple[str, float]] = []
PACKAGE = "my_ml_project"
FIRST_TEST_ROW = (  # its features, and its label
    "import json, pandas as pd; from my_ml_project.params import load_params, TEST_DATA; p = load_params(); "
    "row = json.loads(pd.read_parquet(TEST_DATA).iloc[0].to_json()); label = row.pop(p.data.target); "
    "print(json.dumps([row, label]))"
)
TEST_TRAFFIC = {"X-Traffic": "test"}  # the demo's requests are logged as test traffic, which monitoring leaves out


def step(title: str, command: list[str], cwd: Path, expect: int = 0) -> str:
    """Run one step, echo its output, stop the demo if it does not exit with `expect`."""
    print(f"\n==> {title}\n    $ {' '.join(command)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENV, text=True, capture_output=True)
    elapsed = time.perf_counter() - started
    output = (result.stdout + result.stderr).strip()
    if output:
        print("    " + output[-3000:].replace("\n", "\n    "), flush=True)
    if result.returncode != expect:
        print(f"\ndemo failed at '{title}': exit {result.returncode}, expected {expect}", file=sys.stderr)
        sys.exit(1)
    TIMES.append((title, elapsed))
    print(f"    ok ({elapsed:.1f} s)", flush=True)
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, body: object | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **TEST_TRAFFIC})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def serve_one_prediction(project: Path) -> None:
    """Serve the built bento on loopback, send one holdout row, run the smoke check, stop it by PID."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    title = f"serve the built bento on {url} and send one prediction"
    print(f"\n==> {title}", flush=True)
    started = time.perf_counter()
    command = [".venv/bin/python", "-m", PACKAGE, "serve", "--bento", "latest", "--port", str(port)]
    log = (project / "serve.log").open("w")
    server = subprocess.Popen(command, cwd=project, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while http(f"{url}/readyz")[0] != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                print((project / "serve.log").read_text()[-3000:], file=sys.stderr)
                print(f"\ndemo failed at '{title}': the server did not become ready", file=sys.stderr)
                sys.exit(1)
            time.sleep(0.5)
        record, label = json.loads(
            subprocess.run(
                [".venv/bin/python", "-c", FIRST_TEST_ROW],
                cwd=project,
                env=ENV,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        status, answer = http(f"{url}/predict", {"records": [record]})
        print(f"    POST {url}/predict with one holdout row -> {status}\n    {answer}", flush=True)
        if status != 200:
            sys.exit(1)
        feedback = {"feedback": [{"id": json.loads(answer)["ids"][0], "label": label}]}
        status, accepted = http(f"{url}/feedback", feedback)
        print(f"    POST {url}/feedback with its true label -> {status} {accepted}", flush=True)
        if status != 200:
            sys.exit(1)
        TIMES.append((title, time.perf_counter() - started))
        step(
            "make smoke: holdout rows, one at a time and as a batch, plus a bad record",
            ["make", "smoke", f"URL={url}"],
            project,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        (project / "serve.log").unlink(missing_ok=True)
    # SIGTERM made the server write its inference log: the monitoring store's parts (monitor.store: logs/)
    parts = sorted(path.relative_to(project).as_posix() for path in (project / "logs").rglob("part-*.parquet"))
    print("    the inference log, written on shutdown:\n    " + "\n    ".join(parts), flush=True)
    if not any(part.startswith("logs/feedback/") for part in parts):
        print("\ndemo failed: the label sent to /feedback is not in logs/feedback/", file=sys.stderr)
        sys.exit(1)


def main() -> int:
    started = time.perf_counter()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    print(f"==> bake the template's defaults into {DEMO_DIR}")
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(DEMO_DIR)))
    step("git init", ["git", "init", "-q", "-b", "main"], project)
    step("make setup: .venv with the exact versions of uv.lock (written now)", ["make", "setup"], project)
    step("first commit (uv.lock included)", ["sh", "-c", "git add -A && git commit -qm init"], project)
    step("make pipeline: ingest -> validate -> split -> train -> evaluate", ["make", "pipeline"], project)
    step("commit the pipeline's results", ["sh", "-c", "git add -A && git commit -qm 'Train the model'"], project)
    step("make push: data and model to the local remote", ["make", "push"], project)
    step("make promote: this commit's model becomes production (GTO tag model#prod)", ["make", "promote"], project)
    step("make compare: the working tree's model vs production (gate)", ["make", "compare"], project)
    step(
        "make predict: the test split scored in batch by the production model -> predictions/test.parquet",
        ["make", "predict"],
        project,
    )
    step("make build: the bento (offline) and a hadolint check of its Dockerfile", ["make", "build"], project)
    serve_one_prediction(project)
    step("make drift-samples: a shifted and an unshifted sample of the test split", ["make", "drift-samples"], project)
    drift = [".venv/bin/python", "-m", PACKAGE, "drift", "--current"]
    step("drift check on the unshifted sample (exit 0)", [*drift, "data/drift/unshifted.jsonl"], project)
    step("drift check on the shifted sample (exit 1: drift found)", [*drift, "data/drift/shifted.jsonl"], project, 1)
    step("make monitor-samples: demo stores of a week of labelled traffic", ["make", "monitor-samples"], project)
    monitor = [".venv/bin/python", "-m", PACKAGE, "monitor", "--store"]
    step("monitor the unshifted store vs production (exit 0)", [*monitor, "data/monitor/unshifted"], project)
    step("monitor the store with wrong labels (exit 1: degraded)", [*monitor, "data/monitor/degraded"], project, 1)
    # Every label of the degraded store is wrong (a labelling bug): `dataset` refuses the batch whole before it
    # can train anything (quarantined with the reason), so the pipeline has nothing new to retrain on.
    step(
        "make dataset: the wrong labels are refused whole, a labelling problem, quarantined (data/quarantine/)",
        ["make", "dataset", "STORE=data/monitor/degraded", "SINCE=30d"],
        project,
    )
    step("make pipeline: nothing reached the training data, nothing to retrain", ["make", "pipeline"], project)

    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s.")
    for title, seconds in TIMES:
        print(f"  {seconds:6.1f} s  {title}")
    print(f"\nProject: {project}")
    print(f"Reports: {project / 'reports'}  (metrics.json, validation.json, plots/, compare.md, drift.md, monitor.md)")
    print(f"Try:     cd {project} && make help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
