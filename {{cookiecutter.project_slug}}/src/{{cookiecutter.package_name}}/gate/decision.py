"""The gate's policy and verdict: `GatePolicy`, the checks and the `Decision` (pure: numbers in, a decision out),
and the records of a comparison (`Comparison` is reports/compare.json).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..metrics import METRICS, Predictions
from ..registry import ModelRef
from .policy import GatePolicy, Override
from .scoring import Latency, interval, paired_bootstrap
from .slices import SliceJudgement


@dataclass(frozen=True)
class Check:
    """One check of the gate: what was measured, its limit, and the reason given when it fails."""

    name: str
    passed: bool
    value: str
    limit: str
    failure: str  # the reason given when it fails, in words a reviewer reads at a glance


@dataclass(frozen=True)
class Decision:
    """The verdict and the checks behind it."""

    passed: bool
    verdict: str
    checks: list[Check]

    @property
    def reasons(self) -> list[str]:
        """Why the gate blocks: one line per failed check."""
        return [c.failure for c in self.checks if not c.passed]


def floor_check(metric: str, value: float, floor: float) -> Check:
    """The challenger's metric against the worst acceptable value."""
    higher = METRICS[metric].higher_is_better
    ok = value >= floor if higher else value <= floor
    side = "below" if higher else "above"
    return Check(
        f"floor on {metric}",
        ok,
        f"{value:.4f}",
        f"{'≥' if higher else '≤'} {floor:g}",
        f"{metric} {value:.4f} is {side} the floor {floor:g}",
    )


def non_inferiority(metric: str, champion: float, delta: tuple[float, float], margin: float) -> Check:
    """Whether the worse end of the interval of Δ = challenger - champion stays within the margin.

    The margin is on the error scale (metrics.Metric.error): with `margin` 0.5 and a champion at roc_auc 0.98
    (error 0.02), the challenger may lose at most 0.01 of roc_auc; at rmse 40, at most 20 of rmse. Near a
    perfect score the tolerated loss shrinks with the error, which a margin on the score itself would not do.
    """
    spec = METRICS[metric]
    allowed = margin * spec.error(champion)
    low, high = delta
    worst = low if spec.higher_is_better else high  # the interval's end that is bad for the challenger
    ok = math.isfinite(worst) and (worst >= -allowed if spec.higher_is_better else worst <= allowed)
    sign = "-" if spec.higher_is_better else "+"
    return Check(
        f"non-inferiority on {metric}",
        ok,
        f"worse end of Δ {worst:+.4f}",
        f"{'≥ -' if spec.higher_is_better else '≤ +'}{allowed:.4f} ({margin:.0%} of the champion's error "
        f"{spec.error(champion):.4f})",
        f"{metric} is worse than the champion's beyond the margin "
        f"(Δ interval [{low:+.4f}, {high:+.4f}], allowed {sign}{allowed:.4f})",
    )


