"""reports/compare.md from a Comparison: a pull-request comment a reviewer reads at a glance."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from .decision import Comparison


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


def plot_link(path: str) -> str:
    """A link that works in a PR comment on GitHub Actions (blob URL), else relative to reports/."""
    server, repo, sha = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"))
    if server and repo and sha:
        return f"{server}/{repo}/blob/{sha}/{path}"
    return path.removeprefix("reports/")


def _metrics_table(result: Comparison) -> list[str]:
    metric, champion, challenger = result.metric, result.champion, result.challenger
    confidence = f"{result.policy.confidence:.0%}"
    commit = (challenger.commit or "no commit")[:7]
    if challenger.uncommitted_changes:
        commit += " + uncommitted changes"
    if champion is None:
        lines = ["| metric | challenger (`" + commit + "`) |", "|---|---:|"]
        for name, value in challenger.metrics.items():
            lines.append(f"| {'**' + name + '** (gate)' if name == metric else name} | {_number(value)} |")
        return lines
    lines = [
        f"| metric | champion `{champion.version}` (`{(champion.commit or '')[:7]}`) | challenger (`{commit}`) "
        f"| Δ | {confidence} interval of Δ |",
        "|---|---:|---:|---:|---|",
    ]
    for name, value in challenger.metrics.items():
        delta = result.deltas.get(name, {})
        label = f"**{name}** (gate)" if name == metric else name
        lines.append(
            f"| {label} | {_number(champion.metrics.get(name))} | {_number(value)} "
            f"| {_number(delta.get('delta'), True)} "
            f"| [{_number(delta.get('low'), True)}, {_number(delta.get('high'), True)}] |"
        )
    return lines


def _guardrails(result: Comparison) -> list[str]:
    lines = ["| check | measured | limit | |", "|---|---|---|---|"]
    for check in result.checks:
        lines.append(f"| {check.name} | {check.value} | {check.limit} | {'✅' if check.passed else '❌'} |")
    champion, challenger = result.champion, result.challenger
    if champion is not None and challenger.latency is not None:
        before, after = champion.latency, challenger.latency
        lines.append("")
        lines.append(
            f"Latency of one row, median (p95): champion {before.p50_ms:.2f} ({before.p95_ms:.2f}) ms, "
            f"challenger {after.p50_ms:.2f} ({after.p95_ms:.2f}) ms. Model size: champion {_kib(champion.size_bytes)}, "
            f"challenger {_kib(challenger.size_bytes)}."
        )
    if champion is not None and champion.missing_columns:
        lines.append("")
        lines.append(
            f"The champion was trained on {', '.join(f'`{c}`' for c in champion.missing_columns)}, which the "
            "holdout no longer has: it is scored with them missing, as production would serve it without them."
        )
    return lines


def _validation(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "**Data validation**: no `reports/validation.json` (the validate stage has not run)."
    if summary["success"] is None:
        return "**Data validation**: `reports/validation.json` has no overall verdict."
    if summary["success"]:
        return f"**Data validation**: ✅ passed ({summary['evaluated']} expectations)."
    failing = "; ".join(summary["failing"]) or "see reports/validation.json"
    return f"**Data validation**: ❌ failed {summary['failed']} of {summary['evaluated']} expectations: {failing}."


def _chart(result: Comparison) -> list[str]:
    """Mermaid xychart: the gate metric of both models as bars, the floor as a line."""
    metric, champion, challenger = result.metric, result.champion, result.challenger
    names, values = [], []
    champion_value = champion.metrics.get(metric) if champion is not None else None
    if champion is not None and champion_value is not None:
        names.append(f'"champion {champion.version}"')
        values.append(champion_value)
    challenger_value = challenger.metrics.get(metric)
    if challenger_value is None:
        return []
    names.append('"challenger"')
    values.append(challenger_value)
    floor = result.policy.floor
    top = max(values + ([floor] if floor is not None else []))
    top = 1.0 if top <= 1 else round(top * 1.15, 2)
    lines = [
        "```mermaid",
        "xychart-beta",
        f'  title "{metric} on the same holdout ({"higher" if result.higher_is_better else "lower"} is better)"',
        f"  x-axis [{', '.join(names)}]",
        f'  y-axis "{metric}" 0 --> {top:g}',
        f"  bar [{', '.join(f'{v:.4f}' for v in values)}]",
    ]
    if floor is not None:
        lines.append(f"  line [{', '.join(f'{floor:g}' for _ in values)}]")
    return [*lines, "```"]


def _policy_lines(result: Comparison) -> list[str]:
    """Whose policy set the bar: the champion's, unless an override let the candidate loosen it (said loudly)."""
    source = result.policy_source
    if source is None or source.champion is None:
        return []
    loosened = "; ".join(source.loosened)
    if source.override is not None:
        return [
            "",
            f"> ⚠️ **Gate override** by {source.override.by}: {source.override.reason}. The candidate's own policy "
            f"applies{f', looser than the champion’s: {loosened}' if loosened else ''}.",
        ]
    if loosened:
        return [
            "",
            f"The candidate's params.yaml tried to loosen the gate ({loosened}): not applied, the champion's policy "
            "sets the bar. To loosen it on purpose, record an override (a `Gate-Override: <why>` commit trailer).",
        ]
    return []


