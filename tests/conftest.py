"""Fixtures of the template's tests and the order `make test` runs their files in; helpers live in support/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.bake import new_project
from support.paths import TEST_CACHE

# The slow test files: `make test` runs each file on one worker (xdist's loadfile: a file's module fixtures are
# built once), the slowest first, so that the workers share them out longest first.
HEAVY_FIRST = (
    "test_regression_project.py",
    "test_generated_project.py",
    "test_own_data.py",
    "test_container.py",
    "test_deploy_loop.py",
    "test_deploy_guard.py",
    "test_monitoring_e2e.py",
    "test_batch_spark.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slowest files first (every worker collects in this order; xdist hands out whole files in it, as long as
    its reordering by number of tests is off: make test passes --no-loadscope-reorder)."""
    missing = [name for name in HEAVY_FIRST if not (Path(__file__).parent / name).is_file()]
    if missing:
        raise pytest.UsageError(f"conftest.HEAVY_FIRST names files that do not exist: {missing}")
    rank = {name: index for index, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def tool_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every tool's home and cache (cookiecutter replay, uv, pre-commit, bentoml)."""
    home = tmp_path_factory.mktemp("tool-home")
    config = home / "cookiecutter.yaml"
    config.write_text(f"cookiecutters_dir: {home / 'cookiecutters'}\nreplay_dir: {home / 'replay'}\n")
    return home


@pytest.fixture(scope="session", autouse=True)
def _isolated_tools(tool_home: Path) -> None:
    """No telemetry, no writes to the real $HOME, no global git config."""
    gitconfig = tool_home / "gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Template Tests\n\temail = tests@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    os.environ.update(
        COOKIECUTTER_CONFIG=str(tool_home / "cookiecutter.yaml"),
        DVC_NO_ANALYTICS="1",
        ITERATIVE_DO_NOT_TRACK="1",
        BENTOML_DO_NOT_TRACK="True",
        BENTOML_HOME=str(tool_home / "bentoml"),
        # shared by the workers and kept between runs: a bake's `make setup` then downloads nothing
        UV_CACHE_DIR=os.environ.get("TEMPLATE_TEST_UV_CACHE", str(TEST_CACHE / "uv")),
        PRE_COMMIT_HOME=str(tool_home / "pre-commit"),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        MPLCONFIGDIR=str(tool_home / "matplotlib"),
        XDG_CACHE_HOME=str(tool_home / "cache"),
        # A developer's machine: `make setup` writes uv.lock. Only the workflow runner's jobs are CI
        # (it sets CI=true), where a missing or stale lock is an error.
        CI="",
    )
    # A developer's machine writes bytecode caches as it imports: `make setup` compiles the venv up front only
    # where it cannot (PYTHONDONTWRITEBYTECODE, which this suite's own runner may set; test_bake.py checks both).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, baked and set up once per session (test_generated_project.py and
    test_monitoring_e2e.py share it; test_container.py has its own)."""
    return new_project(tmp_path_factory)
