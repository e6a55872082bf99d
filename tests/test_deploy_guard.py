"""The gate holds against the candidate itself: the generated workflows' jobs, run step by step against a real git
remote (tests/support/loop.py), as an adversary would use them.

A pull request cannot move its own bar (its params.yaml's looser gate is not applied; a margin of 100 is an error),
cannot ship a model its commit's pipeline does not make (the lineage check rebuilds it), cannot change the image an
environment runs, and overrides the gate only with a recorded `Gate-Override:` trailer. A re-run of an older commit's
deploy cannot take production back in time; a rollback is neither undone by a deploy that was already running nor
fooled by deploy trailers a developer wrote.

One project for the whole file; its production model is the template's default (a logistic regression, roc_auc
~0.996, v0.0.1). The pull requests are never merged, so each meets that champion; the deploy tests then tell one
story, in order (each needs the state the one before left).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import yaml

from support.gha.results import JobResult
from support.gha.runner import WorkflowRunner
from support.loop import IMAGE, OWNER, PACKAGE, SLUG, Loop, checked, make_loop

pytestmark = pytest.mark.slow
STUMP = ("sklearn.tree.DecisionTreeClassifier", {"max_depth": 1})  # roc_auc ~0.85 on the champion's holdout
OVERLAY = "deploy/k8s/overlays/production/kustomization.yaml"
DEVELOPER = "tests@example.com"  # conftest's git identity: every commit the tests make by hand
STEP_OVERLAYS = "Check that no deploy overlay's image changes (only the deploy workflow changes it)"
STEP_LINEAGE = "Rebuild the pipeline and prove the model's lineage (dvc repro --force)"
STEP_COMPARE = "Compare with the production model"
STEP_PROMOTE = "Promote the model (GTO stage prod)"
STEP_PUSH = "Point production at the image, with the GTO tags (one atomic push to main)"


@dataclass
class Story:
    """What a later test reads: the first model's image, and (test 3) the forged commit and the rollback's run."""

    first_image: str = ""
    forged_commit: str = ""
    rollback_run: WorkflowRunner | None = None
    rollback: JobResult | None = None


STORY = Story()


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    """The baked project, its first model in production (v0.0.1) by deploy.yml's production job."""
    loop = make_loop(tmp_path_factory.mktemp("guard"))
    production, image = loop.deploy_production("deploy-first")
    assert production.status == "success", production.describe()
    assert loop.overlay_image("production") == image
    STORY.first_image = image
    loop.sync()
    return loop


@contextmanager
def branch(loop: Loop, name: str) -> Iterator[None]:
    """Work on a new branch of main; back on main afterwards, the branch deleted (a pull request never merged)."""
    loop.git("switch", "-q", "-c", name, "main")
    try:
        yield
    finally:
        loop.git("switch", "-q", "--discard-changes", "main")
        loop.git("branch", "-q", "-D", name)


def set_gate(loop: Loop, **values: object) -> None:
    """params.yaml's gate section, with these values."""
    path = loop.dev / "params.yaml"
    data = yaml.safe_load(path.read_text())
    data["gate"] = {**data["gate"], **values}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def compare_json(loop: Loop) -> dict:
    """reports/compare.json of the last job that ran in the shared workspace."""
    return json.loads((loop.workspace / "reports/compare.json").read_text())


def version(loop: Loop) -> str | None:
    """The version of origin's production model."""
    production = loop.production()
    return production["version"] if production else None


def production_unchanged(loop: Loop, before: set[str]) -> None:
    """Production is still the first model: its version, origin's tags (`before`) and the production overlay."""
    assert version(loop) == "v0.0.1"
    assert loop.origin_tags() == before
    assert loop.overlay_image("production") == STORY.first_image


def locked_md5(loop: Loop, path: str) -> str:
    """The md5 of an output in the developer's dvc.lock."""
    stages = yaml.safe_load((loop.dev / "dvc.lock").read_text())["stages"]
    return next(out["md5"] for stage in stages.values() for out in stage.get("outs", []) if out["path"] == path)


