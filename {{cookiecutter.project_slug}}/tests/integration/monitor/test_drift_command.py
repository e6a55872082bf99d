"""The drift command on a scratch folder: reports, exit codes, inputs and the demo samples."""

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.io import read_records
from {{ cookiecutter.package_name }}.monitor import drift_report
from {{ cookiecutter.package_name }}.params import DRIFT_FILE, DRIFT_PLOTS_DIR, DRIFT_REPORT, TEST_DATA, TRAIN_DATA

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "make_drift_sample.py"


def make_drift_sample(*argv: str) -> int:
    """Run scripts/make_drift_sample.py in this process (a subprocess would pay the imports again)."""
    spec = importlib.util.spec_from_file_location("make_drift_sample", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(list(argv))


def table(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Churn-like data: two numeric features, one categorical, and the target."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure_months": rng.normal(30 + 15 * shift, 15, rows).round(1),
            "monthly_charges": rng.normal(60, 15, rows).round(2),
            "plan_type": rng.choice(np.array(["basic", "plus", "pro"]), rows, p=[0.5, 0.3, 0.2]),
            "churn": rng.choice(np.array(["yes", "no"]), rows),
        }
    )


def logged(frame: pd.DataFrame, when: datetime, traffic: str = store.LIVE, first_id: int = 0) -> pd.DataFrame:
    """Rows as the service logs them: the feature columns, then the store's own fields."""
    return frame.drop(columns="churn").assign(
        **{
            store.ID: [f"r{first_id + i}" for i in range(len(frame))],
            store.TS: when.isoformat(),
            store.MODEL_VERSION: "my_model:v1",
            store.PREDICTION: "no",
            store.TRAFFIC: traffic,
            store.UNKNOWN: "",
        }
    )


def write_store(rows: pd.DataFrame, root: Path = Path("logs")) -> None:
    """One Parquet part of predictions in the store (monitor.store defaults to logs/)."""
    when = datetime.fromisoformat(rows[store.TS].iloc[0])
    store.write_part(
        str(root), store.PREDICTIONS, pa.Table.from_pandas(rows, preserve_index=False), when, "my_model:v1"
    )


