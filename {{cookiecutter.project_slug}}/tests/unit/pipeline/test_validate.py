"""The validate stage's plan (pipeline/validate.py): the suite built from the contract, the frame GX checks, the
one-line summary."""

import pandas as pd

from {{ cookiecutter.package_name }}.params import ContractParams
from {{ cookiecutter.package_name }}.pipeline.schema import infer_contract
from {{ cookiecutter.package_name }}.pipeline.validate import ROW_HASH, gx_frame, planned_checks, summary

SETTINGS = ContractParams()


def test_the_suite_checks_each_column_and_the_table(contract_frame):
    contract = infer_contract(contract_frame, "label", "classification", SETTINGS, id_column="user_id")
    checks = [(check.column, check.kind) for check, _, _ in planned_checks(contract, SETTINGS)]
    assert ("plan", "categories") in checks
    assert ("age", "range") in checks
    assert ("user_id", "unique") in checks
    assert ("active", "range") not in checks
    assert ("note", "categories") not in checks
    assert sum(kind == "type" for _, kind in checks) == len(contract_frame.columns)
    assert checks[-3:] == [(None, "columns"), (None, "row_count"), (None, "duplicates")]


def test_extra_columns_fail_or_only_warn_but_missing_ones_always_fail(contract_frame):
    contract = infer_contract(contract_frame, "label", "classification", SETTINGS)
    strict = [(c.severity, k["exact_match"]) for c, _, k in planned_checks(contract, SETTINGS) if c.kind == "columns"]
    assert strict == [("error", True)]
    warn = ContractParams(extra_columns="warn")
    lenient = [(c.severity, k["exact_match"]) for c, _, k in planned_checks(contract, warn) if c.kind == "columns"]
    assert lenient == [("error", False), ("warning", True)]


def test_text_is_handed_to_gx_as_objects_with_a_row_hash(contract_frame):
    contract = infer_contract(contract_frame, "label", "classification", SETTINGS)
    checked = gx_frame(pd.concat([contract_frame, contract_frame.head(1)], ignore_index=True), contract)
    assert checked["plan"].dtype == pd.StringDtype()
    assert checked["age"].dtype == contract_frame["age"].dtype
    as_objects = contract_frame.astype({"plan": object})
    assert gx_frame(as_objects, contract)["plan"].dtype == object  # values checked one by one
    assert checked[ROW_HASH].duplicated().sum() == 1
    assert ROW_HASH not in contract_frame.columns


def test_the_summary_names_each_failing_column_once_and_a_missing_one_as_missing():
    failed = {"success": False, "severity": "error"}
    report = {
        "success": False,
        "failed": 3,
        "evaluated": 40,
        "expectations": [
            {"column": "age", "kind": "range", **failed},
            {"column": "age", "kind": "nulls", **failed},
            {"column": None, "kind": "row_count", **failed},
            {"column": "gone", "kind": "nulls", **failed},
            {"column": None, "kind": "columns", "missing_columns": ["gone"], "unexpected_columns": ["new"], **failed},
            {"column": "plan", "kind": "categories", "success": True, "severity": "error"},
        ],
    }
    line = summary(report, "reports/validation.json")
    assert line == (
        "validate: FAILED 3 of 40 expectations: age (range/nulls), table (row_count), gone (missing), "
        "new (not in the contract); report: reports/validation.json"
    )
