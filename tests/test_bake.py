"""Bake the template across its options and check what comes out, without installing anything."""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from support.bake import bake_into

BIN = Path(sys.executable).parent

# The exact files of a default bake ({pkg} = package name). Options change it as listed below.
COMMON_FILES = {
    ".cookiecutter.json",
    ".dvc/.gitignore",
    ".dvc/config",
    ".dvcignore",
    ".github/dependabot.yml",
    ".github/scripts/bento-context.py",
    ".github/scripts/check-committed.sh",
    ".github/scripts/check-overlays.sh",
    ".github/scripts/dvc-remote.sh",
    ".github/scripts/gate-override.sh",
    ".github/scripts/gitops-deploy.sh",
    ".github/scripts/monitor-issue.sh",
    ".github/scripts/refresh-data.sh",
    ".github/scripts/rollback.sh",
    ".github/scripts/smoke.sh",
    ".github/scripts/store-env.sh",
    ".github/scripts/verify-lineage.sh",
    ".github/workflows/batch.yml",
    ".github/workflows/deploy.yml",
    ".github/workflows/drift.yml",
    ".github/workflows/pr.yml",
    ".github/workflows/retrain.yml",
    ".gitignore",
    ".hadolint.yaml",
    ".pre-commit-config.yaml",
    "CODEOWNERS",
    "Makefile",
    "README.md",
    "bento.Dockerfile.j2",
    "bentofile.yaml",
    "data/production/README.md",
    "data/source/README.md",
    "docs/batch.md",
    "docs/ci-cd.md",
    "docs/code-map.md",
    "docs/container.md",
    "docs/data.md",
    "docs/drift.md",
    "docs/gate.md",
    "docs/monitoring.md",
    "docs/serving.md",
    "docs/tuning.md",
    "dvc.yaml",
    "params.yaml",
    "pyproject.toml",
    "schema.yaml",
    "schemathesis.toml",
    "scripts/container.py",
    "scripts/fuzz.py",
    "scripts/locustfile.py",
    "scripts/make_drift_sample.py",
    "scripts/make_store_sample.py",
    "scripts/smoke.py",
    "src/{pkg}/__init__.py",
    "src/{pkg}/__main__.py",
    "src/{pkg}/batch/__init__.py",
    "src/{pkg}/batch/predict.py",
    "src/{pkg}/batch/run.py",
    "src/{pkg}/batch/scoring.py",
    "src/{pkg}/batch/sources.py",
    "src/{pkg}/batch/spark.py",
    "src/{pkg}/cli.py",
    "src/{pkg}/columns.py",
    "src/{pkg}/contract.py",
    "src/{pkg}/errors.py",
    "src/{pkg}/estimators.py",
    "src/{pkg}/gate/__init__.py",
    "src/{pkg}/gate/card.py",
    "src/{pkg}/gate/compare.py",
    "src/{pkg}/gate/decision.py",
    "src/{pkg}/gate/holdout.py",
    "src/{pkg}/gate/policy.py",
    "src/{pkg}/gate/promotion.py",
    "src/{pkg}/gate/report.py",
    "src/{pkg}/gate/scoring.py",
    "src/{pkg}/gate/slices.py",
    "src/{pkg}/io.py",
    "src/{pkg}/metrics.py",
    "src/{pkg}/monitor/__init__.py",
    "src/{pkg}/monitor/before_labels.py",
    "src/{pkg}/monitor/before_labels_report.py",
    "src/{pkg}/monitor/calibration.py",
    "src/{pkg}/monitor/dataset.py",
    "src/{pkg}/monitor/drift.py",
    "src/{pkg}/monitor/drift_report.py",
    "src/{pkg}/monitor/drift_result.py",
    "src/{pkg}/monitor/estimate.py",
    "src/{pkg}/monitor/label_delay.py",
    "src/{pkg}/monitor/labels.py",
    "src/{pkg}/monitor/monitor.py",
    "src/{pkg}/monitor/monitor_report.py",
    "src/{pkg}/monitor/multivariate.py",
    "src/{pkg}/monitor/performance.py",
    "src/{pkg}/monitor/retraining.py",
    "src/{pkg}/monitor/score_drift.py",
    "src/{pkg}/monitor/slices.py",
    "src/{pkg}/monitor/stats.py",
    "src/{pkg}/monitor/store_ops.py",
    "src/{pkg}/monitor/traffic.py",
    "src/{pkg}/monitor/two_sample.py",
    "src/{pkg}/multiple.py",
    "src/{pkg}/params.py",
    "src/{pkg}/pipeline/__init__.py",
    "src/{pkg}/pipeline/adopt.py",
    "src/{pkg}/pipeline/data.py",
    "src/{pkg}/pipeline/evaluate.py",
    "src/{pkg}/pipeline/experiments.py",
    "src/{pkg}/pipeline/schema.py",
    "src/{pkg}/pipeline/train.py",
    "src/{pkg}/pipeline/tune.py",
    "src/{pkg}/pipeline/validate.py",
    "src/{pkg}/records.py",
    "src/{pkg}/registry.py",
    "src/{pkg}/serving/__init__.py",
    "src/{pkg}/serving/batcher.py",
    "src/{pkg}/serving/bentoml_fixes.py",
    "src/{pkg}/serving/config.py",
    "src/{pkg}/serving/explain.py",
    "src/{pkg}/serving/limits.py",
    "src/{pkg}/serving/log_writer.py",
    "src/{pkg}/serving/packaging.py",
    "src/{pkg}/serving/prometheus.py",
    "src/{pkg}/serving/runner.py",
    "src/{pkg}/serving/schema.py",
    "src/{pkg}/serving/service.py",
    "src/{pkg}/serving/smoke_set.py",
    "src/{pkg}/store.py",
    "tests/conftest.py",
    "tests/e2e/__init__.py",
    "tests/e2e/test_gate.py",
    "tests/e2e/test_own_data.py",
    "tests/e2e/test_service_e2e.py",
    "tests/integration/__init__.py",
    "tests/integration/batch/__init__.py",
    "tests/integration/batch/test_predict_command.py",
    "tests/integration/gate/__init__.py",
    "tests/integration/gate/test_promotion_and_compare.py",
    "tests/integration/gate/test_slice_gate.py",
    "tests/integration/monitor/__init__.py",
    "tests/integration/monitor/test_before_labels.py",
    "tests/integration/monitor/test_dataset_command.py",
    "tests/integration/monitor/test_drift_command.py",
    "tests/integration/monitor/test_label_delay.py",
    "tests/integration/monitor/test_monitor_command.py",
    "tests/integration/monitor/test_personal_data.py",
    "tests/integration/monitor/test_retrain_decision.py",
    "tests/integration/monitor/test_store_versions.py",
    "tests/integration/pipeline/__init__.py",
    "tests/integration/pipeline/test_adopt_command.py",
    "tests/integration/pipeline/test_stage_commands.py",
    "tests/integration/pipeline/test_tune_command.py",
    "tests/integration/pipeline/test_validate_faults.py",
    "tests/integration/serving/__init__.py",
    "tests/integration/serving/test_service_api.py",
    "tests/integration/serving/test_smoke.py",
    "tests/integration/serving/test_store_s3.py",
    "tests/unit/__init__.py",
    "tests/unit/batch/__init__.py",
    "tests/unit/batch/test_run.py",
    "tests/unit/batch/test_sources.py",
    "tests/unit/gate/__init__.py",
    "tests/unit/gate/test_card.py",
    "tests/unit/gate/test_compare.py",
    "tests/unit/gate/test_decision.py",
    "tests/unit/gate/test_holdout.py",
    "tests/unit/gate/test_policy.py",
    "tests/unit/gate/test_report.py",
    "tests/unit/gate/test_scoring.py",
    "tests/unit/gate/test_slices.py",
    "tests/unit/monitor/__init__.py",
    "tests/unit/monitor/test_calibration.py",
    "tests/unit/monitor/test_drift.py",
    "tests/unit/monitor/test_estimate.py",
    "tests/unit/monitor/test_labels.py",
    "tests/unit/monitor/test_multivariate.py",
    "tests/unit/monitor/test_performance.py",
    "tests/unit/monitor/test_retraining.py",
    "tests/unit/monitor/test_score_drift.py",
    "tests/unit/monitor/test_slices.py",
    "tests/unit/monitor/test_stats.py",
    "tests/unit/monitor/test_store_ops.py",
    "tests/unit/monitor/test_traffic.py",
    "tests/unit/monitor/test_two_sample.py",
    "tests/unit/pipeline/__init__.py",
    "tests/unit/pipeline/test_adopt.py",
    "tests/unit/pipeline/test_data.py",
    "tests/unit/pipeline/test_evaluate.py",
    "tests/unit/pipeline/test_experiments.py",
    "tests/unit/pipeline/test_schema.py",
    "tests/unit/pipeline/test_train.py",
    "tests/unit/pipeline/test_tune.py",
    "tests/unit/pipeline/test_validate.py",
    "tests/unit/serving/__init__.py",
    "tests/unit/serving/test_batcher.py",
    "tests/unit/serving/test_bentoml_fixes.py",
    "tests/unit/serving/test_config.py",
    "tests/unit/serving/test_explain.py",
    "tests/unit/serving/test_limits.py",
    "tests/unit/serving/test_log_writer.py",
    "tests/unit/serving/test_prometheus.py",
    "tests/unit/serving/test_runner.py",
    "tests/unit/serving/test_schema.py",
    "tests/unit/serving/test_service.py",
    "tests/unit/test_cli.py",
    "tests/unit/test_columns.py",
    "tests/unit/test_contract.py",
    "tests/unit/test_metrics.py",
    "tests/unit/test_multiple.py",
    "tests/unit/test_params.py",
    "tests/unit/test_records.py",
    "tests/unit/test_store.py",
}
KUBERNETES_FILES = {
    "deploy/README.md",
    "deploy/argocd/production.yaml",
    "deploy/argocd/staging.yaml",
    "deploy/bump_image.py",
    "deploy/k8s/base/deployment.yaml",
    "deploy/k8s/base/hpa.yaml",
    "deploy/k8s/base/kustomization.yaml",
    "deploy/k8s/base/pdb.yaml",
    "deploy/k8s/base/service.yaml",
    "deploy/k8s/overlays/production/kustomization.yaml",
    "deploy/k8s/overlays/staging/kustomization.yaml",
    "deploy/monitoring/check_rules.py",
    "deploy/monitoring/dashboard.json",
    "deploy/monitoring/dashboard.png",
    "deploy/monitoring/kustomization.yaml",
    "deploy/monitoring/prometheusrule.yaml",
    "deploy/monitoring/rules-test-days.yaml",
    "deploy/monitoring/rules-test.yaml",
    "deploy/monitoring/servicemonitor.yaml",
}

