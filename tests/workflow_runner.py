"""Run a GitHub Actions workflow's jobs locally, against a real git remote, offline.

The repository lives in a bare git repository, `origin`, as on GitHub. Each job runs in a workspace that
`actions/checkout` really checks out from origin at the event's commit (or `with: ref:`), with its
`fetch-depth` (shallow by default), and cleans of everything git does not track, as a fresh runner
would; only `.venv` is kept between jobs (a warm cache, not a shared state). Steps run in order:
`run:` scripts with `bash -eo pipefail`, with the workflow/job/step `env:`, the `${{ }}` expressions
evaluated, and GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY honoured. `if:`
conditions, job `needs:` and `outputs:` work as on GitHub for the expression language the workflows use.

`git push` runs for real against origin: rejected pushes, races (see `hooks`) and atomic pushes behave as
on GitHub. What needs GitHub itself is replaced or recorded:
- the `gh` CLI is a recorder on PATH: every call's arguments (and the text of a `-F`/`--body-file`) go to
  `api_calls()`; `gh auth setup-git` does nothing; `gh issue list` prints nothing (no open issue);
- setup-uv / setup-python = the tools already on PATH (checked); upload-artifact / download-artifact =
  copies through a local folder;
- docker login/setup-buildx/metadata/build-push are recorded, not run; build-push-action's `digest`
  output is the sha256 of its build context's files, so later jobs pin a real, reproducible digest.
A `uses:` this runner does not know fails the step: nothing is silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Actions whose local equivalent is "the tool is already here" (checked on PATH).
TOOL_ACTIONS = {"astral-sh/setup-uv": "uv", "actions/setup-python": "python3"}
# Actions that only exist on GitHub: recorded, not run.
GITHUB_ONLY_ACTIONS = (
    "docker/login-action",
    "docker/setup-buildx-action",
    "docker/metadata-action",
    "docker/build-push-action",
    "actions/attest",
)
MAX_STEP_SECONDS = 1800
# The `gh` of the runner: records its arguments (and any body file) as one JSON line, answers like an
# empty repository (no open issue), and does nothing else.
FAKE_GH = r"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
record = {"args": args, "env": {k: os.environ.get(k) for k in ("GH_TOKEN", "GH_REPO")}}
for flag in ("-F", "--body-file"):
    if flag in args and args.index(flag) + 1 < len(args):
        with open(args[args.index(flag) + 1], encoding="utf-8") as body:
            record["body"] = body.read()
with open(os.environ["WORKFLOW_RUNNER_GH_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(record) + "\n")
if args[:2] == ["pr", "create"]:
    print("https://github.com/" + os.environ.get("GH_REPO", "o/r") + "/pull/1")
"""


class ExpressionError(Exception):
    """An expression this evaluator does not understand."""


# ---------------------------------------------------------------- expressions
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?(?![\w.-]))|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\],.*])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"cannot read {text[position:]!r} in {text!r}")
        position = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "str":
            value = value[1:-1].replace("''", "'")
        elif kind == "num":
            value = float(value)
        tokens.append((kind, value))
    return tokens


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip() or 0)
        except ValueError:
            return math.nan
    return math.nan


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if type(left) is type(right) and not isinstance(left, (int, float)):
        return left == right
    return _number(left) == _number(right)


def truthy(value: Any) -> bool:
    """GitHub's truthiness: false, 0, '', null are false."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    return True


def to_text(value: Any) -> str:
    """How a value is written into a string by ${{ }}."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


