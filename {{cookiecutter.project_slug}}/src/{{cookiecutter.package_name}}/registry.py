"""The production model, a git fact, read: GTO tags name it, dvc.lock holds its hash, the DVC cache or remote its bytes.

A version is a model's bytes (git tag `model@vX.Y.Z` on the commit whose dvc.lock records them); the stage `prod`
(tag `model#prod#N`, the latest assignment wins) names production. `ModelRef` is how every wing speaks of a
model: the gate's champion, the model monitoring judges against, the one a batch job scores with.
`fetch_output` writes a pipeline output as a commit recorded it: from the DVC cache when this machine has the
bytes, else from the DVC remote (`dvc get`), else rebuilt at that commit with `dvc repro` in a temporary git
worktree. The pipeline is deterministic, so a rebuild is byte-identical; whatever the source, bytes that differ
from dvc.lock's md5 are an error, never used. gate/promotion.py writes the tags.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import io
from .contract import Contract, contract_from_dict, load_contract
from .errors import ProjectError, RegistryError
from .params import MODEL_FILE, PARAMS_FILE, SCHEMA_FILE, Params, lineage_in, parse_params

ARTIFACT = "model"
STAGE = "prod"
LOCK_FILE = "dvc.lock"


@dataclass(frozen=True)
class ModelVersion:
    """A registered version of the model and, for the production one, the tag that assigned it."""

    version: str
    commit: str
    ref: str | None = None


@dataclass(frozen=True)
class ModelRef:
    """A model as every wing speaks of it: which version and commit (None for the workspace's), the bytes' sha256,
    the local file that holds them now, and where they came from, in words."""

    version: str | None
    commit: str | None
    ref: str | None
    sha256: str
    path: str
    source: str

    @classmethod
    def of_file(cls, path: Path, source: str, version: ModelVersion | None = None) -> ModelRef:
        """The model in `path`, as `version` (None: the workspace's model)."""
        return cls(
            version.version if version else None,
            version.commit if version else None,
            version.ref if version else None,
            file_digest(path, "sha256"),
            str(path),
            source,
        )


@dataclass(frozen=True)
class ModelInUse:
    """A model with the contract and params it was trained with (production's: its commit's), and the params' hash:
    what batch scoring scores with, and what monitoring judges against and selects the store's rows by."""

    model: Any  # a fitted scikit-learn estimator (untyped)
    ref: ModelRef
    contract: Contract
    params: Params
    params_sha256: str


def model_in_use(path: str | None, folder: Path, params: Params) -> ModelInUse:
    """`path` (a model file, with the workspace's contract); else production with its commit's contract and params,
    its model fetched into `folder`; else the workspace's model (`params`: the workspace's)."""
    params_sha = hashlib.sha256(PARAMS_FILE.read_bytes()).hexdigest()
    if path:
        if not Path(path).is_file():
            raise ProjectError(f"--model {path}: no such file")
        ref = ModelRef.of_file(Path(path), f"{path} (--model)")
        return ModelInUse(io.load_model(Path(path)), ref, load_contract(SCHEMA_FILE), params, params_sha)
    try:
        prod, why = production(), "no production model yet"
    except RegistryError as exc:
        prod, why = None, f"no production model ({exc})"
    if prod is None:
        if not MODEL_FILE.is_file():
            raise ProjectError(f"no production model (GTO model#prod) and no {MODEL_FILE}: run `make pipeline`")
        ref = ModelRef.of_file(MODEL_FILE, f"the workspace's {MODEL_FILE}: {why}")
        return ModelInUse(io.load_model(MODEL_FILE), ref, load_contract(SCHEMA_FILE), params, params_sha)
    target = folder / MODEL_FILE.name
    source = fetch_output(prod.commit, MODEL_FILE, target)
    ref = ModelRef.of_file(target, f"{MODEL_FILE} of {prod.version} from {source}", prod)
    text = params_text_at(prod.commit)
    contract = contract_from_dict(io.parse_yaml(text_at(prod.commit, SCHEMA_FILE)))
    at_commit = parse_params(text, f"{PARAMS_FILE} at {prod.commit[:7]}", estimator=False)
    return ModelInUse(io.load_model(target), ref, contract, at_commit, hashlib.sha256(text.encode()).hexdigest())


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """The hex digest of a file's bytes, read in blocks (md5 is what DVC records)."""
    digest = hashlib.new(algorithm, usedforsecurity=False) if algorithm == "md5" else hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        lock = io.parse_yaml(git("show", f"{commit}:{LOCK_FILE}", cwd=cwd)) or {}
    except RegistryError:
        raise RegistryError(f"{LOCK_FILE} is not committed at {commit[:7]}: run `make pipeline`, commit") from None
    for stage, entry in (lock.get("stages") or {}).items():
        for out in entry.get("outs") or []:
            if out.get("path") == path.as_posix() and out.get("md5"):
                return out["md5"], stage
    raise RegistryError(f"{LOCK_FILE} at {commit[:7]} has no {path}: run `make pipeline` and commit {LOCK_FILE}")


def text_at(commit: str, path: Path, cwd: Path | str = ".") -> str:
    """A git-tracked file as a commit recorded it."""
    return git("show", f"{commit}:{path.as_posix()}", cwd=cwd)


def params_text_at(commit: str, cwd: Path | str = ".") -> str:
    """params.yaml as a commit recorded it (the production model's gate policy and lineage come from there)."""
    return text_at(commit, PARAMS_FILE, cwd)


def is_ancestor(ancestor: str, commit: str, cwd: Path | str = ".") -> bool:
    """Whether `ancestor` is `commit` or one of its ancestors (git merge-base --is-ancestor)."""
    result = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, commit], cwd=cwd, capture_output=True, check=False
    )
    if result.returncode not in (0, 1):
        raise RegistryError(f"git merge-base failed: {result.stderr.decode().strip() or result.returncode}")
    return result.returncode == 0


def lineage_at(commit: str, cwd: Path | str = ".") -> str:
    """The lineage (params.yaml's data.lineage) a commit's model belongs to; "default" when it names none."""
    try:
        return lineage_in(params_text_at(commit, cwd))
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


def remote_holds(md5: str, cwd: Path | str = ".") -> bool:
    """Whether the default DVC remote holds the file of this md5: one existence check in DVC's remote object store,
    in this process (`dvc status --cloud` would start DVC and collect the whole pipeline first, about 1 s)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(cwd)) as repo:
            return bool(repo.cloud.get_remote_odb(command="promote").exists(md5))
    except (DvcException, OSError) as exc:
        raise RegistryError(f"cannot ask the DVC remote for {md5}: {exc}") from None


def _gto_versions(cwd: Path | str) -> list[dict[str, Any]]:
    import gto.api
    from gto.exceptions import ArtifactNotFound

    head_commit(cwd)  # a clear error outside a git repository
    try:
        shown: list[dict[str, Any]] = gto.api.show(str(cwd), ARTIFACT)
    except ArtifactNotFound:
        return []
    return shown


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
    if file_digest(target) != expected:
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
