"""The `package` command, and the BentoML service in-process: the class itself and its ASGI app."""

import asyncio
import dataclasses
import json
import logging
import threading
import time
from pathlib import Path

import joblib
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import MODEL_FILE, TEST_DATA

SERVE = {
    "max_records": 50,
    "max_body_bytes": 16384,
    "max_batch_rows": 64,
    "max_queue_rows": 1000,
    "max_wait_seconds": 2.0,
    "retry_after_seconds": 3,
    "log_flush_seconds": 0.2,  # the inference log reaches the store within a test's patience
    "log_part_rows": 1,
}


@pytest.fixture(scope="module")
def in_project(tmp_path_factory):
    """A project folder with a trained churn model packaged into its own BentoML store; the service logs
    to <folder>/store ($MONITOR_STORE)."""
    from conftest import packaged_project

    folder = tmp_path_factory.mktemp("service")
    with packaged_project(folder, SERVE, card=True, MONITOR_STORE=str(folder / "store")):
        yield folder


def logged(folder, kind: str, ids: list[str], seconds: float = 10) -> pd.DataFrame:
    """The rows of `ids` in the store, once all of them are there (or time is up), in the order of `ids`."""
    from {{ cookiecutter.package_name }} import store

    deadline = time.monotonic() + seconds
    while True:
        rows = store.read_window(str(folder / "store"), kind)
        found = rows[rows[store.ID].isin(ids)] if len(rows) else rows
        if len(found) >= len(ids) or time.monotonic() > deadline:
            return found.set_index(store.ID).loc[[i for i in ids if i in set(found[store.ID])]].reset_index()
        time.sleep(0.05)


@pytest.fixture(scope="module")
def client(in_project):
    from starlette.testclient import TestClient

    from {{ cookiecutter.package_name }}.serving.service import make_service

    with TestClient(make_service().to_asgi()) as test_client:
        yield test_client


def holdout() -> tuple[pd.DataFrame, list[dict]]:
    frame = pd.read_parquet(TEST_DATA)
    features = frame.drop(columns=["churn", "customer_id"])
    records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in features.to_dict(orient="records")]
    return features, records


def test_package_stores_the_model_with_its_request_fields(in_project):
    import bentoml

    stored = bentoml.models.get("{{ cookiecutter.package_name }}:latest")
    meta = stored.info.metadata
    assert [spec["name"] for spec in meta["features"]] == ["tenure_months", "plan_type", "monthly_charges"]
    assert meta["features"][1]["categories"] == ["basic", "plus", "pro"]
    charges = pd.read_csv(in_project / "customers.csv")["Monthly Charges"]
    assert meta["features"][2]["minimum"] <= charges.min() <= charges.max() <= meta["features"][2]["maximum"]
    assert meta["serve"] == {
        **SERVE,
        "max_string_length": 256,
        "value_bound_factor": 1000.0,
        "log_drop_columns": [],
        "log_hash_columns": [],
        "log_hash_id": False,
        "log_buffer_rows": 50000,
    }
    assert meta["id_column"] == {"name": "customer_id", "kind": "string"}
    assert meta["monitor"] == {"store": "logs"}  # the service takes $MONITOR_STORE over it
    assert meta["classes"] == ["no", "yes"]
    assert stored.info.labels["task"] == "classification"
    assert stored.path_of("model.joblib")
    assert joblib.load(stored.path_of("model.joblib")) is not None


def test_the_metadata_holds_plain_values_only_with_or_without_an_id_column(in_project):
    from {{ cookiecutter.package_name }}.contract import load_contract
    from {{ cookiecutter.package_name }}.params import load_params
    from {{ cookiecutter.package_name }}.serving.config import IdColumn
    from {{ cookiecutter.package_name }}.serving.packaging import service_config

    contract = load_contract()
    model = joblib.load(MODEL_FILE)
    config = service_config(model, MODEL_FILE.read_bytes(), contract, load_params(), pd.read_parquet(TEST_DATA))

    def id_metadata(name: str | None) -> dict | None:
        return dataclasses.replace(config, id_column=IdColumn.of(contract, name)).to_metadata().get("id_column")

    without = dataclasses.replace(config, id_column=None).to_metadata()  # the BentoML store refuses None and tuples
    assert "id_column" not in without
    assert "None" not in repr(without)
    assert "(" not in repr(without)
    assert id_metadata("customer_id") == {"name": "customer_id", "kind": "string"}
    assert id_metadata("no_such_column") == {"name": "no_such_column"}
    assert id_metadata(None) is None
    assert IdColumn.of(contract, None) is None


