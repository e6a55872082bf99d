"""`tune` on a scratch project: deterministic with workers, blind to the test split, resumable, and it changes
train.params only when the gain is proven (tiny searches: 8 trials of 3 folds)."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from {{ cookiecutter.package_name }} import io
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import MODEL_FILE, TEST_DATA, TRAIN_DATA, TUNE_FILE, TUNE_JOURNAL
from {{ cookiecutter.package_name }}.pipeline import train as train_module
from {{ cookiecutter.package_name }}.pipeline import tune

from conftest import _customers, _write_params

TUNE = {
    "trials": 8,
    "folds": 3,
    "batch": 4,
    "startup_trials": 2,
    "space": {
        "C": {"low": 0.01, "high": 10.0, "log": True},
        "class_weight": {"choices": [None, "balanced"]},
    },
}


def split_project(folder: Path, customers: pd.DataFrame, write_params, **sections) -> Path:
    customers.to_csv(folder / "customers.csv", index=False)
    write_params(folder, tune=TUNE, **sections)
    for command in ("ingest", "schema", "split"):
        assert main([command]) == 0, command
    return folder


def trial_table() -> list[dict]:
    return json.loads(TUNE_FILE.read_text())["trials"]


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The customers' train split, and the trial table of one search with one worker (the reference)."""
    folder = tmp_path_factory.mktemp("tune")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        split_project(folder, _customers(), _write_params)
        assert main(["tune", "--workers", "1"]) == 0
        table = trial_table()
    shutil.rmtree(folder / "reports")
    return folder, table


