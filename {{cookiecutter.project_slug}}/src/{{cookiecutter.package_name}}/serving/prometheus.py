"""The model's own Prometheus metrics, served beside BentoML's HTTP metrics on /metrics.

- `model_info{version, task, estimator}`: 1, for the model this process serves.
- `model_predictions_total{class}`: predicted rows, by predicted class (regression: no label).
- `model_prediction_value`: regression only, a histogram of the predicted values whose buckets are the
  deciles of the packaged model's predictions on the holdout.
- `model_prediction_reference_share{class}` (regression: `{le}`): the share of each class among the holdout's
  predictions (regression: the share at or below each bucket): the baseline of the prediction-shift alert.
- `model_missing_values_total{feature}`: values of nullable features that were null or left out.
- `model_unknown_categories_total{feature}`: values outside the contract's categories.
- `model_log_rows_dropped_total`: rows the inference log dropped (its buffer was full).
- `model_feedback_total`: ground-truth labels received.

deploy/monitoring/ holds the alerts and the dashboard built on them; docs/monitoring.md explains them.
BentoML serves in Prometheus' multiprocess mode: counters are summed over the workers, and the gauges take
the largest value of the live workers. prometheus_client is imported in the worker only, after BentoML has
chosen its multiprocess folder. Every label value known at start-up (classes, features) gets its series at
0 then, so that rate() sees the first increment, and its child is cached: an increment costs ~2 µs.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..contract import ColumnSpec
from .config import ServiceConfig
from .runner import Row

METRICS_ENV = "SERVICE_MODEL_METRICS"  # "off" (or 0, false, no) turns the model's metrics off; BentoML's stay
PREFIX = "model"
DECILES = tuple(step / 10 for step in range(1, 10))
OFF = ("0", "off", "false", "no")

# The collectors ServiceMetrics put into prometheus_client's default registry, by name: a service built again
# in the same process (tests) counts into them too instead of failing on duplicate names.
_registered: dict[str, Any] = {}


def metrics_enabled(value: str | None) -> bool:
    """Whether $SERVICE_MODEL_METRICS leaves the model's metrics on (unset: on)."""
    return (value or "on").strip().lower() not in OFF


def prediction_reference(predictions: Sequence[Any], classes: Sequence[Any] | None) -> dict[str, Any]:
    """The distribution of the packaged model's predictions on the holdout: the baseline live traffic is
    compared with. Classification: each class's share; regression: up to 9 bucket bounds (the deciles,
    4 significant digits) and the share of predictions at or below each."""
    values = np.asarray(predictions)
    if classes is not None:
        labels = np.asarray(values, dtype=str)
        total = max(len(labels), 1)
        return {"class_share": {str(label): float((labels == str(label)).sum() / total) for label in classes}}
    numbers = values.astype(float)
    if not len(numbers):
        return {"bounds": [], "cumulative_share": []}
    bounds = sorted({float(f"{bound:.4g}") for bound in np.quantile(numbers, DECILES)})
    return {"bounds": bounds, "cumulative_share": [float((numbers <= bound).mean()) for bound in bounds]}


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
        self._rows: Any = None  # regression: predicted rows (classification counts them by class)
        self._values: Any = None  # regression: the histogram of predicted values
        self._by_class: dict[Any, Any] = {}
        if not enabled:
            return
        import prometheus_client as prom
        from prometheus_client.utils import floatToGoString

        le_text: Callable[[float], str] = floatToGoString  # the histogram's `le` text of a bound (an untyped function)
        default = registry == "default"
        if default:
            registry = prom.REGISTRY
        reference = reference or {}
        task = "classification" if classes is not None else "regression"
        labels = {"version": version, "task": task, **(info or {})}

        def make(kind: Callable[..., Any], name: str, help_text: str, labelnames: Sequence[str] = (), **kw: Any) -> Any:
            full = f"{PREFIX}_{name}"
            known = _registered.get(full) if default else None
            same_buckets = "buckets" not in kw or list(getattr(known, "_upper_bounds", ())) == kw["buckets"]
            if known is not None and type(known) is kind and known._labelnames == tuple(labelnames) and same_buckets:
                return known
            if known is not None:
                registry.unregister(known)  # another kind of model in this process: its metric gives way
            metric = kind(full, help_text, list(labelnames), registry=registry, **kw)
            if default:
                _registered[full] = metric
            return metric

        earlier = _registered.get(f"{PREFIX}_info") if default else None
        info_gauge = make(prom.Gauge, "info", "The served model (value 1)", list(labels), multiprocess_mode="livemax")
        # A service built before in this process (tests): its model's series goes. Only then: a server builds
        # its metrics once per process, in Prometheus' multiprocess mode, where prometheus_client cannot clear
        # labels and warns so ("Clearing labels has not been implemented in multi-process mode yet").
        if earlier is not None and info_gauge is earlier:
            info_gauge.clear()
        info_gauge.labels(**labels).set(1)
        share = "The holdout's share of each predicted class (cumulative share at each bucket bound, regression)"
        key = "class" if classes is not None else "le"
        references = make(prom.Gauge, "prediction_reference_share", share, [key], multiprocess_mode="livemax")
        if classes is not None:
            predictions = make(prom.Counter, "predictions", "Predicted rows, by predicted class", ["class"])
            self._by_class = {value: predictions.labels(str(value)) for value in classes}
            self._predictions = predictions
            for label, value in reference.get("class_share", {}).items():
                references.labels(label).set(value)
        else:
            self._rows = make(prom.Counter, "predictions", "Predicted rows")
            bounds = [float(bound) for bound in reference.get("bounds", [])]
            help_text = "Predicted values; the buckets are the holdout predictions' deciles"
            self._values = make(prom.Histogram, "prediction_value", help_text, buckets=[*bounds, float("inf")])
            for bound, value in zip(bounds, reference.get("cumulative_share", []), strict=False):
                references.labels(le_text(bound)).set(value)
        missing = make(prom.Counter, "missing_values", "Null or left-out values of nullable features", ["feature"])
        self._missing = [(index, missing.labels(spec.name)) for index, spec in enumerate(features) if spec.nullable]
        unknown = make(prom.Counter, "unknown_categories", "Values outside the contract's categories", ["feature"])
        self._unknown_metric = unknown
        self._unknown = {spec.name: unknown.labels(spec.name) for spec in features if spec.categories}
        self._dropped = make(prom.Counter, "log_rows_dropped", "Rows the inference log dropped (buffer full)")
        self._feedback = make(prom.Counter, "feedback", "Ground-truth labels received")

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
            child = self._by_class[value] = self._predictions.labels(str(value))
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
