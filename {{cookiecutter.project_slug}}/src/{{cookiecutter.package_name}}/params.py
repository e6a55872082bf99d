"""Load params.yaml into typed, frozen objects: the only reader of params.yaml.

Paths of the pipeline's files are constants here too, so that commands, tests and dvc.yaml agree
(dvc.yaml repeats them as literals; a template test checks that they match).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ProjectError, first_error
from .metrics import GUARDRAILS, METRICS, PRIMARY_METRIC, Task, task_metrics

PARAMS_FILE = Path("params.yaml")
SCHEMA_FILE = Path("schema.yaml")
RAW_DATA = Path("data/raw/data.parquet")
TRAIN_DATA = Path("data/processed/train.parquet")
TEST_DATA = Path("data/processed/test.parquet")
MODEL_FILE = Path("models/model.joblib")
REPORTS_DIR = Path("reports")
METRICS_FILE = REPORTS_DIR / "metrics.json"
PLOTS_DIR = REPORTS_DIR / "plots"
VALIDATION_FILE = REPORTS_DIR / "validation.json"
DRIFT_FILE = REPORTS_DIR / "drift.json"
DRIFT_REPORT = REPORTS_DIR / "drift.md"
DRIFT_PLOTS_DIR = REPORTS_DIR / "drift"
MONITOR_FILE = REPORTS_DIR / "monitor.json"
MONITOR_REPORT = REPORTS_DIR / "monitor.md"
MONITOR_PLOTS_DIR = REPORTS_DIR / "monitor"
PRODUCTION_DATA = Path("data/production")  # `dataset`: labelled production rows, one DVC-tracked file a version
QUARANTINE_DIR = Path("data/quarantine")  # `dataset`: the rows that break the contract, with a `_reason` column
PROMOTE_FILE = REPORTS_DIR / "promote.json"
BUILD_DIR = Path("build")
SMOKE_FILE = BUILD_DIR / "smoke.json"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataParams(_Section):
    """Where the data comes from, what to predict, and the optional stable row id."""

    source: str
    target: str
    id_column: str | None = None


class SplitParams(_Section):
    """The train/test split."""

    test_size: float = Field(0.2, gt=0, lt=1)
    stratify: bool = True


class OneHotParams(_Section):
    """One-hot encoding of categorical features: rare categories share one "infrequent" column."""

    min_frequency: int = Field(5, ge=1)  # categories seen fewer times in training are infrequent
    max_categories: int = Field(30, ge=2)  # at most this many columns per feature, the infrequent one included


class TrainParams(_Section):
    """The estimator, its arguments and the encoding of categorical features."""

    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    one_hot: OneHotParams = OneHotParams()


class ContractParams(_Section):
    """How `schema` infers schema.yaml, and the validate stage's policies."""

    range_margin: float = Field(0.1, ge=0)
    max_categories: int = Field(20, ge=1)
    near_unique_share: float = Field(0.5, gt=0, le=1)
    null_margin: float = Field(0.05, ge=0, le=1)
    min_rows_factor: float = Field(0.5, ge=0, le=1)
    max_rows_factor: float | None = Field(100.0, ge=1)
    extra_columns: Literal["fail", "warn"] = "fail"
    max_duplicate_fraction: float = Field(0.05, ge=0, le=1)
    sample_size: int = Field(5, ge=0, le=100)


class DriftParams(_Section):
    """The drift check: where the current data comes from, effect-size thresholds, testing policy."""

    current: str | None = None  # None: the store's live predictions over monitor.window
    prediction_column: str = "_prediction"  # store.PREDICTION (params.py imports no store: tests check they agree)
    ignore_columns: tuple[str, ...] = ()  # besides the store's own `_` fields, which are never tested
    min_rows: int = Field(50, ge=1)  # distinct current rows (one per id) below which the verdict is "not enough data"
    ks_statistic: float = Field(0.1, gt=0, le=1)
    psi: float = Field(0.1, gt=0)
    js_distance: float = Field(0.1, gt=0, le=1)
    new_category_share: float = Field(0.01, gt=0, le=1)
    bins: int = Field(10, ge=2, le=100)
    alpha: float = Field(0.05, gt=0, lt=1)
    correction: Literal["holm", "bonferroni", "fdr_bh", "none"] = "holm"
    share: float = Field(0.3, gt=0, le=1)


class ServeParams(_Section):
    """The BentoML service: request limits, adaptive batching, deadlines and the inference log."""

    max_records: int = Field(1000, ge=1)
    max_body_bytes: int = Field(2_097_152, ge=1024)  # a larger body is a 413, refused before it is read
    max_string_length: int = Field(256, ge=1)  # characters in one string value without categories
    # A number beyond its contract range by more than this many times the feature's scale is a 400
    # (serving/limits.py: plausible_range); a feature without a range in schema.yaml has no bound.
    value_bound_factor: float = Field(1000.0, ge=1)
    smoke_rows: int = Field(20, ge=1, le=1000)  # holdout rows packaged with the model for the smoke test
    max_batch_rows: int = Field(512, ge=1)
    max_queue_rows: int = Field(20000, ge=1)
    max_wait_seconds: float = Field(5.0, gt=0)  # a request still queued after this long gets a 503
    retry_after_seconds: int = Field(1, ge=0)  # the Retry-After header of a 503
    # The inference log (serving/log_writer.py): features never written to the store, or written as sha256 hex.
    log_drop_columns: tuple[str, ...] = ()
    log_hash_columns: tuple[str, ...] = ()
    log_buffer_rows: int = Field(50_000, ge=1)  # rows waiting for the store; past it new rows are dropped (counted)
    log_flush_seconds: float = Field(60.0, gt=0)  # a part is written at least this often while rows wait
    log_part_rows: int = Field(10_000, ge=1)  # ... and as soon as this many rows wait

    @model_validator(mode="after")
    def _drop_or_hash(self) -> ServeParams:
        both = sorted(set(self.log_drop_columns) & set(self.log_hash_columns))
        if both:
            raise ValueError(f"log_drop_columns and log_hash_columns both list {', '.join(both)}: choose one")
        return self


