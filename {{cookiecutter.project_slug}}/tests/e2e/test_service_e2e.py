"""End to end: `make build`'s steps on a copy of the project, then a real `bentoml serve` of the built bento on
loopback, whose answers on the holdout equal the pipeline model's, and which loses no logged row when it is
stopped under load. Servers are stopped by their PID."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.params import load_params

pytestmark = pytest.mark.e2e
PROJECT = Path(__file__).resolve().parents[2]
PACKAGE = "{{ cookiecutter.package_name }}"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts with every float exact (pandas' to_json keeps only 10 digits)."""
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _call(url: str, body: object | None = None, headers: dict | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def built_bento(tmp_path_factory):
    """A copy of the project after the pipeline commands, `package` and `bentoml build` (+ hadolint)."""
    folder = tmp_path_factory.mktemp("bento-project")
    shutil.copytree(PROJECT / "src", folder / "src", ignore=shutil.ignore_patterns("__pycache__"))
    files = ("params.yaml", "schema.yaml", "bentofile.yaml", "bento.Dockerfile.j2", ".hadolint.yaml")
    for name in (*files, "pyproject.toml", "uv.lock"):
        if (PROJECT / name).is_file():
            shutil.copy(PROJECT / name, folder / name)
    env = {**os.environ, "BENTOML_HOME": str(folder / "bentoml"), "BENTOML_DO_NOT_TRACK": "True", "HOME": str(folder)}
    commands = [["ingest"], ["split"], ["train"], ["package"]]
    if not (folder / "schema.yaml").is_file():
        commands.insert(1, ["schema"])
    for command in commands:
        subprocess.run([sys.executable, "-m", PACKAGE, *command], cwd=folder, env=env, check=True)
    # as `make build` does: the serving packages at uv.lock's versions (shap's only for a tree model), then the bento
    from {{ cookiecutter.package_name }}.serving.explain import unused_packages

    unused = [f"--no-emit-package={name}" for name in unused_packages(joblib.load(folder / "models" / "model.joblib"))]
    export = ["export", "--frozen", "--quiet", "--no-hashes", "--no-emit-project", "--only-group", "serving", *unused]
    subprocess.run([BIN / "uv", *export, "-o", "src/bento-requirements.txt"], cwd=folder, env=env, check=True)
    subprocess.run([BIN / "bentoml", "build", "-f", "bentofile.yaml", "src"], cwd=folder, env=env, check=True)
    where = f"import bentoml; print(bentoml.get('{PACKAGE}:latest').path)"
    path = subprocess.run(
        [sys.executable, "-c", where], cwd=folder, env=env, check=True, text=True, capture_output=True
    ).stdout.strip()
    lint = subprocess.run(
        [BIN / "hadolint", "--config", ".hadolint.yaml", f"{path}/env/docker/Dockerfile"], cwd=folder, env=env
    )
    assert lint.returncode == 0, "hadolint found problems in the bento's Dockerfile"
    return folder, env, Path(path)


@pytest.fixture(scope="module")
def served_bento(built_bento):
    """`python -m <package> serve --bento latest` on a free loopback port; stopped by PID afterwards."""
    folder, env, path = built_bento
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", PACKAGE, "serve", "--bento", "latest", "--port", str(port)], cwd=folder, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert server.poll() is None, f"the server exited with {server.returncode}"
            try:
                if _call(f"{url}/readyz")[0] == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"{url}/readyz did not answer 200 within 90 s")
        yield url, folder, path
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_served_bento_predicts_what_the_pipeline_model_predicts(served_bento):
    url, folder, path = served_bento
    params = load_params(folder / "params.yaml")
    holdout = pd.read_parquet(folder / "data/processed/test.parquet")
    features = holdout.drop(columns=[c for c in (params.data.target, params.data.id_column) if c])
    status, text = _call(f"{url}/predict", {"records": _records(features)})
    assert status == 200, text
    body = json.loads(text)
    model = joblib.load(folder / "models/model.joblib")
    assert body["predictions"] == model.predict(features).tolist()
    if params.task == "classification":
        served = np.array([[p[str(c)] for c in model.classes_] for p in body["probabilities"]])
        np.testing.assert_allclose(served, model.predict_proba(features), rtol=1e-9)
    pinned = yaml.safe_load((path / "bento.yaml").read_text())["services"][0]["models"][0]["tag"]
    assert body["model_version"] == pinned


def test_the_served_bento_rejects_a_bad_record_and_exposes_health_and_metrics(served_bento):
    url, folder, _ = served_bento
    status, text = _call(f"{url}/predict", {"records": [{"no_such_feature": 1.0}]})
    assert status == 400
    assert "no_such_feature" in text
    assert _call(f"{url}/livez")[0] == 200
    status, metrics = _call(f"{url}/metrics")
    assert status == 200
    assert 'endpoint="/predict"' in metrics
    assert "model_info{" in metrics  # the model's own metrics, beside BentoML's
    assert "model_predictions_total" in metrics


def _samples(url: str) -> dict[str, float]:
    """The model's own metrics on /metrics, each name's samples summed."""
    from prometheus_client.parser import text_string_to_metric_families

    status, text = _call(f"{url}/metrics")
    assert status == 200
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("model_"):
                sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return sums


