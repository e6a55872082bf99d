"""Debian packages the tests rely on: whether one is installed, and apt-get install of the missing ones."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable

import pytest
from filelock import FileLock

from support.paths import TEMPLATE, TEST_CACHE
from support.process import run


def installed(package: str) -> bool:
    """Whether dpkg has the Debian package installed (a helper binary need not be on PATH: netavark is not)."""
    result = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${db:Status-Status}", package], capture_output=True, text=True
    )
    return result.returncode == 0 and result.stdout == "installed"


def apt_install(packages: Iterable[str]) -> None:
    """apt-get install the packages (support/system_packages.py) that are not installed yet; as root, one install
    at a time across the xdist workers (a lock under the test cache: two workers would fight over dpkg's lock)."""
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(TEST_CACHE / "apt.lock", timeout=1800):
        missing = sorted({package for package in packages if not installed(package)})
        if not missing:
            return
        if os.geteuid() != 0:
            pytest.fail(f"these tests need {', '.join(missing)}: apt-get install -y {' '.join(missing)}")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-q"], TEMPLATE, timeout=600, env=env)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], TEMPLATE, timeout=900, env=env)
