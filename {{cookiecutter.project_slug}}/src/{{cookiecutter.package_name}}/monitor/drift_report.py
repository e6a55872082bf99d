"""The drift check's reports: reports/drift.json, reports/drift.md and a PNG per drifted column (the MAX_PLOTS most
severe).

Everything is drawn from drift.detect's result (each column carries its histogram): the data is not read again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from ..params import DRIFT_FILE, DRIFT_PLOTS_DIR, DRIFT_REPORT
from .drift_result import (
    CategoryHistogram,
    ColumnDrift,
    DriftResult,
    MultivariateDrift,
    NumericHistogram,
    NumericStatistics,
    ScoreDrift,
)

# A report that plots every drifted column of a wide table is one nobody scrolls (and 0.14 s a figure): the most
# severe ones are drawn, the table lists them all.
MAX_PLOTS = 12


def plot_name(column: str) -> str:
    """A safe file name for a column's plot."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", column).strip("._") or "column"


def finite(value: Any) -> Any:
    """The result with NaN and infinities replaced by None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _numeric_axes(axes: Any, histogram: NumericHistogram) -> None:
    for side, color in (("reference", "tab:blue"), ("current", "tab:orange")):
        reference_side = side == "reference"
        axes.stairs(
            histogram.reference if reference_side else histogram.current,
            histogram.edges,
            label=side,
            color=color,
            fill=reference_side,
            alpha=0.5 if reference_side else 1.0,
            linewidth=2,
        )
    axes.set_xlabel("value (the first and last bins also hold the values beyond them)")
    axes.set_ylabel("share of rows")


def _categorical_axes(axes: Any, histogram: CategoryHistogram) -> None:
    positions = np.arange(len(histogram.categories))
    axes.bar(positions - 0.2, histogram.reference, width=0.4, label="reference", color="tab:blue")
    axes.bar(positions + 0.2, histogram.current, width=0.4, label="current", color="tab:orange")
    axes.set_xticks(positions, [name[:20] for name in histogram.categories], rotation=45, ha="right")
    axes.set_ylabel("share of rows")


def _effects(entry: ColumnDrift) -> str:
    """The effect sizes, each with [its threshold at the column's sample sizes]."""
    stats, bar = entry.statistics, entry.thresholds

    def at(name: str, percent: bool = False) -> str:
        return "" if name not in bar else f" [{bar[name]:.1%}]" if percent else f" [{bar[name]:.3f}]"

    if isinstance(stats, NumericStatistics):
        return f"KS {stats.ks_statistic:.3f}{at('ks_statistic')}, PSI {stats.psi:.3f}{at('psi')}"
    text = f"JS {stats.js_distance:.3f}{at('js_distance')}, V {stats.cramers_v:.3f}"
    if stats.new_categories:
        text += f", new {stats.new_category_share:.1%}{at('new_category_share', True)}"
        text += f" ({', '.join(stats.new_categories[:3])})"
    return text


def tested_columns(result: DriftResult) -> list[tuple[str, ColumnDrift]]:
    """(role, entry) for every tested column: features, then target and prediction."""
    return [("feature", entry) for entry in result.features.values()] + result.roles()


def write_plots(result: DriftResult) -> dict[str, Path]:
    """A PNG per drifted column (reference vs current distribution), the MAX_PLOTS most severe; stale PNGs are
    removed."""
    from matplotlib.figure import Figure  # not pyplot: no global state, no GUI backend to pick

    plots: dict[str, Path] = {}
    figure = Figure(figsize=(7, 4))  # one figure, redrawn per column: much faster than one each
    figure.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.22)
    axes = figure.add_subplot()
    drifted = [(entry, entry.statistics.histogram) for _, entry in tested_columns(result) if entry.drift]
    drawn = sorted(((e, h) for e, h in drifted if h is not None), key=lambda pair: -pair[0].severity)[:MAX_PLOTS]
    for entry, histogram in drawn:
        axes.clear()
        if isinstance(histogram, NumericHistogram):
            _numeric_axes(axes, histogram)
        else:
            _categorical_axes(axes, histogram)
        axes.set_title(f"{entry.column}: {_effects(entry)}", fontsize=10)
        axes.legend()
        path = DRIFT_PLOTS_DIR / f"{plot_name(entry.column)}.png"
        with io.atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=80)
        plots[entry.column] = path
    if DRIFT_PLOTS_DIR.is_dir():
        for stale in set(DRIFT_PLOTS_DIR.glob("*.png")) - set(plots.values()):
            stale.unlink()
    return plots


