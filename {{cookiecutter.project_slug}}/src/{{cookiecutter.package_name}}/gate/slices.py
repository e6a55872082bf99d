"""Slices of the holdout: groups of rows by a feature's value, the model card's slice metrics and the slice gate.

A model can improve on average while getting much worse for one group. The slice columns are gate.slices.columns,
by default the categorical features (columns.treatment) with at most `max_values` values; a numeric column named
there is cut into quantile bins. Each value is a slice; each pair of slice columns gives two-column slices, reported
and never gated. A slice with fewer than `min_rows` rows is shown as too small to judge.

The gate (`judge_slices`) scores both models on each slice of the same bootstrap resamples (scoring.py) and blocks
only on evidence: a slice whose loss of the gate's metric exceeds `margin` of the champion's error there (the larger
of its error on the slice and overall), or a gap between the worst slice and the overall metric that widens by more
than `margin` of the champion's error, each with a one-sided p-value (the bootstrap's z-test) below 1 - confidence
after Holm's correction across the slices and the gap. A slice merely not proven as good as before does not block:
the slice gate adds next to no false blocks to the overall gate's (benchmarks/results/slices.md in the template).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..columns import CATEGORICAL, dtype_treatment, feature_columns
from ..contract import Contract
from ..errors import ProjectError
from ..metrics import METRICS, Predictions, task_metrics
from ..multiple import holm
from .policy import SlicePolicy
from .scoring import interval, sliced_bootstrap

MISSING = "(missing)"
PAIR = " × "  # joins the columns, and the values, of a two-column slice


@dataclass(frozen=True)
class Slice:
    """One group of holdout rows: a column (or two, joined by PAIR) and its value (a category or a bin)."""

    column: str
    value: str
    mask: np.ndarray  # over the holdout's rows

    @property
    def n(self) -> int:
        """Its rows."""
        return int(self.mask.sum())

    @property
    def pair(self) -> bool:
        """Whether it is a two-column slice (reported, never gated)."""
        return PAIR in self.column


def slice_columns(
    frame: pd.DataFrame, policy: SlicePolicy, target: str, id_column: str | None, contract: Contract | None = None
) -> list[str]:
    """The columns to slice by: the named ones, then (policy.auto) each categorical feature with at most
    `max_values` distinct values. A named column the data lacks is an error that says so."""
    features = feature_columns(frame.columns, target, id_column)
    unknown = [name for name in policy.columns if name not in features]
    if unknown:
        listed = ", ".join(features[:10]) + (", ..." if len(features) > 10 else "")
        raise ProjectError(f"gate.slices.columns: {', '.join(unknown)}: no such feature in the data ({listed})")
    chosen = list(policy.columns)
    if policy.auto:
        for name in features:
            spec = _spec(contract, name)
            categorical = spec.treatment == CATEGORICAL if spec else dtype_treatment(frame[name].dtype) == CATEGORICAL
            if name not in chosen and categorical and 1 < frame[name].nunique() <= policy.max_values:
                chosen.append(name)
    return chosen


def _spec(contract: Contract | None, name: str) -> Any:
    if contract is None or name not in contract.names:
        return None
    return contract.column(name)


def _labels(column: pd.Series, bins: int, contract: Contract | None) -> pd.Series:
    """Each row's slice value as text: its category, or its quantile bin ([low, high)) for a numeric column."""
    spec = _spec(contract, str(column.name))
    categorical = spec.treatment == CATEGORICAL if spec else dtype_treatment(column.dtype) == CATEGORICAL
    if categorical:
        return column.astype(object).map(str).where(column.notna(), MISSING)
    numbers = pd.to_numeric(column, errors="coerce").astype(float)
    present = numbers.dropna().to_numpy()
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1))) if present.size else np.array([])
    if len(edges) < 2:  # one value (or none): one slice
        return numbers.map(lambda value: f"{value:.4g}").where(numbers.notna(), MISSING).astype(object)
    last = len(edges) - 2
    names = np.array(
        [
            f"[{low:.4g}, {high:.4g}{']' if i == last else ')'}"
            for i, (low, high) in enumerate(itertools.pairwise(edges))
        ],
        dtype=object,
    )
    codes = np.clip(np.searchsorted(edges, numbers.fillna(edges[0]).to_numpy(), side="right") - 1, 0, last)
    return pd.Series(np.where(numbers.notna(), names[codes], MISSING), index=column.index, dtype=object)