def decide(
    policy: GatePolicy,
    challenger: dict[str, float],
    champion: dict[str, float] | None = None,
    intervals: dict[str, tuple[float, float]] | None = None,
    latency_ratio: float | None = None,
    size_ratio: float | None = None,
    no_champion: str = "no production model yet",
    checks_made: Sequence[Check] = (),
    checks_after: Sequence[Check] = (),
) -> Decision:
    """Apply the policy to measured numbers: scores by metric, and intervals of Δ = challenger - champion.

    Without a champion, `no_champion` says why (none yet, or one of another lineage) and the floor alone judges.
    `checks_made`: checks the comparison made before (whether the champion could be scored on its own columns);
    `checks_after`: checks made beside the overall ones, listed after them (the slice gate's).
    """
    metric = policy.metric
    checks = [*checks_made, *([] if policy.floor is None else [floor_check(metric, challenger[metric], policy.floor)])]
    if champion is None:
        note = f"{no_champion}, judged on the floor alone" + ("" if checks else " (none is set)")
        passed = all(c.passed for c in checks)
        reasons = "; ".join(c.failure for c in checks if not c.passed)
        return Decision(passed, f"PASS: {note}" if passed else f"BLOCK: {reasons} ({note})", checks)
    intervals = intervals or {}
    for name in (metric, *policy.guardrails):
        delta = intervals.get(name, (math.nan, math.nan))
        checks.append(non_inferiority(name, champion[name], delta, policy.margin))
    for name, ratio, limit, what in (
        ("median single-row latency ratio", latency_ratio, policy.max_latency_ratio, "median single-row latency"),
        ("model size ratio", size_ratio, policy.max_size_ratio, "model file size"),
    ):
        if limit is not None and ratio is not None:
            failure = f"{what} is ×{ratio:.2f} the champion's (limit ×{limit:g})"
            checks.append(Check(name, ratio <= limit, f"×{ratio:.2f}", f"≤ ×{limit:g}", failure))
    checks += checks_after
    passed = all(c.passed for c in checks)
    low, high = intervals.get(metric, (math.nan, math.nan))
    worst = low if policy.higher_is_better else -high
    if not passed:
        verdict = "BLOCK: " + "; ".join(c.failure for c in checks if not c.passed)
    elif math.isfinite(worst) and worst > 0:
        verdict = (
            f"PASS: better than the champion on {metric} (the whole {policy.confidence:.0%} interval of Δ is a gain)"
        )
    else:
        verdict = f"PASS: no worse than the champion on {metric} (any loss is within {policy.margin:.0%} of its error)"
    return Decision(passed, verdict, checks)


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def slice_checks(found: SliceJudgement) -> list[Check]:
    """The slice gate as the gate's checks: the slices judged (each blocked one named, with by how much) and the
    worst-slice gap. None when no slice could be judged (the note says why)."""
    judged = [r for r in found.results if r.verdict in ("pass", "block")]
    if not judged:
        return []
    worst = min(judged, key=lambda r: r.p_adjusted if r.p_adjusted is not None else 1.0)
    failures = [
        f"{found.metric} on slice {r.column} = {r.value} ({r.n} rows) is worse than the champion's by "
        f"{_fmt(None if r.delta is None else abs(r.delta), '.4f')} (interval [{_fmt(r.low, '+.4f')}, "
        f"{_fmt(r.high, '+.4f')}]), beyond the slice margin {_fmt(r.allowed, '.4f')} (Holm-adjusted p "
        f"{_fmt(r.p_adjusted, '.3g')})"
        for r in found.blocked
    ]
    checks = [
        Check(
            f"slices of {', '.join(found.columns)}",
            not failures,
            f"{len(judged)} judged, {len(found.blocked)} worse beyond the margin (smallest adjusted p "
            f"{_fmt(worst.p_adjusted, '.3g')})",
            f"adjusted p ≥ {found.alpha:g} ({found.margin:.0%} of the champion's error)",
            "; ".join(failures),
        )
    ]
    gap = found.gap
    if gap is not None:
        checks.append(
            Check(
                "worst slice vs overall",
                gap.verdict == "pass",
                f"gap widened by {_fmt(gap.widening, '+.4f')} (adjusted p {_fmt(gap.p_adjusted, '.3g')})",
                f"≤ +{_fmt(gap.allowed, '.4f')} unless significant",
                f"the gap between the worst slice and the overall {found.metric} widened by "
                f"{_fmt(gap.widening, '+.4f')} (from {_fmt(gap.champion, '.4f')} to {_fmt(gap.challenger, '.4f')} of "
                f"error), beyond {_fmt(gap.allowed, '.4f')} (Holm-adjusted p {_fmt(gap.p_adjusted, '.3g')})",
            )
        )
    return checks


def finite_or_none(value: float | None) -> float | None:
    """A number for JSON: rounded to 6 digits, None when missing or not finite."""
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


Deltas = dict[str, dict[str, float | None]]  # per metric: delta, low, high (compare.json's `deltas`)


