"""The monitoring store on S3, offline: the served model's traffic and feedback land in s3:// parts, and a store
outage under traffic, then a SIGTERM and a restart, loses and doubles nothing.

moto is an S3 API emulator: `moto_server` (moto[server], in the dev group) answers the S3 API on a loopback
port, and s3fs (fsspec's S3 backend, the one the DVC remote uses) talks to it as to AWS, through the standard
variables: AWS_ENDPOINT_URL_S3 points it at the emulator, dummy keys sign the requests. The bucket is made
with boto3 (s3fs's mkdir of a bucket fails there with InvalidLocationConstraint). The emulator keeps its objects
in memory, so the outage is a `Relay` between the service and the emulator that stops answering and comes back.
Servers run on 127.0.0.1, get bounded waits, and are stopped by their PIDs.
"""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import store

BUCKET = "monitoring"
ROOT = f"s3://{BUCKET}/prod"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until(check, what: str, seconds: float = 30, every: float = 0.1):
    deadline = time.monotonic() + seconds
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(every)
    return result


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto_server on a free loopback port with the bucket made, and the AWS variables that lead s3fs to it."""
    import boto3
    import s3fs

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, "moto_server did not answer within 30 s"
                time.sleep(0.2)
        env = {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(log.with_name("none"))}
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(log.with_name("none"))
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            s3fs.S3FileSystem.clear_instance_cache()  # an instance made before would keep its endpoint
            boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
            yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def served_to_s3(s3, tmp_path_factory):
    """A packaged churn model whose service logs to s3://monitoring/prod ($MONITOR_STORE), writing a part every
    half second."""
    from conftest import packaged_project

    serve = {"log_flush_seconds": 0.5}
    with packaged_project(tmp_path_factory.mktemp("s3-service"), serve, MONITOR_STORE=ROOT) as folder:
        yield folder


class FakeContext:
    """What the API methods use of BentoML's context: the request's headers and the response's status."""

    def __init__(self) -> None:
        self.request = type("Request", (), {"headers": {}})()
        self.response = type("Response", (), {"status_code": 200, "headers": {}})()


def test_the_services_traffic_and_feedback_land_in_s3_by_date_and_model_version(served_to_s3):
    import pandas as pd

    from {{ cookiecutter.package_name }}.params import TEST_DATA
    from {{ cookiecutter.package_name }}.serving.service import make_service

    service = make_service()
    instance = service.inner()
    assert instance.log.root == ROOT
    spec = service.apis["predict"].input_spec.model_fields["records"].annotation.__args__[0]
    frame = pd.read_parquet(TEST_DATA).drop(columns=["churn", "customer_id"]).head(3)
    rows = [{k: None if pd.isna(v) else v for k, v in row.items()} for row in frame.to_dict(orient="records")]
    records = [spec.model_validate(row) for row in rows]
    answer = asyncio.run(instance.predict_records(records, traffic=store.TEST))
    label = service.apis["feedback"].input_spec.model_fields["feedback"].annotation.__args__[0]
    labels = [label.model_validate({"id": answer.ids[0], "label": "yes"})]
    assert asyncio.run(instance.feedback(feedback=labels, ctx=FakeContext())).accepted == 1
    asyncio.run(instance.flush_log())  # what SIGTERM runs: the parts are written now

    [part] = store.part_files(ROOT, store.PREDICTIONS)
    version = answer.model_version.split(":")[1]
    assert part.startswith(f"{BUCKET}/prod/predictions/date=")
    assert f"/model={version}/part-" in part
    logged = store.read_window(ROOT, store.PREDICTIONS)
    assert logged[store.ID].tolist() == answer.ids
    assert logged[store.PREDICTION].tolist() == answer.predictions
    assert set(logged[store.TRAFFIC]) == {store.TEST}
    assert logged["monthly_charges"].tolist() == frame["monthly_charges"].tolist()
    feedback = store.read_window(ROOT, store.FEEDBACK)
    assert feedback[[store.ID, store.LABEL]].values.tolist() == [[answer.ids[0], "yes"]]
    assert store.part_files(ROOT, store.FEEDBACK)[0].startswith(f"{BUCKET}/prod/feedback/date=")


# --- the reader --------------------------------------------------------------------------------------------------


