"""`adopt`: a team's own table becomes the project's data in one command, in a copy of this project (git + DVC)."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import load_params


def members(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """A table unlike the bundled data: an id, numbers, a boolean, a category with nulls, three string classes."""
    rng = np.random.default_rng(seed)
    visits = rng.poisson(6, rows)
    spend = rng.gamma(2.0, 40.0, rows).round(2)
    tier = np.where(visits + rng.normal(0, 2, rows) > 8, "gold", np.where(spend > 60, "silver", "bronze"))
    return pd.DataFrame(
        {
            "Member ID": [f"M-{i:05d}" for i in range(rows)],
            "Visits": visits,
            "Spend EUR": spend,
            "Newsletter": rng.random(rows) < 0.4,
            "City": rng.choice(["Lyon", "Porto", "Graz", None], rows, p=[0.4, 0.3, 0.25, 0.05]),
            "Tier": tier,
        }
    )


@pytest.fixture
def project(tmp_path: Path, copy_project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of this project as a git repository with a labelled production version and a local store left over."""
    root = copy_project(tmp_path / "project")
    monkeypatch.chdir(root)
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(command, check=True)
    production = root / "data/production"
    (production / "20261101T000000Z.parquet").write_bytes(b"earlier rows")
    (production / "20261101T000000Z.parquet.dvc").write_text("outs: []\n")
    (production / ".gitignore").write_text("/20261101T000000Z.parquet\n")
    (root / "logs/predictions").mkdir(parents=True)
    (root / "logs/predictions/part.parquet").write_bytes(b"old traffic")
    members().to_csv(tmp_path / "members.csv", index=False)
    return root


def test_adopt_sets_every_task_coupled_setting_infers_the_contract_and_moves_leftovers_aside(project, capsys):
    assert main(["adopt", "../members.csv", "--target", "Tier", "--id", "Member ID", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "adopt: task classification: it holds 3 labels (bronze, gold, silver)" in out
    assert "+  target: tier" in out  # the diff of params.yaml
    params = load_params()
    assert (params.task, params.data.target, params.data.id_column) == ("classification", "tier", "member_id")
    assert params.data.source == "data/source/members.csv"  # copied into the tracked folder, and tracked
    assert Path("data/source/members.csv.dvc").is_file()
    assert (params.gate_metric, params.gate.floor, params.train.estimator) == ("roc_auc", 0.6, "logistic_regression")
    assert params.data.lineage.startswith("members-")
    contract = yaml.safe_load(Path("schema.yaml").read_text())
    kinds = {column["name"]: column["kind"] for column in contract["columns"]}
    assert kinds == {
        "member_id": "string",
        "visits": "integer",
        "spend_eur": "float",
        "newsletter": "boolean",
        "city": "string",
        "tier": "string",
    }
    [archive] = Path("archive").iterdir()
    assert (archive / "data/production/20261101T000000Z.parquet").read_bytes() == b"earlier rows"
    assert (archive / "logs/predictions/part.parquet").is_file()
    assert not list(Path("data/production").glob("*.parquet*"))
    assert Path("data/production/.gitignore").read_text() == ""
    assert "template: confusion" in Path("dvc.yaml").read_text()


def test_the_adopted_data_runs_through_the_stages(project):
    assert main(["adopt", "../members.csv", "--target", "tier", "--id", "member_id", "--yes"]) == 0
    for command in ("ingest", "split", "train", "evaluate"):
        assert main([command]) == 0, command
    metrics = json.loads(Path("reports/metrics.json").read_text())
    assert metrics["roc_auc"] > 0.7


def test_without_yes_and_no_terminal_nothing_is_written(project, capsys):
    before = Path("params.yaml").read_text()
    assert main(["adopt", "../members.csv", "--target", "Spend EUR"]) == 2
    captured = capsys.readouterr()
    assert "adopt: task regression: it holds" in captured.out
    assert "run again with --yes" in captured.err
    assert Path("params.yaml").read_text() == before
    assert not Path("archive").exists()
    assert Path("logs/predictions/part.parquet").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "tire"], "--target 'tire' is not a column of the source; did you mean 'tier'?"),
        (["--target", "tier", "--id", "city"], "--id 'city' is missing on"),
        (["--target", "tier", "--id", "newsletter"], "--id 'newsletter' is not unique"),
    ],
)
def test_bad_columns_are_one_line_and_nothing_changes(project, capsys, args, message):
    before = Path("params.yaml").read_text()
    assert main(["adopt", "../members.csv", *args, "--yes"]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1
    assert Path("params.yaml").read_text() == before
