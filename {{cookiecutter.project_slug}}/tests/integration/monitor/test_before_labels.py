"""`monitor` before the labels: the performance estimated per day (CBPE/DLE) with the realized value where labels
exist, and the slices that degrade, in monitor.json, monitor.md and reports/monitor/estimated.png."""

import json

import yaml

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import MONITOR_FILE, MONITOR_PLOTS_DIR, MONITOR_REPORT, load_params

from .test_monitor_command import traffic, write


def set_monitor(repo, **values) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.setdefault("monitor", {}).update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_the_estimate_per_day_sits_beside_the_realized_value_and_the_labels_share(repo):
    live = traffic(labelled=40)
    write(live)
    assert main(["monitor"]) in (0, 1)
    report = json.loads(MONITOR_FILE.read_text())
    days = report["estimated_performance"]
    params = load_params()
    assert {day["metric"] for day in days} == {params.gate_metric}
    assert sum(day["rows"] for day in days) == len(live)
    assert sum(day["labelled"] for day in days) == 40
    estimated = [day for day in days if day["estimate"] is not None]
    assert all(day["low"] <= day["estimate"] <= day["high"] for day in estimated)
    estimation = report["estimation"]
    assert estimation["method"] == ("CBPE" if params.task == "classification" else "DLE")
    assert estimation["degraded"] is False  # the holdout's own rows, as live traffic
    assert "estimated" not in report["findings"]
    assert isinstance(report["slices"], list)
    assert report["slice_search"]["rows"] == len(live)
    markdown = MONITOR_REPORT.read_text()
    assert "## Estimated performance (before the labels)" in markdown
    assert "## Slices that degrade" in markdown
    assert (MONITOR_PLOTS_DIR / "estimated.png").stat().st_size > 1000


def test_with_the_estimate_and_the_slices_off_nothing_is_guessed(repo):
    write(traffic())
    set_monitor(repo, estimate=False, slices={"top": 0})
    assert main(["monitor"]) in (0, 1)
    report = json.loads(MONITOR_FILE.read_text())
    assert report["estimated_performance"] == []
    assert report["estimation"] is None
    assert report["slices"] == []
    assert "Not estimated: `monitor.estimate` is off." in MONITOR_REPORT.read_text()
