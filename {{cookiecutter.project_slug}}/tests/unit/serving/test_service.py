"""The service's pure parts: the request record and feedback types, the bookkeeping around the model (ids,
unknown categories, traffic, hooks), the rows-to-model runner and the log filter (the adaptive batcher:
test_batcher.py; the inference log: test_log_writer.py)."""

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.serving.log_writer import Answered
from {{ cookiecutter.package_name }}.serving.runner import ModelRunner
from {{ cookiecutter.package_name }}.serving.service import (
    Bookkeeper,
    ClientErrorFilter,
    Hooks,
    feedback_model,
    record_model,
    traffic_of,
    unknown_categories,
)

FEATURES = [
    {"name": "tenure_months", "kind": "float", "nullable": True, "minimum": 1.0, "maximum": 71.0},
    {"name": "plan_type", "kind": "string", "nullable": True, "categories": ["basic", "plus", "pro"]},
    {"name": "monthly_charges", "kind": "float", "nullable": False, "minimum": 20.0, "maximum": 100.0},
    {"name": "seats", "kind": "integer", "nullable": False, "minimum": 1.0, "maximum": 50.0},
    {"name": "json", "kind": "boolean", "nullable": False},  # a name that BaseModel has as an attribute
    {"name": "city", "kind": "string", "nullable": True},  # no categories: free text up to max_string_length
    {"name": "score", "kind": "float", "nullable": True},  # no range in the contract: no bound
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


ID_COLUMN = {"name": "customer_id", "kind": "string"}


def test_a_record_may_carry_its_id_and_only_a_well_formed_one():
    model = record_model(FEATURES, 1000.0, 20, ID_COLUMN)
    assert model.model_validate({**GOOD, "customer_id": "C00001"}).record_id == "C00001"
    assert model.model_validate(GOOD).record_id is None
    for bad in ("", "c" * 21, 7):
        with pytest.raises(ValidationError) as caught:
            model.model_validate({**GOOD, "customer_id": bad})
        assert caught.value.errors()[0]["loc"][0] == "customer_id"
    numbered = record_model(FEATURES, 1000.0, 20, {"name": "row", "kind": "integer"})
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


def test_only_x_traffic_test_marks_test_traffic():
    assert traffic_of({"x-traffic": "test"}) == traffic_of({"x-traffic": " Test "}) == store.TEST
    assert traffic_of({}) == traffic_of({"x-traffic": "live"}) == traffic_of({"x-traffic": "demo"}) == store.LIVE


class FakeLog:
    """Records what the service hands the inference log; `full` makes it refuse like a full buffer."""

    def __init__(self, full: bool = False) -> None:
        self.full = full
        self.calls: list[tuple] = []

    def predictions(self, *args):
        self.calls.append(("predictions", *args))
        return not self.full

    def feedback(self, ids, labels):
        self.calls.append(("feedback", ids, labels))
        return not self.full


def test_bookkeeping_gives_ids_flags_unknown_categories_logs_and_counts():
    counted: list = []
    hooks = Hooks(on_unknown=lambda feature, n: counted.append((feature, n)))
    log = FakeLog()
    book = Bookkeeper(FEATURES, True, log, hooks)
    model = record_model(FEATURES, 1000.0, 20, ID_COLUMN)
    records = [model.model_validate(GOOD | change) for change in ({"customer_id": "C7"}, {"plan_type": "gold"})]
    rows, ids = book.rows_and_ids(records)
    assert (rows[0], ids[0], len(ids[1])) == (tuple(GOOD.values()), "C7", 32)
    outputs = [("yes", {"no": 0.2, "yes": 0.8}), ("no", {"no": 0.9, "yes": 0.1})]
    unknown = book.find_unknown(rows)
    answer = book.answer(rows, ids, unknown, outputs, "pkg:v1")
    assert (answer.ids, answer.unknown, answer.predictions) == (ids, [[], ["plan_type"]], ["yes", "no"])
    assert answer.probabilities[1] == {"no": 0.9, "yes": 0.1}
    assert book.logged(ids, unknown, store.TEST) == Answered(ids, [None, "plan_type"], "test")
    assert Bookkeeper(FEATURES, True, None, hooks).logged(ids, unknown, store.TEST) is None  # the log is off
    assert counted == [("plan_type", 1)]


def test_the_batchers_predict_function_answers_each_row_and_hands_the_whole_batch_to_the_log():
    runner = ModelRunner(Overflowing(), [{"name": "x", "kind": "float", "nullable": False}])
    log = FakeLog()
    predict = Bookkeeper(FEATURES, False, log, Hooks()).predict_and_log(runner)
    requests = [Answered(["a"], [None], store.LIVE), Answered(["b", "c"], [None, None], store.TEST)]
    rows = [(1.0,), (-1.0,), (0.0,)]
    assert predict(rows, requests) == runner.predict(rows)
    [(kind, batch, logged)] = log.calls
    assert (kind, logged, batch.frame["x"].tolist()) == ("predictions", requests, [1.0, -1.0, 0.0])
    assert batch.predictions.tolist() == ["yes", "no", "no"]  # 0.0 is a tie: the first class, like argmax
    with pytest.raises(ValueError, match="not finite"):
        predict([(1e6,)], requests[:1])
    assert len(log.calls) == 1  # a batch the model cannot predict is not logged
    assert Bookkeeper(FEATURES, False, None, Hooks()).predict_and_log(runner) == runner.predict  # the log is off


def test_feedback_is_accepted_whole_or_not_at_all_and_counted():
    counted: list = []
    item = feedback_model(["no", "yes"])
    items = [item.model_validate({"id": "12", "label": "yes"}), item.model_validate({"id": "a", "label": "no"})]
    log = FakeLog()
    hooks = Hooks(on_feedback=counted.append)
    assert Bookkeeper(FEATURES, False, log, hooks).labels(items).accepted == 2
    assert log.calls == [("feedback", ["12", "a"], ["yes", "no"])]
    assert Bookkeeper(FEATURES, False, FakeLog(full=True), hooks).labels(items).accepted == 0
    assert Bookkeeper(FEATURES, False, None, Hooks()).labels(items).accepted == 0  # the log is off
    assert counted == [2]


def test_without_an_id_column_every_record_gets_a_new_id():
    book = Bookkeeper(FEATURES, False, None, Hooks())
    records = [record_model(FEATURES).model_validate(GOOD)] * 3
    _, ids = book.rows_and_ids(records)
    assert len(set(ids)) == 3
    answer = book.answer([tuple(GOOD.values())], ids[:1], [[]], [(3.5, None)], "pkg:v1")
    assert (answer.probabilities, answer.unknown) == (None, [[]])


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


def test_runner_suspects_the_rows_its_preprocessing_turns_infinite():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 0.0]})
    model = make_pipeline(FunctionTransformer(np.square), LogisticRegression()).fit(frame, [0, 0, 1, 1])
    features = [{"name": name, "kind": "float", "nullable": False} for name in ("x", "y")]
    rows = [(1.0, 2.0), (3.0, 1e200), (0.5, 0.5)]  # 1e200 squared overflows: finite in, infinite inside
    runner = ModelRunner(model, features)
    assert runner.suspects(rows) == [1]
    with pytest.raises(ValueError, match="infinity"):
        runner.predict(rows)
    assert len(runner.predict([rows[0], rows[2]])) == 2
    assert ModelRunner(Overflowing(), [{"name": "x", "kind": "float", "nullable": False}]).suspects([(1.0,)]) == []


