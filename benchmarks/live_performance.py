"""Live performance over a month of daily looks: false alarms with no change, and how fast an AUC drop is found.

A binary classifier's scores are binormal (the positives' shifted by sqrt(2) * z(AUC); 30 % positives). A monitor job
runs every day on a 7-day window of labels (overlapping windows, as `drift.yml` runs `monitor` daily with
`monitor.window` 7d) against the production model's holdout, judging roc_auc with its guardrails balanced_accuracy
and log_loss, as the generated project's `monitor/performance.py` (`assess`) judges them:
- no change: MONTHS months of 30 daily looks, each month a new deployment with a holdout of its own (AUC 0.90);
  a month with at least one "degraded" look is a false alarm;
- a drop: the model's AUC falls by 0.07 (0.95 -> 0.88) from one day on; the delay is the number of daily runs,
  counting the first whose window holds changed labels, until the first "degraded" (SEEDS seeds; "never": not within
  the 12 runs simulated).
The null at `monitor.margin` 0 (any loss at all counts: the hardest null); the drop at margin 0 and at the default 0.5
(a loss beyond half the holdout's error, 0.025 of AUC at 0.95: the window's AUC passes it only once about 3 of its 7
days carry the drop).
Recent windows (`monitor.recent_windows`): each look also tests the trailing days of its window (the last 1d, 3d...),
Holm across every window and metric at the same level per look. Rows with "none" test the whole window alone (the
test before recent windows); the drop table compares sets of recent windows at the default margin (the default set
chosen from it), and a smaller persistent drop (0.05) says what the extra tests cost the whole window's power.
Against the test as it was before issue 27 ("before"): the holdout's value taken as exact, a 200-resample percentile
interval of the live rows alone, each metric one-sided at 2.5 % with no correction and no spending over the looks.

    python benchmarks/live_performance.py [--project PATH] [--months 20] [--seeds 20] [--scan]

--scan: only the drop rows of the candidate sets of recent windows (to choose the default), nothing written.

Bakes the defaults into build/bench-live-performance (or uses a baked, set-up PATH) to import its code.
Writes benchmarks/results/live_performance.md.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from common import ROOT, run_inner, set_up_project, write_results

WORK = ROOT / "build" / "bench-live-performance"
RESULTS = ROOT / "benchmarks" / "results" / "live_performance.md"

INNER = r"""
import json, math, sys, time
from datetime import UTC, datetime, timedelta
import numpy as np
import pandas as pd
from scipy import stats
from PACKAGE.metrics import METRICS, Predictions
from PACKAGE.monitor.label_delay import PerformanceWindow
from PACKAGE.monitor.performance import assess
from PACKAGE.params import MonitorParams

months, seeds, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
JUDGED = ["roc_auc", "balanced_accuracy", "log_loss"]
DEFAULT = list(MonitorParams().recent_windows)
START = datetime(2026, 1, 1, tzinfo=UTC)

def binormal(rng, rows, auc):
    actual = (rng.random(rows) < 0.3).astype(int)
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, rows) + actual * np.sqrt(2) * stats.norm.ppf(auc) - 1)))
    return actual, score

def predictions(actual, score):
    return Predictions("classification", actual, (score > 0.5).astype(int), np.c_[1 - score, score], [0, 1])

def before(live, holdout, margin, seed):
    # the test before issue 27: the holdout's value exact, 200 resamples of the live rows, 2.5 % one-sided per metric
    rng = np.random.default_rng(seed)
    draws = [live.scores(rng.integers(0, len(live.actual), len(live.actual))) for _ in range(200)]
    point = holdout.scores()
    for name in JUDGED:
        spec = METRICS[name]
        values = np.array([d[name] for d in draws])
        limit = point[name] - margin * spec.error(point[name]) * (1 if spec.higher_is_better else -1)
        if spec.higher_is_better and np.percentile(values, 97.5) < limit:
            return True
        if not spec.higher_is_better and np.percentile(values, 2.5) > limit:
            return True
    return False

def looks(seed, days, per_day, holdout_rows, auc, drop, change, first):
    # (day, live rows of the 7-day window, their prediction times, the window, holdout); day d's rows are predicted
    # during day d (times from a generator of their own: the labels and scores are those of the rows without times)
    rng = np.random.default_rng(seed)
    clock = np.random.default_rng(seed + 10**6)
    holdout = predictions(*binormal(rng, holdout_rows, auc))
    daily = [binormal(rng, per_day, auc - (drop if day >= change else 0.0)) for day in range(days)]
    offsets = [day + clock.random(per_day) for day in range(days)]
    for day in range(max(first, 6), days):
        window = daily[day - 6 : day + 1]
        live = predictions(np.concatenate([d[0] for d in window]), np.concatenate([d[1] for d in window]))
        times = pd.Series(pd.Timestamp(START) + pd.to_timedelta(np.concatenate(offsets[day - 6 : day + 1]), unit="D"))
        judged = PerformanceWindow(START + timedelta(days=day - 6), START + timedelta(days=day + 1),
                                   START + timedelta(days=day + 1), "0d")
        yield day, live, times, judged, holdout

