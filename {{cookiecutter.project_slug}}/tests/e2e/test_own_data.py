"""A new user's first changes through the real DVC pipeline: their own CSV (no code change), and a
corrupted file that the data contract must stop before anything downstream changes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }} import cli
from {{ cookiecutter.package_name }}.pipeline.data import ingest

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


def sh(*command: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if check and result.returncode:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture
def project_copy(tmp_path: Path, copy_project) -> Path:
    """This project's source (no outputs, no venv) as a fresh git repo with its own DVC remote."""
    copy = tmp_path / "project"

    copy_project(copy)
    sh("git", "init", "-q", cwd=copy)
    sh("git", "add", "-A", cwd=copy)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init", "--no-verify", cwd=copy)
    sh("dvc", "remote", "add", "-d", "-f", "storage", str(tmp_path / "remote"), cwd=copy)
    return copy


def test_own_csv_trains_and_evaluates_with_no_code_change(project_copy, make_customers):
    make_customers(rows=400, seed=3).to_csv(project_copy / "data/source/customers.csv", index=False)
    params = yaml.safe_load((project_copy / "params.yaml").read_text())
    params["task"] = "classification"
    params["data"].update(source="data/source/customers.csv", target="churn", id_column="customer_id")
    params["train"] = {"estimator": "random_forest", "params": {"n_estimators": 50}}
    (project_copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    sh("dvc", "repro", "ingest", cwd=project_copy)
    sh(sys.executable, "-m", cli.__package__, "schema", cwd=project_copy)
    result = sh("dvc", "repro", cwd=project_copy)

    assert "Running stage 'evaluate'" in result.stdout
    metrics = json.loads((project_copy / "reports/metrics.json").read_text())
    assert metrics["test_rows"] > 40
    assert metrics["roc_auc"] > 0.6
    contract = (project_copy / "schema.yaml").read_text()
    assert "plan_type" in contract
    assert "churn" in contract


def test_corrupted_data_stops_the_pipeline_at_validate_and_changes_nothing_downstream(project_copy):
    sh("dvc", "repro", cwd=project_copy)
    downstream = ["models/model.joblib", "data/processed/train.parquet", "reports/metrics.json"]
    before = {name: (project_copy / name).read_bytes() for name in downstream}

    bad = ingest("sklearn:breast_cancer", "diagnosis")
    bad.loc[:9, "mean_radius"] = None  # nulls where the contract allows none
    bad.loc[10:14, "diagnosis"] = "unknown"  # a label the contract does not know
    bad.to_csv(project_copy / "data/source/bad.csv", index=False)
    params = yaml.safe_load((project_copy / "params.yaml").read_text())
    params["data"]["source"] = "data/source/bad.csv"
    (project_copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    result = sh("dvc", "repro", cwd=project_copy, check=False)

    assert result.returncode != 0
    assert "validate: FAILED" in result.stderr
    assert "mean_radius (nulls)" in result.stderr
    assert "diagnosis (categories)" in result.stderr
    assert "report: reports/validation.json" in result.stderr
    assert "Running stage 'split'" not in result.stdout
    assert json.loads((project_copy / "reports/validation.json").read_text())["success"] is False
    assert {name: (project_copy / name).read_bytes() for name in downstream} == before