def test_the_service_reads_back_what_package_stored_and_names_a_missing_model(in_project):
    import bentoml

    from {{ cookiecutter.package_name }}.errors import ProjectError
    from {{ cookiecutter.package_name }}.serving.config import ServiceConfig

    stored = bentoml.models.get("{{ cookiecutter.package_name }}:latest")
    config = ServiceConfig.from_stored("{{ cookiecutter.package_name }}:latest")
    assert (config.version, config.estimator) == (str(stored.tag), "logistic_regression")
    assert config.to_metadata() == stored.info.metadata
    assert [spec.name for spec in config.features] == ["tenure_months", "plan_type", "monthly_charges"]
    with pytest.raises(ProjectError, match="no model {{ cookiecutter.package_name }}:nope in the BentoML store"):
        ServiceConfig.from_stored("{{ cookiecutter.package_name }}:nope")


def test_package_refuses_log_columns_that_are_not_features(in_project, capsys):
    params = (in_project / "params.yaml").read_text()
    try:
        changed = json.loads(params)
        changed["serve"] = {**changed["serve"], "log_hash_columns": ["plan_type", "email"]}
        (in_project / "params.yaml").write_text(json.dumps(changed))
        assert main(["package"]) == 2
        assert "serve.log_hash_columns lists email, not features of schema.yaml" in capsys.readouterr().err
    finally:
        (in_project / "params.yaml").write_text(params)


def test_packaging_the_same_model_again_gives_the_same_version(in_project, capsys):
    import bentoml

    before = str(bentoml.models.get("{{ cookiecutter.package_name }}:latest").tag)
    assert main(["package"]) == 0
    assert before in capsys.readouterr().out
    assert len(bentoml.models.list("{{ cookiecutter.package_name }}")) == 1


def test_package_refuses_a_schema_that_does_not_match_the_model(in_project, capsys):
    schema = (in_project / "schema.yaml").read_text()
    try:
        (in_project / "schema.yaml").write_text(schema.replace("monthly_charges", "monthly_fee"))
        assert main(["package"]) == 2
        assert "are not the model's" in capsys.readouterr().err
    finally:
        (in_project / "schema.yaml").write_text(schema)


def test_the_service_class_predicts_in_process(in_project):
    from {{ cookiecutter.package_name }}.serving.service import make_service

    service = make_service()
    instance = service.inner()
    features, records = holdout()
    answer = asyncio.run(instance.predict_records(typed(service, records)))
    assert answer.predictions == joblib.load(MODEL_FILE).predict(features).tolist()
    assert instance.__is_ready__()


def typed(service, records: list[dict]) -> list:
    """The records as the API hands them to the method: instances of the service's record model."""
    record_type = service.apis["predict"].input_spec.model_fields["records"].annotation.__args__[0]
    return [record_type.model_validate(record) for record in records]


class FakeContext:
    """What the API method uses of BentoML's context: the request's receive() and the response's status."""

    def __init__(self, disconnect: bool = False) -> None:
        async def receive() -> dict:
            if not disconnect:
                await asyncio.Event().wait()  # the client stays until the answer
            return {"type": "http.disconnect"}

        self.request = type("Request", (), {"receive": staticmethod(receive), "headers": {}})()
        self.response = type("Response", (), {"status_code": 200, "headers": {}})()


def fails_with(error: Exception):
    def predict(rows, request_ids):
        raise error

    return predict


