"""Live performance: the production model on the live rows that have a label, against its own holdout.

The labelled rows are scored with the production model itself (its probabilities are not logged, and a
row served by an earlier version is still a fact about the world), with the gate's metrics
(metrics.Predictions). Each metric gets a bootstrap percentile interval. A metric is **degraded** when even
the better end of its interval is worse than the holdout value by more than `monitor.margin` of the holdout's
error (the gate's error scale: at roc_auc 0.98 and margin 0.5, worse than 0.97). With fewer labels than
`monitor.min_labels` there is no verdict: "not enough labels", neither a pass nor a failure.

Pure: arrays and tables in, numbers and verdicts out (frozen dataclasses). monitor.py reads and writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from ..metrics import METRICS, Predictions
from ..params import MonitorParams
from .label_delay import DayCompleteness, PerformanceWindow, SelectionBias

Verdict = Literal["ok", "degraded", "not enough labels"]
OK: Final = "ok"
DEGRADED: Final = "degraded"
NOT_ENOUGH: Final = "not enough labels"
BOOTSTRAP_CHUNKS = 4  # draws are split into this many seeded streams: the same intervals on any core count
THREADED_ROWS = 20_000  # from this many labels the streams run on threads (numpy's sorts release the GIL)
MIN_PERIOD_LABELS = 10  # a day (or hour) with fewer labels gets no point on the performance plot


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


def _draws(predictions: Predictions, count: int, size: int, seed: Any) -> dict[str, list[float]]:
    """`count` resamples of `size` rows (with replacement) of every metric. The rows of each resample are drawn
    as counts and kept in order, so when `predictions` is sorted by score the AUC's sort runs over sorted data."""
    rng = np.random.default_rng(seed)
    total = len(predictions.actual)
    index = np.arange(total)
    values: dict[str, list[float]] = {}
    for _ in range(count):
        rows = np.repeat(index, np.bincount(rng.integers(0, total, size), minlength=total))
        for name, value in predictions.scores(rows).items():
            values.setdefault(name, []).append(value)
    return values


def bootstrap(
    predictions: Predictions, draws: int, confidence: float, seed: int, max_rows: int | None = None
) -> dict[str, tuple[float, float]]:
    """Per metric, the two-sided percentile interval of `draws` bootstrap resamples of the rows.

    With more rows than `max_rows`, each resample has `max_rows` rows and the interval is scaled back to the
    whole sample's by sqrt(max_rows / rows) around the point estimate (the m-out-of-n bootstrap): the metrics
    here are averages and ranks whose spread shrinks as 1/sqrt(rows), so the width is the same, at a fraction
    of the cost (100,000 labels: a fifth, with max_rows 20,000).
    """
    if predictions.task == "classification" and predictions.proba.shape[1] == 2:
        order = np.argsort(predictions.proba[:, 1], kind="stable")  # the metrics do not depend on row order
        predictions = Predictions(
            predictions.task,
            predictions.actual[order],
            predictions.predicted[order],
            predictions.proba[order],
            predictions.labels,
        )
    total = len(predictions.actual)
    size = total if max_rows is None else min(total, max_rows)
    streams = np.random.SeedSequence(seed).spawn(BOOTSTRAP_CHUNKS)
    counts = [len(part) for part in np.array_split(np.arange(draws), BOOTSTRAP_CHUNKS)]
    jobs = [(count, size, stream) for count, stream in zip(counts, streams, strict=True)]
    if size >= THREADED_ROWS:
        with ThreadPoolExecutor(max_workers=BOOTSTRAP_CHUNKS) as pool:
            parts = list(pool.map(lambda job: _draws(predictions, *job), jobs))
    else:
        parts = [_draws(predictions, *job) for job in jobs]
    point = predictions.scores()
    scale = np.sqrt(size / total)
    tail = (1 - confidence) / 2 * 100
    intervals = {}
    for name in parts[0]:
        samples = np.asarray([value for part in parts for value in part[name]])
        finite = samples[np.isfinite(samples)]
        if not finite.size:
            intervals[name] = (math.nan, math.nan)
            continue
        low, high = np.percentile(finite, [tail, 100 - tail])
        center = point[name]
        intervals[name] = (float(center + (low - center) * scale), float(center + (high - center) * scale))
    return intervals


@dataclass(frozen=True)
class MetricCheck:
    """One metric: its holdout value, the live value and interval, the worst acceptable value, the verdict."""

    metric: str
    higher_is_better: bool
    holdout: float | None
    live: float | None
    low: float | None
    high: float | None
    limit: float | None  # the worst value the better end of the interval may take
    degraded: bool
    note: str = ""


def check_metric(name: str, holdout: float, live: float, interval: tuple[float, float], margin: float) -> MetricCheck:
    """Degraded when the interval's better end is worse than the holdout value by more than margin x its error."""
    spec = METRICS[name]
    low, high = interval
    allowed = margin * spec.error(holdout)
    limit = holdout - allowed if spec.higher_is_better else holdout + allowed
    better = high if spec.higher_is_better else low
    judged = math.isfinite(better) and math.isfinite(holdout)
    degraded = judged and (better < limit if spec.higher_is_better else better > limit)
    return MetricCheck(
        name,
        spec.higher_is_better,
        finite_or_none(holdout),
        finite_or_none(live),
        finite_or_none(low),
        finite_or_none(high),
        finite_or_none(limit),
        bool(degraded),
        "" if judged else "undefined on these labels (e.g. one class only): not judged",
    )


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

    @property
    def degraded(self) -> bool:
        """Whether live performance is judged degraded."""
        return self.verdict == DEGRADED

    @property
    def reasons(self) -> list[str]:
        """One line per degraded metric."""
        return [
            f"{c.metric} {c.live:.4f} live (interval [{c.low:.4f}, {c.high:.4f}]) vs {c.holdout:.4f} on the holdout; "
            f"the better end must be {'at least' if c.higher_is_better else 'at most'} {c.limit:.4f}"
            for c in self.checks
            if c.degraded and None not in (c.live, c.low, c.high, c.holdout, c.limit)
        ]

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


def assess(
    live: Predictions | None,
    holdout: dict[str, float],
    settings: MonitorParams,
    metrics: list[str],
    seed: int,
    unusable: int = 0,
) -> Performance:
    """The verdict on the production model's live predictions (None when no label joined)."""
    labels = 0 if live is None else len(live.actual)
    scores = {} if live is None or labels == 0 else live.scores()
    checks: tuple[MetricCheck, ...] = ()
    verdict: Verdict = NOT_ENOUGH
    if live is not None and labels >= settings.min_labels:
        intervals = bootstrap(live, settings.bootstrap, settings.confidence, seed, settings.bootstrap_rows)
        checks = tuple(
            check_metric(name, holdout[name], scores[name], intervals[name], settings.margin) for name in metrics
        )
        verdict = DEGRADED if any(check.degraded for check in checks) else OK
    return Performance(
        verdict=verdict,
        labels=labels,
        min_labels=settings.min_labels,
        metric=metrics[0],
        judged=tuple(metrics),
        confidence=settings.confidence,
        margin=settings.margin,
        bootstrap=settings.bootstrap,
        holdout={name: finite_or_none(value) for name, value in holdout.items()},
        live={name: finite_or_none(value) for name, value in scores.items()},
        checks=checks,
        unusable_labels=unusable,
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
