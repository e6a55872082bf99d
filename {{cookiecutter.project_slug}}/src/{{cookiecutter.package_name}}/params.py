"""Load params.yaml into typed, frozen objects: the only reader of params.yaml.

Paths of the pipeline's files are constants here too, so that commands, tests and dvc.yaml agree
(dvc.yaml repeats them as literals; a template test checks that they match).
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ProjectError
from .io import parse_yaml
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
IMPORTANCE_FILE = PLOTS_DIR / "feature_importance.csv"  # `evaluate`: permutation importance (the card's table)
MODEL_CARD_FILE = REPORTS_DIR / "model_card.json"  # `card`: the model card, bound to the model's sha256
MODEL_CARD_REPORT = REPORTS_DIR / "model_card.md"
MODEL_BOM_FILE = REPORTS_DIR / "model_bom.cdx.json"  # `card`: the ML-BOM (CycloneDX 1.6, with its modelCard)
PRODUCTION_DATA = Path("data/production")  # `dataset`: labelled production rows, one DVC-tracked file a version
QUARANTINE_DIR = Path("data/quarantine")  # `dataset`: the rows that break the contract, with a `_reason` column
PROMOTE_FILE = REPORTS_DIR / "promote.json"
DATASET_FILE = REPORTS_DIR / "dataset.json"  # `dataset`: what it added, quarantined, and the labels' check
BUILD_DIR = Path("build")
SMOKE_FILE = BUILD_DIR / "smoke.json"
# `tune`: the search's report (git), its plot, and the Optuna study it resumes (a journal file, git-ignored)
TUNE_FILE = REPORTS_DIR / "tune.json"
TUNE_REPORT = REPORTS_DIR / "tune.md"
TUNE_PLOT = REPORTS_DIR / "tune.png"
TUNE_JOURNAL = REPORTS_DIR / "tune.journal"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataParams(_Section):
    """Where the data comes from, what to predict, and the optional stable row id."""

    source: str
    target: str
    id_column: str | None = None
    # The name of this line of models: the production model is a champion only for a workspace of the same
    # lineage. `adopt` starts a new one; `compare` and `promote` refuse to cross lineages unless told to.
    lineage: str = "default"


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
    # Multivariate drift (monitor/multivariate.py): a domain classifier told to separate current rows from reference
    # rows; the data drifts when its cross-fitted AUC reaches its permutation threshold at these sizes and at least
    # multivariate_auc (at large n an AUC of 0.51 is significant and harmless). Adds ~0.3 s at 10k or 1M rows.
    multivariate: bool = True
    multivariate_auc: float = Field(0.55, gt=0.5, lt=1)


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
    # The inference log (serving/log_writer.py): features never written to the store, or written as the hex
    # HMAC-SHA256 keyed with $MONITOR_HASH_KEY (the service refuses to start without it); log_hash_id: `_id` too.
    log_drop_columns: tuple[str, ...] = ()
    log_hash_columns: tuple[str, ...] = ()
    log_hash_id: bool = False
    log_buffer_rows: int = Field(50_000, ge=1)  # rows waiting for the store; past it new rows are dropped (counted)
    log_flush_seconds: float = Field(60.0, gt=0)  # a part is written at least this often while rows wait
    log_part_rows: int = Field(10_000, ge=1)  # ... and as soon as this many rows wait

    @model_validator(mode="after")
    def _drop_or_hash(self) -> ServeParams:
        both = sorted(set(self.log_drop_columns) & set(self.log_hash_columns))
        if both:
            raise ValueError(f"log_drop_columns and log_hash_columns both list {', '.join(both)}: choose one")
        return self


class GateSliceParams(_Section):
    """Slices of the holdout (gate/slices.py): the model card's slice metrics and the gate's slice check."""

    # None: the low-cardinality categorical features (columns.treatment categorical, at most max_values values); a
    # numeric column named here is cut into `bins` quantile bins. [] turns slices off.
    columns: tuple[str, ...] | None = None
    max_values: int = Field(10, ge=2, le=100)
    bins: int = Field(4, ge=2, le=20)
    # A slice blocks when its loss of the gate's metric exceeds this fraction of the champion's error there (the
    # larger of its error on the slice and overall), significantly after Holm's correction across the slices.
    margin: float = Field(0.5, ge=0, le=1)
    min_rows: int = Field(30, ge=10)  # holdout rows a slice needs to be judged; smaller ones are shown, not gated
    pairs: bool = True  # two-column slices (each pair of slice columns): reported, never gated


class GateParams(_Section):
    """The champion/challenger gate (`compare`): policy of the decision and its guardrails."""

    metric: str | None = None  # None: the task's primary metric (metrics.PRIMARY_METRIC)
    # Non-inferiority margin on the error scale: the challenger's error (1 - roc_auc, rmse, ...) may exceed
    # the champion's by at most this fraction of it, at the worse end of the interval.
    margin: float = Field(0.25, ge=0, le=1)  # 1: the challenger may double the champion's error, no more
    # None: the task's guardrails (metrics.GUARDRAILS), judged like the metric; [] turns them off.
    guardrails: tuple[str, ...] | None = None
    floor: float | None = None  # the metric's worst acceptable value (a maximum when lower is better)
    bootstrap: int = Field(1000, ge=100, le=100_000)
    confidence: float = Field(0.95, ge=0.8, le=0.999)
    min_holdout_rows: int = Field(50, ge=10)  # holdout rows neither model trained on, at least
    max_latency_ratio: float | None = Field(2.0, gt=0, le=10)  # median single-row latency, challenger / champion
    max_size_ratio: float | None = Field(5.0, gt=0, le=100)  # model file size, challenger / champion
    slices: GateSliceParams = GateSliceParams()

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


class SliceSearchParams(_Section):
    """The slices that degrade (monitor/slices.py): subgroups of the monitored rows whose loss is above the rest's."""

    # 1: one predicate (a category, a decile bin of a number); 2: also every pair of them (the pairs cost ~100x more).
    max_predicates: int = Field(2, ge=1, le=2)
    min_rows: int = Field(30, ge=10)  # fewer rows in a slice: not tested (its gap would be noise)
    top: int = Field(5, ge=0, le=100)  # how many degrading slices monitor.md and monitor.json report


