"""The data contract as typed objects (contract.py): the schema.yaml round trip and the row-level rules."""

import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.contract import ColumnSpec, Contract, contract_from_dict, contract_to_dict, row_problems
from {{ cookiecutter.package_name }}.params import ContractParams
from {{ cookiecutter.package_name }}.pipeline.schema import infer_contract

SETTINGS = ContractParams()


def test_the_yaml_form_round_trips_and_leaves_out_unset_fields(contract_frame):
    contract = infer_contract(contract_frame, "label", "classification", SETTINGS, id_column="user_id")
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
def test_a_broken_contract_is_refused(contract_frame, change, message):
    data = contract_to_dict(infer_contract(contract_frame, "label", "classification", SETTINGS))
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
