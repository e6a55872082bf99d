"""Drift check vs evidently 0.7 `DataDriftPreset`: time, peak memory and per-column verdicts.

1M rows x 20 columns (16 numeric, 4 categorical) as reference and current Parquet files, with known
shifts in some columns (see SHIFTS). The generated project's `drift` command and evidently's preset
each run once, in a subprocess of their own venv, on the same files; peak memory is the subprocess's
maximum resident set size. evidently 0.7 needs pandas<3, so it gets its own venv (built here with uv).

    python benchmarks/drift.py            # from the template root, in its .venv (make setup)
    python benchmarks/drift.py --rows 100000

Writes benchmarks/results/drift.md. Work files: build/bench-drift, venvs: build/bench-venvs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from common import ENV, ROOT, bake, package_name, timed_peak, venv, write_results

WORK = ROOT / "build" / "bench-drift"
RESULTS = ROOT / "benchmarks" / "results" / "drift.md"
EVIDENTLY = ["evidently==0.7.23", "pandas>=2.2,<3", "pyarrow>=21,<27"]
RUNS = 3  # ours is timed this many times (the median is reported); evidently once, it takes minutes

# What changes between reference and current, per column (the rest is drawn from the same law).
SHIFTS = {
    "num_00": "mean +0.5 sd",
    "num_01": "mean +0.5 sd",
    "num_02": "mean +0.5 sd",
    "num_03": "mean +0.5 sd (lognormal)",
    "num_04": "sd x1.5",
    "num_05": "mean +0.02 sd (tiny: significant at 1M rows, no effect)",
    "num_06": "10% missing on both sides, no shift",
    "cat_00": "mix 50/30/20 -> 30/30/40",
    "cat_01": "new category on 10% of rows",
}

MAKE_DATA = r"""
import sys
import numpy as np
import pandas as pd

rows, folder = int(sys.argv[1]), sys.argv[2]


def table(rng, current):
    data = {}
    for i in range(16):
        name = f"num_{i:02d}"
        loc, scale = 10.0 * i, 1.0 + i
        shift = 0.5 if i in (0, 1, 2) else 0.02 if i == 5 else 0.0
        spread = scale * (1.5 if current and i == 4 else 1.0)
        values = rng.normal(loc + (shift * scale if current else 0.0), spread, rows)
        if i == 3:
            values = np.exp(rng.normal(0.5 if current else 0.0, 1.0, rows))
        if i == 7:
            values = rng.poisson(3, rows).astype("float64")  # counts, many ties
        if i == 6:
            values[rng.random(rows) < 0.1] = np.nan
        data[name] = values
    mix = [0.3, 0.3, 0.4] if current else [0.5, 0.3, 0.2]
    data["cat_00"] = rng.choice(np.array(["basic", "plus", "pro"]), rows, p=mix)
    regions = rng.choice(np.array(["north", "south", "east", "west"]), rows)
    if current:
        regions[rng.random(rows) < 0.1] = "mars"
    data["cat_01"] = regions
    data["cat_02"] = rng.choice(np.array(["a", "b"]), rows, p=[0.7, 0.3])
    data["cat_03"] = rng.choice(np.array([f"city_{k:02d}" for k in range(50)]), rows)
    return pd.DataFrame(data)


table(np.random.default_rng(1), False).to_parquet(f"{folder}/reference.parquet", index=False)
current = table(np.random.default_rng(2), True)
current.to_parquet(f"{folder}/current.parquet", index=False)
current.to_json(f"{folder}/current.jsonl", orient="records", lines=True)  # the inference logs' format
"""

RUN_EVIDENTLY = r"""
import json, re, sys, time
started = time.perf_counter()
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
numeric = [c for c in reference.columns if c.startswith("num_")]
categorical = [c for c in reference.columns if c.startswith("cat_")]
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
snapshot = Report([DataDriftPreset()]).run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
verdicts = {}
for metric in snapshot.dict()["metrics"]:
    config = metric["config"]
    if "column" not in config:
        continue
    value, threshold, method = metric["value"], config["threshold"], config["method"]
    drift = value < threshold if "p_value" in method else value >= threshold
    verdicts[config["column"]] = {"drift": bool(drift), "method": method, "value": value}
