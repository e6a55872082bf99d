"""The production model, a git fact: GTO tags name it, dvc.lock holds its hash, the DVC remote its bytes.

`promote` registers the current commit's model (git tag `model@vX.Y.Z`) and assigns it the stage `prod`
(tag `model#prod#N`); `rollback` assigns `prod` to an earlier version with a new tag. Tags are only ever
added, so `gto history model` is the audit log. The champion's bytes come from the DVC cache or remote
(`dvc get`); when neither holds them, the model is rebuilt at its commit with `dvc repro` in a temporary
git worktree (the pipeline is deterministic, so the rebuild is exact; its hash is checked).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from ..errors import RegistryError
from ..params import MODEL_FILE

ARTIFACT = "model"
STAGE = "prod"
LOCK_FILE = "dvc.lock"


@dataclass(frozen=True)
class ModelVersion:
    """A registered version of the model and, for the production one, the tag that assigned it."""

    version: str
    commit: str
    ref: str | None = None


def _run(command: list[str], cwd: Path | str = ".", env: dict[str, str] | None = None) -> str:
    """Run a tool; its stdout, or RegistryError with the last line it printed on stderr."""
    try:
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RegistryError(f"{command[0]} is not installed") from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        tool = " ".join(command[1:4] if command[0] == sys.executable else command[:2])
        raise RegistryError(f"{tool} failed: {lines[-1].strip() if lines else f'exit {result.returncode}'}")
    return result.stdout


def git(*args: str, cwd: Path | str = ".") -> str:
    """Run git; its stdout, stripped."""
    return _run(["git", *args], cwd).strip()


def dvc(*args: str, cwd: Path | str = ".", env: dict[str, str] | None = None) -> str:
    """DVC of this environment (no PATH lookup), quiet about analytics."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1", **(env or {})}
    return _run([sys.executable, "-m", "dvc", *args], cwd, env)


def head_commit(cwd: Path | str = ".") -> str:
    """The full hash of HEAD."""
    try:
        return git("rev-parse", "--verify", "HEAD", cwd=cwd)
    except RegistryError:
        raise RegistryError("not a git repository with a commit: run `git init` and commit first") from None


def is_dirty(cwd: Path | str = ".") -> bool:
    """Whether tracked files differ from HEAD (untracked files do not change what HEAD holds)."""
    return bool(git("status", "--porcelain", "--untracked-files=no", cwd=cwd))


def locked_model_hash(commit: str, cwd: Path | str = ".") -> str:
    """The md5 of models/model.joblib that dvc.lock records at `commit`."""
    try:
        lock = yaml.safe_load(git("show", f"{commit}:{LOCK_FILE}", cwd=cwd)) or {}
    except RegistryError:
        raise RegistryError(f"{LOCK_FILE} is not committed at {commit[:7]}: run `make pipeline`, commit") from None
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == MODEL_FILE.as_posix() and out.get("md5"):
                return out["md5"]
    raise RegistryError(f"{LOCK_FILE} at {commit[:7]} has no {MODEL_FILE}: run `make pipeline` and commit {LOCK_FILE}")


def file_md5(path: Path) -> str:
    """The md5 of a file, as DVC records it."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_in_remote(cwd: Path | str = ".") -> bool:
    """Whether the DVC remote holds the bytes of the model that the workspace's dvc.lock records."""
    status = json.loads(dvc("status", "--cloud", "--json", MODEL_FILE.as_posix(), cwd=cwd) or "{}")
    return not status


def _gto_versions(cwd: Path | str) -> list[dict]:
    import gto.api
    from gto.exceptions import ArtifactNotFound

    head_commit(cwd)  # a clear error outside a git repository
    try:
        return gto.api.show(str(cwd), ARTIFACT)
    except ArtifactNotFound:
        return []


def versions(cwd: Path | str = ".") -> list[ModelVersion]:
    """Every registered version, newest first."""
    return [ModelVersion(v["version"], v["commit_hexsha"]) for v in _gto_versions(cwd) if v.get("registrations")]


