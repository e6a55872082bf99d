"""Labels are checked before they train: a batch of ground truth far outside what the production model expects is
a labelling problem (a bug, a swapped column, a prankster behind POST /feedback), not drift, and never reaches the
training data or the retrain's holdout.

Two measures, each against what is known to be right:
- the production model's error on the batch (its logged predictions against the labels: 1 - accuracy, or the
  mean absolute error) against its error on its holdout. Real drift raises the error too, so only a batch more
  than `monitor.label_error_ratio` times worse is refused (for a classifier, against at least a 5 % error: a
  near-perfect model's holdout would otherwise refuse any change);
- for the batch's rows whose features equal a row of the training data, the share whose label differs from the
  label already known for it: more than half, on at least ten such rows, is refused whatever the model says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

CLASSIFIER_ERROR_FLOOR = 0.05  # the holdout error a classifier's limit is computed from, at the least
KNOWN_ROWS = 10  # rows with a known label that make the second measure count
KNOWN_DISAGREEMENT = 0.5  # ... and the share of them whose label differs that refuses the batch


@dataclass(frozen=True)
class LabelCheck:
    """The batch's labels against the production model and the labels already known; refused or not, and why."""

    rows: int
    error: float  # the production model's error on the batch (1 - accuracy, or the mean absolute error)
    holdout_error: float | None  # ... on its holdout (None: unknown, the first measure is skipped)
    limit: float | None
    known_rows: int  # batch rows whose features equal a training row
    known_disagreement: float | None  # the share of those whose label differs from the known one
    refused: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The JSON form (reports/dataset.json's `labels`)."""
        return asdict(self)


def model_error(labels: pd.Series, predictions: pd.Series, task: str) -> float:
    """1 - accuracy for a classifier, the mean absolute error for a regressor (0 for no rows: check_labels refuses
    no batch under monitor.min_labels rows)."""
    if len(labels) == 0:
        return 0.0
    if task == "classification":
        return float((labels.astype(str).to_numpy() != predictions.astype(str).to_numpy()).mean())
    return float(np.mean(np.abs(labels.astype(float).to_numpy() - predictions.astype(float).to_numpy())))


def known_label_disagreement(batch: pd.DataFrame, known: pd.DataFrame, features: list[str], target: str) -> pd.Series:
    """For each batch row whose features equal a known row's: whether its label differs (a boolean Series over the
    matched batch rows; a feature row known with several labels counts as agreeing with any of them)."""
    columns = [name for name in features if name in batch.columns and name in known.columns]
    if not columns or known.empty:
        return pd.Series(dtype=bool)
    key = "__features__"
    known_keys = pd.util.hash_pandas_object(known[columns], index=False).to_numpy()
    batch_keys = pd.util.hash_pandas_object(batch[columns], index=False).to_numpy()
    seen = pd.DataFrame({key: known_keys, "label": known[target].astype(str).to_numpy()}).drop_duplicates()
    candidates = pd.DataFrame(
        {key: batch_keys, "label": batch[target].astype(str).to_numpy(), "row": range(len(batch))}
    )
    matched = candidates[candidates[key].isin(seen[key])]
    agreeing = matched.merge(seen, on=[key, "label"], how="inner")["row"].unique()
    return pd.Series(~matched["row"].isin(agreeing).to_numpy(), index=matched["row"].to_numpy())


def check_labels(
    error: float,
    rows: int,
    holdout_error: float | None,
    disagreement: pd.Series,
    task: str,
    ratio: float | None,
    min_rows: int,
) -> LabelCheck:
    """Whether a batch of `rows` labels is refused: by the production model's error on it against its holdout
    error times `ratio`, or by the labels already known for its rows. Fewer than `min_rows` rows: never refused."""
    floor = CLASSIFIER_ERROR_FLOOR if task == "classification" else 0.0
    limit = None if ratio is None or holdout_error is None else ratio * max(holdout_error, floor)
    known = int(len(disagreement))
    share = float(disagreement.mean()) if known else None
    reasons = []
    if rows >= min_rows and limit is not None and error > limit:
        what = "disagrees with" if task == "classification" else "is off by a mean of"
        value = f"{error:.0%} of them" if task == "classification" else f"{error:.4g}"
        held = f"{holdout_error:.1%}" if task == "classification" else f"{holdout_error:.4g}"
        reasons.append(f"the production model {what} {value} against {held} on its holdout (limit {limit:.4g})")
    if known >= KNOWN_ROWS and share is not None and share > KNOWN_DISAGREEMENT:
        reasons.append(f"{share:.0%} of the {known} rows already known carry another label than the known one")
    reason = "; ".join(reasons) + (": a labelling problem, not drift" if reasons else "")
    return LabelCheck(rows, error, holdout_error, limit, known, share, bool(reasons), reason)
