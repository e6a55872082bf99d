"""The gate's policy and what it reports: the checks, the decision, and the comparison as a typed result.

Pure: numbers in, a decision out. `compare.py` measures, `report.py` renders.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..metrics import METRICS, Predictions
from ..params import GateParams
from .scoring import interval, paired_bootstrap


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
    higher = METRICS[metric].higher_is_better
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


def finite_or_none(value: float | None) -> float | None:
    """A number for JSON: rounded to 6 digits, None when missing or not finite."""
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def judge(
    champion: Predictions | None,
    challenger: Predictions,
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
        deltas[name] = {
            "delta": finite_or_none(after[name] - before[name]),
            "low": finite_or_none(low),
            "high": finite_or_none(high),
        }
    low, high = (math.nan if v is None else v for v in (deltas[metric]["low"], deltas[metric]["high"]))
    decision = decide(gate, metric, after[metric], before[metric], (low, high), latency_ratio, size_ratio)
    return decision, deltas


# --- the comparison, as compare.py measures it and report.py renders it (reports/compare.json keeps these keys)


@dataclass
class Holdout:
    """The rows both models were scored on."""

    path: str
    rows: int
    sha256: str


@dataclass
class Challenger:
    """The workspace's model."""

    commit: str | None
    uncommitted_changes: bool
    size_bytes: int
    metrics: dict[str, float | None]
    latency: dict[str, float] | None = None


@dataclass
class Champion:
    """The production model (GTO model#prod) and where its bytes came from."""

    version: str
    commit: str
    ref: str | None
    source: str
    size_bytes: int
    metrics: dict[str, float | None] = field(default_factory=dict)
    latency: dict[str, float] | None = None


@dataclass
class Comparison:
    """Everything the gate measured and decided: reports/compare.json is its asdict()."""

    metric: str
    higher_is_better: bool
    policy: dict[str, Any]
    holdout: Holdout
    challenger: Challenger
    champion: Champion | None
    validation: dict[str, Any] | None
    decision: str
    verdict: str
    reasons: list[str]
    checks: list[Check]
    deltas: dict[str, dict[str, float | None]] = field(default_factory=dict)
    ratios: dict[str, float] | None = None
    plots: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the challenger may replace the champion."""
        return self.decision == "pass"

    def to_json(self) -> dict[str, Any]:
        """The JSON form (plain dicts and lists)."""
        return asdict(self)
