"""The monitoring store at object-store scale: 20,000 parts of 100 rows (2M rows over 7 days, as pods writing a part
a minute leave them) read by `monitor`'s reader before and after `compact`, on S3 and on a local disk.

The default project (breast cancer, 30 features) is baked and its data ingested; the parts are its rows resampled
with 1 % noise, written with store.write_part (each part's rows share a minute, one model version, the classes'
probabilities as the service logs them) into a local store, then copied to a bucket of moto (`moto_server`, the
generated project's S3 emulator, on loopback: by default its S3 app alone, without moto_server's dispatcher
and request log, `--moto server` for moto_server; s3fs, which lists, and obstore, which fetches, find it through
AWS_ENDPOINT_URL_S3, as in tests/integration/serving/test_store_s3.py). Each read runs in a child process of the
project's venv: its wall time and CPU from inside, its peak RSS from the kernel.

- `live_predictions` (traffic.py: what `monitor`, `drift` and `dataset` read) over the 7 days, with the store as
  written, then `python -m <package> compact` (monitor.compact_mb: 128), then the reader again;
- the reader this replaced (one pq.read_table a part, then one concat) on the same parts: on S3 over the first
  --old-parts parts only (minutes for all of them), locally over all.

    python benchmarks/store.py                       # from the template root, in its .venv
    python benchmarks/store.py --parts 2000 --old-parts 500

Writes benchmarks/results/store.md. Work files: build/bench-store, venv: build/bench-venvs. moto keeps the objects in
memory (about 0.7 GB at 20,000 parts, twice that while `compact` writes).
"""

from __future__ import annotations

import argparse
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

from common import ENV, ROOT, bake, package_name, timed_peak, venv, write_results

WORK = ROOT / "build" / "bench-store"
RESULTS = ROOT / "benchmarks" / "results" / "store.md"
BUCKET = "bench"
GOALS = {"wall_s": 60.0, "peak_mb": 2048.0}  # the issue: 20,000 parts read within 60 s and 2 GB on this machine
MOTO = {
    "s3": "moto's S3 app alone on werkzeug's threaded server, its request log off: S3_ONLY",
    "server": "moto_server, as the generated project's tests run it",
}

MAKE_PARTS = r"""
import sys, time
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from {package} import io, store
from {package}.params import load_params

parts, rows, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
params = load_params()
raw = io.read_table("data/raw/data.parquet")
features = [name for name in raw.columns if name != params.data.target]
classes = sorted(raw[params.data.target].unique())
rng = np.random.default_rng(0)
total = parts * rows
pick = rng.integers(0, len(raw), total)
frame = raw[features].iloc[pick].reset_index(drop=True)
frame = frame * (1 + 0.01 * rng.standard_normal(frame.shape))
now = datetime.now(UTC)
start = now - timedelta(days=7)
step = timedelta(days=7) / parts  # one part every ~30 s: pods writing a part a minute each
first = rng.random(total)
columns = {{name: pa.array(frame[name].to_numpy()) for name in features}}
columns[store.ID] = pa.array(np.char.add("r", np.arange(total).astype(str)))
columns[store.MODEL_VERSION] = pa.array(["{package}:bench"] * total)
columns[store.PREDICTION] = pa.array(np.where(first < 0.5, classes[0], classes[-1]))
columns[store.PROBABILITIES] = pa.StructArray.from_arrays([pa.array(first), pa.array(1 - first)], names=classes)
columns[store.TRAFFIC] = pa.array([store.LIVE] * total)
columns[store.UNKNOWN] = pa.nulls(total, pa.string())
table = pa.table(columns)
started = time.perf_counter()
for index in range(parts):
    when = start + step * index
    stamps = pa.array([when] * rows, store.UTC_TIME)
    part = table.slice(index * rows, rows)
    part = part.add_column(len(features) + 1, store.TS, stamps)
    store.write_part(root, store.PREDICTIONS, part, when, "{package}:bench")
print(time.perf_counter() - started)
"""

UPLOAD = r"""
import sys, time
import boto3, s3fs
local, bucket, endpoint = sys.argv[1], sys.argv[2], sys.argv[3]
boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint).create_bucket(Bucket=bucket)
fs = s3fs.S3FileSystem()
started = time.perf_counter()
fs.put(local.rstrip("/") + "/", f"{bucket}/store/", recursive=True)
print(time.perf_counter() - started, len(fs.find(f"{bucket}/store")))
"""

