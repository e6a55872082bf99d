"""Generated projects can take later template changes: cruft create, then cruft update."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from support.bake import bake_into
from support.paths import TEMPLATE
from support.process import run

CRUFT = str(Path(sys.executable).parent / "cruft")
SKIP = shutil.ignore_patterns(".git", ".venv", "build", ".pytest_cache", ".ruff_cache", "__pycache__")


def template_repo(tmp_path: Path) -> Path:
    """A git repository holding the template as it is in this working tree."""
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE, repo, ignore=SKIP)
    run(["git", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "template v1"], repo)
    return repo


def test_cruft_update_brings_a_template_change_into_a_project(tmp_path):
    repo = template_repo(tmp_path)
    run([CRUFT, "create", str(repo), "--no-input", "--output-dir", str(tmp_path / "out")], tmp_path)
    project = tmp_path / "out" / "my-ml-project"
    run(["git", "init", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "from the template", "--no-verify"], project)
    assert run([CRUFT, "check"], project).returncode == 0

    readme = repo / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\n## Added by template v2\n")
    run(["git", "commit", "-qam", "template v2"], repo)
    assert run([CRUFT, "check"], project, check=False).returncode != 0

    run([CRUFT, "update", "--skip-apply-ask", "--allow-untracked-files"], project)
    assert "## Added by template v2" in (project / "README.md").read_text()
    assert json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]["project_slug"] == (
        "my-ml-project"
    )


def test_a_project_baked_with_plain_cookiecutter_can_be_linked_with_its_recorded_answers(tmp_path):
    repo = template_repo(tmp_path)
    project = bake_into(tmp_path / "out", task="regression", github_owner="octo-org")
    answers = (project / ".cookiecutter.json").read_text()
    run([CRUFT, "link", str(repo), "--no-input", "--extra-context", answers], project)
    linked = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert (linked["task"], linked["github_owner"]) == ("regression", "octo-org")
