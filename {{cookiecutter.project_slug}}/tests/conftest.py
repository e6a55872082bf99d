"""Fixtures shared by every tier: tiny tables built in code, and a scratch project folder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
# What a copy of the project leaves out: environments, caches and everything the pipeline or tools write.
NOT_COPIED = {
    ".venv",
    ".git",
    ".dvc/cache",
    ".dvc/tmp",
    ".dvc/config.local",
    "data/raw",
    "data/processed",
    "models",
    "reports",
    "bentoml",
    "logs",
    "archive",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".schemathesis",
}


def _copy_project(destination: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> list[str]:
        relative = Path(folder).relative_to(PROJECT)
        return [name for name in names if (relative / name).as_posix().removeprefix("./") in NOT_COPIED]

    shutil.copytree(PROJECT, destination, ignore=ignore)
    return destination


@pytest.fixture(scope="session")
def copy_project() -> Callable[[Path], Path]:
    """copy_project(destination): this project's source, without venv, outputs or caches (for e2e tests)."""
    return _copy_project


@pytest.fixture(autouse=True)
def _quiet_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry from any tool a test starts."""
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("ITERATIVE_DO_NOT_TRACK", "1")
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _customers(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """A churn-like table with the awkward parts of real data: Title Case names, a categorical
    column, missing values in both kinds, and string labels that depend on the features."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows).astype(float)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    charges = rng.normal(60, 15, rows).round(2)
    logit = -0.05 * tenure + (plan == "basic") * 1.5 + (charges - 60) / 20
    churn = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pd.DataFrame(
        {
            "Customer ID": [f"C{i:05d}" for i in range(rows)],
            "Tenure Months": tenure,
            "Plan Type": plan,
            "Monthly Charges": charges,
            "Churn": churn,
        }
    )
    frame.loc[frame.index % 17 == 0, "Tenure Months"] = np.nan
    frame.loc[frame.index % 23 == 0, "Plan Type"] = None
    return frame


@pytest.fixture
def customers() -> pd.DataFrame:
    """200 rows of the churn-like table; `make_customers(rows, seed)` for other sizes."""
    return _customers()


@pytest.fixture
def make_customers():
    return _customers


@pytest.fixture
def contract_frame() -> pd.DataFrame:
    """100 rows of every kind the contract knows: an id, numbers (nulls among them), text, a boolean, free text."""
    rng = np.random.default_rng(0)
    rows = 100
    return pd.DataFrame(
        {
            "user_id": [f"U{i:04d}" for i in range(rows)],
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50_000, 10_000, rows).round(2),
            "plan": pd.Series(rng.choice(["basic", "pro"], rows), dtype="str"),
            "active": rng.random(rows) < 0.5,
            "note": pd.Series([f"free text {i}" for i in range(rows)], dtype="str"),
            "label": pd.Series(rng.choice(["no", "yes"], rows), dtype="str"),
        }
    ).assign(income=lambda f: f["income"].mask(f.index % 10 == 0))


def _write_params(folder: Path, **sections: object) -> dict:
    params = {
        "seed": 7,
        "task": "classification",
        "data": {"source": "customers.csv", "target": "churn", "id_column": None},
        "split": {"test_size": 0.25, "stratify": True},
        "train": {"estimator": "logistic_regression", "params": {"max_iter": 500}},
    }
    params.update(sections)
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return params


