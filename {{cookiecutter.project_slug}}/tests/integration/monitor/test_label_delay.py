"""Late labels: with `monitor.label_delay`, live performance judges the predictions made a delay ago, with every
label arrived since, and says how complete their labels are and whether the labelled ones look like the rest."""

import json
from datetime import UTC, datetime, timedelta

import yaml

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import MONITOR_FILE, MONITOR_REPORT

from .test_monitor_command import traffic, write

WEEK = timedelta(days=7)


def late_traffic():
    """The test split as predictions made 13 to 7 days ago, each labelled exactly a week later (all by now)."""
    live = traffic()
    now = datetime.now(UTC)
    times = [now - WEEK - timedelta(days=6) * (1 - i / len(live)) - timedelta(hours=1) for i in range(len(live))]
    live[store.TS] = [t.isoformat() for t in times]
    write(live, label_lag=WEEK)
    return live


def set_delay(repo, delay: str) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.setdefault("monitor", {})["label_delay"] = delay
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_labels_a_week_late_are_never_counted_without_a_label_delay(repo, capsys):
    late_traffic()
    assert main(["monitor"]) == 0
    assert json.loads(MONITOR_FILE.read_text())["performance"]["verdict"] == "not enough labels"


def test_with_the_label_delay_the_week_old_predictions_are_judged_with_their_labels(repo, capsys):
    live = late_traffic()
    set_delay(repo, "7d")
    assert main(["monitor"]) == 0
    performance = json.loads(MONITOR_FILE.read_text())["performance"]
    assert performance["verdict"] == "ok"
    assert performance["labels"] == len(live)
    assert performance["window"]["label_delay"] == "7d"
    days = performance["label_completeness"]
    assert sum(day["predictions"] for day in days) == len(live)
    assert all(day["share"] == 1.0 for day in days)
    markdown = MONITOR_REPORT.read_text()
    assert "Labels arrive late (`monitor.label_delay` 7d): judged are the predictions made from" in markdown
    assert "| day of prediction | predictions | labelled | share |" in markdown


def test_labels_that_come_back_only_for_some_predictions_show_as_selection_bias(repo):
    live = traffic()
    if store.PROBABILITIES in live.columns:  # the predicted class's probability
        score = live[store.PROBABILITIES].map(lambda probabilities: max(probabilities.values()))
    else:
        score = live[store.PREDICTION].astype(float)
    live[store.LABEL] = live[store.LABEL].where(score.rank(method="first") <= len(live) / 2)  # the lower half only
    write(live)
    assert main(["monitor"]) in (0, 1)
    bias = json.loads(MONITOR_FILE.read_text())["performance"]["selection_bias"]
    assert bias["labelled"] + bias["unlabelled"] == len(live)
    assert bias["p_value"] < 0.05
    assert "Selection bias: the labelled predictions differ from the unlabelled ones" in MONITOR_REPORT.read_text()
