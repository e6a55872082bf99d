"""POST /explain's work: each record's additive per-feature contributions to the model's raw output.

For every record, base value + the sum of its contributions == the model's raw output (float error: ~1e-12):
- linear estimators (a `coef_`: logistic regression, ridge, linear regression): exact, coef_j * (z_j - mean_j) in the
  transformed space, mean_j the training rows' mean of column j (`reference`, packaged beside the model); the base
  value is the output at that mean. The output: a classifier's log-odds (decision_function), a regressor's prediction;
- tree ensembles (random forest, histogram gradient boosting, a decision tree): TreeSHAP, exact (shap's TreeExplainer,
  path-dependent: the base value is the mean output over the rows the trees were trained on). The output: gradient
  boosting's log-odds, a random forest's class probability (its trees average probabilities), a regressor's prediction.
Two classes: the second class (classes_[1]) is explained; more: each record's predicted class (its largest output).
Contributions are per original feature: the one-hot columns of a categorical feature are summed back into it.
shap (and numba) is imported only when a tree model is explained (2 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

TREE_MODELS = ("RandomForest", "ExtraTrees", "HistGradientBoosting", "GradientBoosting", "DecisionTree")
# What shap alone brings into the serving packages (numba and llvmlite: ~190 MB of the image): a bento of another model
# leaves them out (`make build`, unused_packages)
SHAP_ONLY = ("shap", "numba", "llvmlite", "slicer")


class NotExplainable(Exception):
    """The model is not one that /explain can decompose exactly (a linear model or a tree ensemble after the
    project's preprocessing)."""


class Explanation(NamedTuple):
    """Per record (rows): the base value, the contributions (rows x original features), the raw output they add
    up to, and the class explained (None for a regressor)."""

    base_values: np.ndarray
    contributions: np.ndarray
    outputs: np.ndarray
    classes: list[Any] | None


def _dense(values: Any) -> np.ndarray:
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values, dtype=np.float64)


def _columns(columns: Any) -> list[str]:
    return [columns] if isinstance(columns, str) else [str(name) for name in columns]


def feature_owners(preprocess: Any, features: Sequence[str]) -> np.ndarray:
    """For each column the fitted ColumnTransformer outputs, the index of the original feature it comes from (a
    categorical feature owns all its one-hot columns); NotExplainable when a column's feature cannot be told."""
    position = {name: index for index, name in enumerate(features)}
    slices = getattr(preprocess, "output_indices_", None)
    if slices is None:
        raise NotExplainable(f"{type(preprocess).__name__} is not the project's ColumnTransformer")
    owners = np.full(max((part.stop for part in slices.values()), default=0), -1)
    for name, transformer, columns in preprocess.transformers_:
        part, names = slices.get(name, slice(0, 0)), _columns(columns)
        if part.stop <= part.start:
            continue
        last = transformer.steps[-1][1] if hasattr(transformer, "steps") else transformer
        counts = getattr(last, "_n_features_outs", None)  # a OneHotEncoder's output columns per input column
        if counts is not None:
            owned = np.repeat([position[column] for column in names], counts)
        else:  # one column out per column in, named alike (imputer, scaler, passthrough)
            out = names if isinstance(transformer, str) else transformer.get_feature_names_out(names)
            owned = np.array([position.get(str(column), -1) for column in out])
        if len(owned) != part.stop - part.start:
            raise NotExplainable(f"cannot tell which feature each output column of {name!r} comes from")
        owners[part] = owned
    if (owners < 0).any():
        raise NotExplainable("cannot tell which feature each transformed column comes from")
    return owners


def reference(model: Any, features: pd.DataFrame) -> list[float] | None:
    """The mean of the training rows in the model's transformed space: a linear model's point of reference (what
    `package` stores beside the model); None for a model that is not a Pipeline with a linear estimator."""
    if len(getattr(model, "steps", ())) < 2 or not hasattr(model[-1], "coef_"):
        return None
    return [float(value) for value in _dense(model[:-1].transform(features)).mean(axis=0)]


def is_tree_model(model: Any) -> bool:
    """Whether the model is a Pipeline whose estimator /explain decomposes with shap's TreeSHAP."""
    return len(getattr(model, "steps", ())) >= 2 and type(model[-1]).__name__.startswith(TREE_MODELS)