def _log_parts(root: str, now) -> None:
    """Two model versions' parts, the later one with a column more and its classes as text: 2 parts of 2 rows each."""
    import pyarrow as pa

    for number, (version, hours) in enumerate([("v1", 30), ("v1", 20), ("v2", 10), ("v2", 1)]):
        when = now - timedelta(hours=hours)
        columns = {"x": [float(number), 0.5], store.ID: [f"{number}a", f"{number}b"], store.TS: [when.isoformat()] * 2}
        columns[store.PREDICTION] = pa.array([1, 0]) if version == "v1" else pa.array(["1", "0"])
        if version == "v2":
            columns["new"] = ["a", "b"]
        store.write_part(root, store.PREDICTIONS, pa.table(columns), when, f"pkg:{version}")


def test_the_reader_fetches_s3_parts_and_footers_through_obstore_and_reads_what_it_reads_locally(
    s3, tmp_path, monkeypatch
):
    """No part or footer goes through s3fs (only the listing does), and the rows, the schema and the other
    versions' counts are the local reader's."""

    now = datetime.now(UTC)
    root, local = f"s3://{BUCKET}/reader", str(tmp_path / "local")
    for where in (root, local):
        _log_parts(where, now)

    def through_s3fs(*args, **kwargs):
        raise AssertionError("an object was fetched through s3fs")

    fs, _ = store.filesystem(root)  # fsspec's cached instance: the one the reader gets
    for method in ("cat_ranges", "cat_file", "cat", "open"):
        monkeypatch.setattr(fs, method, through_s3fs)
    since = now - timedelta(days=2)
    read = store.read_window_table(root, store.PREDICTIONS, since, now)
    assert read.equals(store.read_window_table(local, store.PREDICTIONS, since, now))
    assert read.column_names == ["x", store.ID, store.TS, store.PREDICTION, "new"]  # v2's schema, v1's 1 as "1"
    selection = store.read_selection(root, store.PREDICTIONS, since, now, versions="v2")
    assert selection.others == store.read_selection(local, store.PREDICTIONS, since, now, versions="v2").others
    assert selection.others == {"v1": 4}