@pytest.fixture
def project(searched, tmp_path, monkeypatch) -> Path:
    """A copy of the split project, no search run yet, as the working directory."""
    shutil.copytree(searched[0], tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def test_two_seeded_searches_with_two_workers_give_the_same_trial_table(project, searched):
    assert main(["tune", "--workers", "2"]) == 0
    report = json.loads(TUNE_FILE.read_text())
    contract = {"best_params", "best_score", "best_score_se", "current_score", "applied", "trials", "pruned", "seed"}
    assert contract <= set(report)
    assert (len(report["trials"]), report["seed"], report["applied"]) == (8, 7, False)
    assert {p.name for p in (project / "reports").iterdir()} >= {"tune.json", "tune.md", "tune.png", "tune.journal"}
    first = trial_table()
    shutil.rmtree(project / "reports")
    assert main(["tune", "--workers", "2"]) == 0
    assert trial_table() == first
    assert first == searched[1]  # and one worker's: the workers evaluate, they never change what is asked


class Spy(LogisticRegression):
    """Records the rows of every matrix it is fitted on or scores."""

    seen: list[tuple[str, int, float]] = []

    def fit(self, X, y, sample_weight=None):
        Spy.seen.append(("fit", X.shape[0], float(abs(X).max())))
        return super().fit(X, y, sample_weight)

    def predict_proba(self, X):
        Spy.seen.append(("score", X.shape[0], float(abs(X).max())))
        return super().predict_proba(X)


def test_the_search_never_sees_a_test_row(project, monkeypatch):
    # The test rows carry a value no train row comes near: scaled with the train split's statistics, any of them
    # in a fitted or scored matrix would stand out by thousands of standard deviations.
    test = pd.read_parquet(TEST_DATA).assign(tenure_months=100_000.0)
    test.to_parquet(TEST_DATA)
    train_rows = len(pd.read_parquet(TRAIN_DATA))
    read = []
    original_read = io.read_table
    monkeypatch.setattr(io, "read_table", lambda path: read.append(Path(path)) or original_read(path))
    real = train_module.make_estimator
    monkeypatch.setattr(
        train_module,
        "make_estimator",
        lambda name, task, params, seed: (
            Spy(**params) if name == "logistic_regression" else real(name, task, params, seed)
        ),
    )
    Spy.seen.clear()
    assert main(["tune", "--workers", "1"]) == 0
    assert read == [TRAIN_DATA]
    assert Spy.seen
    assert max(largest for _, _, largest in Spy.seen) < 20
    assert all(rows < train_rows for _, rows, _ in Spy.seen)
    # each cross-validation scores every train row exactly once: the current params' is the first
    scored = [rows for kind, rows, _ in Spy.seen[:6] if kind == "score"]
    assert sum(scored) == train_rows


def test_apply_changes_only_train_params_and_the_pipeline_trains_with_them(workdir, write_params):
    regression = {
        "task": "regression",
        "data": {"source": "sklearn:diabetes", "target": "progression", "id_column": None},
        "train": {"estimator": "ridge", "params": {"alpha": 10000.0}},  # far too strong: it predicts the mean
        "tune": {**TUNE, "space": {"alpha": {"low": 0.01, "high": 100.0, "log": True}}},
    }
    write_params(workdir, **regression)
    for command in ("ingest", "schema", "split"):
        assert main([command]) == 0
    before = Path("params.yaml").read_text()
    assert main(["tune", "--apply", "--workers", "1"]) == 0
    report = json.loads(TUNE_FILE.read_text())
    assert report["applied"] is True
    assert report["improvement"] > report["best_score_se"]
    after = Path("params.yaml").read_text()
    changed = [(old, new) for old, new in zip(before.splitlines(), after.splitlines(), strict=True) if old != new]
    assert changed == [("    alpha: 10000.0", f"    alpha: {report['best_params']['alpha']}")]
    assert main(["train"]) == 0
    assert io.load_model(MODEL_FILE)[-1].alpha == report["best_params"]["alpha"]


def test_on_permuted_labels_apply_changes_nothing(workdir, customers, write_params):
    labels = customers["Churn"].to_numpy()
    customers["Churn"] = np.random.default_rng(0).permutation(labels)
    split_project(workdir, customers, write_params)
    before = Path("params.yaml").read_bytes()
    assert main(["tune", "--apply", "--workers", "1"]) == 0
    report = json.loads(TUNE_FILE.read_text())
    assert report["applied"] is False
    assert report["justified"] is False
    assert Path("params.yaml").read_bytes() == before


def test_a_killed_run_resumes_to_its_budget_with_the_same_trials(project, searched, monkeypatch, capsys):
    calls = []
    original = tune.evaluate

    def killed_on_the_sixth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:  # the current params, then trial 0-3 of the first batch, then trial 4: killed
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(tune, "evaluate", killed_on_the_sixth)
    assert main(["tune", "--workers", "1"]) == 130
    assert not TUNE_FILE.exists()
    assert TUNE_JOURNAL.is_file()
    monkeypatch.setattr(tune, "evaluate", original)
    capsys.readouterr()
    assert main(["tune", "--workers", "1"]) == 0
    assert "resuming the study (4 trials finished)" in capsys.readouterr().out
    assert trial_table() == searched[1]


def test_a_run_stops_at_its_timeout_and_still_reports(project):
    assert main(["tune", "--workers", "1", "--timeout", "0.001"]) == 0
    report = json.loads(TUNE_FILE.read_text())
    assert report["budget"]["stopped_by"] == "timeout"
    assert report["trials"] == []
    assert report["decision"] == "no trial completed: train.params unchanged"


def test_a_trial_past_the_deadline_is_cut_before_its_next_fold(project):
    params = tune.load_params()
    data, _ = tune.load_folds(params)
    cut = tune.evaluate(data, {"C": 1.0}, deadline=time.monotonic() - 1)
    assert (cut.state, cut.scores) == ("cut", ())


def test_errors_are_one_line_and_exit_2(project, capsys):
    _write_params(project, tune={**TUNE, "space": {"alpha": {"low": 0.1, "high": 1.0}}})
    assert main(["tune"]) == 2
    assert "LogisticRegression has no argument 'alpha'" in capsys.readouterr().err
    TRAIN_DATA.unlink()
    _write_params(project, tune=TUNE)
    assert main(["tune"]) == 2
    assert "run the pipeline first" in capsys.readouterr().err
