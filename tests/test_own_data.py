"""A classification project whose team brings their own regression tables, as a new user would: baked under a
name that sorts before `conftest` (the import order of the generated tests must not depend on it) and committed
with the pre-commit hooks on, then `make adopt` of a price table (a string id, free text) and of a Parquet count
table (no id): each trains, passes the generated tests that train on its data (`make test-data`), passes
`make compare` on the floor (no production model yet), and serves a prediction."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.adoption import adopt_and_run, one_prediction
from support.bake import bake_into, porcelain
from support.process import run

pytestmark = pytest.mark.slow
PACKAGE = "analytics"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The README's first steps, the first commit with the hooks on (what a newcomer's `git commit` runs)."""
    project = bake_into(tmp_path_factory.mktemp("own"), project_name="Analytics")
    run(["git", "init", "-q", "-b", "main"], project)
    run(["make", "setup"], project, timeout=900)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "Initial commit from the template"], project)
    assert porcelain(project) == []
    return project


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tables")


@pytest.mark.parametrize(("name", "r2"), [("prices", 0.8), ("demand", 0.15)])
def test_own_regression_tables_are_adopted_trained_tested_gated_and_served(project, tables, tmp_path, name, r2):
    result = adopt_and_run(project, name, tables, PACKAGE)
    assert "adopt: task regression: it holds" in result["adopt"]
    assert result["metrics"]["r2"] > r2
    compared = run(["make", "compare"], project)
    assert "PASS: no production model yet, judged on the floor alone" in compared.stdout
    answer = one_prediction(project, PACKAGE, tmp_path / "server.log")
    assert isinstance(answer["predictions"][0], float)
    assert porcelain(project) == []  # the gate's report and the served model's store are not for git
