"""`make demo`: bake the template's defaults into build/demo and run the generated project's local loop.

Each step prints what it runs and how long it took; the first failure stops the demo with its output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
DEMO_DIR = TEMPLATE / "build" / "demo"
ENV = {
    **os.environ,
    "DVC_NO_ANALYTICS": "1",
    "ITERATIVE_DO_NOT_TRACK": "1",
    "BENTOML_DO_NOT_TRACK": "True",
    "GIT_AUTHOR_NAME": "Demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "Demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
}
TIMES: list[tuple[str, float]] = []


def step(title: str, command: list[str], cwd: Path, expect: int = 0) -> str:
    """Run one step, echo its output, stop the demo if it does not exit with `expect`."""
    print(f"\n==> {title}\n    $ {' '.join(command)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENV, text=True, capture_output=True)
    elapsed = time.perf_counter() - started
    output = (result.stdout + result.stderr).strip()
    if output:
        print("    " + output[-3000:].replace("\n", "\n    "), flush=True)
    if result.returncode != expect:
        print(f"\ndemo failed at '{title}': exit {result.returncode}, expected {expect}", file=sys.stderr)
        sys.exit(1)
    TIMES.append((title, elapsed))
    print(f"    ok ({elapsed:.1f} s)", flush=True)
    return result.stdout


def main() -> int:
    started = time.perf_counter()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    print(f"==> bake the template's defaults into {DEMO_DIR}")
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(DEMO_DIR)))
    step("git init and first commit", ["sh", "-c", "git init -q -b main && git add -A && git commit -qm init"], project)
    step("make setup: .venv with the project and its tools", ["make", "setup"], project)
    step("make pipeline: ingest -> validate -> split -> train -> evaluate", ["make", "pipeline"], project)
    step("commit the pipeline's results", ["sh", "-c", "git add -A && git commit -qm 'Train the model'"], project)
    step("dvc push: data and model to the local remote", [".venv/bin/dvc", "push"], project)

    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s.")
    for title, seconds in TIMES:
        print(f"  {seconds:6.1f} s  {title}")
    print(f"\nProject: {project}\nReports: {project / 'reports'}  (metrics.json, validation.json, plots/)")
    print(f"Try:     cd {project} && make help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
