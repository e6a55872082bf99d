"""The generated workflows' jobs, run step by step against a real git remote (tests/support/loop.py): pull requests,
the merge-to-deploy loop, rollbacks, retraining on the labelled production rows and the monitoring workflow.

The deploy tests are one story, in order, on one project (each needs the state the one before left):
1. a first model is merged: staging gets its image by digest, the smoke test waits for the new version,
   production promotes it (GTO tags and overlay in one atomic push);
2. a better pull request is merged while someone else pushes to main: the deploy rebases and lands;
3. production is rolled back, then the same model is pushed again: production stays rolled back;
4. two pull requests that each passed against the same champion are merged in turn: production refuses
   the second, which is worse than the first;
5. a rollback to a version that does not exist changes nothing.
Only the GitHub API (`gh`) and the image registry are not real; what they were asked is checked.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast

import pytest

from support.gha.results import JobResult
from support.loop import IMAGE, Loop, checked, make_loop, pull_request_event

pytestmark = pytest.mark.slow
STUMP = ("sklearn.tree.DecisionTreeClassifier", {"max_depth": 1})  # roc_auc ~0.9: above the floor, easy to beat


@pytest.fixture(scope="module")
def loop(tmp_path_factory) -> Loop:
    return make_loop(tmp_path_factory.mktemp("loop"))


def gate_pull_request(loop: Loop, number: int) -> dict:
    """Push HEAD as a pull request branch and run pr.yml's train and comment jobs; the train job's result."""
    run, results = loop.pull_request(number, jobs=("comment",))
    return {"train": results["train"], "comment": results["comment"], "run": run}


# ---------------------------------------------------------------------------------------- pull requests
def test_a_first_pull_request_is_gated_on_the_floor_and_commented(loop):
    ran = gate_pull_request(loop, 7)
    train, run = ran["train"], ran["run"]
    assert train.status == "success", train.describe()
    assert train.outputs["gate"] == "0"
    assert "no production model yet" in train.summary
    assert train.summary.strip() == (loop.workspace / "reports/compare.md").read_text().strip()
    assert (run.artifacts / "reports/compare.md").is_file() and (run.artifacts / "reports/metrics.json").is_file()
    assert ran["comment"].status == "success", ran["comment"].describe()
    [comment] = run.api_calls()
    assert comment["args"][:2] == ["pr", "comment"] and comment["args"][2] == "7"
    assert {"--edit-last", "--create-if-none"} <= set(comment["args"])
    assert comment["body"] == (run.artifacts / "reports/compare.md").read_text()
    assert comment["env"]["GH_TOKEN"] == "local-fake-token"


def test_a_fork_pull_request_is_reported_in_the_summary_only(loop):
    run = loop.runner("pr.yml", "pr-fork", event_name="pull_request", event=pull_request_event(8, fork=True))
    run.results["train"] = JobResult("train", "success", outputs={"gate": "0"})
    assert run.run_job("comment").status == "skipped"
    assert run.api_calls() == []


def test_a_pull_request_with_a_stale_dvc_lock_fails_and_names_the_files_to_commit(loop):
    loop.git("switch", "-q", "-c", "stale")
    try:
        loop.set_train("logistic_regression", C=0.5, max_iter=1000)
        loop.commit_all("A new model, committed without running the pipeline")
        ran = gate_pull_request(loop, 9)
        train = ran["train"]
        assert train.status == "failure", train.describe()
        check = train.step("Check that dvc.lock and the reports are committed")
        assert check.status == "failure"
        assert "run `make pipeline` and commit the changes" in check.log and "dvc.lock" in check.log
        assert "reports/metrics.json" in check.log
        assert train.step("Compare with the production model").status == "skipped"
        assert "Stale pipeline results" in train.summary
    finally:
        loop.git("switch", "-q", "--discard-changes", "main")
        loop.git("branch", "-q", "-D", "stale")


# ---------------------------------------------------------------------------------------- the deploy loop
class Rollout(BaseHTTPRequestHandler):
    """A deployed service mid-rollout: the old version until `switch_at`, then the smoke set's model."""

    smoke_file: Path
    switch_at = 0.0

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200 if self.path == "/readyz" else 404, {})

    def do_POST(self) -> None:
        smoke = json.loads(self.smoke_file.read_text())
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/feedback":  # ground truth by the ids /predict answered
            self._send(200, {"accepted": len(body["feedback"])})
            return
        records = body["records"]
        field = smoke["probe"]["field"]
        if any(
            field not in record or not isinstance(record[field], type(smoke["records"][0][field])) for record in records
        ):
            self._send(400, {"error": f"records.0.{field}: invalid"})
            return
        answers = {
            json.dumps(r, sort_keys=True): p for r, p in zip(smoke["records"], smoke["predictions"], strict=True)
        }
        new = time.monotonic() >= self.switch_at
        self._send(
            200,
            {
                "predictions": [answers[json.dumps(record, sort_keys=True)] for record in records],
                "ids": [uuid.uuid4().hex for _ in records],
                "model_version": smoke["model_version"] if new else "my_ml_project:old",
            },
        )

    def log_message(self, *args: object) -> None:
        pass


