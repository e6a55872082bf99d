"""Performance estimated before the labels: the generated project's CBPE and DLE (`monitor/estimate.py`) against
NannyML 0.13's, on the same model outputs, per day, beside the realized value.

The data are synthetic and seeded, so the truth is known. Six features; the model is fitted on 4,000 training rows,
its holdout (the reference both methods calibrate on) is 3,000 rows, and 14 days of 2,000 live rows follow:
- classification: the label's log-odds are linear in the features plus an interaction the model (a scaled
  logistic regression) cannot fit; from day 8 the first feature's mean moves by +1 (covariate shift: P(y | x)
  unchanged, the realized AUC and accuracy move);
- regression: the target is linear plus a sine term, its noise grows with the first feature's size; the model is
  a ridge; from day 8 the first feature's mean moves by +1.5 (the errors grow where the noise is larger).

Ours runs in the project's venv (`fit` on the holdout, `Estimator.expected` per day); NannyML's `CBPE`
(`classification_binary`, calibrated on the reference) and `DLE` (LightGBM, no tuning) run in a venv of their own
(build/bench-venvs/nannyml), chunked by day, on the same model outputs (and, for DLE, the same features).

    python benchmarks/estimate.py [--project PATH] [--seed 0]

Bakes the defaults into build/bench-estimate (or uses a baked, set-up PATH) to import its code.
Writes benchmarks/results/estimate.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from common import ENV, ROOT, run_inner, set_up_project, venv, write_results

WORK = ROOT / "build" / "bench-estimate"
RESULTS = ROOT / "benchmarks" / "results" / "estimate.md"
NANNYML = ["nannyml==0.13.1", "statsmodels>=0.14,<0.15"]  # nannyml imports statsmodels and does not require it
GOAL = 0.02  # the issue: on unshifted days the estimate tracks the realized metric within +-0.02

INNER = r"""
import json, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score
from PACKAGE.monitor.estimate import fit

seed, folder = int(sys.argv[1]), Path(sys.argv[2])
rng = np.random.default_rng(seed)
FEATURES = [f"x{i}" for i in range(6)]
DAYS, DAY_ROWS, SHIFT_FROM = 14, 2000, 8

def features(n, shift):
    x = rng.normal(0, 1, (n, 6))
    x[:, 0] += shift
    return pd.DataFrame(x, columns=FEATURES)

