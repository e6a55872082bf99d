"""The command-line tools the tests check generated files with: those of the template's dev environment
(pyproject.toml's dev group: zizmor, check-jsonschema, shellcheck, kubernetes-validate) and the machine's kubectl."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.process import sh

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A tool of the template's dev environment, or a failure that says how to get it."""
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"{name} is missing: run `make setup` in the template (pyproject.toml dev group)")
        return found
    return str(path)


def kubectl() -> str:
    """kubectl, which renders the kustomize overlays, or a failure that says how to get it."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing (it renders the kustomize overlays): apt-get install kubectl")
    return found


def kubernetes_validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    """kubernetes-validate --strict on the manifests: an unknown field is an error."""
    return sh([tool("kubernetes-validate"), "--strict", "--quiet", *map(str, paths)])
