"""What the model card and the slice gate cost (issue 28): their share of the cold pipeline on the default data, and
their time at 100k rows.

- the card: cold `dvc repro` (six stages, `card` the last) against cold `dvc repro evaluate` (the five before it), in
  paired rounds (which of the two runs first alternates), and the `card` command alone on the pipeline's outputs;
- the slice gate: what `compare` adds for it, `make_slices` + `judge_slices` at the defaults (gate.slices, the gate's
  bootstrap and confidence) on the project's holdout, with the trained model as champion and challenger (the cost
  does not depend on how they differ).
Two projects: the defaults (breast_cancer, 569 rows, no categorical feature: the default slice columns are none, so
the slice gate judges no slice), and a churn-like table of --rows rows (tenure, charges, plan: 3 values, region: 4)
adopted with `make adopt` (holdout 20 %: the slice gate judges 7 slices and 12 two-column ones are reported).

    python benchmarks/governance.py [--rows 100000] [--rounds 3]   # from the template root, in its .venv

Bakes into build/bench-governance; writes benchmarks/results/governance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ENV, ROOT, bake, package_name, write_results

WORK = ROOT / "build" / "bench-governance"
RESULTS = ROOT / "benchmarks" / "results" / "governance.md"
TARGET_SHARE = 0.20  # issue 28: the card and the slice gate add at most 20 % to the cold pipeline

# The churn-like table, written by the project's Python (the template's venv has no numpy).
CHURN = r"""
import sys
import numpy as np, pandas as pd
rows, rng = int(sys.argv[1]), np.random.default_rng(0)
tenure, charges = rng.uniform(1, 72, rows).round(1), rng.normal(60, 15, rows).round(2)
plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.425, 0.425, 0.15])
region = rng.choice(["north", "south", "east", "west"], rows)
logit = np.where(plan == "pro", 0.08 * (tenure - 36), -0.06 * (tenure - 36) + (charges - 60) / 10)
label = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
frame = pd.DataFrame({"tenure": tenure, "charges": charges, "plan": plan, "region": region, "churn": label})
frame.to_csv("customers.csv", index=False)
"""

SLICE_GATE = r"""
import json, time
import joblib, pandas as pd
from PACKAGE.contract import load_contract
from PACKAGE.gate.policy import GatePolicy
from PACKAGE.gate.slices import judge_slices, make_slices, slice_columns
from PACKAGE.metrics import Predictions
from PACKAGE.params import MODEL_FILE, TEST_DATA, load_params

params, contract = load_params(), load_contract()
policy = GatePolicy.from_params(params)
test, model = pd.read_parquet(TEST_DATA), joblib.load(MODEL_FILE)
target, id_column = params.data.target, params.data.id_column
predictions = Predictions.from_model(model, test[list(model.feature_names_in_)], test[target], params.task)
seconds = []
for _ in range(3):
    started = time.process_time()
    columns = slice_columns(test, policy.slices, target, id_column, contract)
    slices = make_slices(test, columns, policy.slices, contract)
    if columns:
        judge_slices(predictions, predictions, slices, columns, policy.metric, policy.slices, policy.bootstrap,
                     policy.confidence, policy.seed)
    seconds.append(time.process_time() - started)
