"""`make bench`: run every benchmark in this folder, one after the other (each writes results/<name>.md, and
the runs of MORE_RUNS the other results files the README quotes).

`python benchmarks/run.py pipeline drift` runs only the named ones.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# a script's runs besides its default one: serving.py --focus writes results/serving-overhead.md
MORE_RUNS = {"serving": [["--focus", "--rounds", "30", "--duration", "180"]]}


def main(names: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in ("run.py", "common.py"))
    if names:
        scripts = [p for p in scripts if p.stem in names]
    failed = []
    for script in scripts:
        for options in [[], *MORE_RUNS.get(script.stem, [])]:
            name = " ".join([script.stem, *options])
            print(f"\n=== benchmark {name} ===", flush=True)
            if subprocess.run([sys.executable, str(script), *options], cwd=HERE.parent).returncode:
                failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