def make_slices(
    frame: pd.DataFrame, columns: Sequence[str], policy: SlicePolicy, contract: Contract | None = None
) -> list[Slice]:
    """Every slice of these columns over `frame`'s rows: one per value (sorted), then the two-column ones
    (policy.pairs) that hold a row."""
    labels = {name: _labels(frame[name], policy.bins, contract).to_numpy() for name in columns}
    found = []
    for name, values in labels.items():
        for value in sorted(set(values), key=str):
            found.append(Slice(name, value, values == value))
    if policy.pairs:
        for first, second in itertools.combinations(columns, 2):
            for one, two in itertools.product(sorted(set(labels[first])), sorted(set(labels[second]))):
                mask = (labels[first] == one) & (labels[second] == two)
                if mask.any():
                    found.append(Slice(f"{first}{PAIR}{second}", f"{one}{PAIR}{two}", mask))
    return found


# --- the card: one model's metrics per slice ------------------------------------------------------------------


def slice_metrics(predictions: Predictions, slices: Sequence[Slice], min_rows: int) -> list[dict[str, Any]]:
    """Per slice: its column, value, n, whether it is large enough to judge, and every metric of the task on its
    rows (metrics.Predictions, as metrics.json has them; None where undefined), grouped by fairlearn's MetricFrame
    per slice column."""
    from fairlearn.metrics import MetricFrame

    rows = np.arange(len(predictions.actual))
    names = task_metrics(predictions.task)

    def metric(name: str) -> Any:
        return lambda _true, chosen: predictions.scores(np.asarray(chosen, dtype=int))[name]

    found: list[dict[str, Any]] = []
    by_column: dict[str, list[Slice]] = {}
    for piece in slices:
        by_column.setdefault(piece.column, []).append(piece)
    for column, pieces in by_column.items():
        groups = np.full(len(rows), "", dtype=object)
        for piece in pieces:
            groups[piece.mask] = piece.value
        inside = groups != ""  # a two-column slice's rows: every row has one value of each column
        frame = MetricFrame(
            metrics={name: metric(name) for name in names},
            y_true=rows[inside],
            y_pred=rows[inside],
            sensitive_features=pd.Series(groups[inside], name=column),
        )
        table = frame.by_group
        for piece in pieces:
            values = table.loc[piece.value]
            found.append(
                {
                    "column": column,
                    "value": piece.value,
                    "n": piece.n,
                    "judged": piece.n >= min_rows and not piece.pair,
                    "too_small": piece.n < min_rows,
                    "metrics": {name: _number(values[name]) for name in names},
                }
            )
    return found


def _number(value: Any) -> float | None:
    number = float(value)
    return round(number, 6) if math.isfinite(number) else None


# --- the gate: both models per slice, on the same resamples --------------------------------------------------


@dataclass(frozen=True)
class SliceResult:
    """One slice as the gate measured it (compare.json's slices.results)."""

    column: str
    value: str
    n: int
    champion: float | None
    challenger: float | None
    delta: float | None  # challenger - champion
    low: float | None  # the confidence interval of delta
    high: float | None
    allowed: float | None  # the loss the margin allows here
    p_value: float | None  # one-sided: that the loss exceeds `allowed`
    p_adjusted: float | None  # Holm-adjusted across the judged slices and the gap
    verdict: str  # "pass", "block", "too small", "undefined" or "reported" (two-column slices)


@dataclass(frozen=True)
class GapResult:
    """The worst slice's distance from the overall metric, on the error scale: TFMA's cross-slice check."""

    champion: float | None
    challenger: float | None
    widening: float | None  # challenger's gap - champion's
    low: float | None
    high: float | None
    allowed: float | None
    p_value: float | None
    p_adjusted: float | None
    verdict: str


@dataclass(frozen=True)
class SliceJudgement:
    """The slice gate's findings (compare.json's `slices`)."""

    metric: str
    columns: list[str]
    margin: float
    min_rows: int
    alpha: float
    results: list[SliceResult]
    gap: GapResult | None
    note: str  # why nothing was judged, when nothing was

    @property
    def blocked(self) -> list[SliceResult]:
        """The slices that block."""
        return [result for result in self.results if result.verdict == "block"]


def _p_value(point: float, losses: np.ndarray, allowed: float) -> float:
    """One-sided p-value that the loss exceeds `allowed`: the bootstrap's z-test, (point - allowed) over the draws'
    standard deviation, on the normal curve. Unlike a share of draws, it is not floored at 1 / draws, so Holm's
    correction across many slices can still reach a small p."""
    finite = losses[np.isfinite(losses)]
    spread = float(np.std(finite, ddof=1)) if finite.size > 1 else 0.0
    if spread == 0.0 or not math.isfinite(point):
        return 0.0 if point > allowed else 1.0
    return 0.5 * math.erfc((point - allowed) / spread / math.sqrt(2))


def _round(value: float) -> float | None:
    return round(float(value), 6) if math.isfinite(value) else None


