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
from typing import cast

import yaml
from cookiecutter.main import cookiecutter

from support.gha.results import JobResult
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

    def commit_all(self, message: str, author: str | None = None) -> str:
        """Commit everything in the developer's clone (trailers go in the message's last paragraph, `author` is
        "Name <email>"); the new commit."""
        self.git("add", "-A")
        self.git("commit", "-qm", message, "--no-verify", *([f"--author={author}"] if author else []))
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
        """A runner of one workflow of origin, in the shared workspace (or `workspace=`: another runner's, see
        other_workspace), with the DVC remote's credentials and the repository's Actions cache (or `cache=`)."""
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # setup-uv: the template's uv
        secrets = {"DVC_CONFIG_LOCAL": f"['remote \"storage\"']\n    url = {self.storage}\n"}
        workspace = cast("Path | None", kwargs.pop("workspace", None))
        return WorkflowRunner(
            workflow,
            self.origin,
            workspace or self.workspace,
            repository=f"{OWNER}/{SLUG}",
            env=env,
            secrets={**secrets, **kwargs.pop("secrets", {})},  # type: ignore[dict-item]
            work_dir=self.runs / name,
            cache=cast("Path", kwargs.pop("cache", self.runs / "actions-cache")),
            **kwargs,  # type: ignore[arg-type]
        )

    def other_workspace(self) -> Path:
        """A second runner's workspace, for a job that runs while another one is paused (a hook): its own checkout
        and tags, the shared workspace's .venv (a symlink; `make setup` re-points the project's editable install
        at the job's checkout, and forget_setup lets the next job's `make setup` point it back)."""
        workspace = self.workspace.parent.parent / "runner-2" / self.workspace.name
        workspace.mkdir(parents=True, exist_ok=True)
        if not (workspace / ".venv").is_symlink():
            (workspace / ".venv").symlink_to(self.workspace / ".venv")
        return workspace

    def forget_setup(self) -> None:
        """Make the next job's `make setup` sync the shared .venv again (its stamps say which groups it holds)."""
        for stamp in (self.workspace / ".venv").glob(".installed*"):
            stamp.unlink()

    def pull_request(
        self, number: int, jobs: tuple[str, ...] = ("train",), author: str = "a-developer"
    ) -> tuple[WorkflowRunner, dict[str, JobResult]]:
        """Push HEAD as a pull request branch and run pr.yml's `jobs`; the runner and the job results."""
        sha = self.push(f"pr-{number}")
        event = pull_request_event(number, author=author)
        run = self.runner("pr.yml", f"pr-{number}", event_name="pull_request", event=event, sha=sha)
        return run, run.run(list(jobs))

    def deploy_production(self, name: str, sha: str | None = None, hooks: dict | None = None) -> tuple[JobResult, str]:
        """Run deploy.yml's production job for origin's main (or `sha`), given a successful build and staging; the
        job's result and the image it deploys."""
        sha = sha or checked(["git", "rev-parse", "main"], self.origin).strip()
        run = self.runner("deploy.yml", name, event_name="push", sha=sha, hooks=hooks or {})
        digest = f"sha256:{sha[:32]}{sha[:32]}"  # what the registry would answer for this commit's image
        run.results["build"] = JobResult(
            "build", "success", outputs={"image": IMAGE, "digest": digest, "gitops": "true"}
        )
        run.results["staging"] = JobResult("staging", "success")
        return run.run_job("production"), f"{IMAGE}@{digest}"

    def sync(self) -> None:
        """The developer pulls main (the deploy commits) and the tags."""
        self.git("switch", "-q", "main")
        self.git("pull", "-q", "--ff-only", "origin", "main")
        self.git("fetch", "-q", "--force", "--tags", "origin")

    def origin_tags(self) -> set[str]:
        """origin's tags."""
        return set(checked(["git", "tag", "--list"], self.origin).split())

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


def pull_request_event(number: int, fork: bool = False, author: str = "a-developer") -> dict:
    """The `pull_request` event of pull request `number` into main, from this repository's branch or a fork's."""
    head = f"someone-else/{SLUG}" if fork else f"{OWNER}/{SLUG}"
    return {
        "pull_request": {
            "number": number,
            "user": {"login": author},
            "base": {"ref": "main"},
            "head": {"repo": {"full_name": head, "fork": fork}},
        }
    }


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