def serve_rollout(smoke_file: Path, switch_after: float) -> ThreadingHTTPServer:
    handler = type("Handler", (Rollout,), {"smoke_file": smoke_file, "switch_at": time.monotonic() + switch_after})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_1_a_merged_model_reaches_staging_then_production_by_digest(loop, tmp_path):
    sha = loop.train("A first model: a decision stump", STUMP[0], **STUMP[1])
    loop.push()
    smoke_file = tmp_path / "smoke.json"  # the staging service answers the smoke set the build job made
    server = serve_rollout(smoke_file, switch_after=3600)
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def roll_out() -> None:  # the new pods come up 2 s after the smoke test starts
        shutil.copy(run.artifacts / "smoke" / "smoke.json", smoke_file)
        cast("type[Rollout]", server.RequestHandlerClass).switch_at = time.monotonic() + 2

    run = loop.runner(
        "deploy.yml",
        "deploy-1",
        event_name="push",
        sha=sha,
        variables={"STAGING_URL": url},
        hooks={"Smoke-test staging once it serves the new model (when STAGING_URL is set)": roll_out},
    )
    try:
        results = run.run()
    finally:
        server.shutdown()
        server.server_close()
    build, staging, production = results["build"], results["staging"], results["production"]
    assert build.status == "success", build.describe()
    digest = build.outputs["digest"]
    assert digest.startswith("sha256:") and len(digest) == 71
    recorded = run.recorded_steps("build")
    assert [r.uses.split("@")[0] for r in recorded if r.uses][-2:] == ["docker/build-push-action", "actions/attest"]
    assert recorded[-1].with_["subject-digest"] == digest  # the image a rollback verifies (gh attestation verify)
    assert (
        "dvc.lock records are what this commit's pipeline makes"
        in build.step("Rebuild the pipeline and prove the model's lineage (dvc repro --force)").log
    )
    assert staging.status == "success", staging.describe()
    smoke = staging.step("Smoke-test staging once it serves the new model (when STAGING_URL is set)").log
    assert "still serves" not in smoke and "smoke: passed" in smoke
    assert production.status == "success", production.describe()
    image = f"{IMAGE}@{digest}"
    assert loop.main_log()[:3] == [
        f"deploy(production): {image}",
        f"deploy(staging): {image}",
        "A first model: a decision stump",
    ]
    assert loop.overlay_image("staging") == loop.overlay_image("production") == image
    trailers = checked(["git", "log", "-1", "--format=%(trailers)", "main"], loop.origin)
    assert f"Image: {image}" in trailers and f"Source-Commit: {sha}" in trailers and "Model-Version: v0.0.1" in trailers
    assert loop.production()["version"] == "v0.0.1"
    assert {"model@v0.0.1", "model#prod#1"} <= loop.origin_tags()
    assert checked(["git", "rev-list", "-n", "1", "model@v0.0.1"], loop.origin).strip() == sha

    # The same build, deployed again to a staging that never switches: the smoke test fails after its wait.
    stuck = serve_rollout(smoke_file, switch_after=3600)
    again = loop.runner(
        "deploy.yml",
        "deploy-1-stuck",
        event_name="push",
        sha=sha,
        variables={"STAGING_URL": f"http://127.0.0.1:{stuck.server_address[1]}"},
    )
    again.base_env["SMOKE_WAIT"] = "3"
    again.results["build"] = build
    shutil.copytree(run.artifacts, again.artifacts)
    try:
        stuck_staging = again.run_job("staging")
    finally:
        stuck.shutdown()
        stuck.server_close()
    assert stuck_staging.status == "failure"
    assert "still serves my_ml_project:old" in stuck_staging.describe()
    loop.sync()


