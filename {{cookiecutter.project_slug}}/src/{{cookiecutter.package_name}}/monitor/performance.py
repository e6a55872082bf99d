"""Live performance: the production model on the live rows that have a label, against its own holdout.

The labelled rows are scored with the production model itself (its probabilities are not logged, and a
row served by an earlier version is still a fact about the world), with the gate's metrics
(metrics.Predictions). Both samples are uncertain: each metric's difference live - holdout has a standard
error from a stratified two-sample bootstrap (two_sample.py: `monitor.bootstrap` resamples of both sides,
each class's count kept), or from DeLong's variance for a binary AUC. A metric is **degraded** when live is
worse than the holdout value by more than `monitor.margin` of the holdout's error (the gate's error scale), with
a one-sided p-value that, Holm-adjusted across the gate's metric and guardrails, is at most this look's level.

Recent windows: a look also tests the trailing parts of its window given by `monitor.recent_windows` (e.g. the last
1d and 3d, each ending where the window ends), with the same metrics. A short window finds an abrupt drop a day after
it starts, where the whole window dilutes it with the days before; the whole window finds a small persistent drop. The
holdout's resamples are drawn once and shared by every window. A recent window with too few labels is not tested,
and says so.

Sequential safety: the daily job looks again every day at overlapping windows. The false-alarm rate
1 - `monitor.confidence` is spent evenly over the looks of a month: each look tests at
(1 - confidence) / `monitor.looks_per_month` (Bonferroni over the looks, valid however the windows overlap), with Holm
across every (window, metric) it tests, so a month of daily looks at an unchanged model raises a false alarm with
probability at most 1 - confidence.

"Not enough labels" (neither a pass nor a failure): fewer than `monitor.min_labels` labels, fewer than
`monitor.min_labels_per_class` of a class of the holdout, or a judged metric undefined on the live rows (an AUC
with one class) or in more than 1 % of its resamples.

Pure: arrays and tables in, numbers and verdicts out (frozen dataclasses). monitor.py reads and writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..metrics import METRICS, Predictions
from ..multiple import holm
from ..params import MonitorParams, parse_window
from .label_delay import DayCompleteness, PerformanceWindow, SelectionBias
from .two_sample import Difference, bootstrap_draws, delong, p_worse

Verdict = Literal["ok", "degraded", "not enough labels"]
OK: Final = "ok"
DEGRADED: Final = "degraded"
NOT_ENOUGH: Final = "not enough labels"
MIN_PERIOD_LABELS = 10  # a day (or hour) with fewer labels gets no point on the performance plot
MAX_UNDEFINED = 0.01  # a metric undefined in more of its resamples is not judged (dropping them would bias it)
SEQUENTIAL_RULE = (
    "alpha spending, Bonferroni over the looks of a month: each look tests at (1 - confidence) / looks_per_month, "
    "Holm across its windows and metrics"
)


def finite_or_none(value: float | None) -> float | None:
    """A number for JSON: rounded to 6 digits, None when missing or not finite."""
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def align_labels(values: pd.Series, task: str, classes: Any = None) -> pd.Series:
    """Labels (or logged predictions) as the model's own type: numbers for a regressor or numeric classes,
    text otherwise. A value that cannot be one (a word for a number) becomes missing: it cannot be scored."""
    kind = "f" if task == "regression" else np.asarray(classes if classes is not None else []).dtype.kind
    if kind in "iuf":
        numbers = pd.to_numeric(values.astype(object), errors="coerce").astype("float64")
        if kind == "f":
            return numbers
        whole = (numbers.notna() & (numbers % 1 == 0)).to_numpy()
        return pd.Series(
            [int(v) if ok else None for v, ok in zip(numbers, whole, strict=True)], index=values.index, dtype=object
        )
    if kind == "b":
        words = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}
        return values.astype(object).map(lambda value: words.get(str(value).lower()))
    text = values.astype(object)
    present = text.notna().to_numpy()
    aligned = pd.Series(None, index=values.index, dtype=object)
    aligned[present] = text[present].astype(str).to_numpy(dtype=object)
    return aligned


@dataclass(frozen=True)
class MetricCheck:
    """One metric: holdout and live values, the live interval, the worst acceptable value, the test, the verdict."""

    metric: str
    higher_is_better: bool
    holdout: float | None
    live: float | None
    low: float | None  # the live value's interval at `confidence`
    high: float | None
    limit: float | None  # the worst acceptable live value: the holdout's, less margin x its error
    degraded: bool
    note: str = ""
    difference: float | None = None  # live - holdout
    difference_low: float | None = None  # its interval at `confidence` (both samples resampled)
    difference_high: float | None = None
    se: float | None = None  # the difference's standard error
    method: str = ""  # "delong" (binary AUC) or "bootstrap"
    p_value: float | None = None  # one-sided: live worse than the holdout by more than the margin allows
    p_adjusted: float | None = None  # Holm across the judged metrics
    undefined_live: int = 0  # resamples where the metric is undefined, reported rather than silently dropped
    undefined_holdout: int = 0

    @property
    def judged(self) -> bool:
        """Whether the test could be made (the metric defined on both samples and in its resamples)."""
        return self.p_value is not None


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def by_delong(live: Predictions, holdout: Predictions, metrics: list[str]) -> bool:
    """Whether roc_auc is judged by DeLong's test (a binary classifier), not by the bootstrap."""
    return "roc_auc" in metrics and len(live.labels) == 2 and len(holdout.labels) == 2