def judge(
    champion: Predictions | None,
    challenger: Predictions,
    policy: GatePolicy,
    latency_ratio: float | None = None,
    size_ratio: float | None = None,
    no_champion: str = "no production model yet",
    checks_made: Sequence[Check] = (),
    checks_after: Sequence[Check] = (),
) -> tuple[Decision, Deltas]:
    """The decision, and per metric the difference challenger - champion with its bootstrap interval."""
    after = challenger.scores()
    if champion is None:
        return decide(policy, after, no_champion=no_champion, checks_made=checks_made), {}
    before = champion.scores()
    deltas: Deltas = {}
    intervals: dict[str, tuple[float, float]] = {}
    for name, draws in paired_bootstrap(champion, challenger, policy.bootstrap, policy.seed).items():
        low, high = interval(draws, policy.confidence)
        intervals[name] = (low, high)
        delta = after[name] - before[name]
        deltas[name] = {"delta": finite_or_none(delta), "low": finite_or_none(low), "high": finite_or_none(high)}
    decision = decide(
        policy, after, before, intervals, latency_ratio, size_ratio, checks_made=checks_made, checks_after=checks_after
    )
    return decision, deltas


# --- the comparison, as compare.py measures it and report.py renders it (reports/compare.json keeps these keys)


@dataclass(frozen=True)
class PolicySource:
    """Where the binding policy came from: the candidate's params.yaml, the production model's, and an override."""

    candidate: GatePolicy
    champion: GatePolicy | None
    loosened: tuple[str, ...]
    override: Override | None


@dataclass(frozen=True)
class Holdout:
    """The rows both models were scored on: the test split without the rows the champion trained on."""

    path: str
    rows: int
    sha256: str
    excluded: int = 0  # test rows in the champion's training split, left out
    matched_by: str = ""  # how they were found: the id column, or a hash of the shared columns


@dataclass(frozen=True)
class Challenger:
    """The workspace's model."""

    commit: str | None
    uncommitted_changes: bool
    size_bytes: int
    metrics: dict[str, float | None]
    latency: Latency | None = None  # measured only against a champion


@dataclass(frozen=True)
class Champion(ModelRef):
    """The production model (GTO model#prod) as the gate measured it."""

    size_bytes: int
    metrics: dict[str, float | None]
    latency: Latency
    missing_columns: tuple[str, ...] = ()  # its features the holdout no longer has

    @classmethod
    def measured(
        cls,
        model: ModelRef,
        size_bytes: int,
        metrics: dict[str, float | None],
        latency: Latency,
        missing_columns: tuple[str, ...] = (),
    ) -> Champion:
        """The production `model` with what the gate measured of it."""
        return cls(
            version=model.version,
            commit=model.commit,
            ref=model.ref,
            sha256=model.sha256,
            path=model.path,
            source=model.source,
            size_bytes=size_bytes,
            metrics=metrics,
            latency=latency,
            missing_columns=missing_columns,
        )


@dataclass
class Comparison:
    """Everything the gate measured and decided: reports/compare.json."""

    metric: str
    higher_is_better: bool
    policy: GatePolicy
    holdout: Holdout
    challenger: Challenger
    champion: Champion | None
    validation: dict[str, Any] | None
    decision: str
    verdict: str
    reasons: list[str]
    checks: list[Check]
    deltas: Deltas = field(default_factory=dict)
    ratios: dict[str, float] | None = None
    plots: list[str] = field(default_factory=list)
    new_lineage: str | None = None  # compare --new-lineage: why production is no champion (another lineage)
    # The candidate's own policy, the champion's (None with no champion), what the candidate tried to loosen, and the
    # override that let it (None: the champion's side set the bar, tightened where the candidate is stricter).
    policy_source: PolicySource | None = None
    # The slice gate (gate/slices.py): per slice n, Δ, its interval, the adjusted p-value and the verdict.
    slices: SliceJudgement | None = None
    # The model cards' headline against the champion's (gate/card.py): lineage, slices and top features.
    card: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """Whether the challenger may replace the champion."""
        return self.decision == "pass"

    def to_json(self) -> dict[str, Any]:
        """The JSON form: plain dicts, lists and tuples."""
        data = asdict(self)
        if data["champion"] is not None:
            del data["champion"]["path"]  # a temporary file, gone once compare returns
        return data
