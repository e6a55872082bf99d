"""Train one scikit-learn Pipeline (preprocessing + the estimator named in params.yaml).

The pipeline takes the raw feature columns. Numeric ones are imputed (median) and scaled; categorical
ones (strings, booleans) are one-hot encoded with missing values as a category of their own, rare and
surplus categories folded into one "infrequent" column (train.one_hot), and unknown ones ignored. The
encoding is sparse whenever the estimator accepts sparse input, so wide categories stay cheap.
"""

from __future__ import annotations

import argparse
import time

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
from ..estimators import make_estimator
from ..params import MODEL_FILE, TRAIN_DATA, OneHotParams, Params, load_params


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


def check_target(target: pd.Series, task: str) -> None:
    """A target the task cannot learn is a ProjectError that says what the column holds and what to change."""
    if target.isna().any():
        raise ProjectError(f"target {target.name!r} has {int(target.isna().sum())} missing values: drop those rows")
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    values = ", ".join(map(repr, sorted(target.astype(str).unique())[:3]))
    if task == "regression" and not numeric:
        raise ProjectError(
            f"target {target.name!r} holds labels ({values}, ...), and task is regression: set `task: classification`"
            " with its gate and estimator at once: `make adopt SOURCE=<data> TARGET=<column> TASK=classification`"
        )
    if task == "classification" and pd.api.types.is_float_dtype(target) and (target % 1 != 0).any():
        raise ProjectError(
            f"target {target.name!r} holds {target.nunique()} distinct fractional numbers, and task is classification:"
            " set `task: regression` with its gate and estimator at once: "
            "`make adopt SOURCE=<data> TARGET=<column> TASK=regression`"
        )


def train(features: pd.DataFrame, target: pd.Series, params: Params) -> Pipeline:
    """Fit preprocessing + estimator on raw feature columns; returns the fitted Pipeline."""
    if features.empty:
        raise ProjectError("no training rows")
    check_target(target, params.task)
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
