"""The fault catalogue: real corrupted files in data/raw/, each stopped by `validate` (exit 1).

The clean data is the bundled breast-cancer table (a few of its 30 features, to keep the suite small
and the tests fast) plus a categorical column (`clinic`, with a few nulls), so that unseen categories
and null fractions are real. `schema` infers the contract from the
clean file once per test; the corrupted file then replaces data/raw/data.parquet, as a new version
of the data would.
"""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import RAW_DATA, SCHEMA_FILE, VALIDATION_FILE
from {{ cookiecutter.package_name }}.pipeline.data import load_sklearn_dataset, normalise_columns

REPORT = str(VALIDATION_FILE)


FEATURES = ["mean_radius", "mean_texture", "mean_area", "worst_area", "worst_smoothness"]


def _clean() -> pd.DataFrame:
    frame = normalise_columns(load_sklearn_dataset("breast_cancer"))[[*FEATURES, "diagnosis"]]
    rng = np.random.default_rng(3)
    clinic = pd.Series(rng.choice(["north", "south", "east"], len(frame)), dtype="str")
    clinic[rng.random(len(frame)) < 0.05] = None
    frame.insert(1, "clinic", clinic)
    return frame


CLEAN = _clean()


@pytest.fixture
def project(workdir, write_params):
    """A folder with params.yaml, the clean data in data/raw/ and the contract inferred from it."""
    write_params(workdir, data={"source": "sklearn:breast_cancer", "target": "diagnosis", "id_column": None})
    RAW_DATA.parent.mkdir(parents=True)
    CLEAN.to_parquet(RAW_DATA, index=False)
    assert main(["schema"]) == 0
    return workdir


def _with(column, rows, value):
    def corrupt(frame):
        frame = frame.copy()
        frame.loc[frame.index[rows], column] = value
        return frame

    return corrupt


def _as_text(column):
    def corrupt(frame):
        return frame.assign(**{column: frame[column].map(lambda x: f"{x:.3f}").astype("str")})

    return corrupt


def _duplicated(frame):
    return pd.concat([frame, frame.sample(frac=0.1, random_state=0)], ignore_index=True)


# fault -> (corruption, (the column the report must blame, or None for the table; a failed kind))
FAULTS = {
    "missing column": (lambda f: f.drop(columns="mean_radius"), ("mean_radius", "columns")),
    "unexpected extra column": (lambda f: f.assign(surprise=1.0), ("surprise", "columns")),
    "wrong dtype": (_as_text("mean_texture"), ("mean_texture", "type")),
    "nulls where none are allowed": (_with("mean_area", slice(0, 5), np.nan), ("mean_area", "nulls")),
    "too many nulls in a nullable column": (_with("clinic", slice(0, 300), None), ("clinic", "nulls")),
    "out-of-range values": (_with("mean_radius", slice(10, 13), 1e6), ("mean_radius", "range")),
    "negative values in a positive column": (_with("worst_area", slice(0, 2), -5.0), ("worst_area", "range")),
    "unseen category": (_with("clinic", slice(0, 4), "west"), ("clinic", "categories")),
    "empty table": (lambda f: f.iloc[:0], (None, "row_count")),
    "far too few rows": (lambda f: f.head(50), (None, "row_count")),
    "target missing": (lambda f: f.drop(columns="diagnosis"), ("diagnosis", "columns")),
    "target with an unseen label": (_with("diagnosis", slice(0, 3), "unsure"), ("diagnosis", "categories")),
    "target with nulls": (_with("diagnosis", slice(0, 3), None), ("diagnosis", "nulls")),
    "duplicated rows over the threshold": (_duplicated, (None, "duplicates")),
}


def test_the_clean_data_passes_and_writes_report_and_data_docs(project, capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("validate: passed: 569 rows x 7 columns")
    report = json.loads(VALIDATION_FILE.read_text())
    assert report["success"] is True
    assert report["failed"] == 0
    assert report["failing_columns"] == []
    assert all(entry["success"] for entry in report["expectations"])
    assert {"type", "nulls", "range", "categories", "columns", "row_count", "duplicates"} == {
        entry["kind"] for entry in report["expectations"]
    }
    assert (project / "reports/data_docs/index.html").is_file()
    assert not list((project / "reports").glob(".data_docs.*"))


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_stopped_with_a_one_line_summary(project, capsys, fault):
    corrupt, (column, kind) = FAULTS[fault]
    corrupt(CLEAN).to_parquet(RAW_DATA, index=False)
    capsys.readouterr()

    assert main(["validate"]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("validate: FAILED")
    assert err.rstrip().endswith(f"report: {REPORT}")
    report = json.loads(VALIDATION_FILE.read_text())
    assert report["success"] is False
    assert kind in {entry["kind"] for entry in report["expectations"] if not entry["success"]}
    if column is None:
        assert kind in report["failing_table_checks"]
        assert f"table ({kind}" in err
    else:
        assert column in report["failing_columns"]
        assert f"{column} (" in err


def test_a_missing_column_is_named_once_as_missing(project, capsys):
    CLEAN.drop(columns="mean_radius").to_parquet(RAW_DATA, index=False)
    assert main(["validate"]) == 1
    assert ": mean_radius (missing); report:" in capsys.readouterr().err
    report = json.loads(VALIDATION_FILE.read_text())
    assert report["failing_columns"] == ["mean_radius"]
    assert {e["error"] for e in report["expectations"] if e["column"] == "mean_radius"} == {"the column is missing"}


def test_a_failed_expectation_quotes_the_bad_values_and_rows(project):
    _with("clinic", slice(0, 4), "west")(CLEAN).to_parquet(RAW_DATA, index=False)
    main(["validate"])
    report = json.loads(VALIDATION_FILE.read_text())
    (entry,) = [e for e in report["expectations"] if e["column"] == "clinic" and e["kind"] == "categories"]
    assert entry["unexpected_count"] == 4
    assert entry["sample"] == ["west"] * 4
    assert entry["sample_rows"] == [0, 1, 2, 3]


def test_extra_columns_only_warn_when_the_policy_says_warn(project, write_params, capsys):
    write_params(
        project,
        data={"source": "sklearn:breast_cancer", "target": "diagnosis", "id_column": None},
        contract={"extra_columns": "warn"},
    )
    CLEAN.assign(surprise=1.0).to_parquet(RAW_DATA, index=False)
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "validate: warning: columns not in schema.yaml: surprise" in out
    report = json.loads(VALIDATION_FILE.read_text())
    assert report["success"] is True
    assert report["warnings"] == 1


def test_the_same_data_gives_the_same_report_bytes(project):
    main(["validate"])
    first = VALIDATION_FILE.read_bytes()
    main(["validate"])
    assert VALIDATION_FILE.read_bytes() == first


def test_a_broken_schema_is_an_error_not_a_verdict(project, capsys):
    contract = yaml.safe_load(SCHEMA_FILE.read_text())
    contract["columns"][0]["kind"] = "decimal"
    SCHEMA_FILE.write_text(yaml.safe_dump(contract))
    assert main(["validate"]) == 2
    assert "schema.yaml: columns.0.kind: Input should be" in capsys.readouterr().err


def test_a_schema_for_another_target_is_an_error(project, write_params, capsys):
    write_params(project, data={"source": "sklearn:breast_cancer", "target": "mean_radius", "id_column": None})
    assert main(["validate"]) == 2
    assert "run `make schema`" in capsys.readouterr().err
