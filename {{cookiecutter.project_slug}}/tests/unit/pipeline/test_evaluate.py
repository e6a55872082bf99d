import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from {{ cookiecutter.package_name }}.pipeline.evaluate import evaluate, plot_data


@pytest.fixture
def separable():
    features = pd.DataFrame({"x": np.linspace(-3, 3, 60)})
    labels = pd.Series(np.where(features["x"] > 0, "yes", "no"))
    return features, labels


def test_a_perfect_classifier_scores_one(separable):
    features, labels = separable
    scores = evaluate(LogisticRegression().fit(features, labels), features, labels, "classification")
    assert scores["accuracy"] == 1.0
    assert scores["roc_auc"] == 1.0
    assert set(scores) == {"accuracy", "balanced_accuracy", "f1_macro", "log_loss", "roc_auc"}


def test_a_constant_classifier_has_chance_auc(separable):
    features, labels = separable
    scores = evaluate(DummyClassifier().fit(features, labels), features, labels, "classification")
    assert scores["roc_auc"] == 0.5


def test_regression_metrics():
    features = pd.DataFrame({"x": np.arange(20.0)})
    actual = pd.Series(2 * features["x"] + 1)
    scores = evaluate(LinearRegression().fit(features, actual), features, actual, "regression")
    assert scores["r2"] == 1.0
    assert scores["rmse"] == pytest.approx(0.0, abs=1e-6)


def test_binary_plot_data_has_roc_and_precision_recall_tables(separable):
    features, labels = separable
    tables = plot_data(LogisticRegression().fit(features, labels), features, labels, "classification")
    assert set(tables) == {"predictions.csv", "roc.csv", "precision_recall.csv"}
    assert tables["roc.csv"][["fpr", "tpr"]].iloc[-1].tolist() == [1.0, 1.0]


def test_permutation_importance_is_seeded_and_ranks_the_informative_feature_first(monkeypatch):
    from {{ cookiecutter.package_name }}.pipeline import evaluate as module

    rng = np.random.default_rng(0)
    features = pd.DataFrame({"signal": rng.normal(size=300), "noise": rng.normal(size=300)})
    labels = pd.Series(np.where(features["signal"] + rng.normal(0, 0.5, 300) > 0, "yes", "no"))
    model = LogisticRegression().fit(features, labels)
    first = module.permutation_table(model, features, labels, "classification", "roc_auc", seed=1)
    assert first.equals(module.permutation_table(model, features, labels, "classification", "roc_auc", seed=1))
    assert not first.equals(module.permutation_table(model, features, labels, "classification", "roc_auc", seed=2))
    assert list(first["feature"]) == ["signal", "noise"]
    assert (first["low"] <= first["importance"]).all()
    assert (first["importance"] <= first["high"]).all()
    assert first["low"].iloc[0] > 0.1
    assert set(first["rows"]) == {300}
    regression = LinearRegression().fit(features, features["signal"] * 3)
    table = module.permutation_table(regression, features, features["signal"] * 3, "regression", "rmse", seed=1)
    assert table["feature"].iloc[0] == "signal"
    assert table["importance"].iloc[0] > 1  # rmse grows when it is shuffled: a positive loss
    monkeypatch.setattr(module, "IMPORTANCE_ROWS", 100)  # a larger split is sampled, and the table says so
    assert set(module.permutation_table(model, features, labels, "classification", "roc_auc", 1)["rows"]) == {100}
