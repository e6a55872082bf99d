"""The record rules (records.py) the service and batch scoring share: the plausible range of a number, the check of
whole columns with a reason code per rejected row (the same verdict as the service's typed request, record by
record), and the frame the model is given."""

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.contract import ColumnSpec
from {{ cookiecutter.package_name }}.params import ServeParams
from {{ cookiecutter.package_name }}.records import INT64, REASONS, IdColumn, check_columns, model_frame, plausible_range
from {{ cookiecutter.package_name }}.serving.runner import ModelRunner
from {{ cookiecutter.package_name }}.serving.schema import record_model

# --- plausible_range ---------------------------------------------------------------------------

RANGES = [(4.86, 30.23), (0.0, 0.03274), (-5.0, 5.0), (1990.0, 2024.0), (-2e6, -1e6), (0.0, 0.0), (1e-9, 3e-9)]


@pytest.mark.parametrize(("minimum", "maximum"), RANGES)
def test_values_within_the_contract_range_plus_the_factor_times_its_scale_are_never_rejected(minimum, maximum):
    factor = 1000.0
    low, high = plausible_range(minimum, maximum, factor)
    scale = max(maximum - minimum, abs(minimum), abs(maximum)) or 1.0
    assert low <= minimum - factor * scale
    assert high >= maximum + factor * scale
    assert low <= minimum <= maximum <= high


@pytest.mark.parametrize(("minimum", "maximum"), RANGES)
def test_values_near_the_float_limit_are_outside_every_plausible_range(minimum, maximum):
    low, high = plausible_range(minimum, maximum, 1000.0)
    assert not low <= 1.7e308 <= high
    assert not low <= -1.7e308 <= high
    assert high - low < 1e10


def test_bounds_are_rounded_outwards_to_two_significant_digits():
    assert plausible_range(4.86, 30.23, 1000.0) == (-31000.0, 31000.0)
    assert plausible_range(0.0, 0.03274, 1000.0) == (-33.0, 33.0)
    assert plausible_range(0.0, 0.0, 1000.0) == (-1000.0, 1000.0)


def test_a_narrow_range_far_from_zero_still_accepts_zero():
    low, high = plausible_range(1990, 2024, 10.0, integer=True)
    assert low <= 0 <= high
    assert (type(low), type(high)) == (int, int)


def test_without_a_contract_range_floats_are_unbounded_and_integers_fit_int64():
    assert plausible_range(None, 5.0, 1000.0) is None
    assert plausible_range(None, None, 1000.0, integer=True) == INT64
    assert plausible_range(0, 2**62, 1000.0, integer=True) == (INT64[0], INT64[1])


# --- check_columns: the service's verdict, column by column ------------------------------------------

FEATURES = (
    ColumnSpec("tenure_months", "float", nullable=True, minimum=1.0, maximum=71.0),
    ColumnSpec("plan_type", "string", nullable=True, categories=("basic", "plus", "pro")),
    ColumnSpec("monthly_charges", "float", nullable=False, minimum=20.0, maximum=100.0),
    ColumnSpec("seats", "integer", nullable=False, minimum=1.0, maximum=50.0),
    ColumnSpec("active", "boolean", nullable=False),
    ColumnSpec("city", "string", nullable=True),
)
SERVE = ServeParams(max_string_length=20)
GOOD = {"tenure_months": 12.0, "plan_type": "plus", "monthly_charges": 70.0, "seats": 3, "active": True, "city": "Oslo"}
# One record per reason (and the reason check_columns gives it): the service answers each with a 400.
BAD = [
    ({"monthly_charges": None}, "missing_value"),
    ({"seats": None}, "missing_value"),
    ({"monthly_charges": "seventy"}, "wrong_type"),
    ({"seats": 2.5}, "wrong_type"),
    ({"active": "maybe"}, "wrong_type"),
    ({"seats": True}, "wrong_type"),
    ({"tenure_months": math.inf}, "not_finite"),
    ({"monthly_charges": 1e300}, "out_of_range"),
    ({"seats": -(10**9)}, "out_of_range"),
    ({"city": "x" * 21}, "too_long"),
]
# What the service accepts (and so must batch scoring): an unknown category, nulls where nullable, a whole float.
ACCEPTED = [{"plan_type": "gold"}, {"tenure_months": None, "plan_type": None, "city": None}]


def service_accepts(record: dict) -> bool:
    try:
        record_model(FEATURES, SERVE.value_bound_factor, SERVE.max_string_length).model_validate(record)
    except ValidationError:
        return False
    return True


def checked(records: list[dict]):
    return check_columns(pd.DataFrame(records, dtype=object), FEATURES, None, SERVE)


