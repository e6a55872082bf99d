"""The model card (`card`) and the slice gate (`compare`) on a table with categories, trained in-process.

The champion is this project's model trained on the table; the challengers are retrains of it: one whose training
rows of one plan had their labels shuffled (worse on that plan only), one identical. The champion reaches `compare`
as production's does (a Found), without git: the registry's side is tested in test_promotion_and_compare.py.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from {{ cookiecutter.package_name }} import io
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.gate.compare import Found, compare
from {{ cookiecutter.package_name }}.gate.policy import GatePolicy
from {{ cookiecutter.package_name }}.gate.report import render
from {{ cookiecutter.package_name }}.params import MODEL_FILE, TEST_DATA, TRAIN_DATA, load_params
from {{ cookiecutter.package_name }}.registry import ModelRef, file_digest


def _churn(rows: int, seed: int) -> pd.DataFrame:
    """Customers whose churn follows tenure and charges, except on the pro plan (15 %), where longer tenure churns
    more: a pattern of its own, which a model learns only from the pro rows' labels."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(1, 72, rows).round(1)
    charges = rng.normal(60, 15, rows).round(2)
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.425, 0.425, 0.15])
    region = rng.choice(["north", "south", "east", "west"], rows)
    logit = np.where(plan == "pro", 0.08 * (tenure - 36), -0.06 * (tenure - 36) + (charges - 60) / 10)
    churn = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    ids = [f"C{i:05d}" for i in range(rows)]
    columns = {"customer_id": ids, "tenure": tenure, "charges": charges, "plan": plan, "region": region}
    return pd.DataFrame(columns).assign(churn=churn)


@pytest.fixture(scope="module")
def carded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder of its own (not this project's data) with the champion trained, evaluated and carded, as
    `make pipeline` leaves it."""
    folder = tmp_path_factory.mktemp("slices")
    _churn(3000, 0).to_csv(folder / "customers.csv", index=False)
    params = {
        "seed": 3,
        "task": "classification",
        "data": {"source": "customers.csv", "target": "churn", "id_column": "customer_id"},
        "split": {"test_size": 0.3},
        # A forest learns each plan's own pattern (a linear model's ranking within a plan would not change).
        "train": {
            "estimator": "random_forest",
            "params": {"n_estimators": 40, "min_samples_leaf": 10, "random_state": 0},
        },
        "gate": {"margin": 0.5, "bootstrap": 200, "max_latency_ratio": None, "max_size_ratio": None},
        "model_card": {"intended_use": "which customers to call before they leave", "owners": ["retention team"]},
    }
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for command in ("ingest", "schema", "split", "train", "evaluate", "card"):
            assert main([command]) == 0, command
    return folder


@pytest.fixture
def project(carded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(carded, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def _champion(project: Path) -> Found:
    path = project / "champion.joblib"
    shutil.copyfile(MODEL_FILE, path)
    card = json.loads((project / "reports/model_card.json").read_text())
    policy = GatePolicy.from_params(load_params())
    model, ref = io.load_model(path), ModelRef.of_file(path, "a copy")
    return Found(model, ref, io.read_table(TRAIN_DATA), io.read_table(TEST_DATA), policy, card)


def test_the_card_holds_metrics_jsons_numbers_the_models_sha256_and_the_teams_words(project):
    card = json.loads((project / "reports/model_card.json").read_text())
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert {name: entry["value"] for name, entry in card["metrics"]["values"].items()} == {
        name: value for name, value in metrics.items() if name != "test_rows"
    }
    assert all(e["low"] <= e["value"] <= e["high"] for e in card["metrics"]["values"].values())
    assert card["metrics"]["test_rows"] == metrics["test_rows"] == card["data"]["rows"]["test"]
    assert card["model"]["sha256"] == file_digest(MODEL_FILE, "sha256")
    assert card["data"]["md5"]["data/processed/train.parquet"] == file_digest(TRAIN_DATA)
    assert card["data"]["contract_sha256"] == file_digest(Path("schema.yaml"), "sha256")
    assert card["intended_use"]["intended_use"] == "which customers to call before they leave"
    assert card["intended_use"]["limitations"] == "unknown"
    assert card["slices"]["columns"] == ["plan", "region"]
    single = [e for e in card["slices"]["results"] if " × " not in e["column"]]
    assert sum(e["n"] for e in single if e["column"] == "plan") == metrics["test_rows"]
    assert not any(e["judged"] for e in card["slices"]["results"] if " × " in e["column"])  # pairs: reported
    ranked = [f["feature"] for f in card["feature_importance"]["features"]]
    assert set(ranked) == {"tenure", "charges", "plan", "region"}
    assert ranked[-1] == "region"  # region: no signal
    assert "## Slices" in (project / "reports/model_card.md").read_text()


def test_the_ml_bom_is_valid_cyclonedx_1_6_with_the_model_card(project):
    text = (project / "reports/model_bom.cdx.json").read_text()
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(text) is None
    bom = json.loads(text)
    model = next(c for c in bom["components"] if c["type"] == "machine-learning-model")
    assert {"alg": "SHA-256", "content": file_digest(MODEL_FILE, "sha256")} in model["hashes"]
    assert model["modelCard"]["considerations"]["useCases"] == ["which customers to call before they leave"]
    broken = {**bom, "components": [{**model, "modelCard": {**model["modelCard"], "owner": "?"}}]}
    assert validator.validate_str(json.dumps(broken)) is not None  # control: the schema rejects what it lacks


def _retrain_with_shuffled_labels(plan: str) -> None:
    train = io.read_table(TRAIN_DATA)
    rows = train["plan"] == plan
    train.loc[rows, "churn"] = np.random.default_rng(0).permutation(train.loc[rows, "churn"].to_numpy())
    io.write_table(train, TRAIN_DATA)
    assert main(["train"]) == 0


def test_a_challenger_worse_on_one_plan_only_passes_overall_and_is_blocked_by_the_slice_gate(project, tmp_path):
    found = _champion(project)
    _retrain_with_shuffled_labels("pro")
    result = compare(load_params(), lambda _folder: found, tmp_path)
    overall = [c for c in result.checks if c.name.startswith("non-inferiority")]
    assert overall
    assert all(c.passed for c in overall)  # the average hides it
    assert result.decision == "block"
    assert result.slices is not None
    assert [(r.column, r.value) for r in result.slices.blocked] == [("plan", "pro")]
    pro = result.slices.blocked[0]
    assert pro.p_adjusted < 0.05
    assert pro.delta < -pro.allowed
    data = result.to_json()["slices"]
    blocked = next(r for r in data["results"] if r["verdict"] == "block")
    assert set(blocked) >= {"column", "value", "n", "delta", "low", "high", "p_adjusted", "verdict"}
    report = render(result)
    assert report.startswith("## ❌ Model gate — BLOCK:")
    assert f"slice plan = pro ({pro.n} rows) is worse than the champion's by {abs(pro.delta):.4f}" in report
    assert "### Slices" in report
    assert "### Model card" in report


def test_an_identical_retrain_passes_every_slice(project, tmp_path):
    found = _champion(project)
    assert main(["train"]) == 0
    result = compare(load_params(), lambda _folder: found, tmp_path)
    assert result.decision == "pass", result.reasons
    assert result.slices is not None
    assert result.slices.blocked == []
    assert {r.delta for r in result.slices.results} == {0.0}
    assert result.card is not None
    assert result.card["data_changed"] == []
    assert result.card["slices_most_worse"]