@pytest.mark.parametrize(
    ("setup", "status", "headers"),
    [
        (lambda batcher: setattr(batcher, "predict", fails_with(ValueError("Input X contains infinity"))), 422, {}),
        (lambda batcher: setattr(batcher, "max_queue_rows", 0), 503, {"Retry-After": "3"}),
        (lambda batcher: setattr(batcher, "max_wait", 0.0), 503, {"Retry-After": "3"}),
    ],
    ids=["model-refuses-the-rows", "queue-full", "deadline"],
)
def test_the_api_answers_what_the_batcher_could_not_do_with_a_client_status(in_project, setup, status, headers):
    from {{ cookiecutter.package_name }}.serving.service import make_service

    service = make_service()
    instance = service.inner()
    setup(instance.batcher)
    context = FakeContext()
    _, records = holdout()
    response = asyncio.run(instance.predict(records=typed(service, records[:2]), ctx=context))
    assert (response.status_code, context.response.status_code) == (status, status)
    assert context.response.headers == headers
    assert json.loads(response.body)["error"]


def test_explanations_take_turns_and_past_the_queues_limits_answer_503_with_retry_after(in_project):
    from {{ cookiecutter.package_name }}.serving.service import make_service

    service = make_service()
    instance = service.inner()
    _, records = holdout()
    typed_records = typed(service, records[:2])
    gate = threading.Event()
    started = []

    def slow(rows: int):  # the explainer, held until the test lets it go
        started.append(rows)
        gate.wait(10)
        return instance.explain_records(typed_records)

    async def scenario():  # one event loop: the service's lock lives in one
        instance.explaining.max_rows = 3  # the first request's 2 rows run, the second's 2 wait, a third's make 4 > 3
        first = asyncio.create_task(instance.explaining.run(2, lambda: slow(2)))
        await asyncio.sleep(0.2)
        second = asyncio.create_task(instance.explaining.run(2, lambda: slow(2)))
        await asyncio.sleep(0.2)
        full_context = FakeContext()
        full = await instance.explain(records=typed_records, ctx=full_context)
        running = list(started)
        gate.set()
        answers = [await first, await second]
        instance.explaining.max_rows, instance.explaining.max_wait = 100, 0.1  # a turn that does not come in time
        late_context = FakeContext()
        holder = asyncio.create_task(instance.explaining.run(1, lambda: time.sleep(1.0)))
        await asyncio.sleep(0.2)
        late = await instance.explain(records=typed_records, ctx=late_context)
        await holder
        return (full, full_context), running, answers, (late, late_context)

    (full, full_context), running, answers, (late, late_context) = asyncio.run(scenario())
    assert running == [2]  # one explanation at a time: the second waited for the first
    assert (full.status_code, full_context.response.headers) == (503, {"Retry-After": "3"})
    assert "serve.max_queue_rows" in json.loads(full.body)["error"]
    assert [len(answer.contributions) for answer in answers] == [2, 2]
    assert (late.status_code, late_context.response.headers) == (503, {"Retry-After": "3"})
    assert "serve.max_wait_seconds" in json.loads(late.body)["error"]
    assert instance.explaining.waiting == 0  # nothing left counted as waiting


def test_a_model_bug_is_not_hidden_as_a_client_error(in_project):
    from {{ cookiecutter.package_name }}.serving.service import make_service

    service = make_service()
    instance = service.inner()
    instance.batcher.predict = fails_with(RuntimeError("a bug"))
    _, records = holdout()
    with pytest.raises(RuntimeError, match="a bug"):
        asyncio.run(instance.predict(records=typed(service, records[:1]), ctx=FakeContext()))


def test_the_rows_of_a_client_that_disconnected_never_reach_the_model(in_project):
    from {{ cookiecutter.package_name }}.serving.service import make_service

    service = make_service()
    instance = service.inner()
    seen = []
    instance.batcher.predict = lambda rows, request_ids: seen.extend(rows) or [(None, None)] * len(rows)
    # The disconnect is seen a few event-loop rounds after the request arrives; the default gathering (0.3 ms
    # of quiet) can end first on a stalled machine, and then the row is predicted (correctly: its client was
    # still there). A longer gathering makes the order certain.
    instance.batcher.QUIET = instance.batcher.MAX_WAIT = 0.2
    context = FakeContext(disconnect=True)
    _, records = holdout()
    response = asyncio.run(instance.predict(records=typed(service, records[:1]), ctx=context))
    assert (response.status_code, seen) == (499, [])