def differences(
    live: Predictions,
    holdout: Predictions,
    metrics: list[str],
    settings: MonitorParams,
    seed: int,
    holdout_draws: dict[str, np.ndarray] | None = None,
    points: tuple[dict[str, float], dict[str, float]] | None = None,
) -> dict[str, tuple[Difference, tuple[float, float]]]:
    """Per metric, live - holdout (DeLong for a binary AUC, else the two-sample bootstrap) and the live interval.
    `holdout_draws`: the holdout's resamples when already drawn (shared by the windows of a look); `points`: the live
    and holdout scores, when already computed."""
    draws, rows = settings.bootstrap, settings.bootstrap_rows
    delong_auc = by_delong(live, holdout, metrics)
    live_point, holdout_point = (live.scores(), holdout.scores()) if points is None else points
    live_draws = bootstrap_draws(live, draws, seed, rows, not delong_auc, live_point)
    if holdout_draws is None:
        holdout_draws = bootstrap_draws(holdout, draws, seed + 1, rows, not delong_auc, holdout_point)
    z = float(stats.norm.ppf((1 + settings.confidence) / 2))
    found = {}
    for name in metrics:
        if name == "roc_auc" and delong_auc:
            diff = delong(live, holdout)
            spread = diff.live_se * z  # a normal interval, kept within the AUC's [0, 1]
            found[name] = (diff, (max(0.0, live_point[name] - spread), min(1.0, live_point[name] + spread)))
            continue
        gap = live_draws[name] - holdout_draws[name]
        finite = gap[np.isfinite(gap)]
        diff = Difference(
            live_point[name] - holdout_point[name],
            float(np.std(finite, ddof=1)) if finite.size > 1 else math.nan,
            "bootstrap",
            int((~np.isfinite(live_draws[name])).sum()),
            int((~np.isfinite(holdout_draws[name])).sum()),
            gap,
        )
        found[name] = (diff, _percentiles(live_draws[name], settings.confidence))
    return found


def check_metric(
    name: str, holdout: float, live: float, found: tuple[Difference, tuple[float, float]], settings: MonitorParams
) -> MetricCheck:
    """One metric's test (before Holm): worse than the holdout by more than margin x its error, and how surely."""
    spec = METRICS[name]
    diff, (low, high) = found
    allowed = settings.margin * spec.error(holdout)
    limit = holdout - allowed if spec.higher_is_better else holdout + allowed
    undefined = max(diff.undefined_live, diff.undefined_holdout) > MAX_UNDEFINED * settings.bootstrap
    p_value = math.nan if undefined else p_worse(diff, allowed, spec.higher_is_better)
    note = ""
    if not math.isfinite(live):
        note = "undefined on the live labels (e.g. one class only)"
    elif not math.isfinite(holdout):
        note = "undefined on the holdout"
    elif not math.isfinite(p_value) and diff.method == "delong":
        note = "DeLong's variance needs at least 2 labels of each class on both sides"
    elif not math.isfinite(p_value):
        note = f"undefined in {diff.undefined_live} live and {diff.undefined_holdout} holdout resamples"
    if diff.draws is not None:
        d_low, d_high = _percentiles(diff.draws, settings.confidence)
    else:
        z = float(stats.norm.ppf((1 + settings.confidence) / 2))
        d_low, d_high = diff.difference - z * diff.se, diff.difference + z * diff.se
    return MetricCheck(
        metric=name,
        higher_is_better=spec.higher_is_better,
        holdout=finite_or_none(holdout),
        live=finite_or_none(live),
        low=finite_or_none(low),
        high=finite_or_none(high),
        limit=finite_or_none(limit),
        degraded=False,
        note=note,
        difference=finite_or_none(diff.difference),
        difference_low=finite_or_none(d_low),
        difference_high=finite_or_none(d_high),
        se=finite_or_none(diff.se),
        method=diff.method,
        p_value=None if note else finite_or_none(p_value),
        undefined_live=diff.undefined_live,
        undefined_holdout=diff.undefined_holdout,
    )


