"""The data gate: schema.yaml -> a Great Expectations suite -> a verdict on data/raw/ and a report.

Great Expectations is imported only here, inside `run_validation`, because it takes seconds to import.
The report (reports/validation.json) has one entry per expectation, in contract order, with no
timestamps: the same data and contract give the same bytes, so git and DVC see no change.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import io
from ..columns import KINDS, is_text
from ..contract import Contract, load_contract
from ..errors import ProjectError
from ..params import RAW_DATA, REPORTS_DIR, SCHEMA_FILE, VALIDATION_FILE, ContractParams, load_params

DATA_DOCS_DIR = REPORTS_DIR / "data_docs"
# A 64-bit hash of each row's contract columns, added for the duplicate check: pandas' multi-column
# `duplicated` (what GX's compound-uniqueness expectation runs) factorises every column: ~6 s on
# 1M x 30 here, where hashing the rows once and checking one column takes well under 1 s.
ROW_HASH = "__row_hash__"


@dataclass(frozen=True)
class Check:
    """What one expectation of the suite checks, for the report."""

    column: str | None  # None for table-level checks
    kind: str  # type, nulls, range, categories, unique, columns, row_count, duplicates
    severity: str = "error"  # "warning" checks never fail the gate


def planned_checks(contract: Contract, settings: ContractParams) -> list[tuple[Check, str, dict[str, Any]]]:
    """The suite as data: (check, Great Expectations class name, its arguments), in report order."""
    plan: list[tuple[Check, str, dict[str, Any]]] = []
    for spec in contract.columns:
        name = spec.name
        types = {"column": name, "type_list": list(KINDS[spec.kind].gx_types)}
        plan.append((Check(name, "type"), "ExpectColumnValuesToBeInTypeList", types))
        if not spec.nullable:
            plan.append((Check(name, "nulls"), "ExpectColumnValuesToNotBeNull", {"column": name}))
        elif spec.max_null_fraction is not None and spec.max_null_fraction < 1:
            mostly = round(1 - spec.max_null_fraction, 6)
            plan.append((Check(name, "nulls"), "ExpectColumnValuesToNotBeNull", {"column": name, "mostly": mostly}))
        if spec.minimum is not None or spec.maximum is not None:
            bounds = {"min_value": spec.minimum, "max_value": spec.maximum}
            plan.append((Check(name, "range"), "ExpectColumnValuesToBeBetween", {"column": name, **bounds}))
        if spec.categories is not None:
            allowed = {"column": name, "value_set": list(spec.categories)}
            plan.append((Check(name, "categories"), "ExpectColumnValuesToBeInSet", allowed))
        if spec.unique:
            plan.append((Check(name, "unique"), "ExpectColumnValuesToBeUnique", {"column": name}))
    # Every contract column must be there; extra columns fail too, or (policy "warn") only warn.
    names = [*contract.names, ROW_HASH]
    strict = settings.extra_columns == "fail"
    plan.append((Check(None, "columns"), "ExpectTableColumnsToMatchSet", {"column_set": names, "exact_match": strict}))
    if not strict:
        exact = {"column_set": names, "exact_match": True}
        plan.append((Check(None, "columns", "warning"), "ExpectTableColumnsToMatchSet", exact))
    plan.append(
        (
            Check(None, "row_count"),
            "ExpectTableRowCountToBeBetween",
            {"min_value": contract.min_rows, "max_value": contract.max_rows},
        )
    )
    mostly = round(1 - settings.max_duplicate_fraction, 6)
    plan.append((Check(None, "duplicates"), "ExpectColumnValuesToBeUnique", {"column": ROW_HASH, "mostly": mostly}))
    return plan


def gx_frame(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The frame as Great Expectations checks it: text columns as "string" dtype, plus the row hash.

    GX 1.x compares a column's dtype with the dtypes its type names stand for, and none of them is
    pandas 3's default `str` dtype (NaN for missing); `pd.StringDtype()` (NA for missing, same Arrow
    storage, a free cast) is. Object columns stay as they are: GX checks their values one by one.
    The caller's frame is not modified.
    """
    text = [name for name, dtype in frame.dtypes.items() if is_text(dtype)]
    checked = frame.astype(dict.fromkeys(text, pd.StringDtype())) if text else frame.copy(deep=False)
    present = [name for name in contract.names if name in frame.columns]
    try:
        checked[ROW_HASH] = pd.util.hash_pandas_object(frame[present], index=False).to_numpy()
    except TypeError:  # unhashable values (lists, dicts): the type checks report those columns
        checked[ROW_HASH] = range(len(frame))
    return checked


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a value from a GX result (numpy scalars, NaN/inf, nested lists)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _entry(check: Check, expectation: str, result: Any, sample_size: int) -> dict[str, Any]:
    """One report entry from a GX ExpectationValidationResult."""
    details = result.result or {}
    entry: dict[str, Any] = {
        "column": check.column,
        "kind": check.kind,
        "expectation": expectation,
        "severity": check.severity,
        "success": bool(result.success),
        "unexpected_count": _plain(details.get("unexpected_count")),
        "sample": _plain(details.get("partial_unexpected_list", [])[:sample_size]),
        "sample_rows": _plain(details.get("partial_unexpected_index_list", [])[:sample_size]),
    }
    if check.kind == "duplicates":
        entry["sample"] = []  # the values are row hashes: the row numbers say more
    if "observed_value" in details:
        observed = details["observed_value"]
        if isinstance(observed, list):  # the table's columns: leave out our helper column
            observed = [name for name in observed if name != ROW_HASH]
        entry["observed"] = _plain(observed)
    mismatched = (details.get("details") or {}).get("mismatched")
    if mismatched:
        entry["sample"] = _plain(sorted(mismatched.get("unexpected", [])) + sorted(mismatched.get("missing", [])))
        entry["unexpected_columns"] = _plain(sorted(mismatched.get("unexpected", [])))
        entry["missing_columns"] = _plain(sorted(mismatched.get("missing", [])))
    info = result.exception_info or {}
    messages = [item.get("exception_message") for item in info.values() if isinstance(item, dict)]
    if info.get("raised_exception"):
        messages.append(info.get("exception_message"))
    messages = [message for message in messages if message]
    if messages:
        entry["error"] = str(messages[0]).splitlines()[0][:300]
    return entry


