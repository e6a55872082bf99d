"""monitor.md's sections on what is known before the labels: the estimated performance per day (with
reports/monitor/estimated.png) and the slices that degrade. monitor_report.py places them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from .estimate import Estimation
from .slices import SliceSearch

METHODS = {
    "CBPE": "confidence-based performance estimation: the model's probabilities, calibrated on its holdout, "
    "are each row's chance of each class",
    "DLE": "direct loss estimation: a model of the holdout's errors from the model's inputs and its prediction",
}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def estimated_lines(estimation: Estimation | None, note: str) -> list[str]:
    """The estimate against the holdout's, and the table of days: estimated, interval, realized, labelled."""
    lines = ["## Estimated performance (before the labels)", ""]
    if estimation is None:
        return [*lines, f"Not estimated: {note or '`monitor.estimate` is off'}."]
    e = estimation
    said = (
        f"**Degraded (estimated)**: the window's {e.metric} is estimated at {_number(e.estimate)}, worse than "
        f"{_number(e.limit)} (the holdout's own estimate {_number(e.holdout_estimate)}, less {e.margin:.0%} of its "
        "error) beyond the sampling of either side: the model is expected to do worse on these rows, before any "
        "label says so."
        if e.degraded
        else f"**OK (estimated)**: the window's {e.metric} is estimated at {_number(e.estimate)} "
        f"(interval [{_number(e.low)}, {_number(e.high)}]) against the holdout's own estimate "
        f"{_number(e.holdout_estimate)} (realized there: {_number(e.holdout)}); degraded would be worse than "
        f"{_number(e.limit)}."
    )
    sampled = f" (a uniform sample of the window's {e.window_rows})" if e.rows < e.window_rows else ""
    lines += [
        said,
        "",
        f"{e.method}, {METHODS[e.method]}, on {e.rows} rows{sampled}. It holds when the features move and the "
        "relation of the target to them does not (covariate shift); a change in that relation (concept drift) "
        "shows only in the labels. Each day's interval is where its realized value should fall once every label "
        f"is in ({e.confidence:.0%}: the holdout's sampling error at the day's rows, plus the holdout's own).",
        "",
        f"| day of prediction | predictions | estimated {e.metric} | interval | realized | labelled |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {d.day} | {d.rows} | {_number(d.estimate)} | [{_number(d.low)}, {_number(d.high)}] | "
        f"{_number(d.realized)} | {d.completeness:.0%} |"
        for d in e.days[-31:]
    ]
    return [*lines, "", "![estimated performance](monitor/estimated.png)"]


def slice_lines(search: SliceSearch | None, note: str) -> list[str]:
    """The slices that degrade: predicates, rows, loss, gap with its interval, q-value."""
    lines = ["## Slices that degrade", ""]
    if search is None:
        return [*lines, f"Not searched: {note or '`monitor.slices.top` is 0'}."]
    overall = "-" if not np.isfinite(search.overall) else f"{search.overall:.4f}"
    lines.append(
        f"Per-row loss: {search.loss}; {search.rows} rows searched ({search.labelled} labelled), mean loss {overall}; "
        f"{search.tested} slices tested (a category, a decile bin of a number, or a pair), Benjamini-Hochberg "
        f"q-values across them; reported: q < {search.alpha:g}, the surest first. The gap is the slice's loss minus "
        "the overall, with its interval (not adjusted for the search: the q-value is)."
    )
    if not search.found:
        return [*lines, "", "**No slice** does worse than the rest beyond chance."]
    lines += ["", "| slice | rows | loss | gap | interval | q-value |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {' and '.join(f'`{p}`' for p in s.predicates)} | {s.n} | {s.loss:.4f} | +{s.gap:.4f} | "
        f"[{s.low:+.4f}, {s.high:+.4f}] | {s.q_value:.3g} |"
        for s in search.found
    ]
    return lines


def plot_estimated(estimation: Estimation | None, path: Path) -> None:
    """The estimated metric per day with its interval, the realized value where labels are in, the bar and limit."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.5))
    figure.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.22)
    axes = figure.add_subplot()
    days = [d for d in estimation.days if d.estimate is not None] if estimation is not None else []
    if estimation is not None and days:
        times = pd.to_datetime([d.day for d in days]).to_numpy()
        values = np.array([[d.estimate, d.low, d.high] for d in days], dtype=float)  # None: nan
        axes.plot(times, values[:, 0], marker="o", label=f"estimated ({estimation.method})")
        axes.fill_between(times, values[:, 1], values[:, 2], alpha=0.2, label="interval")
        seen = [(t, d.realized) for t, d in zip(times, days, strict=True) if d.realized is not None]
        if seen:
            axes.plot([t for t, _ in seen], [v for _, v in seen], "s", color="black", label="realized")
        if estimation.holdout_estimate is not None:
            axes.axhline(estimation.holdout_estimate, color="tab:green", label="holdout (estimated)")
        if estimation.limit is not None:
            axes.axhline(estimation.limit, color="tab:red", linestyle="--", label="worst acceptable")
        axes.set_ylabel(estimation.metric)
        axes.legend(fontsize=8)
    else:
        axes.text(0.5, 0.5, "no estimate", ha="center", va="center", transform=axes.transAxes)
    axes.set_title("Estimated performance per day of prediction, and realized where labelled", fontsize=10)
    axes.tick_params(axis="x", labelrotation=30)
    with io.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
