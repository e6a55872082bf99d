#!/usr/bin/env bash
# The gate override a commit records: a `Gate-Override: <why>` trailer. Of the commits `git log REVISION...` lists
# (newest first), the newest that has one sets it; its author is who decided it. Writes `reason=`, `by=` and
# `commit=` to $GITHUB_OUTPUT (all empty without an override) and a line to the job summary when there is one.
# The step passes them to `make compare` / `make promote` as OVERRIDE= and OVERRIDE_BY=, which loosen the gate to
# the candidate's own params.yaml: params.yaml changes need a CODEOWNERS review (see docs/ci-cd.md).
# Usage: gate-override.sh origin/main..HEAD   (a pull request's commits)
#        gate-override.sh HEAD^!              (one commit)
set -euo pipefail
: "${GITHUB_OUTPUT:?this script writes step outputs to \$GITHUB_OUTPUT}"
format='%H%x1f%an <%ae>%x1f%(trailers:key=Gate-Override,valueonly,unfold,separator=%x20)'
found="$(git log --format="$format" "$@" | awk -F $'\x1f' '$3 ~ /[^[:space:]]/ { print; exit }')"
if [ -z "$found" ]; then
  printf 'reason=\nby=\ncommit=\n' >> "$GITHUB_OUTPUT"
  echo "no Gate-Override trailer: the production model's gate policy applies"
  exit 0
fi
IFS=$'\x1f' read -r commit by reason <<< "$found"
# make pastes OVERRIDE into a shell command line between double quotes: these characters would be interpreted.
case "$reason$by" in
  *'$'* | *'`'* | *'"'* | *\\*)
    echo "::error title=Unusable gate override::the Gate-Override trailer of ${commit:0:7} or its author has \$, \`, \" or \\: reword it"
    exit 2
    ;;
esac
printf 'reason=%s\nby=%s\ncommit=%s\n' "$reason" "$by" "$commit" >> "$GITHUB_OUTPUT"
echo "::warning title=Gate override::$by overrides the gate (Gate-Override trailer of ${commit:0:7}): $reason"
{
  echo "> ⚠️ **Gate override** by $by (the \`Gate-Override\` trailer of ${commit:0:7}): $reason"
  echo
} >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