def judge(checks: list[MetricCheck], level: float) -> tuple[MetricCheck, ...]:
    """Holm across the judged metrics: degraded where the adjusted p-value is at most this look's level."""
    return judge_windows([checks], level)[0]


def judge_windows(windows: list[list[MetricCheck]], level: float) -> list[tuple[MetricCheck, ...]]:
    """Holm across every judged (window, metric) of a look: degraded where the adjusted p-value is at most its level."""
    tested = [(w, i) for w, checks in enumerate(windows) for i, check in enumerate(checks) if check.p_value is not None]
    adjusted = dict(zip(tested, holm([windows[w][i].p_value or 0.0 for w, i in tested]), strict=True))
    return [
        tuple(
            replace(check, p_adjusted=finite_or_none(adjusted[w, i]), degraded=adjusted[w, i] <= level)
            if (w, i) in adjusted
            else check
            for i, check in enumerate(checks)
        )
        for w, checks in enumerate(windows)
    ]


@dataclass(frozen=True)
class WindowCheck:
    """One window a look tests: the whole window, or a recent part of it (`monitor.recent_windows`) ending where it
    ends; its labels, its verdict and its metric checks (Holm-adjusted across every window and metric of the look)."""

    length: str  # the whole window's length (7d), or the recent window's (1d)
    since: str | None  # ISO 8601, UTC (None when the look knows no window: the labels' own span)
    until: str | None
    labels: int
    verdict: Verdict
    checks: tuple[MetricCheck, ...] = ()
    why: str = ""  # why it was not tested, or not judged
    whole: bool = False  # the whole window (its checks are the section's `checks`)

    def reasons(self, alpha_look: float) -> list[str]:
        """One line per degraded metric of this window."""
        where = "" if self.whole else f"over the last {self.length} ({self.labels} labels) "
        return [
            f"{c.metric} {where}{c.live:.4f} live (interval [{c.low:.4f}, {c.high:.4f}]) vs {c.holdout:.4f} on the "
            f"holdout; worse than {'at least' if c.higher_is_better else 'at most'} {c.limit:.4f} with Holm-adjusted "
            f"p {c.p_adjusted:.2g} <= {alpha_look:.2g}, this look's level ({c.method})"
            for c in self.checks
            if c.degraded and None not in (c.live, c.low, c.high, c.holdout, c.limit, c.p_adjusted)
        ]


def labels_per_class(live: Predictions | None, holdout: Predictions) -> dict[str, int]:
    """A classifier's live labels per class of its holdout (a class the live rows lack counts 0)."""
    if holdout.task == "regression":
        return {}
    present = np.unique(holdout.actual)
    k = len(holdout.labels)
    counts = np.zeros(k, dtype=int) if live is None else np.bincount(live.actual, minlength=k)
    return {str(holdout.labels[code]): int(counts[code]) for code in present}


@dataclass(frozen=True)
class Performance:
    """The live performance section of reports/monitor.json."""

    verdict: Verdict
    labels: int  # live predictions joined with a usable label
    min_labels: int
    metric: str  # the gate's metric; the guardrails are judged too
    judged: tuple[str, ...]
    confidence: float
    margin: float
    bootstrap: int
    holdout: Mapping[str, float | None]
    live: Mapping[str, float | None]
    checks: tuple[MetricCheck, ...] = ()  # one per judged metric, when there are enough labels
    unusable_labels: int = 0  # labels the model's type cannot hold (a word for a number): left out
    window: PerformanceWindow | None = None  # the predictions judged (label_delay.py), when known
    label_completeness: tuple[DayCompleteness, ...] = ()  # per day of predictions: the share labelled by now
    selection_bias: SelectionBias | None = None  # labelled rows' scores against the unlabelled rows'
    min_labels_per_class: int = 0
    labels_per_class: Mapping[str, int] = field(default_factory=dict)  # a classifier's live labels per class
    looks_per_month: int = 30
    alpha: float = 0.05  # the false-alarm rate spent over a month of looks: 1 - confidence
    alpha_look: float = 0.05 / 30  # the level this look tested at (Holm across the judged metrics)
    sequential_rule: str = SEQUENTIAL_RULE
    holdout_labels: int = 0
    why: str = ""  # why there is no verdict, when there is none
    recent_windows: tuple[str, ...] = ()  # monitor.recent_windows: trailing parts of the window tested too
    windows: tuple[WindowCheck, ...] = ()  # the whole window first, then each recent window (tested or not, and why)

    @property
    def degraded(self) -> bool:
        """Whether live performance is judged degraded."""
        return self.verdict == DEGRADED

    @property
    def reasons(self) -> list[str]:
        """One line per degraded metric, of the whole window then of each recent window."""
        return [line for window in self.windows for line in window.reasons(self.alpha_look)]

    @property
    def degraded_windows(self) -> list[str]:
        """The windows found degraded (their lengths), whole window first."""
        return [window.length for window in self.windows if window.verdict == DEGRADED]

    def to_json(self) -> dict[str, Any]:
        """The JSON form, with `degraded` (the window's times as ISO 8601)."""
        data = asdict(self) | {"degraded": self.degraded}
        if self.window is not None:
            window = self.window
            data["window"] = {
                "since": window.since.isoformat(),
                "until": window.until.isoformat(),
                "labels_until": window.labels_until.isoformat(),
                "label_delay": window.label_delay,
            }
        return data


