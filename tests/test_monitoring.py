"""The generated monitoring (deploy/monitoring/), checked offline with the real tools: promtool runs the alerts'
unit tests (each alert firing and not firing) through the project's own `check_rules.py`; the dashboard's
queries pass promtool's PromQL parser; kustomize renders the folder and kubernetes-validate --strict checks
the dashboard's ConfigMap. The ServiceMonitor and PrometheusRule are custom resources with no schema offline:
their fields are checked by hand. Prometheus (Debian's package) is installed with apt-get when missing.
A real Prometheus scraping the real service: tests/test_monitoring_e2e.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter

from support.monitoring import alert_rules, dashboard, ensure_prometheus, panel_queries, rule_groups
from support.paths import TEMPLATE
from support.tools import kubectl, kubernetes_validate

SLUG, OWNER = "my-ml-project", "example-owner"
ALERTS = {  # the list: 5xx, p99 latency, no traffic, a predicted class's share, unknown categories,
    "ModelServerErrors",  # log drops, a log that falls behind, no labels for days
    "ModelLatencyHigh",
    "ModelNoTraffic",
    "ModelPredictionShift",
    "ModelUnknownCategories",
    "ModelInferenceLogDrops",
    "ModelInferenceLogBacklog",
    "ModelNoFeedback",
}
RULE_KEYS = {"alert", "record", "expr", "for", "labels", "annotations"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    answers = {"github_owner": OWNER}
    return Path(
        cookiecutter(
            str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path_factory.mktemp("mon"))
        )
    )


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    return ensure_prometheus()


def check_rules(project: Path, *args: str) -> subprocess.CompletedProcess:
    script = project / "deploy/monitoring/check_rules.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading: lowercase, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# ------------------------------------------------------------------------------ alerts
def test_promtool_checks_the_rules_and_every_alert_fires_and_stays_quiet_in_its_unit_tests(project, tools):
    result = check_rules(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert f"test-alerts: {len(ALERTS)} alerts checked" in result.stdout


def test_a_changed_threshold_fails_the_alerts_unit_tests(project, tools, tmp_path):
    """Control: the unit tests pin the thresholds (here: the prediction shift's z-score of 4 moved to 12)."""
    text = (project / "deploy/monitoring/prometheusrule.yaml").read_text()
    assert text.count(") > 4\n") == 1
    changed = tmp_path / "prometheusrule.yaml"
    changed.write_text(text.replace(") > 4\n", ") > 12\n"))
    result = check_rules(project, "--rules", str(changed))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout + result.stderr


def test_an_alert_without_a_test_in_which_it_stays_quiet_is_refused(project, tools, tmp_path):
    tests = yaml.safe_load((project / "deploy/monitoring/rules-test-days.yaml").read_text())
    for test in tests["tests"]:
        cases = test["alert_rule_test"]
        test["alert_rule_test"] = [c for c in cases if c["alertname"] != "ModelNoFeedback" or c["exp_alerts"]]
    tests["tests"] = [test for test in tests["tests"] if test["alert_rule_test"]]
    changed = tmp_path / "rules-test-days.yaml"
    changed.write_text(yaml.safe_dump(tests))
    result = check_rules(project, "--tests", str(project / "deploy/monitoring/rules-test.yaml"), str(changed))
    assert result.returncode == 1
    assert "ModelNoFeedback: no test in which it does not fire" in result.stderr


def test_check_rules_says_how_to_get_promtool_when_it_is_missing(project):
    result = check_rules(project, "--promtool", "no-such-promtool")
    assert result.returncode == 2
    assert "apt-get install prometheus" in result.stderr


def test_every_alert_gives_on_call_a_summary_the_current_value_and_its_runbook_section(project):
    rules = alert_rules(project)
    assert set(rules) == ALERTS
    readme = (project / "docs/monitoring.md").read_text()
    anchors = {github_anchor(line.lstrip("#")): line for line in readme.splitlines() if line.startswith("#")}
    for name, rule in rules.items():
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert "$value" in annotations["description"], name
        base, _, anchor = annotations["runbook_url"].partition("#")
        assert base == f"https://github.com/{OWNER}/{SLUG}/blob/main/docs/monitoring.md", name
        assert anchor == name.lower() and anchor in anchors, f"{name}: no docs/monitoring.md section #{anchor}"
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert f'job="{SLUG}"' in rule["expr"], f"{name} is not limited to this service's job"


def test_the_prometheusrule_has_the_operators_fields(project):
    """Hand-checked (no CRD schema offline): what the Prometheus Operator reads, and nothing else."""
    resource = load(project / "deploy/monitoring/prometheusrule.yaml")
    assert (resource["apiVersion"], resource["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert set(resource) == {"apiVersion", "kind", "metadata", "spec"}
    assert resource["metadata"]["name"] == SLUG
    assert set(resource["spec"]) == {"groups"}
    groups = rule_groups(project)
    assert len({group["name"] for group in groups}) == len(groups)
    for group in groups:
        assert set(group) == {"name", "rules"}
        for rule in group["rules"]:
            assert set(rule) <= RULE_KEYS and ("alert" in rule) != ("record" in rule) and rule["expr"], rule
    records = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    uses = "".join(rule["expr"] for rule in alert_rules(project).values())
    assert all(record in uses for record in records), "a recording rule that no alert uses"


# ------------------------------------------------------------------------------ dashboard
def test_every_dashboard_query_is_valid_promql(project, tools, tmp_path):
    """promtool parses each panel's query, wrapped as a recording rule, with Grafana's variables filled in."""
    values = {"job": SLUG, "namespace": "production", "__rate_interval": "2m"}
    rules = [
        {"record": f"dashboard:panel_{index}:{letter}", "expr": expr}
        for index, (_, targets) in enumerate(panel_queries(dashboard(project), values))
        for letter, (expr, _) in zip("abcdefgh", targets, strict=False)
    ]
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [tools["promtool"], "check", "rules", "queries.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_the_dashboard_is_one_grafana_dashboard_of_this_service(project):
    board = dashboard(project)
    assert board["uid"] == f"model-{SLUG}"
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["job"]["type"] == "constant" and variables["job"]["query"] == SLUG
    assert variables["datasource"]["query"] == "prometheus"
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert [t["refId"] for t in panel["targets"]] == list("ABCDEFGH"[: len(panel["targets"])])
        for target in panel["targets"]:
            assert 'job="$job"' in target["expr"] and 'namespace="$namespace"' in target["expr"], panel["title"]
        grid = panel["gridPos"]
        area = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & area, f"{panel['title']} overlaps another panel"
        assert grid["x"] + grid["w"] <= 24
        cells |= area
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])


# ------------------------------------------------------------------------------ manifests
def test_the_servicemonitor_scrapes_the_services_http_port_in_both_environments(project):
    """Hand-checked (no CRD schema offline): it selects the Service by its labels and port name, in the
    overlays' namespaces, and its job label is the Service's name, which the alerts filter on."""
    monitor = load(project / "deploy/monitoring/servicemonitor.yaml")
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "ServiceMonitor")
    assert set(monitor["spec"]) == {"namespaceSelector", "selector", "endpoints"}  # no jobLabel: job = Service name
    service = load(project / "deploy/k8s/base/service.yaml")
    assert service["metadata"]["name"] == SLUG
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
    overlays = project / "deploy/k8s/overlays"
    namespaces = {load(path)["namespace"] for path in overlays.glob("*/kustomization.yaml")}
    assert (
        set(monitor["spec"]["namespaceSelector"]["matchNames"])
        == namespaces
        == {f"{SLUG}-staging", f"{SLUG}-production"}
    )


def test_the_monitoring_kustomization_renders_and_its_dashboard_configmap_validates_strictly(project, tmp_path):
    result = subprocess.run(
        [kubectl(), "kustomize", str(project / "deploy/monitoring")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    documents = {doc["kind"]: doc for doc in yaml.safe_load_all(result.stdout) if doc}
    assert set(documents) == {"ServiceMonitor", "PrometheusRule", "ConfigMap"}
    assert {doc["metadata"]["namespace"] for doc in documents.values()} == {"monitoring"}
    assert {doc["metadata"]["labels"]["release"] for doc in documents.values()} == {"kube-prometheus-stack"}
    configmap = documents["ConfigMap"]
    assert configmap["metadata"]["name"] == f"{SLUG}-dashboard"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"][f"{SLUG}.json"]) == dashboard(project)
    (tmp_path / "configmap.yaml").write_text(yaml.safe_dump(configmap))
    validated = kubernetes_validate(tmp_path / "configmap.yaml")
    assert validated.returncode == 0, validated.stdout + validated.stderr