def test_good_records_get_the_pipeline_models_predictions_and_probabilities(client, in_project):
    features, records = holdout()
    response = client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    model = joblib.load(MODEL_FILE)
    assert body["predictions"] == model.predict(features).tolist()
    assert body["model_version"].startswith("{{ cookiecutter.package_name }}:")
    assert all(abs(sum(p.values()) - 1) < 1e-9 and set(p) == {"no", "yes"} for p in body["probabilities"])


def test_every_record_gets_an_id_its_own_or_a_new_one(client):
    _, records = holdout()
    frame = pd.read_parquet(TEST_DATA)
    given = [{**records[0], "customer_id": frame["customer_id"].iloc[0]}, records[1]]
    body = client.post("/predict", json={"records": given}).json()
    assert body["ids"][0] == frame["customer_id"].iloc[0]
    assert len(body["ids"][1]) == 32  # a new one: 128 random bits in hex
    assert body["unknown"] == [[], []]


def test_traffic_lands_in_the_store_marked_live_or_test(client, in_project):
    from {{ cookiecutter.package_name }} import store

    _, records = holdout()
    live = client.post("/predict", json={"records": records[:3]}).json()
    test = client.post("/predict", json={"records": records[3:4]}, headers={"X-Traffic": "test"}).json()
    rows = logged(in_project, store.PREDICTIONS, live["ids"] + test["ids"])
    assert rows[store.TRAFFIC].tolist() == ["live", "live", "live", "test"]
    assert rows[store.PREDICTION].tolist() == live["predictions"] + test["predictions"]
    assert rows[store.PROBABILITIES].tolist() == live["probabilities"] + test["probabilities"]
    assert set(rows[store.MODEL_VERSION]) == {live["model_version"]}
    assert rows["plan_type"].fillna("-").tolist() == [r["plan_type"] or "-" for r in records[:4]]
    assert rows[store.UNKNOWN].isna().all()
    [part] = {Path(path).parent.as_posix() for path in store.part_files(str(in_project / "store"), store.PREDICTIONS)}
    assert part.endswith(f"/model={live['model_version'].split(':')[1]}")
    assert f"/predictions/date={rows[store.TS].iloc[0].date().isoformat()}/" in part


def test_an_unknown_category_is_predicted_flagged_and_logged(client, in_project):
    from {{ cookiecutter.package_name }} import store

    _, records = holdout()
    response = client.post("/predict", json={"records": [{**records[0], "plan_type": "gold"}, records[1]]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unknown"] == [["plan_type"], []]
    rows = logged(in_project, store.PREDICTIONS, body["ids"])
    assert rows[store.UNKNOWN].fillna("").tolist() == ["plan_type", ""]
    assert rows["plan_type"].iloc[0] == "gold"


def test_feedback_takes_labels_by_id_into_the_store(client, in_project):
    from {{ cookiecutter.package_name }} import store

    _, records = holdout()
    ids = client.post("/predict", json={"records": records[:2]}).json()["ids"]
    labels = [{"id": ids[0], "label": "yes"}, {"id": ids[1], "label": "no"}, {"id": "not-seen-yet", "label": "no"}]
    response = client.post("/feedback", json={"feedback": labels})
    assert (response.status_code, response.json()) == (200, {"accepted": 3})
    rows = logged(in_project, store.FEEDBACK, [*ids, "not-seen-yet"])
    assert rows[store.LABEL].tolist() == ["yes", "no", "no"]
    assert str(rows[store.TS].dt.tz) == "UTC"  # a timestamp, as the store keeps `_ts`


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"feedback": [{"id": "a", "label": "yes"}, {"id": "b", "label": "maybe"}]}, ["feedback", 1, "label"]),
        ({"feedback": [{"id": "a", "label": 1}]}, ["feedback", 0, "label"]),
        ({"feedback": [{"id": "", "label": "no"}]}, ["feedback", 0, "id"]),
        ({"feedback": [{"label": "no"}]}, ["feedback", 0, "id"]),
        ({"feedback": [{"id": "a", "label": "no", "weight": 2}]}, ["feedback", 0, "weight"]),
        ({"feedback": []}, ["feedback"]),
        ({"feedback": [{"id": "a", "label": "no"}] * 51}, ["feedback"]),
        ({"labels": [{"id": "a", "label": "no"}]}, ["labels"]),
    ],
    ids=["unknown-class", "wrong-type", "empty-id", "no-id", "unknown-field", "empty", "oversized", "no-feedback"],
)
def test_a_bad_label_is_a_400_naming_the_item_and_why(client, payload, where):
    response = client.post("/feedback", json=payload)
    assert response.status_code == 400
    locations = [error["loc"] for error in response.json()["detail"]]
    assert where in locations, locations


