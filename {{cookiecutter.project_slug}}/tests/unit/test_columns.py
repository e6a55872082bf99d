"""The one rule of column kinds: the contract, training and the drift check treat every column alike."""

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.columns import (
    CATEGORICAL,
    KINDS,
    NUMERIC,
    column_kind,
    dtype_treatment,
    feature_columns,
    is_text,
    split_by_treatment,
    treatment,
)
from {{ cookiecutter.package_name }}.errors import ContractError


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([1.5, np.nan]), NUMERIC),
        (pd.Series([1, 2]), NUMERIC),
        (pd.Series([True, False]), CATEGORICAL),  # a two-valued category, never a 0/1 number
        (pd.Series(["a", "b"], dtype="str"), CATEGORICAL),
        (pd.Series(["a", "b"], dtype="category"), CATEGORICAL),
    ],
)
def test_a_dtype_is_treated_as_its_contract_kind_is(values, expected):
    assert dtype_treatment(values.dtype) == expected


def test_the_contract_rule_agrees_with_the_dtype_rule():
    assert treatment("float") == treatment("integer") == NUMERIC
    assert treatment("boolean") == treatment("string") == CATEGORICAL
    assert treatment("integer", categories=(0, 1, 2)) == CATEGORICAL  # integer class labels


def test_features_are_every_column_but_the_target_the_id_and_the_excluded():
    columns = ["id", "a", "note", "target", "b"]
    assert feature_columns(columns, "target", "id", excluded=["note"]) == ["a", "b"]
    assert feature_columns(columns, "target", None) == ["id", "a", "note", "b"]


def test_a_table_splits_into_numeric_and_categorical_columns_in_order():
    frame = pd.DataFrame({"n": [1.0], "flag": [True], "s": pd.Series(["x"], dtype="str"), "i": [3]})
    assert split_by_treatment(frame) == (["n", "i"], ["flag", "s"])


def test_text_dtypes_are_recognised_through_categories():
    assert is_text(pd.Series(["a"], dtype="str").dtype)
    assert is_text(pd.Series(["a"], dtype="str").astype("category").dtype)
    assert not is_text(pd.Series([1]).dtype)


def test_kinds_follow_the_pandas_dtypes(contract_frame):
    kinds = {name: column_kind(contract_frame[name]) for name in contract_frame.columns}
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


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_each_kind_describes_its_own_values_and_refuses_its_wrong_value(kind):
    import pyarrow as pa

    value = {"integer": 3, "float": 2.5, "boolean": True, "string": "text"}[kind.name]
    assert kind.fits(value)
    assert not kind.fits(kind.wrong_value)
    assert isinstance(value, kind.python)
    column = pd.Series([value, value]).astype(kind.dtype)
    assert column_kind(column) == kind.name
    assert column_kind(pd.Series([value, None]).astype(kind.nullable_dtype)) == kind.name
    assert pa.array([value], type=pa.type_for_alias(kind.arrow)).to_pylist() == [value]
    assert kind.numeric == (kind.name in ("integer", "float"))