BINARY_SUFFIXES = (".png",)  # copied as they are (cookiecutter renders text files only)

TASKS = ("classification", "regression")
DEPLOY_TARGETS = ("kubernetes", "none")
PYTHONS = ("3.11", "3.12", "3.13")
REMOTES = (("local", ""), ("s3", "s3://bucket/dvc"), ("gcs", "gs://bucket/dvc"), ("azure", "azure://box/dvc"))
# Options that interact go through their product; independent ones cycle along.
MATRIX = [
    {"task": task, "deploy_target": deploy, "python_version": python, "dvc_remote": remote, "dvc_remote_url": url}
    for (task, deploy), python, (remote, url) in zip(
        itertools.product(TASKS, DEPLOY_TARGETS), itertools.cycle(PYTHONS), itertools.cycle(REMOTES), strict=False
    )
]
MATRIX_IDS = [f"{a['task']}-{a['deploy_target']}-py{a['python_version']}-{a['dvc_remote']}" for a in MATRIX]

ADVERSARIAL = {
    "project_name": 'Zoë\'s "Quoted" \\ Back\\slash — ✓ Project',
    "description": 'It\'s "quoted", has a \\ backslash, [brackets], # hash and: colons — ünïcode ✓',
    "author_name": 'Zoë O\'Connor "Z" \\',
    "project_slug": "zoes-project",
    "package_name": "zoes_project",
}


