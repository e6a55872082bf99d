"""`schema` (pipeline/schema.py): the contract inferred from a frame, ranges widened, ids and free text found."""

import pytest

from {{ cookiecutter.package_name }}.contract import contract_from_dict, contract_to_dict
from {{ cookiecutter.package_name }}.errors import ContractError
from {{ cookiecutter.package_name }}.params import ContractParams
from {{ cookiecutter.package_name }}.pipeline.schema import infer_contract, widened_range

SETTINGS = ContractParams()


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


def test_inference_describes_every_column(contract_frame):
    contract = infer_contract(contract_frame, "label", "classification", SETTINGS, id_column="user_id")
    assert contract.names == tuple(contract_frame.columns)
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
    numbered = infer_contract(contract_frame.assign(user_id=range(100)), "label", "classification", SETTINGS, "user_id")
    assert numbered.column("user_id").minimum is None  # new rows bring new ids


def test_a_classification_target_lists_its_labels_a_regression_target_its_range(contract_frame):
    many = contract_frame.assign(label=[f"class {i % 30}" for i in range(len(contract_frame))])
    labels = infer_contract(many, "label", "classification", SETTINGS).column("label").categories
    assert labels is not None
    assert len(labels) == 30
    integer_labels = contract_frame.assign(label=contract_frame.index % 3)
    target = infer_contract(integer_labels, "label", "classification", SETTINGS).column("label")
    assert target.categories == (0, 1, 2)
    assert target.minimum is None
    regression = infer_contract(contract_frame, "income", "regression", SETTINGS).column("income")
    assert regression.categories is None
    assert regression.minimum is not None
    assert not regression.nullable  # a target is never nullable, whatever the data had


def test_near_unique_text_is_kept_in_the_contract_but_not_as_a_feature(contract_frame):
    contract = infer_contract(contract_frame, "label", "classification", SETTINGS, id_column="user_id")
    assert not contract.column("note").feature  # 100 distinct texts in 100 rows
    assert contract.column("plan").feature
    assert contract.column("user_id").feature  # the id is left out of the features by data.id_column
    assert [spec.name for spec in contract.feature_specs("user_id")] == ["age", "income", "plan", "active"]
    # never required: the service does not take it, so labelled production rows come without it
    note = {"name": "note", "kind": "string", "nullable": True, "feature": False}
    assert contract_to_dict(contract)["columns"][5] == note
    assert contract_from_dict(contract_to_dict(contract)) == contract
    looser = ContractParams(near_unique_share=1.0)
    assert infer_contract(contract_frame, "label", "classification", looser, "user_id").column("note").feature


def test_inference_needs_rows_and_the_target(contract_frame):
    with pytest.raises(ContractError, match="no rows"):
        infer_contract(contract_frame.iloc[:0], "label", "classification", SETTINGS)
    with pytest.raises(ContractError, match="'nope' is not a column"):
        infer_contract(contract_frame, "nope", "classification", SETTINGS)
