#!/usr/bin/env bash
# Smoke-test a deployed service with the smoke set packaged with the model (build/smoke.json, from the
# build job): waits until the service reports that model's version (the old pods answer until the
# rollout ends; at most SMOKE_WAIT seconds, default 900), then checks its answers. Standard library only.
# Usage: smoke.sh URL   (an empty URL skips the test with a notice)
set -euo pipefail
url="${1:-}"
if [ -z "$url" ]; then
  echo "::notice::no URL (set the repository variable STAGING_URL): no smoke test"
  exit 0
fi
python3 scripts/smoke.py "${url%/}" --expect build/smoke.json --wait "${SMOKE_WAIT:-900}"
