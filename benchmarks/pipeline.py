"""Pipeline timings on the default data: cold `dvc repro`, no-op `dvc repro`, and each stage's command.

Bakes the defaults into build/bench-pipeline, sets the project up once, then measures REPEATS rounds.
Writes benchmarks/results/pipeline.md.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ENV, ROOT, bake, write_results

WORK = ROOT / "build" / "bench-pipeline"
REPEATS = 3


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    path = f"{cwd / '.venv' / 'bin'}{os.pathsep}{ENV['PATH']}"  # dvc runs `python -m ...` from the venv
    subprocess.run(command, cwd=cwd, env={**ENV, "PATH": path}, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(task: str) -> list[tuple[str, float, float]]:
    project = bake(WORK / task, task=task)
    subprocess.run(
        "git init -q && git add -A && git -c user.name=b -c user.email=b@x commit -qm init",
        shell=True,
        cwd=project,
        check=True,
        env=ENV,
    )
    subprocess.run(["make", "setup"], cwd=project, check=True, env=ENV, capture_output=True)
    dvc = str(project / ".venv/bin/dvc")
    cold, noop = [], []
    for _ in range(REPEATS):
        for folder in ("data/raw", "data/processed", "models", ".dvc/cache"):
            shutil.rmtree(project / folder, ignore_errors=True)
        (project / "dvc.lock").unlink(missing_ok=True)
        cold.append(timed([dvc, "repro"], project))
        noop.append(timed([dvc, "repro"], project))
    return [
        (f"{task}: cold `dvc repro` (5 stages)", statistics.median(cold), min(cold)),
        (f"{task}: no-op `dvc repro`", statistics.median(noop), min(noop)),
    ]


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    rows = measure("classification") + measure("regression")
    lines = [
        f"Pipeline timings, {REPEATS} rounds each, on {os.cpu_count()} cores (Python {sys.version.split()[0]}).",
        "",
        "| run | median (s) | best (s) |",
        "|---|---:|---:|",
        *[f"| {name} | {median:.1f} | {best:.1f} |" for name, median, best in rows],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    write_results(ROOT / "benchmarks" / "results" / "pipeline.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
