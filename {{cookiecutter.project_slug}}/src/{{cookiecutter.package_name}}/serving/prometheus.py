"""The model's own Prometheus metrics, served beside BentoML's HTTP metrics on /metrics.

- `model_info{version, task, estimator}`: 1, for the model this process serves.
- `model_predictions_total{model_version, class}`: predicted rows, by predicted class (regression: no class).
- `model_prediction_value{model_version}`: regression only, a histogram of the predicted values. Its buckets
  do not move with a retrain: ten equal steps across the target's range in schema.yaml (the contract), else
  (no range there) the deciles of the packaged model's predictions on the holdout.
- `model_prediction_reference_share{model_version, class}` (regression: `{model_version, le}`): the share of
  each class among the holdout's predictions (regression: the share at or below each bucket bound), and
  `model_prediction_reference_rows{model_version}`, how many predictions that share is of: the baseline of
  the prediction-shift alert, a two-proportion z-score of each version against its own holdout.
- `model_missing_values_total{feature}`: values of nullable features that were null or left out.
- `model_unknown_categories_total{feature}`: values outside the contract's categories.
- `model_feedback_total`: ground-truth labels received.
- The inference log (log_writer.py): `model_log_rows_dropped_total` (rows dropped: its buffer was full, or
  they could be neither written nor spilled at shutdown), `model_log_write_failures_total` (parts the store
  refused, each try), and its backlog: `model_log_backlog_rows`, `model_log_backlog_bytes` and
  `model_log_backlog_oldest_seconds` (the age of the oldest row not in the store yet).

Test traffic (`X-Traffic: test`) is not counted here (service.py): only the inference log marks it.

deploy/monitoring/ holds the alerts and the dashboard built on them; docs/monitoring.md explains them.
BentoML serves in Prometheus' multiprocess mode: counters are summed over the workers, and the gauges take
the largest value of the live workers. prometheus_client is imported in the worker only, after BentoML has
chosen its multiprocess folder. Every label value known at start-up (classes, features) gets its series at
0 then, so that rate() sees the first increment, and its child is cached: an increment costs ~2 µs.
"""

from __future__ import annotations

import functools
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..contract import ColumnSpec
from .config import ServiceConfig
from .log_writer import Backlog
from .runner import Row

METRICS_ENV = "SERVICE_MODEL_METRICS"  # "off" (or 0, false, no) turns the model's metrics off; BentoML's stay
PREFIX = "model"
DECILES = tuple(step / 10 for step in range(1, 10))
STEPS = 10  # regression: the target's range in the contract cut into this many buckets
VERSION = "model_version"  # the label that keeps each model version's counts apart
OFF = ("0", "off", "false", "no")

# The collectors ServiceMetrics put into prometheus_client's default registry, by name: a service built again
# in the same process (tests) counts into them too instead of failing on duplicate names.
_registered: dict[str, Any] = {}


def metrics_enabled(value: str | None) -> bool:
    """Whether $SERVICE_MODEL_METRICS leaves the model's metrics on (unset: on)."""
    return (value or "on").strip().lower() not in OFF


def target_bounds(target: ColumnSpec | None) -> list[float]:
    """Regression's bucket bounds from the contract: the target's range cut into STEPS equal steps (the 9 inner
    bounds, 4 significant digits); [] when schema.yaml gives the target no range."""
    if target is None or target.minimum is None or target.maximum is None or target.maximum <= target.minimum:
        return []
    step = (target.maximum - target.minimum) / STEPS
    return sorted({float(f"{target.minimum + step * index:.4g}") for index in range(1, STEPS)})


def prediction_reference(
    predictions: Sequence[Any], classes: Sequence[Any] | None, target: ColumnSpec | None = None
) -> dict[str, Any]:
    """The distribution of the packaged model's predictions on the holdout: the baseline live traffic is
    compared with, and `rows`, how many predictions it is made of. Classification: each class's share;
    regression: bucket bounds that a retrain does not move (`target_bounds`: the target's range in the
    contract; without one, the deciles of these predictions, 4 significant digits) and the share of
    predictions at or below each."""
    values = np.asarray(predictions)
    if classes is not None:
        labels = np.asarray(values, dtype=str)
        total = max(len(labels), 1)
        share = {str(label): float((labels == str(label)).sum() / total) for label in classes}
        return {"class_share": share, "rows": len(labels)}
    numbers = values.astype(float)
    bounds = target_bounds(target)
    if not len(numbers):
        return {"bounds": bounds, "cumulative_share": [], "rows": 0}
    if not bounds:
        bounds = sorted({float(f"{bound:.4g}") for bound in np.quantile(numbers, DECILES)})
    shares = [float((numbers <= bound).mean()) for bound in bounds]
    return {"bounds": bounds, "cumulative_share": shares, "rows": len(numbers)}


