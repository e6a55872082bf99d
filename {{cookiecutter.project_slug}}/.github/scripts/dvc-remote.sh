#!/usr/bin/env bash
# `dvc pull` or `dvc push` when the project's default DVC remote is reachable from this runner.
#
# A cloud remote (s3://, gs://, azure://) needs credentials: the secret DVC_CONFIG_LOCAL holds the
# text of a .dvc/config.local (see docs/ci-cd.md, "What to configure"); standard AWS/GCP/Azure variables
# work too. Without them (a fork's pull request, a fresh repository) nothing is pulled and the
# pipeline rebuilds every output from source, which is exact because it is deterministic: a skipped
# pull costs time, not correctness. A failing pull or push with credentials fails the job.
set -euo pipefail
action="${1:-}"
case "$action" in
  pull | push) ;;
  *) echo "usage: dvc-remote.sh pull|push" >&2; exit 2 ;;
esac

remote="$(dvc remote default 2>/dev/null || true)"
if [ -z "$remote" ]; then
  echo "::notice::no default DVC remote: nothing to $action"
  exit 0
fi
if [ -n "${DVC_CONFIG_LOCAL:-}" ]; then
  (umask 077 && printf '%s\n' "$DVC_CONFIG_LOCAL" > .dvc/config.local)
fi
url="$(dvc config "remote.$remote.url")"

case "$url" in
  *://*)
    if [ -z "${DVC_CONFIG_LOCAL:-}${AWS_ACCESS_KEY_ID:-}${GOOGLE_APPLICATION_CREDENTIALS:-}${AZURE_STORAGE_CONNECTION_STRING:-}" ]; then
      echo "::notice::no credentials for the DVC remote '$remote' on this runner (a fork, or the DVC_CONFIG_LOCAL secret is not set): no dvc $action"
      exit 0
    fi
    ;;
  *)
    case "$url" in
      /*) path="$url" ;;
      *) path=".dvc/$url" ;;
    esac
    if [ ! -d "$path" ]; then
      echo "::notice::the DVC remote '$remote' is a local folder ($url) that this runner does not have: no dvc $action"
      exit 0
    fi
    ;;
esac

if [ "$action" = pull ]; then
  # Outputs that were never pushed (a branch's new stages) are rebuilt by dvc repro.
  dvc pull --remote "$remote" --allow-missing
else
  dvc push --remote "$remote"
fi