def production(cwd: Path | str = ".") -> ModelVersion | None:
    """The version in stage prod (the latest assignment wins, as in `gto show model#prod --ref`)."""
    import gto.api
    from gto.constants import VersionSort
    from gto.exceptions import ArtifactNotFound

    head_commit(cwd)  # a clear error outside a git repository
    try:
        found = gto.api.show(str(cwd), f"{ARTIFACT}#{STAGE}", sort=VersionSort.Timestamp)
    except ArtifactNotFound:
        return None
    if not found:
        return None
    ref = next((s["ref"] for s in found[0].get("stages", []) if s.get("stage") == STAGE), None)
    return ModelVersion(found[0]["version"], found[0]["commit_hexsha"], ref)


def _after_last_tag(cwd: Path | str) -> None:
    """GTO orders assignments by tag time in whole seconds: never tag twice in the same second."""
    newest = git(
        "for-each-ref",
        "--sort=-taggerdate",
        "--count=1",
        "--format=%(taggerdate:unix)",
        f"refs/tags/{ARTIFACT}@*",
        f"refs/tags/{ARTIFACT}#*",
        cwd=cwd,
    )
    if newest and int(newest) >= int(time.time()):
        time.sleep(int(newest) + 1.05 - time.time())


def _assign(version: str, cwd: Path | str, push: bool) -> ModelVersion:
    import gto.api
    from gto.exceptions import GTOException

    _after_last_tag(cwd)
    try:
        # force: a version may hold the stage a second time (a rollback); each assignment is a new tag.
        gto.api.assign(str(cwd), ARTIFACT, STAGE, version=version, force=True, push=push)
    except GTOException as exc:
        raise RegistryError(f"gto assign {STAGE} to {version} failed: {exc}") from None
    current = production(cwd)
    if current is None or current.version != version:
        raise RegistryError(f"gto assigned {STAGE} to {version}, but `gto show {ARTIFACT}#{STAGE}` disagrees")
    return current


def promote(cwd: Path | str = ".", push: bool = False) -> tuple[ModelVersion, ModelVersion | None]:
    """Register HEAD's model (once) and assign it prod; returns (new production, previous production)."""
    import gto.api
    from gto.exceptions import GTOException

    commit = head_commit(cwd)
    if is_dirty(cwd):
        raise RegistryError("the working tree has uncommitted changes (git status): commit them, then promote")
    md5 = locked_model_hash(commit, cwd)
    if not model_in_remote(cwd):
        raise RegistryError(f"the DVC remote does not hold {MODEL_FILE} (md5 {md5}) of {commit[:7]}: run `dvc push`")
    previous = production(cwd)
    version = next((v.version for v in versions(cwd) if v.commit == commit), None)
    if version is None:
        _after_last_tag(cwd)
        try:
            version = gto.api.register(str(cwd), ARTIFACT, commit, push=push).version
        except GTOException as exc:
            raise RegistryError(f"gto register failed: {exc}") from None
    if previous is not None and previous.version == version:
        return previous, previous
    return _assign(version, cwd, push), previous


def rollback(version: str, cwd: Path | str = ".", push: bool = False) -> tuple[ModelVersion, ModelVersion | None]:
    """Assign prod to an earlier registered version; returns (new production, previous production)."""
    known = versions(cwd)
    if version not in {v.version for v in known}:
        names = ", ".join(v.version for v in known) or "none yet"
        raise RegistryError(f"{ARTIFACT} has no registered version {version!r} (registered: {names})")
    previous = production(cwd)
    if previous is not None and previous.version == version:
        return previous, previous
    return _assign(version, cwd, push), previous


def cache_dir(cwd: Path | str = ".") -> Path:
    """The DVC cache folder: `cache.dir` of .dvc/config.local or .dvc/config (relative to .dvc/), else .dvc/cache."""
    for name in ("config.local", "config"):
        config = Path(cwd, ".dvc", name)
        section = ""
        for line in config.read_text(encoding="utf-8").splitlines() if config.is_file() else []:
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]'\" ")
            elif section == "cache" and line.split("=", 1)[0].strip() == "dir":
                return (config.parent / line.split("=", 1)[1].strip()).resolve()
    return Path(cwd, ".dvc", "cache").resolve()


