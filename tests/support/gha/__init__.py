"""A GitHub Actions emulator: a workflow's jobs run locally, against a real git remote, offline.

The repository lives in a bare git repository, `origin`, as on GitHub. Each job runs in a workspace that
`actions/checkout` really checks out from origin at the event's commit (or `with: ref:`), with its
`fetch-depth` (shallow by default), and cleans of everything git does not track, as a fresh runner
would; only `.venv` is kept between jobs (a warm cache, not a shared state). Steps run in order:
`run:` scripts with `bash -eo pipefail`, with the workflow/job/step `env:`, the `${{ }}` expressions
evaluated, and GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY honoured. `if:`
conditions, job `needs:` and `outputs:` work as on GitHub for the expression language the workflows use.

`git push` runs for real against origin: rejected pushes, races (see `hooks`) and atomic pushes behave as
on GitHub. What needs GitHub itself is replaced or recorded:
- the `gh` CLI is a recorder on PATH: every call's arguments (and the text of a `-F`/`--body-file`) go to
  `api_calls()`; `gh auth setup-git` does nothing; `gh issue list` prints nothing (no open issue) and `gh run
  list` nothing (no run), unless a runner's `gh_answers` say what to print;
- setup-uv / setup-python = the tools already on PATH (checked); upload-artifact / download-artifact =
  copies through a local folder; actions/cache/restore and save = entries in a folder (`cache=`: share one
  between runners to keep what a run saved for the next; `run_id=`: each run's own, as keys use it);
- docker login/setup-buildx/metadata/build-push are recorded, not run; build-push-action's `digest`
  output is the sha256 of its build context's files, so later jobs pin a real, reproducible digest.
A `uses:` this runner does not know fails the step: nothing is silently ignored.

runner.py runs the jobs and their `run:` steps, actions.py the `uses:` steps, expressions.py the `${{ }}`
language, results.py what a run gives back, gh.py is the recorder.
"""