# ---------------------------------------------------------------------------------------- pull requests
def test_a_pull_request_that_changes_an_overlays_image_fails_with_one_line(loop: Loop) -> None:
    before = loop.origin_tags()
    with branch(loop, "overlay"):
        overlay = loop.dev / OVERLAY
        digest = yaml.safe_load(overlay.read_text())["images"][0]["digest"]
        overlay.write_text(overlay.read_text().replace(digest, f"sha256:{'e' * 64}"))
        loop.commit_all("Point production at a hand-picked image")
        _, results = loop.pull_request(30)
    train = results["train"]
    assert train.status == "failure", train.describe()
    check = train.step(STEP_OVERLAYS)
    assert check.status == "failure"
    [error] = [line for line in check.log.splitlines() if line.startswith("::error")]
    assert error.startswith(f"::error title=Overlay image changed by hand::{OVERLAY}: this pull request changes")
    assert train.step(STEP_LINEAGE).status == train.step(STEP_COMPARE).status == "skipped"
    assert "An overlay's image changed by hand" in train.summary
    production_unchanged(loop, before)


def test_1_a_pull_request_cannot_move_its_own_bar(loop: Loop) -> None:
    """A one-level tree that loosens the gate to a margin of 1.0 is judged by the champion's 0.25, and blocked; a
    margin of 100 does not even run: the pipeline stops on params.yaml, in one line."""
    before = loop.origin_tags()
    with branch(loop, "stump"):
        set_gate(loop, margin=1.0)
        loop.train("A one-level tree, with a looser gate", STUMP[0], **STUMP[1])
        _, results = loop.pull_request(31)
        train = results["train"]
        assert train.status == "failure", train.describe()
        assert train.outputs["gate"] == "1"
        compared = compare_json(loop)
        assert compared["decision"] == "block" and compared["policy"]["margin"] == 0.25
        assert compared["policy_source"]["loosened"] == ["gate.margin 0.25 -> 1"]
        assert compared["policy_source"]["override"] is None
        assert "tried to loosen the gate (gate.margin 0.25 -> 1): not applied" in train.summary
        assert "::error::The gate blocks this model" in train.step("Gate").log

        set_gate(loop, margin=100)  # no stage depends on the gate: dvc.lock stays what the pipeline makes
        loop.commit_all("Widen the margin")
        _, results = loop.pull_request(32)
    train = results["train"]
    assert train.status == "failure", train.describe()
    lineage = train.step(STEP_LINEAGE)
    [error] = [line for line in lineage.log.splitlines() if line.startswith("::error")]
    assert error.startswith("::error title=The pipeline failed::ingest: error: params.yaml: gate.margin")
    assert train.step(STEP_COMPARE).status == "skipped"
    production_unchanged(loop, before)


def test_a_gate_override_trailer_loosens_the_gate_and_records_who(loop: Loop) -> None:
    """A pull request that drops the guardrails is blocked by them (the champion's policy); a `Gate-Override:`
    trailer on one of its commits lets its own policy apply, and compare.json says who decided it."""
    before = loop.origin_tags()
    reason = "ranking is what the service is judged on; calibration comes next"
    owner = "Release Owner <owner@example.com>"
    with branch(loop, "override"):
        set_gate(loop, guardrails=[])
        loop.train("A more regularised model, without guardrails", "logistic_regression", C=0.03, max_iter=1000)
        _, results = loop.pull_request(33)
        blocked = results["train"]
        assert blocked.outputs["gate"] == "1", blocked.describe()
        loosened = compare_json(loop)["policy_source"]["loosened"]
        assert loosened == ["gate.guardrails without balanced_accuracy, log_loss"]
        assert "log_loss is worse than the champion's" in blocked.step("Gate").log + blocked.summary

        message = f"Accept the calibration loss for this release\n\nGate-Override: {reason}"
        loop.git("commit", "-q", "--allow-empty", "--no-verify", "-m", message, f"--author={owner}")
        _, results = loop.pull_request(34)
    train = results["train"]
    assert train.status == "success", train.describe()
    assert train.outputs["gate"] == "0"
    assert train.step("Read the gate override (a Gate-Override trailer of the pull request's commits)").outputs == {
        "reason": reason,
        "by": owner,
        "commit": checked(["git", "rev-parse", "pr-34"], loop.origin).strip(),
    }
    compared = compare_json(loop)
    assert compared["decision"] == "pass" and compared["policy"]["guardrails"] == []
    assert compared["policy_source"]["override"] == {"reason": reason, "by": owner}
    assert f"**Gate override** by {owner}" in train.summary
    production_unchanged(loop, before)


