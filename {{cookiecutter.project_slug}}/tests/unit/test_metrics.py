"""The metrics table and its one implementation, checked against scikit-learn's functions."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, Ridge

from {{ cookiecutter.package_name }}.metrics import METRICS, PRIMARY_METRIC, Predictions, task_metrics


def sklearn_classification(model, features: pd.DataFrame, actual: pd.Series) -> dict[str, float]:
    predicted, proba, classes = model.predict(features), model.predict_proba(features), list(model.classes_)
    scores = {
        "accuracy": sk.accuracy_score(actual, predicted),
        "balanced_accuracy": sk.balanced_accuracy_score(actual, predicted),
        "f1_macro": sk.f1_score(actual, predicted, average="macro"),
        "log_loss": sk.log_loss(actual, proba, labels=classes),
    }
    if len(classes) == 2:
        scores["roc_auc"] = sk.roc_auc_score(actual == classes[1], proba[:, 1])
    else:
        scores["roc_auc"] = sk.roc_auc_score(actual, proba, multi_class="ovr", labels=classes)
    return scores


def test_binary_metrics_equal_scikit_learn(customers):
    frame = customers.dropna().reset_index(drop=True)
    features, actual = frame[["Tenure Months", "Monthly Charges"]], frame["Churn"]
    for model in (LogisticRegression().fit(features, actual), DummyClassifier().fit(features, actual)):
        got = Predictions.from_model(model, features, actual, "classification").scores()
        assert got == pytest.approx(sklearn_classification(model, features, actual), abs=1e-9)


def test_multiclass_roc_auc_is_one_vs_rest_like_scikit_learn():
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150)})
    actual = pd.Series(np.where(features.a > 0.5, "x", np.where(features.b > 0, "y", "z")))
    model = LogisticRegression().fit(features, actual)
    got = Predictions.from_model(model, features, actual, "classification").scores()
    assert got == pytest.approx(sklearn_classification(model, features, actual), abs=1e-9)


def test_regression_metrics_equal_scikit_learn(customers):
    frame = customers.dropna().reset_index(drop=True)
    features, actual = frame[["Tenure Months"]], frame["Monthly Charges"]
    predicted = Ridge().fit(features, actual).predict(features)
    got = Predictions.from_arrays("regression", actual, predicted).scores()
    expected = {
        "rmse": sk.root_mean_squared_error(actual, predicted),
        "mae": sk.mean_absolute_error(actual, predicted),
        "r2": sk.r2_score(actual, predicted),
    }
    assert got == pytest.approx(expected, abs=1e-9)


def test_the_table_lists_each_task_metric_once_with_its_primary_one():
    for task in ("classification", "regression"):
        names = task_metrics(task)
        assert PRIMARY_METRIC[task] in names
        assert set(Predictions.from_arrays(task, [0, 1], [0, 1], np.eye(2), [0, 1]).scores()) == set(names)
    assert not METRICS["rmse"].higher_is_better
    assert METRICS["roc_auc"].higher_is_better
    assert [name for name, metric in METRICS.items() if metric.needs_probabilities] == ["roc_auc", "log_loss"]