def _change(entry: ColumnDrift) -> str:
    stats = entry.statistics
    if isinstance(stats, NumericStatistics):
        ref, cur = stats.reference, stats.current

        def number(value: float | None) -> str:
            return "-" if value is None or not math.isfinite(value) else f"{value:.4g}"

        text = f"mean {number(ref.mean)} -> {number(cur.mean)}"
        if ref.missing_share or cur.missing_share:
            text += f"; missing {ref.missing_share:.1%} -> {cur.missing_share:.1%}"
        return text
    change = stats.largest_change
    return f"{change.category}: {change.reference:.1%} -> {change.current:.1%}"


def _sides(result: DriftResult) -> tuple[str, str]:
    return (result.sources.reference, result.sources.current) if result.sources else ("reference", "current")


def _not_enough_data(result: DriftResult) -> str:
    reference, current = _sides(result)
    return (
        "# Data drift\n\n"
        f"**Not enough data**: {result.rows.current} distinct current rows (one per id), fewer than "
        f"`drift.min_rows` {result.settings.min_rows}: no verdict, neither drift nor its absence.\n\n"
        f"- Reference: `{reference}` ({result.rows.reference} rows); current: `{current}`.\n"
    )


def multivariate_lines(result: DriftResult) -> list[str]:
    """The domain classifier's verdict in a paragraph (nothing when drift.multivariate is off)."""
    found = result.multivariate
    if not result.settings.multivariate:
        return []
    if found is None:
        return ["", "Multivariate drift: not judged (fewer than 20 rows on a side)."]
    verdict = "**drifted**" if found.drifted else "no drift"
    used = found.rows_used
    sample = (
        f" on a seeded sample of {used.reference} reference and {used.current} current rows" if found.subsampled else ""
    )
    top = ", ".join(f"`{entry.feature}` ({entry.auc_loss:.3f})" for entry in found.top_features)
    return [
        "",
        f"Multivariate drift: {verdict}. A classifier cross-fitted to tell current rows from reference rows{sample} "
        f"reaches AUC {found.auc:.3f} against a threshold of {found.threshold:.3f} (the larger of "
        f"`drift.multivariate_auc` {result.settings.multivariate_auc} and what it reaches by chance alone at these "
        f"sizes, {found.null_quantile:.3f}). It also sees a change in how the features go together, which leaves "
        "every column's own distribution as it was."
        + (f" What separates them most (AUC lost when the feature is shuffled): {top}." if top else ""),
    ]


def monitor_drift_lines(multivariate: MultivariateDrift | None, scores: Mapping[str, ScoreDrift]) -> list[str]:
    """monitor.md's lines on multivariate drift and on each model version's score drift."""
    lines: list[str] = []
    if multivariate is not None:
        top = ", ".join(f"`{entry.feature}`" for entry in multivariate.top_features[:3])
        lines += [
            "",
            f"Multivariate drift: {'**drifted**' if multivariate.drifted else 'no drift'} (a classifier telling live "
            f"rows from training rows: AUC {multivariate.auc:.3f}, threshold {multivariate.threshold:.3f}, on "
            f"{multivariate.rows_used.reference} + {multivariate.rows_used.current} rows"
            + (", sampled" if multivariate.subsampled else "")
            + (f"; separated most by {top}" if top and multivariate.drifted else "")
            + ").",
        ]
    if scores:
        lines += [
            "",
            "Score drift: each model version's logged scores against the production model's on its holdout (KS and "
            "PSI, [threshold at these sizes]); a version that scores as the production model does counts toward the "
            "verdict.",
            "",
            "| model version | score | rows | KS | PSI | p adjusted | drift | production's scores |",
            "|---|---|---|---|---|---|---|---|",
        ]
        same = {True: "yes (counts)", False: "no (reported only)", None: "cannot tell (counts)"}
        for version, entry in scores.items():
            bar = entry.thresholds
            lines.append(
                f"| `{version}` | {entry.score} | {entry.rows} | {entry.ks_statistic:.3f} "
                f"[{bar.get('ks_statistic', 0.0):.3f}] | {entry.psi:.3f} [{bar.get('psi', 0.0):.3f}] | "
                f"{entry.p_value:.2g} | {'**yes**' if entry.drifted else 'no'} | {same[entry.same_as_production]} |"
            )
    return lines