def test_runner_builds_the_training_dtypes():
    runner = ModelRunner(type("Fake", (), {"predict": None})(), FEATURES)
    frame = runner.frame([(None, None, 1, 2, True, None, 0.5), (3.5, "pro", 2.5, 4, False, "Oslo", None)])
    assert list(frame.columns) == [spec["name"] for spec in FEATURES]
    assert frame.dtypes.astype(str).tolist() == ["float64", "str", "float64", "int64", "bool", "str", "float64"]
    assert frame["tenure_months"].isna().tolist() == [True, False]
    assert frame["plan_type"].isna().tolist() == [True, False]


class Overflowing:
    """A fake classifier whose probabilities overflow for a row with a huge first value."""

    classes_ = np.array(["no", "yes"])

    def predict_proba(self, frame):
        first = frame.iloc[:, 0].to_numpy(dtype=float)
        with np.errstate(over="ignore"):
            odds = np.exp(first)
        return np.column_stack([1 / (1 + odds), odds / (1 + odds)])


def test_a_model_output_that_is_not_finite_is_a_value_error_not_an_answer():
    runner = ModelRunner(Overflowing(), [{"name": "x", "kind": "float", "nullable": False}])
    assert runner.predict([(1.0,)])[0][0] == "yes"
    with pytest.raises(ValueError, match="not finite"):
        runner.predict([(1.0,), (1e6,)])


