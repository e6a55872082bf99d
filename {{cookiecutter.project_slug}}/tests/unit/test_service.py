"""The service's pure parts: the request record type, the rows-to-model runner and the adaptive batcher."""

import asyncio
import logging
import math
import time

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.serving.batcher import AdaptiveBatcher, Overloaded
from {{ cookiecutter.package_name }}.serving.service import ClientErrorFilter, ModelRunner, record_model

FEATURES = [
    {"name": "tenure_months", "kind": "float", "nullable": True},
    {"name": "plan_type", "kind": "string", "nullable": True, "categories": ["basic", "plus", "pro"]},
    {"name": "monthly_charges", "kind": "float", "nullable": False},
    {"name": "seats", "kind": "integer", "nullable": False},
    {"name": "json", "kind": "boolean", "nullable": False},  # a name that BaseModel has as an attribute
]
GOOD = {"tenure_months": 12.0, "plan_type": "plus", "monthly_charges": 70, "seats": 3, "json": True}


def errors_of(record: dict) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as caught:
        record_model(FEATURES).model_validate(record)
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
        ({"plan_type": "gold"}, "plan_type", "literal_error"),
        ({"monthly_charges": math.nan}, "monthly_charges", "finite_number"),
        ({"churn": "yes"}, "churn", "extra_forbidden"),
    ],
)
def test_a_bad_value_is_rejected_naming_its_field(change, where, error):
    assert errors_of({**GOOD, **change}) == [((where,), error)]


def test_a_missing_required_field_is_named():
    record = {key: value for key, value in GOOD.items() if key != "seats"}
    assert errors_of(record) == [(("seats",), "missing")]


@pytest.fixture
def churn_model(make_customers):
    from {{ cookiecutter.package_name }}.params import Params
    from {{ cookiecutter.package_name }}.pipeline.data import normalise_columns
    from {{ cookiecutter.package_name }}.pipeline.train import train

    frame = normalise_columns(make_customers(120, 3)).drop(columns="customer_id")
    params = Params.model_validate(
        {
            "task": "classification",
            "data": {"source": "x.csv", "target": "churn"},
            "train": {"estimator": "logistic_regression", "params": {}},
        }
    )
    features = frame.drop(columns="churn")
    return train(features, frame["churn"], params), features


CHURN_FEATURES = [
    {"name": "tenure_months", "kind": "float", "nullable": True},
    {"name": "plan_type", "kind": "string", "nullable": True, "categories": ["basic", "plus", "pro"]},
    {"name": "monthly_charges", "kind": "float", "nullable": False},
]


def test_runner_predicts_what_the_pipeline_predicts_with_nulls_and_strings(churn_model):
    model, features = churn_model
    rows = [tuple(None if pd.isna(value) else value for value in row) for row in features.itertuples(index=False)]
    outputs = ModelRunner(model, CHURN_FEATURES).predict(rows)
    assert [prediction for prediction, _ in outputs] == model.predict(features).tolist()
    probabilities = np.array([[proba[str(label)] for label in model.classes_] for _, proba in outputs])
    np.testing.assert_allclose(probabilities, model.predict_proba(features))


def test_runner_builds_the_training_dtypes():
    runner = ModelRunner(type("Fake", (), {"predict": None})(), FEATURES)
    frame = runner.frame([(None, None, 1, 2, True), (3.5, "pro", 2.5, 4, False)])
    assert list(frame.columns) == [spec["name"] for spec in FEATURES]
    assert frame.dtypes.astype(str).tolist() == ["float64", "str", "float64", "int64", "bool"]
    assert frame["tenure_months"].isna().tolist() == [True, False]
    assert frame["plan_type"].isna().tolist() == [True, False]


class RecordingModel:
    """A fake predict function: remembers batch sizes, answers each row with its first value doubled."""

    def __init__(self, fail_on: int | None = None, seconds: float = 0.0) -> None:
        self.batches: list[int] = []
        self.fail_on = fail_on
        self.seconds = seconds

    def __call__(self, rows, request_ids):
        self.batches.append(len(rows))
        time.sleep(self.seconds)
        if self.fail_on is not None and any(row[0] == self.fail_on for row in rows):
            raise ValueError("model broke")
        return [(row[0] * 2, None) for row in rows]


def test_requests_that_arrive_while_the_model_is_busy_share_one_batch():
    model = RecordingModel(seconds=0.05)

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=100, max_queue_rows=1000)
        first = asyncio.ensure_future(batcher.submit([(0,), (100,)]))
        await asyncio.sleep(0.01)  # the model is busy with the first request now
        rest = [batcher.submit([(i,), (i + 100,)]) for i in range(1, 10)]
        return await asyncio.gather(first, *rest)

    results = asyncio.run(scenario())
    assert results == [[(2 * i, None), (2 * (i + 100), None)] for i in range(10)]
    assert model.batches == [2, 18]  # the first request alone, no waiting; the other nine together


def test_a_batch_never_exceeds_max_batch_rows_but_a_large_request_stays_whole():
    model = RecordingModel()

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=4, max_queue_rows=1000)
        await asyncio.gather(*(batcher.submit([(i,)] * 3) for i in range(4)), batcher.submit([(9,)] * 6))

    asyncio.run(scenario())
    assert model.batches == [3, 3, 3, 3, 6]


def test_a_full_queue_answers_overloaded():
    async def scenario():
        batcher = AdaptiveBatcher(RecordingModel(), max_batch_rows=10, max_queue_rows=5)
        first = asyncio.ensure_future(batcher.submit([(1,)] * 5))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="max_queue_rows 5"):
            await batcher.submit([(2,)])
        return await first

    assert len(asyncio.run(scenario())) == 5


def test_a_model_error_reaches_the_callers_of_its_batch_only():
    model = RecordingModel(fail_on=13)

    async def scenario():
        batcher = AdaptiveBatcher(model, max_batch_rows=100, max_queue_rows=1000)
        first = await batcher.submit([(1,)])
        failing = await asyncio.gather(batcher.submit([(13,)]), return_exceptions=True)
        later = await batcher.submit([(2,)])
        return first, failing, later

    first, failing, later = asyncio.run(scenario())
    assert first == [(2, None)]
    assert later == [(4, None)]
    assert isinstance(failing[0], ValueError)


def test_a_rejected_request_is_logged_as_one_warning_line_without_a_traceback():
    try:
        record_model(FEATURES).model_validate({**GOOD, "seats": "three"})
    except ValidationError as error:
        exc_info = (type(error), error, error.__traceback__)
    record = logging.LogRecord("http", logging.ERROR, "app.py", 1, "Exception on %s [%s]", ("/predict", "POST"), None)
    record.exc_info = exc_info
    assert ClientErrorFilter().filter(record)
    assert (record.levelno, record.exc_info) == (logging.WARNING, None)
    expected = "Exception on /predict [POST]: 400, seats: Input should be a valid integer"
    assert record.getMessage() == expected