def look(live, holdout, settings, day, times, judged):
    return assess(live, holdout, settings, JUDGED, seed=day, times=times, window=judged)

def no_change(margin, per_day, holdout_rows, recent, compare=True):
    settings = MonitorParams(margin=margin, recent_windows=recent)
    month_alarms = {"after": 0, "before": 0}
    look_alarms = {"after": 0, "before": 0}
    count = 0
    for month in range(months):
        found = {"after": False, "before": False}
        for day, live, times, judged, holdout in looks(10_000 + month, 36, per_day, holdout_rows, 0.90, 0.0, 10**6, 6):
            after = look(live, holdout, settings, day, times, judged).degraded
            was = before(live, holdout, margin, day) if compare else False
            look_alarms["after"] += after
            look_alarms["before"] += was
            found["after"] |= after
            found["before"] |= was
            count += 1
        for key in found:
            month_alarms[key] += found[key]
    return {"months": months, "looks": count, "month_alarms": month_alarms, "look_alarms": look_alarms,
            "per_day": per_day, "holdout_rows": holdout_rows, "margin": margin, "recent": recent, "compare": compare}

def drop(margin, per_day, holdout_rows, recent, compare=True, size=0.07, change=10, horizon=12):
    settings = MonitorParams(margin=margin, recent_windows=recent)
    delays = {"after": [], "before": []}
    early = {"after": 0, "before": 0}
    windows = {}  # the window that found the drop first
    for seed in range(seeds):
        first = {"after": None, "before": None if compare else math.inf}
        for day, live, times, judged, holdout in looks(seed, change + horizon, per_day, holdout_rows, 0.95, size,
                                                       change, change - 1):
            result = look(live, holdout, settings, day, times, judged)
            verdicts = {"after": result.degraded, "before": before(live, holdout, margin, day) if compare else False}
            for key, alarmed in verdicts.items():
                if alarmed and day < change:
                    early[key] += 1
                if alarmed and day >= change and first[key] is None:
                    first[key] = day - change + 1
                    if key == "after":
                        for length in result.degraded_windows:
                            windows[length] = windows.get(length, 0) + 1
            if None not in first.values():
                break
        for key in delays:
            delays[key].append(first[key] if first[key] is not None else math.inf)
    summary = {}
    for key, values in delays.items():
        values = np.array(values, dtype=float)
        p90 = float(np.percentile(values, 90))  # nan when the 90th percentile falls among the never-found
        summary[key] = {"median": float(np.median(values)), "p90": math.inf if math.isnan(p90) else p90,
                        "within3": float(np.mean(values <= 3)), "missed": int(np.isinf(values).sum()),
                        "early": early[key]}
    return {"seeds": seeds, "per_day": per_day, "holdout_rows": holdout_rows, "margin": margin, "delays": summary,
            "recent": recent, "compare": compare, "size": size, "found_by": windows}

CANDIDATES = [["1d"], ["2d"], ["3d"], ["1d", "3d"]]
started = time.perf_counter()
if mode == "scan":
    drops = [drop(0.5, 1000, 5000, c, compare=False) for c in [[], *CANDIDATES, ["1d", "2d", "4d"]]]
    drops += [drop(0.5, 1000, 5000, c, compare=False, size=0.05) for c in [[], *CANDIDATES]]
    drops += [drop(0.5, 300, 2000, c, compare=False) for c in [[], *CANDIDATES]]
    print(json.dumps({"nulls": [], "drops": drops, "elapsed": time.perf_counter() - started}))
    sys.exit(0)
nulls = [no_change(0.0, 60, 400, []), no_change(0.0, 300, 2000, []),
         no_change(0.0, 60, 400, DEFAULT, compare=False), no_change(0.0, 300, 2000, DEFAULT, compare=False)]
drops = [drop(0.0, 300, 2000, []), drop(0.0, 1000, 5000, []), drop(0.5, 1000, 5000, [])]
drops += [drop(0.5, 1000, 5000, c, compare=False) for c in CANDIDATES]
drops += [drop(0.5, 300, 2000, c, compare=False) for c in [[], *CANDIDATES]]
drops += [drop(0.0, 300, 2000, DEFAULT, compare=False)]
drops += [drop(0.5, 1000, 5000, c, compare=False, size=0.05) for c in ([], DEFAULT)]
elapsed = time.perf_counter() - started
timing = {}
for rows in (7000, 100_000):
    rng = np.random.default_rng(1)
    live, holdout = predictions(*binormal(rng, rows, 0.9)), predictions(*binormal(rng, 5000, 0.9))
    times = pd.Series(pd.Timestamp(START) + pd.to_timedelta(np.sort(rng.random(rows)) * 7, unit="D"))
    judged = PerformanceWindow(START, START + timedelta(days=7), START + timedelta(days=7), "0d")
    for recent in ([], DEFAULT):
        settings = MonitorParams(recent_windows=recent)
        assess(live, holdout, settings, JUDGED, seed=0, times=times, window=judged)
        best = math.inf
        for _ in range(3):
            t = time.perf_counter()
            assess(live, holdout, settings, JUDGED, seed=0, times=times, window=judged)
            best = min(best, time.perf_counter() - t)
        timing[f"{rows} {'+'.join(recent) or 'none'}"] = best