def shortfall(live: Predictions | None, per_class: Mapping[str, int], settings: MonitorParams) -> str:
    """Why the live labels are too few to judge ("" when they are enough)."""
    labels = 0 if live is None else len(live.actual)
    if labels < settings.min_labels:
        return f"{labels} labels, fewer than monitor.min_labels {settings.min_labels}"
    short = {name: count for name, count in per_class.items() if count < settings.min_labels_per_class}
    if short:
        listed = ", ".join(f"{name}: {count}" for name, count in short.items())
        return f"fewer than monitor.min_labels_per_class {settings.min_labels_per_class} labels of a class ({listed})"
    return ""


def rows_of(predictions: Predictions, rows: np.ndarray) -> Predictions:
    """The predictions of some rows (a recent window's)."""
    proba = predictions.proba[rows] if len(predictions.proba) else predictions.proba
    return replace(predictions, actual=predictions.actual[rows], predicted=predictions.predicted[rows], proba=proba)


def length_text(span: timedelta) -> str:
    """A window's length as monitor.window writes it: 7d, 36h, 90m."""
    minutes = round(span.total_seconds() / 60)
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def test_window(
    live: Predictions | None,
    holdout: Predictions,
    settings: MonitorParams,
    metrics: list[str],
    seed: int,
    holdout_draws: dict[str, np.ndarray] | None,
    holdout_scores: dict[str, float],
) -> tuple[list[MetricCheck], str]:
    """One window's metric checks before Holm (none when its labels are too few, and why)."""
    why = shortfall(live, labels_per_class(live, holdout), settings)
    if live is None or why:
        return [], why
    scores = live.scores()
    found = differences(live, holdout, metrics, settings, seed, holdout_draws, (scores, holdout_scores))
    return [check_metric(name, holdout_scores[name], scores[name], found[name], settings) for name in metrics], ""


def window_verdict(checks: tuple[MetricCheck, ...], why: str) -> tuple[Verdict, str]:
    """A window's verdict from its Holm-adjusted checks: "not enough labels" when untested or a metric not judged."""
    if why:
        return NOT_ENOUGH, why
    undefined = [check.metric for check in checks if not check.judged]
    if undefined:
        return NOT_ENOUGH, f"{', '.join(undefined)} not judged: " + "; ".join(c.note for c in checks if not c.judged)
    return (DEGRADED if any(check.degraded for check in checks) else OK), ""


Span = tuple[str, datetime | None, Predictions | None]  # a window's length, start and live rows


def windows_of(
    live: Predictions | None, settings: MonitorParams, times: Any, window: PerformanceWindow | None
) -> tuple[list[Span], datetime | None]:
    """The whole window and its recent windows (`monitor.recent_windows`, each ending where the whole one ends, a
    recent window no shorter than the whole left out), and where they end."""
    stamps = (
        None if times is None or live is None or not len(live.actual) else pd.to_datetime(pd.Series(times), utc=True)
    )
    since, until = (window.since, window.until) if window is not None else (None, None)
    if window is None and stamps is not None:
        since, until = stamps.min().to_pydatetime(), stamps.max().to_pydatetime()
    whole = length_text(window.until - window.since) if window is not None else "whole"
    spans: list[Span] = [(whole, since, live)]
    if stamps is None or until is None or live is None:
        return spans, until
    for length in settings.recent_windows:
        start = until - parse_window(length)
        if since is not None and start <= since:
            continue  # no shorter than the window itself (a short --since): the whole window's test
        spans.append((length, start, rows_of(live, np.flatnonzero((stamps > start).to_numpy()))))
    return spans, until


