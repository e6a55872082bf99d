"""The `monitor` command's typed result (MonitorResult) and its reports: reports/monitor.json, reports/monitor.md
and three plots in reports/monitor/: performance.png (the gate's metric per period of prediction time against the
holdout value and the limit), labels.png (labels received per period, and the share of each period's
predictions labelled so far) and estimated.png (the estimated metric per day with its interval, the realized one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import io, store
from ..params import MONITOR_FILE, MONITOR_PLOTS_DIR, MONITOR_REPORT
from ..registry import ModelRef
from .before_labels_report import estimated_lines, plot_estimated, slice_lines
from .drift_report import finite, monitor_drift_lines
from .drift_result import MultivariateDrift, RowCounts, ScoreDrift
from .drift_result import Verdict as DriftVerdict
from .estimate import Estimation
from .performance import NOT_ENOUGH, Performance, PeriodPoint
from .slices import SliceSearch, by_name
from .traffic import LiveRows

Finding = Literal["drift", "degraded", "estimated"]  # estimated: performance estimated to degrade, before labels

SELECTION_ALPHA = 0.05  # the KS p-value below which the report says the labelled rows look different


@dataclass(frozen=True)
class Window:
    """The window of prediction time monitored."""

    since: datetime
    until: datetime
    length: str  # as given: --since or monitor.window

    def to_json(self) -> dict[str, str]:
        """The JSON form: ISO 8601 times."""
        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "length": self.length}


@dataclass(frozen=True)
class VersionServed:
    """What one model version served in the window: its records, their first and last time, and on its labelled
    records its own label metrics and how often the production model agrees with it."""

    rows: int
    first: str  # ISO 8601
    last: str
    labels: int
    metrics: Mapping[str, float | None]
    agreement: float | None


@dataclass(frozen=True)
class TrafficSummary:
    """The window's rows: logged, test traffic left out, live, distinct records; labels received; per version."""

    logged: int
    test: int
    live: int
    distinct: int
    feedback: int
    versions: Mapping[str, VersionServed]
    batch: int = 0  # rows of batch scoring (`predict --log`) in the window
    batch_included: bool = True  # counted as live traffic (monitor.include_batch), else left out


@dataclass(frozen=True)
class VersionsJudged:
    """Whose rows were judged (a version as the service answers it; None: every version, `--all-versions`), and the
    rows other versions logged in the window, per version's partition: counted, never read."""

    judged: str | None = None
    other_rows: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftSummary:
    """What monitor.json says of the drift check (reports/drift.json has every column)."""

    verdict: DriftVerdict
    drift: bool
    summary: str  # the drift command's one line
    rows: RowCounts
    min_rows: int
    drifted_features: tuple[str, ...]
    share_drifted: float
    prediction_drift: bool | None  # None: the prediction was not tested
    report: str


