#!/usr/bin/env bash
# After `make pipeline` in CI: fail when the pipeline changed anything the commit records (dvc.lock,
# metrics, validation report, plots), or wrote a new file meant for git. A commit whose dvc.lock is
# stale would be gated, deployed and registered as a model it does not record.
set -euo pipefail
changed="$(git status --porcelain --untracked-files=all | cut -c4-)"
if [ -n "$changed" ]; then
  files="$(echo "$changed" | paste -sd ' ' -)"
  echo "::error title=Stale pipeline results::this commit's dvc.lock or reports are not what the pipeline produces: run \`make pipeline\` and commit the changes (changed: $files)"
  {
    echo "### ❌ Stale pipeline results"
    echo
    echo "\`dvc repro\` changed files this commit records. Run \`make pipeline\` and commit:"
    echo
    while IFS= read -r file; do
      printf -- "- \`%s\`\n" "$file"
    done <<< "$changed"
  } >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
  exit 1
fi
echo "the pipeline's results match this commit"
