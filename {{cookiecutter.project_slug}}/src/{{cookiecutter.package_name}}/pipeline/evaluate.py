"""Score the model on the test split: task metrics, PNG plots and the data behind DVC plots."""

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
from ..metrics import Predictions
from ..params import METRICS_FILE, MODEL_FILE, PLOTS_DIR, TEST_DATA, load_params


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


def save_plots(model: Any, features: pd.DataFrame, actual: pd.Series, task: str, folder: Path) -> list[Path]:
    """PNG plots: confusion matrix, ROC and precision-recall; or predicted vs actual and residuals."""
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
    else:
        for name, kind in (
            ("predicted_vs_actual.png", "actual_vs_predicted"),
            ("residuals.png", "residual_vs_predicted"),
        ):
            figures[name] = metrics.PredictionErrorDisplay.from_predictions(
                actual, predicted, kind=kind, subsample=None
            ).figure_
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
    pngs = save_plots(model, features, actual, params.task, PLOTS_DIR)
    io.write_json({"test_rows": len(frame), **scores}, METRICS_FILE)
    summary = ", ".join(f"{name} {value:.4f}" for name, value in scores.items())
    print(f"evaluate: {summary} on {len(frame)} test rows -> {METRICS_FILE}, {len(pngs)} plots in {PLOTS_DIR}/")
    return 0