def labels_of(service, items: list[dict]) -> list:
    """The labels as the API hands them to the method: instances of the service's feedback item model."""
    label_type = service.apis["feedback"].input_spec.model_fields["feedback"].annotation.__args__[0]
    return [label_type.model_validate(item) for item in items]


def test_a_full_log_buffer_drops_and_counts_rows_every_prediction_succeeds_and_labels_get_a_503(in_project):
    from {{ cookiecutter.package_name }}.serving.service import Hooks, make_service

    dropped: list[int] = []
    service = make_service(hooks=Hooks(on_dropped=dropped.append))
    instance = service.inner()
    instance.log.max_rows = 1  # a request of 2 records never fits
    _, records = holdout()
    answers = [asyncio.run(instance.predict(records=typed(service, records[:2]), ctx=FakeContext())) for _ in range(3)]
    assert [len(answer.predictions) for answer in answers] == [2, 2, 2]
    assert instance.log.dropped == sum(dropped) == 6
    context = FakeContext()
    labels = labels_of(service, [{"id": "x", "label": "no"}] * 2)
    response = asyncio.run(instance.feedback(feedback=labels, ctx=context))
    assert (response.status_code, context.response.status_code) == (503, 503)  # never 200 {"accepted": 0}
    assert int(context.response.headers["Retry-After"]) >= 3  # serve.retry_after_seconds at least
    assert "retry later" in json.loads(response.body)["error"]
    assert dropped == [2, 2, 2, 2]
    asyncio.run(instance.flush_log())


def test_the_log_is_off_when_monitor_store_says_so(in_project, monkeypatch):
    from {{ cookiecutter.package_name }}.serving.service import make_service

    monkeypatch.setenv("MONITOR_STORE", "off")
    service = make_service()
    instance = service.inner()
    _, records = holdout()
    answer = asyncio.run(instance.predict(records=typed(service, records[:1]), ctx=FakeContext()))
    assert (instance.log, len(answer.ids)) == (None, 1)
    context = FakeContext()
    response = asyncio.run(instance.feedback(feedback=labels_of(service, [{"id": "x", "label": "no"}]), ctx=context))
    assert (response.status_code, "off" in json.loads(response.body)["error"]) == (503, True)
    assert "Retry-After" in context.response.headers


