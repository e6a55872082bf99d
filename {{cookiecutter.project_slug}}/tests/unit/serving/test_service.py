"""The service's pure parts (serving/service.py): the bookkeeping around the model (ids, unknown categories, traffic,
hooks, the inference log) and the log filter of rejected requests."""

import logging

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.contract import ColumnSpec
from {{ cookiecutter.package_name }}.serving.log_writer import Answered
from {{ cookiecutter.package_name }}.serving.runner import ModelRunner
from {{ cookiecutter.package_name }}.serving.schema import feedback_model, record_model
from {{ cookiecutter.package_name }}.serving.service import Bookkeeper, ClientErrorFilter, Hooks, NotAccepted, traffic_of

from .test_runner import Overflowing
from .test_schema import FEATURES, GOOD, ID_COLUMN


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

    def seconds_to_next_write(self) -> float:
        return 7.2


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
    runner = ModelRunner(Overflowing(), [ColumnSpec("x", "float", nullable=False)])
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


def test_feedback_is_accepted_whole_and_counted_or_refused_with_a_retry_after_never_accepted_as_zero():
    counted: list = []
    item = feedback_model(["no", "yes"])
    items = [item.model_validate({"id": "12", "label": "yes"}), item.model_validate({"id": "a", "label": "no"})]
    log = FakeLog()
    hooks = Hooks(on_feedback=counted.append)
    assert Bookkeeper(FEATURES, False, log, hooks).labels(items).accepted == 2
    assert log.calls == [("feedback", ["12", "a"], ["yes", "no"])]
    with pytest.raises(NotAccepted, match="full or closing") as full:
        Bookkeeper(FEATURES, False, FakeLog(full=True), hooks, retry_after=3).labels(items)
    assert full.value.retry_after == 8  # when the writer next tries the store, at least serve.retry_after_seconds
    with pytest.raises(NotAccepted, match="off") as off:
        Bookkeeper(FEATURES, False, None, Hooks()).labels(items)
    assert off.value.retry_after > 0
    assert Bookkeeper(FEATURES, False, FakeLog(), hooks).labels(items, store.TEST).accepted == 2  # kept, not counted
    assert counted == [2]


def test_test_traffic_is_answered_and_logged_but_never_counted_in_the_model_metrics():
    counted: list = []
    hooks = Hooks(
        on_predicted=lambda rows, predictions: counted.append(predictions), on_unknown=lambda *a: counted.append(a)
    )
    book = Bookkeeper(FEATURES, False, FakeLog(), hooks)
    rows = [tuple(GOOD.values())]
    outputs = [("yes", {"no": 0.2, "yes": 0.8})]
    answer = book.answer(rows, ["a"], [["plan_type"]], outputs, "pkg:v1", store.TEST)
    assert (answer.predictions, counted) == (["yes"], [])
    book.answer(rows, ["b"], [["plan_type"]], outputs, "pkg:v1", store.LIVE)
    assert counted == [["yes"], ("plan_type", 1)]


def test_without_an_id_column_every_record_gets_a_new_id():
    book = Bookkeeper(FEATURES, False, None, Hooks())
    records = [record_model(FEATURES).model_validate(GOOD)] * 3
    _, ids = book.rows_and_ids(records)
    assert len(set(ids)) == 3
    answer = book.answer([tuple(GOOD.values())], ids[:1], [[]], [(3.5, None)], "pkg:v1")
    assert (answer.probabilities, answer.unknown) == (None, [[]])


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
