"""The production model, a git fact: GTO tags name it, dvc.lock holds its hash, the DVC remote its bytes.

A version is a model's bytes: `promote` registers HEAD's model (git tag `model@vX.Y.Z`) only when no
registered version has the same md5 in its dvc.lock, so a docs-only commit re-uses the version it
carries. It then assigns the stage `prod` (tag `model#prod#N`). `rollback` assigns `prod` to an earlier
version with a tag whose message says which version production was rolled back from; `promote` never
assigns such a version again unless forced, so a later push of the same bytes does not undo a rollback.
Tags are only ever added, so `gto history model` is the audit log. champion.py fetches a version's bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from .. import io
from ..errors import RegistryError
from ..params import MODEL_FILE, PARAMS_FILE, PROMOTE_FILE, lineage_in

ARTIFACT = "model"
STAGE = "prod"
LOCK_FILE = "dvc.lock"
ROLLBACK = re.compile(r"^rollback from (?P<version>v\S+) to ")


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


def locked_output(commit: str, path: Path, cwd: Path | str = ".") -> tuple[str, str]:
    """(md5, stage) of a pipeline output as dvc.lock records it at `commit`."""
    try:
        lock = yaml.safe_load(git("show", f"{commit}:{LOCK_FILE}", cwd=cwd)) or {}
    except RegistryError:
        raise RegistryError(f"{LOCK_FILE} is not committed at {commit[:7]}: run `make pipeline`, commit") from None
    for stage, entry in (lock.get("stages") or {}).items():
        for out in entry.get("outs") or []:
            if out.get("path") == path.as_posix() and out.get("md5"):
                return out["md5"], stage
    raise RegistryError(f"{LOCK_FILE} at {commit[:7]} has no {path}: run `make pipeline` and commit {LOCK_FILE}")


def lineage_at(commit: str, cwd: Path | str = ".") -> str:
    """The lineage (params.yaml's data.lineage) a commit's model belongs to; "default" when it names none."""
    try:
        return lineage_in(git("show", f"{commit}:{PARAMS_FILE.as_posix()}", cwd=cwd))
    except RegistryError:
        return "default"


def crossing(production_model: ModelVersion, lineage: str, cwd: Path | str = ".") -> str | None:
    """When production belongs to another lineage than `lineage`: a sentence that says so (None when it is ours)."""
    theirs = lineage_at(production_model.commit, cwd)
    if theirs == lineage:
        return None
    return (
        f"production {ARTIFACT} {production_model.version} (commit {production_model.commit[:7]}) is of lineage "
        f"{theirs!r}, this workspace of {lineage!r} (params.yaml data.lineage)"
    )


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


def require_identity(cwd: Path | str = ".") -> None:
    """Tags are signed with the committer's name and email: refuse early, in one line, when git has none."""
    for key, variable in (("user.name", "GIT_COMMITTER_NAME"), ("user.email", "GIT_COMMITTER_EMAIL")):
        if os.environ.get(variable):
            continue
        try:
            git("config", "--get", key, cwd=cwd)
        except RegistryError:
            raise RegistryError(
                "git has no identity to sign the model's tags with: "
                "git config user.name 'Your Name' && git config user.email you@example.com"
            ) from None


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


def _assign(version: str, cwd: Path | str, push: bool, message: str) -> ModelVersion:
    import gto.api
    from gto.exceptions import GTOException

    _after_last_tag(cwd)
    try:
        # force: a version may hold the stage a second time (a rollback); each assignment is a new tag.
        gto.api.assign(str(cwd), ARTIFACT, STAGE, version=version, force=True, push=push, message=message)
    except GTOException as exc:
        raise RegistryError(f"gto assign {STAGE} to {version} failed: {exc}") from None
    current = production(cwd)
    if current is None or current.version != version:
        raise RegistryError(f"gto assigned {STAGE} to {version}, but `gto show {ARTIFACT}#{STAGE}` disagrees")
    return current


@dataclass(frozen=True)
class Assignment:
    """What `promote` or `rollback` did: the production version after it, before it, and the tags it added."""

    outcome: Literal["assigned", "unchanged", "declined"]
    current: ModelVersion | None
    previous: ModelVersion | None
    candidate: str
    tags: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def deploys(self) -> bool:
        """Whether production now runs the candidate (so its image may go to production)."""
        return self.outcome != "declined"


def rolled_back_from(cwd: Path | str = ".") -> dict[str, str]:
    """Versions production was rolled back from, each with the tag that recorded the rollback."""
    lines = git(
        "for-each-ref", "--format=%(refname:short) %(contents:subject)", f"refs/tags/{ARTIFACT}#{STAGE}#*", cwd=cwd
    )
    found = {}
    for line in lines.splitlines():
        tag, _, subject = line.partition(" ")
        match = ROLLBACK.match(subject)
        if match:
            found[match["version"]] = tag
    return found


def version_of_model(md5: str, cwd: Path | str = ".") -> str | None:
    """The registered version whose dvc.lock records these model bytes, if any (the newest when several do)."""
    for version in versions(cwd):
        if locked_output(version.commit, MODEL_FILE, cwd)[0] == md5:
            return version.version
    return None


def promote(cwd: Path | str = ".", push: bool = False, force: bool = False, new_lineage: bool = False) -> Assignment:
    """Make HEAD's model production: register its bytes once, assign prod, unless production was rolled back from it.

    A production model of another lineage (params.yaml data.lineage) is replaced only with `new_lineage`.
    """
    import gto.api
    from gto.exceptions import GTOException

    commit = head_commit(cwd)
    require_identity(cwd)
    if is_dirty(cwd):
        raise RegistryError("the working tree has uncommitted changes (git status): commit them, then promote")
    md5 = locked_output(commit, MODEL_FILE, cwd)[0]
    if not model_in_remote(cwd):
        raise RegistryError(f"the DVC remote does not hold {MODEL_FILE} (md5 {md5}) of {commit[:7]}: run `make push`")
    previous = production(cwd)
    crossed = crossing(previous, lineage_at(commit, cwd), cwd) if previous else None
    if crossed and not new_lineage:
        raise RegistryError(
            f"{crossed}: it is not replaced across lineages unless told to: `make promote NEW_LINEAGE=1`"
        )
    version = version_of_model(md5, cwd)
    if previous is not None and previous.version == version:
        return Assignment("unchanged", previous, previous, version, reason=f"{version} is already in {STAGE}")
    rolled_back = rolled_back_from(cwd).get(version or "")
    if rolled_back and not force:
        reason = (
            f"production was rolled back from {version} (tag {rolled_back}): it is not promoted again unless "
            "forced (`make promote FORCE=1`)"
        )
        return Assignment("declined", previous, previous, version or "", reason=reason)
    tags = []
    if version is None:
        _after_last_tag(cwd)
        try:
            version = gto.api.register(str(cwd), ARTIFACT, commit, push=push, message=f"{MODEL_FILE} md5 {md5}").version
        except GTOException as exc:
            raise RegistryError(f"gto register failed: {exc}") from None
        tags.append(f"{ARTIFACT}@{version}")
    note = (" (forced)" if rolled_back else "") + (f" (new lineage {lineage_at(commit, cwd)!r})" if crossed else "")
    current = _assign(version, cwd, push, f"promote {version}{note}")
    return Assignment("assigned", current, previous, version, [*tags, current.ref or ""])


def rollback(version: str, cwd: Path | str = ".", push: bool = False) -> Assignment:
    """Assign prod to an earlier registered version, recording which version production leaves."""
    require_identity(cwd)
    known = versions(cwd)
    if version not in {v.version for v in known}:
        names = ", ".join(v.version for v in known) or "none yet"
        raise RegistryError(f"{ARTIFACT} has no registered version {version!r} (registered: {names})")
    previous = production(cwd)
    if previous is not None and previous.version == version:
        return Assignment("unchanged", previous, previous, version, reason=f"{version} is already in {STAGE}")
    leaving = previous.version if previous else "none"
    current = _assign(version, cwd, push, f"rollback from {leaving} to {version}")
    return Assignment("assigned", current, previous, version, [current.ref or ""])


def _describe(version: ModelVersion) -> str:
    return f"{ARTIFACT} {version.version} (commit {version.commit[:7]}, tag {version.ref})"


def _report(command: str, done: Assignment) -> int:
    """Print what happened in one line, write reports/promote.json; exit 0, or 1 when declined."""
    io.write_json({**asdict(done), "deploys": done.deploys}, PROMOTE_FILE)
    if done.outcome == "declined":
        print(f"{command}: not promoted: {done.reason}", file=sys.stderr)
        return 1
    current = _describe(done.current) if done.current else "none"
    if done.outcome == "unchanged":
        print(f"{command}: {current} is already in {STAGE}; nothing to do")
    else:
        before = done.previous.version if done.previous else "none"
        print(f"{command}: {STAGE} is now {current} (was {before}); history: gto history {ARTIFACT}")
    return 0


def promote_command(args: argparse.Namespace) -> int:
    """`promote`: HEAD's model becomes production; exit 1 when production was rolled back from it (unless --force)."""
    return _report("promote", promote(push=args.push, force=args.force, new_lineage=args.new_lineage))


def rollback_command(args: argparse.Namespace) -> int:
    """`rollback --to VERSION`: assign prod to an earlier version with a new tag."""
    return _report("rollback", rollback(args.to, push=args.push))


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
