"""promote / rollback / production (gate/promotion.py) and compare (gate/compare.py) in a real git + DVC repository.

One trained repository is built per session (conftest.py's `trained`: the stages run in-process, `dvc commit`
writes dvc.lock, `dvc push` fills a local remote); every test works on its own copy of it.
"""

import json
import shutil
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }} import io
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import MODEL_FILE, TEST_DATA, TRAIN_DATA, load_params
from {{ cookiecutter.package_name }}.registry import file_digest

from conftest import dvc, sh


def _production(capsys) -> dict | None:
    capsys.readouterr()
    main(["production", "--json"])
    return json.loads(capsys.readouterr().out)


def _retrain(repo: Path, **train: object) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"] = train or params["train"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert main(["train"]) == 0


def _model_md5(repo: Path) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == MODEL_FILE.as_posix())


def test_with_no_champion_compare_passes_on_the_floor_and_says_so(repo, capsys):
    assert main(["production"]) == 1
    assert main(["compare"]) == 0
    result = json.loads((repo / "reports/compare.json").read_text())
    assert result["champion"] is None
    assert result["decision"] == "pass"
    assert "no production model yet" in result["verdict"]
    assert "no production model yet" in (repo / "reports/compare.md").read_text().splitlines()[0]


def test_promote_refuses_a_dirty_tree(repo, capsys):
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text() + "\n# edited\n")
    assert main(["promote"]) == 2
    assert "uncommitted changes" in capsys.readouterr().err
    assert sh("git", "tag", cwd=repo) == ""


