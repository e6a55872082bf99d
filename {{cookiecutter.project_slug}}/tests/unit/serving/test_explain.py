"""POST /explain's contributions (serving/explain.py): additive to the model's own raw output within 1e-6 for every
linear and tree estimator of estimators.py, per original feature, and a clear refusal for other models."""

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.serving.explain import SHAP_ONLY, Explainer, NotExplainable, reference, unused_packages

ROWS = 160


def table(seed: int = 0) -> pd.DataFrame:
    """Two numbers (nulls among them), a category with a rare value (one-hot, infrequent column) and a boolean."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro", "rare"], ROWS, p=[0.45, 0.3, 0.23, 0.02])
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, ROWS).astype(float),
            "charges": rng.normal(60, 20, ROWS).round(2),
            "plan": pd.Series(plan, dtype="str"),
            "paperless": rng.random(ROWS) < 0.5,
        }
    )
    frame["charges"] = frame["charges"].mask(frame.index % 9 == 0)
    score = 0.04 * frame["tenure"] - frame["plan"].map({"basic": 1.0, "plus": 0.0, "pro": -1.0, "rare": 2.0})
    noise = rng.normal(0, 0.7, ROWS)
    frame["value"] = score + noise
    frame["binary"] = np.where(score + noise > score.median(), "yes", "no")
    frame["three"] = pd.cut(score + noise, 3, labels=["low", "mid", "high"]).astype(str)
    return frame


def fit(task: str, target: str, estimator: str, arguments: dict) -> tuple[object, pd.DataFrame]:
    from {{ cookiecutter.package_name }}.params import Params
    from {{ cookiecutter.package_name }}.pipeline.train import train

    params = Params.model_validate(
        {
            "task": task,
            "data": {"source": "x.csv", "target": target},
            "train": {"estimator": estimator, "params": arguments},
        }
    )
    frame = table()
    features = frame[["tenure", "charges", "plan", "paperless"]]
    return train(features, frame[target], params), features


CASES = [
    ("classification", "binary", "logistic_regression", {}),
    ("classification", "binary", "random_forest", {"n_estimators": 15}),
    ("classification", "binary", "hist_gradient_boosting", {"max_iter": 15}),
    ("classification", "three", "logistic_regression", {}),
    ("classification", "three", "random_forest", {"n_estimators": 15}),
    ("classification", "three", "hist_gradient_boosting", {"max_iter": 15}),
    ("regression", "value", "ridge", {}),
    ("regression", "value", "linear_regression", {}),
    ("regression", "value", "random_forest", {"n_estimators": 15}),
    ("regression", "value", "hist_gradient_boosting", {"max_iter": 15}),
]


@pytest.mark.parametrize(("task", "target", "estimator", "arguments"), CASES, ids=lambda c: str(c)[:20])
def test_base_value_plus_contributions_is_the_models_raw_output(task, target, estimator, arguments):
    model, features = fit(task, target, estimator, arguments)
    explainer = Explainer(model, list(features.columns), reference(model, features))
    rows = table(seed=1).loc[:, features.columns]  # rows the model never saw
    explanation = explainer.explain(rows)

    assert explanation.contributions.shape == (ROWS, 4)  # per original feature: plan's one-hot columns summed
    added = explanation.base_values + explanation.contributions.sum(axis=1)
    raw = explainer.raw_output(rows)
    if raw.shape[1] == 1:
        expected = raw[:, 0]
    elif raw.shape[1] == 2:  # a binary forest: the second class's probability
        expected = raw[:, 1]
    else:  # each row's predicted class
        assert explanation.classes == list(model.predict(rows))
        expected = raw[np.arange(ROWS), raw.argmax(axis=1)]
    assert np.abs(added - expected).max() < 1e-6
    assert np.abs(explanation.outputs - expected).max() < 1e-6
    if target == "binary":
        assert explanation.classes == ["yes"] * ROWS
    assert (np.abs(explanation.contributions[:, 2]) > 0).any()  # plan drives every model


def test_a_linear_models_contributions_are_coefficients_times_the_distance_from_the_training_mean():
    model, features = fit("regression", "value", "ridge", {})
    explainer = Explainer(model, list(features.columns), reference(model, features))
    explanation = explainer.explain(features)
    # Over the training rows the contributions average to zero and the base value is the mean prediction.
    assert np.abs(explanation.contributions.mean(axis=0)).max() < 1e-9
    assert explanation.base_values[0] == pytest.approx(model.predict(features).mean(), abs=1e-9)
    assert explanation.classes is None


def test_a_model_that_is_neither_linear_nor_trees_is_refused_with_its_name():
    model, features = fit("classification", "binary", "dummy", {})
    with pytest.raises(NotExplainable, match="DummyClassifier is neither a linear model nor a tree ensemble"):
        Explainer(model, list(features.columns), reference(model, features))


def test_a_linear_model_without_its_reference_point_says_to_package_it_again():
    model, features = fit("classification", "binary", "logistic_regression", {})
    with pytest.raises(NotExplainable, match="package it again"):
        Explainer(model, list(features.columns), None)


def test_a_bento_of_a_tree_model_keeps_shap_and_one_of_another_model_leaves_it_out():
    # `make build` leaves these out of the bento's requirements: the image is ~190 MB smaller without them
    forest, _ = fit("classification", "binary", "random_forest", {"n_estimators": 3})
    linear, _ = fit("regression", "value", "ridge", {})
    other, _ = fit("classification", "binary", "dummy", {})
    assert unused_packages(forest) == ()
    assert unused_packages(linear) == unused_packages(other) == SHAP_ONLY == ("shap", "numba", "llvmlite", "slicer")
