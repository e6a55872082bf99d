"""THE table of estimators: the short names of `train.estimator` per task, each task's default, and the
checks that params.yaml's estimator fits its task, its arguments and the gate's metrics.

scikit-learn is imported only when an estimator is resolved (0.7 s): the commands that never train (drift,
monitor, serve) load params.yaml without it.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any

from .errors import ProjectError

# Short names for train.estimator, per task. Any import path works too.
ESTIMATORS: dict[str, dict[str, str]] = {
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
# Each task's estimator and arguments when a project starts (the template's params.yaml, `adopt`).
DEFAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "classification": ("logistic_regression", {"C": 1.0, "max_iter": 1000}),
    "regression": ("ridge", {"alpha": 1.0}),
}


def resolve_estimator(name: str, task: str) -> type:
    """The estimator class for a short name or an import path such as `sklearn.svm.SVC`."""
    path = ESTIMATORS[task].get(name, name)
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        other = next((t for t, names in ESTIMATORS.items() if t != task and name in names), None)
        hint = f" ({name} is a {other} estimator: is `task` right?)" if other else ""
        raise ProjectError(
            f"train.estimator {name!r} is neither a short name ({', '.join(ESTIMATORS[task])}) nor an import path"
            + hint
        )
    try:
        estimator = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise ProjectError(f"train.estimator {name!r}: cannot import {path}") from None
    if not (inspect.isclass(estimator) and hasattr(estimator, "fit")):
        raise ProjectError(f"train.estimator {name!r}: {path} is not an estimator class")
    return estimator


def make_estimator(name: str, task: str, estimator_params: dict[str, Any], seed: int) -> Any:
    """Instantiate the estimator; seed it from params.yaml unless train.params sets random_state."""
    estimator_class = resolve_estimator(name, task)
    kwargs = dict(estimator_params)
    if "random_state" in estimator_class().get_params() and "random_state" not in kwargs:
        kwargs["random_state"] = seed
    try:
        return estimator_class(**kwargs)
    except TypeError as exc:
        raise ProjectError(f"train.params do not fit {estimator_class.__name__}: {exc}") from None


def _kind(estimator: Any) -> str | None:
    """ "classifier", "regressor", or None when the estimator does not say (scikit-learn's tags)."""
    try:
        return str(estimator.__sklearn_tags__().estimator_type)
    except AttributeError:
        return getattr(estimator, "_estimator_type", None)


def _argument_problems(estimator: Any, arguments: dict[str, Any]) -> list[str]:
    """What is wrong with train.params for this estimator: unknown names (with a guess), refused values."""
    accepted = sorted(estimator.get_params(deep=False))
    problems = []
    for key in arguments:
        if key not in accepted:
            guess = difflib.get_close_matches(key, accepted, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else f" (it takes {', '.join(accepted)})"
            problems.append(f"train.params: {type(estimator).__name__} has no argument {key!r}{hint}")
    if problems:
        return problems
    try:
        estimator.set_params(**arguments)
    except (ValueError, TypeError) as exc:
        return [f"train.params: {type(estimator).__name__} refuses them: {exc}"]
    return []


def estimator_problems(name: str, task: str, arguments: dict[str, Any], needs_probabilities: list[str]) -> list[str]:
    """Every reason why `train.estimator` with `train.params` cannot serve this task and gate (empty: none).

    `needs_probabilities` names the gate's metrics that score class probabilities (roc_auc, log_loss).
    """
    try:
        estimator = resolve_estimator(name, task)()
    except ProjectError as exc:
        return [str(exc)]
    problems = _argument_problems(estimator, arguments)
    wanted = {"classification": "classifier", "regression": "regressor"}[task]
    kind = _kind(estimator)
    if kind is not None and kind != wanted:
        problems.append(f"train.estimator {name!r}: {type(estimator).__name__} is a {kind}, and task is {task}")
    elif task == "classification" and needs_probabilities and not hasattr(estimator, "predict_proba"):
        problems.append(
            f"gate: {', '.join(needs_probabilities)} need class probabilities, and {type(estimator).__name__} "
            "has no predict_proba: choose another estimator, or other gate metrics"
        )
    return problems
