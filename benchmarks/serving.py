"""Serving throughput: our BentoML service vs a minimal FastAPI endpoint vs a no-op ASGI app (the HTTP bound).

Bakes the defaults into build/bench-serving, runs the pipeline, then for the default model and a random
forest serves the same model five ways, one process each, on 127.0.0.1, and loads each with Debian's
`wrk` (single-row requests cycling over holdout rows, CONNECTIONS connections, DURATION seconds). Each
server answers one request correctly before it is measured. The five: our service, our service with its
inference log off, our service with the model's own Prometheus metrics off (SERVICE_MODEL_METRICS=off: what
they cost), a minimal FastAPI endpoint and a no-op ASGI app. Then it samples our service with py-spy
under the same load to show where a request's CPU time goes. Writes benchmarks/results/serving.md.
With --focus only ours, ours with the log off and ours without the model metrics are served (what the log and
the metrics cost, over more --rounds): benchmarks/results/serving-overhead.md. With two CPUs or more, every
server runs on the last CPU and wrk on the first (taskset): a server's threads share one core, as in a pod
with a one-CPU limit, and wrk never competes with it. With --focus, the three are loaded at the same time in
each round, when the kernel's autogroup gives each server (a session of its own) an equal share of that CPU:
the machine's noise (on a shared host, req/s moves +-15 % from one turn to the next) then hits all three
alike, and their paired ratios are several times tighter than those of turns taken one after the other.

Our service runs twice: `ours` with its inference log on (to a local store under build/bench-serving/,
the defaults of serve.log_*), `ours, log off` with MONITOR_STORE=off: the log's cost, side by side. After
the servers stop (SIGTERM: the log's last rows are written then), the rows in the store are counted
against the 2xx answers `ours` gave. With --baseline REF the template at that git commit is baked too
and served as `base`, so that a change to the service is measured against its predecessor in the same run.
Fault isolation (default model): clean traffic vs 1% poisoned requests (a finite 1.7e308 in the feature
with the narrowest contract range) on our service (refused by its plausible range: 400), on our service
with that feature's range removed from the contract (the poison reaches the model: isolated, 422) and
on the baseline; every response status is counted.

`python benchmarks/serving.py [--duration S] [--connections N] [--no-profile] [--baseline REF]`
from the template root.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from common import bake as bake_template
from common import package_name, write_results

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "bench-serving"
RESULTS = ROOT / "benchmarks" / "results" / "serving.md"
FOCUS_RESULTS = ROOT / "benchmarks" / "results" / "serving-overhead.md"  # --focus: the log's and the metrics' cost
ENV = {
    **{k: v for k, v in os.environ.items() if k != "BENTOML_HOME"},  # each project keeps its own store
    "DVC_NO_ANALYTICS": "1",
    "ITERATIVE_DO_NOT_TRACK": "1",
    "BENTOML_DO_NOT_TRACK": "True",
    "OMP_NUM_THREADS": "1",  # equal footing: no server gets extra math threads
}
PORT = 3310
ROWS = 64  # distinct single-row bodies that wrk cycles through
ROUNDS = 3  # each server's load is split into this many turns (--rounds)
POISON_EVERY = 100  # 1% of requests poisoned
POISON_VALUE = 1.7e308  # finite, so JSON and typing take it; it overflows in a scaler
NO_METRICS = "ours, no model metrics"  # ours with SERVICE_MODEL_METRICS=off: what the model's own metrics cost
# With two CPUs or more, every server runs on the last one and wrk on the first: wrk never takes the server's core,
# and the log's thread shares its server's core (its worst case), so a ratio measures what the server does.
CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU, WRK_CPU = (CPUS[-1], CPUS[0]) if len(CPUS) > 1 and shutil.which("taskset") else (None, None)
AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")  # on: each session gets an equal share of a busy CPU

FASTAPI_APP = '''
"""The baseline: what a minimal hand-written FastAPI endpoint for the same model looks like."""
import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

model = joblib.load("models/model.joblib")
classes = [str(c) for c in getattr(model, "classes_", [])]
app = FastAPI()


class Body(BaseModel):
    records: list[dict[str, float]]


@app.post("/predict")
def predict(body: Body) -> dict:
    frame = pd.DataFrame(body.records)
    if classes:
        proba = model.predict_proba(frame)
        return {
            "predictions": [classes[i] for i in proba.argmax(axis=1)],
            "probabilities": [dict(zip(classes, row)) for row in proba.tolist()],
        }
    return {"predictions": model.predict(frame).tolist()}
'''

NOOP_APP = '''
"""The HTTP bound: an ASGI app that reads the body and answers a fixed JSON, under the same uvicorn."""
BODY = b'{"predictions":["benign"],"probabilities":[{"benign":1.0,"malignant":0.0}],"model_version":"noop"}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
'''

WRK_SCRIPT = """
-- wrk ... -s this.lua URL -- EVERY: every EVERY-th request carries a poisoned body (0: none).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Traffic"] = "test"
local bodies = {%s}
local poisoned = {%s}
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args)
  every = tonumber(args[1]) or 0
  i, n, sent_bad, s2, s4, s5 = 0, 0, 0, 0, 0, 0