@pytest.fixture
def write_params():
    """Write a params.yaml for customers.csv into a folder (keyword arguments replace sections)."""
    return _write_params


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder as the working directory (commands use paths relative to it)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@contextlib.contextmanager
def packaged_project(folder: Path, serve: dict | None = None, card: bool = False, **env: str) -> Iterator[Path]:
    """A project folder with a churn model trained on customers.csv (id column customer_id) and packaged into
    its own BentoML store (`card`: with its model card); the working directory and `env` hold while the block runs
    (for module fixtures: BentoML registers its Prometheus metrics once per process, so one ASGI app serves a
    module's tests)."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models.model import ModelStore

    from {{ cookiecutter.package_name }}.cli import main

    home = folder / "bentoml"
    _customers().to_csv(folder / "customers.csv", index=False)
    params = {
        "seed": 7,
        "task": "classification",
        "data": {"source": "customers.csv", "target": "churn", "id_column": "customer_id"},
        "train": {"estimator": "logistic_regression", "params": {"max_iter": 500}},
        "serve": serve or {},
    }
    (folder / "params.yaml").write_text(json.dumps(params))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("BENTOML_HOME", str(home))
        for key, value in env.items():
            patch.setenv(key, value)
        BentoMLContainer.model_store.set(ModelStore(home / "models"))
        try:
            stages = ("ingest", "schema", "split", "train", *(("evaluate", "card") if card else ()), "package")
            for command in stages:
                assert main([command]) == 0, command
            yield folder
        finally:
            BentoMLContainer.model_store.reset()


# --- a trained repository: git + DVC under tmp_path (the gate's and the monitor's integration tests) -----


def sh(*command: str, cwd: Path) -> str:
    """Run a command (the environment's own tools first on PATH); its stdout, or the test fails with its output."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=300, check=False)
    if result.returncode:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def dvc(*args: str, cwd: Path) -> str:
    return sh(sys.executable, "-m", "dvc", *args, cwd=cwd)


def git_identity(folder: Path) -> dict[str, str]:
    """Environment variables for a git identity of the tests' own (a config file in `folder`), no analytics."""
    config = folder / "gitconfig"
    config.write_text("[user]\n\tname = Tests\n\temail = tests@example.com\n[init]\n\tdefaultBranch = main\n")
    return {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1", "DVC_NO_ANALYTICS": "1"}


def use_remote(repo: Path, remote: Path) -> None:
    """Point the repository's DVC remote `storage` at a local folder."""
    remote.mkdir(exist_ok=True)
    (repo / ".dvc/config.local").write_text(f"['remote \"storage\"']\n    url = {remote}\n")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that train on this project's own data (those that use `trained`) are marked project_data: `make
    test-data` runs them after `make adopt`; the others use tables of their own."""
    for item in items:
        if "trained" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.project_data)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, copy_project) -> Path:
    """This project, trained on its default data and committed, its model pushed: the template of each test
    that asks for `repo`, built once per session (<base>/repo, <base>/remote; no test writes to it)."""
    from {{ cookiecutter.package_name }}.cli import main

    base = tmp_path_factory.mktemp("trained")
    repo = base / "repo"
    copy_project(repo)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in git_identity(base).items():
            patch.setenv(key, value)
        patch.chdir(repo)
        # The validate stage's verdict is written, not computed (Great Expectations costs ~10 s here and is
        # tested elsewhere); dvc.lock records it like any other, so a rebuild at this commit skips the stage.
        assert main(["ingest"]) == 0
        (repo / "reports").mkdir()
        (repo / "reports/validation.json").write_text('{"success": true, "evaluated": 0, "expectations": []}\n')
        assert main(["split"]) == 0
        assert main(["train"]) == 0
        use_remote(repo, base / "remote")
        sh("git", "init", "-q", cwd=repo)
        dvc("commit", "--force", "--quiet", "--with-deps", "train", cwd=repo)  # the stages ran in-process
        shutil.copytree(repo / ".dvc/cache/files", base / "remote/files")  # what `dvc push` does to a local remote
        sh("git", "add", "-A", cwd=repo)
        sh("git", "commit", "-qm", "trained", cwd=repo)
    return base


@pytest.fixture
def repo(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the trained repository (git history, DVC cache and remote) as the working directory."""
    shutil.copytree(trained / "repo", tmp_path / "repo", symlinks=True)
    shutil.copytree(trained / "remote", tmp_path / "remote")
    use_remote(tmp_path / "repo", tmp_path / "remote")
    for key, value in git_identity(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path / "repo")
    return tmp_path / "repo"
