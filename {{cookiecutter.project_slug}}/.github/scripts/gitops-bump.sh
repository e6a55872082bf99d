#!/usr/bin/env bash
# Point one kustomize overlay at an image and commit the change (the push is the workflow's job).
# Usage: gitops-bump.sh ENVIRONMENT IMAGE:TAG
set -euo pipefail
environment="${1:?usage: gitops-bump.sh ENVIRONMENT IMAGE:TAG}"
image="${2:?usage: gitops-bump.sh ENVIRONMENT IMAGE:TAG}"
overlay="deploy/k8s/overlays/$environment/kustomization.yaml"
if [ ! -f "$overlay" ]; then
  echo "::error::no overlay $overlay" >&2
  exit 2
fi
python3 deploy/bump_image.py "$overlay" "$image"
if git diff --quiet -- "$overlay"; then
  echo "::notice::$environment already runs $image"
  exit 0
fi
# --no-verify: a fresh CI checkout has no pre-commit hooks; a local one must not run them on a bot commit.
git -c user.name="${BOT_NAME:-github-actions[bot]}" \
  -c user.email="${BOT_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}" \
  commit --quiet --no-verify --message "deploy($environment): $image" -- "$overlay"
echo "committed: deploy($environment): $image"
