"""The stage commands on a scratch folder: ingest -> split -> train -> evaluate, as dvc runs them."""

import json

import joblib
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import MODEL_FILE, PLOTS_DIR, RAW_DATA, TEST_DATA, TRAIN_DATA


@pytest.fixture
def customer_project(workdir, customers, write_params):
    customers.to_csv(workdir / "customers.csv", index=False)
    write_params(workdir)
    return workdir


def test_own_csv_runs_through_every_stage_without_code_changes(customer_project):
    for command in ("ingest", "schema", "split", "train", "evaluate"):
        assert main([command]) == 0, command
    raw = pd.read_parquet(RAW_DATA)
    assert list(raw.columns) == ["customer_id", "tenure_months", "plan_type", "monthly_charges", "churn"]
    assert len(pd.read_parquet(TRAIN_DATA)) + len(pd.read_parquet(TEST_DATA)) == 200
    assert MODEL_FILE.is_file()
    metrics = json.loads((customer_project / "reports/metrics.json").read_text())
    assert metrics["test_rows"] == 50
    assert 0.5 < metrics["roc_auc"] <= 1.0
    curves = {"confusion_matrix.png", "roc.png", "precision_recall.png", "calibration.png"}
    assert {p.name for p in PLOTS_DIR.glob("*.png")} == curves | {"feature_importance.png"}


def test_regression_on_the_bundled_dataset(workdir, write_params):
    write_params(
        workdir,
        task="regression",
        data={"source": "sklearn:diabetes", "target": "progression", "id_column": None},
        train={"estimator": "ridge", "params": {}},
    )
    for command in ("ingest", "schema", "split", "train", "evaluate"):
        assert main([command]) == 0, command
    metrics = json.loads((workdir / "reports/metrics.json").read_text())
    assert set(metrics) == {"test_rows", "r2", "rmse", "mae"}
    assert metrics["r2"] > 0.3
    plots = {"predicted_vs_actual.png", "residuals.png", "feature_importance.png"}
    assert {p.name for p in PLOTS_DIR.glob("*.png")} == plots


def test_same_inputs_give_byte_identical_model_and_metrics(customer_project):
    for command in ("ingest", "schema", "split", "train", "evaluate"):
        main([command])
    model, metrics = MODEL_FILE.read_bytes(), (customer_project / "reports/metrics.json").read_text()
    for command in ("ingest", "schema", "split", "train", "evaluate"):
        main([command])
    assert MODEL_FILE.read_bytes() == model
    assert (customer_project / "reports/metrics.json").read_text() == metrics


def test_a_missing_target_fails_in_one_line_and_writes_nothing(workdir, customers, write_params, capsys):
    customers.drop(columns="Churn").to_csv(workdir / "customers.csv", index=False)
    write_params(workdir)
    assert main(["ingest"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("ingest: error: target 'churn' is not a column of customers.csv")
    assert not RAW_DATA.exists()


def test_a_missing_source_file_is_a_clear_error(workdir, write_params, capsys):
    write_params(workdir)
    assert main(["ingest"]) == 2
    assert "customers.csv: file not found" in capsys.readouterr().err


def test_a_typo_in_params_names_the_key(customer_project, capsys):
    (customer_project / "params.yaml").write_text(
        (customer_project / "params.yaml").read_text().replace("test_size", "tset_size")
    )
    assert main(["split"]) == 2
    assert "params.yaml: split.tset_size: unknown key; did you mean 'split.test_size'?" in capsys.readouterr().err


def test_an_unknown_estimator_fails_before_writing_a_model(customer_project, write_params, capsys):
    write_params(customer_project, train={"estimator": "sklearn.ensemble.NoSuchForest", "params": {}})
    main(["ingest"])
    main(["schema"])
    main(["split"])
    assert main(["train"]) == 2
    assert "cannot import sklearn.ensemble.NoSuchForest" in capsys.readouterr().err
    assert not MODEL_FILE.exists()


def test_near_unique_text_is_named_at_schema_time_and_never_trained_on(customer_project, capsys):
    assert main(["ingest"]) == 0
    assert main(["schema"]) == 0
    warning = capsys.readouterr().out
    assert "'customer_id' looks like an id or free text (200 distinct values in 200 rows)" in warning
    assert main(["split"]) == 0
    assert "not features (schema.yaml): customer_id" in capsys.readouterr().out
    assert "customer_id" not in pd.read_parquet(TRAIN_DATA).columns
    assert main(["train"]) == 0
    assert "customer_id" not in set(joblib.load(MODEL_FILE).feature_names_in_)


def test_example_prints_a_predict_body_of_real_holdout_rows_with_their_ids(customer_project, write_params, capsys):
    write_params(customer_project, data={"source": "customers.csv", "target": "churn", "id_column": "customer_id"})
    assert main(["example"]) == 2
    assert "the example rows come from the test split; run `make pipeline`" in capsys.readouterr().err
    for command in ("ingest", "schema", "split"):
        assert main([command]) == 0, command
    capsys.readouterr()
    assert main(["example", "--rows", "2"]) == 0
    body = json.loads(capsys.readouterr().out)
    test = pd.read_parquet(TEST_DATA)
    assert [record["customer_id"] for record in body["records"]] == test["customer_id"].head(2).tolist()
    assert set(body["records"][0]) == {"customer_id", "tenure_months", "plan_type", "monthly_charges"}