def test_the_obstore_reader_signs_with_the_aws_profile_s3fs_uses(s3, tmp_path, monkeypatch):
    """AWS_PROFILE's keys in ~/.aws's files (no key in the environment) are the ones obstore signs with."""
    import s3fs

    (tmp_path / "config").write_text("[profile monitor]\nregion = us-east-1\n")
    (tmp_path / "credentials").write_text("[monitor]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = s\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "monitor")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to fall back on
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        root = f"s3://{BUCKET}/profile"
        _log_parts(root, datetime.now(UTC))
        fs, _ = store.filesystem(root)
        [path, *_] = store.part_files(root, store.PREDICTIONS)
        stores = store.object_stores(fs, [path])
        assert stores is not None
        credentials = stores[BUCKET].credential_provider()
        assert (credentials["access_key_id"], credentials["secret_access_key"]) == ("PROFILEKEY", "s")
        assert stores[BUCKET].config["region"] == "us-east-1"
        assert store.object_stores(fs, [path])[BUCKET] is stores[BUCKET]  # built once per s3fs instance, not per read
        assert len(store.read_window(root, store.PREDICTIONS)) == 8
    finally:
        s3fs.S3FileSystem.clear_instance_cache()  # the next test's s3fs signs with the environment's keys again


# --- an outage ------------------------------------------------------------------------------------------------


class Relay:
    """A TCP relay on 127.0.0.1 in front of the emulator: `down()` refuses new connections and cuts the open
    ones (the store is unreachable), `up()` relays again, on the same port."""

    def __init__(self, target: int) -> None:
        self.target, self.port = target, _free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.listener.settimeout(0.1)
        self.connections: set[socket.socket] = set()
        self.open = threading.Event()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def up(self) -> None:
        self.open.set()

    def down(self) -> None:
        self.open.clear()
        with self.lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.down()
        self.closed.set()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            if not self.open.is_set():
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # a reset: as an unreachable store answers
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            with self.lock:
                self.connections |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()
        self.listener.close()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            with self.lock:
                self.connections -= {source, sink}


class Server:
    """`python -m {{ cookiecutter.package_name }} serve` of the packaged model in `folder` on a free loopback port, its log in
    `<folder>/server-<n>.log`; stopped by its PID."""

    def __init__(self, folder: Path, env: dict[str, str], number: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"server-{number}.log"
        command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve", "--port", str(self.port)]
        with self.log.open("w") as output:
            self.process = subprocess.Popen(command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT)

    def call(self, path: str, body: object | None = None) -> tuple[int, dict, str]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def ready(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        with contextlib.suppress(urllib.error.URLError, OSError):
            return self.call("/readyz")[0] == 200
        return False

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on /metrics."""
        from prometheus_client.parser import text_string_to_metric_families

        families = text_string_to_metric_families(self.call("/metrics")[2])
        return sum(sample.value for family in families for sample in family.samples if sample.name == name)

    def stop(self, seconds: float = 40) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def test_a_store_outage_under_traffic_a_sigterm_and_a_restart_lose_and_double_no_row_and_no_label(
    s3, served_to_s3, tmp_path
):
    """The store goes down under traffic: the writer retries (failures and backlog on /metrics); a SIGTERM then
    spills what it holds to the spool; the next server starts while the store is still down, takes traffic, and
    writes the spill first once the store is back. Every answered row and every accepted label is in the store
    once. A few hundred single-record requests; the parts are written every half second."""
    import pandas as pd

    from {{ cookiecutter.package_name }}.params import TEST_DATA

    relay = Relay(int(s3.rsplit(":", 1)[1]))
    relay.up()
    root = f"s3://{BUCKET}/outage"
    spool = tmp_path / "spool"
    env = {**os.environ, "MONITOR_STORE": root, "MONITOR_SPOOL": str(spool), "AWS_ENDPOINT_URL_S3": relay_url(relay)}
    env |= {"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}  # an unreachable store fails at once
    frame = pd.read_parquet(TEST_DATA).drop(columns=["churn", "customer_id"])
    records = [{k: None if pd.isna(v) else v for k, v in row.items()} for row in frame.to_dict(orient="records")]
    answered: list[str] = []
    labelled: list[tuple[str, str]] = []

    def traffic(server: Server, requests: int) -> None:
        for number in range(requests):
            status, _, text = server.call("/predict", {"records": [records[number % len(records)]]})
            assert status == 200, text
            ids = json.loads(text)["ids"]
            answered.extend(ids)
            if number % 3 == 0:  # a label for every third answer
                label = ("yes", "no")[number % 2]
                status, headers, text = server.call("/feedback", {"feedback": [{"id": ids[0], "label": label}]})
                assert (status, json.loads(text)) == (200, {"accepted": 1}), headers
                labelled.append((ids[0], label))

    first = Server(served_to_s3, env, 1)
    second = None
    try:
        _wait_until(first.ready, "the first server's /readyz", 90, 0.3)
        traffic(first, 60)
        _wait_until(lambda: first.metric("model_log_backlog_rows") == 0, "the first rows in the store", 15)
        relay.down()
        traffic(first, 120)
        _wait_until(lambda: first.metric("model_log_write_failures_total") > 0, "a failed write on /metrics", 15)
        assert first.metric("model_log_backlog_rows") > 0
        assert first.stop() == 0
        spilled = list(spool.rglob("part-*.parquet"))
        assert spilled, first.log.read_text()[-3000:]

        second = Server(served_to_s3, env, 2)  # the store is still down
        _wait_until(second.ready, "the second server's /readyz", 90, 0.3)
        traffic(second, 60)
        assert second.metric("model_log_backlog_rows") >= 120  # the spill counts from the start
        relay.up()
        _wait_until(lambda: not list(spool.rglob("part-*.parquet")), "the spill written to the store", 30)
        assert second.stop() == 0
    finally:
        relay.close()
        for server in (first, second):
            if server is not None and server.process.poll() is None:
                server.process.kill()
                server.process.wait()

    predictions = store.read_window(root, store.PREDICTIONS)
    assert len(answered) == 240
    assert sorted(predictions[store.ID]) == sorted(answered)  # every answered row, once
    feedback = store.read_window(root, store.FEEDBACK)
    assert sorted(map(tuple, feedback[[store.ID, store.LABEL]].values.tolist())) == sorted(labelled)
    assert "spilled" in first.log.read_text()


def relay_url(relay: Relay) -> str:
    return f"http://127.0.0.1:{relay.port}"