def fetch_model(champion: ModelVersion, folder: Path, cwd: Path | str = ".") -> tuple[Path, str]:
    """The champion's model file in `folder`, and where its bytes came from (always checked against dvc.lock)."""
    expected = locked_model_hash(champion.commit, cwd)
    target = Path(folder) / "champion.joblib"
    cached = cache_dir(cwd) / "files" / "md5" / expected[:2] / expected[2:]
    if cached.is_file():  # content-addressed: no need to ask DVC when this machine has the bytes
        shutil.copyfile(cached, target)
        source = "the local DVC cache"
    else:
        try:
            dvc("get", ".", MODEL_FILE.as_posix(), "--rev", champion.commit, "-o", str(target), cwd=cwd)
            source = "the DVC remote (dvc get)"
        except RegistryError:
            target = rebuild_model(champion.commit, folder, cwd)
            if file_md5(target) != expected:
                return target, f"rebuilt at {champion.commit[:7]} with dvc repro, NOT byte-identical to dvc.lock's md5"
            return target, f"rebuilt at {champion.commit[:7]} with dvc repro (no cache or remote held it; md5 matches)"
    if file_md5(target) != expected:
        raise RegistryError(f"{source} holds a {MODEL_FILE} whose md5 differs from dvc.lock at {champion.commit[:7]}")
    return target, f"{source} (md5 matches dvc.lock)"


def rebuild_model(commit: str, folder: Path, cwd: Path | str = ".") -> Path:
    """Rebuild models/model.joblib as it was at `commit`: `dvc repro train` in a temporary worktree."""
    worktree = Path(folder) / "worktree"
    git("worktree", "add", "--detach", str(worktree), commit, cwd=cwd)
    try:
        # Share this repository's cache (data tracked with `dvc add`, unchanged upstream outputs are there)
        # and its local config (remote credentials).
        local = Path(cwd, ".dvc", "config.local")
        text = local.read_text(encoding="utf-8") if local.is_file() else ""
        if "[cache]" not in text:
            text += f"\n[cache]\n    dir = {cache_dir(cwd)}\n"
        (worktree / ".dvc" / "config.local").write_text(text, encoding="utf-8")
        env = {  # the stages run `python -m <package>`: this venv, with the code of that commit
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join([str(worktree / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        }
        try:
            dvc("repro", "--pull", "train", cwd=worktree, env=env)
        except RegistryError as exc:
            raise RegistryError(f"cannot rebuild the champion at {commit[:7]}: {exc}") from None
        target = Path(folder) / "champion.joblib"
        os.replace(worktree / MODEL_FILE, target)
        return target
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=cwd, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=cwd, capture_output=True)


def _describe(version: ModelVersion) -> str:
    return f"{ARTIFACT} {version.version} (commit {version.commit[:7]}, tag {version.ref})"


def _report_assignment(command: str, current: ModelVersion, previous: ModelVersion | None) -> int:
    """The one line `promote` and `rollback` print: the new production model, or that nothing changed."""
    if current == previous:
        print(f"{command}: {_describe(current)} is already in {STAGE}; nothing to do")
    else:
        before = previous.version if previous else "none"
        print(f"{command}: {STAGE} is now {_describe(current)} (was {before}); history: gto history {ARTIFACT}")
    return 0


def promote_command(args: argparse.Namespace) -> int:
    """`promote`: HEAD's model becomes production (exit 2 if the tree is dirty or the bytes not pushed)."""
    return _report_assignment("promote", *promote(push=args.push))


def rollback_command(args: argparse.Namespace) -> int:
    """`rollback --to VERSION`: assign prod to an earlier version with a new tag."""
    return _report_assignment("rollback", *rollback(args.to, push=args.push))


def production_command(args: argparse.Namespace) -> int:
    """`production`: print the production version and commit (exit 1 when there is none yet)."""
    current = production()
    if args.json:
        print(json.dumps(asdict(current) if current else None))
    elif current:
        print(f"{current.version} {current.commit} {current.ref}")
    else:
        print(f"no production model yet: `make promote` registers this commit's model as {ARTIFACT}#{STAGE}")
    return 0 if current else 1
