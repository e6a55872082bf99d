"""The rows-to-model runner (serving/runner.py): the training dtypes, the pipeline's predictions, and the rows a model
cannot take."""

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.contract import ColumnSpec
from {{ cookiecutter.package_name }}.serving.runner import ModelRunner

from .test_schema import FEATURES


@pytest.fixture
def churn_model(make_customers):
    from {{ cookiecutter.package_name }}.params import Params
    from {{ cookiecutter.package_name }}.pipeline.data import normalise_columns
    from {{ cookiecutter.package_name }}.pipeline.train import train

    frame = normalise_columns(make_customers(120, 3)).drop(columns="customer_id")
    params = Params.model_validate(
        {
            "task": "classification",
            "data": {"source": "x.csv", "target": "churn"},
            "train": {"estimator": "logistic_regression", "params": {}},
        }
    )
    features = frame.drop(columns="churn")
    return train(features, frame["churn"], params), features


CHURN_FEATURES = [
    ColumnSpec("tenure_months", "float", nullable=True),
    ColumnSpec("plan_type", "string", nullable=True, categories=("basic", "plus", "pro")),
    ColumnSpec("monthly_charges", "float", nullable=False),
]


def test_runner_predicts_what_the_pipeline_predicts_with_nulls_and_strings(churn_model):
    model, features = churn_model
    rows = [tuple(None if pd.isna(value) else value for value in row) for row in features.itertuples(index=False)]
    outputs = ModelRunner(model, CHURN_FEATURES).predict(rows)
    assert [prediction for prediction, _ in outputs] == model.predict(features).tolist()
    probabilities = np.array([[proba[str(label)] for label in model.classes_] for _, proba in outputs])
    np.testing.assert_allclose(probabilities, model.predict_proba(features))


def test_runner_suspects_the_rows_its_preprocessing_turns_infinite():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 0.0]})
    model = make_pipeline(FunctionTransformer(np.square), LogisticRegression()).fit(frame, [0, 0, 1, 1])
    features = [ColumnSpec(name, "float", nullable=False) for name in ("x", "y")]
    rows = [(1.0, 2.0), (3.0, 1e200), (0.5, 0.5)]  # 1e200 squared overflows: finite in, infinite inside
    runner = ModelRunner(model, features)
    assert runner.suspects(rows) == [1]
    with pytest.raises(ValueError, match="infinity"):
        runner.predict(rows)
    assert len(runner.predict([rows[0], rows[2]])) == 2
    assert ModelRunner(Overflowing(), [ColumnSpec("x", "float", nullable=False)]).suspects([(1.0,)]) == []


def test_runner_builds_the_training_dtypes():
    runner = ModelRunner(type("Fake", (), {"predict": None})(), FEATURES)
    frame = runner.frame([(None, None, 1, 2, True, None, 0.5), (3.5, "pro", 2.5, 4, False, "Oslo", None)])
    assert list(frame.columns) == [spec.name for spec in FEATURES]
    assert frame.dtypes.astype(str).tolist() == ["float64", "str", "float64", "int64", "bool", "str", "float64"]
    assert frame["tenure_months"].isna().tolist() == [True, False]
    assert frame["plan_type"].isna().tolist() == [True, False]


class Overflowing:
    """A fake classifier whose probabilities overflow for a row with a huge first value."""

    classes_ = np.array(["no", "yes"])

    def predict_proba(self, frame):
        first = frame.iloc[:, 0].to_numpy(dtype=float)
        with np.errstate(over="ignore"):
            odds = np.exp(first)
        return np.column_stack([1 / (1 + odds), odds / (1 + odds)])


def test_a_model_output_that_is_not_finite_is_a_value_error_not_an_answer():
    runner = ModelRunner(Overflowing(), [ColumnSpec("x", "float", nullable=False)])
    assert runner.predict([(1.0,)])[0][0] == "yes"
    with pytest.raises(ValueError, match="not finite"):
        runner.predict([(1.0,), (1e6,)])