def unused_packages(model: Any) -> tuple[str, ...]:
    """The serving packages that explaining this model never imports: shap and what it alone brings, unless it is a
    tree model. `make build` leaves them out of the bento's requirements."""
    return () if is_tree_model(model) else SHAP_ONLY


class Explainer:
    """Explains the project's scikit-learn Pipeline (preprocessing, then the estimator) record by record."""

    def __init__(self, model: Any, features: Sequence[str], means: Sequence[float] | None = None) -> None:
        if len(getattr(model, "steps", ())) < 2:
            raise NotExplainable("the model is not a scikit-learn Pipeline of preprocessing and an estimator")
        self.preprocess, self.estimator = model[:-1], model[-1]
        self.features = list(features)
        self.owners = feature_owners(self.preprocess[-1], self.features)
        self.classes = list(np.asarray(model.classes_).tolist()) if hasattr(model, "classes_") else None
        name = type(self.estimator).__name__
        self.tree: Any = None
        if hasattr(self.estimator, "coef_"):
            if means is None or len(means) != len(self.owners):
                raise NotExplainable(f"{name}: no reference point of its transformed features (package it again)")
            self.coef = np.atleast_2d(np.asarray(self.estimator.coef_, dtype=np.float64))
            self.intercept = np.atleast_1d(np.asarray(self.estimator.intercept_, dtype=np.float64))
            self.means = np.asarray(means, dtype=np.float64)
        elif is_tree_model(model):
            import shap  # numba and llvmlite: 2 s, only for a tree model

            self.tree = shap.TreeExplainer(self.estimator)
        else:
            raise NotExplainable(
                f"{name} is neither a linear model nor a tree ensemble: /explain gives exact contributions for those"
            )

    def _linear(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Base values (outputs) and contributions (rows x columns x outputs) of a linear model."""
        contributions = (z - self.means)[:, :, None] * self.coef.T[None, :, :]
        base = self.intercept + self.coef @ self.means
        return base, contributions

    def _trees(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Base values (outputs) and contributions (rows x columns x outputs): TreeSHAP."""
        values = np.asarray(self.tree.shap_values(z), dtype=np.float64)
        contributions = values if values.ndim == 3 else values[:, :, None]
        return np.atleast_1d(np.asarray(self.tree.expected_value, dtype=np.float64)), contributions

    def explain(self, frame: pd.DataFrame) -> Explanation:
        """The explanation of each row of `frame` (the raw feature columns, as the model takes them)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            z = _dense(self.preprocess.transform(frame[self.features]))
            base, by_column = self._linear(z) if self.tree is None else self._trees(z)
            outputs = base[None, :] + by_column.sum(axis=1)  # rows x outputs
        width = outputs.shape[1]
        # One output (regression, a binary linear or boosted model), two (a binary forest: the second), or a class each:
        # the one predict() picks (the model's own outputs: a tie between a forest's classes goes its way).
        pick = self._raw(z).argmax(axis=1) if width > 2 else np.full(len(z), width - 1)
        rows = np.arange(len(z))
        per_column = by_column[rows, :, pick]  # rows x transformed columns
        contributions = np.zeros((len(z), len(self.features)))
        np.add.at(contributions.T, self.owners, per_column.T)  # one-hot columns summed back into their feature
        classes = None
        if self.classes is not None:
            classes = [self.classes[-1]] * len(z) if len(self.classes) == 2 else [self.classes[k] for k in pick]
        if not (np.isfinite(contributions).all() and np.isfinite(outputs).all()):
            raise ValueError("the explanation is not finite for these values (an overflow in the model)")
        return Explanation(base[pick], contributions, outputs[rows, pick], classes)

    def raw_output(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's own raw output for each row, per output (what `explain` decomposes; tests compare them)."""
        return self._raw(_dense(self.preprocess.transform(frame[self.features])))

    def _raw(self, z: np.ndarray) -> np.ndarray:
        model = self.estimator
        if self.classes is None:
            raw = model.predict(z)
        elif hasattr(model, "decision_function"):
            raw = model.decision_function(z)
        else:
            raw = model.predict_proba(z)
        return np.asarray(raw, dtype=np.float64).reshape(len(z), -1)
