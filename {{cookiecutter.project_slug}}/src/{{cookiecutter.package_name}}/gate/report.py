"""reports/compare.md from a Comparison: a pull-request comment a reviewer reads at a glance."""

from __future__ import annotations

import os
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


def render(result: Comparison) -> str:
    """The Markdown report: verdict, metrics, guardrails, data check, chart, plots, provenance."""
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
    lines += ["", *_metrics_table(result), "", "### Guardrails", "", *_guardrails(result), ""]
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