def classification(x):
    logit = 1.2 * x.x0 - 0.8 * x.x1 + 0.5 * x.x2 + 0.6 * x.x0 * x.x3
    return (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(int)

def regression(x):
    return 2 * x.x0 - x.x1 + np.sin(2 * x.x2) + rng.normal(0, 0.5 + 0.5 * np.abs(x.x0), len(x))

out = {}
for task, truth, model, metrics, shift in [
    ("classification", classification, make_pipeline(StandardScaler(), LogisticRegression()),
     ["roc_auc", "accuracy"], 1.0),
    ("regression", regression, make_pipeline(StandardScaler(), Ridge()), ["mae", "rmse"], 1.5),
]:
    train = features(4000, 0.0)
    model.fit(train, truth(train))
    holdout = features(3000, 0.0)
    holdout_y = truth(holdout)
    days = []
    for day in range(DAYS):
        x = features(DAY_ROWS, shift if day + 1 >= SHIFT_FROM else 0.0)
        days.append((x, truth(x)))
    started = time.process_time()
    estimator = fit(model, holdout, pd.Series(holdout_y), task, seed)
    ours = [{m: estimator.expected(estimator.rows(x), m) for m in metrics} for x, _ in days]
    seconds = time.process_time() - started
    realized = []
    for x, y in days:
        if task == "classification":
            p = model.predict_proba(x)[:, 1]
            realized.append({"roc_auc": roc_auc_score(y, p), "accuracy": accuracy_score(y, (p > 0.5).astype(int))})
        else:
            e = y - model.predict(x)
            realized.append({"mae": float(np.mean(np.abs(e))), "rmse": float(np.sqrt(np.mean(e**2)))})
    def outputs(x, y, start):
        frame = x.copy()
        frame["y_true"] = y
        frame["timestamp"] = pd.Timestamp(start) + pd.to_timedelta(np.linspace(0, 0.999, len(x)), unit="D")
        if task == "classification":
            frame["y_pred_proba"] = model.predict_proba(x)[:, 1]
            frame["y_pred"] = (frame["y_pred_proba"] > 0.5).astype(int)
        else:
            frame["y_pred"] = model.predict(x)
        return frame
    outputs(holdout, holdout_y, "2026-01-01").to_parquet(folder / f"{task}-reference.parquet")
    live = pd.concat([outputs(x, y, f"2026-02-{d + 1:02d}") for d, (x, y) in enumerate(days)], ignore_index=True)
    live.to_parquet(folder / f"{task}-analysis.parquet")
    out[task] = {"metrics": metrics, "ours": ours, "realized": realized, "seconds": seconds, "shift_from": SHIFT_FROM}
print(json.dumps(out))
"""

THEIRS = r"""
import json, sys, time, warnings
import pandas as pd
import nannyml as nml

warnings.filterwarnings("ignore")
folder = sys.argv[1]
FEATURES = [f"x{i}" for i in range(6)]
out = {}
for task, metrics in [("classification", ["roc_auc", "accuracy"]), ("regression", ["mae", "rmse"])]:
    reference = pd.read_parquet(f"{folder}/{task}-reference.parquet")
    analysis = pd.read_parquet(f"{folder}/{task}-analysis.parquet").drop(columns="y_true")
    started = time.process_time()
    if task == "classification":
        method = nml.CBPE(y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="y_true",
                          timestamp_column_name="timestamp", metrics=metrics, chunk_period="D",
                          problem_type="classification_binary")
    else:
        method = nml.DLE(feature_column_names=FEATURES, y_pred="y_pred", y_true="y_true",
                         timestamp_column_name="timestamp", metrics=metrics, chunk_period="D",
                         tune_hyperparameters=False)
    method.fit(reference)
    table = method.estimate(analysis).filter(period="analysis").to_df()
    seconds = time.process_time() - started
    out[task] = {"theirs": [{m: float(table[(m, "value")].iloc[i]) for m in metrics} for i in range(len(table))],
                 "seconds": seconds}
print(json.dumps(out))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, help="a baked project with its .venv (default: bake one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    project = set_up_project(WORK, args.project)
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / "data"
    data.mkdir(exist_ok=True)
    ours = run_inner(project, INNER, args.seed, data)
    python = venv("nannyml", NANNYML)
    env = {**ENV, "NML_DISABLE_USAGE_LOGGING": "1"}
    done = subprocess.run([str(python), "-c", THEIRS, str(data)], env=env, check=True, capture_output=True, text=True)
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    lines = [
        "Performance estimated before the labels, per day of 2,000 live rows, against the realized value (see the "
        f"script's docstring; seed {args.seed}; {os.cpu_count()} cores, Python {sys.version.split()[0]}, load "
        f"{os.getloadavg()[0]:.1f}). Ours: the generated project's `monitor/estimate.py`; NannyML: 0.13.1, in a venv "
        "of its own, on the same model outputs. Days 1-7 unshifted, the shift from day 8.",
        "",
    ]
    worst_unshifted = 0.0
    for task in ("classification", "regression"):
        mine, other = ours[task], theirs[task]
        metrics, start = mine["metrics"], mine["shift_from"]
        method = "CBPE" if task == "classification" else "DLE"
        lines += [
            f"### {task}: {method}",
            "",
            "| day | " + " | ".join(f"{m} realized | ours | NannyML" for m in metrics) + " |",
            "|---:|" + "---:|---:|---:|" * len(metrics),
        ]
        errors: dict[str, dict[str, list[float]]] = {m: {"ours": [], "theirs": [], "gap": []} for m in metrics}
        for day, (real, est, nml) in enumerate(zip(mine["realized"], mine["ours"], other["theirs"], strict=True), 1):
            cells = []
            for m in metrics:
                cells.append(f"{real[m]:.3f} | {est[m]:.3f} | {nml[m]:.3f}")
                errors[m]["ours"].append(abs(est[m] - real[m]))
                errors[m]["theirs"].append(abs(nml[m] - real[m]))
                errors[m]["gap"].append(abs(est[m] - nml[m]))
                if day < start and task == "classification":  # the goal's scale: a rate or an AUC
                    worst_unshifted = max(worst_unshifted, abs(est[m] - real[m]))
            lines.append(f"| {day}{' (shift)' if day >= start else ''} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "| metric | mean abs. error vs realized, ours | NannyML | largest gap ours - NannyML | CPU s, ours "
            "| NannyML |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for m in metrics:
            lines.append(
                f"| {m} | {statistics.mean(errors[m]['ours']):.4f} | {statistics.mean(errors[m]['theirs']):.4f} | "
                f"{max(errors[m]['gap']):.4f} | {mine['seconds']:.2f} | {other['seconds']:.2f} |"
            )
        lines.append("")
    met = worst_unshifted <= GOAL
    lines.append(
        f"Goal (issue 27): on unshifted days the classifier's estimate within +-{GOAL} of the realized value: "
        f"{'met' if met else '**not met**'} (worst {worst_unshifted:.4f})."
    )
    text = "\n".join(lines)
    print(text)
    write_results(RESULTS, "# Performance estimated before the labels: ours against NannyML\n\n" + text)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
