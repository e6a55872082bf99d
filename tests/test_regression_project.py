"""The regression variant of the template (task=regression), baked and run as a new user would: its pipeline
trains a useful model, its contract is what `schema` infers, and its own tests that read the project pass. Its code
and tests are the default project's byte for byte (test_bake.py checks it) and test_generated_project.py runs them
all; the ones that read the project's params, contract or data run here too: `make test-data`, the adopt command's
and the shipped params' search space (found by running the whole suite with params.yaml, schema.yaml, dvc.yaml and
the data hidden). Then its team brings their own classification tables with `make adopt` (string classes, then
integer classes): each trains, passes the generated tests that train on its data (`make test-data`), meets the
production model of the previous lineage at `make compare`, and serves a prediction. A file of its own, so that
`make test` can run it on one worker while the default project's tests run on the other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.adoption import adopt_and_run, one_prediction
from support.bake import new_project
from support.process import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return new_project(tmp_path_factory, task="regression")


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tables")


def test_regression_project_trains_and_passes_its_tests(project):
    run(["make", "pipeline"], project, timeout=900)
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["r2"] > 0.3
    run([".venv/bin/python", "-m", "my_ml_project", "schema"], project)
    assert run(["git", "diff", "--stat", "schema.yaml"], project).stdout == ""
    tests = ["tests/integration/pipeline/test_adopt_command.py", "tests/unit/pipeline/test_tune.py"]
    for command in (["make", "test-data"], [".venv/bin/python", "-m", "pytest", *tests]):
        result = run(command, project, timeout=900)
        assert " passed" in result.stdout and " failed" not in result.stdout
        assert " warning" not in result.stdout.splitlines()[-1], result.stdout.splitlines()[-1]
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "Train the model", "--no-verify"], project)
    run(["make", "push"], project)
    assert "prod is now model v0.0.1" in run(["make", "promote"], project).stdout


def test_own_string_classes_are_adopted_trained_tested_gated_and_served(project, tables, tmp_path):
    result = adopt_and_run(project, "churn", tables, "my_ml_project")
    assert "adopt: task classification: it holds 2 labels (churned, stayed)" in result["adopt"]
    assert result["metrics"]["roc_auc"] > 0.7
    crossing = run(["make", "compare"], project, check=False)
    assert crossing.returncode == 2
    assert "is of lineage 'diabetes', this workspace of 'churn-" in crossing.stderr
    assert "PASS: no champion: production model v0.0.1" in run(["make", "compare", "NEW_LINEAGE=1"], project).stdout
    run(["make", "push"], project)
    assert "prod is now model v0.0.2" in run(["make", "promote", "NEW_LINEAGE=1"], project).stdout
    answer = one_prediction(project, "my_ml_project", tmp_path / "server.log")
    assert answer["predictions"][0] in ("churned", "stayed")
    assert set(answer["probabilities"][0]) == {"churned", "stayed"}


def test_own_integer_classes_are_adopted_trained_tested_gated_and_served(project, tables, tmp_path):
    result = adopt_and_run(project, "grades", tables, "my_ml_project")
    assert "adopt: task classification: it holds 4 whole numbers" in result["adopt"]
    assert result["metrics"]["roc_auc"] > 0.7
    assert run(["make", "compare"], project, check=False).returncode == 2  # churn's production model
    run(["make", "compare", "NEW_LINEAGE=1"], project)
    answer = one_prediction(project, "my_ml_project", tmp_path / "server.log")
    assert answer["predictions"][0] in (1, 2, 3, 4)