def files_of(project: Path) -> set[str]:
    return {str(path.relative_to(project)) for path in project.rglob("*") if path.is_file()}


def expected_files(answers: dict) -> set[str]:
    package = answers.get("package_name", "my_ml_project")
    files = COMMON_FILES | (KUBERNETES_FILES if answers.get("deploy_target", "kubernetes") == "kubernetes" else set())
    return {name.format(pkg=package) for name in files}


@pytest.fixture(scope="module", params=MATRIX, ids=MATRIX_IDS)
def baked(request, tmp_path_factory) -> tuple[dict, Path]:
    return request.param, bake_into(tmp_path_factory.mktemp("matrix"), **request.param)


def test_exact_file_set(baked):
    answers, project = baked
    assert files_of(project) == expected_files(answers)


def test_no_leftover_jinja(baked):
    _, project = baked
    pattern = re.compile(r"\{\{-?\s*cookiecutter|\{%-?\s*(if|elif|else|endif|for|endfor|raw|endraw|set)\b|\{#")
    leftovers = []
    for name in files_of(project):
        if name.endswith(BINARY_SUFFIXES):
            continue
        text = (project / name).read_text(encoding="utf-8")
        if name.startswith(".github/"):
            text = text.replace("${{", "").replace("${#", "")  # GitHub expressions, bash's ${#array[@]}: they stay
        if name.endswith(".j2"):  # BentoML's Dockerfile template: its comment and `extends` are meant to stay
            text = re.sub(r"\{#.*?#\}|\{%-?\s*extends\s[^%]*%\}", "", text, flags=re.DOTALL)
        leftovers += [f"{name}: {line.strip()}" for line in text.splitlines() if pattern.search(line)]
    assert leftovers == []


