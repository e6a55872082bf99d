"""`promote`, `rollback` and `production`: the registry's tags, written (registry.py reads them).

A version is a model's bytes: `promote` registers HEAD's model (git tag `model@vX.Y.Z`) only when no
registered version has the same md5 in its dvc.lock, so a docs-only commit re-uses the version it
carries. It then assigns the stage `prod` (tag `model#prod#N`). `rollback` assigns `prod` to an earlier
version with a tag whose message says which version production was rolled back from; `promote` never
assigns such a version again unless forced, so a later push of the same bytes does not undo a rollback.
Tags are only ever added, so `gto history model` is the audit log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from .. import io
from ..errors import RegistryError
from ..params import MODEL_FILE, PROMOTE_FILE
from ..registry import (
    ARTIFACT,
    STAGE,
    ModelVersion,
    crossing,
    git,
    head_commit,
    is_ancestor,
    is_dirty,
    lineage_at,
    locked_output,
    production,
    remote_holds,
    versions,
)

ROLLBACK = re.compile(r"^rollback from (?P<version>v\S+) to ")


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


def promote(
    cwd: Path | str = ".",
    push: bool = False,
    force: bool = False,
    new_lineage: bool = False,
    override: str | None = None,
) -> Assignment:
    """Make HEAD's model production: register its bytes once, assign prod, unless production was rolled back from it.

    Only a descendant of production's commit is promoted: a re-run of an older deploy cannot take production back
    in time (a rollback is `rollback`). A production model of another lineage (params.yaml data.lineage) is
    replaced only with `new_lineage` or an `override` (a sentence: why, by whom), which the tag message records.
    """
    import gto.api
    from gto.exceptions import GTOException

    commit = head_commit(cwd)
    require_identity(cwd)
    if is_dirty(cwd):
        raise RegistryError("the working tree has uncommitted changes (git status): commit them, then promote")
    md5 = locked_output(commit, MODEL_FILE, cwd)[0]
    if not remote_holds(md5, cwd):
        raise RegistryError(f"the DVC remote does not hold {MODEL_FILE} (md5 {md5}) of {commit[:7]}: run `make push`")
    previous = production(cwd)
    if previous is not None and not is_ancestor(previous.commit, commit, cwd):
        raise RegistryError(
            f"{commit[:7]} is not a descendant of production's commit {previous.commit[:7]} ({previous.version}): "
            "an older commit cannot take production back in time; to go back, `make rollback TO=<version>`"
        )
    crossed = crossing(previous, lineage_at(commit, cwd), cwd) if previous else None
    if crossed and not (new_lineage or override):
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
    note += f" (gate override: {override})" if override else ""
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
    override = f"{args.override} (by {args.override_by or 'git user.name'})" if args.override else None
    return _report(
        "promote", promote(push=args.push, force=args.force, new_lineage=args.new_lineage, override=override)
    )


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
