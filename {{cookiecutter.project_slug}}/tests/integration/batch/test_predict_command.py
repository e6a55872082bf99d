"""The `predict` command end to end on a trained project: every format gives the same output, bad rows are rejected
one by one with their reason and place, too many publish nothing, a killed run resumes to the same bytes, and the
predictions are the service's."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from {{ cookiecutter.package_name }} import io, store
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.contract import load_contract
from {{ cookiecutter.package_name }}.serving.runner import ModelRunner

from conftest import _customers


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project trained on 400 customers (id column customer_id); no production model: the workspace's scores."""
    folder = tmp_path_factory.mktemp("batch")
    _customers(rows=400).to_csv(folder / "customers.csv", index=False)
    params = {
        "seed": 7,
        "task": "classification",
        "data": {"source": "customers.csv", "target": "churn", "id_column": "customer_id"},
        "train": {"estimator": "logistic_regression", "params": {"max_iter": 500}},
        "batch": {"max_reject_share": 0.05, "fragment_rows": 100},
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for command in ("ingest", "schema", "split", "train"):
            assert main([command]) == 0, command
    return folder


@pytest.fixture
def inside(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project)
    return project


def rows_with_faults(project: Path) -> pd.DataFrame:
    """The raw rows, three of them broken: a word for a number, an absurd number, a required value missing."""
    frame = pd.read_parquet(project / "data/raw/data.parquet").drop(columns="churn").astype(object)
    frame.loc[3, "monthly_charges"] = "lots"
    frame.loc[5, "monthly_charges"] = 1e300
    frame.loc[7, "monthly_charges"] = None
    return frame


def write_formats(frame: pd.DataFrame, folder: Path) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    paths = {fmt: folder / f"rows.{fmt}" for fmt in ("csv", "parquet", "jsonl")}
    frame.to_csv(paths["csv"], index=False)
    frame.astype({"monthly_charges": str}).replace({"None": None}).to_parquet(paths["parquet"], row_group_size=64)
    with paths["jsonl"].open("w") as stream:
        for record in frame.to_dict(orient="records"):
            missing = {key for key, value in record.items() if isinstance(value, float) and np.isnan(value)}
            clean = {key: None if key in missing else value for key, value in record.items()}
            stream.write(json.dumps(clean) + "\n")
    return paths


def predict(*args: str) -> int:
    return main(["predict", *args])


def test_each_format_gives_the_same_predictions_and_the_same_rejects_with_their_reasons(inside, tmp_path, capsys):
    paths = write_formats(rows_with_faults(inside), tmp_path / "in")
    outputs = {}
    for fmt, path in paths.items():
        assert predict("--input", str(path), "--output", str(tmp_path / f"out_{fmt}.parquet")) == 0
        outputs[fmt] = pd.read_parquet(tmp_path / f"out_{fmt}.parquet")
        rejected = pd.read_parquet(tmp_path / f"out_{fmt}.rejected.parquet")
        assert rejected["row"].tolist() == [3, 5, 7]
        assert rejected["reason_code"].tolist() == ["wrong_type", "out_of_range", "missing_value"]
        assert rejected["customer_id"].tolist() == ["C00003", "C00005", "C00007"]
        assert set(rejected["source"]) == {str(path)}
        manifest = json.loads((tmp_path / f"out_{fmt}.manifest.json").read_text())
        assert (manifest["rows_in"], manifest["scored"], manifest["rejected"]) == (400, 397, 3)
        digest = hashlib.sha256((tmp_path / f"out_{fmt}.parquet").read_bytes()).hexdigest()
        assert manifest["output_sha256"] == digest
        assert manifest["model_version"].startswith("{{ cookiecutter.package_name }}:")
    pd.testing.assert_frame_equal(outputs["csv"], outputs["parquet"])
    pd.testing.assert_frame_equal(outputs["jsonl"], outputs["parquet"])
    out = outputs["parquet"]
    assert list(out.columns) == ["customer_id", "prediction", "proba_no", "proba_yes", "model_version"]
    assert np.allclose(out["proba_no"] + out["proba_yes"], 1.0)
    assert "400 rows in, 397 scored, 3 rejected" in capsys.readouterr().out


def test_the_predictions_are_the_services_for_the_same_rows(inside, tmp_path):
    holdout = pd.read_parquet(inside / "data/processed/test.parquet")
    assert predict("--input", "data/processed/test.parquet", "--output", str(tmp_path / "out.parquet")) == 0
    out = pd.read_parquet(tmp_path / "out.parquet")
    features = load_contract().feature_specs("customer_id")
    runner = ModelRunner(io.load_model(Path("models/model.joblib")), features)
    records = [
        tuple(None if pd.isna(value) else value for value in row)
        for row in holdout[[spec.name for spec in features]].itertuples(index=False)
    ]
    answers = runner.predict(records)  # the service's runner, the holdout as one batch (as predict reads it)
    assert out["customer_id"].tolist() == holdout["customer_id"].tolist()
    assert out["prediction"].tolist() == [prediction for prediction, _ in answers]
    assert out["proba_yes"].tolist() == [probabilities["yes"] for _, probabilities in answers]  # exactly


def test_past_the_reject_share_nothing_is_published_and_the_last_output_stays(inside, tmp_path, capsys):
    good = tmp_path / "good.parquet"
    pd.read_parquet(inside / "data/raw/data.parquet").to_parquet(good)
    output = tmp_path / "out.parquet"
    assert predict("--input", str(good), "--output", str(output)) == 0
    before = output.read_bytes(), (tmp_path / "out.manifest.json").read_bytes()
    broken = rows_with_faults(inside).assign(monthly_charges=lambda f: f["monthly_charges"].where(f.index >= 40, "x"))
    broken.astype({"monthly_charges": str}).to_parquet(tmp_path / "bad.parquet")
    assert predict("--input", str(tmp_path / "bad.parquet"), "--output", str(output)) == 1
    assert "over batch.max_reject_share 5.00%, nothing published" in capsys.readouterr().err
    assert (output.read_bytes(), (tmp_path / "out.manifest.json").read_bytes()) == before
    assert len(pd.read_parquet(tmp_path / "out.partial/rejected")) == 40  # left to look at


def test_a_file_of_only_bad_rows_publishes_nothing_and_an_empty_one_an_empty_output(inside, tmp_path):
    (tmp_path / "bad.jsonl").write_text('not json\n{"monthly_charges": "x"}\n')
    assert predict("--input", str(tmp_path / "bad.jsonl"), "--output", str(tmp_path / "bad.parquet")) == 1
    assert not (tmp_path / "bad.parquet").exists()
    assert not (tmp_path / "bad.manifest.json").exists()
    (tmp_path / "empty.jsonl").write_text("")
    assert predict("--input", str(tmp_path / "empty.jsonl"), "--output", str(tmp_path / "empty.parquet")) == 0
    empty = pq.read_table(tmp_path / "empty.parquet")
    assert empty.num_rows == 0
    assert "proba_yes" in empty.column_names


def test_bad_arguments_are_one_line_errors(inside, tmp_path, capsys):
    assert predict("--input", str(tmp_path / "none.csv"), "--output", str(tmp_path / "o.parquet")) == 2
    assert predict("--input", "data/raw/data.parquet", "--output", str(tmp_path / "o.csv")) == 2
    assert predict("--input", "data/raw/data.parquet", "--output", str(tmp_path / "o.parquet"), "--model", "x") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert "no such file" in lines[0]
    assert "a Parquet file" in lines[1]
    assert "--model x" in lines[2]


def test_a_killed_run_resumes_from_its_finished_fragments_to_the_same_bytes(inside, tmp_path):
    big = pd.concat([pd.read_parquet(inside / "data/raw/data.parquet")] * 25, ignore_index=True)
    big["customer_id"] = [f"C{i:06d}" for i in range(len(big))]
    big.to_parquet(tmp_path / "big.parquet", row_group_size=100)  # 100 fragments of 100 rows
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "{{ cookiecutter.package_name }}", "predict", "--input", f"{tmp_path}/big.parquet"]
    killed = subprocess.Popen([*command, "--output", str(tmp_path / "a.parquet")], env=env, cwd=inside)
    done = tmp_path / "a.partial/done"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(done.glob("*.json"))) < 3 and killed.poll() is None:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    finished = len(list(done.glob("*.json")))
    assert 3 <= finished < 100, "the run was not killed midway"
    assert not (tmp_path / "a.parquet").exists()
    output = ["--output", str(tmp_path / "a.parquet")]
    resumed = subprocess.run([*command, *output], env=env, cwd=inside, capture_output=True, text=True, check=True)
    assert "resuming run" in resumed.stdout
    assert f"{finished} of 100 fragment(s) already scored" in resumed.stdout
    subprocess.run(
        [*command, "--output", str(tmp_path / "b.parquet")], env=env, cwd=inside, check=True, capture_output=True
    )
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert not (tmp_path / "a.partial").exists()