def test_every_structured_file_parses(baked):
    _, project = baked
    for name in files_of(project):
        path = project / name
        if path.suffix in (".yaml", ".yml"):
            list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".py":
            ast.parse(path.read_text(encoding="utf-8"), filename=name)


def test_answers_are_recorded_for_later_updates(baked):
    answers, project = baked
    recorded = json.loads((project / ".cookiecutter.json").read_text())
    assert {key: recorded[key] for key in answers} == answers
    assert not [key for key in recorded if key.startswith("_")]


def test_dvc_remote_follows_the_answer(baked):
    answers, project = baked
    config = (project / ".dvc" / "config").read_text()
    url = answers["dvc_remote_url"] or "../../my-ml-project-dvc-storage"
    assert f"url = {url}\n" in config
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    extra = {"local": "", "s3": "[s3]", "gcs": "[gs]", "azure": "[azure]"}[answers["dvc_remote"]]
    assert f"dvc{extra}>=3.67,<4" in dependencies
    # the bento writes the inference log through fsspec to the store, with the DVC remote's backend
    serving = tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]["serving"]
    backend = {"local": [], "s3": ["s3fs"], "gcs": ["gcsfs"], "azure": ["adlfs"]}[answers["dvc_remote"]]
    assert {"fsspec", "pyarrow", *backend} <= set(serving)


def test_task_sets_the_default_data_and_model(baked):
    answers, project = baked
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["task"] == answers["task"]
    if answers["task"] == "classification":
        assert (params["data"]["source"], params["data"]["target"]) == ("sklearn:breast_cancer", "diagnosis")
    else:
        assert (params["data"]["source"], params["data"]["target"]) == ("sklearn:diabetes", "progression")


