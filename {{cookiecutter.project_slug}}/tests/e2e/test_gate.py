"""The gate end to end: pipeline -> promote -> a worse retrain is blocked -> an identical retrain passes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from {{ cookiecutter.package_name }} import cli

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


def run(*command: str, cwd: Path, env: dict[str, str], expect: int = 0) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != expect:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        pytest.fail(f"{' '.join(command)} exited {result.returncode}, not {expect}\n{output}")
    return result


@pytest.fixture
def gate_project(tmp_path: Path, copy_project) -> tuple[Path, dict[str, str]]:
    """This project's source as a fresh git repo with its own DVC remote and git identity."""
    copy = tmp_path / "project"

    copy_project(copy)
    (tmp_path / "gitconfig").write_text("[user]\n\tname = Gate E2E\n\temail = e2e@example.com\n")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
    }
    run("git", "init", "-q", cwd=copy, env=env)
    run("dvc", "remote", "add", "--local", "storage", str(tmp_path / "remote"), cwd=copy, env=env)
    return copy, env


def test_a_worse_model_is_blocked_and_an_identical_retrain_passes(gate_project):
    project, env = gate_project
    package = cli.__package__

    run("dvc", "repro", "train", cwd=project, env=env)
    run("dvc", "push", cwd=project, env=env)
    run("git", "add", "-A", cwd=project, env=env)
    run("git", "commit", "-qm", "trained", "--no-verify", cwd=project, env=env)
    promoted = run(sys.executable, "-m", package, "promote", cwd=project, env=env)
    assert "prod is now model v0.0.1" in promoted.stdout
    assert run("gto", "show", "model#prod", "--ref", cwd=project, env=env).stdout.strip() == "model@v0.0.1"

    # A clearly worse challenger: the constant (dummy) model.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"] = {"estimator": "dummy", "params": {}}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("dvc", "repro", "train", cwd=project, env=env)  # compare scores the model itself: evaluate is not needed
    blocked = run(sys.executable, "-m", package, "compare", cwd=project, env=env, expect=1)
    report = (project / "reports/compare.md").read_text()
    verdict = report.splitlines()[0]
    assert verdict.startswith("## ❌ Model gate — BLOCK:")
    assert "worse than the champion's beyond the margin" in verdict
    assert "compare: BLOCK:" in blocked.stdout
    assert "champion `v0.0.1`" in report
    assert "| ❌ |" in report
    assert "xychart-beta" in report
    assert "**Data validation**: ✅ passed" in report

    # The same code and params as production: an identical model, which must pass.
    run("git", "checkout", "--", "params.yaml", cwd=project, env=env)
    run("dvc", "repro", "train", cwd=project, env=env)
    run(sys.executable, "-m", package, "compare", cwd=project, env=env)
    report = (project / "reports/compare.md").read_text()
    assert report.splitlines()[0].startswith("## ✅ Model gate — PASS: no worse than the champion")
    assert "| ❌ |" not in report
    result = json.loads((project / "reports/compare.json").read_text())
    assert result["champion"]["metrics"] == result["challenger"]["metrics"]
    assert run("git", "status", "--porcelain", cwd=project, env=env).stdout == ""  # reports/compare.* are ignored
