#!/usr/bin/env bash
# Sourced before a command that reads the monitoring store (`make monitor`, `make dataset`): the store's
# credentials as its backend (s3fs, gcsfs, adlfs) reads them. A workflow maps the secrets to variables;
# a secret that is not set arrives empty, and an empty AWS_ACCESS_KEY_ID is a wrong key, not no key, so
# empty ones are unset. GOOGLE_APPLICATION_CREDENTIALS_JSON (a service account key's text) becomes the
# file GOOGLE_APPLICATION_CREDENTIALS points at.
for name in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
  AZURE_STORAGE_CONNECTION_STRING GOOGLE_APPLICATION_CREDENTIALS_JSON; do
  if [ -z "${!name:-}" ]; then
    unset "$name"
  fi
done
if [ -n "${GOOGLE_APPLICATION_CREDENTIALS_JSON:-}" ]; then
  key="${RUNNER_TEMP:-/tmp}/store-gcp-key.json"
  (umask 077 && printf '%s\n' "$GOOGLE_APPLICATION_CREDENTIALS_JSON" > "$key")
  export GOOGLE_APPLICATION_CREDENTIALS="$key"
fi
