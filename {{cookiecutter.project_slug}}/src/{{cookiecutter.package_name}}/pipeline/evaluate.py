"""Score the model on the test split: task metrics, PNG plots and the data behind DVC plots, the calibration of a
classifier, and the permutation importance of each feature (the model card's table, gate/card.py, reads it)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

from .. import io
from ..columns import feature_columns
from ..metrics import METRICS, Predictions
from ..params import IMPORTANCE_FILE, METRICS_FILE, MODEL_FILE, PLOTS_DIR, TEST_DATA, load_params

IMPORTANCE_REPEATS = 5  # shuffles per feature: the interval is a t-interval over them
IMPORTANCE_ROWS = 2000  # test rows the importance is measured on at most (a seeded sample of larger splits)


def class_probabilities(model: Any, features: pd.DataFrame) -> np.ndarray:
    """Class probabilities, shape (rows, classes), in the order of model.classes_."""
    return np.asarray(model.predict_proba(features))


def evaluate(model: Any, features: pd.DataFrame, actual: pd.Series, task: str) -> dict[str, float]:
    """The task's metrics (metrics.py) for `model` on one labelled table, rounded for stable diffs.

    A metric that is undefined on this table (ROC AUC with one class present) is left out.
    """
    scores = Predictions.from_model(model, features, actual, task).scores()
    return {name: round(value, 6) for name, value in scores.items() if math.isfinite(value)}


def plot_data(model: Any, features: pd.DataFrame, actual: pd.Series, task: str) -> dict[str, pd.DataFrame]:
    """Tables behind the plots, by file name (DVC renders them with `dvc plots show/diff`)."""
    predicted = model.predict(features)
    tables = {"predictions.csv": pd.DataFrame({"actual": actual.to_numpy(), "predicted": predicted})}
    if task == "classification" and len(model.classes_) == 2:
        positive = actual.to_numpy() == model.classes_[1]
        score = class_probabilities(model, features)[:, 1]
        fpr, tpr, _ = metrics.roc_curve(positive, score)
        precision, recall, _ = metrics.precision_recall_curve(positive, score)
        tables["roc.csv"] = pd.DataFrame({"fpr": fpr, "tpr": tpr}).round(6)
        tables["precision_recall.csv"] = pd.DataFrame({"recall": recall, "precision": precision}).round(6)
    elif task == "regression":
        tables["predictions.csv"]["residual"] = tables["predictions.csv"].eval("actual - predicted")
        tables["predictions.csv"] = tables["predictions.csv"].round(6)
    return tables


def permutation_table(
    model: Any, features: pd.DataFrame, actual: pd.Series, task: str, metric: str, seed: int
) -> pd.DataFrame:
    """Permutation importance of each feature on the test split: how much `metric` worsens when the feature's values
    are shuffled (scikit-learn's permutation_importance, seeded), with a 95 % t-interval over IMPORTANCE_REPEATS
    shuffles. At most IMPORTANCE_ROWS rows (a seeded sample); the `rows` column says how many. Sorted, largest first."""
    from scipy import stats
    from sklearn.inspection import permutation_importance

    if len(features) > IMPORTANCE_ROWS:
        chosen = features.sample(IMPORTANCE_ROWS, random_state=seed).index
        features, actual = features.loc[chosen], actual.loc[chosen]
    sign = 1.0 if METRICS[metric].higher_is_better else -1.0

    def score(estimator: Any, table: pd.DataFrame, truth: pd.Series) -> float:
        return sign * Predictions.from_model(estimator, table, truth, task).scores()[metric]

    found = permutation_importance(
        model, features, actual, scoring=score, n_repeats=IMPORTANCE_REPEATS, random_state=seed, n_jobs=1
    )
    half = stats.t.ppf(0.975, IMPORTANCE_REPEATS - 1) * found.importances_std / np.sqrt(IMPORTANCE_REPEATS - 1)
    table = pd.DataFrame(
        {
            "feature": list(features.columns),
            "importance": found.importances_mean,
            "low": found.importances_mean - half,
            "high": found.importances_mean + half,
        }
    )
    table = table.sort_values(["importance", "feature"], ascending=[False, True], kind="mergesort")
    return table.assign(metric=metric, rows=len(features), repeats=IMPORTANCE_REPEATS).round(6).reset_index(drop=True)


def _calibration(model: Any, actual: pd.Series, proba: np.ndarray, plt: Any) -> Any:
    """Reliability diagram: the observed share of each class against its predicted probability (10 quantile bins)."""
    from sklearn.calibration import CalibrationDisplay

    fig, ax = plt.subplots()
    for index, label in enumerate(model.classes_):
        if len(model.classes_) == 2 and index == 0:
            continue  # binary: the positive class
        positive = (actual == label).to_numpy()
        if positive.all() or not positive.any():
            continue
        CalibrationDisplay.from_predictions(
            positive, proba[:, index], n_bins=10, strategy="quantile", name=str(label), ax=ax
        )
    ax.set_title("Calibration on the test split")
    return fig


def _importance_figure(table: pd.DataFrame, plt: Any) -> Any:
    """The 15 most important features as horizontal bars with their intervals."""
    top = table.head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.3 * len(top) + 1.2))
    errors = np.vstack([top["importance"] - top["low"], top["high"] - top["importance"]])
    ax.barh(top["feature"].astype(str), top["importance"], xerr=errors, color="#4c72b0")
    ax.set_xlabel(f"loss of {table['metric'].iloc[0]} when shuffled")
    ax.set_title("Permutation importance on the test split")
    return fig


def save_plots(
    model: Any,
    features: pd.DataFrame,
    actual: pd.Series,
    task: str,
    folder: Path,
    importance: pd.DataFrame | None = None,
) -> list[Path]:
    """PNG plots: confusion matrix, ROC, precision-recall and calibration; or predicted vs actual and residuals; and
    the permutation importance when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predicted = model.predict(features)
    figures = {}
    if task == "classification":
        figures["confusion_matrix.png"] = metrics.ConfusionMatrixDisplay.from_predictions(
            actual, predicted, labels=model.classes_, xticks_rotation=45
        ).figure_
        proba = class_probabilities(model, features)
        for name, display in (
            ("roc.png", metrics.RocCurveDisplay),
            ("precision_recall.png", metrics.PrecisionRecallDisplay),
        ):
            fig, ax = plt.subplots()
            for index, label in enumerate(model.classes_):
                if len(model.classes_) == 2 and index == 0:
                    continue  # binary: one curve, for the positive class
                display.from_predictions(actual == label, proba[:, index], name=str(label), ax=ax)
            figures[name] = fig
        figures["calibration.png"] = _calibration(model, actual, proba, plt)
    else:
        for name, kind in (
            ("predicted_vs_actual.png", "actual_vs_predicted"),
            ("residuals.png", "residual_vs_predicted"),
        ):
            figures[name] = metrics.PredictionErrorDisplay.from_predictions(
                actual, predicted, kind=kind, subsample=None
            ).figure_
    if importance is not None:
        figures["feature_importance.png"] = _importance_figure(importance, plt)
    written = []
    for name, fig in figures.items():
        fig.tight_layout()
        with io.atomic_path(folder / name) as tmp:
            fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        written.append(folder / name)
    return written


def evaluate_command(args: argparse.Namespace) -> int:
    """`evaluate`: write reports/metrics.json and reports/plots/."""
    params = load_params()
    model = io.load_model(MODEL_FILE)
    frame = io.read_table(TEST_DATA)
    features = frame[feature_columns(frame.columns, params.data.target, params.data.id_column)]
    actual = frame[params.data.target]
    scores = evaluate(model, features, actual, params.task)
    for name, table in plot_data(model, features, actual, params.task).items():
        io.write_table(table, PLOTS_DIR / name)
    importance = permutation_table(model, features, actual, params.task, params.gate_metric, params.seed)
    io.write_table(importance, IMPORTANCE_FILE)
    pngs = save_plots(model, features, actual, params.task, PLOTS_DIR, importance)
    io.write_json({"test_rows": len(frame), **scores}, METRICS_FILE)
    summary = ", ".join(f"{name} {value:.4f}" for name, value in scores.items())
    print(f"evaluate: {summary} on {len(frame)} test rows -> {METRICS_FILE}, {len(pngs)} plots in {PLOTS_DIR}/")
    return 0
