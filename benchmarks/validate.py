"""The data-contract gate on a large table: time and peak memory of `validate` (Great Expectations 1.x).

1M rows x 30 columns (26 float, 2 integer, 1 categorical string, 1 string target) as data/raw/ of a
baked project; `schema` infers the contract from it. Each variant runs once, in a subprocess of its
own, so that peak memory is that variant's maximum resident set size:

- the `validate` command end to end, on the clean table and on a corrupted one (nulls, out-of-range
  values, an unseen category, duplicated rows): import, read, suite, GX run, data docs, report;
- the same GX suite without data docs (`run_validation`), with the import timed apart;
- the suite as GX would run it with its own compound-uniqueness expectation for duplicate rows
  (what the row-hash column replaces);
- a hand-written pandas pass doing the same checks: the floor that GX's overhead is measured against.

    python benchmarks/validate.py             # from the template root, in its .venv (make setup)
    python benchmarks/validate.py --rows 100000

Writes benchmarks/results/validate.md. Work files: build/bench-validate, venv: build/bench-venvs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path

from common import ENV, ROOT, bake, package_name, timed_peak, venv, write_results


def timed_peak_all(command: list[str], cwd: Path) -> tuple[float, float, str, int]:
    """timed_peak with the child's stderr in the output (validate prints its verdict there)."""
    return timed_peak(command, cwd, with_stderr=True)


WORK = ROOT / "build" / "bench-validate"
RESULTS = ROOT / "benchmarks" / "results" / "validate.md"
GOAL_SECONDS = 10.0

MAKE_DATA = r"""
import sys
import numpy as np
import pandas as pd

rows, clean, corrupt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = np.random.default_rng(0)
columns = {f"num_{i:02d}": rng.normal(i, 1 + i / 10, rows) for i in range(26)}
columns["count_a"] = rng.poisson(3, rows)
columns["count_b"] = rng.integers(0, 1000, rows)
columns["plan"] = pd.Series(rng.choice(["basic", "plus", "pro", "team"], rows), dtype="str")
columns["label"] = pd.Series(rng.choice(["no", "yes"], rows, p=[0.7, 0.3]), dtype="str")
frame = pd.DataFrame(columns)
frame.to_parquet(clean, index=False)
bad = frame.copy()
bad.loc[: rows // 100, "num_00"] = np.nan             # nulls where none are allowed
bad.loc[rows // 2 : rows // 2 + 999, "num_01"] = 1e9  # out of range
bad.loc[: rows // 50, "plan"] = "enterprise"          # unseen category
bad = pd.concat([bad, bad.head(rows // 10)], ignore_index=True)  # 10% duplicated rows
bad.to_parquet(corrupt, index=False)
"""

# In-process breakdown of the GX run without data docs; VARIANT=compound swaps the row-hash duplicate
# check for GX's ExpectCompoundColumnsToBeUnique over every column.
BREAKDOWN = r"""
import json, sys, time
started = time.perf_counter()
import great_expectations  # noqa: F401
imported = time.perf_counter()
import pandas as pd
from {package}.pipeline import validate
from {package}.pipeline.contract import load_contract
from {package}.params import ContractParams
frame = pd.read_parquet("data/raw/data.parquet")
read = time.perf_counter()
contract, settings = load_contract(), ContractParams()
if sys.argv[1] == "compound":
    plain = validate.planned_checks
    def planned_checks(contract, settings):
        plan = [step for step in plain(contract, settings) if step[0].kind != "duplicates"]
        mostly = 1 - settings.max_duplicate_fraction
        step = (validate.Check(None, "duplicates"), "ExpectCompoundColumnsToBeUnique",
                {{"column_list": list(contract.names), "mostly": mostly}})
        return plan + [step]
    validate.planned_checks = planned_checks
report = validate.run_validation(frame, contract, settings)
done = time.perf_counter()
print(json.dumps({{"import": imported - started, "read": read - imported, "validate": done - read,
                  "success": report["success"], "evaluated": report["evaluated"]}}))
"""

