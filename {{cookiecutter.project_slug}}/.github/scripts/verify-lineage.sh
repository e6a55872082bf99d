#!/usr/bin/env bash
# Prove that this commit's outputs are what its pipeline makes, rather than trust its dvc.lock: rerun every stage
# with `dvc repro --force` (the pipeline is deterministic) and fail when an output's md5 differs from the one the
# commit's dvc.lock records, naming the output and both md5s. A model trained out of band and recorded with
# `dvc commit -f` passes a plain `dvc repro` (every stage skips: its code, params and data did not change) but
# not this. A stale dvc.lock (params, code or data changed without `make pipeline`) is not this script's case:
# check-committed.sh, the next step, names the files to commit.
# With an http(s) URL as data.source, ingest's snapshot (pulled from the DVC remote) is taken as recorded, since
# the URL may serve other bytes today; every stage after it is rebuilt.
set -euo pipefail
recorded="$(mktemp)"
trap 'rm -f "$recorded"' EXIT
cp dvc.lock "$recorded"

source="$(python -c 'import yaml; print(((yaml.safe_load(open("params.yaml")) or {}).get("data") or {}).get("source", ""))')"
repro=(dvc repro --force)
case "$source" in
  http://* | https://*)
    echo "::notice::data.source is a URL: ingest's recorded snapshot is kept, every later stage is rebuilt"
    mapfile -t stages < <(dvc stage list --name-only | grep -vx ingest)
    repro+=(--downstream "${stages[@]}")
    ;;
esac
log="$(mktemp)"
trap 'rm -f "$recorded" "$log"' EXIT
started=$SECONDS
status=0
"${repro[@]}" 2>&1 | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
  # A stage's command says what is wrong in one line (`<command>: error: ...`); else dvc's own ERROR line.
  why="$(grep -E '^[a-z_-]+: (internal )?error: |^ERROR: ' "$log" | head -n 1 || true)"
  echo "::error title=The pipeline failed::${why:-dvc repro --force failed (exit $status): see the log above}"
  exit "$status"
fi
echo "lineage: the whole pipeline rebuilt in $((SECONDS - started)) s"

python - "$recorded" dvc.lock <<'PY'
"""Compare the recorded dvc.lock with the rebuilt one: the outputs' md5s, once the stages' inputs are the same."""
import os
import sys

import yaml

recorded, rebuilt = ((yaml.safe_load(open(path)) or {}).get("stages", {}) for path in sys.argv[1:3])
produced = {out["path"] for stage in rebuilt.values() for out in stage.get("outs", [])}


def inputs(stage: dict) -> tuple:
    """What a stage was run on, outputs of other stages left out (they are checked as outputs)."""
    deps = sorted((d["path"], d.get("md5")) for d in stage.get("deps", []) if d["path"] not in produced)
    return stage.get("cmd"), deps, stage.get("params")


stale = sorted(name for name in rebuilt if name not in recorded or inputs(recorded[name]) != inputs(rebuilt[name]))
if stale:
    names = ", ".join(stale)
    print(f"::notice::dvc.lock is stale (the code, params or data of {names} changed): the next step names the files")
    sys.exit(0)
differ = [
    (out["path"], out.get("md5"), now.get("md5"))
    for name, stage in recorded.items()
    for out in stage.get("outs", [])
    for now in rebuilt.get(name, {}).get("outs", [])
    if now["path"] == out["path"] and now.get("md5") != out.get("md5")
]
if not differ:
    count = sum(len(stage.get("outs", [])) for stage in recorded.values())
    print(f"lineage: the {count} outputs dvc.lock records are what this commit's pipeline makes")
    sys.exit(0)
path, was, now = differ[0]
also = f" (and so {', '.join(p for p, _, _ in differ[1:])})" if len(differ) > 1 else ""
print(
    f"::error title=Unproven model lineage::{path}: this commit's dvc.lock records md5 {was}, its pipeline rebuilds "
    f"md5 {now}{also}: the committed output was not made by this commit's code, params and data (trained out of "
    "band, or recorded with `dvc commit`?); run `make pipeline` and commit dvc.lock"
)
with open(os.environ.get("GITHUB_STEP_SUMMARY") or os.devnull, "a", encoding="utf-8") as summary:
    summary.write("### ❌ Unproven model lineage\n\n`dvc repro --force` rebuilt outputs other than dvc.lock records:\n\n")
    summary.write("| output | dvc.lock records | this commit rebuilds |\n|---|---|---|\n")
    summary.writelines(f"| `{p}` | `{a}` | `{b}` |\n" for p, a, b in differ)
sys.exit(1)
PY
