#!/usr/bin/env bash
# Roll production back to an earlier model version: re-assign the GTO stage prod to it (the tag records
# which version production leaves) and point the production overlay at the image production ran with
# that version (else the one staging got from its commit), found through the deploy commits' trailers;
# tags and overlay land in one atomic push. Usage: rollback.sh VERSION   e.g. rollback.sh v0.0.3
set -euo pipefail
version="${1:-}"
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
trailers='%(trailers:key=Model-Version,valueonly,separator=%x2C)|%(trailers:key=Source-Commit,valueonly,separator=%x2C)|%(trailers:key=Image,valueonly,separator=%x2C)'
image=""
if [ -d deploy/k8s ]; then
  image="$(git log --format="$trailers" -- deploy/k8s/overlays/production/kustomization.yaml |
    awk -F'|' -v v="$version" '$1 == v { print $3; exit }')"
  if [ -z "$image" ]; then
    image="$(git log --format="$trailers" -- deploy/k8s/overlays/staging/kustomization.yaml |
      awk -F'|' -v c="$commit" '$2 == c { print $3; exit }')"
  fi
  if [ -z "$image" ]; then
    echo "::error::no image of $version (commit ${commit:0:7}) was ever deployed: no deploy commit names it" >&2
    exit 2
  fi
fi
rm -f reports/promote.json
make rollback TO="$version"
tags="$(python3 -c 'import json; print(" ".join(t for t in json.load(open("reports/promote.json"))["tags"] if t))')"
if [ -z "$image" ]; then
  echo "::notice::no deploy/k8s: prod re-assigned to $version; redeploy the image built from ${commit:0:7} yourself"
  read -ra refs <<< "$tags"
  git push --atomic origin "${refs[@]/#/refs/tags/}"
  exit 0
fi
# shellcheck disable=SC2086  # one word per tag
SOURCE_COMMIT="$commit" MODEL_VERSION="$version" bash .github/scripts/gitops-deploy.sh production "$image" $tags
