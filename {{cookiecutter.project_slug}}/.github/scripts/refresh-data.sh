#!/usr/bin/env bash
# Refresh the data and rerun the pipeline; commit the result on a new branch when anything changed
# (the new versions of data/production/ and data/quarantine/ that `make dataset` wrote included).
# Writes `changed=true|false` and `branch=<name>` to $GITHUB_OUTPUT. Pushing is left to the workflow.
set -euo pipefail
: "${GITHUB_OUTPUT:?this script writes step outputs to \$GITHUB_OUTPUT}"

# Sources imported with `dvc import-url` / `dvc import` are re-fetched; a URL or sklearn source in
# params.yaml is re-read by forcing the ingest stage.
shopt -s nullglob
for file in data/source/*.dvc; do
  if grep -q '^deps:' "$file"; then
    dvc update "$file"
  fi
done
dvc repro --force ingest
make pipeline

if git diff --quiet -- dvc.lock; then
  echo "::notice::the data did not change: dvc.lock is the same, no pull request"
  echo "changed=false" >> "$GITHUB_OUTPUT"
  exit 0
fi

branch="retrain/$(date -u +%Y%m%d-%H%M%S)"
git switch --create "$branch"
git add dvc.lock reports data/source data/production
if [ -d data/quarantine ]; then
  git add data/quarantine
fi
# The job sets the bot's git identity; --no-verify: a CI checkout runs no pre-commit hooks.
git commit --quiet --no-verify --message "Retrain on refreshed data"
echo "changed=true" >> "$GITHUB_OUTPUT"
echo "branch=$branch" >> "$GITHUB_OUTPUT"
