"""A baked project wired as on GitHub, offline: the developer's clone, a bare git repository as `origin`,
a DVC remote folder, and the workspace where the workflow runner (support/gha/) runs the workflows' jobs.

The developer works as the generated README says (make setup, make pipeline, commit, make push) and pushes to
origin; the workflows then check out from origin, push to it, and tag it. What a test asserts about the
deploy loop is read back from origin: main's history, the overlays on main, the GTO tags.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from cookiecutter.main import cookiecutter

from support.gha.runner import WorkflowRunner
from support.paths import TEMPLATE
from support.process import sh

BIN = Path(sys.executable).parent
SLUG, PACKAGE, OWNER = "my-ml-project", "my_ml_project", "example-owner"
IMAGE = f"ghcr.io/{OWNER}/{SLUG}"


def checked(command: list[str], cwd: Path, timeout: float = 900) -> str:
    """Run a command that must succeed; its stdout, or an AssertionError with its output."""
    result = sh(command, cwd, timeout)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@dataclass
class Loop:
    """The developer's clone, origin, the DVC remote and the runner's workspace of one baked project."""

    dev: Path
    origin: Path
    storage: Path
    workspace: Path
    runs: Path

    def git(self, *args: str) -> str:
        """git in the developer's clone."""
        return checked(["git", *args], self.dev).strip()

    def make(self, *targets: str) -> str:
        """make in the developer's clone, as on a laptop (no CI)."""
        return checked(["make", *targets], self.dev)

    def commit_all(self, message: str) -> str:
        """Commit everything in the developer's clone; the new commit."""
        self.git("add", "-A")
        self.git("commit", "-qm", message, "--no-verify")
        return self.git("rev-parse", "HEAD")

    def push(self, ref: str = "main") -> str:
        """Push HEAD of the developer's clone to origin's branch `ref` (forced for a pull request branch)."""
        self.git("push", "-q", "--force", "origin", f"HEAD:refs/heads/{ref}")
        return self.git("rev-parse", "HEAD")

    def set_train(self, estimator: str, **params: object) -> None:
        """params.yaml's train section: this estimator with these arguments."""
        path = self.dev / "params.yaml"
        data = yaml.safe_load(path.read_text())
        data["train"] = {**data["train"], "estimator": estimator, "params": params}
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def train(self, message: str, estimator: str, **params: object) -> str:
        """Change the model, run the pipeline, commit, `dvc push`: what a pull request's author does."""
        self.set_train(estimator, **params)
        self.make("pipeline")
        commit = self.commit_all(message)
        checked([str(self.dev / ".venv/bin/dvc"), "push", "-q"], self.dev)
        return commit

    def runner(self, workflow: str, name: str, **kwargs: object) -> WorkflowRunner:
        """A runner of one workflow of origin, in the shared workspace, with the DVC remote's credentials."""
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # setup-uv: the template's uv
        secrets = {"DVC_CONFIG_LOCAL": f"['remote \"storage\"']\n    url = {self.storage}\n"}
        return WorkflowRunner(
            workflow,
            self.origin,
            self.workspace,
            repository=f"{OWNER}/{SLUG}",
            env=env,
            secrets={**secrets, **kwargs.pop("secrets", {})},  # type: ignore[dict-item]
            work_dir=self.runs / name,
            **kwargs,  # type: ignore[arg-type]
        )

    def origin_file(self, path: str, ref: str = "main") -> str:
        """A file as origin's `ref` has it."""
        return checked(["git", "show", f"{ref}:{path}"], self.origin)

    def overlay_image(self, environment: str) -> str:
        """The image the environment's overlay on origin's main deploys (name@digest or name:tag)."""
        entry = yaml.safe_load(self.origin_file(f"deploy/k8s/overlays/{environment}/kustomization.yaml"))["images"][0]
        return f"{entry['newName']}@{entry['digest']}" if "digest" in entry else f"{entry['newName']}:{entry['newTag']}"

    def production(self) -> dict | None:
        """GTO's production model as origin's tags say (fetched into the developer's clone)."""
        self.git("fetch", "-q", "--force", "--tags", "origin")
        result = sh([str(self.dev / ".venv/bin/python"), "-m", PACKAGE, "production", "--json"], self.dev, timeout=900)
        return json.loads(result.stdout)

    def main_log(self) -> list[str]:
        """Subjects of origin's main, newest first."""
        return checked(["git", "log", "--format=%s", "main"], self.origin).splitlines()


def make_loop(base: Path) -> Loop:
    """Bake, set up and train the default project, commit it (uv.lock included), push it to a new origin."""
    project = Path(
        cookiecutter(str(TEMPLATE), no_input=True, extra_context={"github_owner": OWNER}, output_dir=str(base))
    )
    origin, storage = base / "origin.git", base / "dvc-storage"
    checked(["git", "init", "-q", "--bare", "-b", "main", str(origin)], base)
    loop = Loop(project, origin, storage, base / "runner" / SLUG, base / "runs")
    loop.git("init", "-q", "-b", "main")
    loop.git("remote", "add", "origin", str(origin))
    storage.mkdir()
    (project / ".dvc/config.local").write_text(f"['remote \"storage\"']\n    url = {storage}\n")
    loop.make("setup")  # writes uv.lock, committed with the rest
    loop.commit_all("Initial commit from the template")
    loop.make("pipeline")
    loop.commit_all("Train the model")
    checked([str(project / ".venv/bin/dvc"), "push", "-q"], project)
    loop.push()
    return loop