def commands_of(project: Path, package: str) -> set[str]:
    """COMMANDS of the baked cli.py, read without importing it."""
    tree = ast.parse((project / "src" / package / "cli.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "COMMANDS":
            return set(ast.literal_eval(node.value))
    raise AssertionError("cli.py has no COMMANDS table")


def test_every_python_m_command_exists(baked):
    _, project = baked
    commands = commands_of(project, "my_ml_project")
    used = {}
    for name in files_of(project):
        if name.endswith((".yaml", ".yml", "Makefile", ".md")):
            text = (project / name).read_text(encoding="utf-8").replace("$(PACKAGE)", "my_ml_project")
            for command in re.findall(r"python -m my_ml_project ([a-z][a-z-]*)", text):
                used.setdefault(command, name)
    assert used, "no python -m commands found"
    assert {command: where for command, where in used.items() if command not in commands} == {}


def test_every_dvc_param_exists_in_params_yaml(baked):
    _, project = baked
    params = yaml.safe_load((project / "params.yaml").read_text())
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    missing = []
    for stage_name, stage in stages.items():
        for key in stage.get("params", []):
            node = params
            for part in key.split("."):
                if not isinstance(node, dict) or part not in node:
                    missing.append(f"{stage_name}: {key}")
                    break
                node = node[part]
    assert missing == []


def path_constants(params_py: Path) -> dict[str, str]:
    """The Path constants of params.py (Path("x") and NAME / "y"), evaluated without importing."""
    values: dict[str, str] = {}
    for node in ast.parse(params_py.read_text()).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "Path":
            values[node.targets[0].id] = ast.literal_eval(value.args[0])
        elif isinstance(value, ast.BinOp) and isinstance(value.op, ast.Div) and value.left.id in values:
            values[node.targets[0].id] = f"{values[value.left.id]}/{ast.literal_eval(value.right)}"
    return values


def test_dvc_outputs_are_the_paths_the_code_writes(baked):
    _, project = baked
    constants = set(path_constants(project / "src/my_ml_project/params.py").values())
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    outputs = set()
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                outputs.add(entry if isinstance(entry, str) else next(iter(entry)))
    assert outputs - constants == set()


def test_make_targets_named_in_the_readme_exist(baked):
    _, project = baked
    makefile = (project / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.MULTILINE))
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", (project / "README.md").read_text()))
    assert named - targets == set()


@pytest.mark.parametrize(("dont_write", "compiled"), [("1", True), ("", False)])
def test_make_setup_compiles_the_venv_only_where_python_cannot_cache_bytecode(tmp_path, dont_write, compiled):
    project = bake_into(tmp_path)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": dont_write}
    planned = subprocess.run(["make", "-n", "setup"], cwd=project, env=env, capture_output=True, text=True)
    assert planned.returncode == 0, planned.stderr
    syncs = [line for line in planned.stdout.splitlines() if line.strip().startswith("uv sync")]
    assert syncs and all(("--compile-bytecode" in line) is compiled for line in syncs)


def test_ruff_finds_nothing_in_the_generated_code(baked):
    _, project = baked
    for command in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        result = subprocess.run([BIN / "ruff", *command], cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_free_text_round_trips_through_toml_yaml_json_and_markdown(tmp_path):
    project = bake_into(tmp_path, **ADVERSARIAL)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert pyproject["description"] == ADVERSARIAL["description"]
    assert pyproject["authors"][0]["name"] == ADVERSARIAL["author_name"]
    recorded = json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))
    assert recorded["project_name"] == ADVERSARIAL["project_name"]
    assert (project / "README.md").read_text(encoding="utf-8").startswith(f"# {ADVERSARIAL['project_name']}\n")
    for path in project.rglob("*.y*ml"):
        list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"))


def test_default_slug_and_package_are_derived_from_the_name(tmp_path):
    project = bake_into(tmp_path, project_name="Churn Predictor 2")
    assert project.name == "churn-predictor-2"
    assert (project / "src" / "churn_predictor_2" / "cli.py").is_file()


def tree_digest(project: Path) -> str:
    digest = hashlib.sha256()
    for name in sorted(files_of(project)):
        digest.update(name.encode() + b"\0" + (project / name).read_bytes() + b"\0")
    return digest.hexdigest()


def test_baking_twice_gives_identical_trees(tmp_path):
    answers = {"task": "regression", "github_owner": "octo-org"}
    assert tree_digest(bake_into(tmp_path / "one", **answers)) == tree_digest(bake_into(tmp_path / "two", **answers))


def test_the_task_changes_no_code_and_no_test(tmp_path):
    """The task sets data, params, contract, stages and docs only: the package and its tests are the same bytes in
    both variants. test_regression_project.py relies on it to run only the regression project's tests that read the
    project (the unit tests run on tables of their own: test_generated_project.py runs them all)."""
    classification = bake_into(tmp_path / "classification")
    regression = bake_into(tmp_path / "regression", task="regression")
    for folder in ("src", "tests"):
        assert tree_digest(classification / folder) == tree_digest(regression / folder), folder
