#!/usr/bin/env bash
# Fail a pull request that changes the image a deploy overlay runs (a newName, newTag, digest or image line under
# deploy/k8s/overlays/): Argo CD applies main's overlays as soon as they are merged, before any gate, so only the
# deploy workflow changes them (its commits follow the gate, the approval and the GTO tags). A pull request of the
# deploy bot itself is let through. Usage: check-overlays.sh BASE   (e.g. origin/main)
# Env: PR_AUTHOR (the pull request's author's login), DEPLOY_BOT (the deploy bot's login).
set -euo pipefail
base="${1:?usage: check-overlays.sh BASE}"
if [ -n "${PR_AUTHOR:-}" ] && [ "$PR_AUTHOR" = "${DEPLOY_BOT:-}" ]; then
  echo "a pull request of the deploy bot ($PR_AUTHOR): its overlay changes are not checked"
  exit 0
fi
changed=()
while IFS= read -r file; do
  if git diff -U0 "$base...HEAD" -- "$file" |
    grep -qE '^[-+][[:space:]]*(-[[:space:]]*)?(newName|newTag|digest|image)[[:space:]]*:'; then
    changed+=("$file")
  fi
done < <(git diff --name-only "$base...HEAD" -- deploy/k8s/overlays/)
if [ "${#changed[@]}" -eq 0 ]; then
  echo "no deploy overlay's image changes"
  exit 0
fi
echo "::error title=Overlay image changed by hand::${changed[*]}: this pull request changes the image an environment runs, which only the deploy workflow does (Argo CD would apply it on merge, before any gate); revert it, and roll back with Actions > deploy > Run workflow"
{
  echo "### ❌ An overlay's image changed by hand"
  echo
  printf -- "- \`%s\`\n" "${changed[@]}"
  echo
  echo "Only the deploy workflow changes the image an environment runs. To go back to an earlier model, run the"
  echo "\`deploy\` workflow by hand with its version (docs/ci-cd.md, Rollback)."
} >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
exit 1
