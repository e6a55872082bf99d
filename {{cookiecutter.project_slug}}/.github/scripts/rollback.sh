#!/usr/bin/env bash
# Re-assign the GTO stage prod to an earlier model version and, when the project deploys by GitOps,
# point the production overlay at the image built from that version's commit (committed, not pushed).
# Usage: rollback.sh VERSION IMAGE_NAME   e.g. rollback.sh v0.0.3 ghcr.io/owner/repo
set -euo pipefail
version="${1:-}"
image="${2:?usage: rollback.sh VERSION IMAGE_NAME}"
if ! [[ "$version" =~ ^v[0-9]+(\.[0-9]+)*$ ]]; then
  echo "::error::the version must look like v1.2.3 (see gto show), not '$version'" >&2
  exit 2
fi
tag="$(git tag --list "*@$version" | head -n 1)"
if [ -z "$tag" ]; then
  echo "::error::no model version $version: no git tag *@$version (see gto show)" >&2
  exit 2
fi
commit="$(git rev-list -n 1 "refs/tags/$tag")"
make rollback TO="$version"
if [ -d deploy/k8s ]; then
  bash .github/scripts/gitops-bump.sh production "$image:$commit"
else
  echo "::notice::no deploy/k8s: prod re-assigned to $version; redeploy $image:$commit yourself"
fi
