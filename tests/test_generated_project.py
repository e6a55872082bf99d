"""Run what the template generates, as a new user would: setup, lint, tests, pipeline, DVC remote.

Slow (minutes): one default project is baked and set up per session and shared by these tests.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import bake_into, run

pytestmark = pytest.mark.slow

PIPELINE_OUTPUTS_IN_GIT = {
    "dvc.lock",
    "reports/metrics.json",
    "reports/validation.json",
}


def porcelain(project: Path) -> list[str]:
    return run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout.splitlines()


def commit_all(project: Path, message: str) -> None:
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", message, "--no-verify"], project)


def new_project(tmp_path_factory: pytest.TempPathFactory, **answers: str) -> Path:
    """Bake, `git init`, `make setup` (which writes uv.lock), commit: the README's first steps."""
    project = bake_into(tmp_path_factory.mktemp("project"), **answers)
    run(["git", "init", "-q"], project)
    run(["make", "setup"], project, timeout=900)
    assert (project / "uv.lock").is_file(), "make setup writes uv.lock"
    commit_all(project, "Initial commit from the template")
    return project


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    return new_project(tmp_path_factory)


@pytest.fixture(scope="session")
def pipeline_run(project: Path) -> dict:
    """`make pipeline` once; what it printed and which files it changed in git."""
    result = run(["make", "pipeline"], project, timeout=900)
    changed = {line[3:] for line in porcelain(project)}
    return {"stdout": result.stdout, "changed": changed}


def test_setup_leaves_git_clean(project):
    assert porcelain(project) == []


def test_setup_in_ci_installs_the_committed_lock_and_refuses_a_stale_one(project):
    run(["rm", "-f", ".venv/.installed"], project)
    run(["make", "setup"], project, CI="true")
    assert porcelain(project) == []
    pyproject = (project / "pyproject.toml").read_text()
    try:
        (project / "pyproject.toml").write_text(pyproject.replace('"joblib>=1.5,<2",', '"joblib>=1.5,<2", "six",'))
        stale = run(["make", "setup"], project, check=False, CI="true")
        assert stale.returncode != 0
        assert "uv.lock is missing or does not match pyproject.toml" in stale.stderr
    finally:
        (project / "pyproject.toml").write_text(pyproject)
        run(["make", "setup"], project, CI="true")
    assert porcelain(project) == []


def test_pre_commit_hooks_pass_on_the_generated_code(project):
    run(["make", "lint"], project, timeout=600)
    assert porcelain(project) == []


def test_generated_unit_and_integration_tests_pass(project):
    result = run(["make", "test"], project, timeout=900)
    assert " passed" in result.stdout
    assert " failed" not in result.stdout
    assert porcelain(project) == []


def test_pipeline_runs_every_stage_and_writes_its_reports(project, pipeline_run):
    for stage in ("ingest", "validate", "split", "train", "evaluate"):
        assert f"Running stage '{stage}'" in pipeline_run["stdout"]
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["roc_auc"] > 0.95
    assert (project / "models/model.joblib").is_file()


def test_pipeline_changes_only_the_files_meant_for_git(project, pipeline_run):
    plots = {name for name in pipeline_run["changed"] if name.startswith("reports/plots/")}
    assert pipeline_run["changed"] - plots == PIPELINE_OUTPUTS_IN_GIT
    assert {Path(name).name for name in plots} >= {"confusion_matrix.png", "roc.png", "precision_recall.png"}


def test_second_repro_does_nothing_and_git_stays_clean(project, pipeline_run):
    commit_all(project, "Run the pipeline")
    result = run(["make", "pipeline"], project)
    assert "Running stage" not in result.stdout
    assert "up to date" in result.stdout
    assert porcelain(project) == []


def test_shipped_contract_is_what_schema_infers_from_the_default_data(project, pipeline_run):
    run([".venv/bin/python", "-m", "my_ml_project", "schema"], project)
    assert run(["git", "diff", "--stat", "schema.yaml"], project).stdout == ""


def test_forced_rerun_reproduces_the_same_model_and_metrics(project, pipeline_run):
    lock = (project / "dvc.lock").read_text()
    venv_path = f"{project / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"  # as `source .venv/bin/activate`
    run([".venv/bin/dvc", "repro", "--force"], project, timeout=600, PATH=venv_path)
    assert (project / "dvc.lock").read_text() == lock
    assert porcelain(project) == []


def test_dvc_push_and_pull_round_trip_through_the_local_remote(project, pipeline_run):
    run([".venv/bin/dvc", "push"], project)
    remote = project.parent / "my-ml-project-dvc-storage"
    assert any(remote.rglob("*")), "the local remote beside the project is empty after dvc push"
    model = (project / "models/model.joblib").read_bytes()
    shutil.rmtree(project / ".dvc" / "cache")
    shutil.rmtree(project / "models")
    run([".venv/bin/dvc", "pull"], project)
    assert (project / "models/model.joblib").read_bytes() == model
    assert "up to date" in run([".venv/bin/dvc", "status"], project).stdout


def test_end_to_end_tests_pass(project, pipeline_run):
    result = run(["make", "e2e"], project, timeout=1200)
    assert " passed" in result.stdout
    assert porcelain(project) == []


def test_regression_project_trains_and_passes_its_tests(tmp_path_factory):
    project = new_project(tmp_path_factory, task="regression")
    run(["make", "pipeline"], project, timeout=900)
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["r2"] > 0.3
    run([".venv/bin/python", "-m", "my_ml_project", "schema"], project)
    assert run(["git", "diff", "--stat", "schema.yaml"], project).stdout == ""
    result = run(["make", "test"], project, timeout=900)
    assert " failed" not in result.stdout
