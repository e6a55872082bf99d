#!/usr/bin/env bash
# Put one environment on an image in main, GitOps style: bump its kustomize overlay in a worktree of
# origin/main (never the checked-out branch), commit, and push that commit together with TAGS in one
# atomic push, so GTO never names a production model the cluster does not run. When main moved on
# meanwhile, the commit is rebased onto it and the push tried again.
# Production only: right before each push, origin's `model#prod#*` tags are read again; when origin has one this
# job's checkout did not have (a rollback, or another deploy, changed production while this job ran), nothing is
# pushed and the job fails with one line: a deploy that started before a rollback cannot undo it.
# Usage: gitops-deploy.sh ENVIRONMENT REGISTRY/NAME@sha256:DIGEST [TAG ...]
# The commit's trailers record SOURCE_COMMIT (the commit the image was built from) and MODEL_VERSION
# (when set): rollback.sh finds a version's image through them. The job sets the git identity.
set -euo pipefail
environment="${1:?usage: gitops-deploy.sh ENVIRONMENT IMAGE@DIGEST [TAG ...]}"
image="${2:?usage: gitops-deploy.sh ENVIRONMENT IMAGE@DIGEST [TAG ...]}"
shift 2
overlay="deploy/k8s/overlays/$environment/kustomization.yaml"
if [ ! -f "$overlay" ]; then
  echo "::error::no overlay $overlay" >&2
  exit 2
fi
if [ -z "$(git config user.email || true)" ]; then
  echo "::error::no git identity: the job must set user.name and user.email before it commits" >&2
  exit 2
fi
refs=(HEAD:refs/heads/main)
for tag in "$@"; do
  refs+=("refs/tags/$tag:refs/tags/$tag")
done

# The prod tags as this job saw them (its checkout's, and those it made itself: promote's or rollback's).
prod_tags='refs/tags/model#prod#*' # registry.py: ARTIFACT#STAGE#N
seen="$(git for-each-ref --format='%(objectname) %(refname)' "$prod_tags")"
production_moved() {
  local line
  [ "$environment" = production ] || return 0
  while read -r line; do
    if [ -n "$line" ] && ! grep -qxF -- "$line" <<< "$seen"; then
      echo "${line#* refs/tags/}"
    fi
  done < <(git ls-remote --tags origin "$prod_tags" | grep -v '\^{}$' | tr '\t' ' ')
}

git fetch --quiet origin main
worktree="$(mktemp -d)/gitops"
git worktree add --quiet --detach "$worktree" origin/main
trap 'git worktree remove --force "$worktree" >/dev/null 2>&1 || true' EXIT
cd "$worktree"
python3 deploy/bump_image.py "$overlay" "$image"
if git diff --quiet -- "$overlay"; then
  echo "::notice::$environment already runs $image"
else
  trailers="Image: $image"$'\n'"Source-Commit: ${SOURCE_COMMIT:-unknown}"
  if [ -n "${MODEL_VERSION:-}" ]; then
    trailers+=$'\n'"Model-Version: $MODEL_VERSION"
  fi
  # --no-verify: a CI checkout has no pre-commit hooks, and a bot commit must not run them.
  git commit --quiet --no-verify --message "deploy($environment): $image" --message "$trailers" -- "$overlay"
fi

for attempt in 1 2 3 4 5; do
  moved="$(production_moved | paste -sd ' ' -)"
  if [ -n "$moved" ]; then
    echo "::error title=Production changed meanwhile::origin has prod tags this job did not start from ($moved): a rollback or another deploy changed production while it ran; nothing pushed, production stays as they say. Re-run the workflow to act on production as it is now" >&2
    exit 1
  fi
  if git push --atomic origin "${refs[@]}"; then
    echo "deploy($environment): main and ${*:-no tags} pushed ($image)"
    exit 0
  fi
  echo "main moved on (attempt $attempt): rebasing the deploy commit onto it"
  git fetch --quiet origin main
  if ! git rebase --quiet origin/main; then
    git rebase --abort
    echo "::error::the $environment overlay changed on main meanwhile and cannot be rebased: re-run the deploy" >&2
    exit 1
  fi
done
echo "::error::could not push to main after 5 attempts" >&2
exit 1
