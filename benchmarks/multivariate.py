"""Multivariate drift (issue 27): the domain classifier's power on a correlation-only shift and its false alarms under
no change, over SEEDS seeded runs a size; what it and score drift add to the time of the drift check.

The data: five standard normal features and a three-category one; the current rows' x0 and x1 get a correlation
of 0.5 (0 in the reference), so that every column's own distribution is unchanged and the per-column tests see
nothing. Each side has n rows (the current n = the reference n). Judged by monitor/multivariate.py at the defaults
(alpha 0.05, drift.multivariate_auc 0.55); the per-column verdicts of drift.detect are counted on the shifted runs.
Time: drift.detect on 20 numeric features, 10k and 1M rows a side, drift.multivariate on and off (alternating runs,
the median of each); score drift (monitor/score_drift.py) on a LiveRows of 1M logged rows.

    python benchmarks/multivariate.py [--project PATH] [--seeds 200]   # from the template root, in its .venv

Bakes the defaults into build/bench-multivariate (or uses a baked, set-up PATH) to import its code.
Writes benchmarks/results/multivariate.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from common import ROOT, run_inner, set_up_project, write_results

WORK = ROOT / "build" / "bench-multivariate"
RESULTS = ROOT / "benchmarks" / "results" / "multivariate.md"
SEEDS = 200
SIZES = (50, 200, 1000, 2000)

INNER = r"""
import json, sys, time
import numpy as np, pandas as pd, pyarrow as pa
from PACKAGE import store
from PACKAGE.columns import CATEGORICAL, NUMERIC
from PACKAGE.monitor.drift import detect
from PACKAGE.monitor.multivariate import domain_classifier
from PACKAGE.monitor.score_drift import score_drift
from PACKAGE.monitor.traffic import LiveRows
from PACKAGE.params import DriftParams

seeds, sizes = int(sys.argv[1]), [int(n) for n in sys.argv[2].split(",")]
settings = DriftParams()
floor = settings.multivariate_auc
columns_only = settings.model_copy(update={"multivariate": False})
kinds = {f"x{i}": NUMERIC for i in range(5)} | {"plan": CATEGORICAL}

def rows(rng, n, correlation=0.0):
    covariance = np.eye(5)
    covariance[0, 1] = covariance[1, 0] = correlation
    frame = pd.DataFrame(rng.multivariate_normal(np.zeros(5), covariance, n), columns=[f"x{i}" for i in range(5)])
    frame["plan"] = rng.choice(np.array(["basic", "plus", "pro"]), n, p=(0.5, 0.3, 0.2))
    return frame

table = []
for n in sizes:
    found = alarms = columns = top = 0
    aucs, null_aucs, seconds = [], [], []
    for seed in range(seeds):
        rng = np.random.default_rng(10_000 * n + seed)
        reference, shifted = rows(rng, n), rows(rng, n, 0.5)
        started = time.perf_counter()
        result = domain_classifier(reference, shifted, list(kinds), kinds, settings.alpha, floor)
        seconds.append(time.perf_counter() - started)
        found += result.drifted
        aucs.append(result.auc)
        top += {e.feature for e in result.top_features[:2]} == {"x0", "x1"}
        null = domain_classifier(rows(rng, n), rows(rng, n), list(kinds), kinds, settings.alpha, floor)
        alarms += null.drifted
        null_aucs.append(null.auc)
        if seed < 20:  # the per-column tests on the shifted data (20 runs: they cost more than the classifier)
            columns += bool(detect(reference, shifted, columns_only).drifted_features)
    table.append({"n": n, "found": found, "alarms": alarms, "top": top, "columns": columns,
                  "column_runs": min(seeds, 20), "auc": float(np.median(aucs)), "null_auc": float(np.median(null_aucs)),
                  "threshold": result.threshold, "seconds": float(np.median(seconds))})

def wide(rng, n):
    return pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"f{i}" for i in range(20)])