@dataclass(frozen=True)
class MonitorResult:
    """Everything `monitor` found: reports/monitor.json is its to_json()."""

    window: Window
    store: str
    model: ModelRef
    traffic: TrafficSummary
    drift: DriftSummary
    performance: Performance
    findings: tuple[Finding, ...]
    over_time: tuple[PeriodPoint, ...] = ()
    plots: Mapping[str, str] = field(default_factory=dict)  # set when the reports are written
    non_features: Mapping[str, str] = field(default_factory=dict)  # personal data the log drops or hashes, and why
    estimation: Estimation | None = None  # performance estimated before the labels (monitor/estimate.py)
    slices: SliceSearch | None = None  # the slices that degrade (monitor/slices.py)
    before_labels_note: str = ""  # why there is no estimate or slice search, when there is none
    versions: VersionsJudged = field(default_factory=VersionsJudged)
    multivariate: MultivariateDrift | None = None  # the domain classifier's verdict (None: off, or too few rows)
    score_drift: Mapping[str, ScoreDrift] = field(default_factory=dict)  # per model version (monitor/score_drift.py)

    @property
    def exit_code(self) -> int:
        """1 on a finding, else 0."""
        return 1 if self.findings else 0

    def to_json(self) -> dict[str, Any]:
        """The JSON form (plain dicts and lists; NaN and infinities still to be replaced)."""
        model = asdict(self.model)
        if self.model.version is not None:
            del model["path"]  # a temporary copy of the production model, gone once monitor has loaded it
        return {
            "window": self.window.to_json(),
            "store": self.store,
            "model": model,
            "traffic": asdict(self.traffic),
            "versions": asdict(self.versions),
            "drift": asdict(self.drift),
            "performance": self.performance.to_json(),
            "findings": list(self.findings),
            "over_time": [asdict(point) for point in self.over_time],
            "plots": dict(self.plots),
            "non_features": dict(self.non_features),
            "multivariate": None if self.multivariate is None else self.multivariate.to_json(),
            "score_drift": {version: asdict(entry) for version, entry in self.score_drift.items()},
            **self._before_labels_json(),
            "exit_code": self.exit_code,
        }

    def _before_labels_json(self) -> dict[str, Any]:
        """`estimated_performance` (per day), `estimation` (the window's), `slices` and `slice_search`."""
        estimation = None if self.estimation is None else asdict(self.estimation)
        search = None if self.slices is None else asdict(self.slices)
        return {
            "estimated_performance": [] if estimation is None else estimation.pop("days"),
            "estimation": estimation,
            "slices": [] if self.slices is None else by_name(self.slices.found),
            "slice_search": search and {key: value for key, value in search.items() if key != "found"},
            "before_labels_note": self.before_labels_note,
        }


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def plot_performance(result: MonitorResult, path: Path) -> None:
    """The gate's metric per period of prediction time, the holdout value and the worst acceptable value."""
    from matplotlib.figure import Figure

    performance = result.performance
    metric = performance.metric
    figure = Figure(figsize=(7, 3.5))
    figure.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.22)
    axes = figure.add_subplot()
    points = [(p.start, p.value) for p in result.over_time if p.value is not None]
    if points:
        times = pd.to_datetime([t for t, _ in points]).tz_localize(None).to_numpy()
        axes.plot(times, [v for _, v in points], marker="o", label=f"live ({metric})")
    else:
        axes.text(0.5, 0.5, "no period with enough labels yet", ha="center", va="center", transform=axes.transAxes)
        window = pd.to_datetime([result.window.since, result.window.until]).tz_localize(None).to_numpy()
        axes.plot(window, [np.nan, np.nan])  # a time axis over the window
    holdout = performance.holdout.get(metric)
    if holdout is not None:
        axes.axhline(holdout, color="tab:green", label="holdout")
    limit = next((c.limit for c in performance.checks if c.metric == metric), None)
    if limit is not None:
        axes.axhline(limit, color="tab:red", linestyle="--", label="worst acceptable")
    axes.set_title(f"{metric} of the production model on labelled live rows", fontsize=10)
    axes.set_ylabel(metric)
    axes.tick_params(axis="x", labelrotation=30)
    axes.legend(fontsize=8)
    with io.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)


def label_arrival(rows: LiveRows | pd.DataFrame, labels: pd.DataFrame, frequency: str) -> pd.DataFrame:
    """Per period: labels received, predictions made, and the share of those predictions labelled so far."""
    received = labels[store.TS].dt.floor(frequency).value_counts() if len(labels) else pd.Series(dtype="int64")
    if len(rows):
        names = [name for name in (store.ID, store.TS) if name in rows.columns]
        logged = rows.frame(names) if isinstance(rows, LiveRows) else rows[names]
        made = logged[store.TS].dt.floor(frequency)
        labelled = False
        if store.ID in logged.columns and len(labels):
            ids = pa.array(logged[store.ID].astype(str))
            labelled = pc.is_in(ids, value_set=pa.array(labels[store.ID].astype(str))).to_numpy(zero_copy_only=False)
        frame = pd.DataFrame({"period": made, "labelled": labelled}).groupby("period")["labelled"].agg(["size", "mean"])
    else:
        frame = pd.DataFrame({"size": pd.Series(dtype="int64"), "mean": pd.Series(dtype="float64")})
    table = pd.DataFrame({"received": received}).join(frame, how="outer").fillna({"received": 0, "size": 0})
    return table.rename(columns={"size": "predictions", "mean": "labelled_share"}).sort_index()


