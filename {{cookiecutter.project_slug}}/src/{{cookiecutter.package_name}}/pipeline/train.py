"""Train one scikit-learn Pipeline (preprocessing + the estimator named in params.yaml).

The pipeline takes the raw feature columns. Numeric ones are imputed (median) and scaled; categorical
ones (strings, booleans) are one-hot encoded with missing values as a category of their own, rare and
surplus categories folded into one "infrequent" column (train.one_hot), and unknown ones ignored. The
encoding is sparse whenever the estimator accepts sparse input, so wide categories stay cheap.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .. import io
from ..columns import feature_columns, split_by_treatment
from ..errors import ProjectError
from ..params import MODEL_FILE, TRAIN_DATA, OneHotParams, Params, load_params

# Short names for train.estimator, per task. Any import path works too.
ESTIMATORS = {
    "classification": {
        "logistic_regression": "sklearn.linear_model.LogisticRegression",
        "random_forest": "sklearn.ensemble.RandomForestClassifier",
        "hist_gradient_boosting": "sklearn.ensemble.HistGradientBoostingClassifier",
        "dummy": "sklearn.dummy.DummyClassifier",
    },
    "regression": {
        "ridge": "sklearn.linear_model.Ridge",
        "linear_regression": "sklearn.linear_model.LinearRegression",
        "random_forest": "sklearn.ensemble.RandomForestRegressor",
        "hist_gradient_boosting": "sklearn.ensemble.HistGradientBoostingRegressor",
        "dummy": "sklearn.dummy.DummyRegressor",
    },
}


def resolve_estimator(name: str, task: str) -> type[BaseEstimator]:
    """The estimator class for a short name or an import path such as `sklearn.svm.SVC`."""
    path = ESTIMATORS[task].get(name, name)
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ProjectError(
            f"train.estimator {name!r} is neither a short name ({', '.join(ESTIMATORS[task])}) nor an import path"
        )
    try:
        estimator = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise ProjectError(f"train.estimator {name!r}: cannot import {path}") from None
    if not (inspect.isclass(estimator) and hasattr(estimator, "fit")):
        raise ProjectError(f"train.estimator {name!r}: {path} is not an estimator class")
    return estimator


def make_estimator(name: str, task: str, estimator_params: dict[str, Any], seed: int) -> BaseEstimator:
    """Instantiate the estimator; seed it from params.yaml unless train.params sets random_state."""
    estimator_class = resolve_estimator(name, task)
    kwargs = dict(estimator_params)
    if "random_state" in estimator_class().get_params() and "random_state" not in kwargs:
        kwargs["random_state"] = seed
    try:
        return estimator_class(**kwargs)
    except TypeError as exc:
        raise ProjectError(f"train.params do not fit {estimator_class.__name__}: {exc}") from None


def accepts_sparse(estimator: BaseEstimator) -> bool:
    """Whether the estimator takes sparse input (scikit-learn's tags; HistGradientBoosting does not)."""
    try:
        return bool(estimator.__sklearn_tags__().input_tags.sparse)
    except AttributeError:  # an estimator from outside scikit-learn without tags: give it dense input
        return False


def make_preprocessor(features: pd.DataFrame, one_hot: OneHotParams, sparse: bool) -> ColumnTransformer:
    """Impute and scale numeric columns; one-hot encode categorical ones (bounded, sparse when `sparse`)."""
    numeric, categorical = split_by_treatment(features)
    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        min_frequency=one_hot.min_frequency,
        max_categories=one_hot.max_categories,
        sparse_output=sparse,
    )
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categorical", encoder, categorical),
        ],
        sparse_threshold=0.3 if sparse else 0.0,
        verbose_feature_names_out=False,
    )


def train(features: pd.DataFrame, target: pd.Series, params: Params) -> Pipeline:
    """Fit preprocessing + estimator on raw feature columns; returns the fitted Pipeline."""
    if features.empty:
        raise ProjectError("no training rows")
    if target.isna().any():
        raise ProjectError(f"target {target.name!r} has {int(target.isna().sum())} missing values")
    estimator = make_estimator(params.train.estimator, params.task, params.train.params, params.seed)
    preprocessor = make_preprocessor(features, params.train.one_hot, accepts_sparse(estimator))
    pipeline = Pipeline([("preprocess", preprocessor), ("model", estimator)])
    try:
        with np.errstate(all="ignore"):
            return pipeline.fit(features, target)
    except ValueError as exc:
        raise ProjectError(f"training {type(estimator).__name__} failed: {exc}") from None


def train_command(args: argparse.Namespace) -> int:
    """`train`: fit on the train split, write models/model.joblib."""
    params = load_params()
    frame = io.read_table(TRAIN_DATA)
    columns = feature_columns(frame.columns, params.data.target, params.data.id_column)
    numeric, categorical = split_by_treatment(frame[columns])
    started = time.perf_counter()
    model = train(frame[columns], frame[params.data.target], params)
    io.save_model(model, MODEL_FILE)
    print(
        f"train: {type(model[-1]).__name__} on {len(frame)} rows x {len(columns)} features "
        f"({len(numeric)} numeric, {len(categorical)} categorical) in {time.perf_counter() - started:.1f} s "
        f"-> {MODEL_FILE} ({MODEL_FILE.stat().st_size / 1024:.0f} KiB)"
    )
    return 0