def _slices(result: Comparison) -> list[str]:
    """The slice gate: every judged slice (the blocked first), the too small ones counted, the pairs' worst."""
    found = result.slices
    if found is None:
        return []
    lines = ["### Slices", ""]
    if not found.columns or not any(r.verdict in ("pass", "block") for r in found.results):
        return [*lines, f"No slice judged: {found.note}.", ""]
    confidence = f"{result.policy.confidence:.0%}"
    lines += [
        f"{found.metric} per slice of {', '.join(f'`{c}`' for c in found.columns)}: a slice blocks when it is worse "
        f"than the champion's beyond {found.margin:.0%} of the champion's error there, with a Holm-adjusted p-value "
        f"below {found.alpha:g}.",
        "",
        f"| slice | n | champion | challenger | Δ | {confidence} interval of Δ | allowed loss | adjusted p | |",
        "|---|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    judged = sorted(
        (r for r in found.results if r.verdict in ("pass", "block")),
        key=lambda r: (r.verdict != "block", r.p_adjusted if r.p_adjusted is not None else 1.0),
    )
    for r in judged:
        lines.append(
            f"| {r.column} = {r.value} | {r.n} | {_number(r.champion)} | {_number(r.challenger)} "
            f"| {_number(r.delta, True)} | [{_number(r.low, True)}, {_number(r.high, True)}] | {_number(r.allowed)} "
            f"| {'—' if r.p_adjusted is None else f'{r.p_adjusted:.3g}'} | {'❌' if r.verdict == 'block' else '✅'} |"
        )
    if found.gap is not None:
        gap = found.gap
        lines += [
            "",
            f"Worst slice vs overall (error above the overall error): champion {_number(gap.champion)}, challenger "
            f"{_number(gap.challenger)}, widened by {_number(gap.widening, True)} (interval [{_number(gap.low, True)}, "
            f"{_number(gap.high, True)}], allowed {_number(gap.allowed)}, adjusted p "
            f"{'—' if gap.p_adjusted is None else f'{gap.p_adjusted:.3g}'}) {'❌' if gap.verdict == 'block' else '✅'}",
        ]
    small = [r for r in found.results if r.verdict == "too small"]
    if small:
        names = ", ".join(f"{r.column} = {r.value} ({r.n})" for r in small[:8])
        more = f" and {len(small) - 8} more" if len(small) > 8 else ""
        lines += ["", f"Too small to judge (under {found.min_rows} rows): {names}{more}."]
    pairs = sorted(
        (r for r in found.results if r.verdict == "reported" and r.delta is not None), key=_worse_first(result)
    )
    if pairs:
        shown = ", ".join(f"{r.column} = {r.value} (n {r.n}, Δ {_number(r.delta, True)})" for r in pairs[:3])
        lines += ["", f"Two-column slices (reported, not gated), the most worse: {shown}."]
    return [*lines, ""]


def _worse_first(result: Comparison) -> Any:
    higher = result.higher_is_better
    return lambda r: (r.delta if higher else -r.delta) if r.delta is not None else 0.0


