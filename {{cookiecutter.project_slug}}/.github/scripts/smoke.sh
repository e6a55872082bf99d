#!/usr/bin/env bash
# Wait until a deployed service is ready, then run `make smoke` against it.
# Usage: smoke.sh URL   (an empty URL skips the test with a notice)
set -euo pipefail
url="${1:-}"
if [ -z "$url" ]; then
  echo "::notice::no URL (set the repository variable STAGING_URL): no smoke test"
  exit 0
fi
url="${url%/}"
# Argo CD polls git every few minutes: wait for the service, at most 10 minutes.
for attempt in $(seq 1 60); do
  if curl --fail --silent --show-error --max-time 5 "$url/readyz" > /dev/null; then
    break
  fi
  if [ "$attempt" = 60 ]; then
    echo "::error::$url/readyz did not answer 200 within 10 minutes"
    exit 1
  fi
  sleep 10
done
make setup
make smoke URL="$url"
