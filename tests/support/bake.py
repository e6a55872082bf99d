"""Baked projects: the template rendered with the cookiecutter API, git-initialised and set up as its README says."""

from __future__ import annotations

from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from support.paths import TEMPLATE
from support.process import run


def bake_into(output_dir: Path, **answers: str) -> Path:
    """Bake the template with the defaults plus `answers`; returns the project folder."""
    path = cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir))
    return Path(path)


def porcelain(project: Path) -> list[str]:
    """`git status --porcelain` of the project, untracked files listed one by one."""
    return run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout.splitlines()


def commit_all(project: Path, message: str) -> None:
    """Commit everything, without the pre-commit hooks."""
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