def _card(result: Comparison) -> list[str]:
    """The model cards' headline: what changed in data lineage, slices and top features against the champion."""
    card = result.card
    if card is None:
        return []
    lines = ["### Model card", ""]
    if card.get("note"):
        return [*lines, f"No headline: {card['note']}.", ""]
    rows = card["rows"]
    changed = ", ".join(f"`{key}`" for key in card["data_changed"]) or "nothing"
    lines.append(
        f"- Data lineage against the champion's card: changed {changed}; training rows {rows['train'][0]} → "
        f"{rows['train'][1]}, test rows {rows['test'][0]} → {rows['test'][1]}."
    )
    top = card["top_features"]
    if top["champion"] != top["challenger"]:
        lines.append(
            f"- Top features (permutation importance): champion {', '.join(top['champion']) or '—'}; challenger "
            f"{', '.join(top['challenger']) or '—'}."
        )
    else:
        lines.append(f"- Top features unchanged: {', '.join(top['challenger']) or '—'}.")
    worse = card["slices_most_worse"]
    if worse:
        shown = ", ".join(f"{e['slice']} ({e['change']:+.4f}, n {e['n']})" for e in worse)
        lines.append(f"- Slices most worse, each model's card on its own test split ({card['slice_metric']}): {shown}.")
    lines.append("- The cards: `reports/model_card.md` (this model's), and the champion's at its commit.")
    return [*lines, ""]


def _value(value: Any) -> str:
    return f"`{json.dumps(value, default=str)}`"


def training_lines(
    before: dict[str, Any] | None, after: dict[str, Any], commit: str | None, tuning: dict[str, Any] | None
) -> list[str]:
    """What compare.md says of training: the estimator and train.params that changed since the champion's commit
    (`before`: that commit's params.yaml `train`; `after`: this workspace's), and the tuning report when one exists
    (reports/tune.json's decision, linked to tune.md)."""
    lines = []
    if before is not None:
        changes = []
        if before.get("estimator") != after.get("estimator"):
            changes.append(f"`train.estimator` {_value(before.get('estimator'))} → {_value(after.get('estimator'))}")
        old, new = before.get("params") or {}, after.get("params") or {}
        for key in [*old, *(k for k in new if k not in old)]:
            if key not in new:
                changes.append(f"`train.params.{key}` {_value(old[key])} → removed")
            elif key not in old:
                changes.append(f"`train.params.{key}` added: {_value(new[key])}")
            elif old[key] != new[key]:
                changes.append(f"`train.params.{key}` {_value(old[key])} → {_value(new[key])}")
        if changes:
            lines.append(
                f"**Training changed** since the champion's commit `{(commit or '')[:7]}`: {'; '.join(changes)}."
            )
    if tuning is not None:
        trials = tuning.get("trials") or []
        lines.append(
            f"**Tuning**: [tune.md]({plot_link('reports/tune.md')}) ({len(trials)} trials, "
            f"cross-validated on the train split only): {tuning.get('decision', 'no decision recorded')}."
        )
    return ["", *lines] if lines else []


def render(result: Comparison, training: Sequence[str] = ()) -> str:
    """The Markdown report: verdict, metrics, guardrails, data check, chart, plots, provenance; `training`: what
    changed in training and the tuning report (training_lines)."""
    icon = "✅" if result.passed else "❌"
    champion, holdout, policy = result.champion, result.holdout, result.policy
    lines = [f"## {icon} Model gate — {result.verdict}", ""]
    if champion is None:
        lines.append("No production model (`model#prod`) exists yet, so there is nothing to compare with.")
    else:
        lines.append(f"Champion: production `{champion.version}` (tag `{champion.ref}`), bytes from {champion.source}.")
        if holdout.excluded:
            lines.append(
                f"Both models are scored on the {holdout.rows} test rows the champion never trained on "
                f"({holdout.excluded} left out, matched by {holdout.matched_by})."
            )
    lines += _policy_lines(result)
    lines += training
    lines += ["", *_metrics_table(result), "", "### Guardrails", "", *_guardrails(result), ""]
    lines += [*_slices(result), *_card(result)]
    lines += [_validation(result.validation), "", *_chart(result)]
    if result.plots:
        lines += ["", "Plots: " + " · ".join(f"[{p.rsplit('/', 1)[-1]}]({plot_link(p)})" for p in result.plots)]
    floor = "none" if policy.floor is None else f"{policy.floor:g}"
    lines += [
        "",
        f"<sub>Holdout `{holdout.path}`: {holdout.rows} rows, sha256 `{holdout.sha256[:12]}`. "
        f"Policy: paired bootstrap of Δ = challenger − champion, {policy.bootstrap} resamples, seed {policy.seed}; "
        f"pass when, at the worse end of the {policy.confidence:.0%} interval, {policy.metric}"
        f"{''.join(f', {name}' for name in policy.guardrails)} lose at most {policy.margin:.0%} of the "
        f"champion's error; floor {floor}; median latency ratio ≤ {policy.max_latency_ratio}, "
        f"size ratio ≤ {policy.max_size_ratio}. Numbers: `reports/compare.json`.</sub>",
        "",
    ]
    return "\n".join(lines)
