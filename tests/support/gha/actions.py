"""The `uses:` steps the generated workflows take, each replaced by its local equivalent: checkout from origin,
the tools already on PATH, artifacts copied through a folder; GitHub-only actions are recorded, not run."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.gha.expressions import to_number, to_text
from support.gha.results import StepResult

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


@dataclass(frozen=True)
class Workspace:
    """What an action works on: origin, the job's checkout, the event's commit, the artifact folder, the PATH."""

    origin: Path
    repo: Path
    sha: str
    artifacts: Path
    path: str | None
    cache: Path | None = None  # the Actions cache's entries (actions/cache/restore, save): one folder per key


def git_out(cwd: Path, *args: str) -> str:
    """git's stdout, stripped; RuntimeError with its stderr when it fails."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"git {' '.join(args)} in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


def run_action(uses: str, step_name: str, with_: dict[str, Any], workspace: Workspace) -> StepResult:
    """One `uses:` step with its rendered `with:`; status "recorded" for a GitHub-only action, and a failure
    for an action without a local equivalent: nothing is silently ignored."""
    action = uses.split("@", 1)[0]
    if action == "actions/checkout":
        return checkout(step_name, with_, workspace)
    if action in TOOL_ACTIONS:
        tool = TOOL_ACTIONS[action]
        found = shutil.which(tool, path=workspace.path)
        if found is None:
            return StepResult(step_name, "failure", 1, log=f"{action}: {tool} is not on PATH")
        return StepResult(step_name, "success", 0, log=f"{action}: using {found}")
    if action == "actions/upload-artifact":
        return upload(step_name, with_, workspace)
    if action == "actions/download-artifact":
        return download(step_name, with_, workspace)
    if action in ("actions/cache/restore", "actions/cache/save"):
        return (
            restore_cache(step_name, with_, workspace)
            if action.endswith("restore")
            else save_cache(step_name, with_, workspace)
        )
    if action.startswith(GITHUB_ONLY_ACTIONS):
        outputs = {}
        if action == "docker/build-push-action":
            outputs = {"digest": context_digest(workspace.repo / to_text(with_.get("context", ".")))}
        elif action == "docker/metadata-action":
            outputs = {"tags": f"{to_text(with_.get('images'))}:{workspace.sha}", "labels": ""}
        return StepResult(step_name, "recorded", outputs=outputs)
    return StepResult(step_name, "failure", 1, log=f"no local equivalent for {uses}")


