"""What the monitoring tests share: Debian's Prometheus (installed when missing), a Prometheus server of
our own on loopback (stopped by its PID), its HTTP API, and the generated deploy/monitoring/ files read
the way Prometheus and Grafana read them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from support.process import free_port, stop_process
from support.system import apt_install
from support.system_packages import PACKAGES

# What the tests run (Debian's prometheus package brings both: support/system_packages.py).
TOOLS = ("prometheus", "promtool")


def ensure_prometheus() -> dict[str, str]:
    """Paths of prometheus and promtool; apt-get installs Debian's package when they are missing (as root, one
    install at a time across the xdist workers: support.system.apt_install)."""
    apt_install(PACKAGES["monitoring"])
    paths = {tool: shutil.which(tool) for tool in TOOLS}
    found = {tool: path for tool, path in paths.items() if path is not None}
    assert found.keys() == set(TOOLS), f"Debian's prometheus package is installed, but not on PATH: {paths}"
    return found


def rule_groups(project: Path) -> list[dict]:
    """The PrometheusRule's spec.groups: what a plain rule file (promtool, prometheus) holds."""
    resource = yaml.safe_load((project / "deploy/monitoring/prometheusrule.yaml").read_text(encoding="utf-8"))
    return resource["spec"]["groups"]


def alert_rules(project: Path) -> dict[str, dict]:
    return {rule["alert"]: rule for group in rule_groups(project) for rule in group["rules"] if "alert" in rule}


def dashboard(project: Path) -> dict:
    return json.loads((project / "deploy/monitoring/dashboard.json").read_text(encoding="utf-8"))


def panel_queries(board: dict, values: dict[str, str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(panel title, [(expr, legend)]) per panel, with Grafana's variables replaced by `values`
    (keys without the $: job, namespace, __rate_interval)."""

    def fill(expr: str) -> str:
        return re.sub(r"\$(\w+)", lambda match: values[match.group(1)], expr)

    return [
        (panel["title"], [(fill(target["expr"]), target.get("legendFormat", "")) for target in panel["targets"]])
        for panel in board["panels"]
    ]


class Prometheus:
    """A Prometheus server of our own on 127.0.0.1, with `rules` (a plain rule file's groups) and one scrape
    job; started by `start()`, stopped by its PID in `stop()`."""

    def __init__(self, folder: Path, job: str, target: str, rules: list[dict], labels: dict[str, str]) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": rules}, sort_keys=False))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yaml"],
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": [target], "labels": labels}],
                }
            ],
        }
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.process: subprocess.Popen | None = None

    def start(self, binary: str, timeout: float = 30) -> None:
        command = [
            binary,
            f"--config.file={self.folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.folder / 'data'}",
        ]
        command += [f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        with (self.folder / "prometheus.log").open("w") as log:
            self.process = subprocess.Popen(command, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, (self.folder / "prometheus.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"Prometheus was not ready within {timeout} s"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def api(self, path: str, **params: Any) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def alert_states(self) -> dict[str, str]:
        """alertname -> state (pending, firing) of the active alerts; inactive ones are absent."""
        return {alert["labels"]["alertname"]: alert["state"] for alert in self.api("alerts")["alerts"]}

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 30, every: float = 0.5) -> Any:
        """Poll `check()` until it returns a truthy value (returned), at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            assert time.monotonic() < deadline, f"{what}: not within {timeout} s; alerts {self.alert_states()}"
            time.sleep(every)
