from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.params import DriftParams, Params, window_start

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


def test_the_gate_metric_must_belong_to_the_task():
    with pytest.raises(ValidationError, match="'roc_auc' is not a regression metric"):
        Params.model_validate({**VALID, "gate": {"metric": "roc_auc"}})
    assert Params.model_validate({**VALID, "gate": {"metric": "mae"}}).gate_metric == "mae"
    assert Params.model_validate(VALID).gate_metric == "rmse"  # the task's primary metric


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