print(json.dumps({"seconds": time.perf_counter() - started, "verdicts": verdicts}))
"""

PROFILE_OURS = r"""
import json, sys, time
started = time.perf_counter()
from {package} import io
from {package}.monitor.drift import detect
from {package}.monitor.drift_report import write_reports
from {package}.params import load_params
imported = time.perf_counter()
params = load_params(estimator=False)  # as the command reads them (the estimator's checks import scikit-learn)
reference, current = io.read_columns(sys.argv[1]), io.read_columns(sys.argv[2])
read = time.perf_counter()
result = detect(reference, current, params.drift, target=params.data.target)
detected = time.perf_counter()
write_reports(result)
written = time.perf_counter()
columns_only = params.drift.model_copy(update={{"multivariate": False}})
again = time.perf_counter()
detect(reference, current, columns_only, target=params.data.target)
without = time.perf_counter() - again
print(json.dumps({{"import": imported - started, "read": read - imported, "detect": detected - read,
                   "reports": written - detected, "without_multivariate": without}}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    project = bake(WORK)
    package = package_name(project)
    ours = venv("drift-project", ["-e", str(project)])
    theirs = venv("evidently", EVIDENTLY)
    data = WORK / "data"
    data.mkdir()
    subprocess.run([str(ours), "-c", MAKE_DATA, str(rows), str(data)], check=True, env=ENV)
    reference, current = str(data / "reference.parquet"), str(data / "current.parquet")

    # Warm-up: the first import of a fresh venv reads cold files; neither tool is charged for it.
    subprocess.run([str(ours), "-c", f"import {package}.monitor.drift, matplotlib.figure"], check=True, env=ENV)
    subprocess.run([str(theirs), "-c", "import evidently.presets"], check=True, env=ENV)

    command = [str(ours), "-m", package, "drift", "--reference", reference, "--current", current]
    runs = [timed_peak(command, cwd=project) for _ in range(RUNS)]
    our_wall = statistics.median(run[0] for run in runs)
    our_peak = max(run[1] for run in runs)
    our_code = runs[-1][3]
    our_report = json.loads((project / "reports" / "drift.json").read_text())
    jsonl_command = [*command[:-1], str(data / "current.jsonl")]
    jsonl_wall, jsonl_peak, _, jsonl_code = timed_peak(jsonl_command, cwd=project)
    jsonl_report = json.loads((project / "reports" / "drift.json").read_text())
    measures = ("drift", "p_value", "ks_statistic", "psi", "js_distance", "cramers_v", "new_category_share")
    same_statistics = [
        name
        for name, entry in our_report["features"].items()
        if all(entry.get(key) == jsonl_report["features"][name].get(key) for key in measures)
    ]
    profile_command = [str(ours), "-c", PROFILE_OURS.format(package=package), reference, current]
    _, _, profile_out, _ = timed_peak(profile_command, cwd=project)
    profile = json.loads(profile_out)
    ev_wall, ev_peak, ev_out, _ = timed_peak([str(theirs), "-c", RUN_EVIDENTLY, reference, current])
    evidently = json.loads(ev_out.strip().splitlines()[-1])["verdicts"]

    columns = list(our_report["features"])
    agree = [name for name in columns if our_report["features"][name]["drift"] == evidently[name]["drift"]]
    lines = [
        f"Drift check on {rows:,} rows x {len(columns)} columns (16 numeric, 4 categorical), reference vs current, "
        f"on {os.cpu_count()} cores (Python {sys.version.split()[0]}; load average {os.getloadavg()[1]:.1f} over "
        "the last 5 minutes: the machine is shared, read the ratios). Ours: median wall and largest peak of "
        f"{RUNS} runs ({', '.join(f'{run[0]:.2f}' for run in runs)} s); evidently: one run.",
        "",
        "| tool | wall (s) | peak memory (MB) | drifted columns | exit |",
        "|---|---:|---:|---:|---|",
        f"| `python -m {package} drift` (whole command: imports, Parquet, tests, PNGs, reports) | {our_wall:.2f} | "
        f"{our_peak:.0f} | {len(our_report['drifted_features'])} | {our_code} |",
        f"| the same, current data as JSON lines (the inference logs' format; one run) | {jsonl_wall:.2f} | "
        f"{jsonl_peak:.0f} | {len(jsonl_report['drifted_features'])} | {jsonl_code} |",
        f"| evidently {EVIDENTLY[0].split('==')[1]} `DataDriftPreset` (read + run, no HTML) | {ev_wall:.1f} | "
        f"{ev_peak:.0f} | {sum(v['drift'] for v in evidently.values())} | - |",
        "",
        f"Ratios: evidently / ours = **{ev_wall / our_wall:.1f}x** the time, **{ev_peak / our_peak:.1f}x** the peak "
        f"memory. Inside our command (separate run): imports {profile['import']:.2f} s, open the files "
        f"{profile['read']:.2f} s, read the columns and compute the statistics {profile['detect']:.2f} s, "
        f"reports and PNGs {profile['reports']:.2f} s. The statistics again without the multivariate check (a "
        f"second run: the columns already read, scikit-learn already imported): {profile['without_multivariate']:.2f}"
        " s; the rest of the first run's is reading the columns, importing scikit-learn and the multivariate check.",
        f"Per-column verdicts agree on **{len(agree)} of {len(columns)}** columns. With the current data as JSON "
        f"lines, the statistics are identical to the Parquet run's on {len(same_statistics)} of {len(columns)}.",
        "Goals (issue 6): "
        + "; ".join(
            f"{goal}: {'met' if met else '**not met**'}"
            for goal, met in (
                ("<= 3 s wall", our_wall <= 3.0),
                (">= 20x faster than evidently", ev_wall / our_wall >= 20),
                ("<= 1/3 of its peak memory", our_peak <= ev_peak / 3),
            )
        )
        + ".",
        "",
        "| column | change | ours | effect sizes (ours) | evidently | evidently's measure |",
        "|---|---|---|---|---|---|",
    ]
    for name in columns:
        entry, theirs_entry = our_report["features"][name], evidently[name]
        if entry["kind"] == "numeric":
            effects = f"KS {entry['ks_statistic']:.3f}, PSI {entry['psi']:.3f}"
        else:
            effects = f"JS {entry['js_distance']:.3f}, V {entry['cramers_v']:.3f}"
            effects += f", new {entry['new_category_share']:.0%}"
        lines.append(
            f"| `{name}` | {SHIFTS.get(name, 'none')} | {'drift' if entry['drift'] else 'no'} | {effects} | "
            f"{'drift' if theirs_entry['drift'] else 'no'} | {theirs_entry['method']} {theirs_entry['value']:.3g} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    write_results(RESULTS, text)
    return 0 if len(agree) == len(same_statistics) == len(columns) else 1


if __name__ == "__main__":
    sys.exit(main())
