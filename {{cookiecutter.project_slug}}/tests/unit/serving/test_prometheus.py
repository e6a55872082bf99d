"""The model's own Prometheus metrics (serving/prometheus.py), read back from a registry of their own."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from {{ cookiecutter.package_name }}.contract import ColumnSpec
from {{ cookiecutter.package_name }}.params import ServeParams
from {{ cookiecutter.package_name }}.serving.config import ServiceConfig
from {{ cookiecutter.package_name }}.serving.log_writer import Backlog
from {{ cookiecutter.package_name }}.serving.prometheus import (
    ServiceMetrics,
    metrics_enabled,
    model_metrics,
    prediction_reference,
    target_bounds,
)

FEATURES = [
    ColumnSpec("tenure_months", "float", nullable=True),
    ColumnSpec("plan_type", "string", nullable=True, categories=("basic", "plus", "pro")),
    ColumnSpec("monthly_charges", "float", nullable=False),
]
REFERENCE = {"class_share": {"no": 0.75, "yes": 0.25}, "rows": 400}
V = {"model_version": "pkg:abc"}
CONFIG = ServiceConfig(
    version="pkg:one",
    estimator="dummy",
    task="classification",
    target="churn",
    features=tuple(FEATURES),
    serve=ServeParams(),
    monitor_store="logs",
    classes=("no", "yes"),
)


def classifier_metrics(registry: CollectorRegistry, **kwargs) -> ServiceMetrics:
    info = {"estimator": "logistic_regression"}
    return ServiceMetrics("pkg:abc", FEATURES, ["no", "yes"], REFERENCE, info, registry=registry, **kwargs)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_every_known_series_exists_at_zero_before_the_first_request():
    registry = CollectorRegistry()
    classifier_metrics(registry)
    for label in ("no", "yes"):
        assert value(registry, "model_predictions_total", **V, **{"class": label}) == 0
    assert value(registry, "model_missing_values_total", feature="tenure_months") == 0
    assert value(registry, "model_missing_values_total", feature="plan_type") == 0
    assert value(registry, "model_missing_values_total", feature="monthly_charges") is None  # never null
    assert value(registry, "model_unknown_categories_total", feature="plan_type") == 0
    assert value(registry, "model_unknown_categories_total", feature="tenure_months") is None  # no categories
    assert value(registry, "model_log_rows_dropped_total") == 0
    assert value(registry, "model_feedback_total") == 0
    assert value(registry, "model_log_write_failures_total") == 0
    assert value(registry, "model_log_backlog_rows") == value(registry, "model_log_backlog_oldest_seconds") == 0


def test_model_info_names_the_version_task_and_estimator():
    registry = CollectorRegistry()
    classifier_metrics(registry)
    labels = {"version": "pkg:abc", "task": "classification", "estimator": "logistic_regression"}
    assert value(registry, "model_info", **labels) == 1


def test_predictions_are_counted_by_class_and_missing_values_by_feature():
    registry = CollectorRegistry()
    metrics = classifier_metrics(registry)
    metrics.observe([(None, "plus", 50.0)], ["yes"])
    metrics.observe([(None, None, 50.0), (3.0, "pro", 20.0), (4.0, None, 20.0)], ["no", "yes", "no"])
    assert value(registry, "model_predictions_total", **V, **{"class": "yes"}) == 2
    assert value(registry, "model_predictions_total", **V, **{"class": "no"}) == 2
    assert value(registry, "model_missing_values_total", feature="tenure_months") == 2
    assert value(registry, "model_missing_values_total", feature="plan_type") == 2


def test_the_holdout_shares_and_their_count_are_the_reference_of_the_shift_alert_by_model_version():
    registry = CollectorRegistry()
    classifier_metrics(registry)
    assert value(registry, "model_prediction_reference_share", **V, **{"class": "no"}) == 0.75
    assert value(registry, "model_prediction_reference_share", **V, **{"class": "yes"}) == 0.25
    assert value(registry, "model_prediction_reference_rows", **V) == 400
    assert prediction_reference(["no", "yes", "no"], ["no", "yes"])["rows"] == 3


def test_the_hooks_count_unknown_categories_log_drops_and_feedback():
    registry = CollectorRegistry()
    metrics = classifier_metrics(registry)
    metrics.unknown_categories("plan_type", 3)
    metrics.unknown_categories("plan_type")
    metrics.log_dropped(5)
    metrics.log_dropped(0)
    metrics.feedback_received(7)
    assert value(registry, "model_unknown_categories_total", feature="plan_type") == 4
    assert value(registry, "model_log_rows_dropped_total") == 5
    assert value(registry, "model_feedback_total") == 7


def test_the_inference_logs_write_failures_and_backlog_are_metrics():
    registry = CollectorRegistry()
    metrics = classifier_metrics(registry)
    metrics.log_write_failed(1)
    metrics.log_write_failed(2)
    metrics.log_backlog(Backlog(rows=1200, bytes=65536, oldest_seconds=95.5))
    assert value(registry, "model_log_write_failures_total") == 3
    assert value(registry, "model_log_backlog_rows") == 1200
    assert value(registry, "model_log_backlog_bytes") == 65536
    assert value(registry, "model_log_backlog_oldest_seconds") == 95.5
    metrics.log_backlog(Backlog(0, 0, 0.0))
    assert value(registry, "model_log_backlog_rows") == value(registry, "model_log_backlog_oldest_seconds") == 0


def test_regression_buckets_cut_the_targets_contract_range_and_a_retrain_does_not_move_them():
    target = ColumnSpec("price", "float", nullable=False, minimum=-10.0, maximum=190.0)
    assert target_bounds(target) == [10.0, 30.0, 50.0, 70.0, 90.0, 110.0, 130.0, 150.0, 170.0]
    first = prediction_reference(np.linspace(0.0, 100.0, 101), None, target)
    retrained = prediction_reference(np.linspace(20.0, 160.0, 57), None, target)  # another model, other deciles
    assert first["bounds"] == retrained["bounds"] == target_bounds(target)
    assert first["cumulative_share"][:3] == pytest.approx([11 / 101, 31 / 101, 51 / 101])
    assert (first["rows"], retrained["rows"]) == (101, 57)
    assert target_bounds(ColumnSpec("price", "float", nullable=False, minimum=0.0)) == []  # no range: no bounds
    assert target_bounds(ColumnSpec("p", "float", nullable=False, minimum=0.000123, maximum=0.000456))[0] == 0.0001563


def test_regression_predictions_fill_a_histogram_by_model_version_at_the_fixed_bounds():
    target = ColumnSpec("price", "float", nullable=False, minimum=0.0, maximum=100.0)
    reference = prediction_reference(np.linspace(0.0, 100.0, 101), None, target)
    registry = CollectorRegistry()
    metrics = ServiceMetrics("pkg:r", FEATURES, None, reference, registry=registry)
    metrics.observe([(1.0, "pro", 2.0)] * 3, [5.0, 15.0, 95.0])
    version = {"model_version": "pkg:r"}
    assert value(registry, "model_predictions_total", **version) == 3
    assert value(registry, "model_prediction_value_bucket", **version, le="10.0") == 1
    assert value(registry, "model_prediction_value_bucket", **version, le="90.0") == 2
    assert value(registry, "model_prediction_value_bucket", **version, le="+Inf") == 3
    assert value(registry, "model_prediction_value_sum", **version) == 115
    assert value(registry, "model_prediction_reference_share", **version, le="50.0") == pytest.approx(51 / 101)
    assert value(registry, "model_prediction_reference_rows", **version) == 101


def test_without_a_range_for_the_target_the_buckets_fall_back_to_the_holdout_deciles():
    reference = prediction_reference(np.linspace(0.0, 100.0, 101), None)
    assert reference["bounds"] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    assert reference["cumulative_share"] == pytest.approx([(10 * k + 1) / 101 for k in range(1, 10)])


def test_the_regression_reference_names_exactly_the_histograms_buckets():
    """The shift alert subtracts the two series matched on `le`: their label values must be identical."""
    registry = CollectorRegistry()
    reference = prediction_reference([0.1234567, 2.5, 3.3333333, 1e6], None)
    ServiceMetrics("pkg:r", FEATURES, None, reference, registry=registry)
    families = {family.name: family for family in registry.collect()}
    buckets = {s.labels["le"] for s in families["model_prediction_value"].samples if s.name.endswith("_bucket")}
    shares = {s.labels["le"] for s in families["model_prediction_reference_share"].samples}
    assert shares
    assert shares <= buckets


def test_the_reference_gives_a_class_the_holdout_never_predicted_a_zero_share():
    reference = prediction_reference(np.array(["no", "no", "no", "maybe"]), ["maybe", "no", "yes"])
    assert reference == {"class_share": {"maybe": 0.25, "no": 0.75, "yes": 0.0}, "rows": 4}


def test_switched_off_nothing_is_registered_and_nothing_is_counted():
    registry = CollectorRegistry()
    metrics = classifier_metrics(registry, enabled=False)
    metrics.observe([(None, "plus", 1.0)], ["yes"])
    metrics.unknown_categories("plan_type", 1)
    metrics.log_dropped(1)
    metrics.feedback_received(1)
    assert generate_latest(registry) == b""


@pytest.mark.parametrize(("setting", "on"), [(None, True), ("", True), ("on", True), ("1", True), (" OFF ", False)])
def test_the_environment_switch(setting, on):
    assert metrics_enabled(setting) is on
    assert metrics_enabled("0") is metrics_enabled("false") is metrics_enabled("no") is False


def test_a_service_built_twice_in_one_process_counts_into_the_same_metrics_of_the_default_registry():
    from prometheus_client import REGISTRY

    def predicted(version: str) -> float:
        return REGISTRY.get_sample_value("model_predictions_total", {"model_version": version, "class": "yes"}) or 0.0

    before = predicted("pkg:one"), predicted("pkg:two")
    first = model_metrics(CONFIG, None)
    second = model_metrics(dataclasses.replace(CONFIG, version="pkg:two"), None)
    first.observe([(1.0, "plus", 2.0)], ["yes"])
    second.observe([(1.0, "plus", 2.0)], ["yes"])
    second.observe([(1.0, "plus", 2.0)], ["yes"])
    assert (predicted("pkg:one"), predicted("pkg:two")) == (before[0] + 1, before[1] + 2)  # one metric, by version
    info = {"version": "pkg:two", "task": "classification", "estimator": "dummy"}
    assert REGISTRY.get_sample_value("model_info", info) == 1
    assert REGISTRY.get_sample_value("model_info", {**info, "version": "pkg:one"}) is None  # the latest model only


def test_a_serving_process_builds_its_metrics_without_a_word_on_stderr(tmp_path):
    """A BentoML worker builds the metrics once, in Prometheus' multiprocess mode: there prometheus_client warns
    on every clear() of labels ("Clearing labels has not been implemented in multi-process mode yet")."""
    script = (
        "import json, sys\n"
        "from {{ cookiecutter.package_name }}.serving.config import ServiceConfig\n"
        "from {{ cookiecutter.package_name }}.serving.prometheus import model_metrics\n"
        "config = ServiceConfig.from_metadata(json.loads(sys.argv[1]), 'pkg:abc', 'dummy')\n"
        "metrics = model_metrics(config, None)\n"
        "metrics.observe([(1.0, 'plus', 2.0)], ['yes'])\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    command = [sys.executable, "-c", script, json.dumps(CONFIG.to_metadata())]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert list(tmp_path.glob("*.db"))  # the multiprocess mode was on: the counts went to its files