def judge_slices(
    champion: Predictions,
    challenger: Predictions,
    slices: Sequence[Slice],
    columns: Sequence[str],
    metric: str,
    policy: SlicePolicy,
    bootstrap: int,
    confidence: float,
    seed: int,
) -> SliceJudgement:
    """The slice gate: per slice the paired bootstrap's Δ, its interval and the p-value that the loss exceeds the
    margin; the worst-slice gap; Holm across them; the verdicts."""
    spec = METRICS[metric]
    alpha = 1 - confidence
    if not columns:
        note = "no slice columns (gate.slices.columns, or no categorical feature with few values)"
        return SliceJudgement(metric, [], policy.margin, policy.min_rows, alpha, [], None, note)
    loss_sign = -1.0 if spec.higher_is_better else 1.0  # loss = loss_sign * Δ: positive when the challenger is worse
    overall_error = spec.error(champion.scores()[metric])
    judged = [i for i, piece in enumerate(slices) if not piece.pair and piece.n >= policy.min_rows]
    masks = np.array([slices[i].mask for i in judged], dtype=bool).reshape(len(judged), len(champion.actual))
    draws = sliced_bootstrap([champion, challenger], masks, metric, bootstrap, seed)
    measured: dict[int, tuple[float, float, float, float, float]] = {}  # slice -> before, after, low, high, allowed
    p_values: dict[int | str, float] = {}
    kept = []  # columns of `draws` of the slices measured
    for column, index in enumerate(judged):
        rows = np.flatnonzero(slices[index].mask)
        before, after = champion.scores(rows)[metric], challenger.scores(rows)[metric]
        deltas = draws[:, 1, column] - draws[:, 0, column]
        if not (math.isfinite(before) and math.isfinite(after) and np.isfinite(deltas).any()):
            continue
        allowed = policy.margin * max(spec.error(before), overall_error)
        measured[index] = (before, after, *interval(deltas, confidence), allowed)
        p_values[index] = _p_value(loss_sign * (after - before), loss_sign * deltas, allowed)
        kept.append(column)
    gap = None
    if len(kept) >= 2:  # the worst slice's error above the overall error, per model and draw
        errors = np.abs(spec.best - draws)
        with np.errstate(invalid="ignore"):
            gaps = np.nanmax(np.where(np.isnan(errors[:, :, kept]), -np.inf, errors[:, :, kept]), axis=2)
        widening = (gaps - errors[:, :, -1]) @ np.array([-1.0, 1.0])
        points = _gaps(champion, challenger, [slices[judged[c]] for c in kept], metric)
        allowed = policy.margin * overall_error
        p_values["gap"] = _p_value(points[1] - points[0], widening, allowed)
        gap = (points, interval(widening, confidence), allowed)
    adjusted = dict(zip(p_values, holm(list(p_values.values())), strict=True))
    results = []
    for index, piece in enumerate(slices):
        if index in measured:
            before, after, low, high, allowed = measured[index]
            p, p_adj = p_values[index], adjusted[index]
            verdict = "block" if p_adj < alpha else "pass"
        else:
            rows = np.flatnonzero(piece.mask)
            before, after = champion.scores(rows)[metric], challenger.scores(rows)[metric]
            low = high = allowed = p = p_adj = math.nan
            verdict = "reported" if piece.pair else "too small" if piece.n < policy.min_rows else "undefined"
        results.append(
            SliceResult(
                piece.column,
                piece.value,
                piece.n,
                champion=_round(before),
                challenger=_round(after),
                delta=_round(after - before),
                low=_round(low),
                high=_round(high),
                allowed=_round(allowed),
                p_value=_round(p),
                p_adjusted=_round(p_adj),
                verdict=verdict,
            )
        )
    gap_result = None
    if gap is not None:
        (before_gap, after_gap), (low, high), allowed = gap
        gap_result = GapResult(
            champion=_round(before_gap),
            challenger=_round(after_gap),
            widening=_round(after_gap - before_gap),
            low=_round(low),
            high=_round(high),
            allowed=_round(allowed),
            p_value=_round(p_values["gap"]),
            p_adjusted=_round(adjusted["gap"]),
            verdict="block" if adjusted["gap"] < alpha else "pass",
        )
    note = "" if measured else f"no slice has {policy.min_rows} rows (gate.slices.min_rows) and a defined {metric}"
    return SliceJudgement(metric, list(columns), policy.margin, policy.min_rows, alpha, results, gap_result, note)


def _gaps(champion: Predictions, challenger: Predictions, slices: Sequence[Slice], metric: str) -> tuple[float, float]:
    """Each model's worst slice error minus its overall error (on the full holdout)."""
    spec = METRICS[metric]
    found = []
    for model in (champion, challenger):
        errors = [spec.error(model.scores(np.flatnonzero(piece.mask))[metric]) for piece in slices]
        found.append(max(errors) - spec.error(model.scores()[metric]))
    return found[0], found[1]