class _Parser:
    def __init__(self, text: str, context: dict[str, Any], status: dict[str, bool]):
        self.tokens = _tokenize(text)
        self.index = 0
        self.context = context
        self.status = status
        self.text = text

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, Any]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'more'} in {self.text!r}")
        self.index += 1
        return token

    def parse(self) -> Any:
        value = self.parse_or()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return value

    def parse_or(self) -> Any:
        value = self.parse_and()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.parse_and()
            value = value if truthy(value) else right
        return value

    def parse_and(self) -> Any:
        value = self.parse_compare()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.parse_compare()
            value = right if truthy(value) else value
        return value

    def parse_compare(self) -> Any:
        left = self.parse_unary()
        token = self.peek()
        if token and token[0] == "op" and token[1] in ("==", "!=", "<", ">", "<=", ">="):
            self.take()
            right = self.parse_unary()
            op = token[1]
            if op == "==":
                return _equal(left, right)
            if op == "!=":
                return not _equal(left, right)
            a, b = _number(left), _number(right)
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return left

    def parse_unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Any:
        kind, value = self.take()
        if kind in ("str", "num"):
            return value
        if (kind, value) == ("op", "("):
            inner = self.parse_or()
            self.take(")")
            return inner
        if kind != "name":
            raise ExpressionError(f"unexpected {value!r} in {self.text!r}")
        if value in ("true", "false"):
            return value == "true"
        if value == "null":
            return None
        if self.peek() == ("op", "("):
            return self.call(value)
        current: Any = self.context.get(value)
        while self.peek() in (("op", "."), ("op", "[")):
            _, op = self.take()
            if op == ".":
                _, key = self.take()
                if key == "*":
                    raise ExpressionError("object filters (.*) are not supported")
            else:
                key = self.parse_or()
                self.take("]")
            if isinstance(current, dict):
                current = next((v for k, v in current.items() if str(k).lower() == str(key).lower()), None)
            elif isinstance(current, list) and isinstance(key, float):
                current = current[int(key)] if 0 <= int(key) < len(current) else None
            else:
                current = None
        return current

    def call(self, name: str) -> Any:
        self.take("(")
        args = []
        while self.peek() != ("op", ")"):
            args.append(self.parse_or())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")
        lowered = name.lower()
        if lowered in ("success", "failure", "always", "cancelled"):
            return self.status[lowered]
        if lowered == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(_equal(item, needle) for item in haystack)
            return to_text(needle).lower() in to_text(haystack).lower()
        if lowered == "startswith":
            return to_text(args[0]).lower().startswith(to_text(args[1]).lower())
        if lowered == "endswith":
            return to_text(args[0]).lower().endswith(to_text(args[1]).lower())
        if lowered == "format":
            template = to_text(args[0])
            return re.sub(r"\{(\d+)\}", lambda m: to_text(args[1 + int(m.group(1))]), template)
        if lowered == "tojson":
            return json.dumps(args[0], indent=2)
        if lowered == "fromjson":
            return json.loads(to_text(args[0]))
        if lowered == "join":
            separator = to_text(args[1]) if len(args) > 1 else ","
            return separator.join(to_text(item) for item in (args[0] or []))
        raise ExpressionError(f"function {name}() is not supported")


def evaluate(expression: str, context: dict[str, Any], status: dict[str, bool] | None = None) -> Any:
    """Evaluate one expression (without the ${{ }})."""
    status = status or {"success": True, "failure": False, "always": True, "cancelled": False}
    return _Parser(expression, context, status).parse()


_TEMPLATE = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.S)


def render(value: Any, context: dict[str, Any]) -> Any:
    """Substitute every ${{ }} in a string (recursively in lists and dicts)."""
    if isinstance(value, str):
        whole = _TEMPLATE.fullmatch(value.strip())
        if whole and value.strip() == value:
            return evaluate(whole.group(1), context)
        return _TEMPLATE.sub(lambda m: to_text(evaluate(m.group(1), context)), value)
    if isinstance(value, list):
        return [render(item, context) for item in value]
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    return value


def condition(text: Any, context: dict[str, Any], status: dict[str, bool]) -> bool:
    """An `if:` value: implicit success() unless it calls a status function."""
    if text is None:
        return status["success"]
    if isinstance(text, bool):
        return text and status["success"]
    source = str(text).strip()
    whole = _TEMPLATE.fullmatch(source)
    if whole:
        source = whole.group(1).strip()
    if not re.search(r"\b(success|failure|always|cancelled)\s*\(", source):
        source = f"success() && ({source})"
    return truthy(evaluate(source, context, status))