READ = r"""
import json, sys, time
from datetime import UTC, datetime, timedelta

root, how, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
started, cpu = time.perf_counter(), time.process_time()
if how == "live_predictions":
    from {package}.monitor.traffic import live_predictions

    now = datetime.now(UTC)
    traffic = live_predictions(root, now - timedelta(days=7, hours=1), now)
    rows, distinct = traffic.logged, len(traffic.rows)
else:  # the reader before: every part's path (a glob), then one pq.read_table each, then one concat
    import pyarrow as pa
    import pyarrow.parquet as pq

    from {package} import store

    fs, base = store.filesystem(root)
    paths = sorted(fs.glob(f"{{base.rstrip('/')}}/predictions/date=*/**/part-*.parquet"))[:limit]
    native = None if store.is_local(fs) else fs
    table = pa.concat_tables([pq.read_table(path, filesystem=native) for path in paths], promote_options="permissive")
    rows, distinct = len(table), len(paths)
print(json.dumps({{"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu, "rows": rows,
                  "distinct": distinct}}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# moto's S3 app alone (what moto_server's dispatcher serves an S3 request with, found per request by matching the
# URL against every service's: ~20 % of its CPU), on werkzeug's threaded server as moto_server runs it, without
# werkzeug's log line a request (~14 %).
S3_ONLY = r"""
import logging, sys
from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple
logging.getLogger("werkzeug").setLevel(logging.ERROR)
run_simple(sys.argv[1], int(sys.argv[2]), create_backend_app("s3"), threaded=True, request_handler=MotoRequestHandler)
"""


def start_moto(python: Path, log: Path, how: str) -> tuple[subprocess.Popen[bytes], str]:
    """moto on a free loopback port, answering (`how`: "server", moto_server; "s3", its S3 app alone); the AWS
    variables that lead s3fs and obstore to it go into ENV."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [str(python.parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    if how == "s3":
        command = [str(python), "-c", S3_ONLY, "127.0.0.1", str(port)]
    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"moto_server exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                break
        except urllib.error.HTTPError:
            break  # an answer: the S3 app alone has no /moto-api/
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError("moto_server did not answer within 60 s") from None
            time.sleep(0.2)
    none = str(WORK / "no-aws-config")
    ENV.update(
        {
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": none,
            "AWS_SHARED_CREDENTIALS_FILE": none,
        }
    )
    return server, endpoint