def test_6_a_model_trained_out_of_band_fails_the_lineage_check_naming_both_md5s(loop: Loop) -> None:
    """A model trained on train + test outside the pipeline, recorded with `dvc commit -f` (params and code as on
    main): every stage of a plain `dvc repro` would skip; the forced rebuild makes the honest model instead."""
    before = loop.origin_tags()
    honest = locked_md5(loop, "models/model.joblib")
    forge = (
        "import pandas as pd\n"
        f"from {PACKAGE} import io\n"
        f"from {PACKAGE}.columns import feature_columns\n"
        f"from {PACKAGE}.params import MODEL_FILE, TEST_DATA, TRAIN_DATA, load_params\n"
        f"from {PACKAGE}.pipeline.train import train\n"
        "params = load_params()\n"
        "rows = pd.concat([io.read_table(TRAIN_DATA), io.read_table(TEST_DATA)], ignore_index=True)\n"
        "columns = feature_columns(rows.columns, params.data.target, params.data.id_column)\n"
        "io.save_model(train(rows[columns], rows[params.data.target], params), MODEL_FILE)\n"
    )
    with branch(loop, "forged"):
        checked([str(loop.dev / ".venv/bin/python"), "-c", forge], loop.dev)
        checked([str(loop.dev / ".venv/bin/dvc"), "commit", "-f", "-q", "train"], loop.dev)
        loop.make("pipeline")  # evaluate scores the recorded model: metrics and plots as if it were honest
        forged = locked_md5(loop, "models/model.joblib")
        assert forged != honest
        loop.commit_all("Retrain")
        checked([str(loop.dev / ".venv/bin/dvc"), "push", "-q"], loop.dev)
        _, results = loop.pull_request(35)
    train = results["train"]
    assert train.status == "failure", train.describe()
    lineage = train.step(STEP_LINEAGE)
    [error] = [line for line in lineage.log.splitlines() if line.startswith("::error")]
    assert error.startswith(
        f"::error title=Unproven model lineage::models/model.joblib: this commit's dvc.lock records md5 {forged}, "
        f"its pipeline rebuilds md5 {honest}"
    )
    assert "Unproven model lineage" in train.summary
    assert train.step(STEP_COMPARE).status == "skipped"
    production_unchanged(loop, before)


def test_9_a_challenger_without_some_columns_is_judged_against_the_champion_on_its_own(loop: Loop) -> None:
    """The contract drops 10 of the 30 features (`feature: false`): the champion is scored on its own test rows
    with all its columns, never with the missing ones imputed, and the weaker challenger is blocked."""
    before = loop.origin_tags()
    with branch(loop, "fewer-columns"):
        path = loop.dev / "schema.yaml"
        schema = yaml.safe_load(path.read_text())
        dropped = [column["name"] for column in schema["columns"] if column["name"].startswith("worst_")]
        assert len(dropped) == 10
        for column in schema["columns"]:
            if column["name"] in dropped:
                column["feature"] = False
        path.write_text(yaml.safe_dump(schema, sort_keys=False))
        loop.make("pipeline")
        loop.commit_all("Train on the 20 features of the new extract")
        checked([str(loop.dev / ".venv/bin/dvc"), "push", "-q"], loop.dev)
        _, results = loop.pull_request(36)
    train = results["train"]
    assert train.status == "failure", train.describe()
    assert train.outputs["gate"] == "1"
    compared = compare_json(loop)
    assert compared["decision"] == "block"
    assert sorted(compared["champion"]["missing_columns"]) == sorted(dropped)
    [own] = [check for check in compared["checks"] if check["name"] == "champion scored on its own columns"]
    assert own["passed"] is True
    assert any(reason.startswith("roc_auc is worse than the champion's") for reason in compared["reasons"])
    production_unchanged(loop, before)