# The same checks, hand-written in vectorised pandas (the floor).
PANDAS = r"""
import json, time
started = time.perf_counter()
import pandas as pd
import yaml
frame = pd.read_parquet("data/raw/data.parquet")
read = time.perf_counter()
contract = yaml.safe_load(open("schema.yaml"))
failed = []
names = [c["name"] for c in contract["columns"]]
if set(frame.columns) != set(names):
    failed.append("columns")
if not contract["rows"]["min"] <= len(frame) <= (contract["rows"]["max"] or len(frame)):
    failed.append("row_count")
for spec in contract["columns"]:
    column = frame[spec["name"]]
    kind = spec["kind"]
    ok_type = {"float": pd.api.types.is_numeric_dtype, "integer": pd.api.types.is_integer_dtype,
               "boolean": pd.api.types.is_bool_dtype, "string": pd.api.types.is_string_dtype}[kind](column)
    if not ok_type:
        failed.append(spec["name"])
    nulls = column.isna().mean()
    if nulls > (spec.get("max_null_fraction", 1.0) if spec["nullable"] else 0.0):
        failed.append(spec["name"])
    if "minimum" in spec and not column.dropna().between(spec["minimum"], spec["maximum"]).all():
        failed.append(spec["name"])
    if "categories" in spec and not column.dropna().isin(spec["categories"]).all():
        failed.append(spec["name"])
hashes = pd.util.hash_pandas_object(frame[names], index=False)
if hashes.duplicated(keep=False).mean() > 0.05:
    failed.append("duplicates")
done = time.perf_counter()
print(json.dumps({"read": read - started, "validate": done - read, "success": not failed}))
"""


def point_params_at_label(project: Path) -> None:
    """params.yaml: the benchmark table's target is `label` (everything else stays the default)."""
    params = project / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("  target: diagnosis\n", "  target: label\n", 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    project = bake(WORK)
    package = package_name(project)
    python = str(venv("validate-project", ["-e", str(project)]))
    point_params_at_label(project)
    raw = project / "data" / "raw" / "data.parquet"
    raw.parent.mkdir(parents=True, exist_ok=True)
    clean, corrupt = WORK / "clean.parquet", WORK / "corrupt.parquet"
    subprocess.run([python, "-c", MAKE_DATA, str(rows), str(clean), str(corrupt)], check=True, env=ENV)
    shutil.copyfile(clean, raw)
    subprocess.run([python, "-m", package, "schema"], cwd=project, check=True, env=ENV, capture_output=True)
    # Warm the bytecode caches once so that no variant pays for compiling GX.
    subprocess.run([python, "-c", "import great_expectations"], check=True, env=ENV)

    measured: list[tuple[str, float, float, str]] = []
    wall, peak, out, code = timed_peak_all([python, "-m", package, "validate"], project)
    measured.append(("`validate` command, clean table (exit 0)", wall, peak, f"exit {code}"))
    shutil.copyfile(corrupt, raw)
    wall, peak, out, code = timed_peak_all([python, "-m", package, "validate"], project)
    failing = out.strip().splitlines()[-1][:90] if out.strip() else ""
    measured.append(("`validate` command, corrupted table (exit 1)", wall, peak, f"exit {code}: {failing}"))
    shutil.copyfile(clean, raw)
    breakdowns = {}
    variants = (("rowhash", "GX suite, no data docs (as shipped)"), ("compound", "GX suite, compound-unique"))
    for variant, label in variants:
        wall, peak, out, _ = timed_peak_all([python, "-c", BREAKDOWN.format(package=package), variant], project)
        parts = json.loads(out.strip().splitlines()[-1])
        breakdowns[variant] = parts
        note = f"import {parts['import']:.1f} s, read {parts['read']:.1f} s, validate {parts['validate']:.1f} s"
        measured.append((label, wall, peak, note))
    wall, peak, out, _ = timed_peak_all([python, "-c", PANDAS], project)
    floor = json.loads(out.strip().splitlines()[-1])
    note = f"read {floor['read']:.1f} s, check {floor['validate']:.1f} s"
    measured.append(("hand-written pandas checks", wall, peak, note))

    base = measured[0][1]
    lines = [
        f"# Data-contract validation: {rows:,} rows x 30 columns",
        "",
        f"One run each on {os.cpu_count()} cores, each variant in its own process (wall time and peak RSS of",
        "that process). Ratios are against the `validate` command on the clean table.",
        "",
        "| variant | wall s | ratio | peak MB | notes |",
        "|---|---:|---:|---:|---|",
    ]
    for label, wall, peak, note in measured:
        lines.append(f"| {label} | {wall:.1f} | {wall / base:.2f} | {peak:.0f} | {note} |")
    gx_only = breakdowns["rowhash"]["validate"]
    compound = breakdowns["compound"]["validate"]
    lines += [
        "",
        f"- Goal <= {GOAL_SECONDS:.0f} s for the validation itself: GX run {gx_only:.1f} s "
        f"({'met' if gx_only <= GOAL_SECONDS else 'missed'}); the whole command took {base:.1f} s, and "
        f"importing Great Expectations alone {breakdowns['rowhash']['import']:.1f} s in the breakdown run.",
        f"- Duplicate rows by a 64-bit row hash instead of GX's compound-uniqueness expectation: "
        f"{gx_only:.1f} s vs {compound:.1f} s for the suite ({compound / gx_only:.1f}x).",
        f"- GX's overhead over the hand-written pandas floor: {gx_only / max(floor['validate'], 1e-9):.0f}x "
        "(per-expectation metric graphs and result serialisation, not the data).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_results(RESULTS, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
