"""The `monitor` command: production traffic over a window against the production model.

It reads the monitoring store (`monitor.store`) over `--since` (default `monitor.window`): the live
predictions, one per id (traffic.py), and the labels sent to POST /feedback. Against the production model
(GTO `model#prod`, its model and splits fetched with registry.fetch_output; the workspace's until there is one):
- data drift: drift.detect with the production model's training split as the reference;
- prediction drift: the logged predictions against the production model's predictions on its own holdout;
- live performance: the production model on the labelled live rows against its holdout, both samples uncertain
  (a two-sample bootstrap, DeLong for AUC, Holm across the metrics, a month's alpha spent over the looks:
  performance.py);
- before the labels: the performance estimated per day (CBPE/DLE, estimate.py) and the slices that degrade
  (slices.py), on the window's rows (before_labels.py).
Per model version, the report also gives the rows, the labels and the metrics of what that version served.

Exit 1 when the data (or the predictions) drifted or performance is degraded (or estimated to be); "not enough
data" and "not enough labels" are no verdict and exit 0. Reports: reports/monitor.json, reports/monitor.md and
reports/monitor/*.png (monitor_report.py), and the drift check's own reports/drift.md, drift.json, drift/.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import io, store
from ..errors import ProjectError
from ..metrics import METRICS, Predictions
from ..params import TEST_DATA, TRAIN_DATA, Params, load_params, window_start
from ..records import served_version
from ..registry import ModelRef, fetch_output, model_in_use
from .before_labels import before_labels
from .drift import detect, load_contract_if_any, private_columns, summary, without
from .drift_report import write_reports
from .drift_result import DriftResult, Sources
from .label_delay import PerformanceWindow, completeness, performance_window, scores, selection_bias
from .monitor_report import (
    DriftSummary,
    Finding,
    MonitorResult,
    TrafficSummary,
    VersionServed,
    VersionsJudged,
    Window,
    write_monitor_reports,
)
from .performance import NOT_ENOUGH, Performance, PeriodPoint, align_labels, assess, by_period, finite_or_none
from .score_drift import score_drift
from .traffic import LiveRows, Traffic, feedback, has_label, join_labels, live_predictions


@dataclass(frozen=True)
class Baseline:
    """The model monitoring judges against (the production model, else the workspace's) and its splits."""

    model: Any  # a fitted scikit-learn pipeline (untyped)
    train: pd.DataFrame
    test: pd.DataFrame
    ref: ModelRef  # which model, and where its bytes came from (or why the workspace's model stands in)
    version: str  # the version its rows carry in the store ("<package>:<hash>", records.served_version)


def production_baseline(folder: Path, params: Params) -> Baseline:
    """GTO's production model with its training and test splits, and the version its rows carry in the store; the
    workspace's when there is none yet (registry.model_in_use)."""
    in_use = model_in_use(None, folder, params)
    ref = in_use.ref
    if ref.commit is None:
        missing = [str(path) for path in (TRAIN_DATA, TEST_DATA) if not path.is_file()]
        if missing:
            raise ProjectError(f"{ref.source}, and no {', '.join(missing)} to stand in: run `make pipeline`")
        train, test = io.read_table(TRAIN_DATA), io.read_table(TEST_DATA)
    else:
        paths = {path: folder / path.name for path in (TRAIN_DATA, TEST_DATA)}
        for path, target in paths.items():
            fetch_output(ref.commit, path, target)
        train, test = io.read_table(paths[TRAIN_DATA]), io.read_table(paths[TEST_DATA])
    version = served_version(Path(ref.path).read_bytes(), in_use.contract, in_use.params)
    return Baseline(in_use.model, train, test, ref, version)


def model_features(model: Any, frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """The columns the model was trained on, from `frame`; ProjectError naming what is missing."""
    names = [str(name) for name in getattr(model, "feature_names_in_", [])]
    missing = [name for name in names if name not in frame.columns]
    if not names or missing:
        raise ProjectError(f"the production model cannot score {what}: missing columns {', '.join(missing) or '?'}")
    return frame[names]


def drift_summary(result: DriftResult, params: Params) -> DriftSummary:
    """What monitor.json says of the drift check (reports/drift.json has every column)."""
    return DriftSummary(
        verdict=result.verdict,
        drift=result.drift,
        summary=summary(result, params),
        rows=result.rows,
        min_rows=params.drift.min_rows,
        drifted_features=result.drifted_features,
        share_drifted=result.share_drifted,
        prediction_drift=None if result.prediction is None else result.prediction.drift,
        report="reports/drift.md",
    )


def version_served(
    group: pd.DataFrame, labelled: pd.DataFrame, mine: np.ndarray, scored: pd.Series, params: Params, classes: Any
) -> VersionServed:
    """One model version's rows (`group`) and labelled rows (`mine`): what it served, and how often the production
    model agrees with it."""
    labels = int(mine.sum())
    metrics: dict[str, float | None] = {}
    agreement = None
    if labels:
        actual = labelled[store.LABEL][mine]
        logged = align_labels(labelled[store.PREDICTION][mine], params.task, classes)
        usable = (logged.notna()).to_numpy()
        if usable.any():
            scores = Predictions.from_arrays(params.task, actual[usable], logged[usable]).scores()
            names = [n for n in METRICS if METRICS[n].task == params.task and not METRICS[n].needs_probabilities]
            metrics = {name: finite_or_none(scores[name]) for name in names}
            if params.task == "regression":
                same = (scored[mine][usable] - logged[usable]).abs() <= 1e-9 * (1 + logged[usable].abs())
            else:
                same = scored[mine][usable].astype(str) == logged[usable].astype(str)
            agreement = finite_or_none(float(same.mean()))
    return VersionServed(
        rows=len(group),
        first=group[store.TS].min().isoformat(),
        last=group[store.TS].max().isoformat(),
        labels=labels,
        metrics=metrics,
        agreement=agreement,
    )


def served(
    rows: LiveRows | pd.DataFrame, labelled: pd.DataFrame, scored: pd.Series, params: Params, classes: Any
) -> dict[str, VersionServed]:
    """Per model version: its rows, first and last time, labels, what it served (label metrics) and how often the
    production model agrees with what it served on the labelled rows."""
    if rows.empty or store.MODEL_VERSION not in rows.columns:
        return {}
    names = [store.MODEL_VERSION, store.TS]
    by_version = rows.frame(names) if isinstance(rows, LiveRows) else rows[names]
    return {
        str(version): version_served(
            group, labelled, labelled[store.MODEL_VERSION].eq(version).to_numpy(dtype=bool), scored, params, classes
        )
        for version, group in by_version.groupby(store.MODEL_VERSION, sort=True)
    }


def labelling(traffic: Traffic, labels: pd.DataFrame, task: str) -> dict[str, Any]:
    """How complete the judged predictions' labels are per day, and whether the labelled ones look like the rest."""
    rows = traffic.rows
    if rows.empty or store.ID not in rows.columns or store.TS not in rows.columns:
        return {"label_completeness": (), "selection_bias": None}
    labelled = has_label(rows, labels)
    values, score = scores(rows, task)
    bias = selection_bias(values, labelled, score) if len(values) else None
    times = rows.column(store.TS) if isinstance(rows, LiveRows) else rows[store.TS]
    return {"label_completeness": completeness(times, labelled), "selection_bias": bias}


def logged_predictions(labelled: pd.DataFrame, actual: pd.Series, task: str, classes: Any) -> Predictions:
    """The labelled rows as the service answered them (its logged predictions and class probabilities): what live
    performance judges when the log keeps no value of some model input (personal data dropped or hashed)."""
    predicted = labelled[store.PREDICTION]
    if task == "regression" or classes is None:
        return Predictions.from_arrays(task, actual, predicted.astype(float) if task == "regression" else predicted)
    names = [str(name) for name in classes]
    proba = None
    if store.PROBABILITIES in labelled.columns:
        proba = np.array([[float(dict(row).get(name, 0.0)) for name in names] for row in labelled[store.PROBABILITIES]])
    return Predictions.from_arrays(task, actual, align_labels(predicted, task, classes), proba, classes)


def judge_live(
    traffic: Traffic,
    labels: pd.DataFrame,
    baseline: Baseline,
    params: Params,
    frequency: str = "D",
    private: Mapping[str, str] | None = None,
    window: PerformanceWindow | None = None,
) -> tuple[Performance, dict[str, VersionServed], list[PeriodPoint]]:
    """Live performance, the per-version table and the metric over time. The production model scores the labelled
    rows, unless the log keeps no value of one of its inputs (`private`): then their logged answers are judged."""
    task, target = params.task, params.data.target
    classes = getattr(baseline.model, "classes_", None)
    holdout = Predictions.from_model(
        baseline.model, model_features(baseline.model, baseline.test, "its holdout"), baseline.test[target], task
    )
    inputs = [str(name) for name in getattr(baseline.model, "feature_names_in_", [])]
    hidden = any(name in (private or {}) for name in inputs)
    # only the columns judged (the probabilities, a struct, cost a dict a row in pandas: only when they are judged)
    names = [*inputs, store.TS, store.MODEL_VERSION, store.PREDICTION, *([store.PROBABILITIES] if hidden else [])]
    joined = join_labels(traffic.rows, labels, names)
    actual = align_labels(joined[store.LABEL], task, classes) if len(joined) else joined[store.LABEL]
    usable = actual.notna().to_numpy()
    labelled = joined[usable].reset_index(drop=True)
    actual = actual[usable].reset_index(drop=True)
    labelled[store.LABEL] = actual
    metrics = [params.gate_metric, *params.gate_guardrails]
    live: Predictions | None = None
    over_time: list[PeriodPoint] = []
    scored = pd.Series(dtype=object)
    if len(labelled) and hidden:
        live = logged_predictions(labelled, actual, task, classes)
        scored = labelled[store.PREDICTION]
        over_time = by_period(labelled[store.TS], live, params.gate_metric, frequency)
    elif len(labelled):
        features = model_features(baseline.model, labelled, "the logged rows")
        live = Predictions.from_model(baseline.model, features, actual, task)
        scored = pd.Series(baseline.model.predict(features))
        over_time = by_period(labelled[store.TS], live, params.gate_metric, frequency)
    unusable = int((~usable).sum())
    times = labelled[store.TS] if len(labelled) else None  # the recent windows' rows (monitor.recent_windows)
    performance = assess(live, holdout, params.monitor, metrics, params.seed, unusable, times, window)
    return performance, served(traffic.rows, labelled, scored, params, classes), over_time


def monitor_command(args: argparse.Namespace) -> int:
    """`monitor`: drift and live performance of the store's traffic -> reports/monitor.*; exit 1 on a finding."""
    params = load_params(estimator=False)
    now = datetime.now(UTC)
    since = window_start(args.since or params.monitor.window, now)
    root = args.store or params.monitor.store
    with tempfile.TemporaryDirectory(prefix="production-") as folder:
        baseline = production_baseline(Path(folder), params)
    selected = selected_versions(args, baseline)
    include_batch = params.monitor.include_batch
    traffic = live_predictions(root, since, now, selected, include_batch)
    labels = feedback(root, since, now)
    test_features = model_features(baseline.model, baseline.test, "its holdout")
    prediction = params.drift.prediction_column
    reference_predictions = pd.Series(baseline.model.predict(test_features), name=prediction)
    private = private_columns(params.serve)
    drift = detect(
        baseline.train,
        traffic.rows,
        without(params.drift, private),
        target=params.data.target,
        id_column=params.data.id_column,
        contract=load_contract_if_any(),
        reference_predictions=reference_predictions,
    )
    who = baseline.ref.version or "the workspace's model"
    sources = Sources(
        reference=f"the training split of {who}",
        current=f"{root} (live predictions since {since:%Y-%m-%d %H:%M} UTC)",
        prediction_model=who,
        prediction_rows=f"the holdout of {who}",
    )
    drift = replace(drift, sources=sources, non_features=private)
    write_reports(drift)
    scores = score_drift(traffic.rows, baseline.model, test_features, params.task, params.drift, set(private))
    frequency = "h" if now - since <= timedelta(days=2) else "D"  # points per hour or per day
    delay = params.monitor.label_delay_length
    judged = performance_window(since, now, delay, params.monitor.label_delay)
    judged_traffic, judged_labels = traffic, labels
    if delay:  # the predictions made a label delay ago, with every label arrived since
        judged_traffic = live_predictions(root, judged.since, judged.until, selected, include_batch)
        judged_labels = feedback(root, judged.since, judged.labels_until)
    performance, versions, over_time = judge_live(
        judged_traffic, judged_labels, baseline, params, frequency, private, judged
    )
    performance = replace(performance, window=judged, **labelling(judged_traffic, judged_labels, params.task))
    parts = [judged_traffic.rows, traffic.rows] if delay else [traffic.rows]  # predictions judged, and the latest
    early = before_labels(parts, judged_labels, baseline.model, baseline.train, baseline.test, params, private)
    findings: list[Finding] = []
    if drift.drift or any(entry.counted for entry in scores.values()):  # score drift of the production model
        findings.append("drift")
    if performance.degraded:
        findings.append("degraded")
    if early.estimation is not None and early.estimation.degraded:
        findings.append("estimated")
    result = MonitorResult(
        window=Window(since, now, args.since or params.monitor.window),
        store=root,
        model=baseline.ref,
        traffic=TrafficSummary(
            logged=traffic.logged,
            test=traffic.test,
            live=traffic.live,
            distinct=len(traffic.rows),
            feedback=len(labels),
            versions=versions,
            batch=traffic.batch,
            batch_included=include_batch,
        ),
        drift=drift_summary(drift, params),
        performance=performance,
        findings=tuple(findings),
        over_time=tuple(over_time),
        non_features=private,
        estimation=early.estimation,
        slices=early.slices,
        before_labels_note=early.note,
        multivariate=drift.multivariate,
        score_drift=scores,
        versions=VersionsJudged(selected, dict(traffic.others)),
    )
    paths = write_monitor_reports(result, judged_traffic.rows, judged_labels, frequency)
    few = performance.verdict == NOT_ENOUGH
    labelled_note = f"{performance.labels} labels" + (
        f", fewer than monitor.min_labels {performance.min_labels}" if few else ""
    )
    print(
        f"monitor: {len(traffic.rows)} live records since {since:%Y-%m-%d %H:%M} UTC; drift: {drift.verdict}; "
        f"performance: {performance.verdict} ({labelled_note}) -> {', '.join(map(str, paths))}"
    )
    if traffic.other_versions:
        print(
            f"monitor: judged {selected}'s rows; {traffic.other_versions} rows of other versions were counted, not "
            "judged (--version V for a canary, --all-versions to mix them)"
        )
    if not traffic.live:
        print(no_traffic_hint(root, traffic, params.serve.log_flush_seconds))
    return result.exit_code


def selected_versions(args: argparse.Namespace, baseline: Baseline) -> str | None:
    """Whose rows `monitor` judges: the production model's (default), `--version V`'s (a canary), or every
    version's (`--all-versions`: None)."""
    if getattr(args, "all_versions", False):
        if getattr(args, "version", None):
            raise ProjectError("--version and --all-versions: choose one")
        return None
    chosen: str = getattr(args, "version", None) or baseline.version
    return chosen


def no_traffic_hint(root: str, traffic: Traffic, flush_seconds: float) -> str:
    """Why a window may show no live record although the service answered: the log is written in parts."""
    if traffic.test:
        return (
            f"monitor: hint: the {traffic.test} rows in {root} are all test traffic (X-Traffic: test: smoke tests, "
            "load tests, demos), which monitoring leaves out"
        )
    return (
        f"monitor: hint: no live record in {root} yet? A running service writes its log every "
        f"serve.log_flush_seconds ({flush_seconds:g} s) and when it stops: wait for the next write, or stop the "
        "server (Ctrl-C or SIGTERM writes what waits)"
    )