class GateParams(_Section):
    """The champion/challenger gate (`compare`): policy of the decision and its guardrails."""

    metric: str | None = None  # None: the task's primary metric (metrics.PRIMARY_METRIC)
    # Non-inferiority margin on the error scale: the challenger's error (1 - roc_auc, rmse, ...) may exceed
    # the champion's by at most this fraction of it, at the worse end of the interval.
    margin: float = Field(0.25, ge=0)
    # None: the task's guardrails (metrics.GUARDRAILS), judged like the metric; [] turns them off.
    guardrails: tuple[str, ...] | None = None
    floor: float | None = None  # the metric's worst acceptable value (a maximum when lower is better)
    bootstrap: int = Field(1000, ge=100, le=100_000)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    min_holdout_rows: int = Field(50, ge=1)  # holdout rows neither model trained on, at least
    max_latency_ratio: float | None = Field(2.0, gt=0)  # median single-row latency, challenger / champion
    max_size_ratio: float | None = Field(5.0, gt=0)  # model file size, challenger / champion

    @field_validator("metric", "guardrails")
    @classmethod
    def _known_metrics(cls, value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        names = (value,) if isinstance(value, str) else value or ()
        unknown = [name for name in names if name not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}; use one of {', '.join(METRICS)}")
        return value


WINDOW = re.compile(r"^(?P<count>[1-9][0-9]*)(?P<unit>[mhdw])$")
WINDOW_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_window(text: str) -> timedelta:
    """A window length such as 30m, 12h, 7d or 2w; ValueError otherwise."""
    match = WINDOW.match(str(text).strip())
    if match is None:
        raise ValueError(f"{text!r} is not a window length: use a whole number and m, h, d or w (e.g. 7d)")
    return timedelta(**{WINDOW_UNITS[match["unit"]]: int(match["count"])})


def window_start(text: str, now: datetime) -> datetime:
    """The start of a window: `now` minus a length (7d), or a UTC date or time (2026-11-24, 2026-11-24T06:00)."""
    try:
        return now - parse_window(text)
    except ValueError as length_error:
        try:
            moment = datetime.fromisoformat(str(text).strip())
        except ValueError:
            raise ProjectError(f"--since: {length_error}, or an ISO date such as 2026-11-24") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)


class MonitorParams(_Section):
    """Production monitoring: the store of the service's traffic and ground truth (store.py), and `monitor`."""

    store: str = "logs"  # a local folder, or s3://, gs://, az:// (the DVC remote's backends and credentials)
    window: str = "7d"  # what `monitor` and `drift` read by default: the last 7 days
    min_labels: int = Field(50, ge=1)  # fewer joined labels: "not enough labels", neither a pass nor a failure
    # Degraded when, at the better end of the interval, the gate's metric or a guardrail is worse than the
    # production model's holdout value by more than this fraction of its error (the gate's error scale).
    margin: float = Field(0.5, ge=0)
    bootstrap: int = Field(200, ge=50, le=100_000)
    # More labels than this: each resample has this many rows, the interval scaled back (m-out-of-n bootstrap).
    bootstrap_rows: int | None = Field(20_000, ge=1000)
    confidence: float = Field(0.95, gt=0.5, lt=1)

    @field_validator("window")
    @classmethod
    def _window_length(cls, value: str) -> str:
        parse_window(value)
        return value


class Params(_Section):
    """The whole of params.yaml."""

    seed: int = 42
    task: Task
    data: DataParams
    split: SplitParams = SplitParams()
    train: TrainParams
    contract: ContractParams = ContractParams()
    drift: DriftParams = DriftParams()
    serve: ServeParams = ServeParams()
    gate: GateParams = GateParams()
    monitor: MonitorParams = MonitorParams()

    @model_validator(mode="after")
    def _gate_metrics_fit_the_task(self) -> Params:
        for key, name in [("metric", self.gate.metric), *(("guardrails", g) for g in self.gate.guardrails or ())]:
            if name is not None and METRICS[name].task != self.task:
                raise ValueError(
                    f"gate.{key} {name!r} is not a {self.task} metric: use one of {', '.join(task_metrics(self.task))}"
                )
        return self

    @property
    def gate_metric(self) -> str:
        """The metric the gate judges by: gate.metric, else the task's primary metric."""
        return self.gate.metric or PRIMARY_METRIC[self.task]

    @property
    def gate_guardrails(self) -> tuple[str, ...]:
        """The metrics the gate also holds the challenger to: gate.guardrails, else the task's (not the metric)."""
        chosen = GUARDRAILS[self.task] if self.gate.guardrails is None else self.gate.guardrails
        return tuple(name for name in chosen if name != self.gate_metric)


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and check params.yaml; raise ProjectError naming the bad entry."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"{path} not found: run commands from the project root") from None
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path} is not valid YAML: {exc}") from None
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        raise ProjectError(f"{path}: {first_error(exc)}") from None
