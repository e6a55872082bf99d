"""Run what the template generates, as a new user would: setup, lint, tests, pipeline, DVC remote.

Slow (minutes): one default project is baked and set up per session (conftest.py's `project`) and shared
by these tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from support.bake import commit_all, porcelain
from support.process import free_port, run, stop_process

pytestmark = pytest.mark.slow

PIPELINE_OUTPUTS_IN_GIT = {
    "dvc.lock",
    "reports/metrics.json",
    "reports/model_bom.cdx.json",
    "reports/model_card.json",
    "reports/model_card.md",
    "reports/validation.json",
}


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
    run(["make", "setup"], project, env={"CI": "true"})
    assert porcelain(project) == []
    pyproject = (project / "pyproject.toml").read_text()
    try:
        (project / "pyproject.toml").write_text(pyproject.replace('"joblib>=1.5,<2",', '"joblib>=1.5,<2", "six",'))
        stale = run(["make", "setup"], project, check=False, env={"CI": "true"})
        assert stale.returncode != 0
        assert "uv.lock is missing or does not match pyproject.toml" in stale.stderr
    finally:
        (project / "pyproject.toml").write_text(pyproject)
        run(["make", "setup"], project, env={"CI": "true"})
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
    run([".venv/bin/dvc", "repro", "--force"], project, timeout=600, env={"PATH": venv_path})
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


def test_fuzzing_the_served_model_finds_no_server_error(project, pipeline_run):
    """`make fuzz`: schemathesis against the real served model (not_a_server_error, negative_data_rejection)."""
    before = porcelain(project)
    result = run(["make", "fuzz", "FUZZ_EXAMPLES=300", "FUZZ_SECONDS=240"], project, timeout=420)
    seed = re.search(r"fuzz: seed (\d+)", result.stdout)
    assert seed, result.stdout[-2000:]
    assert f"fuzz: no failures; seed {seed.group(1)}" in result.stdout
    generated = re.search(r"(\d+) generated", result.stdout)
    assert generated, result.stdout[-2000:]
    assert int(generated.group(1)) >= 300
    assert porcelain(project) == before


def _narrowest_numeric_feature(project: Path) -> str:
    """The numeric feature whose contract range is narrowest: 1.7e308 there overflows in the scaler."""
    contract = yaml.safe_load((project / "schema.yaml").read_text())
    ranged = [c for c in contract["columns"] if c.get("minimum") is not None and c["name"] != contract["target"]]
    return min(ranged, key=lambda c: c["maximum"] - c["minimum"])["name"]


def test_a_poisoned_minority_under_load_fails_alone(project, pipeline_run, tmp_path):
    """32 connections for 10 s, 1% of requests poisoned with a value that passes validation (its feature has
    no range in the contract here) and breaks the model: every clean request gets 200, every poisoned one
    a 4xx, because a failed batch is retried by halves down to the request at fault."""
    before = porcelain(project)
    feature = _narrowest_numeric_feature(project)
    schema = (project / "schema.yaml").read_text()
    contract = yaml.safe_load(schema)
    for column in contract["columns"]:
        if column["name"] == feature:
            del column["minimum"], column["maximum"]
    try:
        (project / "schema.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
        packaged = run([".venv/bin/python", "-m", "my_ml_project", "package"], project).stdout
    finally:
        (project / "schema.yaml").write_text(schema)
    packaged_tag = re.search(r"-> model (my_ml_project:\w+)", packaged)
    assert packaged_tag, packaged
    tag = packaged_tag.group(1)
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "SERVICE_MODEL_TAG": tag, "MONITOR_STORE": str(tmp_path / "store")}
    command = [".venv/bin/python", "-m", "bentoml", "serve", "my_ml_project.serving.service:Predictor"]
    command += ["--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]]
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, "the server was not ready within 90 s"
            time.sleep(0.5)
        load = ["make", "loadtest", f"URL={url}", "USERS=32", "DURATION=10s", "POISON=0.01"]
        result = run(load, project, timeout=120, env={"POISON_FIELD": feature})
    finally:
        stop_process(server)
    counts = re.search(r"clean (\d+) \((\d+) not 200\), poisoned (\d+) \((\d+) not 4xx\)", result.stdout)
    assert counts, result.stdout[-2000:]
    clean, clean_failed, poisoned, poisoned_failed = map(int, counts.groups())
    assert (clean_failed, poisoned_failed) == (0, 0)
    assert poisoned >= 5
    assert clean >= 50 * poisoned  # about 1 in 100
    server_log = (tmp_path / "server.log").read_text()
    assert "POST /predict: 422" in server_log  # refused by the model, in a batch: the isolation ran
    assert "Traceback" not in server_log
    # Written on SIGTERM: one row per answered clean request (and at most one in flight per user when locust
    # stopped), all marked as the load test's (X-Traffic: test)
    count = (
        "import sys; from my_ml_project import store; rows = store.read_window(sys.argv[1], store.PREDICTIONS); "
        "print(len(rows), sorted(set(rows[store.TRAFFIC])))"
    )
    logged = run([".venv/bin/python", "-c", count, str(tmp_path / "store")], project).stdout.split(maxsplit=1)
    assert clean <= int(logged[0]) <= clean + 32
    assert logged[1].strip() == "['test']"
    assert porcelain(project) == before


def test_an_experiment_and_a_tuning_run_in_the_baked_project(project, pipeline_run):
    """`dvc exp run --temp -S` (in a copy of the committed project) records an experiment that `make experiments`
    lists with the param it set; `make tune` searches, reports and, without --apply, changes nothing committed."""
    venv_path = f"{project / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    run(
        [".venv/bin/dvc", "exp", "run", "--temp", "-S", "train.params.C=0.5"],
        project,
        timeout=600,
        env={"PATH": venv_path},
    )
    listed = run(["make", "experiments"], project).stdout
    assert "| experiment | rev | state | **roc_auc** |" in listed
    assert any(line.endswith("| 0.5 |") for line in listed.splitlines())
    assert "best first by roc_auc (higher is better) on the test split" in listed
    tuned = run(["make", "tune", "ARGS=--trials 4 --timeout 300"], project, timeout=600).stdout
    assert "tune: -> reports/tune.json, reports/tune.md, reports/tune.png" in tuned
    report = json.loads((project / "reports/tune.json").read_text())
    assert (len(report["trials"]), report["applied"]) == (4, False)
    for name in ("tune.json", "tune.md", "tune.png"):
        (project / "reports" / name).unlink()
    assert porcelain(project) == []