end
request = function()
  i = i %% #bodies + 1
  n = n + 1
  if every > 0 and n %% every == 0 then
    sent_bad = sent_bad + 1
    return wrk.format(nil, nil, nil, poisoned[i])
  end
  return wrk.format(nil, nil, nil, bodies[i])
end
response = function(status, headers, body)
  if status >= 500 then s5 = s5 + 1 elseif status >= 400 then s4 = s4 + 1 else s2 = s2 + 1 end
end
done = function(summary, latency, requests)
  local e = summary.errors
  local bad, c2, c4, c5 = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    bad, c2, c4, c5 = bad + t:get("sent_bad"), c2 + t:get("s2"), c4 + t:get("s4"), c5 + t:get("s5")
  end
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, ' ..
    '"p99_us": %%d, "errors": %%d, "status_errors": %%d, "poisoned_sent": %%d, "s2xx": %%d, "s4xx": %%d, ' ..
    '"s5xx": %%d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, bad, c2, c4, c5))
end
"""

# py-spy frames -> where the time goes: a stack that passes through one of STACK_CATEGORIES' frames is
# counted there; any other, by the first match of CATEGORIES from the innermost frame outwards.
STACK_CATEGORIES = [("model metrics (serving/prometheus.py)", ("ServiceMetrics.",))]
CATEGORIES = [
    ("inference log (buffer, Parquet parts)", ("log_writer.py", "pyarrow", "store.py", "Bookkeeper.")),
    ("DataFrame from rows", ("ModelRunner.frame",)),
    ("model (scikit-learn)", ("sklearn/", "ModelRunner.predict")),
    ("request limits, deadlines, disconnect watch", ("BodyLimit.", "^disconnected (", "_client_left", "_expire")),
    ("batching queue", ("AdaptiveBatcher.", "_Job.")),
    ("request validation, response JSON (pydantic)", ("pydantic", "io_models.py", "serde.py")),
    ("OpenTelemetry middleware", ("opentelemetry",)),
    ("Prometheus metrics middleware", ("prometheus_client", "instruments.py")),
    ("HTTP parsing, ASGI routing, event loop", ("uvicorn", "starlette", "h11", "httptools", "asyncio", "anyio")),
]


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """`command` on one CPU (taskset), or as it is when there is no CPU to spare."""
    return command if cpu is None else ["taskset", "-c", str(cpu), *command]


def run(command: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=ENV, check=True, **kwargs)


def ensure_wrk() -> str:
    """The wrk binary; installs Debian's package when it is missing and we may (root with apt-get)."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("installing wrk: apt-get update && apt-get install -y wrk", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if found is None:
        sys.exit("serving benchmark: needs Debian's wrk; install it with `sudo apt-get install -y wrk`")
    return found


def bake(ref: str | None = None) -> Path:
    """Bake the defaults from a clean copy of the template (caches in the tree are not template files),
    or from the template at git commit `ref` (the baseline, in WORK/base; the py-spy and FastAPI extras
    only for the working tree's project)."""
    project = bake_template(WORK / "base" if ref else WORK, ref)
    run(["bash", "-c", "git init -q && git add -A && git -c user.name=b -c user.email=b@x commit -qm init"], project)
    print(f"setting up the baked project{f' at {ref}' if ref else ''} (make setup) ...", flush=True)
    run(["make", "setup"], project, capture_output=True)
    if not ref:
        uv = str(project / ".venv/bin/uv")
        run([uv, "pip", "install", "-q", "--python", ".venv/bin/python", "fastapi", "py-spy"], project)
    return project


