"""scripts/smoke.py against a real HTTP server on loopback that plays a rollout: old pods first, then the new model."""

import importlib.util
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.contract import ColumnSpec
from {{ cookiecutter.package_name }}.serving.smoke_set import probe, smoke_set

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "smoke.py"
SMOKE = {
    "model_version": "pkg:new",
    "records": [{"x": 1.0, "plan": "a"}, {"x": None, "plan": "b"}],
    "predictions": ["yes", "no"],
    "probe": {"field": "plan", "drop": True},
}


def smoke_main(*argv: str) -> int:
    spec = importlib.util.spec_from_file_location("smoke", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(list(argv))


class Rollout(BaseHTTPRequestHandler):
    """Answers like the service: the old version until `switch_at`, then the new one; 400 without `plan`."""

    switch_at = 0.0
    answers: dict = {}
    traffic: list = []  # the X-Traffic header of each POST

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200 if self.path == "/readyz" else 404, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.traffic.append(self.headers.get("X-Traffic"))
        if self.path == "/feedback":
            self._send(200, {"accepted": len(body["feedback"])})
            return
        records = body["records"]
        if any("plan" not in record for record in records):
            self._send(400, {"error": "records.0.plan: Field required"})
            return
        version = "pkg:new" if time.monotonic() >= self.switch_at else "pkg:old"
        predictions = [self.answers[json.dumps(record, sort_keys=True)] for record in records]
        ids = [uuid.uuid4().hex for _ in records]
        self._send(200, {"predictions": predictions, "ids": ids, "model_version": version})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rollout(tmp_path):
    """start(switch_after) -> (url, smoke set file); the server stops after the test."""
    servers = []

    def start(switch_after: float) -> tuple[str, Path]:
        handler = type("Handler", (Rollout,), {"switch_at": time.monotonic() + switch_after, "traffic": []})
        handler.answers = {
            json.dumps(r, sort_keys=True): p for r, p in zip(SMOKE["records"], SMOKE["predictions"], strict=True)
        }
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        smoke_file = tmp_path / "smoke.json"
        smoke_file.write_text(json.dumps(SMOKE))
        start.handler = handler
        return f"http://127.0.0.1:{server.server_address[1]}", smoke_file

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_check_passes_only_once_the_new_version_answers(rollout, capsys):
    url, smoke_file = rollout(switch_after=1.5)
    started = time.monotonic()
    assert smoke_main(url, "--expect", str(smoke_file), "--wait", "20") == 0
    assert time.monotonic() - started >= 1.5
    out = capsys.readouterr().out
    assert "serves pkg:new" in out
    assert "smoke: passed" in out
    assert "a record without plan is a 400 naming it" in out
    assert "each record gets an id of its own" in out
    assert "/feedback takes 2 labels by id" in out
    assert set(rollout.handler.traffic) == {"test"}  # every request is marked as test traffic


def test_the_check_fails_when_the_new_version_never_comes(rollout, capsys):
    url, smoke_file = rollout(switch_after=3600)
    assert smoke_main(url, "--expect", str(smoke_file), "--wait", "1.5") == 1
    assert "still serves pkg:old, not pkg:new, after 1.5 s" in capsys.readouterr().err


def test_an_unreachable_service_and_a_missing_smoke_set_are_exit_2(tmp_path, capsys):
    smoke_file = tmp_path / "smoke.json"
    smoke_file.write_text(json.dumps(SMOKE))
    assert smoke_main("http://127.0.0.1:9", "--expect", str(smoke_file), "--wait", "0.5") == 2
    assert smoke_main("http://127.0.0.1:9", "--expect", str(tmp_path / "none.json")) == 2
    assert "run `make package` first" in capsys.readouterr().err


def test_the_probe_leaves_out_a_required_field_else_sends_a_wrong_type():
    required = [ColumnSpec("a", "float", nullable=True), ColumnSpec("b", "string", nullable=False)]
    assert probe(required) == {"field": "b", "drop": True}
    optional = [ColumnSpec("a", "float", nullable=True)]
    assert probe(optional) == {"field": "a", "drop": False, "value": "not a number"}


def test_the_smoke_set_holds_json_rows_and_the_models_answers(customers):
    features = [ColumnSpec("Tenure Months", "float", nullable=True)]

    class Echo:
        def predict(self, frame):
            return frame["Tenure Months"].fillna(-1).to_numpy()

    smoke = smoke_set(Echo(), customers, features, "pkg:v", rows=3)
    assert smoke["model_version"] == "pkg:v"
    assert len(smoke["records"]) == 3
    assert json.loads(json.dumps(smoke, allow_nan=False)) == smoke  # no NaN: missing values are null
    assert smoke["probe"] == {"field": "Tenure Months", "drop": False, "value": "not a number"}