def test_the_service_refuses_to_start_when_it_would_hash_without_a_key_and_hashes_ids_alike_with_one(
    in_project, monkeypatch, capsys
):
    import hashlib
    import hmac

    from {{ cookiecutter.package_name }} import store
    from {{ cookiecutter.package_name }}.errors import ProjectError
    from {{ cookiecutter.package_name }}.serving.config import ServiceConfig
    from {{ cookiecutter.package_name }}.serving.service import make_service

    stored = ServiceConfig.from_stored("{{ cookiecutter.package_name }}:latest")
    serve = stored.serve.model_copy(update={"log_hash_columns": ("plan_type",), "log_hash_id": True})
    hashing = dataclasses.replace(stored, serve=serve)
    monkeypatch.setattr(ServiceConfig, "from_stored", classmethod(lambda cls, tag: hashing))
    monkeypatch.delenv("MONITOR_HASH_KEY", raising=False)
    service = make_service()  # what `bentoml build` imports: it needs no key
    with pytest.raises(SystemExit) as stopped:  # what `bentoml serve` runs once, before its workers start
        service.inner.check_hash_key()
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.splitlines()  # one line, no traceback
    assert line.startswith("service: the inference log hashes serve.log_hash_columns (plan_type) and _id")
    assert "$MONITOR_HASH_KEY, which is not set" in line
    with pytest.raises(ProjectError, match=r"hashes serve.log_hash_columns \(plan_type\) and _id"):
        service.inner()  # a worker that started anyway
    key = "a-secret-key-of-the-tests-0123456789"
    monkeypatch.setenv("MONITOR_HASH_KEY", key)
    service = make_service()
    service.inner.check_hash_key()
    instance = service.inner()
    _, records = holdout()
    answer = asyncio.run(instance.predict_records(typed(service, [{**records[0], "customer_id": "C42"}])))
    assert answer.ids == ["C42"]  # the client gets its id back, in clear
    labels = labels_of(service, [{"id": "C42", "label": "yes"}])
    assert asyncio.run(instance.feedback(feedback=labels, ctx=FakeContext())).accepted == 1
    asyncio.run(instance.flush_log())
    hashed = hmac.new(key.encode(), b"C42", hashlib.sha256).hexdigest()
    predicted = store.read_window(str(in_project / "store"), store.PREDICTIONS)
    row = predicted[predicted[store.ID] == hashed]
    assert row["plan_type"].tolist() == [hmac.new(key.encode(), records[0]["plan_type"].encode(), "sha256").hexdigest()]
    assert "C42" not in set(predicted[store.ID])
    feedback = store.read_window(str(in_project / "store"), store.FEEDBACK)
    assert feedback.loc[feedback[store.ID] == hashed, store.LABEL].tolist() == ["yes"]  # it joins its prediction


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"records": [{"tenure_months": 3.0, "plan_type": "pro"}]}, "monthly_charges"),
        ({"records": [{"tenure_months": 3.0, "plan_type": "pro", "monthly_charges": "high"}]}, "monthly_charges"),
        ({"records": [{"tenure_months": 3.0, "plan_type": 7, "monthly_charges": 50.0}]}, "plan_type"),
        ({"records": [{"monthly_charges": 50.0, "churn": "yes"}]}, "churn"),
        ({"records": []}, "records"),
        ({"records": [{"monthly_charges": 50.0}] * 51}, "records"),
        ({"rows": [{"monthly_charges": 50.0}]}, "records"),
        ({"records": [{"monthly_charges": 50.0}], "model": "v2"}, "model"),
        ({"records": [{"tenure_months": 3.0, "plan_type": "pro", "monthly_charges": 1.7e308}]}, "monthly_charges"),
        ({"records": [{"tenure_months": -1e300, "plan_type": "pro", "monthly_charges": 50.0}]}, "tenure_months"),
    ],
    ids=[
        "missing-field",
        "wrong-type",
        "category-of-the-wrong-type",
        "unknown-field",
        "empty-batch",
        "oversized",
        "no-records",
        "unknown-top-level-field",
        "absurd-number",
        "absurd-negative-number",
    ],
)
def test_bad_input_is_a_400_that_names_the_problem(client, payload, named):
    response = client.post("/predict", json=payload)
    assert response.status_code == 400
    assert named in json.dumps(response.json()["detail"])