def assess(
    live: Predictions | None,
    holdout: Predictions,
    settings: MonitorParams,
    metrics: list[str],
    seed: int,
    unusable: int = 0,
    times: Any = None,
    window: PerformanceWindow | None = None,
) -> Performance:
    """The verdict on the production model's live predictions (None when no label joined) against its holdout.
    With `times` (each live row's prediction time), the recent windows of `monitor.recent_windows` are tested too,
    each ending where `window` ends (else at the last prediction)."""
    labels = 0 if live is None else len(live.actual)
    scores = {} if live is None or labels == 0 else live.scores()
    holdout_scores = holdout.scores()
    per_class = labels_per_class(live, holdout)
    alpha = 1 - settings.confidence
    level = alpha / settings.looks_per_month
    spans, until = windows_of(live, settings, times, window)
    shared: dict[str, np.ndarray] | None = None
    tested: list[list[MetricCheck]] = []
    whys: list[str] = []
    for index, (_, _, rows) in enumerate(spans):
        if shared is None and rows is not None and not shortfall(rows, labels_per_class(rows, holdout), settings):
            delong_auc = by_delong(rows, holdout, metrics)
            shared = bootstrap_draws(
                holdout, settings.bootstrap, seed + 1, settings.bootstrap_rows, not delong_auc, holdout_scores
            )
        window_seed = seed + (index + 1 if index else 0)
        checks_of, why_of = test_window(rows, holdout, settings, metrics, window_seed, shared, holdout_scores)
        tested.append(checks_of)
        whys.append(why_of if not why_of or not index else f"not tested: {why_of}")
    windows = []
    for index, (span, judged) in enumerate(zip(spans, judge_windows(tested, level), strict=True)):
        verdict_of, reason = window_verdict(judged, whys[index])
        windows.append(
            WindowCheck(
                length=span[0],
                since=None if span[1] is None else span[1].isoformat(),
                until=None if until is None else until.isoformat(),
                labels=0 if span[2] is None else len(span[2].actual),
                verdict=verdict_of,
                checks=judged,
                why=reason,
                whole=index == 0,
            )
        )
    whole = windows[0]
    verdict: Verdict = DEGRADED if any(w.verdict == DEGRADED for w in windows) else whole.verdict
    return Performance(
        verdict=verdict,
        labels=labels,
        min_labels=settings.min_labels,
        metric=metrics[0],
        judged=tuple(metrics),
        confidence=settings.confidence,
        margin=settings.margin,
        bootstrap=settings.bootstrap,
        holdout={name: finite_or_none(value) for name, value in holdout_scores.items()},
        live={name: finite_or_none(value) for name, value in scores.items()},
        checks=whole.checks,
        unusable_labels=unusable,
        min_labels_per_class=settings.min_labels_per_class,
        labels_per_class=per_class,
        looks_per_month=settings.looks_per_month,
        alpha=round(alpha, 12),
        alpha_look=round(level, 12),
        holdout_labels=len(holdout.actual),
        why=whole.why if whole.verdict == NOT_ENOUGH else "",
        recent_windows=tuple(settings.recent_windows),
        windows=tuple(windows),
        window=window,
    )


@dataclass(frozen=True)
class PeriodPoint:
    """The gate's metric on the labelled rows predicted in one period (an hour or a day)."""

    start: str  # ISO 8601, UTC
    labels: int
    value: float | None  # None: fewer than MIN_PERIOD_LABELS labels


def by_period(times: pd.Series, live: Predictions, metric: str, frequency: str) -> list[PeriodPoint]:
    """The metric per period ("h" or "D") of prediction time."""
    unit = {"h": "datetime64[h]", "D": "datetime64[D]"}[frequency]
    periods = pd.to_datetime(times, utc=True).dt.tz_localize(None).to_numpy().astype(unit)  # UTC, floored
    starts, codes = np.unique(periods, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(starts) + 1))
    points = []
    for index, start in enumerate(starts):
        rows = order[bounds[index] : bounds[index + 1]]
        value = live.scores(rows)[metric] if len(rows) >= MIN_PERIOD_LABELS else None
        stamp = pd.Timestamp(start).tz_localize("UTC").isoformat()
        points.append(PeriodPoint(stamp, len(rows), finite_or_none(value)))
    return points