def test_promote_refuses_a_model_whose_bytes_are_not_in_the_remote(repo, capsys):
    shutil.rmtree(repo.parent / "remote")
    (repo.parent / "remote").mkdir()
    assert main(["promote"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "make push" in error
    assert _model_md5(repo) in error
    assert sh("git", "tag", cwd=repo) == ""


def test_promote_without_a_usable_dvc_remote_says_so_in_one_line(repo, capsys):
    (repo / ".dvc/config.local").write_text("[core]\n    remote = nowhere\n")
    assert main(["promote"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "DVC remote" in error
    assert "nowhere" in error
    assert sh("git", "tag", cwd=repo) == ""


def test_promote_then_a_clearly_worse_retrain_is_blocked(repo, capsys):
    assert main(["promote"]) == 0
    production = _production(capsys)
    assert production["version"] == "v0.0.1"
    assert production["ref"] == "model#prod#1"
    assert production["commit"] == sh("git", "rev-parse", "HEAD", cwd=repo).strip()

    _retrain(repo, estimator="dummy", params={})
    assert main(["compare"]) == 1
    result = json.loads((repo / "reports/compare.json").read_text())
    assert result["decision"] == "block"
    assert result["champion"]["version"] == "v0.0.1"
    delta = result["deltas"][result["metric"]]
    assert (delta["high"] < 0) if result["higher_is_better"] else (delta["low"] > 0)  # worse across the interval
    assert any("worse than the champion's beyond the margin" in reason for reason in result["reasons"])
    assert (repo / "reports/compare.md").read_text().startswith("## ❌ Model gate — BLOCK:")


def test_an_identical_retrain_passes_on_the_same_holdout(repo, capsys):
    assert main(["promote"]) == 0
    md5 = _model_md5(repo)
    (repo / f".dvc/cache/files/md5/{md5[:2]}/{md5[2:]}").unlink()  # the champion comes from the remote
    _retrain(repo)
    assert main(["compare"]) == 0
    result = json.loads((repo / "reports/compare.json").read_text())
    assert result["decision"] == "pass", result["reasons"]
    assert result["deltas"][result["metric"]] == {"delta": 0.0, "low": 0.0, "high": 0.0}
    assert result["champion"]["metrics"] == result["challenger"]["metrics"]
    assert result["champion"]["source"] == "the DVC remote (dvc get) (md5 matches dvc.lock)"
    assert result["champion"]["sha256"] == file_digest(MODEL_FILE, "sha256")  # the same bytes, retrained
    assert "path" not in result["champion"]  # a temporary file, gone once compare returns
    assert len(result["holdout"]["sha256"]) == 64
    assert result["holdout"]["rows"] > 50


def test_the_champion_is_rebuilt_at_its_commit_when_no_cache_or_remote_holds_it(repo, capsys):
    assert main(["promote"]) == 0
    md5 = _model_md5(repo)
    for store in (repo / ".dvc/cache", repo.parent / "remote"):
        removed = list(store.glob(f"files/md5/{md5[:2]}/{md5[2:]}"))
        assert removed, store
        for path in removed:
            path.unlink()
    assert main(["compare"]) == 0
    result = json.loads((repo / "reports/compare.json").read_text())
    assert result["champion"]["source"].startswith("rebuilt at")
    assert "md5 matches" in result["champion"]["source"]  # the pipeline is deterministic: byte-identical
    assert result["champion"]["metrics"] == result["challenger"]["metrics"]
    assert len(sh("git", "worktree", "list", cwd=repo).splitlines()) == 1  # the temporary worktree is gone


# A second model of the same estimator, with other bytes: a different regularisation.
OTHER_PARAMS = {"logistic_regression": {"C": 0.5, "max_iter": 1000}, "ridge": {"alpha": 0.5}}


def _commit_model(repo: Path, message: str) -> None:
    """Retrain with other regularisation, record the model in dvc.lock, push it, commit."""
    train = yaml.safe_load((repo / "params.yaml").read_text())["train"]
    _retrain(repo, **{**train, "params": OTHER_PARAMS[train["estimator"]]})
    dvc("commit", "--force", "--quiet", "train", cwd=repo)
    dvc("push", "--quiet", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", message, cwd=repo)


def test_a_commit_that_keeps_the_model_bytes_keeps_its_version(repo, capsys):
    assert main(["promote"]) == 0
    (repo / "NOTES.md").write_text("a docs-only change\n")
    sh("git", "add", "NOTES.md", cwd=repo)
    sh("git", "commit", "-qm", "docs", cwd=repo)
    capsys.readouterr()
    assert main(["promote"]) == 0
    assert "model v0.0.1 (commit" in capsys.readouterr().out
    assert sorted(sh("git", "tag", cwd=repo).split()) == ["model#prod#1", "model@v0.0.1"]
    promoted = json.loads((repo / "reports/promote.json").read_text())
    assert (promoted["outcome"], promoted["candidate"], promoted["deploys"]) == ("unchanged", "v0.0.1", True)


def test_rollback_reassigns_prod_with_a_new_tag_that_names_what_it_left(repo, capsys):
    assert main(["promote"]) == 0
    _commit_model(repo, "a second model")
    assert main(["promote"]) == 0
    assert _production(capsys)["version"] == "v0.0.2"

    assert main(["rollback", "--to", "v0.0.1"]) == 0
    assert "prod is now model v0.0.1" in capsys.readouterr().out
    assert _production(capsys)["version"] == "v0.0.1"
    tags = sh("git", "tag", cwd=repo).split()
    assert sorted(tags) == ["model#prod#1", "model#prod#2", "model#prod#3", "model@v0.0.1", "model@v0.0.2"]
    message = sh("git", "tag", "--list", "--format=%(contents:subject)", "model#prod#3", cwd=repo).strip()
    assert message == "rollback from v0.0.2 to v0.0.1"
    promoted = json.loads((repo / "reports/promote.json").read_text())
    assert promoted["tags"] == ["model#prod#3"]

    assert main(["rollback", "--to", "v9.9.9"]) == 2
    assert "no registered version 'v9.9.9' (registered: v0.0.2, v0.0.1)" in capsys.readouterr().err


def test_a_rollback_sticks_until_promotion_is_forced(repo, capsys):
    assert main(["promote"]) == 0
    _commit_model(repo, "a second model")
    assert main(["promote"]) == 0
    assert main(["rollback", "--to", "v0.0.1"]) == 0
    (repo / "NOTES.md").write_text("a docs-only change after the rollback\n")
    sh("git", "add", "NOTES.md", cwd=repo)
    sh("git", "commit", "-qm", "docs", cwd=repo)
    capsys.readouterr()
    assert main(["promote"]) == 1
    error = capsys.readouterr().err
    assert "production was rolled back from v0.0.2 (tag model#prod#3)" in error
    assert "FORCE=1" in error
    assert _production(capsys)["version"] == "v0.0.1"
    assert json.loads((repo / "reports/promote.json").read_text())["deploys"] is False
    assert main(["promote", "--force"]) == 0
    assert _production(capsys)["version"] == "v0.0.2"
    message = sh("git", "tag", "--list", "--format=%(contents:subject)", "model#prod#4", cwd=repo).strip()
    assert message == "promote v0.0.2 (forced)"


def test_a_champion_rebuilt_with_other_bytes_is_an_error_not_a_note(repo, capsys):
    from {{ cookiecutter.package_name }}.errors import RegistryError
    from {{ cookiecutter.package_name }}.registry import fetch_output

    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for out in lock["stages"]["train"]["outs"]:
        out["md5"] = "0" * 32  # what a non-reproducible pipeline would have recorded
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    sh("git", "commit", "-qam", "a lock the pipeline cannot reproduce", cwd=repo)
    commit = sh("git", "rev-parse", "HEAD", cwd=repo).strip()
    with pytest.raises(RegistryError, match="md5 differs from dvc.lock"):
        fetch_output(commit, MODEL_FILE, repo.parent / "champion.joblib", cwd=repo)
    assert len(sh("git", "worktree", "list", cwd=repo).splitlines()) == 1


def test_the_champion_is_scored_only_on_rows_it_never_trained_on(repo, capsys):
    assert main(["promote"]) == 0
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["id_column"] = None  # a seeded split, as in a project without a stable row id
    params["seed"] = params["seed"] + 1  # a reshuffled split: most new test rows were champion training rows
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert main(["split"]) == 0
    assert main(["train"]) == 0
    params["gate"] = {**params.get("gate", {}), "min_holdout_rows": len(io.read_table(TEST_DATA))}  # all unseen
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    capsys.readouterr()
    assert main(["compare"]) == 2
    error = capsys.readouterr().err
    assert "test rows are absent from the champion's training split" in error
    assert "data.id_column" in error
    params["gate"] = {**params.get("gate", {}), "min_holdout_rows": 10}  # a loosening: it needs an override
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert main(["compare", "--override", "ten unseen rows will do", "--override-by", "a reviewer"]) in (0, 1)
    result = json.loads((repo / "reports/compare.json").read_text())
    holdout = result["holdout"]
    assert holdout["excluded"] > holdout["rows"] > 10
    assert holdout["matched_by"].startswith("a hash of the")
    assert result["policy"]["min_holdout_rows"] == 10
    assert result["policy_source"]["override"] == {"reason": "ten unseen rows will do", "by": "a reviewer"}
    assert "gate.min_holdout_rows 50 -> 10" in result["policy_source"]["loosened"]


def test_a_production_model_of_another_lineage_is_no_champion_until_the_new_lineage_starts(repo, capsys):
    assert main(["promote"]) == 0
    params = yaml.safe_load((repo / "params.yaml").read_text())
    before = params["data"].get("lineage", "default")
    params["data"]["lineage"] = "members-2026"  # what `adopt` writes with a team's own data
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _commit_model(repo, "a model of other data")
    capsys.readouterr()

    assert main(["compare"]) == 2
    error = capsys.readouterr().err
    assert "production model v0.0.1 (commit" in error
    assert f"is of lineage {before!r}, this workspace of 'members-2026'" in error
    assert "`make compare NEW_LINEAGE=1`, then `make promote NEW_LINEAGE=1`" in error
    assert error.count("\n") == 1

    assert main(["compare", "--new-lineage"]) == 0
    result = json.loads((repo / "reports/compare.json").read_text())
    assert result["champion"] is None
    assert f"of lineage {before!r}" in result["new_lineage"]
    assert result["verdict"].startswith("PASS: no champion: production model v0.0.1")

    assert main(["promote"]) == 2
    assert "`make promote NEW_LINEAGE=1`" in capsys.readouterr().err
    assert _production(capsys)["version"] == "v0.0.1"
    assert main(["promote", "--new-lineage"]) == 0
    assert _production(capsys)["version"] == "v0.0.2"
    message = sh("git", "tag", "--list", "--format=%(contents:subject)", "model#prod#2", cwd=repo).strip()
    assert message == "promote v0.0.2 (new lineage 'members-2026')"
    assert main(["compare"]) == 0  # the new lineage's production model is the champion now
    assert json.loads((repo / "reports/compare.json").read_text())["champion"]["version"] == "v0.0.2"


def test_promote_without_a_git_identity_says_how_to_set_one_in_one_line(repo, capsys, monkeypatch):
    empty = repo.parent / "no-identity"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    for variable in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["promote"]) == 2
    error = capsys.readouterr().err
    assert error == (
        "promote: error: git has no identity to sign the model's tags with: "
        "git config user.name 'Your Name' && git config user.email you@example.com\n"
    )
    assert sh("git", "tag", cwd=repo) == ""


def _gate(repo: Path, **gate: object) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["gate"] = {**(params.get("gate") or {}), **gate}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_a_candidate_cannot_loosen_its_own_gate_but_may_tighten_it(repo, capsys):
    assert main(["promote"]) == 0
    _gate(repo, margin=100)
    assert main(["compare"]) == 2
    assert "gate.margin: Input should be less than or equal to 1" in capsys.readouterr().err
    _gate(repo, margin=1.0, guardrails=[], max_size_ratio=None)  # looser on three counts
    _retrain(repo, estimator="dummy", params={})
    assert main(["compare"]) == 1
    result = json.loads((repo / "reports/compare.json").read_text())
    champion_policy = result["policy_source"]["champion"]
    assert result["policy"]["margin"] == champion_policy["margin"] == 0.25  # the champion's side sets the bar
    assert result["policy"]["guardrails"] == champion_policy["guardrails"]
    assert result["policy"]["max_size_ratio"] == 5.0
    assert result["policy_source"]["loosened"] == [
        f"gate.guardrails without {', '.join(champion_policy['guardrails'])}",
        "gate.margin 0.25 -> 1",
        "gate.max_size_ratio 5 -> null",
    ]
    assert result["policy_source"]["override"] is None
    assert "tried to loosen" in (repo / "reports/compare.md").read_text()
    _gate(repo, margin=0.1, guardrails=None, max_size_ratio=5.0)  # stricter: it applies
    assert main(["compare"]) == 1
    assert json.loads((repo / "reports/compare.json").read_text())["policy"]["margin"] == 0.1


def test_a_changed_metric_is_judged_by_the_champions(repo):
    assert main(["promote"]) == 0
    metric = load_params().gate_metric
    other = "mae" if metric == "rmse" else "accuracy"
    _gate(repo, metric=other, floor=None)
    assert main(["compare"]) == 0
    result = json.loads((repo / "reports/compare.json").read_text())
    assert result["metric"] == metric
    assert f"gate.metric {metric} -> {other}" in result["policy_source"]["loosened"]


def test_only_a_descendant_of_productions_commit_is_promoted(repo, capsys):
    assert main(["promote"]) == 0
    older = sh("git", "rev-parse", "HEAD", cwd=repo).strip()
    _commit_model(repo, "a second model")
    assert main(["promote"]) == 0
    sh("git", "checkout", "-q", older, cwd=repo)  # a re-run of an older deploy
    capsys.readouterr()
    assert main(["promote"]) == 2
    error = capsys.readouterr().err
    assert f"{older[:7]} is not a descendant of production's commit" in error
    assert "make rollback TO=<version>" in error
    assert _production(capsys)["version"] == "v0.0.2"


def test_a_champion_whose_columns_the_holdout_lacks_is_scored_on_its_own_test_rows(repo):
    assert main(["promote"]) == 0
    assert main(["compare"]) == 0
    honest = json.loads((repo / "reports/compare.json").read_text())["champion"]["metrics"]
    contract = yaml.safe_load((repo / "schema.yaml").read_text())
    model_inputs = [str(name) for name in io.load_model(MODEL_FILE).feature_names_in_]
    # up to three of the champion's inputs, such that the columns left still tell each test row from the training
    # rows and from the other test rows: the holdout's rows are matched by the id column, else by a hash of the shared
    # columns (the target included), and a row that only the dropped columns told apart is left out of the holdout
    test, train, data = pd.read_parquet(TEST_DATA), pd.read_parquet(TRAIN_DATA), load_params().data
    by_id = [data.id_column] if data.id_column and data.id_column in test.columns else []

    def keys(frame: pd.DataFrame, kept: list[str]) -> set[int]:
        return set(pd.util.hash_pandas_object(frame[by_id or [*kept, data.target]], index=False).tolist())

    candidates = [list(c) for size in (3, 2, 1) if size < len(model_inputs) for c in combinations(model_inputs, size)]

    def distinct(kept: list[str]) -> bool:
        return len(keys(test, kept)) == len(test) and not keys(test, kept) & keys(train, kept)

    dropped = next(c for c in candidates if distinct([n for n in model_inputs if n not in c]))
    for column in contract["columns"]:
        if column["name"] in dropped:
            column["feature"] = False  # an extract without these columns, as far as the challenger knows
    (repo / "schema.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    assert main(["split"]) == 0
    assert main(["train"]) == 0
    assert main(["compare"]) in (0, 1)
    result = json.loads((repo / "reports/compare.json").read_text())
    assert sorted(result["champion"]["missing_columns"]) == sorted(dropped)
    assert result["holdout"]["excluded"] == 0  # the same rows as before
    [check] = [check for check in result["checks"] if check["name"] == "champion scored on its own columns"]
    assert check["passed"]
    assert check["value"].startswith(f"{result['holdout']['rows']} of ")
    # the champion's score is its honest one, on all of its own columns (the same rows as before): never imputed
    assert result["champion"]["metrics"] == honest