def test_2_a_better_model_lands_although_main_moves_during_the_deploy(loop):
    loop.git("switch", "-q", "-c", "better")
    loop.train("Logistic regression on every feature", "logistic_regression", C=1.0, max_iter=1000)
    ran = gate_pull_request(loop, 10)
    assert ran["train"].outputs["gate"] == "0", ran["train"].describe()
    loop.git("switch", "-q", "main")
    loop.git("merge", "-q", "--ff-only", "better")
    model_commit = loop.push()

    clone = loop.dev.parent / "colleague"
    checked(["git", "clone", "-q", str(loop.origin), str(clone)], loop.dev.parent)
    (clone / "NOTES.md").write_text("written while production deployed\n")
    checked(["git", "add", "NOTES.md"], clone)
    checked(["git", "commit", "-qm", "A colleague's docs change", "--no-verify"], clone)

    def someone_pushes_to_main_meanwhile() -> None:
        """A one-shot pre-push hook: the colleague's push lands after the deploy fetched main, before it pushes."""
        hook = loop.workspace / ".git/hooks/pre-push"
        # (a hook runs with the pushing repository's GIT_DIR: the colleague's push must not inherit it)
        push = f"env -u GIT_DIR -u GIT_WORK_TREE -u GIT_INDEX_FILE git -C '{clone}' push -q origin HEAD:main"
        hook.write_text(f"#!/bin/sh\nrm -f '{hook}'\n{push}\n")
        hook.chmod(0o755)

    step = "Point production at the image, with the GTO tags (one atomic push to main)"
    production, image = loop.deploy_production("deploy-2", hooks={step: someone_pushes_to_main_meanwhile})
    assert production.status == "success", production.describe()
    assert "main moved on (attempt 1): rebasing" in production.step(step).log
    assert loop.main_log()[:2] == [f"deploy(production): {image}", "A colleague's docs change"]
    assert loop.overlay_image("production") == image
    assert loop.production()["version"] == "v0.0.2"
    assert checked(["git", "rev-list", "-n", "1", "model@v0.0.2"], loop.origin).strip() == model_commit
    assert "model#prod#2" in loop.origin_tags()
    shutil.rmtree(clone)
    loop.sync()


def test_3_a_rollback_sticks_when_the_model_it_left_is_pushed_again(loop):
    first_image = checked(
        ["git", "log", "--format=%(trailers:key=Image,valueonly)", "--grep", "Model-Version: v0.0.1", "main"],
        loop.origin,
    ).split()[0]
    run = loop.runner("deploy.yml", "rollback", event_name="workflow_dispatch", inputs={"version": "v0.0.1"})
    results = run.run()
    assert [results[j].status for j in ("build", "staging", "production")] == ["skipped"] * 3
    assert results["rollback"].status == "success", results["rollback"].describe()
    assert loop.production()["version"] == "v0.0.1"
    assert loop.overlay_image("production") == first_image
    message = checked(["git", "tag", "--list", "--format=%(contents:subject)", "model#prod#3"], loop.origin).strip()
    assert message == "rollback from v0.0.2 to v0.0.1"
    loop.sync()

    (loop.dev / "NOTES.md").write_text("a docs-only change after the rollback\n")
    loop.commit_all("Docs only")
    loop.push()
    before = loop.origin_tags()
    production, _ = loop.deploy_production("deploy-3")
    assert production.status == "success", production.describe()
    assert production.step("Promote the model (GTO stage prod)").outputs["deploys"] == "false"
    assert "production was rolled back from v0.0.2" in production.step("Promote the model (GTO stage prod)").log
    assert (
        production.step("Point production at the image, with the GTO tags (one atomic push to main)").status
        == "skipped"
    )
    assert loop.production()["version"] == "v0.0.1"
    assert loop.overlay_image("production") == first_image
    assert loop.origin_tags() == before
    assert loop.main_log()[0] == "Docs only"
    loop.sync()


