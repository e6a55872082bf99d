"""Batch scoring on Spark, as a team with Java would run it: the default project baked, Java 17 from Debian
(support/system_packages.py), and the project's own `make test-spark`, which installs the `spark` extra and runs
`predict --engine spark` on local[2] against the local engine: the same output, rejects and counts, byte for byte.
Slow (a JVM and a second venv); a file of its own, so that `make test` gives it one worker."""

from __future__ import annotations

import pytest

from support.bake import bake_into
from support.process import run
from support.system import apt_install
from support.system_packages import PACKAGES

pytestmark = pytest.mark.slow


def test_the_projects_spark_tests_pass_and_the_extra_sticks(tmp_path_factory: pytest.TempPathFactory) -> None:
    apt_install(PACKAGES["spark"])
    project = bake_into(tmp_path_factory.mktemp("spark"))
    run(["git", "init", "-q", "-b", "main"], project)
    result = run(["make", "test-spark"], project, timeout=1200)
    assert "1 passed" in result.stdout, result.stdout[-2000:]
    assert (project / ".venv/.spark").is_file()
    # SPARK=1 sticks: a plain `make setup` keeps pyspark (it is up to date, nothing re-synced)
    assert run(["make", "-q", "setup"], project, check=False).returncode == 0
    assert run([".venv/bin/python", "-c", "import pyspark"], project, check=False).returncode == 0
