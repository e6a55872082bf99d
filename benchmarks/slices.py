"""The slice gate's false blocks and its power: noise-only retrains, identical retrains, and a retrain worse on one
category only, each on REPEATS splits of a churn-like table with categories (plan, region).

The table: 3000 customers; churn follows tenure and charges, except on the pro plan (15 %), where longer tenure churns
more (a pattern a model learns only from the pro rows). Champion and challenger are the generated project's model
(`pipeline/train.py`: preprocessing + a random forest, 60 trees, min_samples_leaf 10) trained on the same 70 % split
(split seed = the repeat), scored on the other 30 % (900 rows) like `compare` scores them. Scenarios:
- noise-only retrain: the forest with another random_state (equal quality: every block is a false one);
- identical retrain: the same forest twice;
- worse on one plan: the challenger's training rows of the pro plan have their labels shuffled.
Gates: `overall` is the gate as before this check (non-inferiority on roc_auc and its guardrails at the default margin,
the template's `decide`); `slices` is the slice gate alone (gate/slices.py at the defaults: margin 0.5, min_rows 30,
Holm); `overall + slices` is the gate as shipped. The slice gate's cost is timed too (1000 paired resamples).

    python benchmarks/slices.py [--project PATH]   # from the template root, in its .venv (make setup)

Bakes the defaults into build/bench-slices (or uses a baked, set-up PATH) to import its code.
Writes benchmarks/results/slices.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from common import ROOT, run_inner, set_up_project, write_results

WORK = ROOT / "build" / "bench-slices"
RESULTS = ROOT / "benchmarks" / "results" / "slices.md"
REPEATS = 30

INNER = r"""
import json, sys, time
import numpy as np, pandas as pd
from PACKAGE.gate.decision import judge, slice_checks
from PACKAGE.gate.policy import GatePolicy
from PACKAGE.gate.slices import judge_slices, make_slices, slice_columns
from PACKAGE.metrics import Predictions
from PACKAGE.params import DataParams, Params, TrainParams
from PACKAGE.pipeline.train import train

repeats = int(sys.argv[1])

def table(rows, seed):
    rng = np.random.default_rng(seed)
    tenure, charges = rng.uniform(1, 72, rows), rng.normal(60, 15, rows)
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.425, 0.425, 0.15])
    region = rng.choice(["north", "south", "east", "west"], rows)
    logit = np.where(plan == "pro", 0.08 * (tenure - 36), -0.06 * (tenure - 36) + (charges - 60) / 10)
    churn = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"tenure": tenure, "charges": charges, "plan": plan, "region": region, "churn": churn})

def params(seed):
    forest = {"n_estimators": 60, "min_samples_leaf": 10, "random_state": seed}
    return Params(task="classification", data=DataParams(source="-", target="churn"),
                  train=TrainParams(estimator="random_forest", params=forest))

policy = GatePolicy.from_params(params(0))
policy = GatePolicy(**{**policy.__dict__, "max_latency_ratio": None, "max_size_ratio": None})

def shuffled(frame, seed):
    frame = frame.copy()
    rows = frame["plan"] == "pro"
    frame.loc[rows, "churn"] = np.random.default_rng(seed).permutation(frame.loc[rows, "churn"].to_numpy())
    return frame

SCENARIOS = {
    "noise-only retrain": lambda train_frame, s: (train_frame, s + 1000),
    "identical retrain": lambda train_frame, s: (train_frame, s),
    "worse on one plan (pro labels shuffled)": lambda train_frame, s: (shuffled(train_frame, s), s),
}
rows, seconds = {}, []
for name, make in SCENARIOS.items():
    blocked = {"overall": 0, "slices": 0, "overall + slices": 0}
    deltas, pro = [], []
    for seed in range(repeats):
        data = table(3000, seed)
        order = np.random.default_rng(seed).permutation(len(data))
        train_frame, test = data.iloc[order[:2100]], data.iloc[order[2100:]].reset_index(drop=True)
        features = lambda frame: frame.drop(columns="churn")
        champion_model = train(features(train_frame), train_frame["churn"], params(seed))
        challenger_frame, challenger_seed = make(train_frame, seed)
        challenger_model = train(features(challenger_frame), challenger_frame["churn"], params(challenger_seed))
        champion, challenger = (
            Predictions.from_model(m, features(test), test["churn"], "classification")
            for m in (champion_model, challenger_model)
        )
        columns = slice_columns(test, policy.slices, "churn", None)
        started = time.perf_counter()
        found = judge_slices(champion, challenger, make_slices(test, columns, policy.slices), columns, policy.metric,
                             policy.slices, policy.bootstrap, policy.confidence, policy.seed)
        seconds.append(time.perf_counter() - started)
        overall, deltas_now = judge(champion, challenger, policy)
        both, _ = judge(champion, challenger, policy, checks_after=slice_checks(found))
        sliced = not all(c.passed for c in slice_checks(found))
        blocked["overall"] += not overall.passed
        blocked["slices"] += sliced
        blocked["overall + slices"] += not both.passed
        deltas.append(deltas_now["roc_auc"]["delta"])
        pro.append(next(r.delta for r in found.results if (r.column, r.value) == ("plan", "pro")))
    rows[name] = {"blocked": blocked, "mean_delta": float(np.mean(deltas)), "mean_pro_delta": float(np.mean(pro))}
print(json.dumps({"rows": rows, "seconds_median": float(np.median(seconds)), "holdout_rows": len(test),
                  "bootstrap": policy.bootstrap, "margin": policy.slices.margin, "min_rows": policy.slices.min_rows}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a baked project with its .venv (default: bake one)")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    project = set_up_project(WORK, args.project)
    measured = run_inner(project, INNER, args.repeats)
    should_pass = {"noise-only retrain", "identical retrain"}
    repeats = args.repeats
    gates = ["overall", "slices", "overall + slices"]
    lines = [
        f"Gate decisions on {repeats} splits per scenario (holdout {measured['holdout_rows']} rows, slices of `plan` "
        f"and `region`: 7 judged), {os.cpu_count()} cores, Python {sys.version.split()[0]}. `overall`: the gate before "
        "the slice check (non-inferiority on roc_auc, balanced_accuracy and log_loss at the default margin); `slices`: "
        f"the slice gate alone (margin {measured['margin']:g}, min_rows {measured['min_rows']}, Holm across the slices "
        "and the worst-slice gap); `overall + slices`: the gate as shipped.",
        "",
        "| scenario | should | mean Δ roc_auc | mean Δ roc_auc on plan = pro | "
        + " | ".join(f"{g} blocked" for g in gates)
        + " | blocks the slice check adds |",
        "|---|---|---:|---:|" + "---:|" * (len(gates) + 1),
    ]
    for name, row in measured["rows"].items():
        blocked = row["blocked"]
        lines.append(
            f"| {name} | {'pass' if name in should_pass else 'block'} | {row['mean_delta']:+.4f} "
            f"| {row['mean_pro_delta']:+.4f} | "
            + " | ".join(f"{blocked[g]}/{repeats}" for g in gates)
            + f" | {blocked['overall + slices'] - blocked['overall']} |"
        )
    lines += [
        "",
        f"One slice judgement ({measured['bootstrap']} paired resamples, 7 slices and the overall metric, "
        f"both models): median {measured['seconds_median']:.2f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_results(RESULTS, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
