"""The service's request and answer types (serving/schema.py): a record typed from the contract, its plausible ranges
and id, a feedback label, and the unknown categories a record may carry."""

import json
import math

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.contract import ColumnSpec
from {{ cookiecutter.package_name }}.serving.config import IdColumn
from {{ cookiecutter.package_name }}.serving.schema import feedback_model, record_model, unknown_categories

FEATURES = [
    ColumnSpec("tenure_months", "float", nullable=True, minimum=1.0, maximum=71.0),
    ColumnSpec("plan_type", "string", nullable=True, categories=("basic", "plus", "pro")),
    ColumnSpec("monthly_charges", "float", nullable=False, minimum=20.0, maximum=100.0),
    ColumnSpec("seats", "integer", nullable=False, minimum=1.0, maximum=50.0),
    ColumnSpec("json", "boolean", nullable=False),  # a name that BaseModel has as an attribute
    ColumnSpec("city", "string", nullable=True),  # no categories: free text up to max_string_length
    ColumnSpec("score", "float", nullable=True),  # no range in the contract: no bound
]
GOOD = {"tenure_months": 12.0, "plan_type": "plus", "monthly_charges": 70, "seats": 3, "json": True, "city": "Oslo"}
GOOD |= {"score": 0.5}


def errors_of(record: dict) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as caught:
        record_model(FEATURES, 1000.0, max_string_length=20).model_validate(record)
    return [(error["loc"], error["type"]) for error in caught.value.errors()]


def test_a_good_record_is_accepted_and_an_integer_counts_as_a_float():
    record = record_model(FEATURES).model_validate(GOOD)
    assert record.model_dump(by_alias=True) == GOOD


def test_nullable_fields_may_be_null_or_left_out():
    record = record_model(FEATURES).model_validate({**GOOD, "tenure_months": None} | {"plan_type": None})
    assert record.model_dump(by_alias=True)["plan_type"] is None
    partial = {key: value for key, value in GOOD.items() if key != "tenure_months"}
    assert record_model(FEATURES).model_validate(partial).model_dump(by_alias=True)["tenure_months"] is None


@pytest.mark.parametrize(
    ("change", "where", "error"),
    [
        ({"monthly_charges": None}, "monthly_charges", "float_type"),
        ({"monthly_charges": "70"}, "monthly_charges", "float_type"),
        ({"seats": 2.5}, "seats", "int_type"),
        ({"json": 1}, "json", "bool_type"),
        ({"plan_type": 3}, "plan_type", "string_type"),
        ({"plan_type": "p" * 21}, "plan_type", "string_too_long"),
        ({"monthly_charges": math.nan}, "monthly_charges", "finite_number"),
        ({"churn": "yes"}, "churn", "extra_forbidden"),
        ({"monthly_charges": 1.7e308}, "monthly_charges", "less_than_equal"),
        ({"monthly_charges": -1e7}, "monthly_charges", "greater_than_equal"),
        ({"tenure_months": 1e9}, "tenure_months", "less_than_equal"),
        ({"seats": 10**30}, "seats", "less_than_equal"),
        ({"city": "x" * 21}, "city", "string_too_long"),
    ],
)
def test_a_bad_value_is_rejected_naming_its_field(change, where, error):
    assert errors_of({**GOOD, **change}) == [((where,), error)]


def test_an_unknown_category_is_accepted_and_found_as_drift():
    record = record_model(FEATURES, 1000.0, max_string_length=20).model_validate({**GOOD, "plan_type": "gold"})
    assert record.model_dump(by_alias=True)["plan_type"] == "gold"
    rows = [tuple((GOOD | {"plan_type": plan}).values()) for plan in ("gold", "plus", None)]
    assert unknown_categories(FEATURES)(rows) == [["plan_type"], [], []]
    assert unknown_categories(FEATURES[:1])([(1.0,), (2.0,)]) == [[], []]


def test_the_known_categories_are_described_in_the_openapi_schema():
    properties = record_model(FEATURES).model_json_schema(by_alias=True)["properties"]
    assert "known categories: basic, plus, pro" in json.dumps(properties["plan_type"])


ID_COLUMN = IdColumn("customer_id", "string")


def test_a_record_may_carry_its_id_and_only_a_well_formed_one():
    model = record_model(FEATURES, 1000.0, 20, ID_COLUMN)
    assert model.model_validate({**GOOD, "customer_id": "C00001"}).record_id == "C00001"
    assert model.model_validate(GOOD).record_id is None
    for bad in ("", "c" * 21, 7):
        with pytest.raises(ValidationError) as caught:
            model.model_validate({**GOOD, "customer_id": bad})
        assert caught.value.errors()[0]["loc"][0] == "customer_id"
    numbered = record_model(FEATURES, 1000.0, 20, IdColumn("row", "integer"))
    assert numbered.model_validate({**GOOD, "row": 12}).record_id == 12
    with pytest.raises(ValidationError):
        record_model(FEATURES).model_validate({**GOOD, "customer_id": "C1"})  # no id column: an unknown field


@pytest.mark.parametrize(
    ("classes", "good", "bad"),
    [
        (["no", "yes"], ["yes", "no"], ["maybe", 1, None]),
        ([0, 1, 2], [0, 2], [3, "1", None]),
        (None, [3.5, 7, -1e6], ["3.5", None, True]),
    ],
    ids=["string-classes", "integer-classes", "regression"],
)
def test_a_feedback_label_is_one_of_the_classes_or_a_finite_number(classes, good, bad):
    model = feedback_model(classes, max_id_length=10)
    for label in good:
        assert model.model_validate({"id": "abc", "label": label}).label == label
    for label in bad:
        with pytest.raises(ValidationError) as caught:
            model.model_validate({"id": "abc", "label": label})
        assert caught.value.errors()[0]["loc"] == ("label",)
    for item in ({"id": "", "label": good[0]}, {"id": "a" * 11, "label": good[0]}, {"id": 7, "label": good[0]}):
        with pytest.raises(ValidationError) as caught:
            model.model_validate(item)
        assert caught.value.errors()[0]["loc"][0] == "id"
    with pytest.raises(ValidationError):
        model.model_validate({"id": "abc", "label": good[0], "weight": 1})


def test_regression_feedback_refuses_what_is_not_finite():
    with pytest.raises(ValidationError):
        feedback_model(None).model_validate_json('{"id": "5", "label": NaN}')


def test_values_far_outside_the_contract_range_are_drift_not_errors():
    model = record_model(FEATURES, 1000.0)
    for change in ({"monthly_charges": 100 + 500 * 80}, {"monthly_charges": -5000.0}, {"seats": -40_000}):
        model.model_validate({**GOOD, **change})
    assert model.model_validate({**GOOD, "score": 1.7e308}).model_dump(by_alias=True)["score"] == 1.7e308


def test_the_plausible_range_and_string_length_are_in_the_openapi_schema():
    properties = record_model(FEATURES, 1000.0, max_string_length=20).model_json_schema(by_alias=True)["properties"]
    assert (properties["monthly_charges"]["minimum"], properties["monthly_charges"]["maximum"]) == (-100000, 110000)
    assert (properties["seats"]["minimum"], properties["seats"]["maximum"]) == (-50000, 51000)
    assert properties["city"]["anyOf"][0]["maxLength"] == 20
    assert "maximum" not in json.dumps(properties["score"])


def test_a_missing_required_field_is_named():
    record = {key: value for key, value in GOOD.items() if key != "seats"}
    assert errors_of(record) == [(("seats",), "missing")]