def test_4_of_two_merged_pull_requests_that_passed_production_refuses_the_worse(loop):
    base = loop.git("rev-parse", "main")  # the champion, A, is the stump (v0.0.1)
    loop.git("switch", "-q", "-c", "linear", base)
    loop.train("A more regularised logistic regression", "logistic_regression", C=0.1, max_iter=1000)
    assert gate_pull_request(loop, 11)["train"].outputs["gate"] == "0"
    loop.git("switch", "-q", "-c", "tree", base)
    loop.train("A two-level tree", STUMP[0], max_depth=2)
    assert gate_pull_request(loop, 12)["train"].outputs["gate"] == "0"

    loop.git("switch", "-q", "main")
    loop.git("merge", "-q", "--ff-only", "linear")
    loop.push()
    production, linear_image = loop.deploy_production("deploy-4-linear")
    assert production.status == "success", production.describe()
    assert loop.production()["version"] == "v0.0.3"
    loop.sync()

    # The second merge (its conflicts resolved to its own model): each passed against A, not against the first.
    loop.git("checkout", "tree", "--", "params.yaml", "dvc.lock", "reports")
    loop.commit_all("Merge pull request #12: a two-level tree")
    loop.push()
    before = loop.origin_tags()
    production, _ = loop.deploy_production("deploy-4-tree")
    assert production.status == "failure", production.describe()
    gate = production.step("Gate against the production model")
    assert gate.status == "failure"
    assert "::error title=Production refuses this model::" in gate.log and "worse than the champion" in gate.log
    assert production.step("Promote the model (GTO stage prod)").status == "skipped"
    assert loop.production()["version"] == "v0.0.3"
    assert loop.origin_tags() == before
    assert loop.overlay_image("production") == linear_image
    loop.sync()


def test_5_a_rollback_to_an_unknown_version_changes_nothing(loop):
    before, main = loop.origin_tags(), loop.main_log()
    run = loop.runner("deploy.yml", "rollback-unknown", event_name="workflow_dispatch", inputs={"version": "v9.9.9"})
    rollback = run.run(["rollback"])["rollback"]
    assert rollback.status == "failure"
    assert "no model version v9.9.9" in rollback.describe()
    assert loop.origin_tags() == before and loop.main_log() == main


# ---------------------------------------------------------------------------------------- retrain and monitor
def test_retrain_adds_the_stores_labelled_rows_and_opens_a_pull_request_only_when_dvc_lock_changes(loop):
    same = loop.runner("retrain.yml", "retrain-same", event_name="workflow_dispatch")
    job = same.run()["retrain"]
    assert job.status == "success", job.describe()
    assert "dataset: no new labelled production rows" in job.step("Materialise the labelled production rows").log
    assert job.step("Refresh the data and rerun the pipeline").outputs == {"changed": "false"}
    assert same.api_calls() == []
    # New data: a week of labelled live traffic in the monitoring store (the variable MONITOR_STORE).
    loop.make("pipeline", "monitor-samples")
    store = loop.dev / "data/monitor/unshifted"
    changed = loop.runner(
        "retrain.yml", "retrain-changed", event_name="workflow_dispatch", variables={"MONITOR_STORE": str(store)}
    )
    job = changed.run()["retrain"]
    assert job.status == "success", job.describe()
    assert "labelled production rows -> data/production/" in job.step("Materialise the labelled production rows").log
    outputs = job.step("Refresh the data and rerun the pipeline").outputs
    assert outputs["changed"] == "true" and outputs["branch"].startswith("retrain/")
    pushed = checked(["git", "show", "--name-only", "--format=%an", outputs["branch"]], loop.origin).split()
    assert pushed[0] == "github-actions[bot]" and "dvc.lock" in pushed
    assert [name for name in pushed if name.startswith("data/production/") and name.endswith(".parquet.dvc")]
    [pull] = changed.api_calls()
    assert pull["args"][:4] == ["pr", "create", "--head", outputs["branch"]]
    assert pull["env"]["GH_TOKEN"] == "local-fake-token", "falls back to GITHUB_TOKEN without RETRAIN_TOKEN"
    assert "Retrained on refreshed data" in pull["body"] and "dataset: " in pull["body"]
    assert "labelled production rows" in pull["body"]


def monitor_run(loop: Loop, name: str, sample: str, run_id: str, **kwargs: object):
    """Run the monitor workflow (drift.yml) on one of `make monitor-samples`' stores as the run `run_id` (each run its
    own: the run history's cache key holds it); the runner and its jobs."""
    variables = {"MONITOR_STORE": str(loop.dev / "data/monitor" / sample)}
    run = loop.runner("drift.yml", name, variables=variables, run_id=run_id, **kwargs)
    return run, run.run()


def run_url(run_id: str) -> str:
    return f"https://github.com/example-owner/my-ml-project/actions/runs/{run_id}"


def dispatches(run) -> list[list[str]]:
    """The retrain.yml dispatches a run made."""
    return [call["args"] for call in run.api_calls() if call["args"][:2] == ["workflow", "run"]]