class MonitorParams(_Section):
    """Production monitoring: the store of the service's traffic and ground truth (store.py), and `monitor`."""

    store: str = "logs"  # a local folder, or s3://, gs://, az:// (the DVC remote's backends and credentials)
    window: str = "7d"  # what `monitor` and `drift` read by default: the last 7 days
    include_batch: bool = True  # `predict --log`'s rows (_traffic: batch) count as traffic; false: left out
    # How late labels come: live performance judges the predictions made a label delay before the window
    # (monitor/label_delay.py), with every label arrived by now. 0d: labels come at once.
    label_delay: str = "0d"
    min_labels: int = Field(50, ge=1)  # fewer joined labels: "not enough labels", neither a pass nor a failure
    # Fewer live labels of a class of the holdout: "not enough labels" (a classifier's metrics need each class).
    min_labels_per_class: int = Field(10, ge=1)
    # Degraded when the gate's metric or a guardrail is worse than the production model's holdout value by more
    # than this fraction of its error (the gate's error scale), significantly (Holm, at this look's level).
    margin: float = Field(0.5, ge=0)
    # Resamples of the two-sample bootstrap (live and holdout both redrawn, each class's count kept).
    bootstrap: int = Field(2000, ge=2000, le=100_000)
    # Sequential safety: 1 - confidence is spent evenly over this many looks a month (the daily job: 30), each
    # look testing at (1 - confidence) / looks_per_month, so a month of looks at overlapping windows raises a
    # false alarm with probability at most 1 - confidence (monitor/performance.py).
    looks_per_month: int = Field(30, ge=1, le=744)
    # Trailing parts of the window (lengths, each ending where it ends) a look tests too, Holm across every window and
    # metric: a short one finds an abrupt drop within a day or two (benchmarks/live_performance.py). (): none.
    recent_windows: tuple[str, ...] = ("3d",)
    # More labels than this: each resample has this many rows, the interval scaled back (m-out-of-n bootstrap).
    bootstrap_rows: int | None = Field(20_000, ge=1000)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    # `dataset` refuses a batch of labels on which the production model's error is more than this many times its
    # holdout error (monitor/labels.py): a labelling problem, not drift. null: no such check.
    label_error_ratio: float | None = Field(5.0, gt=1)
    # `retention` deletes the store's days older than this many days (null: keep everything).
    retention_days: int | None = Field(None, ge=1)
    # `compact` merges each folder's files smaller than half of this into files of about this many MB of Parquet.
    compact_mb: float = Field(128.0, gt=0, le=4096)
    # Performance estimated before the labels arrive (monitor/estimate.py): CBPE (calibrated probabilities) for a
    # classifier, DLE (a model of the holdout's absolute error) for a regressor, per day of predictions.
    estimate: bool = True
    slices: SliceSearchParams = SliceSearchParams()
    # The monitor workflow retrains (monitor/retraining.py) on degraded live performance, or on drift found by this
    # many consecutive runs (one bad day is no evidence that a new model would do better)...
    retrain_after_runs: int = Field(3, ge=1)
    # ...and never within this long of the last retrain (a length; 0d: no cool-down): its pull request needs time.
    retrain_cooldown: str = "7d"

    @field_validator("window")
    @classmethod
    def _window_length(cls, value: str) -> str:
        parse_window(value)
        return value

    @field_validator("recent_windows")
    @classmethod
    def _recent_lengths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for length in value:
            parse_window(length)
        return value

    @field_validator("label_delay", "retrain_cooldown")
    @classmethod
    def _delay_length(cls, value: str) -> str:
        if str(value).strip() not in ("0", "0d", "0h", "0m", "0w"):
            parse_window(value)
        return value

    @property
    def label_delay_length(self) -> timedelta:
        """The label delay as a duration (0 for 0d)."""
        return timedelta(0) if self.label_delay.strip().startswith("0") else parse_window(self.label_delay)

    @property
    def retrain_cooldown_length(self) -> timedelta:
        """The retrain cool-down as a duration (0 for 0d)."""
        return timedelta(0) if self.retrain_cooldown.strip().startswith("0") else parse_window(self.retrain_cooldown)


