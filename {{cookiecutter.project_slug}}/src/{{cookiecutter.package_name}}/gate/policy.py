"""What the gate judges by (`GatePolicy`), and which policy binds: the champion's side sets the bar.

A pull request carries its own params.yaml, so it could loosen the gate it is judged by (a margin of 100, a lower
floor, another metric, fewer guardrails). The policy that binds is the production model's (read from its commit),
tightened by the candidate's where the candidate is stricter: per number the stricter of the two, the champion's
metric, the union of the guardrails, the champion's seed. A looser policy applies only with an explicit, recorded
`Override` (a `Gate-Override:` trailer in CI, `OVERRIDE=` locally): compare.json and the promotion's tag say who
loosened what. With no champion, the candidate's own policy (and its floor) applies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..metrics import METRICS
from ..params import Params


@dataclass(frozen=True)
class GatePolicy:
    """What the gate judges by: params.yaml's gate section with the task's defaults resolved, and the seed."""

    metric: str
    margin: float  # on the error scale (see non_inferiority)
    guardrails: tuple[str, ...]
    floor: float | None
    bootstrap: int
    confidence: float
    min_holdout_rows: int
    max_latency_ratio: float | None
    max_size_ratio: float | None
    seed: int

    @classmethod
    def from_params(cls, params: Params) -> GatePolicy:
        """The policy of these params (the one place a policy is made)."""
        gate = params.gate
        return cls(
            metric=params.gate_metric,
            margin=gate.margin,
            guardrails=params.gate_guardrails,
            floor=gate.floor,
            bootstrap=gate.bootstrap,
            confidence=gate.confidence,
            min_holdout_rows=gate.min_holdout_rows,
            max_latency_ratio=gate.max_latency_ratio,
            max_size_ratio=gate.max_size_ratio,
            seed=params.seed,
        )

    @property
    def higher_is_better(self) -> bool:
        """Whether a higher value of the gate's metric is better."""
        return METRICS[self.metric].higher_is_better


@dataclass(frozen=True)
class Override:
    """An explicit, recorded decision to loosen the gate (or cross lineages): why, and who said so."""

    reason: str
    by: str


def _stricter(champion: float | None, candidate: float | None, higher_is_stricter: bool) -> float | None:
    """The stricter of two limits of the same kind; None (no limit) is the loosest."""
    if champion is None or candidate is None:
        return champion if candidate is None else candidate
    return max(champion, candidate) if higher_is_stricter else min(champion, candidate)


def loosenings(candidate: GatePolicy, champion: GatePolicy) -> list[str]:
    """Each way the candidate's policy is looser than the champion's, in words (empty: as strict or stricter)."""
    found = []
    if candidate.metric != champion.metric:
        found.append(f"gate.metric {champion.metric} -> {candidate.metric}")
    dropped = [name for name in champion.guardrails if name not in candidate.guardrails]
    if dropped:
        found.append(f"gate.guardrails without {', '.join(dropped)}")
    floor_higher = METRICS[champion.metric].higher_is_better
    same_metric = candidate.metric == champion.metric
    for name, stricter_is_higher in (
        ("margin", False),
        ("confidence", True),
        ("bootstrap", True),
        ("min_holdout_rows", True),
        ("max_latency_ratio", False),
        ("max_size_ratio", False),
        ("floor", floor_higher),
    ):
        if name == "floor" and not same_metric:
            continue
        mine, theirs = getattr(candidate, name), getattr(champion, name)
        if theirs is not None and _stricter(theirs, mine, stricter_is_higher) != mine:
            found.append(f"gate.{name} {theirs:g} -> {'null' if mine is None else format(mine, 'g')}")
    return found


def binding_policy(candidate: GatePolicy, champion: GatePolicy | None, override: Override | None) -> GatePolicy:
    """The policy the challenger is judged by: the candidate's with no champion or with an override; else the
    champion's, tightened per number by the candidate's where that is stricter."""
    if champion is None or override is not None:
        return candidate
    floor = champion.floor
    if candidate.metric == champion.metric:
        floor = _stricter(champion.floor, candidate.floor, METRICS[champion.metric].higher_is_better)
    return replace(
        champion,
        margin=min(champion.margin, candidate.margin),
        confidence=max(champion.confidence, candidate.confidence),
        bootstrap=max(champion.bootstrap, candidate.bootstrap),
        min_holdout_rows=max(champion.min_holdout_rows, candidate.min_holdout_rows),
        max_latency_ratio=_stricter(champion.max_latency_ratio, candidate.max_latency_ratio, False),
        max_size_ratio=_stricter(champion.max_size_ratio, candidate.max_size_ratio, False),
        floor=floor,
        guardrails=champion.guardrails
        + tuple(name for name in candidate.guardrails if name not in champion.guardrails),
    )