@pytest.mark.parametrize(("change", "reason"), BAD)
def test_a_record_the_service_refuses_is_rejected_with_its_reason(change, reason):
    record = GOOD | change
    assert not service_accepts(record)
    result = checked([GOOD, record, GOOD])
    assert result.ok.tolist() == [True, False, True]
    codes, messages = result.reasons(np.array([1]))
    assert codes == [reason]
    assert messages[0].startswith(next(iter(change)))
    assert reason in REASONS


@pytest.mark.parametrize("change", ACCEPTED)
def test_a_record_the_service_accepts_is_accepted(change):
    record = GOOD | change
    assert service_accepts(record)
    assert checked([record]).ok.tolist() == [True]


def test_a_whole_number_written_as_a_float_is_an_integer_in_a_file():
    # The one difference from the service, which wants 4 in JSON: a file's integer column with nulls is written as
    # floats (pandas, Spark), so 4.0 is the integer 4 there; 4.5 is not.
    assert not service_accepts(GOOD | {"seats": 4.0})
    assert checked([GOOD | {"seats": 4.0}, GOOD | {"seats": 4.5}]).ok.tolist() == [True, False]


def test_text_from_a_csv_is_checked_as_the_values_it_spells():
    frame = pd.DataFrame(
        {
            "tenure_months": ["12.5", "", "x"],
            "plan_type": ["plus", None, "pro"],
            "monthly_charges": ["70", "1e9", "80"],
            "seats": ["3", "4", "5"],
            "active": ["true", "False", "1"],
            "city": ["Oslo", "Rome", "Lima"],
        }
    ).replace("", None)
    result = check_columns(frame, FEATURES, None, SERVE)
    assert result.ok.tolist() == [True, False, False]
    assert result.reasons(np.array([1, 2]))[0] == ["out_of_range", "wrong_type"]
    assert result.columns["monthly_charges"].iloc[0] == 70.0
    assert result.columns["active"].tolist() == [True, False, True]


def test_the_first_problem_of_a_row_is_its_reason_and_a_missing_required_column_rejects_every_row():
    frame = pd.DataFrame([GOOD | {"monthly_charges": None, "seats": 2.5}] * 2, dtype=object).drop(columns="active")
    result = check_columns(frame, FEATURES, None, SERVE)
    assert result.reasons(np.array([0, 1]))[0] == ["missing_value", "missing_value"]
    without_charges = frame.drop(columns="monthly_charges").assign(seats=3)
    assert check_columns(without_charges, FEATURES, None, SERVE).reasons(np.array([0]))[0] == ["missing_column"]
    without_city = pd.DataFrame([GOOD], dtype=object).drop(columns="city")
    assert check_columns(without_city, FEATURES, None, SERVE).ok.tolist() == [True]  # nullable: null


def test_ids_are_text_and_a_bad_id_is_rejected():
    records = [GOOD | {"customer_id": value} for value in ("C1", None, "", "x" * 21)]
    result = check_columns(pd.DataFrame(records, dtype=object), FEATURES, IdColumn("customer_id", "string"), SERVE)
    assert result.ok.tolist() == [True, True, False, False]
    assert result.reasons(np.array([2, 3]))[0] == ["bad_id", "bad_id"]
    assert result.ids is not None
    assert result.ids.iloc[0] == "C1"
    assert result.ids.iloc[1] is None
    numbers = pd.DataFrame([GOOD | {"n": value} for value in (7, 7.5, 2**64)], dtype=object)
    by_number = check_columns(numbers, FEATURES, IdColumn("n", "integer"), SERVE)
    assert by_number.ok.tolist() == [True, False, False]
    assert by_number.ids is not None
    assert by_number.ids.iloc[0] == "7"


def test_the_model_frame_is_the_services():
    rows = [tuple((GOOD | change)[spec.name] for spec in FEATURES) for change in ({}, {"plan_type": None})]
    runner = ModelRunner(model=object(), features=FEATURES)
    columns = {spec.name: pd.Series([row[i] for row in rows], dtype=object) for i, spec in enumerate(FEATURES)}
    typed = check_columns(pd.DataFrame(columns), FEATURES, None, SERVE).columns
    pd.testing.assert_frame_equal(model_frame(typed, FEATURES), runner.frame(rows))
    numeric = [spec for spec in FEATURES if spec.numeric]
    numbers = [tuple(float(GOOD[spec.name]) for spec in numeric)] * 3
    block = model_frame({spec.name: np.array([row[i] for row in numbers]) for i, spec in enumerate(numeric)}, numeric)
    expected = ModelRunner(model=object(), features=numeric).frame(numbers)
    pd.testing.assert_frame_equal(block, expected)
    assert block.to_numpy().flags.c_contiguous == expected.to_numpy().flags.c_contiguous
