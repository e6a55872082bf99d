"""The champion/challenger gate vs two simpler gates, on retrains whose true quality is known.

Scenarios (breast-cancer data, REPEATS different stratified 80/20 splits each, holdout = the 20 %):
- noise-only retrain: a random forest vs the same forest with another seed (equal quality);
- identical retrain: the same model twice;
- moderately worse: logistic regression on all 30 features vs on 4 of them (roc_auc -0.02..-0.05);
- clearly worse: all 30 features vs 2 weak ones (roc_auc about -0.1);
- better: 4 features -> all 30.
Gates: `naive` passes when the challenger's roc_auc point estimate is >= the champion's; `score margin 2%`
is the template's earlier rule (the low end of the 95 % paired-bootstrap interval of Δ roc_auc within 2 % of
the champion's roc_auc); `template m` is the generated project's `gate.decision.decide` at margin m on the
error scale, with the classification guardrails (balanced accuracy, log loss) judged alike (paired bootstrap,
1000 resamples, 95 %; no floor, no latency or size ratio here).

    python benchmarks/gate.py        # from the template root, in its .venv (make setup)

Bakes the defaults into build/bench-gate and sets the project up (make setup) to import its code.
Writes benchmarks/results/gate.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

from common import write_results

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "bench-gate"
RESULTS = ROOT / "benchmarks" / "results" / "gate.md"
REPEATS = 30
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1", "BENTOML_DO_NOT_TRACK": "True"}

MARGINS = (0.1, 0.25, 0.5, 1.0)  # the template's gate at these margins (error scale); 0.25 is the default

INNER = r"""
import json, sys, time
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from dataclasses import replace
from PACKAGE.gate.decision import GatePolicy, decide
from PACKAGE.gate.scoring import interval, paired_bootstrap
from PACKAGE.metrics import GUARDRAILS, Predictions
from PACKAGE.params import DataParams, Params, TrainParams

repeats, margins = int(sys.argv[1]), json.loads(sys.argv[2])
X, y = load_breast_cancer(return_X_y=True)
labels = np.array(["benign", "malignant"])[1 - y]
defaults = Params(task="classification", data=DataParams(source="-", target="-"), train=TrainParams(estimator="dummy"))
gate = GatePolicy.from_params(defaults)  # the generated project's defaults
guardrails = GUARDRAILS["classification"]

def linear(columns):
    return columns, make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))

def forest(seed):
    return slice(None), RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)

SCENARIOS = {
    "noise-only retrain": lambda s: (forest(s), forest(s + 1000)),
    "identical retrain": lambda s: (linear(slice(None)), linear(slice(None))),
    "moderately worse": lambda s: (linear(slice(None)), linear(slice(0, 4))),
    "clearly worse": lambda s: (linear(slice(None)), linear(slice(10, 12))),
    "better": lambda s: (linear(slice(0, 4)), linear(slice(None))),
}
rows, seconds = {}, []
for name, make in SCENARIOS.items():
    passed = {"naive": 0, "score margin 2%": 0, **{f"template {m:g}": 0 for m in margins}}
    deltas = []
    for seed in range(repeats):
        split = train_test_split(X, labels, test_size=0.2, random_state=seed, stratify=labels)
        train_x, test_x, train_y, test_y = split
        scored = []
        for columns, model in make(seed):
            model.fit(train_x[:, columns], train_y)
            features = test_x[:, columns]
            scored.append(Predictions.from_arrays(
                "classification", test_y, model.predict(features), model.predict_proba(features), model.classes_))
        champion, challenger = scored
        before, after = champion.scores(), challenger.scores()
        deltas.append(after["roc_auc"] - before["roc_auc"])
        passed["naive"] += after["roc_auc"] >= before["roc_auc"]
        started = time.perf_counter()
        draws = paired_bootstrap(champion, challenger, gate.bootstrap, seed)
        intervals = {metric: interval(values, gate.confidence) for metric, values in draws.items()}
        seconds.append(time.perf_counter() - started)
        # the rule before: the interval's low end within 2 % of the champion's score, roc_auc alone
        passed["score margin 2%"] += intervals["roc_auc"][0] >= -0.02 * before["roc_auc"]
        for margin in margins:
            rule = replace(gate, margin=margin, guardrails=guardrails, max_latency_ratio=None, max_size_ratio=None)
            decision = decide(rule, after, before, intervals)
            passed[f"template {margin:g}"] += decision.passed
    rows[name] = {"passed": passed, "mean_delta": float(np.mean(deltas)), "min_delta": float(np.min(deltas))}
summary = {"rows": rows, "judge_seconds_median": float(np.median(seconds)), "holdout_rows": len(test_y)}
print(json.dumps({**summary, "margin": gate.margin}))
"""


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(WORK)))
    package = json.loads((project / ".cookiecutter.json").read_text())["package_name"]
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, env=ENV)
    subprocess.run(["make", "setup"], cwd=project, check=True, env=ENV, capture_output=True)
    inner = subprocess.run(
        [str(project / ".venv/bin/python"), "-c", INNER.replace("PACKAGE", package), str(REPEATS), json.dumps(MARGINS)],
        cwd=project,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    measured = json.loads(inner.stdout.strip().splitlines()[-1])
    should_pass = {"noise-only retrain", "identical retrain", "better"}
    gates = list(next(iter(measured["rows"].values()))["passed"])
    lines = [
        f"Gate decisions on {REPEATS} splits per scenario (holdout {measured['holdout_rows']} rows), "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}. `naive`: the challenger's roc_auc >= the "
        "champion's; `score margin 2%`: the rule before, the low end of the 95 % interval of Δ roc_auc within 2 % "
        "of the champion's roc_auc; `template m`: the gate as shipped at margin m on the error scale (Δ within m "
        "times the champion's 1 - roc_auc), with its guardrails balanced_accuracy and log_loss judged alike. "
        f"The default margin is {measured['margin']:g}.",
        "",
        "| scenario | should | mean Δ roc_auc | worst Δ | " + " | ".join(f"{g} passed" for g in gates) + " |",
        "|---|---|---:|---:|" + "---:|" * len(gates),
    ]
    for name, row in measured["rows"].items():
        passed = row["passed"]
        lines.append(
            f"| {name} | {'pass' if name in should_pass else 'block'} "
            f"| {row['mean_delta']:+.4f} | {row['min_delta']:+.4f} | "
            + " | ".join(f"{passed[g]}/{REPEATS}" for g in gates)
            + " |"
        )
    lines += [
        "",
        f"One bootstrap (1000 paired resamples, all 5 metrics): median {measured['judge_seconds_median']:.3f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_results(RESULTS, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
