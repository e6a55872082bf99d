"""The `package` command, and the BentoML service in-process: the class itself and its ASGI app."""

import asyncio
import json

import joblib
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import MODEL_FILE, TEST_DATA


@pytest.fixture(scope="module")
def in_project(tmp_path_factory):
    """A project folder with a trained churn model packaged into its own BentoML store (module-wide:
    BentoML registers its Prometheus metrics once per process, so one ASGI app serves every test)."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    from conftest import _customers

    folder = tmp_path_factory.mktemp("service")
    home = folder / "bentoml"
    _customers().to_csv(folder / "customers.csv", index=False)
    params = {
        "seed": 7,
        "task": "classification",
        "data": {"source": "customers.csv", "target": "churn", "id_column": "customer_id"},
        "train": {"estimator": "logistic_regression", "params": {"max_iter": 500}},
        "serve": {
            "max_records": 50,
            "max_body_bytes": 16384,
            "max_batch_rows": 64,
            "max_queue_rows": 1000,
            "max_wait_seconds": 2.0,
            "retry_after_seconds": 3,
            "log_dir": None,
        },
    }
    (folder / "params.yaml").write_text(json.dumps(params))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("BENTOML_HOME", str(home))
        patch.setenv("PREDICTION_LOG_DIR", str(folder / "logs"))
        BentoMLContainer.model_store.set(ModelStore(home / "models"))
        try:
            for command in ("ingest", "schema", "split", "train", "package"):
                assert main([command]) == 0, command
            yield folder
        finally:
            BentoMLContainer.model_store.reset()


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
        "max_records": 50,
        "max_body_bytes": 16384,
        "max_string_length": 256,
        "value_bound_factor": 1000.0,
        "max_batch_rows": 64,
        "max_queue_rows": 1000,
        "max_wait_seconds": 2.0,
        "retry_after_seconds": 3,
    }
    assert stored.info.labels["task"] == "classification"
    assert stored.path_of("model.joblib")
    assert joblib.load(stored.path_of("model.joblib")) is not None


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

        self.request = type("Request", (), {"receive": staticmethod(receive)})()
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


def test_every_prediction_is_logged_as_a_json_line_for_the_drift_check(client, in_project):
    from {{ cookiecutter.package_name }}.io import read_records

    _, records = holdout()
    body = client.post("/predict", json={"records": records[:3]}).json()
    logged = read_records(str(in_project / "logs" / "*.jsonl")).tail(3)
    assert list(logged.columns) == [
        "tenure_months", "plan_type", "monthly_charges", "prediction", "model_version", "ts", "request_id"
    ]  # fmt: skip
    assert logged["prediction"].tolist() == body["predictions"]
    assert set(logged["model_version"]) == {body["model_version"]}
    assert logged["request_id"].nunique() == 1


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"records": [{"tenure_months": 3.0, "plan_type": "pro"}]}, "monthly_charges"),
        ({"records": [{"tenure_months": 3.0, "plan_type": "pro", "monthly_charges": "high"}]}, "monthly_charges"),
        ({"records": [{"tenure_months": 3.0, "plan_type": "gold", "monthly_charges": 50.0}]}, "plan_type"),
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
        "unknown-category",
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


def test_the_model_metrics_count_predictions_by_class_and_missing_values_by_feature(client):
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    _, records = holdout()
    before = {label: sample("model_predictions_total", **{"class": label}) for label in ("no", "yes")}
    missing = {name: sample("model_missing_values_total", feature=name) for name in ("tenure_months", "plan_type")}
    body = client.post("/predict", json={"records": records}).json()
    for label in ("no", "yes"):
        counted = sample("model_predictions_total", **{"class": label}) - before[label]
        assert counted == body["predictions"].count(label)
    for name in ("tenure_months", "plan_type"):
        counted = sample("model_missing_values_total", feature=name) - missing[name]
        assert counted == sum(record[name] is None for record in records) > 0
    info = {"version": body["model_version"], "task": "classification", "estimator": "logistic_regression"}
    assert sample("model_info", **info) == 1
    shares = [sample("model_prediction_reference_share", **{"class": label}) for label in ("no", "yes")]
    assert sum(shares) == pytest.approx(1.0)


def test_health_endpoints_answer_once_the_model_is_loaded(client):
    # /metrics needs the real server's Prometheus set-up: the e2e test checks it.
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
