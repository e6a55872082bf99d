"""What the benchmarks share: the template's paths, a quiet environment, a child's time and peak
memory, cached venvs and a bake of the defaults. Imported as `common` (the scripts run from this folder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / "build" / "bench-venvs"
# Children write bytecode caches and send no telemetry; only the first run of a venv compiles.
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "DVC_NO_ANALYTICS": "1",
    "ITERATIVE_DO_NOT_TRACK": "1",
    "BENTOML_DO_NOT_TRACK": "True",
    "GX_ANALYTICS_ENABLED": "false",
    "MPLBACKEND": "Agg",
}


def timed_peak(command: list[str], cwd: Path | None = None, with_stderr: bool = False) -> tuple[float, float, str, int]:
    """(wall seconds, peak RSS in MB of this child alone, output, exit code); exit codes 0 and 1 are fine."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # rusage of this child only
        wall = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code not in (0, 1):
            raise RuntimeError(f"{' '.join(command)} failed ({code}):\n{err.read().decode()[-3000:]}")
        output = out.read().decode() + (err.read().decode() if with_stderr else "")
        return wall, usage.ru_maxrss / 1024, output, code


def uv() -> str:
    found = Path(sys.executable).parent / "uv"
    return str(found) if found.exists() else (shutil.which("uv") or sys.exit("uv not found: run make setup"))


def venv(name: str, requirements: list[str]) -> Path:
    """A venv under build/bench-venvs with these requirements (reused when they are unchanged)."""
    folder = VENVS / name
    marker = folder / ".requirements"
    if not (marker.exists() and marker.read_text() == "\n".join(requirements)):
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([uv(), "venv", "-q", "--python", "3.11", str(folder)], check=True, env=ENV)
        subprocess.run(
            [uv(), "pip", "install", "-q", "--compile-bytecode", "--python", str(folder / "bin/python"), *requirements],
            check=True,
            env=ENV,
        )
        marker.write_text("\n".join(requirements))
    return folder / "bin" / "python"


def bake(work: Path, ref: str | None = None, **answers: str) -> Path:
    """A fresh `work` folder with the template baked into work/baked (defaults plus `answers`), from a
    copy of the template without caches and build/ (they are not template files and can break a bake);
    with `ref`, from that git commit of the template instead of the working tree (`git archive`)."""
    shutil.rmtree(work, ignore_errors=True)
    source = work / "template"
    if ref is None:
        shutil.copytree(
            ROOT,
            source,
            ignore=shutil.ignore_patterns(".git", ".venv", "build", ".ruff_cache", ".pytest_cache", "__pycache__"),
        )
    else:
        source.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    return Path(cookiecutter(str(source), no_input=True, output_dir=str(work / "baked"), extra_context=answers))


def package_name(project: Path) -> str:
    """The baked project's package name, from its recorded answers."""
    return json.loads((project / ".cookiecutter.json").read_text())["package_name"]


def set_up_project(work: Path, project: Path | None) -> Path:
    """A baked project with its .venv to import the template's code from: `project` as given, else a bake of the
    defaults into `work` (git init, make setup)."""
    if project is not None:
        return project
    project = bake(work)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, env=ENV)
    subprocess.run(["make", "setup"], cwd=project, check=True, env=ENV, capture_output=True)
    return project


def run_inner(project: Path, script: str, *args: object) -> dict:
    """Run `script` (PACKAGE: the project's package) in the project's venv with `args`; the JSON its last line
    prints."""
    inner = subprocess.run(
        [str(project / ".venv/bin/python"), "-c", script.replace("PACKAGE", package_name(project)), *map(str, args)],
        cwd=project,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    measured: dict = json.loads(inner.stdout.strip().splitlines()[-1])
    return measured


HISTORY = "\n## History\n"


def write_results(path: Path, text: str) -> None:
    """Write a results file with this run's `text`, keeping the `## History` section of the file it replaces (the
    figures of earlier runs, which the README no longer quotes)."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    history = old[old.index(HISTORY) :] if HISTORY in old else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n" + history, encoding="utf-8")
