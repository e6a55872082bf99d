"""Champion vs challenger on the same holdout: a paired bootstrap, guardrails, a decision and a report.

The challenger is the workspace's model; the champion is GTO's `model#prod` (see registry.py). Both
score the challenger's test split. The gate passes when the worse end of the bootstrap interval of the
difference in the gate metric loses at most `gate.margin` (a fraction of the champion's score), the
challenger reaches `gate.floor`, and its p95 single-row latency and file size stay within the ratio limits.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import io
from .data import feature_columns
from .errors import ProjectError
from .evaluate import HIGHER_IS_BETTER, PRIMARY_METRIC
from .params import MODEL_FILE, PLOTS_DIR, REPORTS_DIR, TEST_DATA, VALIDATION_FILE, GateParams, load_params

COMPARE_FILE = REPORTS_DIR / "compare.json"
COMPARE_REPORT = REPORTS_DIR / "compare.md"
LATENCY_CALLS = 60  # single-row predictions per model, interleaved so that machine noise hits both alike
TASK_METRICS = {
    "classification": ["roc_auc", "accuracy", "balanced_accuracy", "f1_macro", "log_loss"],
    "regression": ["rmse", "mae", "r2"],
}


# --- metrics on any resample of the holdout's rows (numpy; they equal evaluate.py's scikit-learn values)


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC (Mann-Whitney, ties count half); nan when a class is absent."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # average ranks of ties
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(score)]
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass
class Scored:
    """One model's predictions on the holdout, in a form every metric can be resampled from."""

    task: str
    actual: np.ndarray  # classification: label codes into `labels`; regression: values
    predicted: np.ndarray
    proba: np.ndarray | None = None  # classification: columns in the order of `labels`
    labels: list = field(default_factory=list)

    @classmethod
    def from_predictions(cls, task: str, actual, predicted, proba=None, classes=None) -> Scored:
        """Build from arrays: labels, predictions and (classification) probabilities in `classes` order."""
        actual, predicted = np.asarray(actual), np.asarray(predicted)
        if task == "regression":
            return cls(task, actual.astype(float), predicted.astype(float))
        classes = list(classes) if classes is not None else sorted(set(actual) | set(predicted))
        labels = classes + sorted(set(actual) - set(classes), key=str)  # unseen labels get probability 0
        codes = {label: index for index, label in enumerate(labels)}
        full = np.zeros((len(actual), len(labels)))
        if proba is not None:
            full[:, : len(classes)] = np.asarray(proba, dtype=float)
        return cls(task, np.array([codes[a] for a in actual]), np.array([codes[p] for p in predicted]), full, labels)

    @classmethod
    def from_model(cls, model: Any, features: pd.DataFrame, actual: pd.Series, task: str) -> Scored:
        if task == "regression":
            return cls.from_predictions(task, actual, model.predict(features))
        return cls.from_predictions(
            task, actual, model.predict(features), model.predict_proba(features), model.classes_
        )

    def scores(self, rows: np.ndarray | None = None) -> dict[str, float]:
        """Every metric of the task on these rows (all rows when None)."""
        rows = np.arange(len(self.actual)) if rows is None else rows
        actual, predicted = self.actual[rows], self.predicted[rows]
        if self.task == "regression":
            errors = actual - predicted
            spread = ((actual - actual.mean()) ** 2).sum()
            return {
                "rmse": float(np.sqrt(np.mean(errors**2))),
                "mae": float(np.mean(np.abs(errors))),
                "r2": float(1 - (errors**2).sum() / spread) if spread > 0 else math.nan,
            }
        k = len(self.labels)
        matrix = np.bincount(actual * k + predicted, minlength=k * k).reshape(k, k)
        support, predicted_count, hits = matrix.sum(axis=1), matrix.sum(axis=0), np.diag(matrix)
        present = (support + predicted_count) > 0
        proba = self.proba[rows]
        truth = np.clip(proba[np.arange(len(rows)), actual], np.finfo(float).eps, 1.0)
        in_truth = np.flatnonzero(support > 0)
        if k == 2:  # binary: the positive class is the model's second class, as in evaluate.py
            auc = _auc(actual == 1, proba[:, 1])
        else:  # one-vs-rest, macro average over the classes present
            auc = float(np.mean([_auc(actual == c, proba[:, c]) for c in in_truth])) if len(in_truth) > 1 else math.nan
        return {
            "roc_auc": auc,
            "accuracy": float(hits.sum() / len(rows)),
            "balanced_accuracy": float(np.mean(hits[support > 0] / support[support > 0])),
            "f1_macro": float(np.mean((2 * hits / np.maximum(support + predicted_count, 1))[present])),
            "log_loss": float(-np.mean(np.log(truth))),
        }


