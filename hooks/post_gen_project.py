"""Remove the files of options that are off. Nothing else: no network, no git, no installs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ANSWERS = json.loads(
    r"""{
    "deploy_target": {{ cookiecutter.deploy_target | tojson }}
}"""
)

# (question, answer) -> paths, relative to the generated project, that this answer removes.
REMOVED_WHEN = {
    ("deploy_target", "none"): ["deploy"],
}


def paths_to_remove(answers: dict[str, str]) -> list[str]:
    """The paths the given answers switch off."""
    return [path for (key, value), paths in REMOVED_WHEN.items() if answers.get(key) == value for path in paths]


def remove(root: Path, relative: str) -> None:
    """Delete one file or folder under root; a missing path means the table is wrong."""
    target = root / relative
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    else:
        raise FileNotFoundError(f"post_gen_project: {relative} is in REMOVED_WHEN but was not generated")


def main() -> int:
    root = Path.cwd()
    for relative in paths_to_remove(ANSWERS):
        remove(root, relative)
    return 0


if __name__ == "__main__":
    sys.exit(main())