def train(project: Path, estimator: str) -> None:
    """Run the pipeline commands for one estimator (without dvc, to switch estimators freely)."""
    py = str(project / ".venv/bin/python")
    edit = (
        "import yaml; p = yaml.safe_load(open('params.yaml')); "
        f"p['train'] = {{'estimator': {estimator!r}, 'params': {{}}}}; "
        "yaml.safe_dump(p, open('params.yaml', 'w'), sort_keys=False)"
    )
    run([py, "-c", edit], project)
    for command in ("ingest", "schema", "split", "train", "evaluate", "package"):
        run([py, "-m", package_name(project), command], project, capture_output=True)


def narrowest_feature(project: Path) -> str:
    """The numeric feature with the narrowest contract range: 1.7e308 there overflows in the scaler."""
    contract = yaml.safe_load((project / "schema.yaml").read_text())
    ranged = [c for c in contract["columns"] if c.get("minimum") is not None and c["name"] != contract["target"]]
    return min(ranged, key=lambda c: c["maximum"] - c["minimum"])["name"]


def package_without_range(project: Path, feature: str) -> str:
    """Package the model once more with `feature`'s range removed from the contract (the poison then passes
    validation and reaches the model); the normal model is packaged again after, as the latest. Its tag."""
    py, pkg = str(project / ".venv/bin/python"), package_name(project)
    schema = (project / "schema.yaml").read_text()
    contract = yaml.safe_load(schema)
    for column in contract["columns"]:
        if column["name"] == feature:
            column.pop("minimum", None)
            column.pop("maximum", None)
    try:
        (project / "schema.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
        out = run([py, "-m", pkg, "package"], project, capture_output=True, text=True).stdout
    finally:
        (project / "schema.yaml").write_text(schema)
    run([py, "-m", pkg, "package"], project, capture_output=True)
    return out.split("-> model ", 1)[1].split()[0]


def holdout_bodies(project: Path, poison: str | None = None) -> list[str]:
    """ROWS single-record bodies of holdout rows; with `poison`, that feature is POISON_VALUE in each."""
    pkg = package_name(project)
    change = {poison: POISON_VALUE} if poison else {}
    code = (
        f"import json, pandas as pd; from {pkg}.params import load_params; p = load_params(); "
        f"t = pd.read_parquet('data/processed/test.parquet').drop(columns=[p.data.target]).head({ROWS}); "
        f"print(json.dumps([json.dumps({{'records': [r | {change!r}]}}) for r in t.to_dict(orient='records')]))"
    )
    out = run([str(project / ".venv/bin/python"), "-c", code], project, capture_output=True, text=True).stdout
    return json.loads(out)


def post(url: str, body: str) -> dict:
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def start(name: str, project: Path, port: int, **env: str) -> subprocess.Popen:
    """One server: ours and base (`python -m <package> serve`, `env` for the model tag), fastapi or noop."""
    py = str(project / ".venv/bin/python")
    if name.startswith(("ours", "base")):
        command = [py, "-m", package_name(project), "serve", "--port", str(port)]
    else:
        module = "bench_fastapi:app" if name == "fastapi" else "bench_noop:app"
        command = [py, "-m", "uvicorn", module, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        command += ["--no-access-log", "--log-level", "warning"]
    log = open(WORK / f"{name}-{port}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(  # a session of its own: with autogroup, the scheduler shares a CPU per server
        pinned(command, SERVER_CPU),
        cwd=project,
        env={**ENV, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def together_possible() -> bool:
    """Servers can be loaded at once on one CPU with equal shares: they are pinned to it, and the scheduler
    groups each session's threads (autogroup), so that a server with a busy extra thread gets no more CPU."""
    try:
        return SERVER_CPU is not None and AUTOGROUP.read_text().strip() == "1"
    except OSError:
        return False


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(url: str, body: str, process: subprocess.Popen, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {WORK}/*.log")
        try:
            return post(url, body)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout} s")


ANSWERED: collections.Counter[str] = collections.Counter()  # 2xx answers per URL, over every run


def wrk(binary: str, url: str, script: Path, duration: int, connections: int, every: int = 0) -> dict:
    """One wrk run; every `every`-th request poisoned (0: none)."""
    return wrk_together(binary, [url], script, duration, connections, every)[url]


def wrk_together(
    binary: str, urls: list[str], script: Path, duration: int, connections: int, every: int = 0
) -> dict[str, dict]:
    """One wrk per URL, all at once (on the wrk CPU); each one's result by URL."""
    loads = {}
    for url in urls:
        command = [binary, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script), url]
        loads[url] = subprocess.Popen(pinned([*command, "--", str(every)], WRK_CPU), stdout=subprocess.PIPE, text=True)
    outputs = {url: load.communicate()[0] for url, load in loads.items()}  # every wrk ends before any error
    results = {}
    for url, load in loads.items():
        if load.returncode:
            raise subprocess.CalledProcessError(load.returncode, load.args, outputs[url])
        result = results[url] = json.loads(outputs[url].split("RESULT ", 1)[1])
        result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
        ANSWERED[url] += result["s2xx"]
    return results


def logged_rows(project: Path, store: Path) -> int:
    """Rows of the inference log in a local monitoring store."""
    code = "import sys; from {0} import store; print(len(store.read_window(sys.argv[1], store.PREDICTIONS)))"
    command = [str(project / ".venv/bin/python"), "-c", code.format(package_name(project)), str(store)]
    return int(run(command, project, capture_output=True, text=True).stdout)


def children(pid: int) -> list[int]:
    """The child processes of every thread of `pid` ([] when it has exited)."""
    try:
        return [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except OSError:
        return []


def stat_seconds(stat: Path) -> float:
    """User + system CPU seconds of a /proc stat file (a process's or a thread's); 0 when it has exited."""
    try:
        fields = stat.read_text().rpartition(")")[2].split()
    except OSError:  # it exited meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (every thread), from /proc."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += stat_seconds(Path(f"/proc/{current}/stat"))
        pending += children(current)
    return total


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """(serving thread, every other thread) user + system CPU seconds of BentoML's worker process of `pid`: the
    event loop (HTTP, validation, the model) vs the threads beside it (the inference log's writer)."""
    worker, main, others = worker_pid(pid), 0.0, 0.0
    for task in Path(f"/proc/{worker}/task").iterdir():
        seconds = stat_seconds(task / "stat")
        if task.name == str(worker):
            main += seconds
        else:
            others += seconds
    return main, others


def paired_ratio(runs: list[dict], baseline: list[dict]) -> tuple[float, float, float]:
    """The geometric mean of the turn-by-turn req/s ratios of two servers loaded in the same rounds, and its 95 %
    bootstrap interval (over rounds; seeded): what the machine's drift between rounds moves least."""
    logs = [math.log(run["rps"] / base["rps"]) for run, base in zip(runs, baseline, strict=True)]
    draw = random.Random(0)
    means = sorted(sum(draw.choices(logs, k=len(logs))) / len(logs) for _ in range(10_000))
    return math.exp(sum(logs) / len(logs)), math.exp(means[250]), math.exp(means[9749])


def worker_pid(pid: int) -> int:
    """BentoML's arbiter starts the worker that serves: the first child process, if any."""
    return next(iter(children(pid)), pid)


def profile(project: Path, pid: int, seconds: int) -> dict[str, int]:
    """py-spy samples of the serving process (every thread), summed per category."""
    out = WORK / "profile.txt"
    spy = str(project / ".venv/bin/py-spy")
    command = [spy, "record", "-p", str(pid), "-d", str(seconds), "-r", "200", "-f", "raw", "-o", str(out)]
    subprocess.run(command + ["--nonblocking"], capture_output=True, check=True)
    totals: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        category = "other Python (BentoML internals, threads)"
        through = [name for name, keys in STACK_CATEGORIES if any(key in frame for frame in frames for key in keys)]
        for frame in [] if through else reversed(frames):
            match = next((name for name, keys in CATEGORIES if any(key in frame for key in keys)), None)
            if match:
                category = match
                break
        totals[through[0] if through else category] += int(count)
    return dict(totals)


def server_env(name: str, store: Path, unbounded_tag: str) -> dict[str, str]:
    """The environment of one of measure()'s servers: its inference log (or none), its model, its metrics."""
    log_env = {"ours": str(store), "ours, log off": "off", NO_METRICS: f"{store}-no-metrics", "ours, no range": "off"}
    env = {"SERVICE_MODEL_TAG": unbounded_tag} if name == "ours, no range" else {}
    if name in log_env:
        env["MONITOR_STORE"] = log_env[name]
    env |= {"SERVICE_MODEL_METRICS": "off"} if name == NO_METRICS else {}
    return env


def load_rounds(
    names: list[str], urls: dict[str, str], binary: str, script: Path, args: argparse.Namespace
) -> dict[str, list[dict]]:
    """--rounds rounds of wrk on every server: in turn, each server leading one round after the other, or all
    at once with --together (whatever the machine does meanwhile hits every server alike); each one's runs."""
    runs: dict[str, list[dict]] = {name: [] for name in names}
    seconds = args.duration // args.rounds
    for turn in range(args.rounds):
        if args.together:
            results = wrk_together(binary, [urls[name] for name in names], script, seconds, args.connections)
            for name in names:
                runs[name].append(results[urls[name]])
        else:
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                runs[name].append(wrk(binary, urls[name], script, seconds, args.connections))
        done = ", ".join(f"{name} {runs[name][-1]['rps']:.0f}" for name in names)
        print(f"  round {turn + 1}/{args.rounds} (req/s): {done}", flush=True)
    return runs


def measure(
    project: Path, estimator: str, binary: str, args: argparse.Namespace, base: Path | None
) -> tuple[list[dict], str, list[dict]]:
    """All servers up at once (idle ones cost nothing), loaded in turn for --rounds rounds, so that a
    change in the machine's background load hits every server alike; with --focus (when `together_possible`),
    loaded all at once in each round, sharing their CPU. For the default model, then the
    fault-isolation runs (clean and poisoned traffic) on ours, ours without the poisoned feature's range,
    and the baseline."""
    print(f"\n--- {estimator}: pipeline and package", flush=True)
    train(project, estimator)
    if base:
        train(base, estimator)
    feature = narrowest_feature(project)
    isolation = estimator == "logistic_regression" and not args.focus
    unbounded_tag = package_without_range(project, feature) if isolation else ""
    bodies, poisoned = holdout_bodies(project), holdout_bodies(project, feature)
    script = WORK / "wrk.lua"
    script.write_text(WRK_SCRIPT % (", ".join(map(json.dumps, bodies)), ", ".join(map(json.dumps, poisoned))))
    names = ["ours", "ours, log off", NO_METRICS, *(["base"] if base else [])]
    names += [] if args.focus else ["fastapi", "noop"]
    servers = names + (["ours, no range"] if isolation else [])
    urls = {name: f"http://127.0.0.1:{args.port + index}/predict" for index, name in enumerate(servers)}
    store = WORK / f"store-{estimator}"
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(f"{store}-no-metrics", ignore_errors=True)
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name in servers:
            folder = base if name == "base" and base else project
            env = server_env(name, store, unbounded_tag)
            processes[name] = start(name, folder, args.port + servers.index(name), **env)
        answers = {name: wait_ready(urls[name], bodies[0], processes[name]) for name in servers}
        ANSWERED[urls["ours"]] = 1  # this model's run only: its store is fresh too (each model's ours has this port)
        for name in servers:
            if name != "noop" and answers[name]["predictions"] != answers["ours"]["predictions"]:
                raise RuntimeError(f"{name} predicts {answers[name]['predictions']}, ours {answers['ours']}")
        for name in servers:
            wrk(binary, urls[name], script, 3, args.connections)  # warm-up
        # Each server's CPU over all the turns (its own and, idle, the others': a log part written after its
        # turn counts too), per request it answered in its turns: a cost that the machine's noise moves less.
        ours = [name for name in names if name.startswith(("ours", "base"))]
        cpu = {name: cpu_seconds(processes[name].pid) for name in names}
        threads = {name: thread_cpu_seconds(processes[name].pid) for name in ours}
        runs = load_rounds(names, urls, binary, script, args)
        cpu = {name: cpu_seconds(processes[name].pid) - cpu[name] for name in names}
        after = {name: thread_cpu_seconds(processes[name].pid) for name in ours}
        rows = []
        for name in names:
            result = combine(runs[name])
            result["cpu_us"] = cpu[name] / result["requests"] * 1e6
            if name in ours:
                result["serving_us"], result["beside_us"] = (
                    (a - b) / result["requests"] * 1e6 for a, b in zip(after[name], threads[name], strict=True)
                )
            result["vs_ours"] = paired_ratio(runs["ours"], runs[name])
            print(
                f"{name:8s} {result['rps']:8.0f} req/s  p99 {result['p99_us'] / 1000:.1f} ms  "
                f"CPU {result['cpu_us']:.0f} us/request",
                flush=True,
            )
            rows.append({"model": estimator, "server": name, **result})
        isolation_rows = fault_isolation(servers, urls, binary, script, args) if isolation else []
        profile_text = ""
        if args.profile and not args.focus:
            profile_text = profile_ours(project, processes["ours"].pid, binary, urls["ours"], script, args)
    finally:
        for process in processes.values():
            stop(process)
    for row in isolation_rows:
        row["feature"] = feature
    rows[0]["logged"], rows[0]["answered"] = logged_rows(project, store), ANSWERED[urls["ours"]]
    return rows, profile_text, isolation_rows


def fault_isolation(
    servers: list[str], urls: dict[str, str], binary: str, script: Path, args: argparse.Namespace
) -> list[dict]:
    """Clean and 1%-poisoned traffic on ours, ours without the poisoned feature's range, and base; in turns."""
    names = [name for name in ("ours", "ours, no range", "base") if name in servers]
    runs: dict[tuple[str, int], list[dict]] = {(name, every): [] for name in names for every in (0, POISON_EVERY)}
    for _ in range(args.rounds):
        for name, every in runs:
            seconds = args.duration // args.rounds
            runs[name, every].append(wrk(binary, urls[name], script, seconds, args.connections, every))
    rows = []
    for (name, every), results in runs.items():
        result = combine(results)
        for key in ("poisoned_sent", "s2xx", "s4xx", "s5xx"):
            result[key] = sum(r[key] for r in results)
        print(f"{name:15s} poison 1/{every or '-'}: {result['rps']:6.0f} req/s  5xx {result['s5xx']}", flush=True)
        rows.append({"server": name, "every": every, **result})
    return rows


def combine(runs: list[dict]) -> dict:
    """Rounds -> one result: requests/time over all rounds; each percentile's median round; errors summed."""
    result = {
        "requests": sum(r["requests"] for r in runs),
        "duration_us": sum(r["duration_us"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "status_errors": sum(r["status_errors"] for r in runs),
    }
    for key in ("p50_us", "p95_us", "p99_us"):
        result[key] = statistics.median(r[key] for r in runs)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def profile_ours(project: Path, pid: int, binary: str, url: str, script: Path, args: argparse.Namespace) -> str:
    seconds = 15
    load = subprocess.Popen(
        pinned([binary, "-t1", f"-c{args.connections}", f"-d{seconds + 2}s", "-s", str(script), url], WRK_CPU),
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    totals = profile(project, worker_pid(pid), seconds)
    result = json.loads(load.communicate()[0].split("RESULT ", 1)[1])
    ANSWERED[url] += result["s2xx"]
    requests = result["requests"] * seconds / (seconds + 2)
    busy = sum(totals.values())
    lines = ["| where | share of CPU samples | CPU ms per request |", "|---|---:|---:|"]
    for name, samples in sorted(totals.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {samples / busy:.0%} | {samples / 200 / requests * 1000:.3f} |")
    total_ms = busy / 200 / requests * 1000
    lines.append(f"| **total** (all threads of the worker) | 100% | {total_ms:.3f} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    lines = [
        "| model | server | req/s | p50 ms | p95 ms | p99 ms | errors | ours vs this | share of no-op |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        same = {r["server"]: r for r in rows if r["model"] == row["model"]}
        ratio = same["ours"]["rps"] / row["rps"] if row["server"] != "ours" else 1.0
        share = f"{row['rps'] / same['noop']['rps']:.1%}" if "noop" in same else "-"  # --focus: no no-op server
        errors = row["errors"] + row["status_errors"]
        lines.append(
            f"| {row['model']} | {row['server']} | {row['rps']:.0f} | {row['p50_us'] / 1000:.1f} | "
            f"{row['p95_us'] / 1000:.1f} | {row['p99_us'] / 1000:.1f} | {errors} | {ratio:.2f}x | {share} |"
        )
    return "\n".join(lines)


def log_table(rows: list[dict]) -> str:
    """The inference log's cost: ours (log on) against ours with MONITOR_STORE=off, same model, same turns."""
    lines = [
        "| model | req/s, log on | req/s, log off | on / off, paired by round [95 % interval] "
        "| server CPU µs per request, on / off | on / off | event loop's thread µs, on / off "
        "| other threads µs (the log's writer), on / off | p99 ms on / off | errors on / off "
        "| rows in the store / 2xx answers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for on in (row for row in rows if row["server"] == "ours"):
        off = next(r for r in rows if r["model"] == on["model"] and r["server"] == "ours, log off")
        errors = [r["errors"] + r["status_errors"] for r in (on, off)]
        ratio, low, high = off["vs_ours"]
        lines.append(
            f"| {on['model']} | {on['rps']:.0f} | {off['rps']:.0f} | {ratio:.3f} [{low:.3f}, {high:.3f}] | "
            f"{on['cpu_us']:.0f} / {off['cpu_us']:.0f} | {on['cpu_us'] / off['cpu_us']:.3f} | "
            f"{on['serving_us']:.0f} / {off['serving_us']:.0f} | {on['beside_us']:.1f} / {off['beside_us']:.1f} | "
            f"{on['p99_us'] / 1000:.1f} / {off['p99_us'] / 1000:.1f} | {errors[0]} / {errors[1]} | "
            f"{on['logged']} / {on['answered']} |"
        )
    return "\n".join(lines)


def isolation_table(rows: list[dict]) -> str:
    """Clean vs 1%-poisoned traffic per server: req/s, its ratio to the same server's clean run, statuses."""
    lines = [
        "| server | traffic | req/s | vs its clean run | p50 ms | p99 ms | poisoned sent | 2xx | 4xx | 5xx "
        "| socket errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    clean = {row["server"]: row for row in rows if not row["every"]}
    for row in rows:
        traffic = f"1% poisoned ({row['feature']} = 1.7e308)" if row["every"] else "clean"
        lines.append(
            f"| {row['server']} | {traffic} | {row['rps']:.0f} | {row['rps'] / clean[row['server']]['rps']:.2f}x | "
            f"{row['p50_us'] / 1000:.1f} | {row['p99_us'] / 1000:.1f} | {row['poisoned_sent']} | {row['s2xx']} | "
            f"{row['s4xx']} | {row['s5xx']} | {row['errors']} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds of load per server (default 30)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the py-spy profile")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"turns per server, in rotation (default {ROUNDS})")
    parser.add_argument(
        "--focus",
        action="store_true",
        help="only ours, ours with the log off, ours without the model metrics (no FastAPI, no-op, isolation, profile)",
    )
    parser.add_argument("--baseline", metavar="REF", help="also serve the template at this git commit as `base`")
    parser.add_argument("--port", type=int, default=PORT, help=f"first of the loopback ports used (default {PORT})")
    parser.add_argument(
        "--estimators",
        default="logistic_regression,random_forest",
        help="comma-separated models to serve (default: logistic_regression,random_forest)",
    )
    args = parser.parse_args()
    args.together = args.focus and together_possible()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds the `finally` that stops the servers
    binary = ensure_wrk()
    WORK.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    project = bake()
    base = bake(args.baseline) if args.baseline else None
    (project / "bench_fastapi.py").write_text(FASTAPI_APP)
    (project / "bench_noop.py").write_text(NOOP_APP)
    rows, profiles, isolation_rows = [], {}, []
    for estimator in args.estimators.split(","):
        model_rows, profile_text, model_isolation = measure(project, estimator, binary, args, base)
        rows += model_rows
        profiles[estimator] = profile_text
        isolation_rows += model_isolation
    base_note = (
        [f"base = the same service from the template at `{args.baseline}` (same model, same process count)."]
        if base
        else []
    )
    text = "\n".join(
        [
            "# Serving benchmark",
            "",
            f"Single-row `POST /predict` requests (cycling over {ROWS} holdout rows of the default classification",
            f"data), {args.connections} connections, {args.duration} s per server after a 3 s warm-up, `wrk -t1`, in",
            (
                f"{args.rounds} rounds; in each, every server is loaded at the same time by a wrk of its own (req/s"
                " over all rounds; each percentile: the median round),"
                if args.together
                else f"{args.rounds} turns per server taken in rotation, each turn led by another server (req/s over"
                " all turns; each percentile: the median turn),"
            ),
            f"on {os.cpu_count()} cores (Python {platform.python_version()}; load average {load_before:.1f} before,",
            f"{os.getloadavg()[0]:.1f} after: the machine is shared, so compare rows of one run, not runs).",
            (
                f"Every server runs on CPU {SERVER_CPU} and wrk on CPU {WRK_CPU} (taskset), each server in a session of"
                " its own, which the kernel's autogroup gives an equal share of a busy CPU: loaded together, the"
                f" {len({row['server'] for row in rows})} servers share CPU {SERVER_CPU} equally, and a server's extra"
                " threads (the log's writer) take from its own share. Latencies include the others' time slices."
                if args.together
                else f"Every server runs on CPU {SERVER_CPU} and wrk on CPU {WRK_CPU} (taskset): one core per server,"
                " which its threads share."
                if SERVER_CPU is not None
                else "Servers and wrk share the CPUs (one CPU, or no taskset)."
            ),
            "One serving process each: ours = `python -m <package> serve` (BentoML 1.4, adaptive batching,",
            "inference log on, the model's own metrics on), `ours, log off` = the same with MONITOR_STORE=off,",
            "`ours, no model metrics` = the same with SERVICE_MODEL_METRICS=off (BentoML's metrics stay; its log",
            "goes to a store of its own)"
            + (
                "."
                if args.focus
                else ", fastapi = a minimal FastAPI endpoint under uvicorn, noop = an ASGI app answering a fixed"
                " body under the same uvicorn (the HTTP bound)."
            ),
            "`ours vs this` = our req/s / this row's req/s. Every request says `X-Traffic: test`.",
            *base_note,
            "",
            table(rows),
            "",
            "The inference log's cost (the rows above): `ours` appends each predicted batch (its float block and",
            "arrays, with its requests' ids) to a bounded buffer that a thread turns into Arrow and writes to a",
            "local monitoring store as Parquet parts, in one step (every 60 s or 10000 rows,",
            "and on SIGTERM); `ours, log off` does not. Rows in the store, counted after the servers stopped,",
            "against every 2xx answer `ours` gave in this run (warm-up, turns, fault isolation, profile): a few more",
            "rows than answers, those of the requests in flight when a wrk turn stops (predicted, answer not counted).",
            "Server CPU per request: the user + system CPU of the server's processes from the first turn to the",
            (
                "last / the requests it answered (a part written after a round counts too);"
                if args.together
                else "last (its own turns and, idle, the others': a part written after its turn counts too) / the"
                " requests it answered in its turns;"
            ),
            "it moves less with the machine's load than req/s. It is split into the thread",
            "that runs the event loop (HTTP, validation, the model) and the threads beside it (the log's writer).",
            "on / off: the geometric mean of the on / off req/s ratios of the rounds (both servers loaded in each,",
            f"{'at the same time' if args.together else 'one after the other'}) and its 95 % bootstrap interval over"
            " rounds:",
            "",
            log_table(rows),
            "",
            *(
                [
                    "Fault isolation (logistic_regression, same load and turns): clean traffic vs 1% of requests",
                    "poisoned with a finite 1.7e308 in the feature with the narrowest contract range. ours refuses it",
                    "by its plausible range (400 before the model); `ours, no range` serves a model packaged without",
                    "that feature's range, so the poison passes validation and overflows in the model's scaler: the",
                    "batcher predicts the request whose row the preprocessing turns infinite alone and the others",
                    "together (bisecting when that explains nothing), so only the poisoned request gets a 4xx (422).",
                    "Every clean request should get a 2xx: 2xx = requests - poisoned, 5xx = 0.",
                    *(["base has neither the bound nor the isolation."] if base else []),
                    "",
                    isolation_table(isolation_rows),
                    "",
                ]
                if isolation_rows
                else []
            ),
            *[
                part
                for estimator, text in profiles.items()
                if text
                for part in (f"Where our service's CPU time goes ({estimator}, py-spy, 15 s under load):", "", text, "")
            ],
        ]
    )
    print("\n" + text)
    results = FOCUS_RESULTS if args.focus else RESULTS
    write_results(results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
