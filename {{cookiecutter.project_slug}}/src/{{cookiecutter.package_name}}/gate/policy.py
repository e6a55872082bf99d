"""What the gate judges by (`GatePolicy`), and which policy binds: the champion's side sets the bar.

A pull request carries its own params.yaml, so it could loosen the gate it is judged by (a margin of 100, a lower
floor, another metric, fewer guardrails). The policy that binds is the production model's (read from its commit),
tightened by the candidate's where the candidate is stricter: per number the stricter of the two, the champion's
metric, the union of the guardrails, the champion's seed, and likewise for the slice check (SlicePolicy). A looser
policy applies only with an explicit, recorded
`Override` (a `Gate-Override:` trailer in CI, `OVERRIDE=` locally): compare.json and the promotion's tag say who
loosened what. With no champion, the candidate's own policy (and its floor) applies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..metrics import METRICS
from ..params import GateSliceParams, Params


@dataclass(frozen=True)
class SlicePolicy:
    """The slice check's numbers (params.yaml gate.slices), part of the gate's policy (gate/slices.py applies them)."""

    auto: bool  # the default columns: the categorical features with at most max_values values
    columns: tuple[str, ...]  # named columns (numeric ones cut into `bins` quantile bins)
    max_values: int
    bins: int
    margin: float  # on the error scale, like GatePolicy.margin
    min_rows: int
    pairs: bool

    @classmethod
    def of(cls, given: GateSliceParams) -> SlicePolicy:
        """The slice policy of params.yaml's gate.slices: columns null is the default columns."""
        return cls(
            auto=given.columns is None,
            columns=tuple(given.columns or ()),
            max_values=given.max_values,
            bins=given.bins,
            margin=given.margin,
            min_rows=given.min_rows,
            pairs=given.pairs,
        )


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
    slices: SlicePolicy = SlicePolicy.of(GateSliceParams())

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
            slices=SlicePolicy.of(params.gate.slices),
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
    return found + _slice_loosenings(candidate.slices, champion.slices)


def _slice_loosenings(candidate: SlicePolicy, champion: SlicePolicy) -> list[str]:
    """Each way the candidate's slice check is looser than the champion's: fewer columns, a wider margin, fewer
    slices judged (a higher min_rows, a lower max_values)."""
    found = []
    if champion.auto and not candidate.auto:
        found.append("gate.slices.columns without the default columns")
    dropped = [name for name in champion.columns if name not in candidate.columns]
    if dropped:
        found.append(f"gate.slices.columns without {', '.join(dropped)}")
    for name, stricter_is_higher in (("margin", False), ("min_rows", False), ("max_values", True)):
        mine, theirs = getattr(candidate, name), getattr(champion, name)
        if _stricter(theirs, mine, stricter_is_higher) != mine:
            found.append(f"gate.slices.{name} {theirs:g} -> {mine:g}")
    return found


def binding_slices(candidate: SlicePolicy, champion: SlicePolicy) -> SlicePolicy:
    """The champion's slice check, tightened by the candidate's: every column either names, the smaller margin and
    min_rows, the larger max_values; the champion's bins (another cut is other slices, neither stricter)."""
    return replace(
        champion,
        auto=champion.auto or candidate.auto,
        columns=champion.columns + tuple(name for name in candidate.columns if name not in champion.columns),
        max_values=max(champion.max_values, candidate.max_values),
        margin=min(champion.margin, candidate.margin),
        min_rows=min(champion.min_rows, candidate.min_rows),
        pairs=champion.pairs or candidate.pairs,
    )


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
        slices=binding_slices(candidate.slices, champion.slices),
    )
