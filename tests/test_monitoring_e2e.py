"""A real Prometheus scrapes the real service under load: every dashboard panel's query returns data, and
alerts fire when their condition is produced (and stay quiet when it is not).

Slow (about a minute and a half) and reuses the session's set-up project (conftest.py's `project`):
1. in a scratch folder, the project's own environment trains and packages a model on a churn-like table
   written here (a categorical feature and missing values, which the default data lacks), and
   `bentoml serve` runs it on a free loopback port;
2. Debian's Prometheus (apt-get installs it when missing) runs on another loopback port, scrapes the service
   every second and evaluates the rules of deploy/monitoring/prometheusrule.yaml every second, as shipped
   except that every `for:` is 0 s (the test cannot wait their real durations);
3. SCENARIOS, in order: what is sent (nothing, rows like the holdout's, rows of one class), then which
   alerts must be firing or inactive; a new alert's end-to-end test is one more entry there;
4. every panel of dashboard.json, its variables filled in, returns data from query_range, and the panels
   are drawn with matplotlib into build/test-cache/monitoring/dashboard.png, beside the data it shows.
   The generated README's picture is that file: copy it to {{cookiecutter.project_slug}}/deploy/monitoring/.
Both servers are stopped by their PIDs.
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import json
import math
import os
import random
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.monitoring import Prometheus, dashboard, ensure_prometheus, panel_queries, rule_groups
from support.paths import TEMPLATE, TEST_CACHE
from support.process import free_port, run, stop_process

pytestmark = pytest.mark.slow

SLUG, PACKAGE = "my-ml-project", "my_ml_project"
NAMESPACE = "e2e"  # the label the scrape job gives the series, as the environment's namespace does in a cluster
OUTPUT = TEST_CACHE / "monitoring"
LOAD_SECONDS = 15
CLIENTS = 4
FEEDBACK_EVERY = 10
PARAMS = {
    "seed": 7,
    "task": "classification",
    "data": {"source": "customers.csv", "target": "churn", "id_column": "customer_id"},
    "train": {"estimator": "logistic_regression", "params": {"max_iter": 500}},
}
HOLDOUT = """
import json, joblib, pandas as pd
frame = pd.read_parquet("data/processed/test.parquet").drop(columns=["churn", "customer_id"])
records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
print(json.dumps({"records": records, "predictions": joblib.load("models/model.joblib").predict(frame).tolist()}))
"""


@dataclass(frozen=True)
class Holdout:
    records: list[dict]
    predictions: list[str]

    def of_class(self, label: str) -> list[dict]:
        return [record for record, p in zip(self.records, self.predictions, strict=True) if p == label]

    @property
    def rarest_class(self) -> str:
        return min(Counter(self.predictions).items(), key=lambda item: item[1])[0]


@dataclass(frozen=True)
class Scenario:
    """Send `records(holdout)` for LOAD_SECONDS (None: send nothing), then each alert must be firing (True)
    or inactive (False)."""

    name: str
    records: Callable[[Holdout], list[dict]] | None
    alerts: dict[str, bool]


SCENARIOS = [
    Scenario("no request yet", None, {"ModelNoTraffic": True}),
    Scenario(
        "rows like the holdout's",
        lambda holdout: holdout.records,
        {"ModelNoTraffic": False, "ModelPredictionShift": False, "ModelServerErrors": False},
    ),
    Scenario(
        "only rows the model predicts as its rarest class",
        lambda holdout: holdout.of_class(holdout.rarest_class),
        {"ModelPredictionShift": True},
    ),
    Scenario(
        "a burst of unknown plan types (accepted, predicted and counted)",
        lambda holdout: [{**record, "plan_type": "enterprise"} for record in holdout.records],
        {"ModelUnknownCategories": True, "ModelServerErrors": False},
    ),
]


def write_customers(path: Path, rows: int = 600) -> None:
    """A churn-like table: Title Case names, a categorical column, missing values, labels from the features."""
    rng = random.Random(0)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Customer ID", "Tenure Months", "Plan Type", "Monthly Charges", "Churn"])
        for i in range(rows):
            tenure, plan, charges = float(rng.randint(1, 71)), rng.choice(["basic", "plus", "pro"]), rng.gauss(60, 15)
            logit = -0.05 * tenure + 1.5 * (plan == "basic") + (charges - 60) / 20
            churn = "yes" if rng.random() < 1 / (1 + math.exp(-logit)) else "no"
            writer.writerow(
                [f"C{i:05d}", "" if i % 17 == 0 else tenure, "" if i % 23 == 0 else plan, round(charges, 2), churn]
            )


def load(url: str, records: list[dict], seconds: float) -> Counter:
    """CLIENTS keep-alive connections sending single-record requests back to back, and a label (the prediction
    stands in for the truth) for every FEEDBACK_EVERY-th answer to /feedback; the answers' statuses."""
    host, port = url.removeprefix("http://").split(":")
    bodies = [json.dumps({"records": [record]}) for record in records]
    statuses: Counter = Counter()
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        index = offset
        try:
            while time.monotonic() < deadline:
                connection.request(
                    "POST", "/predict", bodies[index % len(bodies)], {"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                body = response.read()
                statuses[response.status] += 1
                if index % FEEDBACK_EVERY == 0 and response.status == 200:  # a label for this answer, by its id
                    answer = json.loads(body)
                    label = {"feedback": [{"id": answer["ids"][0], "label": answer["predictions"][0]}]}
                    connection.request("POST", "/feedback", json.dumps(label), {"Content-Type": "application/json"})
                    reply = connection.getresponse()
                    reply.read()
                    statuses[reply.status] += 1
                index += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(k * 7,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return statuses


@contextlib.contextmanager
def served_model(project: Path, folder: Path):
    """Train and package a model on the churn-like table in `folder` with the project's environment, and serve
    it with `bentoml serve` on a free loopback port; yields (url, holdout); stopped by PID."""
    python = str(project / ".venv/bin/python")
    env = {"BENTOML_HOME": str(folder / "bentoml"), "MONITOR_STORE": str(folder / "store")}
    write_customers(folder / "customers.csv")
    (folder / "params.yaml").write_text(json.dumps(PARAMS))
    for stage in ("ingest", "schema", "split", "train", "package"):
        run([python, "-m", PACKAGE, stage], folder, env=env)
    answer = json.loads(run([python, "-c", HOLDOUT], folder).stdout)
    pairs = list(zip(answer["records"], answer["predictions"], strict=True))
    random.Random(1).shuffle(pairs)  # both classes from the first requests on
    holdout = Holdout([record for record, _ in pairs], [prediction for _, prediction in pairs])
    port = free_port()
    command = [python, "-m", "bentoml", "serve", f"{PACKAGE}.serving.service:Predictor", "--host", "127.0.0.1"]
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen(
            [*command, "--port", str(port)], cwd=folder, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (folder / "server.log").read_text()[-3000:]
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"{url}/readyz", timeout=2) as response,
            ):
                if response.status == 200:
                    break
            assert time.monotonic() < deadline, "the service was not ready within 90 s"
            time.sleep(0.5)
        yield url, holdout
    finally:
        stop_process(server)


def settle(prometheus: Prometheus, alert: str, fires: bool) -> str:
    """Wait (at most 30 s) until `alert` is firing, or inactive; then its state ("inactive" when absent).
    An alert that must stay inactive is looked at again 3 s (3 evaluations) later."""
    wanted = "firing" if fires else "inactive"
    deadline = time.monotonic() + 30
    while (state := prometheus.alert_states().get(alert, "inactive")) != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    if state == wanted and not fires:
        time.sleep(3)
        state = prometheus.alert_states().get(alert, "inactive")
    return state


@pytest.fixture(scope="module")
def monitored(project: Path, tmp_path_factory) -> dict:
    """The whole run: service, Prometheus, scenarios, every panel's query_range, the picture. What it saw."""
    binaries = ensure_prometheus()
    folder = tmp_path_factory.mktemp("monitored")
    rules = rule_groups(project)
    for group in rules:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "0s"
    seen: dict = {"scenarios": {}, "statuses": Counter(), "phases": []}
    with served_model(project, folder) as (url, holdout):
        prometheus = Prometheus(
            folder / "prometheus", SLUG, url.removeprefix("http://"), rules, {"namespace": NAMESPACE}
        )
        prometheus.start(binaries["prometheus"])
        started = time.time()
        try:
            prometheus.wait_for(lambda: prometheus.query(f'up{{job="{SLUG}"}} == 1'), "the first scrape")
            seen["model_info"] = prometheus.query(f'model_info{{job="{SLUG}"}}')
            for scenario in SCENARIOS:
                if scenario.records is not None:
                    seen["phases"].append({"t": time.time() - started, "label": scenario.name})
                    seen["statuses"] += load(url, scenario.records(holdout), LOAD_SECONDS)
                states = {alert: settle(prometheus, alert, fires) for alert, fires in scenario.alerts.items()}
                seen["scenarios"][scenario.name] = states
            time.sleep(2)
            end = time.time()
            values = {"job": SLUG, "namespace": NAMESPACE, "__rate_interval": "10s"}
            seen["panels"] = [
                (title, [(expr, legend, prometheus.query_range(expr, started, end)) for expr, legend in targets])
                for title, targets in panel_queries(dashboard(project), values)
            ]
        finally:
            prometheus.stop()
    seen["picture"] = draw(project, seen, started, holdout)
    return seen


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legendFormat: each {{label}} replaced by the series' value of that label (none: empty)."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda match: labels.get(match.group(1), ""), template).strip()


def draw(project: Path, seen: dict, started: float, holdout: Holdout) -> Path:
    """The panels as matplotlib draws them from the query_range data (support/dashboard.py, in the project's
    environment, which has matplotlib); the data go beside the picture."""
    board = dashboard(project)
    panels = []
    for panel, (_, targets) in zip(board["panels"], seen["panels"], strict=True):
        series = [
            {
                "legend": legend(template, item["metric"]),
                "t": [float(t) - started for t, _ in item["values"]],
                "v": [None if v in ("NaN", "+Inf", "-Inf") else float(v) for _, v in item["values"]],
            }
            for _, template, result in targets
            for item in result
        ]
        steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
        threshold = steps[-1]["value"] if len(steps) > 1 else None
        entry = {"title": panel["title"], "unit": panel["fieldConfig"]["defaults"]["unit"], "gridPos": panel["gridPos"]}
        panels.append({**entry, "threshold": threshold, "series": series})
    phases = " then ".join(f"{p['label']} ({LOAD_SECONDS} s from t={p['t']:.0f} s)" for p in seen["phases"])
    note = (
        f"Rendered with matplotlib from Prometheus query_range data of the template's end-to-end test "
        f"(tests/test_monitoring_e2e.py, {time.strftime('%Y-%m-%d', time.gmtime(started))}): the queries of "
        f"deploy/monitoring/dashboard.json ($__rate_interval = 10s), not a Grafana screenshot.\n"
        f"A churn model ({len(holdout.records)} holdout rows, nullable tenure_months and plan_type), "
        f"{CLIENTS} clients sending single-row requests: {phases}."
    )
    OUTPUT.mkdir(parents=True, exist_ok=True)
    data = OUTPUT / "dashboard-data.json"
    data.write_text(
        json.dumps(
            {"title": f"{board['title']} (e2e test data)", "note": note, "phases": seen["phases"], "panels": panels}
        )
    )
    picture = OUTPUT / "dashboard.png"
    run(
        [str(project / ".venv/bin/python"), str(TEMPLATE / "tests/support/dashboard.py"), str(data), str(picture)],
        TEMPLATE,
    )
    return picture


def test_prometheus_scrapes_the_models_own_metrics_beside_bentomls(monitored):
    [info] = monitored["model_info"]
    assert info["metric"]["version"].startswith(f"{PACKAGE}:")
    assert (info["metric"]["task"], info["metric"]["namespace"]) == ("classification", NAMESPACE)


def test_the_load_got_only_200s(monitored):
    statuses = monitored["statuses"]
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 500


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_each_alert_fires_when_its_condition_is_produced_and_not_otherwise(monitored, scenario):
    expected = {alert: "firing" if fires else "inactive" for alert, fires in scenario.alerts.items()}
    assert monitored["scenarios"][scenario.name] == expected


def test_every_dashboard_panel_returns_data(monitored):
    empty = [
        title
        for title, targets in monitored["panels"]
        if not any(any(v != "NaN" for _, v in item["values"]) for _, _, result in targets for item in result)
    ]
    assert empty == []


def test_the_models_own_panels_show_what_was_sent(monitored):
    """Not just any data: the missing values of both nullable features, the burst of unknown categories of
    the one categorical feature, the labels sent, and a live share of the rarest class far above its holdout
    share."""
    panels = {title: targets for title, targets in monitored["panels"]}
    [(_, _, missing)] = panels["Missing values by feature (share of rows)"]
    assert {item["metric"]["feature"] for item in missing} == {"tenure_months", "plan_type"}
    [(_, _, unknown)] = panels["Unknown categories by feature (share of rows)"]
    assert {item["metric"]["feature"] for item in unknown} == {"plan_type"}
    assert max(float(v) for _, v in unknown[0]["values"] if v != "NaN") > 0.5
    [(_, _, labels)] = panels["Ground-truth labels per second"]
    assert max(float(v) for _, v in labels[0]["values"] if v != "NaN") > 0
    [(_, _, shift)] = panels["Prediction shift (largest z-score vs holdout)"]
    assert max(float(v) for item in shift for _, v in item["values"] if v != "NaN") > 4  # ModelPredictionShift's bar


def test_the_dashboard_picture_is_drawn_from_this_run(monitored):
    picture = monitored["picture"]
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 20_000 < picture.stat().st_size < 1_000_000  # the generated project refuses files over 1 MB
    data = json.loads((picture.parent / "dashboard-data.json").read_text())
    assert len(data["panels"]) == len(monitored["panels"])