def paired_bootstrap(champion: Scored, challenger: Scored, n: int, seed: int) -> dict[str, np.ndarray]:
    """Per metric, `n` resamples of (challenger - champion), both scored on the same resampled rows."""
    rng = np.random.default_rng(seed)
    size = len(challenger.actual)
    draws: dict[str, list[float]] = {}
    for _ in range(n):
        rows = rng.integers(0, size, size)
        before, after = champion.scores(rows), challenger.scores(rows)
        for name, value in after.items():
            draws.setdefault(name, []).append(value - before[name])
    return {name: np.asarray(values) for name, values in draws.items()}


def interval(differences: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided percentile interval of the bootstrap differences (resamples where a metric is undefined skipped)."""
    finite = differences[np.isfinite(differences)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


# --- the decision (pure)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    value: str
    limit: str
    failure: str  # the reason given when it fails, in words a reviewer reads at a glance


@dataclass(frozen=True)
class Decision:
    passed: bool
    verdict: str
    checks: list[Check]

    @property
    def reasons(self) -> list[str]:
        return [c.failure for c in self.checks if not c.passed]


def decide(
    gate: GateParams,
    metric: str,
    challenger: float,
    champion: float | None = None,
    delta_interval: tuple[float, float] | None = None,
    latency_ratio: float | None = None,
    size_ratio: float | None = None,
) -> Decision:
    """Apply the gate's policy to measured numbers; `delta_interval` bounds challenger - champion."""
    higher = HIGHER_IS_BETTER[metric]
    checks = []
    if gate.floor is not None:
        ok = challenger >= gate.floor if higher else challenger <= gate.floor
        bound = f"{'≥' if higher else '≤'} {gate.floor:g}"
        side = "below" if higher else "above"
        checks.append(
            Check(
                f"floor on {metric}",
                ok,
                f"{challenger:.4f}",
                bound,
                f"{metric} {challenger:.4f} is {side} the floor {gate.floor:g}",
            )
        )
    if champion is None:
        note = "no production model yet, judged on the floor alone" + ("" if checks else " (none is set)")
        passed = all(c.passed for c in checks)
        reasons = "; ".join(c.failure for c in checks if not c.passed)
        return Decision(passed, f"PASS: {note}" if passed else f"BLOCK: {reasons} ({note})", checks)
    allowed = gate.margin * abs(champion)
    low, high = delta_interval or (math.nan, math.nan)
    worst, best = (low, high) if higher else (high, low)  # the interval's end that is bad for the challenger
    ok = math.isfinite(worst) and (worst >= -allowed if higher else worst <= allowed)
    checks.append(
        Check(
            f"non-inferiority on {metric}",
            ok,
            f"worse end of Δ {worst:+.4f}",
            f"{'≥ -' if higher else '≤ +'}{allowed:.4f} ({gate.margin:.1%} of the champion's {champion:.4f})",
            f"{metric} is worse than the champion's beyond the margin "
            f"(Δ interval [{low:+.4f}, {high:+.4f}], allowed {'-' if higher else '+'}{allowed:.4f})",
        )
    )
    for name, ratio, limit, what in (
        ("p95 single-row latency ratio", latency_ratio, gate.max_latency_ratio, "p95 single-row latency"),
        ("model size ratio", size_ratio, gate.max_size_ratio, "model file size"),
    ):
        if limit is not None and ratio is not None:
            failure = f"{what} is ×{ratio:.2f} the champion's (limit ×{limit:g})"
            checks.append(Check(name, ratio <= limit, f"×{ratio:.2f}", f"≤ ×{limit:g}", failure))
    passed = all(c.passed for c in checks)
    gained = math.isfinite(worst) and (worst > 0 if higher else worst < 0)
    if not passed:
        verdict = "BLOCK: " + "; ".join(c.failure for c in checks if not c.passed)
    elif gained:
        verdict = (
            f"PASS: better than the champion on {metric} (the whole {gate.confidence:.0%} interval of Δ is a gain)"
        )
    else:
        verdict = f"PASS: no worse than the champion on {metric} (any loss is within the {gate.margin:.1%} margin)"
    return Decision(passed, verdict, checks)


# --- measurements


def latency_p95(models: list[Any], features: pd.DataFrame, calls: int = LATENCY_CALLS) -> list[dict[str, float]]:
    """p50/p95 milliseconds of single-row predict() per model, calls interleaved across models."""
    rows = [features.iloc[[i % len(features)]] for i in range(calls)]
    timings: list[list[float]] = [[] for _ in models]
    for model in models:  # warm-up
        for row in rows[:5]:
            model.predict(row)
    for row in rows:
        for model, spent in zip(models, timings, strict=True):
            started = time.perf_counter()
            model.predict(row)
            spent.append((time.perf_counter() - started) * 1000)
    return [{"p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95))} for t in timings]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def validation_summary(path: Path = VALIDATION_FILE) -> dict[str, Any] | None:
    """The data check's verdict from reports/validation.json; None when absent or unreadable."""
    try:
        report = io.read_json(path)
    except ProjectError:
        return None
    if not isinstance(report, dict):
        return None
    entries = [e for e in report.get("expectations") or report.get("results") or [] if isinstance(e, dict)]
    failed = [e for e in entries if e.get("success") is False and e.get("severity", "error") == "error"]
    return {
        "success": report.get("success") if isinstance(report.get("success"), bool) else None,
        "evaluated": len(entries),
        "failed": len(failed),
        "failing": [f"{e.get('column') or '(table)'}: {e.get('expectation') or e.get('kind')}" for e in failed][:10],
    }


def _git_state() -> tuple[str | None, bool]:
    from .registry import RegistryError, head_commit, is_dirty

    try:
        return head_commit(), is_dirty()
    except RegistryError:
        return None, False


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def judge(
    champion: Scored | None,
    challenger: Scored,
    gate: GateParams,
    metric: str,
    seed: int,
    latency_ratio: float | None = None,
    size_ratio: float | None = None,
) -> tuple[Decision, dict[str, dict[str, float | None]]]:
    """The decision, and per metric the difference challenger - champion with its bootstrap interval."""
    if champion is None:
        return decide(gate, metric, challenger.scores()[metric]), {}
    before, after = champion.scores(), challenger.scores()
    deltas = {}
    for name, draws in paired_bootstrap(champion, challenger, gate.bootstrap, seed).items():
        low, high = interval(draws, gate.confidence)
        deltas[name] = {"delta": _finite(after[name] - before[name]), "low": _finite(low), "high": _finite(high)}
    low, high = (math.nan if v is None else v for v in (deltas[metric]["low"], deltas[metric]["high"]))
    decision = decide(gate, metric, after[metric], before[metric], (low, high), latency_ratio, size_ratio)
    return decision, deltas


def _score(model: Any, features: pd.DataFrame, actual: pd.Series, task: str, who: str) -> Scored:
    try:
        return Scored.from_model(model, features, actual, task)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProjectError(f"the {who} cannot score {TEST_DATA}: {type(exc).__name__}: {exc}") from None


def compare(params, champion_source: Callable[[Path], tuple[Any, dict] | None], folder: Path) -> dict[str, Any]:
    """Everything the gate measured and decided, as the JSON written to reports/compare.json."""
    gate = params.gate
    metric = gate.metric or PRIMARY_METRIC[params.task]
    frame = io.read_table(TEST_DATA)
    features = frame[feature_columns(frame, params.data.target, params.data.id_column)]
    actual = frame[params.data.target]
    challenger_model = io.load_model(MODEL_FILE)
    challenger = _score(challenger_model, features, actual, params.task, "challenger")
    if metric not in challenger.scores():
        raise ProjectError(
            f"gate.metric {metric!r} is not a {params.task} metric: use one of {TASK_METRICS[params.task]}"
        )
    commit, dirty = _git_state()
    result: dict[str, Any] = {
        "metric": metric,
        "higher_is_better": HIGHER_IS_BETTER[metric],
        "policy": {**gate.model_dump(), "metric": metric, "seed": params.seed},
        "holdout": {"path": TEST_DATA.as_posix(), "rows": len(frame), "sha256": sha256(TEST_DATA)},
        "challenger": {
            "commit": commit,
            "uncommitted_changes": dirty,
            "size_bytes": MODEL_FILE.stat().st_size,
            "metrics": {k: _finite(v) for k, v in challenger.scores().items()},
        },
        "champion": None,
        "validation": validation_summary(),
    }
    found = champion_source(folder)
    if found is None:
        decision, result["deltas"] = judge(None, challenger, gate, metric, params.seed)
    else:
        champion_model, info = found
        champion = _score(champion_model, features, actual, params.task, "champion")
        result["champion"] = {**info, "metrics": {k: _finite(v) for k, v in champion.scores().items()}}
        speed = latency_p95([champion_model, challenger_model], features)
        result["champion"]["latency"], result["challenger"]["latency"] = speed
        ratios = {
            "latency_p95": speed[1]["p95_ms"] / max(speed[0]["p95_ms"], 1e-9),
            "size": result["challenger"]["size_bytes"] / max(info["size_bytes"], 1),
        }
        result["ratios"] = {name: round(value, 4) for name, value in ratios.items()}
        decision, result["deltas"] = judge(
            champion, challenger, gate, metric, params.seed, ratios["latency_p95"], ratios["size"]
        )
    result.update(
        decision="pass" if decision.passed else "block",
        verdict=decision.verdict,
        reasons=decision.reasons,
        checks=[vars(c) for c in decision.checks],
    )
    return result


def production_champion(folder: Path) -> tuple[Any, dict] | None:
    """The production model (GTO model#prod) loaded from the DVC cache/remote, or rebuilt at its commit."""
    from .registry import RegistryError, fetch_model, production

    try:
        prod = production()
        if prod is None:
            return None
        path, source = fetch_model(prod, folder)
    except RegistryError as exc:
        raise ProjectError(f"cannot get the production model: {exc}") from None
    info = {
        "version": prod.version,
        "commit": prod.commit,
        "ref": prod.ref,
        "source": source,
        "size_bytes": path.stat().st_size,
    }
    return io.load_model(path), info


def compare_command(args: argparse.Namespace) -> int:
    """`compare`: write reports/compare.json and reports/compare.md; exit 1 when the challenger is blocked."""
    from .compare_report import render

    params = load_params()
    with tempfile.TemporaryDirectory(prefix="champion-") as folder:
        result = compare(params, production_champion, Path(folder))
    result["plots"] = sorted(path.as_posix() for path in PLOTS_DIR.glob("*.png"))
    io.write_json(result, COMPARE_FILE)
    io.write_text(render(result), COMPARE_REPORT)
    print(f"compare: {result['verdict']} -> {COMPARE_REPORT}, {COMPARE_FILE}")
    return 0 if result["decision"] == "pass" else 1