@pytest.mark.spark
def test_spark_publishes_the_bytes_the_local_engine_publishes(inside, tmp_path, capsys):
    """`--engine spark` (make test-spark: pyspark and Java 17): the fragments as Spark tasks on local[2], each
    checked and predicted as the local engine does: the same output, rejects and counts, byte for byte."""
    source = str(write_formats(rows_with_faults(inside), tmp_path / "in")["parquet"])  # row groups of 64 rows
    assert predict("--input", source, "--output", f"{tmp_path}/local.parquet") == 0
    capsys.readouterr()
    assert predict("--input", source, "--output", f"{tmp_path}/spark.parquet", "--engine", "spark") == 0
    assert "fragment(s) as Spark tasks on local[2]" in capsys.readouterr().out
    assert (tmp_path / "spark.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()
    assert (tmp_path / "spark.rejected.parquet").read_bytes() == (tmp_path / "local.rejected.parquet").read_bytes()
    local, spark = (json.loads((tmp_path / f"{name}.manifest.json").read_text()) for name in ("local", "spark"))
    assert spark["engine"] == "spark"
    assert (spark["rows_in"], spark["scored"], spark["rejected"]) == (local["rows_in"], local["scored"], 3)
    assert spark["output_sha256"] == local["output_sha256"]


def test_log_writes_the_scored_rows_to_the_store_as_batch_traffic_that_monitor_counts_or_leaves_out(
    inside, tmp_path, capsys
):
    store_root = tmp_path / "store"
    source = write_formats(rows_with_faults(inside), tmp_path / "in")["parquet"]
    output = tmp_path / "out.parquet"
    assert predict("--input", str(source), "--output", str(output), "--log", "--store", str(store_root)) == 0
    assert f"predict: 397 predictions logged to the monitoring store {store_root} (_traffic: batch)" in (
        capsys.readouterr().out
    )
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    parts = store.part_files(str(store_root), store.PREDICTIONS)
    assert manifest["logged"] == {"store": str(store_root), "rows": 397, "parts": len(parts), "traffic": "batch"}
    logged = store.read_window(str(store_root), store.PREDICTIONS, None, datetime.now(UTC))
    scored = pd.read_parquet(output)
    assert sorted(logged[store.ID]) == sorted(scored["customer_id"])  # the scored rows, each once; no reject
    assert set(logged[store.TRAFFIC]) == {store.BATCH}
    assert set(logged[store.MODEL_VERSION]) == {manifest["model_version"]}
    by_id = logged.set_index(store.ID).loc[scored["customer_id"]]
    assert by_id[store.PREDICTION].tolist() == scored["prediction"].tolist()
    assert [p["yes"] for p in by_id[store.PROBABILITIES]] == scored["proba_yes"].tolist()  # as scored, exactly
    raw = pd.read_parquet(source).set_index("customer_id").loc[scored["customer_id"]]
    np.testing.assert_array_equal(by_id["tenure_months"], raw["tenure_months"])  # the features, as the service logs

    assert main(["monitor", "--store", str(store_root)]) in (0, 1)  # the version monitor judges: batch's too
    traffic = json.loads(Path("reports/monitor.json").read_text())["traffic"]
    assert (traffic["batch"], traffic["live"], traffic["batch_included"]) == (397, 397, True)
    params = yaml.safe_load(Path("params.yaml").read_text())
    try:
        Path("params.yaml").write_text(yaml.safe_dump(params | {"monitor": {"include_batch": False}}))
        assert main(["monitor", "--store", str(store_root)]) == 0
        traffic = json.loads(Path("reports/monitor.json").read_text())["traffic"]
        assert (traffic["batch"], traffic["live"], traffic["batch_included"]) == (397, 0, False)
    finally:
        Path("params.yaml").write_text(yaml.safe_dump(params))


def test_log_writes_nothing_past_the_reject_share_and_hashes_as_the_service_does(inside, tmp_path, monkeypatch, capsys):
    store_root = tmp_path / "store"
    broken = rows_with_faults(inside).assign(monthly_charges=lambda f: f["monthly_charges"].where(f.index >= 40, "x"))
    broken.astype({"monthly_charges": str}).to_parquet(tmp_path / "bad.parquet")
    arguments = ["--output", str(tmp_path / "out.parquet"), "--log", "--store", str(store_root)]
    assert predict("--input", str(tmp_path / "bad.parquet"), *arguments) == 1
    assert not store_root.exists()  # nothing published, nothing logged

    params = yaml.safe_load(Path("params.yaml").read_text())
    try:
        private = {"log_hash_id": True, "log_hash_columns": ["tenure_months"], "log_drop_columns": ["plan_type"]}
        Path("params.yaml").write_text(yaml.safe_dump(params | {"serve": private}))
        monkeypatch.delenv(store.KEY_ENV, raising=False)
        assert predict("--input", "data/processed/test.parquet", *arguments) == 2
        assert "predict: error: the inference log hashes serve.log_hash_columns (tenure_months) and _id with " in (
            capsys.readouterr().err
        )
        monkeypatch.setenv(store.KEY_ENV, "k" * 32)
        assert predict("--input", "data/processed/test.parquet", *arguments) == 0
    finally:
        Path("params.yaml").write_text(yaml.safe_dump(params))
    logged = store.read_window(str(store_root), store.PREDICTIONS, None, datetime.now(UTC))
    holdout = pd.read_parquet("data/processed/test.parquet")
    assert sorted(logged[store.ID]) == sorted(store.hash_value(i, "k" * 32) for i in holdout["customer_id"])
    assert "plan_type" not in logged.columns
    tenure = holdout.set_index(holdout["customer_id"].map(lambda i: store.hash_value(i, "k" * 32)))["tenure_months"]
    expected = [None if pd.isna(v) else store.hash_logged(float(v), "k" * 32) for v in tenure.loc[logged[store.ID]]]
    hashed = [None if pd.isna(value) else value for value in logged["tenure_months"]]
    assert hashed == expected  # hashed as the service hashes them; a null stays null