def test_a_body_that_is_not_json_is_a_400(client):
    response = client.post("/predict", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_a_body_over_max_body_bytes_is_a_413(client):
    _, records = holdout()
    body = json.dumps({"records": records[:1]}).encode() + b" " * 16384  # valid JSON, 1 record, too long
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "max_body_bytes" in response.json()["error"]


def test_a_body_that_is_not_declared_json_is_a_415(client):
    response = client.post("/predict", content=b'{"records": []}', headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_a_value_far_outside_the_contract_range_is_predicted_not_refused(client):
    _, records = holdout()
    response = client.post("/predict", json={"records": [{**records[0], "monthly_charges": 5000.0}]})
    assert response.status_code == 200, response.text


def test_the_model_metrics_count_predictions_missing_values_unknown_categories_and_labels(client):
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    _, records = holdout()
    records = [*records, {**records[0], "plan_type": "enterprise"}]  # one category the contract does not list
    names = ("tenure_months", "plan_type")
    version = client.post("/predict", json={"records": records[:1]}).json()["model_version"]
    by_class = {label: {"model_version": version, "class": label} for label in ("no", "yes")}
    before = {label: sample("model_predictions_total", **by_class[label]) for label in ("no", "yes")}
    missing = {name: sample("model_missing_values_total", feature=name) for name in names}
    unknown, labels = sample("model_unknown_categories_total", feature="plan_type"), sample("model_feedback_total")
    body = client.post("/predict", json={"records": records}).json()
    for label in ("no", "yes"):
        counted = sample("model_predictions_total", **by_class[label]) - before[label]
        assert counted == body["predictions"].count(label)
    for name in names:
        counted = sample("model_missing_values_total", feature=name) - missing[name]
        assert counted == sum(record[name] is None for record in records) > 0
    assert sample("model_unknown_categories_total", feature="plan_type") - unknown == 1
    feedback = [{"id": body["ids"][0], "label": "yes"}, {"id": body["ids"][1], "label": "no"}]
    assert client.post("/feedback", json={"feedback": feedback}).json() == {"accepted": 2}
    assert sample("model_feedback_total") - labels == 2
    assert sample("model_log_rows_dropped_total") == 0
    info = {"version": body["model_version"], "task": "classification", "estimator": "logistic_regression"}
    assert sample("model_info", **info) == 1
    shares = [sample("model_prediction_reference_share", **by_class[label]) for label in ("no", "yes")]
    assert sum(shares) == pytest.approx(1.0)
    assert sample("model_prediction_reference_rows", model_version=version) == len(holdout()[1])


def test_test_traffic_is_logged_but_leaves_the_model_metrics_alone(client, in_project):
    """A load test would move the prediction-shift alert's shares, a prober would keep ModelNoTraffic quiet."""
    from prometheus_client import REGISTRY

    from {{ cookiecutter.package_name }} import store

    def counts() -> list[float]:
        names = ("model_predictions_total", "model_missing_values_total", "model_unknown_categories_total")
        return [
            sample.value
            for metric in REGISTRY.collect()
            for sample in metric.samples
            if sample.name in (*names, "model_feedback_total")
        ]

    _, records = holdout()
    before = counts()
    test = {"X-Traffic": "test"}
    body = client.post("/predict", json={"records": [*records, {**records[0], "plan_type": "gold"}]}, headers=test)
    assert body.status_code == 200
    ids = body.json()["ids"]
    labelled = client.post("/feedback", json={"feedback": [{"id": ids[0], "label": "yes"}]}, headers=test)
    assert labelled.json() == {"accepted": 1}
    assert counts() == before
    assert set(logged(in_project, store.PREDICTIONS, ids)[store.TRAFFIC]) == {store.TEST}  # logged, marked test
    assert len(logged(in_project, store.FEEDBACK, ids[:1])) == 1


def test_health_endpoints_answer_once_the_model_is_loaded(client):
    # /metrics needs the real server's Prometheus set-up: the e2e test checks it.
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_bad_request_leaves_one_warning_line_naming_its_fields_and_the_answer_names_them_too(client, caplog):
    payload = {"records": [{"tenure_months": "long", "plan_type": "pro"}]}
    with caplog.at_level(logging.INFO):
        response = client.post("/predict", json=payload)
    assert response.status_code == 400
    assert response.json()["error"] == "2 validation error for PredictInput"  # BentoML's answer, as it was
    assert [error["loc"] for error in response.json()["detail"]] == [
        ["records", 0, "tenure_months"],
        ["records", 0, "monthly_charges"],
    ]
    lines = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records if r.levelno >= logging.WARNING]
    expected = "POST /predict: 400, records.0.tenure_months: Input should be a valid number; "
    expected += "records.0.monthly_charges: Field required"
    assert lines == [("WARNING", expected, None)]


def test_model_card_is_the_packaged_card_of_the_served_bytes(client, in_project):
    import hashlib

    import bentoml

    folder = Path(bentoml.models.get("{{ cookiecutter.package_name }}:latest").path)
    answer = client.get("/model-card")
    assert answer.status_code == 200
    card = answer.json()
    assert card == json.loads((in_project / "reports/model_card.json").read_text())
    assert card["model"]["sha256"] == hashlib.sha256((folder / "model.joblib").read_bytes()).hexdigest()
    assert client.post("/model-card").status_code == 405


def test_a_card_of_other_bytes_is_refused_by_package_and_by_the_service(in_project, capsys):
    import bentoml

    from {{ cookiecutter.package_name }}.errors import ProjectError
    from {{ cookiecutter.package_name }}.serving.service import make_service

    report = in_project / "reports/model_card.json"
    packaged = Path(bentoml.models.get("{{ cookiecutter.package_name }}:latest").path) / "model_card.json"
    kept = report.read_text()
    other = json.loads(kept)
    other["model"]["sha256"] = "0" * 64
    try:
        report.write_text(json.dumps(other))
        assert main(["package"]) == 2
        err = capsys.readouterr().err
        assert "reports/model_card.json describes model bytes 000000000000, the model's are " in err
        assert "run `make pipeline`" in err
        packaged.write_text(json.dumps(other))  # a card swapped inside the store
        service = make_service()
        with pytest.raises(SystemExit) as stopped:  # what `bentoml serve` runs once, before its workers start
            service.inner.check_model_card()
        assert stopped.value.code == 2
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("service: the packaged model card describes model bytes 000000000000")
        with pytest.raises(ProjectError, match="the packaged model card describes model bytes"):
            service.inner()  # a worker that started anyway
    finally:
        report.write_text(kept)
        packaged.write_text(kept)


def test_without_a_packaged_card_model_card_is_a_404_that_says_how_to_get_one():
    from starlette.testclient import TestClient

    from {{ cookiecutter.package_name }}.serving.service import ModelCardRoute

    answer = TestClient(ModelCardRoute(app=None, card=lambda: None)).get("/model-card")
    assert answer.status_code == 404
    assert "`make pipeline` writes it, `make package` packs it" in answer.json()["error"]


def test_explain_answers_each_records_contributions_adding_up_to_the_models_log_odds(client, in_project):
    import bentoml

    frame = pd.read_parquet(TEST_DATA)
    features, records = holdout()
    given = [{**records[0], "customer_id": frame["customer_id"].iloc[0]}, *records[1:8]]
    answer = client.post("/explain", json={"records": given})
    assert answer.status_code == 200
    body = answer.json()
    model = joblib.load(Path(bentoml.models.get("{{ cookiecutter.package_name }}:latest").path) / "model.joblib")
    log_odds = model.decision_function(features.head(8))  # of the second class, "yes"
    assert body["classes"] == ["yes"] * 8
    assert [list(row) for row in body["contributions"]] == [list(features.columns)] * 8  # plan_type: one, summed
    added = [base + sum(row.values()) for base, row in zip(body["base_value"], body["contributions"], strict=True)]
    assert max(abs(a - b) for a, b in zip(added, log_odds, strict=True)) < 1e-6
    assert body["ids"][0] == frame["customer_id"].iloc[0]
    assert body["model_version"] == str(bentoml.models.get("{{ cookiecutter.package_name }}:latest").tag)
    assert client.post("/explain", json={"records": [{"tenure_months": "long"}]}).status_code == 400
