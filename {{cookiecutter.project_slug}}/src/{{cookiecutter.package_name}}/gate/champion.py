"""The bytes of a pipeline output as a given commit recorded them: the champion model and its training split.

dvc.lock at the commit gives the output's md5. The bytes come from the DVC cache when this machine has
them, else from the DVC remote (`dvc get`), else the stage is rebuilt at that commit with `dvc repro` in a
temporary git worktree. The pipeline is deterministic, so a rebuild is byte-identical; whatever the source,
bytes that differ from dvc.lock's md5 are an error (exit 2), never used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import RegistryError
from .registry import dvc, git, locked_output


def file_md5(path: Path) -> str:
    """The md5 of a file, as DVC records it."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def fetch_output(commit: str, path: Path, target: Path, cwd: Path | str = ".") -> str:
    """Write `path` as it was at `commit` to `target`; return where the bytes came from (md5 always checked)."""
    expected, stage = locked_output(commit, path, cwd)
    cached = cache_dir(cwd) / "files" / "md5" / expected[:2] / expected[2:]
    if cached.is_file():  # content-addressed: no need to ask DVC when this machine has the bytes
        shutil.copyfile(cached, target)
        source = "the local DVC cache"
    else:
        try:
            dvc("get", ".", path.as_posix(), "--rev", commit, "-o", str(target), cwd=cwd)
            source = "the DVC remote (dvc get)"
        except RegistryError:
            rebuild(commit, stage, path, target, cwd)
            source = f"rebuilt at {commit[:7]} with dvc repro (no cache or remote held it)"
    if file_md5(target) != expected:
        raise RegistryError(
            f"{source} gave a {path} whose md5 differs from dvc.lock at {commit[:7]} ({expected}): the pipeline "
            "is not reproducible there (unpinned environment or data?); restore the bytes with `make push` from "
            "a machine that has them"
        )
    return f"{source} (md5 matches dvc.lock)"


def rebuild(commit: str, stage: str, path: Path, target: Path, cwd: Path | str = ".") -> None:
    """Rebuild `path` as it was at `commit`: `dvc repro <stage>` in a temporary worktree, moved to `target`."""
    worktree = target.parent / f"worktree-{stage}"
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
            dvc("repro", "--pull", stage, cwd=worktree, env=env)
        except RegistryError as exc:
            raise RegistryError(f"cannot rebuild {path} at {commit[:7]}: {exc}") from None
        os.replace(worktree / path, target)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=cwd, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=cwd, capture_output=True)
