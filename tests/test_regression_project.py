"""The regression variant of the template (task=regression), baked and run as a new user would: its pipeline
trains a useful model, its contract is what `schema` infers, and its own tests pass. A file of its own, so that
`make test` can run it on one worker while the default project's tests run on the other."""

from __future__ import annotations

import json

import pytest

from conftest import new_project, run

pytestmark = pytest.mark.slow


def test_regression_project_trains_and_passes_its_tests(tmp_path_factory):
    project = new_project(tmp_path_factory, task="regression")
    run(["make", "pipeline"], project, timeout=900)
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["r2"] > 0.3
    run([".venv/bin/python", "-m", "my_ml_project", "schema"], project)
    assert run(["git", "diff", "--stat", "schema.yaml"], project).stdout == ""
    result = run(["make", "test"], project, timeout=900)
    assert " failed" not in result.stdout