print(json.dumps({"nulls": nulls, "drops": drops, "elapsed": elapsed, "timing": timing, "default": DEFAULT,
                  "bootstrap": MonitorParams().bootstrap, "looks_per_month": MonitorParams().looks_per_month}))
"""


def recent(row: dict) -> str:
    """A row's recent windows, as `monitor.recent_windows` lists them."""
    return ", ".join(row["recent"]) or "none"


def runs(value: float | str) -> str:
    """Daily runs until found: "never" past the 12 runs simulated."""
    return value if isinstance(value, str) else "never" if math.isinf(value) else f"{value:g}"


def drop_lines(drops: list[dict]) -> list[str]:
    """The drop table."""
    lines = [
        "| drop | labels a day | holdout rows | margin | recent windows | seeds | median runs, after | before "
        "| 90th pct, after | before | found within 3 runs, after | before | alarms before the change, after | before "
        "| first found by |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in drops:
        after, was = row["delays"]["after"], row["delays"]["before"]
        if not row["compare"]:
            was = {"median": "-", "p90": "-", "within3": "-", "early": "-"}
        else:
            was = was | {"within3": f"{was['within3']:.0%}"}
        found_by = ", ".join(f"{length} {count}" for length, count in sorted(row["found_by"].items()))
        lines.append(
            f"| {row['size']:g} | {row['per_day']} | {row['holdout_rows']} | {row['margin']:g} | {recent(row)} "
            f"| {row['seeds']} | {runs(after['median'])} | {runs(was['median'])} | {runs(after['p90'])} "
            f"| {runs(was['p90'])} "
            f"| {after['within3']:.0%} | {was['within3']} | {after['early']} | {was['early']} | {found_by} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a baked project with its .venv (default: bake one)")
    parser.add_argument("--months", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--scan", action="store_true", help="only the candidate sets of recent windows; no file")
    args = parser.parse_args()
    project = set_up_project(WORK, args.project)
    measured = run_inner(project, INNER, args.months, args.seeds, "scan" if args.scan else "full")
    if args.scan:
        print(f"{measured['elapsed']:.0f} s")
        print("\n".join(drop_lines(measured["drops"])))
        return 0
    load = os.getloadavg()[0]
    lines = [
        f"Simulated daily `monitor` looks at 7-day windows of labels (see the script's docstring), {os.cpu_count()} "
        f'cores (load {load:.1f}), Python {sys.version.split()[0]}, {measured["elapsed"]:.0f} s in all. "after": '
        f"`monitor/performance.py` as shipped ({measured['bootstrap']} two-sample resamples, DeLong for roc_auc, Holm "
        f"across the three metrics and the windows tested, each look at 5 % / {measured['looks_per_month']}; recent "
        f"windows as the row says, the default `monitor.recent_windows` being {', '.join(measured['default'])}); "
        '"before": the test before issue 27 (the holdout\'s value exact, 200 resamples of the live rows, 2.5 % '
        'one-sided per metric, no correction; "-": not run, the same as the row with no recent windows).',
        "",
        "### No change: false alarms (AUC 0.90 throughout)",
        "",
        "| labels a day | holdout rows | margin | recent windows | months (looks) | months with a false alarm, after "
        "| before | looks alarmed, after | before |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in measured["nulls"]:
        months, looks = row["months"], row["looks"]
        was_months = f"{row['month_alarms']['before'] / months:.1%}" if row["compare"] else "-"
        was_looks = f"{row['look_alarms']['before'] / looks:.2%}" if row["compare"] else "-"
        lines.append(
            f"| {row['per_day']} | {row['holdout_rows']} | {row['margin']:g} | {recent(row)} | {months} ({looks}) "
            f"| {row['month_alarms']['after'] / months:.1%} | {was_months} "
            f"| {row['look_alarms']['after'] / looks:.2%} | {was_looks} |"
        )
    lines += [
        "",
        "### An AUC drop (0.95 -> 0.88; 0.95 -> 0.90 in the last rows): daily runs until found",
        "",
        'Runs counted from the first whose window holds changed labels; "first found by": in how many seeds each '
        "window was among those degraded at the first alarm (7d: the whole window).",
        "",
        *drop_lines(measured["drops"]),
    ]
    timing = measured["timing"]
    default = "+".join(measured["default"]) or "none"
    lines += [
        "",
        f"One look (`assess`, three metrics, 5,000 holdout rows, labels spread over 7 days): "
        f"{timing['7000 none']:.2f} s with 7,000 live labels and no recent window, {timing['7000 ' + default]:.2f} s "
        f"with the default recent windows; {timing['100000 none']:.2f} s and {timing['100000 ' + default]:.2f} s "
        "with 100,000 (resamples of `monitor.bootstrap_rows` 20,000, scaled back; the holdout's resamples shared by "
        "the windows). Best of 3.",
    ]
    write_results(RESULTS, "# Live performance: a month of daily looks\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
