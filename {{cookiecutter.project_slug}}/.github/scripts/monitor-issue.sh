#!/usr/bin/env bash
# Open the one open issue labelled LABEL with REPORT as its body, or update it (never a duplicate):
#   monitor-issue.sh drift "Data drift detected" reports/drift.md
#   monitor-issue.sh degraded "Live performance degraded" reports/monitor.md
# The reports' plot links are relative (drift/<column>.png, monitor/<plot>.png, drift.md): in an issue
# they lead to the run ($RUN_URL), whose `monitor` artifact holds the reports and the plots.
set -euo pipefail
if [ "$#" -ne 3 ]; then
  echo "usage: monitor-issue.sh LABEL TITLE REPORT" >&2
  exit 2
fi
label="$1"
title="$2"
report="$3"
: "${RUN_URL:?RUN_URL: the URL of the run, for the links}"
case "$label" in
  drift) description="Data or prediction drift found by the monitor workflow" ;;
  degraded) description="Live performance degraded, found by the monitor workflow" ;;
  *) description="Found by the monitor workflow" ;;
esac

body="$(mktemp)"
{
  echo "Found by the monitor workflow in $RUN_URL: its \`monitor\` artifact has the reports and the plots."
  echo
  sed -E -e "s#!\[([^]]*)\]\((drift|monitor)/[^)]*\)#[\1]($RUN_URL)#g" \
    -e "s#\]\((drift|monitor)/[^)]*\)#]($RUN_URL)#g" \
    -e "s#\]\(drift\.md\)#]($RUN_URL)#g" "$report"
} > "$body"

gh label create "$label" --color D93F0B --description "$description" --force
number="$(gh issue list --label "$label" --state open --limit 1 --json number --jq '.[0].number // empty')"
if [ -n "$number" ]; then
  gh issue edit "$number" --body-file "$body"
  gh issue comment "$number" --body "Found again: $RUN_URL"
else
  gh issue create --title "$title" --label "$label" --body-file "$body"
fi