def test_a_rejected_request_is_logged_as_one_warning_line_without_a_traceback():
    try:
        record_model(FEATURES).model_validate({**GOOD, "seats": "three"})
    except ValidationError as error:
        exc_info = (type(error), error, error.__traceback__)
    record = logging.LogRecord("http", logging.ERROR, "app.py", 1, "Exception on %s [%s]", ("/predict", "POST"), None)
    record.exc_info = exc_info
    assert ClientErrorFilter().filter(record)
    assert (record.levelno, record.exc_info) == (logging.WARNING, None)
    assert record.getMessage() == "POST /predict: 400, seats: Input should be a valid integer"


def test_bentomls_own_client_errors_are_logged_as_one_warning_line_too():
    from bentoml.exceptions import InvalidArgument

    record = logging.LogRecord("http", logging.ERROR, "app.py", 1, "Exception on %s [%s]", ("/predict", "POST"), None)
    error = InvalidArgument("cannot decode the body")
    record.exc_info = (type(error), error, None)
    assert ClientErrorFilter().filter(record)
    assert (record.levelno, record.exc_info) == (logging.WARNING, None)
    assert record.getMessage() == "POST /predict: 400, cannot decode the body"


def test_a_server_error_keeps_its_traceback():
    record = logging.LogRecord("http", logging.ERROR, "app.py", 1, "Exception on %s [%s]", ("/predict", "POST"), None)
    error = RuntimeError("a bug")
    record.exc_info = (type(error), error, None)
    assert ClientErrorFilter().filter(record)
    assert (record.levelno, record.exc_info[1]) == (logging.ERROR, error)


def bentoml_record(error: Exception) -> logging.LogRecord:
    """What BentoML's log_exception logs for a rejected request: "Exception on <path> [<method>]" with the error."""
    record = logging.LogRecord("http", logging.ERROR, "app.py", 1, "Exception on %s [%s]", ("/predict", "POST"), None)
    record.exc_info = (type(error), error, error.__traceback__)
    return record


def test_a_rejected_requests_line_names_its_first_three_fields_and_counts_the_rest_never_their_values():
    with pytest.raises(ValidationError) as caught:
        record_model(FEATURES).model_validate({"seats": "three hundred", "json": "yes", "tenure_months": "long"})
    record = bentoml_record(caught.value)
    assert ClientErrorFilter().filter(record)
    line = record.getMessage()
    assert line == (
        "POST /predict: 400, tenure_months: Input should be a valid number; monthly_charges: Field required; "
        "seats: Input should be a valid integer (and 1 more)"
    )
    assert "three hundred" not in line
    assert "\n" not in line


def test_a_rejected_record_that_bentoml_words_otherwise_keeps_bentomls_words():
    with pytest.raises(ValidationError) as caught:
        record_model(FEATURES).model_validate({**GOOD, "seats": "three"})
    record = bentoml_record(caught.value)
    record.msg, record.args = "Error while handling %s", ("/predict",)
    assert ClientErrorFilter().filter(record)
    assert record.getMessage() == "Error while handling /predict: 400, seats: Input should be a valid integer"
