import copy
import json
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.gate.card import card_at, check_model, headline, intended_use, load_card, render_card
from {{ cookiecutter.package_name }}.params import UNKNOWN, DataParams, ModelCardParams, Params, TrainParams
from {{ cookiecutter.package_name }}.registry import file_digest, git

from conftest import git_identity


def _params(**card: object) -> Params:
    return Params(
        task="classification",
        data=DataParams(source="x.csv", target="y"),
        train=TrainParams(estimator="logistic_regression"),
        model_card=ModelCardParams(**card),
    )


def _slice(value: str, n: int, auc: float) -> dict:
    return {"column": "plan", "value": value, "n": n, "judged": True, "too_small": False, "metrics": {"roc_auc": auc}}


CARD = {
    "card_version": 1,
    "model": {
        "path": "models/model.joblib",
        "sha256": "ab" * 32,
        "md5": "cd" * 16,
        "size_bytes": 2048,
        "task": "classification",
        "estimator": "logistic_regression",
        "estimator_class": "sklearn.linear_model.LogisticRegression",
        "params": {"C": 1.0},
        "packages": {"python": "3.11", "scikit-learn": "1.9.0"},
        "git_commit": None,
        "params_sha256": "ef" * 32,
        "version": None,
    },
    "intended_use": intended_use(_params()),
    "data": {
        "source": "x.csv",
        "lineage": "default",
        "target": "y",
        "id_column": None,
        "source_md5": {"data/source": "aa"},
        "md5": {"data/processed/train.parquet": "bb"},
        "rows": {"train": 800, "test": 200},
        "features": ["plan", "age"],
        "contract_sha256": "cc" * 32,
        "time_range": None,
    },
    "metrics": {
        "test_rows": 200,
        "confidence": 0.95,
        "bootstrap": 1000,
        "values": {"roc_auc": {"value": 0.9, "low": 0.85, "high": 0.95}},
    },
    "slices": {
        "metric": "roc_auc",
        "columns": ["plan"],
        "min_rows": 30,
        "note": "",
        "results": [_slice("basic", 150, 0.91), _slice("pro", 50, 0.88)],
    },
    "feature_importance": {
        "metric": "roc_auc",
        "repeats": 5,
        "rows": 200,
        "note": "",
        "features": [
            {"feature": "plan", "importance": 0.1, "low": 0.08, "high": 0.12},
            {"feature": "age", "importance": 0.02, "low": 0.0, "high": 0.04},
        ],
    },
    "plots": ["reports/plots/calibration.png"],
}


def test_every_field_the_team_left_unfilled_reads_unknown():
    assert set(intended_use(_params()).values()) == {UNKNOWN}
    filled = intended_use(_params(intended_use="triage", owners=["risk team"], license="Apache-2.0"))
    assert (filled["intended_use"], filled["owners"], filled["license"]) == ("triage", ["risk team"], "Apache-2.0")
    assert filled["limitations"] == UNKNOWN


def test_a_model_file_is_checked_against_its_cards_sha256(tmp_path):
    model = tmp_path / "model.joblib"
    model.write_bytes(b"the model's bytes")
    card = {"model": {"sha256": file_digest(model, "sha256")}}
    assert check_model(card, model) == card["model"]["sha256"]
    model.write_bytes(b"other bytes")
    with pytest.raises(ProjectError, match="is not the model its card describes"):
        check_model(card, model)


def test_a_file_without_a_model_sha256_is_no_card(tmp_path):
    path = tmp_path / "model_card.json"
    path.write_text(json.dumps({"model": {}}))
    with pytest.raises(ProjectError, match="not a model card"):
        load_card(path)
    path.write_text(json.dumps(CARD))
    assert load_card(path)["model"]["sha256"] == CARD["model"]["sha256"]


def test_the_headline_says_what_changed_in_lineage_slices_and_top_features():
    mine = copy.deepcopy(CARD)
    mine["data"]["md5"] = {"data/processed/train.parquet": "new"}
    mine["data"]["rows"]["train"] = 900
    mine["slices"]["results"][1]["metrics"]["roc_auc"] = 0.70
    mine["feature_importance"]["features"].reverse()
    found = headline(mine, CARD)
    assert found["data_changed"] == ["md5"]
    assert found["rows"]["train"] == [800, 900]
    assert found["top_features"] == {"champion": ["plan", "age"], "challenger": ["age", "plan"]}
    assert found["slices_most_worse"][0] == {"slice": "plan = pro", "n": 50, "change": pytest.approx(-0.18)}
    assert "no model card" in headline(mine, None)["note"]
    assert headline(CARD, CARD)["data_changed"] == []


def test_the_markdown_card_has_every_section():
    text = render_card(CARD)
    for heading in ("## Intended use", "## Data", "## Metrics", "## Slices", "## Feature importance"):
        assert heading in text
    assert CARD["model"]["sha256"] in text
    assert "| roc_auc | 0.9000 | [0.8500, 0.9500] |" in text
    assert "**intended use**: unknown" in text


def test_a_card_read_at_a_commit_names_that_commit_and_the_version(tmp_path, monkeypatch):
    for key, value in git_identity(tmp_path).items():
        monkeypatch.setenv(key, value)
    repo = tmp_path / "repo"
    (repo / "reports").mkdir(parents=True)
    (repo / "reports/model_card.json").write_text(json.dumps(CARD))
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "the model", cwd=repo)
    commit = git("rev-parse", "HEAD", cwd=repo)
    path = Path("reports/model_card.json")
    assert load_card(path, cwd=repo)["model"]["git_commit"] == commit  # as HEAD records it: its commit
    read = card_at(commit, "v0.0.3", cwd=repo)["model"]
    assert (read["git_commit"], read["version"]) == (commit, "v0.0.3")
    assert card_at("HEAD~0", cwd=repo)["model"]["version"] is None
    (repo / "reports/model_card.json").write_text(json.dumps(CARD, indent=1))
    assert load_card(path, cwd=repo)["model"]["git_commit"] is None  # edited since: no commit holds these bytes
    (repo / "reports/model_card.json").unlink()
    git("commit", "-qam", "no card", cwd=repo)
    assert card_at("HEAD", cwd=repo) is None