def plot_labels(table: pd.DataFrame, path: Path, frequency: str) -> None:
    """Bars: labels received per period; line: the share of that period's predictions labelled so far."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.5))
    figure.subplots_adjust(left=0.1, right=0.9, top=0.88, bottom=0.22)
    axes = figure.add_subplot()
    width = 0.8 / 24 if frequency == "h" else 0.8  # matplotlib's time unit is the day
    if len(table):
        axes.bar(table.index, table["received"], width=width, color="tab:blue", label="labels received")
        share = axes.twinx()
        share.plot(table.index, table["labelled_share"] * 100, color="tab:orange", marker="o", label="labelled")
        share.set_ylim(0, 105)
        share.set_ylabel("% of the predictions labelled")
    else:
        axes.text(0.5, 0.5, "no traffic, no labels", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(f"Label arrival (per {'hour' if frequency == 'h' else 'day'})", fontsize=10)
    axes.set_ylabel("labels received")
    axes.tick_params(axis="x", labelrotation=30)
    with io.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)


def _labelling_lines(performance: Performance) -> list[str]:
    """Which predictions were judged (the label delay), how complete their labels are, and selection bias."""
    lines: list[str] = []
    window = performance.window
    if window is not None and window.until != window.labels_until:
        lines += [
            "",
            f"Labels arrive late (`monitor.label_delay` {window.label_delay}): judged are the predictions made from "
            f"{window.since:%Y-%m-%d %H:%M} to {window.until:%Y-%m-%d %H:%M} UTC, with every label arrived by "
            f"{window.labels_until:%Y-%m-%d %H:%M} UTC.",
        ]
    if performance.label_completeness:
        days = performance.label_completeness
        lines += ["", "| day of prediction | predictions | labelled | share |", "|---|---|---|---|"]
        lines += [f"| {d.day} | {d.predictions} | {d.labelled} | {d.share:.0%} |" for d in days[-14:]]
    bias = performance.selection_bias
    if bias is not None:
        said = (
            "the labelled predictions differ from the unlabelled ones: labels come back for some kinds of prediction "
            "more than others, and the live metrics may not hold for the rest"
            if bias.p_value < SELECTION_ALPHA
            else "no sign that the labelled predictions differ from the unlabelled ones"
        )
        lines += [
            "",
            f"Selection bias: {said} (Kolmogorov-Smirnov on {bias.score}, {bias.labelled} labelled against "
            f"{bias.unlabelled} unlabelled: statistic {bias.statistic:.3f}, p {bias.p_value:.3g}).",
        ]
    return lines


def _performance_lines(performance: Performance) -> list[str]:
    verdict = {"ok": "**OK**", "degraded": "**Degraded**", NOT_ENOUGH: "**Not enough labels**"}[performance.verdict]
    lines = [
        "## Live performance",
        "",
        f"{verdict}: {performance.labels} live predictions with a label"
        + (
            f", fewer than `monitor.min_labels` {performance.min_labels}: no verdict, neither a pass nor a failure."
            if performance.verdict == NOT_ENOUGH and performance.labels < performance.min_labels
            else f": {performance.why}; no verdict, neither a pass nor a failure."
            if performance.verdict == NOT_ENOUGH
            else f" (at least {performance.min_labels}, {performance.min_labels_per_class} of each class, needed)."
        ),
    ]
    if performance.unusable_labels:
        lines[-1] += f" {performance.unusable_labels} labels the model's type cannot hold were left out."
    lines += [
        "",
        f"The production model scores the labelled live rows and its {performance.holdout_labels} holdout rows; "
        "each metric's difference live - holdout is tested with both samples uncertain (DeLong's test for a binary "
        f"roc_auc, else a two-sample bootstrap of {performance.bootstrap} resamples, each class's count kept). A "
        f"metric is degraded when it is worse than the holdout value by more than {performance.margin:.0%} of the "
        "holdout's error, with a p-value, Holm-adjusted across the metrics and windows, at most this look's level "
        f"{performance.alpha_look:.2g}: {performance.alpha:.0%} spent over `monitor.looks_per_month` "
        f"{performance.looks_per_month} looks (a month of daily looks at overlapping windows raises a false alarm "
        f"with probability at most {performance.alpha:.0%}). Intervals at {performance.confidence:.0%}.",
        "",
        "| metric | holdout | live | interval | worst acceptable | Holm p | degraded |",
        "|---|---|---|---|---|---|---|",
    ]
    checks = {check.metric: check for check in performance.checks}
    lines[3:3] = _labelling_lines(performance)
    for name in performance.judged:
        check = checks.get(name)
        live = performance.live.get(name)
        if check is None:
            lines.append(f"| {name} | {_number(performance.holdout.get(name))} | {_number(live)} | - | - | - | - |")
            continue
        state = "**yes**" if check.degraded else (check.note or "no")
        lines.append(
            f"| {name} | {_number(check.holdout)} | {_number(check.live)} | "
            f"[{_number(check.low)}, {_number(check.high)}] | {_number(check.limit)} | "
            f"{'-' if check.p_adjusted is None else f'{check.p_adjusted:.2g}'} | "
            f"{state} |"
        )
    return lines + _window_lines(performance)


def _window_lines(performance: Performance) -> list[str]:
    """The windows a look tested: the whole window and its recent parts (`monitor.recent_windows`)."""
    if len(performance.windows) < 2:
        return []
    lines = [
        "",
        "Windows tested: the whole window, and its last `monitor.recent_windows` (each ending where it ends: an abrupt "
        "drop shows there a day or two before it moves the whole window), Holm across every window and metric.",
        "",
        "| window | predictions from (UTC) | labels | verdict | degraded metrics (Holm p) |",
        "|---|---|---|---|---|",
    ]
    for window in performance.windows:
        since = "-" if window.since is None else window.since[:16].replace("T", " ")
        degraded = ", ".join(
            f"{c.metric} ({c.p_adjusted:.2g})" for c in window.checks if c.degraded and c.p_adjusted is not None
        )
        verdict = f"{window.verdict}: {window.why}" if window.why else window.verdict
        if window.why.startswith("not tested"):
            verdict = window.why
        name = f"{window.length} (whole)" if window.whole else f"last {window.length}"
        lines.append(f"| {name} | {since} | {window.labels} | {verdict} | {degraded or '-'} |")
    return lines


def _traffic_lines(result: MonitorResult) -> list[str]:
    traffic = result.traffic
    lines = [
        "## Traffic",
        "",
        f"{traffic.logged} rows logged in the window: {traffic.live} live ({traffic.test} test rows left "
        f"out), {traffic.distinct} distinct records (a record logged again under its id counts once); "
        f"{traffic.feedback} labels received.",
    ]
    if traffic.batch:
        lines[-1] += f" {traffic.batch} of the rows are batch scoring's (`predict --log`), " + (
            "judged with the service's (`monitor.include_batch`)."
            if traffic.batch_included
            else "left out (`monitor.include_batch: false`)."
        )
    versions = result.versions
    others = sum(versions.other_rows.values())
    if versions.judged is None:
        lines += ["", "Judged: the rows of every model version (`--all-versions`)."]
    else:
        lines += [
            "",
            f"Judged: the rows of `{versions.judged}` (the production model's, or `--version`'s); "
            + (
                f"{others} rows of other versions ({', '.join(f'`{k}` {n}' for k, n in versions.other_rows.items())}) "
                "were counted, not judged: `--version V` judges a canary, `--all-versions` mixes them."
                if others
                else "no other version logged in the window."
            ),
        ]
    if traffic.versions:
        names = sorted({name for entry in traffic.versions.values() for name in entry.metrics})
        lines += [
            "",
            "| model version | records | first | last | labels | "
            + "".join(f"served {name} | " for name in names)
            + "agrees with production |",
            "|---|---|---|---|---|" + "---|" * len(names) + "---|",
        ]
        for version, entry in traffic.versions.items():
            agreement = "-" if entry.agreement is None else f"{entry.agreement:.1%}"
            lines.append(
                f"| `{version}` | {entry.rows} | {entry.first[:16]} | {entry.last[:16]} | {entry.labels} | "
                + "".join(f"{_number(entry.metrics.get(name))} | " for name in names)
                + f"{agreement} |"
            )
    return lines


def markdown(result: MonitorResult) -> str:
    """monitor.md: the findings, the traffic per model version, data drift and live performance."""
    found: dict[Finding, str] = {
        "drift": "data drift",
        "degraded": "degraded performance",
        "estimated": "performance estimated to degrade (before the labels)",
    }
    headline = (
        "**Findings: " + ", ".join(found[name] for name in result.findings) + "**"
        if result.findings
        else "**No finding**"
    )
    model = result.model
    who = (
        f"the production model `{model.version}` (commit `{(model.commit or '')[:7]}`, tag `{model.ref}`; "
        f"{model.source})"
        if model.version
        else model.source
    )
    drift = result.drift
    drifted = ", ".join(f"`{name}`" for name in drift.drifted_features[:10])
    said = drift.summary
    lines = [
        "# Production monitoring",
        "",
        f"{headline}. Window: {result.window.since:%Y-%m-%dT%H:%M} to {result.window.until:%Y-%m-%dT%H:%M} UTC "
        f"({result.window.length}); store `{result.store}`; live traffic only. Judged against {who}.",
        "",
        *_traffic_lines(result),
        "",
        "## Data drift",
        "",
        f"**{said[: len(drift.verdict)].capitalize()}**{said[len(drift.verdict) :]}."
        + (f" Drifted: {drifted}." if drifted else ""),
        f"Every column, its statistics and plots: [drift.md]({Path(drift.report).name}).",
        *monitor_drift_lines(result.multivariate, result.score_drift),
        "",
        *_performance_lines(result.performance),
        "",
        "![performance over time](monitor/performance.png)",
        "",
        "![label arrival](monitor/labels.png)",
        "",
        *estimated_lines(result.estimation, result.before_labels_note),
        "",
        *slice_lines(result.slices, result.before_labels_note),
    ]
    return "\n".join(lines) + "\n"


def write_monitor_reports(
    result: MonitorResult, rows: LiveRows | pd.DataFrame, labels: pd.DataFrame, frequency: str
) -> list[Path]:
    """Write the plots, monitor.md and monitor.json (last); the paths written."""
    performance_png, labels_png = MONITOR_PLOTS_DIR / "performance.png", MONITOR_PLOTS_DIR / "labels.png"
    plot_performance(result, performance_png)
    plot_labels(label_arrival(rows, labels, frequency), labels_png, frequency)
    estimated_png = MONITOR_PLOTS_DIR / "estimated.png"
    plot_estimated(result.estimation, estimated_png)
    io.write_text(markdown(result), MONITOR_REPORT)
    plots = {"performance": performance_png, "labels": labels_png, "estimated": estimated_png}
    written = replace(result, plots={name: path.as_posix() for name, path in plots.items()})
    io.write_json(finite(written.to_json()), MONITOR_FILE)
    return [MONITOR_FILE, MONITOR_REPORT, MONITOR_PLOTS_DIR]