def _site_config(folder: Path) -> dict[str, Any]:
    return {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder.resolve())},
    }


def _gx_results(
    frame: pd.DataFrame,
    contract: Contract,
    plan: list[tuple[Check, str, dict[str, Any]]],
    settings: ContractParams,
    docs_dir: Path | None,
) -> list[Any]:
    """Run the planned suite on `frame` in an ephemeral GX context; the ExpectationValidationResults."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.checkpoint.actions import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(name="raw")
        .add_dataframe_asset(name="data")
        .add_batch_definition_whole_dataframe("whole table")
    )
    # All expectations at once: suite.add_expectation re-serialises the whole suite on every call.
    expectations = [
        getattr(gxe, class_name)(**kwargs, meta={"check": index, "kind": check.kind, "severity": check.severity})
        for index, (check, class_name, kwargs) in enumerate(plan)
    ]
    suite = context.suites.add(gx.ExpectationSuite(name="contract", expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="raw data", data=batch, suite=suite))
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": max(settings.sample_size, 1)}
    parameters = {"dataframe": gx_frame(frame, contract)}
    if docs_dir is None:
        return definition.run(batch_parameters=parameters, result_format=result_format).results
    context.add_data_docs_site("local", _site_config(docs_dir))  # type: ignore[arg-type]  # GX types it as a TypedDict
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="contract",
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data docs", site_names=["local"])],
            result_format=result_format,
        )
    )
    outcome = checkpoint.run(batch_parameters=parameters)
    return next(iter(outcome.run_results.values())).results


def run_validation(
    frame: pd.DataFrame, contract: Contract, settings: ContractParams, docs_dir: Path | None = None
) -> dict[str, Any]:
    """Validate `frame` against `contract` with Great Expectations; return the report (a dict).

    With `docs_dir`, also build the GX HTML data docs into that (new or empty) folder.
    """
    plan = planned_checks(contract, settings)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from great_expectations.exceptions.exceptions import GreatExpectationsError

    try:
        results = _gx_results(frame, contract, plan, settings, docs_dir)
    except GreatExpectationsError as exc:
        raise ProjectError(f"Great Expectations could not run the suite: {exc}") from None

    by_check = {int(result.expectation_config.meta["check"]): result for result in results}
    entries = [
        _entry(check, class_name, by_check[index], settings.sample_size)
        for index, (check, class_name, _) in enumerate(plan)
    ]
    missing = {name for entry in entries if entry["severity"] == "error" for name in entry.get("missing_columns", [])}
    for entry in entries:
        if entry["column"] in missing:
            entry["error"] = "the column is missing"  # instead of GX's message about a failed lookup
    errors = [entry for entry in entries if not entry["success"] and entry["severity"] == "error"]
    warnings = [entry for entry in entries if not entry["success"] and entry["severity"] == "warning"]
    return {
        "success": not errors,
        "rows": len(frame),
        "columns": len(frame.columns),
        "evaluated": len(entries),
        "failed": len(errors),
        "warnings": len(warnings),
        "failing_columns": _failing_columns(errors),
        "failing_table_checks": list(dict.fromkeys(entry["kind"] for entry in errors if entry["column"] is None)),
        "expectations": entries,
    }


def _culprits(entry: dict[str, Any]) -> list[str]:
    """The columns a failed entry blames; a table check blames the columns it found extra or missing."""
    if entry["column"]:
        return [entry["column"]]
    culprits: list[str] = entry.get("unexpected_columns", []) + entry.get("missing_columns", [])
    return culprits


def _failing_columns(entries: list[dict[str, Any]]) -> list[str]:
    """Columns named by failed entries, in order, once each."""
    return list(dict.fromkeys(name for entry in entries for name in _culprits(entry)))


def summary(report: dict[str, Any], report_path: Path | str) -> str:
    """The one-line verdict printed by the command."""
    if report["success"]:
        line = f"validate: passed: {report['rows']} rows x {report['columns']} columns meet the contract"
        line += f" ({report['evaluated']} expectations)"
        return f"{line}; report: {report_path}"
    kinds: dict[str, list[str]] = {}
    for entry in report["expectations"]:
        if entry["success"] or entry["severity"] != "error":
            continue
        if entry["kind"] == "columns":
            for name in entry.get("missing_columns", []):
                kinds.setdefault(name, []).append("missing")
            for name in entry.get("unexpected_columns", []):
                kinds.setdefault(name, []).append("not in the contract")
        else:
            kinds.setdefault(entry["column"] or "table", []).append(entry["kind"])
    # A missing column fails every check of it: say "missing" once.
    shown = {name: ["missing"] if "missing" in found else found for name, found in kinds.items()}
    where = ", ".join(f"{name} ({'/'.join(found)})" for name, found in shown.items())
    return f"validate: FAILED {report['failed']} of {report['evaluated']} expectations: {where}; report: {report_path}"


def _replace_dir(built: Path, target: Path) -> None:
    """Move a freshly built folder onto `target` (the old one is removed only once the new one exists)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    built.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def validate_command(args: argparse.Namespace) -> int:
    """`validate`: check data/raw/ against schema.yaml; exit 1 when the contract breaks."""
    params = load_params()
    contract = load_contract(SCHEMA_FILE)
    if contract.target != params.data.target:
        raise ProjectError(
            f"{SCHEMA_FILE} is the contract of target {contract.target!r} but params.yaml has data.target "
            f"{params.data.target!r}: run `make schema` and review the diff"
        )
    frame = io.read_table(RAW_DATA)
    DATA_DOCS_DIR.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".data_docs.", dir=DATA_DOCS_DIR.parent))
    try:
        report = run_validation(frame, contract, params.contract, docs_dir=scratch)
        report = {"schema": str(SCHEMA_FILE), "data": str(RAW_DATA), **report}
        report["data_docs"] = str(DATA_DOCS_DIR / "index.html")
        io.write_json(report, VALIDATION_FILE)
        _replace_dir(scratch, DATA_DOCS_DIR)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for entry in report["expectations"]:
        if not entry["success"] and entry["severity"] == "warning" and entry.get("unexpected_columns"):
            print(f"validate: warning: columns not in {SCHEMA_FILE}: {', '.join(entry['unexpected_columns'])}")
    line = summary(report, VALIDATION_FILE)
    print(line, file=sys.stdout if report["success"] else sys.stderr)
    return 0 if report["success"] else 1
