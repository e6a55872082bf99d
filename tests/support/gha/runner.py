"""WorkflowRunner: the jobs of one workflow in dependency order, each step with its `if:`, `env:` and
expressions, `run:` scripts in bash with GitHub's files (GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH,
GITHUB_STEP_SUMMARY), `uses:` steps through actions.py, and `gh` replaced by the recorder gh.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from support.gha.actions import Workspace, git_out, run_action
from support.gha.expressions import condition, render, to_text
from support.gha.results import JobResult, Recorded, StepResult

MAX_STEP_SECONDS = 1800
GH = Path(__file__).with_name("gh.py")


def parse_key_values(text: str) -> dict[str, str]:
    """Parse GITHUB_OUTPUT / GITHUB_ENV: `key=value` lines and `key<<DELIM` blocks."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            block = []
            while index < len(lines) and lines[index] != delimiter:
                block.append(lines[index])
                index += 1
            index += 1
            values[key] = "\n".join(block)
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


class WorkflowRunner:
    """Run the jobs of one workflow of the repository `origin` (a bare git repository) in `workspace`."""

    def __init__(
        self,
        workflow: str,
        origin: Path,
        workspace: Path,
        *,
        event_name: str,
        sha: str | None = None,
        event: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        variables: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        repository: str = "example-owner/my-ml-project",
        env: dict[str, str] | None = None,
        work_dir: Path | None = None,
        hooks: dict[str, Any] | None = None,
        run_id: str = "1",
        cache: Path | None = None,
        gh_answers: dict[str, str] | None = None,
    ):
        self.origin = Path(origin)
        self.repo = Path(workspace)
        self.sha = sha or git_out(self.origin, "rev-parse", "refs/heads/main")
        self.path = Path(workflow)
        text = git_out(self.origin, "show", f"{self.sha}:.github/workflows/{self.path.name}")
        self.data = yaml.safe_load(text)
        self.event_name = event_name
        self.event = event or {}
        self.inputs = {k: v for k, v in (inputs or {}).items()}
        for name, spec in (self._triggers().get("workflow_dispatch") or {}).get("inputs", {}).items():
            self.inputs.setdefault(name, spec.get("default", ""))
        self.variables = variables or {}
        self.secrets = {"GITHUB_TOKEN": "local-fake-token", **(secrets or {})}
        self.repository = repository
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="workflow-runner-"))
        self.artifacts = self.work_dir / "artifacts"
        self.log_dir = self.work_dir / "logs"
        self.gh_log = self.work_dir / "gh-calls.jsonl"
        self.run_id = run_id  # unique per run on GitHub: give each run of a test its own where a key uses it
        self.cache = Path(cache) if cache else self.work_dir / "cache"  # share one between runs to keep entries
        bin_dir = self.work_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GH, bin_dir / "gh")
        (bin_dir / "gh").chmod(0o755)
        base = dict(os.environ if env is None else env)
        base["PATH"] = f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"
        base["WORKFLOW_RUNNER_GH_LOG"] = str(self.gh_log)
        if gh_answers:  # what `gh <command> <subcommand>` prints, e.g. {"run list": "[...]"}
            answers = self.work_dir / "gh-answers.json"
            answers.write_text(json.dumps(gh_answers), encoding="utf-8")
            base["WORKFLOW_RUNNER_GH_ANSWERS"] = str(answers)
        self.base_env = base
        self.hooks = hooks or {}  # step name -> a function called just before that step runs
        self.recorded: list[Recorded] = []
        self.results: dict[str, JobResult] = {}

    def api_calls(self) -> list[dict[str, Any]]:
        """The GitHub API calls made through `gh`, in order: {"args": [...], "env": {...}, "body": ...}.

        `gh auth setup-git` (git's credential helper, local plumbing) is left out.
        """
        if not self.gh_log.is_file():
            return []
        calls = [json.loads(line) for line in self.gh_log.read_text(encoding="utf-8").splitlines() if line]
        return [call for call in calls if call["args"][:2] != ["auth", "setup-git"]]

    def _triggers(self) -> dict[str, Any]:
        # PyYAML reads the key `on` as the boolean True.
        triggers = self.data.get("on", self.data.get(True))
        if isinstance(triggers, str):
            return {triggers: {}}
        if isinstance(triggers, list):
            return {name: {} for name in triggers}
        return triggers or {}

    # ------------------------------------------------------------ contexts
    def _github(self) -> dict[str, Any]:
        event = {"repository": {"default_branch": "main", "full_name": self.repository}, **self.event}
        return {
            "event_name": self.event_name,
            "event": event,
            "repository": self.repository,
            "repository_owner": self.repository.split("/")[0],
            "sha": self.sha,
            "ref": "refs/heads/main",
            "ref_name": "main",
            "base_ref": self.event.get("pull_request", {}).get("base", {}).get("ref", ""),
            "actor": self.event.get("sender", {}).get("login", "a-maintainer"),
            "run_id": self.run_id,
            "run_attempt": "1",
            "run_number": "1",
            "server_url": "https://github.com",
            "workspace": str(self.repo),
            "token": self.secrets["GITHUB_TOKEN"],
            "workflow": self.data.get("name", self.path.stem),
        }

    def _context(self, env: dict[str, str], steps: dict[str, Any], needs: dict[str, Any]) -> dict[str, Any]:
        return {
            "github": self._github(),
            "env": env,
            "vars": self.variables,
            "secrets": self.secrets,
            "inputs": self.inputs,
            "steps": steps,
            "needs": needs,
            "runner": {"os": "Linux", "temp": str(self.work_dir / "runner-temp")},
            "job": {},
            "matrix": {},
            "strategy": {},
        }

    # ------------------------------------------------------------ workflow
    def run(self, jobs: list[str] | None = None) -> dict[str, JobResult]:
        """Run the workflow's jobs in dependency order (only `jobs` and what they need, if given)."""
        all_jobs = self.data["jobs"]
        order: list[str] = []

        def visit(name: str, trail: tuple[str, ...] = ()) -> None:
            if name in order:
                return
            if name in trail:
                raise ValueError(f"needs cycle: {trail + (name,)}")
            for need in self._needs(all_jobs[name]):
                visit(need, trail + (name,))
            order.append(name)

        for name in jobs or list(all_jobs):
            visit(name)
        for name in order:
            self.results[name] = self.run_job(name)
        return self.results

    @staticmethod
    def _needs(job: dict[str, Any]) -> list[str]:
        needs = job.get("needs") or []
        return [needs] if isinstance(needs, str) else list(needs)

    def run_job(self, name: str) -> JobResult:
        """Run one job; its needs must have run already."""
        job = self.data["jobs"][name]
        needs = {
            need: {"result": self.results[need].status, "outputs": self.results[need].outputs}
            for need in self._needs(job)
        }
        results = [n["result"] for n in needs.values()]
        status = {
            "success": all(r == "success" for r in results),
            "failure": any(r == "failure" for r in results),
            "always": True,
            "cancelled": False,
        }
        env = {k: to_text(v) for k, v in (self.data.get("env") or {}).items()}
        context = self._context(env, {}, needs)
        env = {k: to_text(render(v, context)) for k, v in env.items()}
        context["env"] = env
        if not condition(job.get("if"), context, status):
            return JobResult(name, "skipped")
        job_env = {k: to_text(render(v, context)) for k, v in (job.get("env") or {}).items()}
        env = {**env, **job_env}
        return self._run_steps(name, job, env, needs)

    def _run_steps(self, name: str, job: dict[str, Any], env: dict[str, str], needs: dict[str, Any]) -> JobResult:
        result = JobResult(name, "success")
        files = self.work_dir / "jobs" / name
        if files.exists():
            shutil.rmtree(files)
        files.mkdir(parents=True)
        (self.work_dir / "runner-temp").mkdir(exist_ok=True)
        summary = files / "summary.md"
        summary.touch()
        path_file = files / "path"
        env_file = files / "env"
        path_file.touch()
        env_file.touch()
        steps_context: dict[str, Any] = {}
        failed = False
        timeout = min(int(job.get("timeout-minutes", 30)) * 60, MAX_STEP_SECONDS)
        for index, step in enumerate(job.get("steps") or []):
            step_name = step.get("name") or step.get("id") or step.get("uses") or f"step {index + 1}"
            extra_env = parse_key_values(env_file.read_text(encoding="utf-8"))
            full_env = {**env, **extra_env}
            context = self._context(full_env, steps_context, needs)
            status = {"success": not failed, "failure": failed, "always": True, "cancelled": False}
            if not condition(step.get("if"), context, status):
                step_result = StepResult(step_name, "skipped")
            else:
                if step_name in self.hooks:
                    self.hooks[step_name]()
                step_env = {k: to_text(render(v, context)) for k, v in (step.get("env") or {}).items()}
                step_result = self._run_step(
                    name, step, step_name, {**full_env, **step_env}, step_env, context, files, timeout
                )
                if step_result.status == "failure" and step.get("continue-on-error"):
                    step_result.status = "success"
            result.steps.append(step_result)
            if step_result.status == "failure":
                failed = True
            if step.get("id"):
                outcome = {"recorded": "skipped"}.get(step_result.status, step_result.status)
                steps_context[step["id"]] = {
                    "outputs": step_result.outputs,
                    "outcome": outcome,
                    "conclusion": outcome,
                }
        result.status = "failure" if failed else "success"
        result.summary = summary.read_text(encoding="utf-8")
        context = self._context(env, steps_context, needs)
        result.outputs = {k: to_text(render(v, context)) for k, v in (job.get("outputs") or {}).items()}
        return result

    def _run_step(
        self,
        job_name: str,
        step: dict[str, Any],
        step_name: str,
        env: dict[str, str],
        step_env: dict[str, str],
        context: dict[str, Any],
        files: Path,
        timeout: int,
    ) -> StepResult:
        if "uses" in step:
            return self._uses(job_name, step, step_name, step_env, context)
        script = step["run"]
        if "${{" in script:
            script = render(script, context)
        output = files / f"output-{len(list(files.glob('output-*')))}"
        output.touch()
        process_env = {**self.base_env, **self._github_env(files, output), **env}
        extra_path = [line for line in (files / "path").read_text().splitlines() if line.strip()]
        if extra_path:
            process_env["PATH"] = os.pathsep.join(reversed(extra_path)) + os.pathsep + process_env.get("PATH", "")
        cwd = self.repo / step.get("working-directory", "")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{job_name}-{re.sub(r'[^A-Za-z0-9]+', '-', step_name)}.log"
        with open(log_path, "w", encoding="utf-8") as log:
            try:
                code = subprocess.run(
                    ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                    cwd=cwd,
                    env=process_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                ).returncode
            except subprocess.TimeoutExpired:
                code = 124
                log.write(f"\n[workflow runner] step timed out after {timeout} s\n")
        text = log_path.read_text(encoding="utf-8", errors="replace")
        outputs = parse_key_values(output.read_text(encoding="utf-8"))
        return StepResult(step_name, "success" if code == 0 else "failure", code, outputs, text)

    def _github_env(self, files: Path, output: Path) -> dict[str, str]:
        github = self._github()
        return {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.repo),
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
            "GITHUB_SHA": github["sha"],
            "GITHUB_REF": github["ref"],
            "GITHUB_REF_NAME": github["ref_name"],
            "GITHUB_BASE_REF": github["base_ref"],
            "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_RUN_ID": self.run_id,
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_ACTOR": github["actor"],
            "RUNNER_TEMP": str(self.work_dir / "runner-temp"),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_ENV": str(files / "env"),
            "GITHUB_PATH": str(files / "path"),
            "GITHUB_STEP_SUMMARY": str(files / "summary.md"),
        }

    def _uses(
        self, job_name: str, step: dict[str, Any], step_name: str, step_env: dict[str, str], context: dict[str, Any]
    ) -> StepResult:
        with_ = render(step.get("with") or {}, context)
        workspace = Workspace(self.origin, self.repo, self.sha, self.artifacts, self.base_env.get("PATH"), self.cache)
        result = run_action(step["uses"], step_name, with_, workspace)
        if result.status == "recorded":
            self.recorded.append(Recorded(job_name, step_name, step["uses"], None, step_env, with_))
        return result

    def recorded_steps(self, job: str) -> list[Recorded]:
        """The recorded GitHub-only actions of one job, in order."""
        return [r for r in self.recorded if r.job == job]
