import pickle

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.columns import feature_columns, split_by_treatment
from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.estimators import make_estimator, resolve_estimator
from {{ cookiecutter.package_name }}.params import Params
from {{ cookiecutter.package_name }}.pipeline.data import normalise_columns
from {{ cookiecutter.package_name }}.pipeline.train import train


def params_for(estimator: str = "logistic_regression", **estimator_params: object) -> Params:
    return Params.model_validate(
        {
            "seed": 5,
            "task": "classification",
            "data": {"source": "unused.csv", "target": "churn", "id_column": "customer_id"},
            "train": {"estimator": estimator, "params": estimator_params},
        }
    )


@pytest.fixture
def table(customers):
    frame = normalise_columns(customers)
    return frame[feature_columns(frame.columns, "churn", "customer_id")], frame["churn"]


def test_short_names_and_import_paths_resolve_to_the_same_class():
    assert resolve_estimator("random_forest", "classification") is resolve_estimator(
        "sklearn.ensemble.RandomForestClassifier", "classification"
    )


@pytest.mark.parametrize("name", ["no_such_model", "sklearn.linear_model.NoSuchModel", "sklearn.datasets.load_iris"])
def test_unknown_estimators_are_a_clear_error(name):
    with pytest.raises(ProjectError, match=f"train.estimator '{name}'"):
        resolve_estimator(name, "classification")


def test_estimator_is_seeded_from_params_unless_params_set_it():
    assert make_estimator("random_forest", "classification", {}, seed=11).random_state == 11
    assert make_estimator("random_forest", "classification", {"random_state": 1}, seed=11).random_state == 1


def test_bad_estimator_params_name_the_estimator():
    with pytest.raises(ProjectError, match="do not fit Ridge"):
        make_estimator("ridge", "regression", {"no_such_argument": 1}, seed=0)


def test_columns_are_split_into_numeric_and_categorical(table):
    features, _ = table
    assert split_by_treatment(features) == (["tenure_months", "monthly_charges"], ["plan_type"])


def test_model_takes_raw_columns_with_missing_values_and_string_labels(table):
    features, target = table
    model = train(features, target, params_for())
    assert set(model.predict(features)) <= {"yes", "no"}
    assert (model.predict(features) == target).mean() > 0.6


def test_model_tolerates_missing_and_unseen_values_at_prediction_time(table):
    features, target = table
    model = train(features, target, params_for())
    odd = pd.DataFrame({"tenure_months": [None], "plan_type": ["enterprise"], "monthly_charges": [70.0]})
    assert model.predict_proba(odd[features.columns]).shape == (1, 2)


def test_one_hot_columns_are_bounded_and_sparse_where_the_estimator_takes_it(table):
    features, target = table
    wide = features.assign(plan_type=[f"plan {i % 40}" for i in range(len(features))])  # 40 plans, 5 rows each
    model = train(wide, target, params_for())
    encoded = model[0].transform(wide)
    plan_columns = [name for name in model[0].get_feature_names_out() if name.startswith("plan_type")]
    assert len(plan_columns) == 30  # train.one_hot.max_categories, the infrequent column included
    assert hasattr(encoded, "toarray")  # logistic regression takes sparse input
    dense = train(wide, target, params_for("hist_gradient_boosting", max_iter=10))
    assert not hasattr(dense[0].transform(wide), "toarray")  # HistGradientBoosting does not


def test_boolean_features_train_as_categories(table):
    features, target = table
    flagged = features.assign(member=[i % 3 == 0 for i in range(len(features))])
    model = train(flagged, target, params_for())
    assert "member_True" in model[0].get_feature_names_out()
    assert model.predict(flagged.head(2)).shape == (2,)


def test_training_twice_gives_identical_model_bytes(table):
    features, target = table
    first = train(features, target, params_for("random_forest", n_estimators=20))
    second = train(features, target, params_for("random_forest", n_estimators=20))
    assert pickle.dumps(first) == pickle.dumps(second)


def test_missing_labels_are_refused(table):
    features, target = table
    target = target.copy()
    target.iloc[0] = None
    with pytest.raises(ProjectError, match="target 'churn' has 1 missing values"):
        train(features, target, params_for())