# ---------------------------------------------------------------------------------------- the deploy story
def test_2_a_rerun_of_an_older_commits_deploy_cannot_take_production_back(loop: Loop) -> None:
    """X (docs) then Y (the same model with more iterations allowed: new bytes, the same predictions) are merged;
    X's production job failed, Y's deploys; X's job, re-run, passes the gate against Y but is not promoted."""
    (loop.dev / "NOTES.md").write_text("X: written before Y\n")
    x = loop.commit_all("X: a docs change")
    loop.push()
    y = loop.train("Y: the same model, more iterations allowed", "logistic_regression", C=1.0, max_iter=2000)
    loop.push()
    production, y_image = loop.deploy_production("deploy-y")
    assert production.status == "success", production.describe()
    assert version(loop) == "v0.0.2"
    loop.sync()

    before, main = loop.origin_tags(), loop.main_log()
    rerun, _ = loop.deploy_production("deploy-x-rerun", sha=x)
    assert rerun.status == "failure", rerun.describe()
    assert rerun.step("Gate against the production model").status == "success"
    promote = rerun.step(STEP_PROMOTE)
    [error] = [line for line in promote.log.splitlines() if line.startswith("::error")]
    assert error.startswith(
        f"::error title=Not promoted::promote: error: {x[:7]} is not a descendant of production's commit "
        f"{y[:7]} (v0.0.2)"
    )
    assert rerun.step(STEP_PUSH).status == "skipped"
    assert version(loop) == "v0.0.2"
    assert loop.origin_tags() == before and loop.main_log() == main
    assert loop.overlay_image("production") == y_image


def test_3_a_rollback_while_a_docs_deploy_runs_is_not_undone_by_it(loop: Loop) -> None:
    """A docs-only commit (a developer's comment in the production overlay, whose message forges a deploy commit's
    trailers: test 4) deploys: promote answers "unchanged" (v0.0.2 is production). Right before its push, a
    rollback to v0.0.1 runs to completion on another runner; the deploy then finds a prod tag it did not start
    from, pushes nothing and fails with one line. Production stays rolled back."""
    overlay = loop.dev / OVERLAY
    overlay.write_text("# Reviewed by the platform team.\n" + overlay.read_text())
    forged_image = f"{IMAGE}@sha256:{'f' * 64}"
    trailers = f"Image: {forged_image}\nSource-Commit: {'0' * 40}\nModel-Version: v0.0.1"
    STORY.forged_commit = loop.commit_all(f"Say who reviews the production overlay\n\n{trailers}")
    loop.push()

    def a_rollback_lands_meanwhile() -> None:
        run = loop.runner(
            "deploy.yml",
            "rollback-meanwhile",
            workspace=loop.other_workspace(),
            event_name="workflow_dispatch",
            inputs={"version": "v0.0.1"},
        )
        STORY.rollback_run, STORY.rollback = run, run.run(["rollback"])["rollback"]
        loop.forget_setup()

    production, _ = loop.deploy_production("deploy-docs", hooks={STEP_PUSH: a_rollback_lands_meanwhile})
    rollback = STORY.rollback
    assert rollback is not None
    assert rollback.status == "success", rollback.describe()
    assert production.step(STEP_PROMOTE).outputs["deploys"] == "true"
    assert "is already in prod" in production.step(STEP_PROMOTE).log
    assert production.status == "failure", production.describe()
    push = production.step(STEP_PUSH)
    [error] = [line for line in push.log.splitlines() if line.startswith("::error")]
    assert error.startswith(
        "::error title=Production changed meanwhile::origin has prod tags this job did not start from (model#prod#3)"
    )
    assert version(loop) == "v0.0.1"
    assert loop.overlay_image("production") == STORY.first_image
    assert loop.main_log()[0] == f"deploy(production): {STORY.first_image}"
    message = checked(["git", "tag", "--list", "--format=%(contents:subject)", "model#prod#3"], loop.origin).strip()
    assert message == "rollback from v0.0.2 to v0.0.1"
    loop.sync()


def test_4_the_rollback_trusts_only_the_deploy_bots_trailers_and_verifies_the_attestation(loop: Loop) -> None:
    """The rollback of test 3 went to the image the bot's deploy commit of v0.0.1 names, not the one the newer
    developer's commit claims for v0.0.1, and checked that image's build provenance first."""
    run, rollback = STORY.rollback_run, STORY.rollback
    assert run is not None and rollback is not None, "test 3 runs the rollback"
    log = rollback.step("Re-assign prod to the version and point production at its image (one atomic push to main)").log
    forged = STORY.forged_commit
    assert (
        f"::warning::ignored the Model-Version: v0.0.1 trailer of {forged[:7]}: authored by {DEVELOPER}, "
        "not the deploy bot"
    ) in log
    [verify] = [call for call in run.api_calls() if call["args"][:2] == ["attestation", "verify"]]
    assert verify["args"] == ["attestation", "verify", f"oci://{STORY.first_image}", "--repo", f"{OWNER}/{SLUG}"]
    assert loop.overlay_image("production") == STORY.first_image
    assert version(loop) == "v0.0.1"