def checkout(step_name: str, with_: dict[str, Any], workspace: Workspace) -> StepResult:
    """A fresh checkout from origin in the workspace: the event's commit (or `ref`), `fetch-depth` deep."""
    repo, log = workspace.repo, []

    def git(*args: str) -> str:
        log.append("git " + " ".join(args))
        return git_out(repo, *args)

    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "-b", "runner")
        git("remote", "add", "origin", str(workspace.origin))
    for tag in git("tag", "--list").split():  # a fresh runner has no tags but what it fetches
        git("tag", "-d", tag)
    git("worktree", "prune")
    ref = to_text(with_.get("ref", ""))
    depth = int(to_number(with_.get("fetch-depth", 1)))
    if depth == 0:
        if (repo / ".git" / "shallow").exists():
            git("fetch", "-q", "--unshallow", "origin")
        git("fetch", "-q", "--force", "--prune", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*")
    else:
        git("fetch", "-q", "--force", f"--depth={depth}", "origin", "+refs/heads/*:refs/remotes/origin/*")
        if not ref:
            git("fetch", "-q", "--force", f"--depth={depth}", "origin", workspace.sha)
    if ref:
        git("checkout", "-q", "--force", "-B", ref, f"refs/remotes/origin/{ref}")
    else:
        git("checkout", "-q", "--force", "--detach", workspace.sha)
    git("clean", "-q", "-ffdx", "-e", "/.venv")
    return StepResult(step_name, "success", 0, log="\n".join(log))


def context_digest(context: Path) -> str:
    """sha256 over a build context's files (paths and bytes): what build-push-action's digest stands for."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0" + path.read_bytes())
    return f"sha256:{digest.hexdigest()}"


def upload(step_name: str, with_: dict[str, Any], workspace: Workspace) -> StepResult:
    """upload-artifact: the files of `path` (with its `!` exclusions) copied into the artifact folder."""
    target = workspace.artifacts / to_text(with_.get("name", "artifact"))
    if target.exists():
        shutil.rmtree(target)
    patterns = [line.strip() for line in to_text(with_.get("path", "")).splitlines() if line.strip()]
    excluded = [(workspace.repo / p[1:]).resolve() for p in patterns if p.startswith("!")]
    copied = 0
    for pattern in (p for p in patterns if not p.startswith("!")):
        if any(wildcard in pattern for wildcard in "*?["):  # a glob: the matches, below their common folder
            files = sorted(p.resolve() for p in workspace.repo.glob(pattern) if p.is_file())
            root = Path(os.path.commonpath([f.parent for f in files])) if files else workspace.repo
        else:
            source = (workspace.repo / pattern).resolve()
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


def download(step_name: str, with_: dict[str, Any], workspace: Workspace) -> StepResult:
    """download-artifact: an uploaded artifact copied into the workspace's `path`."""
    source = workspace.artifacts / to_text(with_.get("name", "artifact"))
    if not source.is_dir():
        return StepResult(step_name, "failure", 1, log=f"download-artifact: no artifact {source.name}")
    destination = workspace.repo / to_text(with_.get("path", "."))
    shutil.copytree(source, destination, dirs_exist_ok=True)
    return StepResult(step_name, "success", 0, log=f"download-artifact: {source} to {destination}")


def _cache_paths(with_: dict[str, Any], workspace: Workspace) -> list[Path]:
    """The cache's `path` lines, each absolute or relative to the checkout."""
    lines = [line.strip() for line in to_text(with_.get("path", "")).splitlines() if line.strip()]
    return [workspace.repo / line if not os.path.isabs(line) else Path(line) for line in lines]


def save_cache(step_name: str, with_: dict[str, Any], workspace: Workspace) -> StepResult:
    """actions/cache/save: the paths copied into a new entry named by `key`. As on GitHub an entry is never
    replaced (a key that exists is a warning, nothing saved) and a missing path is a warning."""
    assert workspace.cache is not None, "the runner has no cache folder"
    key = to_text(with_.get("key", ""))
    entry = workspace.cache / key
    if entry.exists():
        return StepResult(step_name, "success", 0, log=f"cache/save: warning: {key} exists: not saved")
    paths = _cache_paths(with_, workspace)
    if not any(path.exists() for path in paths):
        return StepResult(step_name, "success", 0, log="cache/save: warning: no path exists: not saved")
    for index, path in enumerate(paths):
        if path.is_dir():
            shutil.copytree(path, entry / str(index))
        elif path.is_file():
            entry.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, entry / f"{index}.file")
    entry.mkdir(parents=True, exist_ok=True)
    (entry / ".created").write_text(str(time.time_ns()))
    return StepResult(step_name, "success", 0, log=f"cache/save: {key}")


def restore_cache(step_name: str, with_: dict[str, Any], workspace: Workspace) -> StepResult:
    """actions/cache/restore: the entry of `key`, else the newest entry whose key starts with a `restore-keys` line,
    copied back to the paths; outputs cache-hit and cache-matched-key as on GitHub."""
    assert workspace.cache is not None, "the runner has no cache folder"
    key = to_text(with_.get("key", ""))
    prefixes = [line.strip() for line in to_text(with_.get("restore-keys", "")).splitlines() if line.strip()]
    entries = [e for e in workspace.cache.iterdir() if e.is_dir()] if workspace.cache.is_dir() else []
    matched = workspace.cache / key if (workspace.cache / key).is_dir() else None
    for prefix in prefixes if matched is None else ():
        found = [e for e in entries if e.name.startswith(prefix)]
        if found:
            matched = max(found, key=lambda e: int((e / ".created").read_text()))
            break
    if matched is None:
        return StepResult(step_name, "success", 0, {"cache-hit": "false"}, log=f"cache/restore: no entry for {key}")
    for index, path in enumerate(_cache_paths(with_, workspace)):
        saved = matched / str(index)
        if saved.is_dir():
            shutil.copytree(saved, path, dirs_exist_ok=True)
        elif (matched / f"{index}.file").is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(matched / f"{index}.file", path)
    outputs = {"cache-hit": str(matched.name == key).lower(), "cache-matched-key": matched.name}
    return StepResult(step_name, "success", 0, outputs, log=f"cache/restore: {matched.name}")