# ---------------------------------------------------------------- results
@dataclass
class StepResult:
    name: str
    status: str  # success | failure | skipped | recorded
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""


@dataclass
class Recorded:
    """A GitHub-only step: what would have run."""

    job: str
    step: str
    uses: str | None
    script: str | None
    env: dict[str, str]
    with_: dict[str, Any]


@dataclass
class JobResult:
    job: str
    status: str  # success | failure | skipped
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    def step(self, name: str) -> StepResult:
        """The result of the step with this name (or id)."""
        for result in self.steps:
            if result.name == name:
                return result
        raise KeyError(f"{self.job}: no step {name!r}; steps: {[s.name for s in self.steps]}")

    def describe(self) -> str:
        """A readable account for assertion messages."""
        lines = [f"job {self.job}: {self.status}"]
        for result in self.steps:
            lines.append(f"  - {result.name}: {result.status} (exit {result.exit_code})")
            if result.status == "failure":
                lines.append("    " + result.log[-3000:].replace("\n", "\n    "))
        return "\n".join(lines)


def _parse_key_values(text: str) -> dict[str, str]:
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
    ):
        self.origin = Path(origin)
        self.repo = Path(workspace)
        self.sha = sha or self._git_out(self.origin, "rev-parse", "refs/heads/main")
        self.path = Path(workflow)
        text = self._git_out(self.origin, "show", f"{self.sha}:.github/workflows/{self.path.name}")
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
        bin_dir = self.work_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        (bin_dir / "gh").write_text(FAKE_GH, encoding="utf-8")
        (bin_dir / "gh").chmod(0o755)
        base = dict(os.environ if env is None else env)
        base["PATH"] = f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"
        base["WORKFLOW_RUNNER_GH_LOG"] = str(self.gh_log)
        self.base_env = base
        self.hooks = hooks or {}  # step name -> a function called just before that step runs
        self.recorded: list[Recorded] = []
        self.results: dict[str, JobResult] = {}

    @staticmethod
    def _git_out(cwd: Path, *args: str) -> str:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        if result.returncode:
            raise RuntimeError(f"git {' '.join(args)} in {cwd}: {result.stderr.strip()}")
        return result.stdout.strip()

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
            "actor": self.event.get("sender", {}).get("login", "a-maintainer"),
            "run_id": "1",
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
            extra_env = _parse_key_values(env_file.read_text(encoding="utf-8"))
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
                log.write(f"\n[workflow_runner] step timed out after {timeout} s\n")
        text = log_path.read_text(encoding="utf-8", errors="replace")
        outputs = _parse_key_values(output.read_text(encoding="utf-8"))
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
            "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_RUN_ID": "1",
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
        action = step["uses"].split("@", 1)[0]
        with_ = render(step.get("with") or {}, context)
        if action == "actions/checkout":
            return self._checkout(step_name, with_)
        if action in TOOL_ACTIONS:
            tool = TOOL_ACTIONS[action]
            found = shutil.which(tool, path=self.base_env.get("PATH"))
            if found is None:
                return StepResult(step_name, "failure", 1, log=f"{action}: {tool} is not on PATH")
            return StepResult(step_name, "success", 0, log=f"{action}: using {found}")
        if action == "actions/upload-artifact":
            return self._upload(step_name, with_)
        if action == "actions/download-artifact":
            return self._download(step_name, with_)
        if action.startswith(GITHUB_ONLY_ACTIONS):
            self.recorded.append(Recorded(job_name, step_name, step["uses"], None, step_env, with_))
            outputs = {}
            if action == "docker/build-push-action":
                outputs = {"digest": self._context_digest(self.repo / to_text(with_.get("context", ".")))}
            elif action == "docker/metadata-action":
                outputs = {"tags": f"{to_text(with_.get('images'))}:{self.sha}", "labels": ""}
            return StepResult(step_name, "recorded", outputs=outputs)
        return StepResult(step_name, "failure", 1, log=f"no local equivalent for {step['uses']}")

    def _checkout(self, step_name: str, with_: dict[str, Any]) -> StepResult:
        """A fresh checkout from origin in the workspace: the event's commit (or `ref`), `fetch-depth` deep."""
        repo, log = self.repo, []

        def git(*args: str) -> str:
            log.append("git " + " ".join(args))
            return self._git_out(repo, *args)

        if not (repo / ".git").is_dir():
            repo.mkdir(parents=True, exist_ok=True)
            git("init", "-q", "-b", "runner")
            git("remote", "add", "origin", str(self.origin))
        for tag in git("tag", "--list").split():  # a fresh runner has no tags but what it fetches
            git("tag", "-d", tag)
        git("worktree", "prune")
        ref = to_text(with_.get("ref", ""))
        depth = int(_number(with_.get("fetch-depth", 1)))
        if depth == 0:
            if (repo / ".git" / "shallow").exists():
                git("fetch", "-q", "--unshallow", "origin")
            git("fetch", "-q", "--force", "--prune", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*")
        else:
            git("fetch", "-q", "--force", f"--depth={depth}", "origin", "+refs/heads/*:refs/remotes/origin/*")
            if not ref:
                git("fetch", "-q", "--force", f"--depth={depth}", "origin", self.sha)
        if ref:
            git("checkout", "-q", "--force", "-B", ref, f"refs/remotes/origin/{ref}")
        else:
            git("checkout", "-q", "--force", "--detach", self.sha)
        git("clean", "-q", "-ffdx", "-e", "/.venv")
        return StepResult(step_name, "success", 0, log="\n".join(log))

    @staticmethod
    def _context_digest(context: Path) -> str:
        """sha256 over a build context's files (paths and bytes): what build-push-action's digest stands for."""
        digest = hashlib.sha256()
        for path in sorted(p for p in context.rglob("*") if p.is_file()):
            digest.update(path.relative_to(context).as_posix().encode() + b"\0" + path.read_bytes())
        return f"sha256:{digest.hexdigest()}"

    def _upload(self, step_name: str, with_: dict[str, Any]) -> StepResult:
        target = self.artifacts / to_text(with_.get("name", "artifact"))
        if target.exists():
            shutil.rmtree(target)
        patterns = [line.strip() for line in to_text(with_.get("path", "")).splitlines() if line.strip()]
        excluded = [(self.repo / p[1:]).resolve() for p in patterns if p.startswith("!")]
        copied = 0
        for pattern in (p for p in patterns if not p.startswith("!")):
            source = (self.repo / pattern).resolve()
            files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
            root = source.parent if source.is_file() else source
            for file in files:
                if any(file == e or e in file.parents for e in excluded):
                    continue
                destination = target / file.relative_to(root)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination)
                copied += 1
        if copied == 0 and with_.get("if-no-files-found", "warn") == "error":
            return StepResult(step_name, "failure", 1, log="upload-artifact: no files")
        return StepResult(step_name, "success", 0, log=f"upload-artifact: {copied} file(s) to {target}")

    def _download(self, step_name: str, with_: dict[str, Any]) -> StepResult:
        source = self.artifacts / to_text(with_.get("name", "artifact"))
        if not source.is_dir():
            return StepResult(step_name, "failure", 1, log=f"download-artifact: no artifact {source.name}")
        destination = self.repo / to_text(with_.get("path", "."))
        shutil.copytree(source, destination, dirs_exist_ok=True)
        return StepResult(step_name, "success", 0, log=f"download-artifact: {source} to {destination}")

    def recorded_steps(self, job: str) -> list[Recorded]:
        """The recorded GitHub-only actions of one job, in order."""
        return [r for r in self.recorded if r.job == job]
