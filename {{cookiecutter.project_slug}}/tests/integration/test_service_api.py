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
        "serve": {"max_records": 50, "max_batch_rows": 64, "max_queue_rows": 1000, "log_dir": None},
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
    assert meta["serve"] == {"max_records": 50, "max_batch_rows": 64, "max_queue_rows": 1000}
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
    record_type = service.apis["predict"].input_spec.model_fields["records"].annotation.__args__[0]
    answer = asyncio.run(instance.predict(records=[record_type.model_validate(r) for r in records]))
    assert answer.predictions == joblib.load(MODEL_FILE).predict(features).tolist()
    assert instance.__is_ready__()


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
    ],
    ids=["missing-field", "wrong-type", "unknown-category", "unknown-field", "empty-batch", "oversized", "no-records"],
)
def test_bad_input_is_a_400_that_names_the_problem(client, payload, named):
    response = client.post("/predict", json=payload)
    assert response.status_code == 400
    assert named in json.dumps(response.json()["detail"])


def test_a_body_that_is_not_json_is_a_400(client):
    response = client.post("/predict", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_health_endpoints_answer_once_the_model_is_loaded(client):
    # /metrics needs the real server's Prometheus set-up: the e2e test checks it.
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
