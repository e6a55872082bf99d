import re
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from pydantic import ValidationError

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.params import DriftParams, GateParams, MonitorParams, Params, parse_params, window_start

VALID = {
    "task": "regression",
    "data": {"source": "sklearn:diabetes", "target": "progression"},
    "train": {"estimator": "ridge"},
}


def test_defaults_fill_optional_sections():
    params = Params.model_validate(VALID)
    assert params.split.test_size == 0.2
    assert params.data.id_column is None


def test_unknown_keys_are_refused():
    with pytest.raises(ValidationError, match="extra"):
        Params.model_validate({**VALID, "trian": {}})


def test_params_are_frozen():
    params = Params.model_validate(VALID)
    with pytest.raises(ValidationError):
        params.seed = 1


@pytest.mark.parametrize("test_size", [0, 1, 1.5])
def test_test_size_must_be_a_fraction(test_size):
    with pytest.raises(ValidationError):
        Params.model_validate({**VALID, "split": {"test_size": test_size}})


def check(raw: dict, estimator: bool = False) -> Params:
    return parse_params(yaml.safe_dump(raw), "params.yaml", estimator=estimator)


def test_the_gate_metric_must_belong_to_the_task():
    with pytest.raises(ProjectError, match="gate.metric 'roc_auc' is not a regression metric"):
        check({**VALID, "gate": {"metric": "roc_auc"}})
    assert check({**VALID, "gate": {"metric": "mae"}}).gate_metric == "mae"
    assert check(VALID).gate_metric == "rmse"  # the task's primary metric


def test_every_problem_is_reported_at_once_one_per_line():
    switched = {**VALID, "task": "classification", "gate": {"floor": 65}, "train": {"estimator": "ridge", "params": {}}}
    with pytest.raises(ProjectError) as raised:
        check(switched, estimator=True)
    lines = str(raised.value).splitlines()
    assert lines[0] == "params.yaml has 2 problems:"
    assert lines[1:] == [
        "  - gate.floor 65 is outside roc_auc's range [0, 1]",
        "  - train.estimator 'ridge' is neither a short name (logistic_regression, random_forest, "
        "hist_gradient_boosting, dummy) nor an import path (ridge is a regression estimator: is `task` right?)",
    ]


def test_structural_problems_are_all_listed_and_a_typo_gets_the_nearest_key():
    with pytest.raises(ProjectError) as raised:
        check({**VALID, "split": {"tset_size": 0.2}, "gate": {"margn": 0.1, "bootstrap": 5}})
    text = str(raised.value)
    assert text.startswith("params.yaml has 3 problems:")
    assert "split.tset_size: unknown key; did you mean 'split.test_size'?" in text
    assert "gate.margn: unknown key; did you mean 'gate.margin'?" in text
    assert "gate.bootstrap: Input should be greater than or equal to 100" in text


@pytest.mark.parametrize(
    ("task", "gate", "train", "problem"),
    [
        ("regression", {"floor": -1.0}, {"estimator": "ridge"}, "gate.floor -1: rmse is never negative"),
        (
            "regression",
            {},
            {"estimator": "ridge", "params": {"alpah": 1}},
            "train.params: Ridge has no argument 'alpah'; did you mean 'alpha'?",
        ),
        (
            "classification",
            {},
            {"estimator": "logistic_regression", "params": {"alpha": 1}},
            "train.params: LogisticRegression has no argument 'alpha'",
        ),
        (
            "classification",
            {},
            {"estimator": "sklearn.svm.LinearSVC"},
            "gate: roc_auc, log_loss need class probabilities, and LinearSVC has no predict_proba",
        ),
        (
            "regression",
            {},
            {"estimator": "sklearn.ensemble.RandomForestClassifier"},
            "RandomForestClassifier is a classifier, and task is regression",
        ),
    ],
)
def test_the_estimator_must_fit_the_task_its_arguments_and_the_gate(task, gate, train, problem):
    raw = {**VALID, "task": task, "gate": gate, "train": train}
    if task == "classification":
        raw["data"] = {"source": "x.csv", "target": "label"}
    with pytest.raises(ProjectError, match=re.escape(problem)):
        check(raw, estimator=True)
    if not problem.startswith("gate.floor"):
        check(raw, estimator=False)  # the estimator's checks alone find it (the fast commands skip them)


def test_the_drift_check_names_the_stores_prediction_field():
    assert DriftParams().prediction_column == store.PREDICTION  # params.py does not import the store
    assert DriftParams().current is None  # the store's live traffic


def test_a_window_starts_a_length_before_now_or_at_a_utc_date():
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert window_start("7d", now) == now - timedelta(days=7)
    assert window_start("90m", now) == now - timedelta(minutes=90)
    assert window_start("2026-11-24", now) == datetime(2026, 11, 24, tzinfo=UTC)
    with pytest.raises(ProjectError, match="'last week' is not a window length"):
        window_start("last week", now)


def test_gate_params_reject_a_negative_margin_and_an_unknown_metric():
    with pytest.raises(ValidationError):
        GateParams(margin=-0.1)
    with pytest.raises(ValidationError):
        GateParams(metric="precision")


@pytest.mark.parametrize("window", ["0d", "7", "1y", "-2d", "7 d"])
def test_a_window_is_a_whole_number_of_minutes_hours_days_or_weeks(window):
    with pytest.raises(ValidationError, match="is not a window length"):
        MonitorParams(window=window)