class ServiceMetrics:
    """The model's metrics of one serving process; `enabled=False` makes every method a no-op.

    `registry` is a prometheus_client CollectorRegistry (tests read theirs), or "default": the process-wide
    one, where these metrics replace those of a service built before in the same process.
    """

    def __init__(
        self,
        version: str,
        features: Sequence[ColumnSpec],
        classes: Sequence[Any] | None = None,
        reference: Mapping[str, Any] | None = None,
        info: Mapping[str, str] | None = None,
        registry: Any = "default",
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._version = version
        self._rows: Any = None  # regression: predicted rows (classification counts them by class)
        self._values: Any = None  # regression: the histogram of predicted values
        self._by_class: dict[Any, Any] = {}
        if not enabled:
            return
        import prometheus_client as prom

        self._default = registry == "default"
        self._registry = prom.REGISTRY if self._default else registry
        task = "classification" if classes is not None else "regression"
        labels = {"version": version, "task": task, **(info or {})}
        earlier = _registered.get(f"{PREFIX}_info") if self._default else None
        info_gauge = self._make(
            prom.Gauge, "info", "The served model (value 1)", list(labels), multiprocess_mode="livemax"
        )
        self._predicted(prom, classes, reference or {}, rebuilt=earlier is not None and info_gauge is earlier)
        info_gauge.labels(**labels).set(1)
        missing = self._make(
            prom.Counter, "missing_values", "Null or left-out values of nullable features", ["feature"]
        )
        self._missing = [(index, missing.labels(spec.name)) for index, spec in enumerate(features) if spec.nullable]
        unknown = self._make(
            prom.Counter, "unknown_categories", "Values outside the contract's categories", ["feature"]
        )
        self._unknown_metric = unknown
        self._unknown = {spec.name: unknown.labels(spec.name) for spec in features if spec.categories}
        self._feedback = self._make(prom.Counter, "feedback", "Ground-truth labels received")
        dropped = "Rows the inference log dropped (buffer full, or neither written nor spilled at shutdown)"
        self._dropped = self._make(prom.Counter, "log_rows_dropped", dropped)
        self._write_failures = self._make(prom.Counter, "log_write_failures", "Inference log parts the store refused")
        backlog = "the inference log holds for the store (buffered, or spilled at the last shutdown)"
        gauge: Callable[..., Any] = functools.partial(self._make, prom.Gauge)
        self._backlog_rows = gauge("log_backlog_rows", f"Rows {backlog}", multiprocess_mode="livesum")
        self._backlog_bytes = gauge("log_backlog_bytes", f"Bytes {backlog}", multiprocess_mode="livesum")
        self._backlog_age = gauge(
            "log_backlog_oldest_seconds", f"Age of the oldest row {backlog}", multiprocess_mode="livemax"
        )

    def _make(
        self, kind: Callable[..., Any], name: str, help_text: str, labelnames: Sequence[str] = (), **kw: Any
    ) -> Any:
        """A metric of the registry: the one a service built before in this process registered, when it is the
        same (kind, labels, buckets), else a new one in its place."""
        full = f"{PREFIX}_{name}"
        known = _registered.get(full) if self._default else None
        same_buckets = "buckets" not in kw or list(getattr(known, "_upper_bounds", ())) == kw["buckets"]
        if known is not None and type(known) is kind and known._labelnames == tuple(labelnames) and same_buckets:
            return known
        if known is not None:
            self._registry.unregister(known)  # another kind of model in this process: its metric gives way
        metric = kind(full, help_text, list(labelnames), registry=self._registry, **kw)
        if self._default:
            _registered[full] = metric
        return metric

    def _predicted(self, prom: Any, classes: Sequence[Any] | None, reference: Mapping[str, Any], rebuilt: bool) -> None:
        """The counts of predictions by version (and class, or value), and the holdout's reference shares."""
        from prometheus_client.utils import floatToGoString

        le_text: Callable[[float], str] = floatToGoString  # the histogram's `le` text of a bound (an untyped function)
        version = self._version
        share = "The holdout's share of each predicted class (cumulative share at each bucket bound, regression)"
        key = "class" if classes is not None else "le"
        references = self._make(
            prom.Gauge, "prediction_reference_share", share, [VERSION, key], multiprocess_mode="livemax"
        )
        rows_help = "How many holdout predictions the reference shares are of"
        reference_rows = self._make(
            prom.Gauge, "prediction_reference_rows", rows_help, [VERSION], multiprocess_mode="livemax"
        )
        # A service built before in this process (tests): its model's series go. Only then: a server builds
        # its metrics once per process, in Prometheus' multiprocess mode, where prometheus_client cannot clear
        # labels and warns so ("Clearing labels has not been implemented in multi-process mode yet").
        if rebuilt:
            for gauge in (_registered[f"{PREFIX}_info"], references, reference_rows):
                gauge.clear()
        if "rows" in reference:  # a model packaged before the z-score has no count: package it again
            reference_rows.labels(version).set(reference["rows"])
        if classes is not None:
            predictions = self._make(
                prom.Counter, "predictions", "Predicted rows, by predicted class", [VERSION, "class"]
            )
            self._by_class = {value: predictions.labels(version, str(value)) for value in classes}
            self._predictions = predictions
            for label, value in reference.get("class_share", {}).items():
                references.labels(version, label).set(value)
            return
        self._rows = self._make(prom.Counter, "predictions", "Predicted rows", [VERSION]).labels(version)
        bounds = [float(bound) for bound in reference.get("bounds", [])]
        help_text = "Predicted values; the buckets cut the target's range in the contract"
        values = self._make(prom.Histogram, "prediction_value", help_text, [VERSION], buckets=[*bounds, float("inf")])
        self._values = values.labels(version)
        for bound, value in zip(bounds, reference.get("cumulative_share", []), strict=False):
            references.labels(version, le_text(bound)).set(value)

    def observe(self, rows: Sequence[Row], predictions: Sequence[Any]) -> None:
        """Count predicted rows (by class, or their values) and the missing values among their features."""
        if not self.enabled:
            return
        if self._values is not None:  # regression
            self._rows.inc(len(predictions))
            for value in predictions:
                self._values.observe(value)
        elif len(predictions) == 1:
            self._class(predictions[0]).inc()
        else:
            for value, count in Tally(predictions).items():
                self._class(value).inc(count)
        for index, child in self._missing:
            count = sum(1 for row in rows if row[index] is None)
            if count:
                child.inc(count)

    def _class(self, value: Any) -> Any:
        child = self._by_class.get(value)
        if child is None:  # not one of the model's classes_: counted all the same
            child = self._by_class[value] = self._predictions.labels(self._version, str(value))
        return child

    def unknown_categories(self, feature: str, count: int = 1) -> None:
        """`count` values of `feature` were outside its categories."""
        if self.enabled and count:
            child = self._unknown.get(feature)
            if child is None:
                child = self._unknown[feature] = self._unknown_metric.labels(feature)
            child.inc(count)

    def log_dropped(self, count: int) -> None:
        """The inference log dropped `count` rows."""
        if self.enabled and count:
            self._dropped.inc(count)

    def feedback_received(self, count: int) -> None:
        """`count` ground-truth labels arrived."""
        if self.enabled and count:
            self._feedback.inc(count)

    def log_write_failed(self, count: int) -> None:
        """The store refused `count` parts of the inference log."""
        if self.enabled and count:
            self._write_failures.inc(count)

    def log_backlog(self, backlog: Backlog) -> None:
        """What the inference log holds for the store now."""
        if self.enabled:
            self._backlog_rows.set(backlog.rows)
            self._backlog_bytes.set(backlog.bytes)
            self._backlog_age.set(backlog.oldest_seconds)


def model_metrics(config: ServiceConfig, setting: str | None) -> ServiceMetrics:
    """The metrics of a stored model, on unless `setting` ($SERVICE_MODEL_METRICS) is off."""
    return ServiceMetrics(
        config.version,
        config.features,
        config.classes if config.task == "classification" else None,
        config.prediction_reference,
        {"estimator": config.estimator},
        enabled=metrics_enabled(setting),
    )