def test_the_served_bentos_model_metrics_leave_test_traffic_out_and_show_the_inference_logs_backlog(served_bento):
    url, folder, _ = served_bento
    params = load_params(folder / "params.yaml")
    holdout = pd.read_parquet(folder / "data/processed/test.parquet").head(5)
    records = _records(holdout.drop(columns=[c for c in (params.data.target, params.data.id_column) if c]))
    before = _samples(url)["model_predictions_total"]
    assert _call(f"{url}/predict", {"records": records}, {"X-Traffic": "test"})[0] == 200
    assert _samples(url)["model_predictions_total"] == before  # a load test or a prober: not counted
    assert _call(f"{url}/predict", {"records": records})[0] == 200
    after = _samples(url)
    assert after["model_predictions_total"] == before + 5
    for name in ("model_log_backlog_rows", "model_log_backlog_bytes", "model_log_backlog_oldest_seconds"):
        assert name in after, name
    assert after["model_log_write_failures_total"] == 0
    assert after["model_prediction_reference_rows"] == len(pd.read_parquet(folder / "data/processed/test.parquet"))


def test_the_served_bento_refuses_what_no_model_should_see(served_bento):
    url, folder, _ = served_bento
    params = load_params(folder / "params.yaml")
    holdout = pd.read_parquet(folder / "data/processed/test.parquet").head(1)
    record = _records(holdout.drop(columns=[c for c in (params.data.target, params.data.id_column) if c]))[0]
    numeric = next(name for name, value in record.items() if isinstance(value, float))
    status, text = _call(f"{url}/predict", {"records": [{**record, numeric: 1.7e308}]})
    assert (status, numeric in text) == (400, True)
    status, text = _call(f"{url}/predict", {"records": [record], "model_version": "mine"})
    assert (status, "model_version" in text) == (400, True)
    host, port = url.removeprefix("http://").split(":")
    too_big = params.serve.max_body_bytes + 1
    for case in ("declared-length", "chunked", "not-json"):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            if case == "declared-length":  # refused on its header: no byte of the body is needed
                connection.putrequest("POST", "/predict")
                connection.putheader("Content-Type", "application/json")
                connection.putheader("Content-Length", str(too_big))
                connection.endheaders()
            elif case == "chunked":  # read up to the limit, then refused
                headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
                chunks = iter([b" " * too_big])
                connection.request("POST", "/predict", body=chunks, headers=headers, encode_chunked=True)
            else:
                connection.request("POST", "/predict", body=b"{}", headers={"Content-Type": "text/plain"})
            response = connection.getresponse()
            assert response.status == (415 if case == "not-json" else 413), case
            assert "error" in json.loads(response.read())
        finally:
            connection.close()


def _wait_ready(url: str, server: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert server.poll() is None, f"the server exited with {server.returncode}"
        try:
            if _call(f"{url}/readyz")[0] == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        assert time.monotonic() < deadline, f"{url}/readyz did not answer 200 within {seconds} s"
        time.sleep(0.5)


def test_a_sigterm_during_load_loses_no_logged_row_that_got_a_200(built_bento, tmp_path):
    """8 clients send single records to the served bento; SIGTERM while they do. The server answers what it
    accepted, writes the inference log on its way out, and every id that got a 200 is in the store (with
    its features, prediction, version and traffic mark). Nothing is written before: the rows wait in the
    buffer (serve.log_flush_seconds 60, log_part_rows 10000), so the flush at shutdown is what is tested."""
    from {{ cookiecutter.package_name }} import store

    folder, env, _ = built_bento
    params = load_params(folder / "params.yaml")
    holdout = pd.read_parquet(folder / "data/processed/test.parquet")
    records = _records(holdout.drop(columns=[c for c in (params.data.target, params.data.id_column) if c]))
    root = tmp_path / "store"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", PACKAGE, "serve", "--bento", "latest", "--port", str(port)]
    server = subprocess.Popen(command, cwd=folder, env={**env, "MONITOR_STORE": str(root)})
    answered: dict[str, tuple[str, dict, object]] = {}  # id -> (traffic, record, prediction)
    stop = threading.Event()

    def client(number: int) -> None:
        traffic = "test" if number % 2 else "live"
        headers = {"X-Traffic": "test"} if number % 2 else {}
        sent = number
        while not stop.is_set():
            record = records[sent % len(records)]
            sent += 8
            try:
                status, text = _call(f"{url}/predict", {"records": [record]}, headers)
            except (urllib.error.URLError, OSError):  # refused: the server has stopped accepting
                time.sleep(0.05)
                continue
            if status == 200:
                body = json.loads(text)
                answered[body["ids"][0]] = (traffic, record, body["predictions"][0])

    try:
        _wait_ready(url, server)
        threads = [threading.Thread(target=client, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        assert len(answered) >= 50, "the load did not get going"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
            server.wait()
    for thread in threads:
        thread.join(timeout=60)
    logged = store.read_window(str(root), store.PREDICTIONS).set_index(store.ID)
    missing = sorted(set(answered) - set(logged.index))
    assert missing == [], f"{len(missing)} of {len(answered)} answered ids are not in the store"
    for identifier, (traffic, record, prediction) in list(answered.items())[:: max(1, len(answered) // 50)]:
        row = logged.loc[identifier]
        assert (row[store.TRAFFIC], row[store.PREDICTION]) == (traffic, prediction)
        assert row[store.MODEL_VERSION].startswith(f"{PACKAGE}:")
        assert all(row[name] == value for name, value in record.items() if value is not None)
