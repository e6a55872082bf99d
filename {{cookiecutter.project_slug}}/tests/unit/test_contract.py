"""The data contract: inference from a frame, the schema.yaml round trip, and the suite it plans."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.columns import column_kind
from {{ cookiecutter.package_name }}.errors import ContractError
from {{ cookiecutter.package_name }}.params import ContractParams
from {{ cookiecutter.package_name }}.pipeline.contract import (
    ColumnSpec,
    Contract,
    contract_from_dict,
    contract_to_dict,
    infer_contract,
    row_problems,
    widened_range,
)
from {{ cookiecutter.package_name }}.pipeline.validate import ROW_HASH, gx_frame, planned_checks, summary

SETTINGS = ContractParams()


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = 100
    return pd.DataFrame(
        {
            "user_id": [f"U{i:04d}" for i in range(rows)],
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50_000, 10_000, rows).round(2),
            "plan": pd.Series(rng.choice(["basic", "pro"], rows), dtype="str"),
            "active": rng.random(rows) < 0.5,
            "note": pd.Series([f"free text {i}" for i in range(rows)], dtype="str"),
            "label": pd.Series(rng.choice(["no", "yes"], rows), dtype="str"),
        }
    ).assign(income=lambda f: f["income"].mask(f.index % 10 == 0))


def test_kinds_follow_the_pandas_dtypes(frame):
    kinds = {name: column_kind(frame[name]) for name in frame.columns}
    assert kinds == {
        "user_id": "string",
        "age": "integer",
        "income": "float",
        "plan": "string",
        "active": "boolean",
        "note": "string",
        "label": "string",
    }
    assert column_kind(pd.Series(["a", None], dtype=object)) == "string"
    assert column_kind(pd.Series(["a", "b"], dtype="category")) == "string"
    assert column_kind(pd.Series([True, None], dtype=object)) == "boolean"


def test_mixed_values_and_dates_are_refused_with_the_column_name():
    with pytest.raises(ContractError, match="'mixed' mixes value types"):
        column_kind(pd.Series(["a", 1], dtype=object, name="mixed"))
    with pytest.raises(ContractError, match="'when' has dtype datetime64"):
        column_kind(pd.Series(pd.to_datetime(["2026-01-01"]), name="when"))


def test_ranges_widen_by_the_margin_and_round_outwards():
    assert widened_range(10.0, 20.0, 0.1, integer=False) == (9.0, 21.0)
    low, high = widened_range(0.123456, 0.223456, 0.0, integer=False)
    assert low <= 0.123456
    assert high >= 0.223456
    assert (low, high) == (0.1234, 0.2235)
    assert widened_range(18, 89, 0.1, integer=True) == (10.0, 97.0)


def test_ranges_never_widen_across_zero():
    assert widened_range(1.0, 11.0, 0.5, integer=False) == (0.0, 16.0)
    assert widened_range(-11.0, -1.0, 0.5, integer=False) == (-16.0, 0.0)
    assert widened_range(-1.0, 1.0, 0.5, integer=False) == (-2.0, 2.0)


def test_a_constant_column_still_gets_a_range():
    assert widened_range(5.0, 5.0, 0.1, integer=False) == (4.5, 5.5)
    assert widened_range(0.0, 0.0, 0.1, integer=False) == (0.0, 0.1)


def test_inference_describes_every_column(frame):
    contract = infer_contract(frame, "label", "classification", SETTINGS, id_column="user_id")
    assert contract.names == tuple(frame.columns)
    assert contract.target == "label"
    assert (contract.min_rows, contract.max_rows) == (50, 10_000)
    age, income, plan = contract.column("age"), contract.column("income"), contract.column("plan")
    assert age.kind == "integer"
    assert age.minimum <= 18
    assert age.maximum >= 89
    assert not age.nullable
    assert income.nullable
    assert income.max_null_fraction == pytest.approx(0.15)
    assert plan.categories == ("basic", "pro")
    assert contract.column("note").categories is None  # 100 distinct values > max_categories
    assert contract.column("label").categories == ("no", "yes")
    assert contract.column("user_id").unique
    assert contract.column("user_id").categories is None
    assert contract.column("active").minimum is None
    numbered = infer_contract(frame.assign(user_id=range(100)), "label", "classification", SETTINGS, "user_id")
    assert numbered.column("user_id").minimum is None  # new rows bring new ids


def test_a_classification_target_lists_its_labels_a_regression_target_its_range(frame):
    many = frame.assign(label=[f"class {i % 30}" for i in range(len(frame))])
    labels = infer_contract(many, "label", "classification", SETTINGS).column("label").categories
    assert labels is not None
    assert len(labels) == 30
    integer_labels = frame.assign(label=frame.index % 3)
    target = infer_contract(integer_labels, "label", "classification", SETTINGS).column("label")
    assert target.categories == (0, 1, 2)
    assert target.minimum is None
    regression = infer_contract(frame, "income", "regression", SETTINGS).column("income")
    assert regression.categories is None
    assert regression.minimum is not None
    assert not regression.nullable  # a target is never nullable, whatever the data had


def test_near_unique_text_is_kept_in_the_contract_but_not_as_a_feature(frame):
    contract = infer_contract(frame, "label", "classification", SETTINGS, id_column="user_id")
    assert not contract.column("note").feature  # 100 distinct texts in 100 rows
    assert contract.column("plan").feature
    assert contract.column("user_id").feature  # the id is left out of the features by data.id_column
    assert [spec.name for spec in contract.feature_specs("user_id")] == ["age", "income", "plan", "active"]
    # never required: the service does not take it, so labelled production rows come without it
    note = {"name": "note", "kind": "string", "nullable": True, "feature": False}
    assert contract_to_dict(contract)["columns"][5] == note
    assert contract_from_dict(contract_to_dict(contract)) == contract
    looser = ContractParams(near_unique_share=1.0)
    assert infer_contract(frame, "label", "classification", looser, id_column="user_id").column("note").feature


def test_inference_needs_rows_and_the_target(frame):
    with pytest.raises(ContractError, match="no rows"):
        infer_contract(frame.iloc[:0], "label", "classification", SETTINGS)
    with pytest.raises(ContractError, match="'nope' is not a column"):
        infer_contract(frame, "nope", "classification", SETTINGS)


def test_the_yaml_form_round_trips_and_leaves_out_unset_fields(frame):
    contract = infer_contract(frame, "label", "classification", SETTINGS, id_column="user_id")
    data = contract_to_dict(contract)
    assert list(data) == ["version", "target", "rows", "columns"]
    assert data["columns"][3] == {"name": "plan", "kind": "string", "nullable": False, "categories": ["basic", "pro"]}
    assert contract_from_dict(data) == contract


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["columns"][0].update(kind="decimal"), "Input should be"),
        (lambda d: d["columns"][0].update(colour="red"), "Unexpected keyword argument"),
        (lambda d: d["columns"][1].update(minimum=100, maximum=1), "is above maximum"),
        (lambda d: d["columns"][4].update(minimum=0), "only apply to integer and float"),
        (lambda d: d["columns"][3].update(categories=[1, 2]), "must be strings"),
        (lambda d: d.update(target="missing"), "not one of the columns"),
        (lambda d: d["columns"].append(dict(d["columns"][0])), "listed twice"),
    ],
)
def test_a_broken_contract_is_refused(frame, change, message):
    data = contract_to_dict(infer_contract(frame, "label", "classification", SETTINGS))
    change(data)
    with pytest.raises((ValidationError, ValueError), match=message):
        contract_from_dict(data)


def test_feature_specs_leave_out_the_target_and_the_id():
    specs = (ColumnSpec("id", "string", False), ColumnSpec("x", "float", True), ColumnSpec("y", "string", False))
    contract = Contract(columns=specs, target="y")
    assert [spec.name for spec in contract.feature_specs("id")] == ["x"]
    assert [spec.name for spec in contract.feature_specs(None)] == ["id", "x"]


def test_each_row_is_checked_against_the_columns_kind_nulls_range_and_categories():
    specs = (
        ColumnSpec("age", "integer", False, minimum=18, maximum=90),
        ColumnSpec("income", "float", True, minimum=0.0),
        ColumnSpec("plan", "string", False, categories=("basic", "pro")),
        ColumnSpec("label", "string", False, categories=("no", "yes")),
    )
    contract = Contract(columns=specs, target="label")
    rows = pd.DataFrame(
        {
            "age": [30, 30.5, 17, None, 40],
            "income": [1.0, None, 5.0, 2.0, -3.0],
            "plan": ["basic", "pro", "gold", "pro", 7],
            "label": ["no", "yes", "yes", "maybe", "no"],
        }
    )
    assert row_problems(rows, contract).tolist() == [
        "",
        "age: not an integer",
        "age: below the minimum 18; plan: not one of the categories",
        "age: missing; label: not one of the categories",
        "income: below the minimum 0; plan: not a string",
    ]
    assert row_problems(rows.drop(columns="plan"), contract).str.contains("plan: missing").all()


def test_the_suite_checks_each_column_and_the_table(frame):
    contract = infer_contract(frame, "label", "classification", SETTINGS, id_column="user_id")
    checks = [(check.column, check.kind) for check, _, _ in planned_checks(contract, SETTINGS)]
    assert ("plan", "categories") in checks
    assert ("age", "range") in checks
    assert ("user_id", "unique") in checks
    assert ("active", "range") not in checks
    assert ("note", "categories") not in checks
    assert sum(kind == "type" for _, kind in checks) == len(frame.columns)
    assert checks[-3:] == [(None, "columns"), (None, "row_count"), (None, "duplicates")]


def test_extra_columns_fail_or_only_warn_but_missing_ones_always_fail(frame):
    contract = infer_contract(frame, "label", "classification", SETTINGS)
    strict = [(c.severity, k["exact_match"]) for c, _, k in planned_checks(contract, SETTINGS) if c.kind == "columns"]
    assert strict == [("error", True)]
    warn = ContractParams(extra_columns="warn")
    lenient = [(c.severity, k["exact_match"]) for c, _, k in planned_checks(contract, warn) if c.kind == "columns"]
    assert lenient == [("error", False), ("warning", True)]


def test_text_is_handed_to_gx_as_objects_with_a_row_hash(frame):
    contract = infer_contract(frame, "label", "classification", SETTINGS)
    checked = gx_frame(pd.concat([frame, frame.head(1)], ignore_index=True), contract)
    assert checked["plan"].dtype == pd.StringDtype()
    assert checked["age"].dtype == frame["age"].dtype
    assert gx_frame(frame.astype({"plan": object}), contract)["plan"].dtype == object  # values checked one by one
    assert checked[ROW_HASH].duplicated().sum() == 1
    assert ROW_HASH not in frame.columns


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