timing = {}
for n in (10_000, 1_000_000):
    rng = np.random.default_rng(n)
    reference, current = wide(rng, n), wide(rng, n)
    runs = {True: [], False: []}
    for repeat in range(5 if n == 10_000 else 3):
        for on in (True, False):
            started = time.perf_counter()
            detect(reference, current, settings.model_copy(update={"multivariate": on}))
            runs[on].append(time.perf_counter() - started)
    timing[n] = {"on": float(np.median(runs[True])), "off": float(np.median(runs[False]))}

class Model:
    classes_ = np.array(["no", "yes"])
    feature_names_in_ = np.array(["x"])
    def predict_proba(self, frame):
        yes = 1 / (1 + np.exp(-3 * (frame["x"].to_numpy(dtype=float) - 2.326)))
        return np.column_stack([1 - yes, yes])

rng = np.random.default_rng(1)
x = rng.normal(size=1_000_000)
proba = Model().predict_proba(pd.DataFrame({"x": x}))
struct = pa.StructArray.from_arrays([pa.array(proba[:, 0]), pa.array(proba[:, 1])], names=["no", "yes"])
logged = pa.table({"x": x, store.MODEL_VERSION: pa.array(["my_model:a"] * len(x)), store.PROBABILITIES: struct})
live = LiveRows(logged, np.ones(len(x), dtype=bool))
holdout = pd.DataFrame({"x": rng.normal(size=2000)})
score_seconds = []
for _ in range(3):
    started = time.perf_counter()
    score_drift(live, Model(), holdout, "classification", settings)
    score_seconds.append(time.perf_counter() - started)
print(json.dumps({"table": table, "timing": timing, "score_seconds": float(np.median(score_seconds)), "seeds": seeds}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a baked project with its .venv (default: bake one)")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    args = parser.parse_args()
    project = set_up_project(WORK, args.project)
    sizes = ",".join(map(str, SIZES))
    measured = run_inner(project, INNER, args.seeds, sizes)
    seeds = measured["seeds"]
    load = os.getloadavg()[0]
    lines = [
        f"Multivariate drift at the defaults (alpha 0.05, `drift.multivariate_auc` 0.55), {seeds} seeded runs a size "
        f"and side; {os.cpu_count()} cores, load {load:.1f} at the end, Python {sys.version.split()[0]}. Shifted: x0 "
        "and x1 of five standard normal features (and a 3-category one) correlated 0.5 in the current rows, 0 in the "
        "reference: no column's own distribution changes. n rows a side.",
        "",
        "| n a side | found (power) | false alarms, no change | x0 and x1 the top two | per-column tests flag a "
        "column (shifted) | median AUC shifted / unchanged | threshold | median seconds |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in measured["table"]:
        lines.append(
            f"| {row['n']} | {row['found']}/{seeds} ({row['found'] / seeds:.0%}) | {row['alarms']}/{seeds} "
            f"({row['alarms'] / seeds:.1%}) | {row['top']}/{seeds} | {row['columns']}/{row['column_runs']} | "
            f"{row['auc']:.3f} / {row['null_auc']:.3f} | {row['threshold']:.3f} | {row['seconds']:.2f} |"
        )
    timing = measured["timing"]
    lines += [
        "",
        "Time of `drift.detect` on 20 numeric features, multivariate on vs off (medians of alternating runs; the "
        "classifier sees at most 5000 rows a side):",
        "",
        "| rows a side | on | off | added |",
        "|---:|---:|---:|---:|",
    ]
    for rows, entry in timing.items():
        lines.append(
            f"| {int(rows):,} | {entry['on']:.2f} s | {entry['off']:.2f} s | {entry['on'] - entry['off']:+.2f} s |"
        )
    lines += [
        "",
        f"Score drift (`monitor/score_drift.py`) on 1,000,000 logged rows of one version, read from the Arrow table: "
        f"{measured['score_seconds']:.2f} s (median of 3).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_results(RESULTS, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