def write_logs(frame: pd.DataFrame, path: Path, first_id: int = 0) -> None:
    """A table of logged rows as JSON lines (an export of the store, say)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = logged(frame, datetime(2026, 11, 24, 10, tzinfo=UTC), first_id=first_id)
    rows.to_json(path, orient="records", lines=True)


@pytest.fixture
def project(workdir, write_params):
    write_params(workdir)
    TRAIN_DATA.parent.mkdir(parents=True)
    table(600, seed=0).to_parquet(TRAIN_DATA)
    return workdir


def test_by_default_the_stores_live_traffic_of_the_window_is_checked_and_its_fields_ignored(project, capsys):
    now = datetime.now(UTC)
    write_store(logged(table(400, seed=1), now - timedelta(hours=1)))
    write_store(logged(table(400, seed=9, shift=3.0), now - timedelta(days=9), first_id=1000))  # before the window
    write_store(logged(table(50, seed=8, shift=3.0), now - timedelta(hours=2), store.TEST, first_id=2000))
    assert main(["drift"]) == 0
    assert "drift: no drift: 0 of 3 features drifted" in capsys.readouterr().out
    report = json.loads(DRIFT_FILE.read_text())
    assert report["drift"] is False
    assert report["verdict"] == "no drift"
    assert set(report["features"]) == {"tenure_months", "monthly_charges", "plan_type"}
    # no model: the prediction is not tested; these rows carry no probabilities
    assert set(report["ignored_columns"]) == {"churn", *store.LOG_FIELDS} - {store.PROBABILITIES}
    assert report["rows"] == {"reference": 600, "current": 400}
    assert "live predictions since" in report["sources"]["current"]
    assert not list(DRIFT_PLOTS_DIR.glob("*.png"))
    assert main(["drift", "--since", "30d"]) == 1  # the older, shifted traffic is in a 30-day window


def test_too_few_distinct_records_is_not_enough_data_and_exit_0(project, capsys):
    now = datetime.now(UTC)
    rows = logged(table(40, seed=1, shift=3.0), now - timedelta(hours=3))
    write_store(rows)
    write_store(rows.assign(**{store.TS: (now - timedelta(hours=1)).isoformat()}))  # the same 40 ids again
    write_store(logged(table(30, seed=2, shift=3.0), now, store.TEST, first_id=100))
    assert main(["drift"]) == 0
    out = capsys.readouterr().out
    assert "drift: not enough data: 40 distinct current rows, fewer than drift.min_rows 50; no verdict" in out
    report = json.loads(DRIFT_FILE.read_text())
    assert report["verdict"] == "not enough data"
    assert report["drift"] is False
    assert report["rows"]["current"] == 40
    assert "**Not enough data**: 40 distinct current rows" in DRIFT_REPORT.read_text()
    assert main(["drift", "--since", "yesterday"]) == 2
    assert "--since: 'yesterday' is not a window length" in capsys.readouterr().err


def test_shifted_data_exits_1_with_a_readable_report_and_one_plot_per_drifted_feature(project, capsys):
    table(400, seed=1, shift=1.0).to_parquet(project / "current.parquet")
    assert main(["drift", "--current", "current.parquet"]) == 1
    assert "drift: drift found: 1 of 3 features drifted (33%" in capsys.readouterr().out
    report = json.loads(DRIFT_FILE.read_text())
    assert report["drifted_features"] == ["tenure_months"]
    assert report["features"]["tenure_months"]["drift"] is True
    assert report["features"]["monthly_charges"]["drift"] is False
    assert report["target"]["drift"] is False  # both sides have the target: tested, not a feature
    assert [p.name for p in DRIFT_PLOTS_DIR.glob("*.png")] == ["tenure_months.png"]
    assert (DRIFT_PLOTS_DIR / "tenure_months.png").read_bytes()[:4] == b"\x89PNG"
    markdown = DRIFT_REPORT.read_text()
    assert "**Drift found**: 1 of 3 features drifted" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `tenure_months` | numeric | **yes** |")
    assert "[png](drift/tenure_months.png)" in rows[0]


def test_only_the_most_severe_drifted_columns_are_plotted_and_the_report_says_so(project, monkeypatch):
    monkeypatch.setattr(drift_report, "MAX_PLOTS", 1)
    shifted = table(400, seed=1, shift=1.0)
    shifted["monthly_charges"] += 30  # two standard deviations: more severe than tenure's one
    shifted.to_parquet(project / "current.parquet")
    assert main(["drift", "--current", "current.parquet"]) == 1
    assert sorted(json.loads(DRIFT_FILE.read_text())["drifted_features"]) == ["monthly_charges", "tenure_months"]
    assert [p.name for p in DRIFT_PLOTS_DIR.glob("*.png")] == ["monthly_charges.png"]
    assert "Plotted: 1 of the 2 drifted columns, the most severe (at most 1)." in DRIFT_REPORT.read_text()


def test_a_later_clean_run_removes_the_plots_of_an_earlier_drift(project):
    table(400, seed=1, shift=1.0).to_parquet(project / "shifted.parquet")
    table(400, seed=2).to_parquet(project / "clean.parquet")
    assert main(["drift", "--current", "shifted.parquet"]) == 1
    assert main(["drift", "--current", "clean.parquet"]) == 0
    assert not list(DRIFT_PLOTS_DIR.glob("*.png"))


def test_a_glob_reads_every_log_file(project):
    write_logs(table(150, seed=1), project / "logs/a.jsonl")
    write_logs(table(250, seed=2), project / "logs/b.jsonl", first_id=150)
    assert main(["drift", "--current", "logs/*.jsonl"]) == 0
    assert json.loads(DRIFT_FILE.read_text())["rows"]["current"] == 400
    write_logs(table(100, seed=3), project / "logs/c.jsonl")  # the ids of a.jsonl's first 100 rows, again
    assert main(["drift", "--current", "logs/*.jsonl"]) == 0
    assert json.loads(DRIFT_FILE.read_text())["rows"]["current"] == 400  # a record counts once


def test_floats_in_json_lines_read_back_exactly(project):
    # A binary feature as scikit-learn scales it: off by 1e-17 it would be a new value, and drift.
    sex = [-0.044641636506989144, 0.05068011873981862]
    pd.DataFrame({"sex": np.repeat(sex, 300)}).to_parquet(project / "reference.parquet")
    lines = "".join(json.dumps({"sex": value, store.TS: "2026-11-24"}) + "\n" for value in sex * 100)
    (project / "current.jsonl").write_text(lines)
    assert main(["drift", "--reference", "reference.parquet", "--current", "current.jsonl"]) == 0
    assert json.loads(DRIFT_FILE.read_text())["features"]["sex"]["ks_statistic"] == 0.0


def test_json_lines_keep_date_strings_as_text_even_where_they_first_appear_late(project):
    # pyarrow infers the types from the first block (1 MB) and would read ISO dates as timestamps
    rows = [{"x": 0.5, "signup": None}] * 60_000 + [{"x": 0.25, "signup": "2026-01-01"}]
    path = project / "late.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    frame = read_records(str(path))
    assert path.stat().st_size > 2**20
    assert len(frame) == 60_001
    assert frame["signup"].iloc[-1] == "2026-01-01"
    assert frame["x"].iloc[-1] == 0.25


def test_a_json_lines_column_of_numbers_and_text_exits_2_naming_it(project, capsys):
    lines = "".join(json.dumps({"tenure_months": 3.5, "ts": "2026-11-24"}) + "\n" for _ in range(5))
    (project / "current.jsonl").write_text(lines + json.dumps({"tenure_months": "n/a"}) + "\n")
    assert main(["drift", "--current", "current.jsonl"]) == 2
    assert "cannot read JSON lines: JSON parse error: Column(/tenure_months) changed from number to string" in (
        capsys.readouterr().err
    )


def test_any_two_tables_with_the_same_columns_can_be_compared(project):
    table(300, seed=3).to_csv(project / "a.csv", index=False)
    table(300, seed=4, shift=1.0).to_csv(project / "b.csv", index=False)
    assert main(["drift", "--reference", "a.csv", "--current", "b.csv"]) == 1


def test_different_columns_exit_2_in_one_line_and_write_nothing(project, capsys):
    table(300, seed=1).rename(columns={"plan_type": "plan"}).to_parquet(project / "current.parquet")
    assert main(["drift", "--current", "current.parquet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "only in reference: plan_type; only in current: plan" in error
    assert not DRIFT_FILE.exists()
    assert not DRIFT_REPORT.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.parquet", None, "missing.parquet: file not found"),
        ("broken.jsonl", "{not json\n", "broken.jsonl: cannot read JSON lines"),
        ("broken.parquet", "not parquet", "broken.parquet: cannot read table"),
        ("logs/*.jsonl", None, "logs/*.jsonl: no file matches"),
    ],
)
def test_unreadable_current_data_exits_2_with_a_clear_message(project, capsys, name, content, message):
    if content is not None:
        (project / name).write_text(content)
    assert main(["drift", "--current", name]) == 2
    assert message in capsys.readouterr().err


def test_text_in_a_numeric_column_exits_2(project, capsys):
    current = table(100, seed=1).astype({"monthly_charges": "str"})
    current.loc[0, "monthly_charges"] = "n/a"
    current.to_parquet(project / "current.parquet")
    assert main(["drift", "--current", "current.parquet"]) == 2
    assert "column 'monthly_charges': the current values are not numeric" in capsys.readouterr().err


def test_the_contract_types_the_columns_when_it_lists_them(project):
    raw = Path("data/raw/data.parquet")
    raw.parent.mkdir(parents=True)
    table(600, seed=0).to_parquet(raw)
    assert main(["schema"]) == 0
    table(300, seed=1).to_parquet(project / "current.parquet")
    assert main(["drift", "--current", "current.parquet"]) == 0
    report = json.loads(DRIFT_FILE.read_text())
    assert report["types_from"] == "contract"
    assert report["features"]["plan_type"]["kind"] == "categorical"


def test_the_demo_samples_drift_and_do_not(workdir, write_params):
    write_params(workdir, data={"source": "sklearn:breast_cancer", "target": "diagnosis", "id_column": None})
    assert main(["ingest"]) == 0
    assert main(["schema"]) == 0
    assert main(["split"]) == 0
    assert make_drift_sample("shifted") == 0
    assert make_drift_sample("unshifted") == 0
    assert main(["drift", "--current", "data/drift/unshifted.jsonl"]) == 0
    assert main(["drift", "--current", "data/drift/shifted.jsonl"]) == 1
    report = json.loads(DRIFT_FILE.read_text())
    assert len(report["drifted_features"]) == 15
    assert report["share_drifted"] == 0.5
    assert report["prediction"] is None  # no model yet: the samples have no predictions


def test_logged_predictions_are_compared_with_the_models_predictions_on_the_test_split(workdir, write_params, capsys):
    write_params(workdir, data={"source": "sklearn:breast_cancer", "target": "diagnosis", "id_column": None})
    assert main(["ingest"]) == 0
    assert main(["schema"]) == 0
    assert main(["split"]) == 0
    assert main(["train"]) == 0
    assert make_drift_sample("shifted") == 0
    assert make_drift_sample("unshifted") == 0
    capsys.readouterr()
    assert main(["drift", "--current", "data/drift/unshifted.jsonl"]) == 0
    assert "; the prediction did not drift ->" in capsys.readouterr().out
    report = json.loads(DRIFT_FILE.read_text())
    # the unshifted sample is the test split, so its predictions are the reference's, row for row
    assert report["prediction"]["chi2"] == 0.0
    assert report["prediction"]["kind"] == "categorical"
    assert report["types_from"] == "contract"  # the prediction is typed as the target
    assert report["sources"]["prediction_rows"] == str(TEST_DATA)
    assert main(["drift", "--current", "data/drift/shifted.jsonl"]) == 1
    report = json.loads(DRIFT_FILE.read_text())
    assert report["prediction"]["drift"] is True
    assert "(prediction) | categorical | **yes**" in DRIFT_REPORT.read_text()
    # an explicit reference is compared as it is: it has no predictions, so none are tested
    assert main(["drift", "--reference", str(TRAIN_DATA), "--current", "data/drift/shifted.jsonl"]) == 1
    report = json.loads(DRIFT_FILE.read_text())
    assert report["prediction"] is None
    assert store.PREDICTION in report["ignored_columns"]