LAST_RETRAIN = ["run", "list", "--workflow", "retrain.yml", "--limit", "5", "--json", "createdAt"]


def test_monitor_workflow_is_green_without_a_finding_and_opens_one_issue_per_kind_of_finding(loop):
    loop.make("pipeline", "monitor-samples")

    quiet, results = monitor_run(loop, "monitor-quiet", "unshifted", "11", event_name="workflow_dispatch")
    assert results["monitor"].status == "success", results["monitor"].describe()
    tended = results["monitor"].step("Tend the store (retention, then compaction)")
    assert tended.status == "success", tended.log
    assert "retention: monitor.retention_days is null" in tended.log and "compact: " in tended.log
    assert results["monitor"].outputs == {"drift": "false", "degraded": "false", "retrain": "false", "evidence": ""}
    assert results["report"].status == "skipped"
    assert quiet.api_calls() == []  # without a finding GitHub is not even asked when the last retrain ran
    assert "# Production monitoring" in results["monitor"].summary and "**No finding**" in results["monitor"].summary
    assert "**Retraining:** no retrain: no drift and no degraded live performance" in results["monitor"].summary
    assert (quiet.artifacts / "monitor/monitor.json").is_file()

    degraded, results = monitor_run(loop, "monitor-degraded", "degraded", "12", event_name="schedule")
    assert results["monitor"].status == "failure", results["monitor"].describe()
    assert results["monitor"].outputs == {
        "drift": "false",
        "degraded": "true",
        "retrain": "true",
        "evidence": "degraded live performance",
    }
    assert results["monitor"].step("Fail on a finding").status == "failure"
    assert results["report"].status == "success", results["report"].describe()
    calls = degraded.api_calls()
    assert [call["args"][:2] for call in calls] == [
        ["run", "list"],
        ["label", "create"],
        ["issue", "list"],
        ["issue", "create"],
        ["workflow", "run"],
    ]
    assert calls[0]["args"] == LAST_RETRAIN
    assert calls[1]["args"][2] == "degraded" and calls[2]["args"][2:4] == ["--label", "degraded"]
    assert calls[3]["args"][2:6] == ["--title", "Live performance degraded", "--label", "degraded"]
    body = calls[3]["body"]
    assert body.startswith(f"Found by the monitor workflow in {run_url('12')}: its `monitor` artifact")
    assert "# Production monitoring" in body and "**Degraded**" in body
    assert "](monitor/" not in body and f"[performance over time]({run_url('12')})" in body
    assert calls[4]["args"] == [
        "workflow",
        "run",
        "retrain.yml",
        "--ref",
        "main",
        "-f",
        "reason=degraded live performance (monitor)",
    ]

    drifted, results = monitor_run(loop, "monitor-drift", "shifted", "13", event_name="schedule")
    assert results["monitor"].status == "failure", results["monitor"].describe()
    assert results["monitor"].outputs["drift"] == "true"
    assert results["report"].status == "success", results["report"].describe()
    issues = [call for call in drifted.api_calls() if call["args"][:2] == ["issue", "create"]]
    assert issues[0]["args"][2:6] == ["--title", "Data drift detected", "--label", "drift"]
    assert "# Data drift" in issues[0]["body"] and "**Drift found**" in issues[0]["body"]
    assert "](drift/" not in issues[0]["body"] and f"[png]({run_url('13')})" in issues[0]["body"]
    degraded_too = results["monitor"].outputs["degraded"] == "true"
    assert len(issues) == 1 + degraded_too  # one issue per kind of finding
    # Drift found once is no evidence: a retrain only with degraded performance (monitor.retrain_after_runs 3).
    assert len(dispatches(drifted)) == degraded_too