def run(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process so far (moto_server's: the emulator's share of a read)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read(python: Path, project: Path, root: str, how: str, limit: int = 0, server: int = 0) -> dict[str, float]:
    """One read in a child: its figures from inside, its peak RSS and (`server`: moto_server's PID) the CPU that
    moto spent meanwhile."""
    script = READ.format(package=package_name(project))
    before = cpu_seconds(server) if server else 0.0
    wall, peak, output, _ = timed_peak([str(python), "-c", script, root, how, str(limit)], cwd=project)
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    moto = cpu_seconds(server) - before if server else float("nan")
    return figures | {"peak_mb": peak, "process_s": wall, "moto_cpu": moto, "load": os.getloadavg()[0]}


def compact(python: Path, project: Path, root: str) -> tuple[float, float, str]:
    """`compact` of a store: (wall s, peak MB, its line)."""
    wall, peak, output, _ = timed_peak([str(python), "-m", package_name(project), "compact", "--store", root], project)
    return wall, peak, output.strip().splitlines()[-1]


def objects(python: Path, root: str) -> tuple[int, float]:
    """(files, MB) of a store's predictions."""
    code = (
        "import sys, fsspec.core\nfs, path = fsspec.core.url_to_fs(sys.argv[1])\n"
        "found = fs.find(path.rstrip('/') + '/predictions', detail=True)\n"
        "print(len(found), sum(info['size'] for info in found.values()) / 2**20)"
    )
    files, size = run([str(python), "-c", code, root], ROOT).split()
    return int(files), float(size)


def row(what: str, figures: dict[str, float], files: int, size: float) -> str:
    per_part = figures["wall"] / max(files, 1) * 1000
    moto = "" if figures["moto_cpu"] != figures["moto_cpu"] else f"{figures['moto_cpu']:.1f}"  # NaN: no moto
    return (
        f"| {what} | {files:,} ({size:.0f} MB) | {figures['wall']:.1f} | {figures['cpu']:.1f} | {moto} | "
        f"{figures['peak_mb']:.0f} | {int(figures['rows']):,} | {per_part:.2f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=100, help="rows per part")
    parser.add_argument("--old-parts", type=int, default=500, help="parts the old reader reads on S3")
    parser.add_argument(
        "--moto",
        choices=["s3", "server"],
        default="s3",
        help="moto's S3 app alone (S3_ONLY) or moto_server, as the tests",
    )
    args = parser.parse_args()
    project = bake(WORK)
    package = package_name(project)
    python = venv(
        "store-project",
        [
            "-e",
            str(project),
            "moto[s3]>=5.1,<6",
            "flask>=3,<4",
            "flask-cors>=5,<7",
            "s3fs>=2025.1",
            "obstore>=0.12,<0.13",
        ],
    )
    run([str(python), "-m", package, "ingest"], project)
    local = WORK / "local"
    shutil.rmtree(local, ignore_errors=True)
    wrote = float(
        run(
            [str(python), "-c", MAKE_PARTS.format(package=package), str(args.parts), str(args.rows), str(local)],
            project,
        )
    )
    local_copy = WORK / "local-compacted"
    shutil.copytree(local, local_copy)
    server, endpoint = start_moto(python, WORK / "moto.log", args.moto)
    try:
        uploaded, count = map(float, run([str(python), "-c", UPLOAD, str(local), BUCKET, endpoint], project).split())
        s3 = f"s3://{BUCKET}/store"
        lines, results = [], {}
        for where, root in (("S3 (moto, loopback)", s3), ("local disk", str(local_copy))):
            files, size = objects(python, root)
            old_limit = args.old_parts if root == s3 else files
            pid = server.pid if root == s3 else 0
            old = read(python, project, root, "old", old_limit, pid)
            before = read(python, project, root, "live_predictions", server=pid)
            took, compact_peak, said = compact(python, project, root)
            after_files, after_size = objects(python, root)
            after = read(python, project, root, "live_predictions", server=pid)
            results[where] = (before, after)
            lines += [
                row(
                    f"{where}: the reader before (one read a part), {int(old['distinct']):,} parts",
                    old,
                    int(old["distinct"]),
                    size * old["distinct"] / files,
                ),
                row(f"{where}: `live_predictions`, as written", before, files, size),
                f"| {where}: `{package} compact` | {files:,} -> {after_files:,} | {took:.1f} | | | "
                f"{compact_peak:.0f} | | |",
                row(f"{where}: `live_predictions`, compacted", after, after_files, after_size),
            ]
            print(lines[-4:], said, flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    s3_before, s3_after = results["S3 (moto, loopback)"]
    met = {
        name: figures["wall"] <= GOALS["wall_s"] and figures["peak_mb"] <= GOALS["peak_mb"]
        for name, figures in (("as written", s3_before), ("compacted", s3_after))
    }
    text = "\n".join(
        [
            f"The monitoring store with {args.parts:,} parts of {args.rows} rows ({args.parts * args.rows:,} rows "
            f"over 7 days, 30 features, one model version), written by store.write_part in {wrote:.0f} s and copied "
            f"to moto in {uploaded:.0f} s ({int(count):,} objects), on {os.cpu_count()} cores (Python "
            f"{sys.version.split()[0]}; "
            f"load average {os.getloadavg()[1]:.1f} over the last 5 minutes: the machine is shared; moto, a Python "
            "server, shares the cores with the reader and costs each request about as much CPU as the client).",
            "",
            "| read | files (Parquet) | wall (s) | CPU of the reader (s) | CPU of moto (s) | peak memory (MB) | rows "
            "| ms a file |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            *lines,
            "",
            "Wall and CPU are the read's alone (imports excluded), peak memory the child's; `compact`'s is the whole "
            f"command; moto's CPU is its process's during the read ({MOTO[args.moto]}). `live_predictions` lists "
            "the window's days (one listing per `date=` folder), fetches each object whole with one GET (obstore, 128 "
            "in flight, 8 MB a round, a thread of its own two rounds ahead of the caller) and decodes a round's parts "
            "(one pyarrow ParquetFile each) in another; the parts of one schema are cast to the latest part's "
            "together, 64 MB of parts made one chunk. The reader before listed with a glob and read each part through "
            "fsspec's file objects (a HEAD and ranged GETs each).",
            f"Per part on S3 as written: the reader {s3_before['cpu'] / args.parts * 1000:.2f} ms of CPU, moto "
            f"{s3_before['moto_cpu'] / args.parts * 1000:.2f} ms (load average over the read's last minute "
            f"{s3_before['load']:.1f}); "
            f"together {(s3_before['cpu'] + s3_before['moto_cpu']):.0f} s of CPU for 2 cores, "
            f"{(s3_before['cpu'] + s3_before['moto_cpu']) / 2:.0f} s of wall at best when nothing else runs.",
            f"Goals (the issue: the S3 store read within {GOALS['wall_s']:.0f} s and "
            f"{GOALS['peak_mb'] / 1024:.0f} GB): as written {'met' if met['as written'] else '**not met**'}, "
            f"compacted {'met' if met['compacted'] else '**not met**'}.",
        ]
    )
    print(text)
    write_results(RESULTS, text)
    return 0 if met["compacted"] else 1


if __name__ == "__main__":
    sys.exit(main())