UNKNOWN = "unknown"  # a model card field the team has not filled in: never a guess


class ModelCardParams(_Section):
    """What the team says of the model in its card (gate/card.py): every unfilled field reads "unknown"."""

    intended_use: str = UNKNOWN
    users: tuple[str, ...] = ()  # who is meant to use its predictions
    out_of_scope: tuple[str, ...] = ()  # uses it is not meant for
    limitations: tuple[str, ...] = ()
    ethical_considerations: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()  # who answers for it (names or teams)
    license: str = UNKNOWN  # an SPDX id (e.g. Apache-2.0, proprietary)
    # A column of the data that holds time (ISO text or numbers): the card gives the time range per split.
    time_column: str | None = None


class SearchRange(_Section):
    """One argument of train.estimator that `tune` searches: a number from `low` to `high` (whole numbers when both
    bounds are written as whole numbers; `log`: on a log scale), or one of `choices`."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchRange:
        if self.choices is not None:
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("give either choices (a non-empty list) or low and high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (a range), or choices (a list)")
        if not self.low < self.high:
            raise ValueError(f"low {self.low:g} must be below high {self.high:g}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log scale needs low > 0, not {self.low:g}")
        return self


# Each task's default search space for its default estimator (estimators.DEFAULTS): params.yaml's and `adopt`'s.
TUNE_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "classification": {
        "C": {"low": 0.001, "high": 100.0, "log": True},
        "class_weight": {"choices": [None, "balanced"]},
    },
    "regression": {"alpha": {"low": 0.001, "high": 1000.0, "log": True}},
}


class TuneParams(_Section):
    """`tune`: the search of train.params by cross-validation on the train split (pipeline/tune.py)."""

    trials: int = Field(30, ge=1, le=10_000)  # the study's size: a rerun resumes it up to this many trials
    timeout: float = Field(600.0, gt=0)  # seconds one run may take (a trial it cuts is finished by the next run)
    folds: int = Field(5, ge=2, le=20)
    batch: int = Field(4, ge=1, le=64)  # trials sampled at once from the trials before them: the table's unit
    workers: int | None = Field(None, ge=1)  # processes evaluating a batch; None: one per CPU, at most `batch`
    pruner: Literal["median", "none"] = "median"
    startup_trials: int = Field(5, ge=0)  # the median pruner stops no trial before this many have completed
    warmup_folds: int = Field(2, ge=1)  # ... nor a trial that has scored fewer folds than this
    space: dict[str, SearchRange] = Field(default_factory=dict)


class BatchParams(_Section):
    """Batch scoring (`predict`): how the input is read, how many bad rows a run tolerates, how it reports."""

    batch_rows: int = Field(65_536, ge=1, le=1_000_000)  # rows read, checked and predicted at a time
    fragment_rows: int = Field(1_000_000, ge=1)  # Parquet row groups are grouped into units of work of this size
    max_reject_share: float = Field(0.01, ge=0, le=1)  # more rejected rows than this share: exit 1, nothing published
    progress_seconds: float = Field(10.0, gt=0)  # without a terminal, a progress line this often
    workers: int | None = Field(None, ge=1, le=64)  # fragments scored at once (threads); None: one per CPU
    spark_master: str = "local[2]"  # --engine spark outside spark-submit: the master of the session it starts


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
    tune: TuneParams = TuneParams()
    batch: BatchParams = BatchParams()
    model_card: ModelCardParams = ModelCardParams()

    @property
    def gate_metric(self) -> str:
        """The metric the gate judges by: gate.metric, else the task's primary metric."""
        return self.gate.metric or PRIMARY_METRIC[self.task]

    @property
    def gate_guardrails(self) -> tuple[str, ...]:
        """The metrics the gate also holds the challenger to: gate.guardrails, else the task's (not the metric)."""
        chosen = GUARDRAILS[self.task] if self.gate.guardrails is None else self.gate.guardrails
        return tuple(name for name in chosen if name != self.gate_metric)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a section of params.yaml takes, found by following `loc` through the typed sections."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _structure_problems(exc: ValidationError) -> list[str]:
    """Each of pydantic's errors as one line; an unknown key gets the nearest known one as a suggestion."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            known = _fields_at(Params, error["loc"][:-1])
            guess = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
            parent = ".".join(str(part) for part in error["loc"][:-1])
            hint = (
                f"did you mean {'.'.join(filter(None, [parent, guess[0]]))!r}?" if guess else f"use {', '.join(known)}"
            )
            problems.append(f"{where}: unknown key; {hint}")
        else:
            problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return problems


def _range_problem(metric: str, floor: float) -> str | None:
    """Why gate.floor cannot be a value of its metric (None when it can)."""
    spec = METRICS[metric]
    if spec.bounded and not 0 <= floor <= 1:
        return f"gate.floor {floor:g} is outside {metric}'s range [0, 1]"
    if not spec.higher_is_better and floor < 0:
        return f"gate.floor {floor:g}: {metric} is never negative"
    if spec.higher_is_better and floor > spec.best:
        return f"gate.floor {floor:g} is above {metric}'s best value {spec.best:g}"
    return None


def consistency_problems(params: Params, estimator: bool = True) -> list[str]:
    """What params.yaml gets wrong across its sections: the gate's metrics against the task, the floor against its
    metric's range, and (`estimator`: imports scikit-learn) the estimator against the task, its arguments and the
    metrics that need probabilities."""
    problems = [
        f"gate.{key} {name!r} is not a {params.task} metric: use one of {', '.join(task_metrics(params.task))}"
        for key, name in [("metric", params.gate.metric), *(("guardrails", g) for g in params.gate.guardrails or ())]
        if name is not None and METRICS[name].task != params.task
    ]
    if problems:
        return problems  # the checks below read the metrics, which only make sense for the task
    if params.gate.floor is not None:
        problems += filter(None, [_range_problem(params.gate_metric, params.gate.floor)])
    if estimator:
        from .estimators import estimator_problems

        needing = [name for name in (params.gate_metric, *params.gate_guardrails) if METRICS[name].needs_probabilities]
        problems += estimator_problems(params.train.estimator, params.task, params.train.params, needing)
    return problems


def parse_params(text: str, where: Path | str = PARAMS_FILE, estimator: bool = True) -> Params:
    """Check params.yaml's text as a whole; ProjectError that lists every problem found, one per line."""
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ProjectError(f"{where} is not valid YAML: {exc}") from None
    try:
        params = Params.model_validate(raw or {})
    except ValidationError as exc:
        problems = _structure_problems(exc)
    else:
        problems = consistency_problems(params, estimator)
    if not problems:
        return params
    if len(problems) == 1:
        raise ProjectError(f"{where}: {problems[0]}")
    raise ProjectError(f"{where} has {len(problems)} problems:\n" + "\n".join(f"  - {line}" for line in problems))


def load_params(path: Path = PARAMS_FILE, estimator: bool = True) -> Params:
    """Read and check params.yaml as a whole; ProjectError that lists every problem.

    `estimator=False` skips the estimator's checks, which import scikit-learn (0.7 s): for the commands that never
    train (drift, monitor, dataset, serving), whose own time is a few seconds.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path} not found: run commands from the project root") from None
    return parse_params(text, path, estimator)


def lineage_in(text: str) -> str:
    """data.lineage of a params.yaml's text, read leniently (an older commit's file need not pass today's checks);
    "default" when it names none."""
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError:
        return "default"
    data = raw.get("data") if isinstance(raw, dict) else None
    lineage = data.get("lineage") if isinstance(data, dict) else None
    return str(lineage or "default")


def edited_params(changes: dict[str, Any], path: Path = PARAMS_FILE) -> tuple[str, str, Params]:
    """params.yaml's text, the text with `changes` (dotted keys) applied and its comments kept, and the checked result.

    Nothing is written: the caller shows the difference and writes the new text (io.write_text) once it is accepted.
    """
    from . import io

    old = Path(path).read_text(encoding="utf-8")
    new = io.edit_yaml(old, changes)
    return old, new, parse_params(new, path)