def test_monitor_workflow_retrains_on_drift_found_by_3_runs_in_a_row_and_not_within_the_cooldown(loop, tmp_path):
    """The runs' verdicts survive between runs in the Actions cache (its own here: a repository of its own). The store:
    `shifted`'s drifted traffic before any label came back (with its labels live performance is degraded too)."""
    loop.make("pipeline", "monitor-samples")
    stores = loop.dev / "data/monitor"
    shutil.rmtree(stores / "drift-only", ignore_errors=True)
    shutil.copytree(stores / "shifted", stores / "drift-only", ignore=shutil.ignore_patterns("feedback"))
    cache = tmp_path / "actions-cache"
    for day in (1, 2, 3):
        run, results = monitor_run(loop, f"drift-{day}", "drift-only", f"2{day}", event_name="schedule", cache=cache)
        monitor = results["monitor"]
        assert monitor.outputs["drift"] == "true" and monitor.outputs["degraded"] == "false", monitor.describe()
        assert results["report"].status == "success", results["report"].describe()  # the drift issue, each day
        runs = "run" if day == 1 else "runs"
        if day < 3:
            assert monitor.outputs["retrain"] == "false" and dispatches(run) == []
            assert f"no retrain: data drift in {day} consecutive {runs}, fewer than monitor.retrain_after_runs (3)" in (
                monitor.summary
            )
        else:
            assert monitor.outputs["retrain"] == "true"
            assert dispatches(run) == [
                [
                    "workflow",
                    "run",
                    "retrain.yml",
                    "--ref",
                    "main",
                    "-f",
                    "reason=data drift in 3 consecutive runs (monitor)",
                ]
            ]
    history = (cache / "monitor-history-23-1/0/runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["run"] for line in history] == [run_url("21"), run_url("22"), run_url("23")]

    # The next day: still drift, but retrain.yml ran yesterday, within monitor.retrain_cooldown (7d).
    yesterday = datetime.now(UTC) - timedelta(days=1)
    answer = json.dumps([{"createdAt": yesterday.strftime("%Y-%m-%dT%H:%M:%SZ")}])
    run, results = monitor_run(
        loop, "drift-4", "drift-only", "24", event_name="schedule", cache=cache, gh_answers={"run list": answer}
    )
    monitor = results["monitor"]
    assert monitor.outputs["retrain"] == "false" and monitor.outputs["evidence"] == "data drift in 4 consecutive runs"
    assert run.api_calls()[0]["args"] == LAST_RETRAIN and dispatches(run) == []
    until = (yesterday + timedelta(days=7)).strftime("%Y-%m-%d %H:%M")
    assert f"within monitor.retrain_cooldown (7d): not before {until} UTC" in monitor.summary
    assert results["report"].status == "success", results["report"].describe()  # the issue is still updated


def test_batch_workflow_scores_with_the_production_model_and_uploads_the_result(loop, tmp_path):
    """batch.yml, dispatched with a CSV: the production model scores it, a bad row is rejected, the result, its
    rejected rows and its manifest are the run's artifact and the counts its summary; a file of bad rows fails the
    run and publishes nothing; the schedule without BATCH_INPUT does nothing, green."""
    rows = tmp_path / "rows.csv"
    script = "import pandas as pd, sys; pd.read_parquet('data/processed/test.parquet').to_csv(sys.argv[1], index=False)"
    checked([str(loop.dev / ".venv/bin/python"), "-c", script, str(rows)], loop.dev)
    header, first = rows.read_text().splitlines()[:2]
    count = len(rows.read_text().splitlines()) - 1
    with rows.open("a") as stream:  # one more row, its first feature a word
        stream.write("lots," + first.split(",", 1)[1] + "\n")
    run = loop.runner("batch.yml", "batch", event_name="workflow_dispatch", inputs={"input": str(rows)})
    job = run.run()["predict"]
    assert job.status == "success", job.describe()
    assert f"## Batch scoring: {count:,} of {count + 1:,} rows scored, 1 rejected" in job.summary
    manifest = json.loads((run.artifacts / "predictions/batch.manifest.json").read_text())
    assert " of v0.0." in manifest["model_source"]  # the production model, fetched at its commit
    assert manifest["rejected_by_reason"] == {"wrong_type": 1}
    assert (run.artifacts / "predictions/batch.parquet").is_file()
    assert (run.artifacts / "predictions/batch.rejected.parquet").is_file()

    bad = tmp_path / "bad.csv"
    bad.write_text(header + "\n" + "\n".join("lots," + first.split(",", 1)[1] for _ in range(5)) + "\n")
    failing = loop.runner("batch.yml", "batch-bad", event_name="workflow_dispatch", inputs={"input": str(bad)})
    job = failing.run()["predict"]
    assert job.status == "failure"
    assert "over batch.max_reject_share" in job.step("Score").log
    assert not (failing.artifacts / "predictions").exists()

    idle = loop.runner("batch.yml", "batch-idle", event_name="schedule")
    job = idle.run()["predict"]
    assert job.status == "success", job.describe()
    assert "nothing to score" in job.step("Score").log
