#!/usr/bin/env bash
# Roll production back to an earlier model version: re-assign the GTO stage prod to it (the tag records which version
# production leaves) and point the production overlay at the image production ran with that version (else the one
# staging got from its commit), found through the deploy commits' trailers; tags and overlay land in one atomic push.
# Usage: rollback.sh VERSION   e.g. rollback.sh v0.0.3
#
# Trailers are trusted only from the deploy bot's own commits: authored by $BOT_EMAIL, touching that overlay file
# alone, naming this repository's image by digest (ghcr.io/<owner>/<repo>@sha256:<64 hex>), which that commit's
# overlay deploys. Anyone can write `Model-Version:` and `Image:` into a commit message; such commits are skipped
# (with a warning when they name VERSION). The image must then have this repository's build provenance attestation
# (`gh attestation verify`), unless the variable ARTIFACT_ATTESTATIONS is `off` (a private repository on a plan
# without artifact attestations).
set -euo pipefail
version="${1:-}"
if ! [[ "$version" =~ ^v[0-9]+(\.[0-9]+)*$ ]]; then
  echo "::error::the version must look like v1.2.3 (see gto show), not '$version'" >&2
  exit 2
fi
: "${BOT_EMAIL:?the email of the deploy bot, whose deploy commits are trusted}"
: "${GITHUB_REPOSITORY:?owner/repo: whose images and attestations are trusted}"
tag="$(git tag --list "*@$version" | head -n 1)"
if [ -z "$tag" ]; then
  echo "::error::no model version $version: no git tag *@$version (see gto show)" >&2
  exit 2
fi
commit="$(git rev-list -n 1 "refs/tags/$tag")"
ours="ghcr.io/${GITHUB_REPOSITORY,,}"

# The image the newest trusted deploy commit of ENVIRONMENT's overlay names, whose trailer KEY is VALUE.
trusted_image() {
  local environment="$1" key="$2" value="$3"
  local overlay="deploy/k8s/overlays/$environment/kustomization.yaml"
  local format="%H%x1f%ae%x1f%(trailers:key=$key,valueonly,separator=%x2C)%x1f%(trailers:key=Image,valueonly,separator=%x2C)"
  local sha email named image why pinned
  while IFS=$'\x1f' read -r sha email named image; do
    [ "$named" = "$value" ] || continue
    why=""
    if [ "$email" != "$BOT_EMAIL" ]; then
      why="authored by $email, not the deploy bot"
    elif [ "$(git diff-tree --no-commit-id --name-only -r "$sha")" != "$overlay" ]; then
      why="it changes more than $overlay"
    elif [[ "$image" != "$ours@sha256:"* ]] || ! [[ "${image#"$ours@sha256:"}" =~ ^[0-9a-f]{64}$ ]]; then
      why="its image '$image' is not $ours@sha256:<digest>"
    else
      pinned="$(git show "$sha:$overlay" | awk '$1 == "newName:" { name = $2 } $1 == "digest:" { digest = $2 } END { print name "@" digest }')"
      [ "$pinned" = "$image" ] || why="its overlay deploys $pinned, not $image"
    fi
    if [ -n "$why" ]; then
      echo "::warning::ignored the $key: $value trailer of ${sha:0:7}: $why" >&2
      continue
    fi
    echo "$image"
    return 0
  done < <(git log --format="$format" -- "$overlay")
  return 0
}

image=""
if [ -d deploy/k8s ]; then
  image="$(trusted_image production Model-Version "$version")"
  if [ -z "$image" ]; then
    image="$(trusted_image staging Source-Commit "$commit")"
  fi
  if [ -z "$image" ]; then
    echo "::error::no image of $version (commit ${commit:0:7}) was ever deployed: no deploy commit of the bot names it" >&2
    exit 2
  fi
  if [ "${ARTIFACT_ATTESTATIONS:-}" = off ]; then
    echo "::warning::ARTIFACT_ATTESTATIONS is off: $image is not checked against a build provenance attestation"
  elif ! gh attestation verify "oci://$image" --repo "$GITHUB_REPOSITORY"; then
    echo "::error::$image has no build provenance attestation of $GITHUB_REPOSITORY (gh attestation verify): not rolled back" >&2
    exit 1
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