print(json.dumps({"seconds": sorted(seconds)[1], "columns": columns, "slices": len(slices), "holdout": len(test)}))
"""


def run(command: list[str], project: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree) of a command in the project (its venv first on PATH: dvc
    runs `python -m ...`). The CPU seconds are the figure to compare: other work on a shared machine stretches the
    wall time of both sides unevenly, far less their CPU time."""
    path = f"{project / '.venv' / 'bin'}{os.pathsep}{ENV['PATH']}"
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=project, env={**ENV, "PATH": path}, stdout=err, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # its rusage holds every descendant it waited for
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed:\n{err.read().decode()[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def cold(project: Path, target: str | None) -> tuple[float, float]:
    """A cold `dvc repro [target]`: no outputs, no dvc.lock, no run cache."""
    for folder in ("data/raw", "data/processed", "models", ".dvc/cache/runs"):
        shutil.rmtree(project / folder, ignore_errors=True)
    (project / "dvc.lock").unlink(missing_ok=True)
    return run([str(project / ".venv/bin/dvc"), "repro", *([target] if target else [])], project)


def project(name: str, rows: int | None) -> Path:
    folder = bake(WORK / name)
    shell = "git init -q && git add -A && git -c user.name=b -c user.email=b@x commit -qm init"
    subprocess.run(shell, shell=True, cwd=folder, check=True, env=ENV)
    subprocess.run(["make", "setup"], cwd=folder, check=True, env=ENV, capture_output=True)
    if rows is not None:
        subprocess.run([str(folder / ".venv/bin/python"), "-c", CHURN, str(rows)], cwd=folder, check=True, env=ENV)
        adopt = ["make", "adopt", "SOURCE=customers.csv", "TARGET=churn", "YES=1"]
        subprocess.run(adopt, cwd=folder, check=True, env=ENV, capture_output=True)
    return folder


def measure(folder: Path, rounds: int) -> dict:
    with_card: list[tuple[float, float]] = []
    without: list[tuple[float, float]] = []
    for index in range(rounds):
        order = [None, "evaluate"] if index % 2 == 0 else ["evaluate", None]
        for target in order:
            (with_card if target is None else without).append(cold(folder, target))
    cold(folder, None)  # every output there for the card command and the slice gate
    card = [run([str(folder / ".venv/bin/python"), "-m", package_name(folder), "card"], folder) for _ in range(2)]
    inner = SLICE_GATE.replace("PACKAGE", package_name(folder))
    gate = subprocess.run(
        [str(folder / ".venv/bin/python"), "-c", inner], cwd=folder, env=ENV, check=True, capture_output=True, text=True
    )
    return {
        "with_card": [statistics.median(run[i] for run in with_card) for i in (0, 1)],
        "without": [statistics.median(run[i] for run in without) for i in (0, 1)],
        "ratio": statistics.median(a[1] / b[1] for a, b in zip(with_card, without, strict=True)),
        "card": [statistics.median(run[i] for run in card) for i in (0, 1)],
        "gate": json.loads(gate.stdout.strip().splitlines()[-1]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    found = {"default data (breast_cancer, 569 rows)": measure(project("default", None), args.rounds)}
    found[f"churn-like table, {args.rows:,} rows"] = measure(project("large", args.rows), max(1, args.rounds - 1))
    lines = [
        "Cold `dvc repro evaluate` (the five stages before the card) and cold `dvc repro` (the card stage too) in "
        f"paired rounds, the `card` command alone, and the slice gate's work in `compare` (median of 3), on "
        f"{os.cpu_count()} cores shared with other work (Python {sys.version.split()[0]}). CPU seconds of the whole "
        "process tree (wall seconds in brackets: the machine's load stretches them); the ratio is the median of the "
        "rounds' CPU ratios. Added = (the card stage + the slice gate) / the cold pipeline without the card, in CPU "
        f"seconds; the target on the default data: at most {TARGET_SHARE:.0%}.",
        "",
        "| data | cold `dvc repro evaluate` | cold `dvc repro` | paired ratio | `card` alone "
        "| slice gate | slices judged (holdout rows) | added |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, row in found.items():
        gate = row["gate"]
        added = (row["with_card"][1] - row["without"][1] + gate["seconds"]) / row["without"][1]
        judged = f"{len(gate['columns'])} columns, {gate['slices']} slices ({gate['holdout']:,})"
        cells = [f"{cpu:.1f} s ({wall:.1f})" for wall, cpu in (row["without"], row["with_card"], row["card"])]
        lines.append(
            f"| {name} | {cells[0]} | {cells[1]} | x{row['ratio']:.3f} | {cells[2]} | {gate['seconds']:.2f} s "
            f"| {judged} | {added:+.0%} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    write_results(RESULTS, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