def markdown(result: DriftResult, plots: dict[str, Path]) -> str:
    """The human-readable report: verdict, how it was decided, columns sorted by severity."""
    if result.verdict == "not enough data":
        return _not_enough_data(result)
    settings = result.settings
    verdict = "**Drift found**" if result.drift else "**No drift**"
    lines = [
        "# Data drift",
        "",
        f"{verdict}: {len(result.drifted_features)} of {len(result.features)} features drifted "
        f"({result.share_drifted:.0%}; the data drifts at {settings.share:.0%}).",
    ]
    for role, entry in result.roles():
        lines[-1] += f" The {role} `{entry.column}` {'drifted' if entry.drift else 'did not drift'}."
    reference, current = _sides(result)
    sources = result.sources
    lines += [
        "",
        f"- Reference: `{reference}` ({result.rows.reference} rows); "
        f"current: `{current}` ({result.rows.current} rows)."
        + (
            f" The logged predictions are compared with those of `{sources.prediction_model}` on "
            f"`{sources.prediction_rows}` ({result.prediction.statistics.reference.rows} rows)."
            if sources and sources.prediction_model and result.prediction
            else ""
        ),
        f"- Column types from the {'data contract (schema.yaml)' if result.types_from == 'contract' else 'data'}"
        + (f"; not tested: {', '.join(result.ignored_columns)}." if result.ignored_columns else "."),
        f"- A column drifts when its p-value ({settings.correction}-adjusted across columns) is below "
        f"{settings.alpha} and an effect size reaches its threshold: numeric KS >= {settings.ks_statistic} "
        f"or PSI >= {settings.psi} ({settings.bins} reference-quantile bins); categorical Jensen-Shannon >= "
        f"{settings.js_distance} or new categories >= {settings.new_category_share:.0%} of rows (Cramer's V "
        "is shown, not judged: it shrinks as the sample sizes grow apart), or, where larger, what that effect size "
        f"reaches by chance alone at the column's sample sizes (its {1 - settings.alpha:.0%} quantile when nothing "
        "changed): the threshold each was judged at is in [brackets]. Severity is the largest effect size over its "
        "threshold.",
        "",
        "| column | kind | drift | severity | effect sizes | p adjusted | reference -> current | plot |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines[3:3] = multivariate_lines(result)
    drifted = sum(entry.drift for _, entry in tested_columns(result))
    if drifted > len(plots):
        plotted = f"Plotted: {len(plots)} of the {drifted} drifted columns, the most severe (at most {MAX_PLOTS})."
        lines[-2:-2] = [plotted, ""]
    rows = sorted(tested_columns(result), key=lambda row: (not row[1].drift, -row[1].severity))
    for role, entry in rows:
        label = f"`{entry.column}`" + ("" if role == "feature" else f" ({role})")
        plot = f"[png](drift/{plots[entry.column].name})" if entry.column in plots else ""
        lines.append(
            f"| {label} | {entry.statistics.kind} | {'**yes**' if entry.drift else 'no'} | {entry.severity:.2f} | "
            f"{_effects(entry)} | {entry.p_value_adjusted:.2g} | {_change(entry)} | {plot} |"
        )
    return "\n".join(lines) + "\n"


def write_reports(result: DriftResult) -> list[Path]:
    """Write the PNGs, drift.md and drift.json (last, so it never describes plots that are missing)."""
    plots = write_plots(result)
    io.write_text(markdown(result, plots), DRIFT_REPORT)
    written = replace(result, plots={column: path.as_posix() for column, path in plots.items()})
    io.write_json(finite(written.to_json()), DRIFT_FILE)
    return [DRIFT_FILE, DRIFT_REPORT] + ([DRIFT_PLOTS_DIR] if plots else [])
